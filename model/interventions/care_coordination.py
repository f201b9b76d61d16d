"""Personalised care and support planning with care coordination
(``[levers.care_coordination]``).

Who: the lever's ``target.*`` rule, by default the top 5 % of the population by predicted
emergency-admission risk (pre-lever rates; ``model.targeting``). Each year from
``start_year`` the people newly targeted are offered it once; those who take it up (fixed,
keyed propensity below ``uptake``) join the caseload while it has places (FTE x
``caseload_per_fte`` people at once; when places are short, in the order of their keyed
propensity, and the others are offered again the next year), on a keyed day spread over the
ramp-up (in the first year) or over the year (later years). They stay enrolled until they die.

From the enrolment day an enrolled person has ``contacts_per_person_year`` planning contacts a
year (throughput and cost attribution), their unplanned admissions change by the effect of the
evidence mode (``emergency_admission_effect_<mode>`` x ``effect_scale``, floored at -1): direct
emergency admissions through a day effect and then the yearly rates, admissions from A&E
through the ``ae_conversion`` behaviour modifier; and they rise one PAM level with
``activation_gain_share`` (x ``effect_scale``), which moves demand through the causal share of
the activation gradient only (``model.interventions.activation``), for a keyed time
(``activation_duration_years``).

Costs: care coordinators (``cost_per_fte_year`` for every FTE in post, activity
``care_coordination_contact``, setting "lever", payer primary care), attributed to the enrolled
people in proportion to their contacts.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from model import crn
from model.interventions.activation import ActivationGains
from model.interventions.base import (
    LeverBase,
    LeverSettings,
    add_sorted,
    number,
    number_or_list,
    staffing_of,
)
from model.targeting import Rule
from model.world import DAYS_PER_YEAR, World

NAME = "care_coordination"
OFFSET = 0.96
#: whom care coordination is for when the scenario gives no target: the top 5 % by
#: predicted emergency-admission risk
DEFAULT_TARGET = Rule(top_percent=5.0, rank_by="emergency_admission_risk")

KEYS = {
    "fte": number_or_list(0, 100_000),
    "caseload_per_fte": number(1, 10_000),
    "contacts_per_person_year": number(0, 365),
    "cost_per_fte_year": number(0, 1_000_000),
    "activation_gain_share": number(0, 1),
    "activation_duration_years": number(0.01, 50),
    "effect_scale": number(0, 10),
}


def staffing(settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """FTE by year for the represented population, the sample's effective FTE and the
    target rule in force."""
    target = settings.target if settings.target != Rule() else DEFAULT_TARGET
    return {"target": target.describe(), **staffing_of(NAME, settings, register, run)}


class CareCoordination(LeverBase):
    """Care coordination in one replication."""

    name = NAME
    default_rule = DEFAULT_TARGET
    direct_enrolment = True

    def __init__(self, settings: LeverSettings, world: World) -> None:
        super().__init__(settings, world)
        reg = world.register
        staff = staffing(settings, reg, world.scenario.run)
        self.fte = tuple(staff["effective_fte_simulated"])
        self.cost_per_fte = self.cost_per_fte_year()
        self.caseload_per_fte = self.param("caseload_per_fte")
        self.contacts = self.param("contacts_per_person_year")
        scale = self.effect_scale
        self.admission_factor = max(1.0 + self.effect("emergency_admission") * scale, 0.0)
        self.gain_share = min(self.param("activation_gain_share") * scale, 1.0)
        self.gains = ActivationGains(
            f"{NAME}.activation",
            world,
            self.param("activation_duration_years"),
            self.key("gain_ends"),
        )
        #: enrolled people: id and enrolment day (absolute), sorted by id
        self.ids = np.empty(0, np.int64)
        self.start = np.empty(0, np.int64)
        self.eligible = np.zeros(0, dtype=bool)

    def fte_in_year(self, year: int) -> float:
        """Staff of the sample in a simulated year (a year beyond the list keeps the last)."""
        return self.fte[min(year, len(self.fte) - 1)]

    # ---------------------------------------------------------------- enrolment
    def on_year_start(self, world: World) -> None:
        self.gains.reapply(world)
        year_end = world.day0 + DAYS_PER_YEAR
        pop = world.pop
        if year_end <= self.start_day:
            self.eligible = np.zeros(pop.size, dtype=bool)
            return
        self.eligible = self.targeted()
        new = self.eligible & ~self.was_offered(world)
        ids = pop.person_id[new]
        if not ids.size:
            return
        self.rec["referred"] += ids.size
        takes = self.takes_up(ids)
        self.offered = add_sorted(self.offered, ids[~takes])  # declined: not offered again
        ids = ids[takes]
        # places: staff x caseload, less the people still enrolled
        enrolled_alive = int((world.index_of(self.ids) >= 0).sum()) if self.ids.size else 0
        places = int(np.floor(self.fte_in_year(world.year) * self.caseload_per_fte + 1e-9))
        free = max(places - enrolled_alive, 0)
        if ids.size > free:  # the others are offered again next year
            order = np.argsort(self.propensity(ids), kind="stable")
            ids = np.sort(ids[order[:free]])
        if not ids.size:
            return
        self.offered = add_sorted(self.offered, ids)
        start = self.start_days(world, ids, ramp_only_in_start_year=True)
        self.ids = np.concatenate([self.ids, ids])
        self.start = np.concatenate([self.start, start])
        order = np.argsort(self.ids)
        self.ids, self.start = self.ids[order], self.start[order]
        self.rec["started"] += ids.size

    # ---------------------------------------------------------------- effects
    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        """People enrolled before this year: the admission effect all year."""
        if service != "emergency_direct" or self.admission_factor == 1.0 or not self.ids.size:
            return None
        pos = world.index_of(self.ids[self.start < world.day0])
        pos = pos[pos >= 0]
        if not pos.size:
            return None
        m = np.ones(world.pop.size)
        m[pos] = self.admission_factor
        return m

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return [self._daily]

    def _daily(self, env: simpy.Environment) -> Generator[Any]:
        yield env.timeout(OFFSET)
        while True:
            w = self.world
            today = int(env.now)
            day = today - w.day0
            self.gains.end_due(w, day)
            starting = self.starting_rows(self.start, today)
            if starting.size:
                pos = w.index_of(self.ids[starting])
                pos = np.sort(pos[pos >= 0])
                if pos.size:
                    self._enrol(w, pos, day)
            yield env.timeout(1)

    def _enrol(self, world: World, pos: np.ndarray, day: int) -> None:
        """Enrolled today: the admission effect and the activation gain, from today."""
        if self.admission_factor != 1.0:
            world.set_effect(self.name, "emergency_direct", pos, day, self.admission_factor)
            world.set_modifier("ae_conversion", pos, self.admission_factor)
        if self.gain_share > 0:
            u = crn.uniforms(self.key("activation_gain"), world.pop.person_id[pos])
            self.gains.gain(world, pos, (u < self.gain_share).astype(np.int8), day)

    # ---------------------------------------------------------------- records
    def year_record(self, world: World) -> dict[str, float]:
        rec = self.rec
        # staff in post: days from the start, ramping up
        days = np.arange(world.day0, world.day0 + DAYS_PER_YEAR)
        share = np.array([self.active_share(int(d)) for d in days])
        fte_years = self.fte_in_year(world.year) * float(share.sum()) / DAYS_PER_YEAR
        staff = fte_years * self.cost_per_fte
        pos = world.index_of(self.ids)
        rows = np.flatnonzero(pos >= 0)
        start = np.maximum(self.start[rows], world.day0)
        end = world.day0 + world.end_day[pos[rows]]
        held = np.clip(end - start, 0, DAYS_PER_YEAR) / DAYS_PER_YEAR
        on = held > 0
        strata, held = world.strata[pos[rows][on]], held[on]
        contacts = self.contacts * held
        rec["sessions"] = float(contacts.sum())
        rec["in_support_at_year_end"] = float((world.end_day[pos[rows]] >= DAYS_PER_YEAR).sum())
        gained, lost = self.gains.year_counts()
        rec["activation_gained"] = float(gained)
        rec["activation_gain_ended"] = float(lost)
        rec["fte"] = fte_years * self.scale  # for the represented population
        if staff > 0:
            if contacts.sum() > 0:
                cost = staff * contacts / contacts.sum()
                world.ledger.lever_cost("care_coordination_contact", strata, contacts, cost)
            else:  # coordinators in post and no one enrolled: the cost falls on the targeted
                who = world.strata[self.eligible] if self.eligible.any() else world.strata
                each = np.full(who.size, staff / who.size)
                world.ledger.lever_cost("care_coordination_contact", who, np.zeros(who.size), each)
        rec["cost_gbp"] = staff
        self.rec = self.empty_record()
        return rec


__all__ = ["DEFAULT_TARGET", "KEYS", "CareCoordination", "staffing"]
