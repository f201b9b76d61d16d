"""Health coaching / supported self-management (``[levers.health_coaching]``).

Coaches (``fte``, for the represented population, scaled to the sample like link workers;
default ``fte_per_100000``) hold a caseload (``model.services.caseload.CaseloadService``:
places = FTE x ``caseload_per_fte_year`` x mean episode length / 365, one waiting list,
``sessions`` every ``days_between_sessions``, drop-out at each session, ``max_wait_days``).
Who is offered it: the lever's ``target.*`` rule, by default adults (18+) with at least one
long-term condition on the broad count at PAM levels 1-2. Referral: each attended GP
appointment of a targeted person leads to a referral with ``referral_per_gp_consultation``;
a referred person takes it up with their fixed, keyed propensity below ``uptake``.

On completion a person rises one PAM level with ``activation_one_level_share_<mode>`` and
two levels with ``activation_two_level_share_<mode>`` (both shares of completers; the two-level
share is part of the one-level share), capped at level 4, times ``effect_scale``. The gain
lasts a keyed time (exponential, mean ``activation_duration_years``) and is then undone. The
demand effect passes through the activation gradient's causal share only
(``model.interventions.activation``): no demand effect of its own, no QALYs (Shah 2019: no
health-status gain).

Costs: coach staff (``cost_per_fte_year``, activity ``health_coaching_session``, setting
"lever", payer primary care), attributed to the people seen in proportion to their sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from model import _lever_kernels, crn
from model.interventions.activation import ActivationGains
from model.interventions.base import (
    LeverBase,
    LeverSettings,
    number,
    number_or_list,
    staffing_of,
)
from model.services.caseload import CaseloadService
from model.targeting import Rule
from model.world import Served, World

OFFSET = 0.95
NAME = "health_coaching"
#: who is offered coaching when the scenario gives no target: adults with a long-term
#: condition (broad count) at PAM levels 1-2
DEFAULT_TARGET = Rule(activation_levels=(1, 2), ltc_count="broad", min_ltc=1, min_age=18)

KEYS = {
    "fte": number_or_list(0, 100_000),
    "caseload_per_fte_year": number(1, 10_000),
    "referral_per_gp_consultation": number(0, 1),
    "cost_per_fte_year": number(0, 1_000_000),
    "dropout_per_session": number(0, 1),
    "max_wait_days": number(1, 3650),
    "days_between_sessions": number(1, 365),
    "activation_duration_years": number(0.01, 50),
    "effect_scale": number(0, 10),
}


def staffing(settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """FTE by year for the represented population, the effective FTE of the sample and
    the target rule in force (the default one when the scenario gives none)."""
    target = settings.target if settings.target != Rule() else DEFAULT_TARGET
    return {"target": target.describe(), **staffing_of(NAME, settings, register, run)}


class HealthCoaching(LeverBase):
    """Health coaching in one replication."""

    name = NAME
    default_rule = DEFAULT_TARGET
    direct_enrolment = True

    def __init__(self, settings: LeverSettings, world: World) -> None:
        super().__init__(settings, world)
        reg = world.register
        staff = staffing(settings, reg, world.scenario.run)
        self.fte = tuple(staff["effective_fte_simulated"])
        self.spec = self.caseload_spec(self.fte)
        self.caseload = CaseloadService(self.spec, int(self.key("caseload")))
        self.p_gp = self.param("referral_per_gp_consultation")
        scale = self.effect_scale
        mode = settings.evidence
        one = self.param(f"activation_one_level_share_{mode}") * scale
        two = self.param(f"activation_two_level_share_{mode}") * scale
        self.share_one, self.share_two = min(one, 1.0), min(two, one, 1.0)
        self.gains = ActivationGains(
            self.name, world, self.param("activation_duration_years"), self.key("gain_ends")
        )
        self.eligible = np.zeros(0, dtype=bool)
        #: ``eligible`` as one bit per person, for the referral pass
        self.eligible_bits = np.zeros(0, dtype=np.uint8)
        self.session_strata: list[np.ndarray] = []
        world.subscribe("gp_consultation", self._from_gp)

    # ---------------------------------------------------------------- referrals
    def on_year_start(self, world: World) -> None:
        self.gains.reapply(world)
        self.eligible = self.targeted()
        self.eligible_bits = np.packbits(self.eligible, bitorder="little")
        if self.enrol_ids is not None and world.day0 <= self.start_day < world.day0 + 365:
            # carescale evaluate: exactly these people, referred on the lever's first day
            ids = world.pop.person_id[self.eligible]
            self.rec["referred"] += ids.size
            self.caseload.refer(ids, np.zeros(ids.size, np.int32), self.start_day)

    def _from_gp(self, world: World, served: Served) -> None:
        person, day = served.person, served.day
        absolute = world.day0 + day
        if self.enrol_ids is not None or not person.size:
            return
        if self.caseload.fte_on(absolute, world.year) <= 0:
            return
        # the eligible whose keyed uniform (id, day) is below the referral share, in one pass
        key = self.key("refer.gp", None)
        person = _lever_kernels.referrals(
            person, self.eligible, world.pop.person_id, key, day, self.p_gp, self.eligible_bits
        )
        if not person.size:
            return
        ids = world.pop.person_id[person]
        self.rec["referred"] += ids.size
        self.rec["referred_gp"] += ids.size
        ids = ids[self.takes_up(ids)]
        if ids.size:
            self.caseload.refer(ids, np.zeros(ids.size, np.int32), absolute)

    # ---------------------------------------------------------------- the day
    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return [self._daily]

    def _daily(self, env: simpy.Environment) -> Generator[Any]:
        yield env.timeout(OFFSET)
        while True:
            self._day(self.world, int(env.now) - self.world.day0)
            yield env.timeout(1)

    def _day(self, world: World, day: int) -> None:
        self.gains.end_due(world, day)
        absolute = world.day0 + day
        if absolute < self.start_day:
            return
        cl = self.caseload
        before = len(cl.completions)
        cl.day(absolute, world.year, self.dead_in(world, cl, day))
        if cl.today_session_rows:  # the people's positions, by row (looked up once a year)
            pos = self.row_positions(world, cl)
            for rows in cl.today_session_rows:
                where = pos[rows]
                self.session_strata.append(world.strata[where[where >= 0]])
        for ids, _ in cl.completions[before:]:
            self._complete(world, ids, day)
        del cl.completions[:]

    def _complete(self, world: World, ids: np.ndarray, day: int) -> None:
        """Coaching completed today: the activation gain, from today."""
        where = world.index_of(ids)
        person = np.sort(where[where >= 0])
        if not person.size:
            return
        # keyed by person and day: a person coached again draws afresh
        pid = world.pop.person_id[person]
        u = crn.uniforms(self.key("activation_gain"), pid, np.full(pid.size, world.day0 + day))
        levels = (u < self.share_one).astype(np.int8) + (u < self.share_two).astype(np.int8)
        self.gains.gain(world, person, levels, day)

    # ---------------------------------------------------------------- records
    def year_record(self, world: World) -> dict[str, float]:
        yr = self.caseload.year_record()
        rec = self.rec
        for key in ("started", "completed", "dropped_out", "waiting_at_year_end", "sessions"):
            rec[key] = float(yr[key])
        rec["fte"] = yr["fte"] * self.scale  # for the represented population
        gained, lost = self.gains.year_counts()
        rec["activation_gained"] = float(gained)
        rec["activation_gain_ended"] = float(lost)
        staff = float(yr["staff_cost_gbp"])
        sessions = (
            np.concatenate(self.session_strata) if self.session_strata else np.empty(0, np.int64)
        )
        if staff > 0:
            if sessions.size:
                share = np.full(sessions.size, staff / sessions.size)
                world.ledger.lever_cost(
                    "health_coaching_session", sessions, np.ones(sessions.size), share
                )
            else:  # coaches in post and no one seen: the cost falls on the people targeted
                who = world.strata[self.eligible] if self.eligible.any() else world.strata
                each = np.full(who.size, staff / who.size)
                world.ledger.lever_cost("health_coaching_session", who, np.zeros(who.size), each)
        rec["cost_gbp"] = staff
        self.session_strata = []
        self.rec = self.empty_record()
        return rec


__all__ = ["DEFAULT_TARGET", "KEYS", "HealthCoaching", "staffing"]
