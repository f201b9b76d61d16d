"""Changing a person's activation (PAM level) from a lever, counted once.

The demand model's activation gradient is cross-sectional (Barker 2018); a change of level
moves a person's rates only by ``demand.<stream>.pam_causal_share`` of it
(``model.demand.activation_rr``). A lever that raises or lowers ``pop.pam_level`` therefore
needs no demand effect of its own:

* from the next year on, the year's rates are drawn from the changed level (the lever
  re-applies its change at each year start, after activation drift has set the level from the
  person's latent activation: ``ActivationGains.reapply``);
* for the rest of the current year (the year's events were drawn at its start),
  ``ActivationGains.change`` sets a day effect per demand stream with factor = the rate at the
  new level / the rate at the old level (``multiplier_table`` at the person's relative-risk
  codes after and before), and nothing else.

Gains decay: each gain is kept until a keyed day (exponential with mean ``duration_years``)
and then undone.
"""

from __future__ import annotations

import numpy as np

from model import crn
from model.demand import level_stride, multiplier_table, risk_code
from model.interventions.link_workers import _subset
from model.services import names
from model.world import DAYS_PER_YEAR, World


class ActivationGains:
    """The activation gains one lever has given, with their day effects and decay."""

    def __init__(self, lever: str, world: World, duration_years: float, key: np.uint64) -> None:
        self.lever = lever
        self.duration_days = duration_years * DAYS_PER_YEAR
        self.key = key
        reg = world.register
        self.tables = {s: multiplier_table(reg, s) for s in names.DEMAND_STREAMS}
        #: the tables stacked (a row per stream, in the order of ``tables``)
        self.streams = list(self.tables)
        self.stacked = np.stack([self.tables[s] for s in self.streams])
        self.level_stride = level_stride(reg)
        #: gains in force: person id, levels gained, absolute day the gain ends
        self.ids = np.empty(0, np.int64)
        self.levels = np.empty(0, np.int8)
        self.until = np.empty(0, np.int64)
        #: this year's day-effect factor of the lever per stream (positions in ``pop``)
        self.factor: dict[str, np.ndarray] = {}
        #: levels actually added this year per gain (capped at level 4), for undoing them
        self.applied = np.empty(0, np.int8)
        self.calls = 0
        self.gained = 0  # people who rose at least one level (this year)
        self.lost = 0  # gains that ended (this year)

    # ---------------------------------------------------------------- the year
    def reapply(self, world: World) -> None:
        """Year start (after drift): put the gains still in force back on the new levels."""
        self.factor = {}
        pos = world.index_of(self.ids)
        keep = (pos >= 0) & (self.until > world.day0)
        self.ids, self.levels, self.until = self.ids[keep], self.levels[keep], self.until[keep]
        pos = pos[keep]
        pop = world.pop
        self.applied = np.zeros(self.ids.size, np.int8)
        if not pos.size:
            return
        old = pop.pam_level[pos].astype(np.int16)
        new = np.minimum(old + self.levels, 4)
        pop.pam_level[pos] = new.astype(pop.pam_level.dtype)
        self.applied = (new - old).astype(np.int8)
        world.risk_code = None  # the relative-risk codes are recomputed when next needed

    def gain(self, world: World, person: np.ndarray, levels: np.ndarray, day: int) -> None:
        """People at positions ``person`` rise by ``levels`` (capped at 4) from relative
        ``day``; the gain ends on a keyed day."""
        up = levels > 0
        person, levels = person[up], levels[up].astype(np.int8)
        if not person.size:
            return
        pop = world.pop
        pid = pop.person_id[person]
        old = pop.pam_level[person].astype(np.int16)
        new = np.minimum(old + levels, 4)
        moved = new > old
        if not moved.any():
            return
        person, pid, old, new = person[moved], pid[moved], old[moved], new[moved]
        absolute = world.day0 + day
        self.calls += 1  # a person who gains again draws a new duration
        u = crn.uniforms(self.key, pid, np.full(pid.size, self.calls, np.int64))
        length = np.ceil(-np.log1p(-u) * self.duration_days).astype(np.int64)
        self._change(world, person, new, day)
        self.ids = np.concatenate([self.ids, pid])
        self.levels = np.concatenate([self.levels, (new - old).astype(np.int8)])
        self.until = np.concatenate([self.until, absolute + np.maximum(length, 1)])
        self.applied = np.concatenate([self.applied, (new - old).astype(np.int8)])
        self.gained += int(pid.size)

    def end_due(self, world: World, day: int) -> None:
        """Undo the gains that end on relative ``day``."""
        due = np.flatnonzero(self.until == world.day0 + day)
        if not due.size:
            return
        pos = world.index_of(self.ids[due])
        alive = pos >= 0
        due, pos = due[alive], pos[alive]
        if pos.size:
            pop = world.pop
            new = np.maximum(pop.pam_level[pos].astype(np.int16) - self.applied[due], 1)
            self._change(world, pos, new, day)
            self.applied[due] = 0
            self.lost += int(pos.size)

    def _change(self, world: World, person: np.ndarray, new: np.ndarray, day: int) -> None:
        """Set the level of ``person`` to ``new`` from ``day`` with its day effects."""
        pop = world.pop
        order = np.argsort(person, kind="stable")
        person, new = person[order], new[order]
        # the codes before, and after: a code is linear in the current level (the same
        # integers ``risk_code`` gives at the new level)
        level = new.astype(pop.pam_level.dtype)
        before = risk_code(world.register, _subset(pop, person))
        step = new.astype(np.int32) - pop.pam_level[person].astype(np.int32)
        after = (before + step * np.int32(self.level_stride)).astype(np.int32)
        pop.pam_level[person] = level
        world.risk_code = None
        # every stream's ratio in one gather; the streams whose ratio is 1 for everyone
        # set nothing; the others' effects are set in one call
        ratios = self.stacked[:, after] / self.stacked[:, before]
        moved = np.flatnonzero((ratios != 1.0).any(axis=1))
        if not moved.size:
            return
        streams = []
        factors = np.empty((moved.size, person.size))
        for i, s in enumerate(moved):
            stream = self.streams[s]
            factor = self.factor.get(stream)
            if factor is None:
                factor = self.factor[stream] = np.ones(pop.size)
            factor[person] *= ratios[s]
            factors[i] = factor[person]
            streams.append(stream)
        world.set_effects(self.lever, streams, person, day, factors)

    def year_counts(self) -> tuple[int, int]:
        """(people who gained, gains that ended) this year; then counting starts afresh."""
        out = (self.gained, self.lost)
        self.gained = self.lost = 0
        return out


__all__ = ["ActivationGains"]
