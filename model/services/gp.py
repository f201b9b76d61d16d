"""General practice: appointments by staff role and mode, a backlog with waits, DNAs, and
spill of delayed demand to A&E.

Each working day the practice pool serves the longest-waiting requests up to its capacity.
A served request gets its preferred mode (face to face, telephone, online; preferences
differ by segment) while that mode has slots, otherwise a mode with spare slots; the staff
role (GP, nurse, other) follows the practice's capacity mix by role. Requests that wait longer than
their patience leave the queue: some go to A&E the same day (more for segments that
distrust the system), the rest go unmet.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from model import crn
from model.population import SEGMENTS
from model.services.base import WaitingList, table_from_events
from model.services.protocol import ServiceYear
from model.world import DailyCapacity, World

MODES = ("face_to_face", "telephone", "online")
ROLES = ("gp", "nurse", "other")
#: (role, mode) of each code mode * len(ROLES) + role
LABELS = tuple((r, m) for m in MODES for r in ROLES)
CAPACITY_KEY = "capacity.gp.appointments_per_1000_per_working_day"


class GPService:
    """The GP practice pool of the population (one PCN-level pool)."""

    name = "gp"

    def __init__(self, world: World) -> None:
        reg = world.register
        self.mode_capacity_share = reg.array("capacity.gp.mode_shares")
        self.role_share = reg.array("capacity.gp.role_shares")
        self.cum_role = np.cumsum(self.role_share)[:-1]
        self.preference = np.vstack(
            [reg.array(f"gp.mode_preference.{s}") for s in SEGMENTS]
        )  # (segments, modes)
        self.patience_days = reg.scalar("gp.patience_days") * reg.array(
            "gp.patience_relative_by_segment"
        )
        self.spill_share = reg.array("gp.spill_to_ae_by_segment")
        self.dna_rate = reg.scalar("gp.dna_rate")
        self.dna_rr = reg.array("gp.dna_rr_by_pam_level")
        # normalised once on the base population, so that changes in activation (e.g. from
        # coaching) change the overall DNA rate rather than only who misses appointments
        self.dna_rr_mean = float(self.dna_rr[world.pop.pam_level - 1].mean())
        self.list = WaitingList()
        self.capacity = DailyCapacity()
        self.offered = 0.0
        self.used = 0.0

    # ---------------------------------------------------------------- yearly
    def start_year(self, world: World) -> None:
        """Build this year's request table with per-request decisions drawn up front."""
        events = world.events["gp"]
        new = table_from_events(world, events)
        person, k = events.person, events.k
        ids = world.pop.person_id

        seg = world.pop.segment[events.person]
        level = world.pop.pam_level[events.person]
        cut = np.cumsum(self.preference, axis=1)  # (segments, modes)
        # one hash per request gives four 16-bit uniforms for its four decisions
        u_mode, u_spill, u_dna, u_wait = crn.event_uniforms16(
            world.key("gp.decisions"), ids, person, k
        )
        pref = (u_mode > cut[seg, 0]).astype(np.int8) + (u_mode > cut[seg, 1]).astype(np.int8)
        patience = np.log(u_wait)
        patience *= -self.patience_days.astype(np.float32)[seg]
        # the last day the person is still waiting (arrival + patience), for a cheap daily check
        patience += new.arrival
        deadline = patience.astype(np.int32)
        spill = u_spill < self.spill_share.astype(np.float32)[seg]
        # DNA by activation level (the base population's average is dna_rate)
        p_dna = np.clip(self.dna_rate * self.dna_rr / self.dna_rr_mean, 0.0, 1.0)
        dna = u_dna < p_dna.astype(np.float32)[level - 1]
        new.extra = {"pref": pref, "deadline": deadline, "spill": spill, "dna": dna}
        self.list.start_year(world, new)
        self.offered = 0.0
        self.used = 0.0

    def end_year(self, world: World) -> ServiceYear:
        """Backlog at year end and (capacity offered, used)."""
        self.list.capture(world)
        return ServiceYear(
            backlogs={"gp_appointment": len(self.list)},
            capacity={"gp_appointment": (self.offered, self.used)},
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Nothing to do: the waiting list finds its people again by id (``capture``)."""

    # ---------------------------------------------------------------- daily
    def _assign_modes(self, pref: np.ndarray, mode_cap: np.ndarray) -> np.ndarray:
        if np.all(np.bincount(pref, minlength=len(MODES)) <= mode_cap):
            return pref  # every preference fits: nothing to reassign
        mode = np.full(pref.shape, -1, dtype=np.int8)
        used = np.zeros(len(MODES), dtype=np.int64)
        for m in range(len(MODES)):
            mask = pref == m
            rank = np.cumsum(mask) - 1
            gets = mask & (rank < mode_cap[m])
            mode[gets] = m
            used[m] = int(gets.sum())
        overflow = np.flatnonzero(mode < 0)
        if overflow.size:
            spare = np.maximum(mode_cap - used, 0)
            slots = np.repeat(np.arange(len(MODES), dtype=np.int8), spare)
            if slots.size < overflow.size:  # rounding: give the rest their preference
                slots = np.concatenate([slots, pref[overflow[slots.size :]]])
            mode[overflow] = slots[: overflow.size]
        return mode

    def day(self, world: World, day: int) -> None:
        """One day of the practice pool."""
        absolute = world.day0 + day
        tab = self.list.table
        self.list.queue.add(self.list.arrivals(day))
        pending = self.list.queue.pending
        if pending.size:
            gone = self.list.queue.drop(tab.extra["deadline"][pending] < absolute)
            if gone.size:
                spill = gone[tab.extra["spill"][gone]]
                unmet = gone[~tab.extra["spill"][gone]]
                strata = world.strata
                world.ledger.count("gp_spill_to_ae", strata[tab.person[spill]])
                world.ledger.count("gp_request_abandoned", strata[tab.person[unmet]])
                if spill.size:
                    world.ae_inbox.append((tab.person[spill], tab.k[spill], "gp_spill"))
        if not world.is_working_day(absolute):
            return
        cap = self.capacity.take(world.capacity_today("gp_appointment", CAPACITY_KEY))
        self.offered += cap
        served = self.list.queue.serve(cap)
        if not served.size:
            return
        self.used += served.size
        mode_cap = np.floor(cap * self.mode_capacity_share + 0.5).astype(np.int64)
        mode = self._assign_modes(tab.extra["pref"][served], mode_cap)
        # staff role by the practice's capacity mix, drawn only for requests served
        u_role = crn.uniforms(
            world.key("gp.role"), world.pop.person_id[tab.person[served]], tab.k[served]
        )
        role = np.searchsorted(self.cum_role, u_role, side="right")
        dna = tab.extra["dna"][served]
        strata = world.strata[tab.person[served]]
        ledger = world.ledger
        code = mode.astype(np.int64) * len(ROLES) + role
        ledger.count_coded("gp_appointment", strata[~dna], code[~dna], LABELS)
        ledger.count_coded("gp_appointment_dna", strata[dna], code[dna], LABELS)
        ledger.waits("gp_appointment", (absolute - tab.arrival[served]).astype(float))

    def process(self, env: simpy.Environment, world: World, offset: float) -> Generator[Any]:
        """SimPy process: one step per day, after the year boundary at ``offset``."""
        yield env.timeout(offset)
        while True:
            day = int(env.now) - world.day0
            self.day(world, day)
            yield env.timeout(1)
