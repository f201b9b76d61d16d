"""Link workers / social prescribing (``[levers.link_workers]``).

Staff (``fte``, for the represented population, scaled to the sample) hold a caseload
(``model.services.caseload.CaseloadService``): places = FTE x ``caseload_per_fte_year`` x
mean episode length / 365, one first-come-first-served waiting list, people leaving the list
after ``max_wait_days``, 6-12 sessions every ``days_between_sessions``, drop-out at each
session, deaths leaving. Referral routes: attended GP appointments of targeted people with a
social need (``referral_per_gp_consultation``, published by general practice), their A&E
attendances (``referral_per_ae_attendance``) and self-referral
(``self_referral_per_person_year``). A referred person takes it up with their fixed, keyed
propensity below ``uptake``.

On completing support, a person's social needs are resolved with ``social_need_resolved_share``
and they gain one PAM level with ``activation_gain_share``; their demand for GP appointments,
A&E and direct emergency admissions changes by the effect of the evidence mode
(``<outcome>_effect_before_after`` or ``_controlled``) times their segment's multiplier, from
the completion day, decaying with ``effect_half_life_years``. The demand effect is the
published total effect: the part the person's changed social needs and activation would give
through the model's relative risks is netted out, so nothing is counted twice.

Costs: staff (``cost_per_fte_year``, setting "lever", payer primary care), attributed to the
people seen in proportion to their sessions; voluntary-sector activity per person started
(payer ``voluntary_sector``); QALYs per completer (Munford 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

import numpy as np
import simpy

from model import _lever_kernels, crn
from model.demand import multiplier_table, risk_code
from model.interventions.base import (
    LeverBase,
    LeverSettings,
    choice,
    number,
    number_or_list,
    staffing_of,
)
from model.population import SOCIAL_NEEDS
from model.services.caseload import CaseloadService, insert_at
from model.world import DAYS_PER_YEAR, Served, World

#: demand streams the lever's effect acts on, with the outcome names of its effect keys
OUTCOMES = {"gp": "gp", "ae": "ae", "emergency_direct": "emergency_admission"}
#: the lever's process runs after every service of the day
OFFSET = 0.95
#: deployment units: one caseload for the place, or one per PCN or practice (staff shared
#: by registered list size, each unit with its own places and waiting list)
DEPLOYMENTS = ("place", "pcn", "practice")

KEYS = {
    "fte": number_or_list(0, 100_000),
    "caseload_per_fte_year": number(1, 10_000),
    "referral_per_gp_consultation": number(0, 1),
    "referral_per_ae_attendance": number(0, 1),
    "self_referral_per_person_year": number(0, 10),
    "cost_per_fte_year": number(0, 1_000_000),
    "voluntary_activity_cost_per_person": number(0, 100_000),
    "dropout_per_session": number(0, 1),
    "max_wait_days": number(1, 3650),
    "social_need_resolved_share": number(0, 1),
    "activation_gain_share": number(0, 1),
    "effect_scale": number(0, 10),
    "deploy": choice(DEPLOYMENTS),
}


def staffing(settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """FTE by year for the represented population and the effective FTE of the sample."""
    return staffing_of("link_workers", settings, register, run)


class LinkWorkers(LeverBase):
    """Link workers in one replication."""

    name = "link_workers"

    def __init__(self, settings: LeverSettings, world: World) -> None:
        super().__init__(settings, world)
        reg = world.register
        run = world.scenario.run
        # staff are given for the represented population (national average staffing if no
        # fte is given); the sample has the represented FTE / scale
        staff = staffing(settings, reg, run)
        self.fte = tuple(staff["effective_fte_simulated"])
        self.fte_represented = tuple(staff["fte_represented"])
        self.deploy = str(settings.options.get("deploy", "place"))
        self.spec = self.caseload_spec(self.fte)
        self.caseload = CaseloadService(self.spec, int(self.key("caseload")))
        self.unit_of_practice: np.ndarray | None = None
        self.p_gp = self.param("referral_per_gp_consultation")
        self.p_ae = self.param("referral_per_ae_attendance")
        self.self_rate = self.param("self_referral_per_person_year")
        self.activity_cost = self.param("voluntary_activity_cost_per_person")
        scale = self.effect_scale
        self.effects = {s: self.effect(o) * scale for s, o in OUTCOMES.items()}
        self.segment_multiplier = reg.array("levers.link_workers.segment_effect_multiplier")
        self.half_life = self.param("effect_half_life_years")
        self.resolved_share = self.param("social_need_resolved_share")
        self.gain_share = self.param("activation_gain_share")
        self.qaly = reg.scalar("levers.link_workers.qaly_gain_per_completer")
        self.tables = {s: multiplier_table(reg, s) for s in OUTCOMES}
        # people who completed support: id -> completion day and netting ratios by stream
        self.done_ids = np.empty(0, np.int64)
        self.done_day = np.empty(0, np.int64)
        #: their social needs before support (bits in the order of ``SOCIAL_NEEDS``)
        self.done_needs = np.empty(0, np.int8)
        #: risk codes of the completers for the yearly netting (``_netting_codes``)
        self._codes: tuple[tuple[Any, ...], np.ndarray, np.ndarray] | None = None
        self.eligible = np.zeros(0, dtype=bool)
        #: ``eligible`` as one bit per person, for the referral pass
        self.eligible_bits = np.zeros(0, dtype=np.uint8)
        self.self_by_day: dict[int, np.ndarray] = {}
        self.session_strata: list[np.ndarray] = []
        self.started_strata: list[np.ndarray] = []
        self.referrals = 0
        #: ids of the people who started support, day by day (``reached_ids`` folds them)
        self.started_log: list[np.ndarray] = []
        self._started_ids = np.empty(0, np.int64)
        #: today's referrals who take it up: (ids, positions), joining the list at day's end
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        world.subscribe("gp_consultation", self._from_gp)
        world.subscribe("ae_attendance", self._from_ae)

    # ---------------------------------------------------------------- referrals
    def _deploy(self, world: World) -> None:
        """Split the staff between PCNs or practices by registered list (first year)."""
        practices = world.practices
        if self.deploy == "place" or self.unit_of_practice is not None or practices is None:
            return
        if self.deploy == "pcn":
            unit = np.asarray(practices.pcn, dtype=np.int32)
        else:
            unit = np.arange(practices.n, dtype=np.int32)
        share = np.bincount(unit, weights=practices.list_size)
        share = share / share.sum()
        self.unit_of_practice = unit
        self.spec = replace(self.spec, unit_fte_share=tuple(float(x) for x in share))
        self.caseload = CaseloadService(self.spec, int(self.key("caseload")))

    def _units(self, world: World, ids: np.ndarray, person: np.ndarray) -> np.ndarray:
        """The deployment unit of each person (0 for the whole place)."""
        if self.unit_of_practice is None:
            return np.zeros(ids.size, np.int32)
        practice = world.practices.of(ids, world.pop.imd[person])
        return self.unit_of_practice[practice]

    def on_year_start(self, world: World) -> None:
        self._deploy(world)
        pop = world.pop
        self.eligible = self.targeted() & (pop.social_need_count > 0)
        self.eligible_bits = np.packbits(self.eligible, bitorder="little")
        # at most one self-referral a year, on a keyed day
        u = crn.uniforms(self.key("self_referral", None), pop.person_id)
        refers = self.eligible & (u < 1.0 - np.exp(-self.self_rate))
        day = (crn.uniforms(self.key("self_referral_day", None), pop.person_id) * 365).astype(
            np.int64
        )
        who = np.flatnonzero(refers)
        order = np.argsort(day[who], kind="stable")
        who, days = who[order], day[who][order]
        cuts = np.flatnonzero(np.diff(days)) + 1
        #: positions of this year's self-referrals by day
        self.self_by_day = (
            {int(d[0]): p for d, p in zip(np.split(days, cuts), np.split(who, cuts), strict=True)}
            if who.size
            else {}
        )

    def _refer(self, world: World, person: np.ndarray, p: float, route: str, day: int) -> None:
        absolute = world.day0 + day
        if not person.size or self.caseload.fte_on(absolute, world.year) <= 0:
            return
        # the eligible whose keyed uniform (route, id, day) is below p, in one pass
        key = self.key(f"refer.{route}", None)
        person = _lever_kernels.referrals(
            person, self.eligible, world.pop.person_id, key, day, p, self.eligible_bits
        )
        if not person.size:
            return
        ids = world.pop.person_id[person]
        self.rec["referred"] += ids.size
        if route == "gp":
            self.rec["referred_gp"] += ids.size
        takes = self.propensity(ids) < self.uptake
        if takes.any():  # they join the list at the end of the day, every route together
            self.pending.append((ids[takes], person[takes]))

    def _from_gp(self, world: World, served: Served) -> None:
        self._refer(world, served.person, self.p_gp, "gp", served.day)

    def _from_ae(self, world: World, served: Served) -> None:
        self._refer(world, served.person, self.p_ae, "ae", served.day)

    # ---------------------------------------------------------------- the day
    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return [self._daily]

    def _daily(self, env: simpy.Environment) -> Generator[Any]:
        yield env.timeout(OFFSET)
        while True:
            self._day(self.world, int(env.now) - self.world.day0)
            yield env.timeout(1)

    def _day(self, world: World, day: int) -> None:
        absolute = world.day0 + day
        if absolute < self.start_day:
            return
        today = self.self_by_day.get(day)
        if today is not None:
            self._refer(world, today, 1.0, "self", day)
        cl = self.caseload
        if self.pending:
            ids = np.concatenate([i for i, _ in self.pending])
            person = np.concatenate([p for _, p in self.pending])
            self.pending = []
            cl.refer(ids, self._units(world, ids, person), absolute)
        before = len(cl.completions)
        cl.day(absolute, world.year, self.dead_in(world, cl, day))
        if cl.today_session_rows:  # the people's positions, by row (looked up once a year)
            pos = self.row_positions(world, cl)
            for rows in cl.today_session_rows:
                self.session_strata.append(self._strata_at(world, pos[rows]))
            if cl.today_started.size:
                self.started_strata.append(self._strata_at(world, pos[cl.today_started_rows]))
        if cl.today_started.size:
            self.started_log.append(cl.today_started)
        for ids, _ in cl.completions[before:]:
            self._complete(world, ids, day)
        del cl.completions[:]

    @staticmethod
    def _strata_at(world: World, where: np.ndarray) -> np.ndarray:
        return world.strata[where[where >= 0]]

    def _complete(self, world: World, ids: np.ndarray, day: int) -> None:
        """Support completed today: needs, activation, and the demand effect from today."""
        where = world.index_of(ids)
        person = np.sort(where[where >= 0])
        if not person.size:
            return
        pop = world.pop
        pid = pop.person_id[person]
        needs = _need_bits(pop, person)
        u_need = crn.uniforms(self.key("need_resolved"), pid)
        resolved = person[u_need < self.resolved_share]
        for need in SOCIAL_NEEDS:
            getattr(pop, need)[resolved] = 0
        # one PAM level gained, until the next year's drift resets the level from the
        # person's latent activation (the demand effect below is the published total)
        u_gain = crn.uniforms(self.key("activation_gain"), pid)
        gain = person[(u_gain < self.gain_share) & (pop.pam_level[person] < 4)]
        pop.pam_level[gain] += 1
        if resolved.size or gain.size:
            world.risk_code = None  # the relative-risk codes are recomputed when next needed
        seg = self.segment_multiplier[pop.segment[person]]
        absolute = world.day0 + day
        for stream in OUTCOMES:
            factor = np.maximum(1.0 + self.effects[stream] * seg, 0.0)
            if np.any(factor != 1.0):
                world.set_effect(self.name, stream, person, day, factor)
        # a person completing again keeps the needs they had before their first support
        at = np.searchsorted(self.done_ids, pid)
        again = (at < self.done_ids.size) & (
            self.done_ids[np.minimum(at, max(self.done_ids.size - 1, 0))] == pid
            if self.done_ids.size
            else np.zeros(pid.size, dtype=bool)
        )
        if again.any():
            self.done_day[at[again]] = absolute
        # the others are inserted in place (ids sorted, none there yet): the arrays stay
        # sorted by id
        fresh = ~again
        at_fresh = at[fresh]
        self.done_ids, self.done_day, self.done_needs = insert_at(
            [self.done_ids, self.done_day, self.done_needs],
            at_fresh,
            [pid[fresh], np.int64(absolute), needs[fresh]],
        )
        self.rec["qaly_gain"] += self.qaly * pid.size

    # ---------------------------------------------------------------- yearly effect
    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        # streams with no registered effect are netted to no change: resolving a need moves
        # no demand by itself (its relative risk is an association, not an effect)
        effect = self.effects.get(service, 0.0)
        if not self.done_ids.size:
            return None
        pop = world.pop
        pos = world.index_of(self.done_ids)
        alive = pos >= 0
        if not alive.any():
            return None
        mid_year = world.day0 + DAYS_PER_YEAR / 2
        years = (mid_year - self.done_day[alive]) / DAYS_PER_YEAR
        decay = 0.5 ** (years / self.half_life) if self.half_life > 0 else 0.0
        where = pos[alive]
        seg = self.segment_multiplier[pop.segment[where]]
        total = np.maximum(1.0 + effect * seg * decay, 0.0)
        # the resolved needs already move this year's rates through their relative risk: net
        # it out, so that the demand effect is the published total (counted once). Fewer
        # needs also lower anxiety and raise activation in the yearly drift, which can move a
        # person's segment or PAM level; those second-order paths are not netted out.
        reg = world.register
        table = self.tables.get(service)
        if table is None:
            table = self.tables[service] = multiplier_table(reg, service)
        code_now, code_without = self._netting_codes(world, where, alive)
        now = table[code_now]
        without = table[code_without]
        m = np.ones(pop.size)
        m[where] = total * without / now
        if np.all(m == 1.0):
            return None
        return m

    def _netting_codes(
        self, world: World, where: np.ndarray, alive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Risk codes of the living completers now and with their needs before support.

        The same for every service: kept while nothing they depend on has changed (the
        world's risk codes are recomputed, as a new array, after any change of the people's
        attributes; the completers' arrays are replaced when someone completes)."""
        pop, reg = world.pop, world.register
        state = (world.risk_code, self.done_ids, self.done_needs)
        cached = self._codes
        if (
            cached is not None
            and state[0] is not None
            and all(a is b for a, b in zip(cached[0], state, strict=True))
        ):
            return cached[1], cached[2]
        code_now = risk_code(reg, _subset(pop, where))
        bits = self.done_needs[alive]
        restored = {n: ((bits >> j) & 1).astype(bool) for j, n in enumerate(SOCIAL_NEEDS)}
        code_without = risk_code(reg, _subset(pop, where, restored))
        self._codes = (state, code_now, code_without)
        return code_now, code_without

    def reached_ids(self) -> np.ndarray:
        if self.started_log:
            self._started_ids = np.unique(np.concatenate([self._started_ids, *self.started_log]))
            self.started_log = []
        return self._started_ids

    # ---------------------------------------------------------------- records
    def year_record(self, world: World) -> dict[str, float]:
        cl = self.caseload
        yr = cl.year_record()
        rec = self.rec
        for key in ("started", "completed", "dropped_out", "waiting_at_year_end", "sessions"):
            rec[key] = float(yr[key])
        rec["fte"] = yr["fte"] * self.scale  # for the represented population
        staff = float(yr["staff_cost_gbp"])
        sessions = (
            np.concatenate(self.session_strata) if self.session_strata else np.empty(0, np.int64)
        )
        ledger = world.ledger
        if staff > 0:
            if sessions.size:
                share = np.full(sessions.size, staff / sessions.size)
                ledger.lever_cost("link_worker_session", sessions, np.ones(sessions.size), share)
            else:  # staff in post and no one seen: the cost falls on the people targeted
                who = world.strata[self.eligible] if self.eligible.any() else world.strata
                each = np.full(who.size, staff / who.size)
                ledger.lever_cost("link_worker_session", who, np.zeros(who.size), each)
        started = (
            np.concatenate(self.started_strata) if self.started_strata else np.empty(0, np.int64)
        )
        activity = self.activity_cost * started.size
        if started.size and self.activity_cost > 0:
            ledger.lever_cost(
                "social_prescribing_activity",
                started,
                np.ones(started.size),
                np.full(started.size, self.activity_cost),
            )
        rec["cost_gbp"] = staff + activity
        self.session_strata, self.started_strata = [], []
        self.rec = self.empty_record()
        return rec


class _Rows:
    """The people at positions ``person`` of a population, read lazily attribute by
    attribute (only what the relative-risk codes need is gathered)."""

    def __init__(
        self, pop: Any, person: np.ndarray, overrides: dict[str, np.ndarray] | None = None
    ) -> None:
        self._pop = pop
        self._person = person
        self._overrides = overrides or {}
        self.size = int(person.size)

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        attr = getattr(type(self._pop), name, None)
        if isinstance(attr, property) and attr.fget is not None:
            value = attr.fget(self)  # computed from the subset's own arrays
        else:
            value = getattr(self._pop, name)
            if isinstance(value, np.ndarray) and value.shape[:1] == (self._pop.size,):
                value = value[self._person]
        # a subset lives for one computation: what it gathered is kept for the next read
        self.__dict__[name] = value
        return value


def _need_bits(pop: Any, person: np.ndarray) -> np.ndarray:
    """Each person's social needs as bits (in the order of ``SOCIAL_NEEDS``)."""
    bits = np.zeros(person.size, np.int8)
    for j, need in enumerate(SOCIAL_NEEDS):
        bits |= (np.asarray(getattr(pop, need))[person].astype(np.int8) & 1) << j
    return bits


def _subset(pop: Any, person: np.ndarray, overrides: dict[str, np.ndarray] | None = None) -> Any:
    """The people at positions ``person``, as a population of their own (for risk codes),
    with some attributes replaced by ``overrides``."""
    return _Rows(pop, person, overrides)


__all__ = ["KEYS", "LinkWorkers"]
