"""Personal health budgets (``[levers.phb]``).

Eligible: the groups with a right to have a budget (NHS continuing healthcare, section 117
aftercare, wheelchair users: ``model.targeting.phb_eligible``) who also meet the lever's
``target.*`` rule. An eligible person takes a budget with their fixed, keyed propensity below
``uptake`` and starts it on a keyed day (spread over the ramp-up from ``start_year``; people
who become eligible later start within the year they do). Delivery is notional, direct
payment or third party (keyed, with the published shares).

The budget is the holder's own simulated spend on the services it replaces (community nursing
and community mental-health contacts) over the previous 12 months (the per-person spend
ledger's previous-year bucket); in the first simulated year, their expected cost of those
services at pre-lever rates. From the start day a share of the holder's use of the replaced
services (``substitution_notional`` or ``substitution_direct``) moves to personal purchases
(activity ``phb_personal_purchase``, payer ``person``, costed at that share of the budget pro
rata and fully cashable: it is money spent), their A&E attendances and direct emergency
admissions change by the effect of the evidence mode, care-related quality of life rises by
``ascot_gain_per_holder_year`` (reported as its own outcome), and administration costs
``admin_cost_per_holder_year`` (setting "lever").
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from model import crn
from model.interventions.base import LeverBase, LeverSettings, number
from model.ledger import unit_cost
from model.targeting import phb_eligible
from model.world import DAYS_PER_YEAR, World

#: services a budget replaces: (demand stream, activity)
REPLACED = (
    ("community_nursing", "community_nursing_contact"),
    ("mental_health", "community_mental_health_contact"),
)
#: demand streams of the effect on unplanned care, with the outcome names of its keys
OUTCOMES = {"ae": "ae", "emergency_direct": "emergency_admission"}
OFFSET = 0.96
NOTIONAL, DIRECT, THIRD_PARTY = range(3)
DELIVERY = ("notional", "direct_payment", "third_party")

KEYS = {
    "substitution_notional": number(0, 1),
    "substitution_direct": number(0, 1),
    "admin_cost_per_holder_year": number(0, 1_000_000),
    "effect_scale": number(0, 10),
}


class PersonalHealthBudgets(LeverBase):
    """Personal health budgets in one replication."""

    name = "phb"

    def __init__(self, settings: LeverSettings, world: World) -> None:
        super().__init__(settings, world)
        reg = world.register
        scale = self.effect_scale
        self.effects = {s: self.effect(o) * scale for s, o in OUTCOMES.items()}
        self.substitution = np.array(
            [
                self.param("substitution_notional"),
                self.param("substitution_direct"),
                self.param("substitution_direct"),
            ]
        )
        notional = reg.scalar("levers.phb.notional_share")
        direct = reg.scalar("levers.phb.direct_payment_share")
        self.delivery_cuts = np.array([notional, notional + direct])
        self.admin = self.param("admin_cost_per_holder_year")
        self.ascot = reg.scalar("levers.phb.ascot_gain_per_holder_year")
        self.unit_costs = {
            stream: unit_cost(reg, activity, "", "") for stream, activity in REPLACED
        }
        world.ledger.enable_person_spend(world.pop.size, tuple(a for _, a in REPLACED))
        # holders: id, start (absolute day), delivery, yearly budget
        self.ids = np.empty(0, np.int64)
        self.start = np.empty(0, np.int64)
        self.delivery = np.empty(0, np.int8)
        self.budget = np.empty(0)

    # ---------------------------------------------------------------- enrolment
    def on_year_start(self, world: World) -> None:
        pop = world.pop
        year_end = world.day0 + DAYS_PER_YEAR
        if year_end <= self.start_day:
            return
        person, ids = self.offer_once(world, phb_eligible(pop) & self.targeted())
        if not ids.size:
            return
        start = self.start_days(world, ids)
        u_mode = crn.uniforms(self.key("delivery"), ids)
        delivery = np.searchsorted(self.delivery_cuts, u_mode, side="right").astype(np.int8)
        budget = self._budget(world, person)
        self.ids = np.concatenate([self.ids, ids])
        self.start = np.concatenate([self.start, start])
        self.delivery = np.concatenate([self.delivery, delivery])
        self.budget = np.concatenate([self.budget, budget])
        order = np.argsort(self.ids)
        self.ids, self.start = self.ids[order], self.start[order]
        self.delivery, self.budget = self.delivery[order], self.budget[order]

    def _budget(self, world: World, person: np.ndarray) -> np.ndarray:
        """The holders' spend on the replaced services over the previous 12 months (first
        simulated year: expected cost at pre-lever rates)."""
        spend = world.ledger.spend
        if world.year > 0 and spend is not None:
            return spend.of_services([a for _, a in REPLACED])[person]
        total = np.zeros(person.size)
        for stream, _ in REPLACED:
            total += world.base_rates(stream)[person] * self.unit_costs[stream]
        return total

    # ---------------------------------------------------------------- effects
    def _holders(self, world: World) -> tuple[np.ndarray, np.ndarray]:
        """(row in the holder arrays, position in the population) of living holders."""
        pos = self.positions(world, self.ids)
        rows = np.flatnonzero(pos >= 0)
        return rows, pos[rows]

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        """Holders who started before this year: substitution and the effect all year."""
        rows, pos = self._holders(world)
        rows_before = self.start[rows] < world.day0
        if not rows_before.any():
            return None
        rows, pos = rows[rows_before], pos[rows_before]
        m = np.ones(world.pop.size)
        if service in OUTCOMES:
            m[pos] = max(1.0 + self.effects[service], 0.0)
        elif service in dict(REPLACED):
            m[pos] = 1.0 - self.substitution[self.delivery[rows]]
        else:
            return None
        return None if np.all(m == 1.0) else m

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return [self._daily]

    def _daily(self, env: simpy.Environment) -> Generator[Any]:
        yield env.timeout(OFFSET)
        while True:
            w = self.world
            today = int(env.now)
            starting = self.starting_rows(self.start, today)
            if starting.size:
                pos = w.index_of(self.ids[starting])
                ok = pos >= 0
                rows, pos = starting[ok], pos[ok]
                day = today - w.day0
                for stream, factor in (
                    *((s, np.full(pos.size, max(1.0 + e, 0.0))) for s, e in self.effects.items()),
                    *((s, 1.0 - self.substitution[self.delivery[rows]]) for s, _ in REPLACED),
                ):
                    if np.any(factor != 1.0):
                        w.set_effect(self.name, stream, pos, day, factor)
            yield env.timeout(1)

    def reached_ids(self) -> np.ndarray:
        return self.ids

    # ---------------------------------------------------------------- records
    def year_record(self, world: World) -> dict[str, float]:
        rows, pos = self._holders(world)
        start = np.maximum(self.start[rows], world.day0)
        end = world.day0 + world.end_day[pos]
        held = np.clip(end - start, 0, DAYS_PER_YEAR) / DAYS_PER_YEAR
        on = held > 0
        rows, pos, held = rows[on], pos[on], held[on]
        strata = world.strata[pos]
        ledger = world.ledger
        admin = self.admin * held
        ledger.lever_cost("phb_admin", strata, held, admin)
        purchases = self.budget[rows] * self.substitution[self.delivery[rows]] * held
        ledger.lever_cost("phb_personal_purchase", strata, held, purchases, cashable=1.0)
        rec = self.rec
        rec["cost_gbp"] = float(admin.sum())
        rec["ascot_gain"] = float(self.ascot * held.sum())
        rec["completed"] = 0.0
        alive_end = world.end_day[pos] >= DAYS_PER_YEAR
        rec["holders_at_year_end"] = float(alive_end.sum())
        rec["notional_at_year_end"] = float((alive_end & (self.delivery[rows] == NOTIONAL)).sum())
        self.rec = self.empty_record()
        return rec


__all__ = ["KEYS", "PersonalHealthBudgets"]
