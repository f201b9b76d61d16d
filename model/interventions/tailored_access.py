"""Segment-tailored access, the Swedish patient-compact idea (``[levers.tailored_access]``).

Each behavioural segment gets its own offer (``offer.<segment>``):

* ``"digital"`` (default for the independent & engaged): digital self-booking and
  self-monitoring. The share of their GP requests made online is multiplied by
  ``online_shift`` (the ``gp_online_preference`` behaviour modifier: requests that would have
  been face to face or by telephone turn online), and some demand is avoided (``gp_effect``
  of the evidence mode) through self-monitoring.
* ``"named_contact"`` (default for the vulnerable & concerned): a named contact and proactive
  telephone follow-up before and after appointments: fewer missed appointments
  (``dna_effect``, the ``gp_dna`` modifier), more patience when the wait offered is long
  (``patience_effect``, the ``gp_patience`` modifier: fewer give-ups), and fewer A&E
  attendances (``ae_effect``).
* ``"none"`` (default for the worried & engaged and the traditional & concerned): no offer;
  a scenario may give them either offer.

People in a segment with an offer (and meeting any ``target.*`` rule) take it up with their
fixed, keyed propensity below ``uptake`` on a keyed day over the ramp-up; everything acts
from that day (modifiers on the day, demand through day effects in the first year and
yearly rate multipliers after). Costs: the platform per digital user-year and the named
contact's time per person-year (setting "lever", payer primary care), pro rata.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np
import simpy

from model.interventions.base import LeverBase, LeverSettings, fail, number
from model.population import SEGMENTS
from model.world import DAYS_PER_YEAR, World

OFFERS = ("none", "digital", "named_contact")
DEFAULT_OFFERS: Mapping[str, str] = {
    "independent_engaged": "digital",
    "worried_engaged": "none",
    "traditional_concerned": "none",
    "vulnerable_concerned": "named_contact",
}
NONE, DIGITAL, CONTACT = range(3)
OFFSET = 0.97


def _offers(where: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail(where, key, value, 'give offer.<segment> = "digital", "named_contact" or "none"')
    for segment, offer in value.items():
        if segment not in SEGMENTS:
            raise fail(where, f"{key}.{segment}", offer, f"segments are {', '.join(SEGMENTS)}")
        if offer not in OFFERS:
            raise fail(where, f"{key}.{segment}", offer, f"offers are {', '.join(OFFERS)}")
    return {**DEFAULT_OFFERS, **value}


def describe(settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """Whom the lever targets, for the manifest: the segments given an offer (with the
    offer), and any ``target.*`` rule they must also meet."""
    offers = settings.options.get("offer", DEFAULT_OFFERS)
    given = [f"{s} ({offers[s].replace('_', ' ')})" for s in SEGMENTS if offers[s] != "none"]
    who = "segment " + " or ".join(given) if given else "no one (no segment has an offer)"
    rule = settings.target.describe()
    return {"target": who if rule == "everyone" else f"{who}; {rule}"}


KEYS = {
    "offer": _offers,
    "online_shift": number(0, 20),
    "platform_cost_per_user_year": number(0, 100_000),
    "contact_cost_per_person_year": number(0, 100_000),
    "effect_scale": number(0, 10),
}


class TailoredAccess(LeverBase):
    """Segment-tailored access in one replication."""

    name = "tailored_access"

    def __init__(self, settings: LeverSettings, world: World) -> None:
        super().__init__(settings, world)
        offers = settings.options.get("offer", DEFAULT_OFFERS)
        self.offer_of_segment = np.array([OFFERS.index(offers[s]) for s in SEGMENTS], np.int8)
        scale = self.effect_scale
        self.online_shift = self.param("online_shift")
        self.gp_effect = self.effect("gp") * scale
        self.dna_effect = self.effect("dna") * scale
        self.patience_effect = self.effect("patience") * scale
        self.ae_effect = self.effect("ae") * scale
        self.platform_cost = self.param("platform_cost_per_user_year")
        self.contact_cost = self.param("contact_cost_per_person_year")
        # people enrolled: id, offer, start (absolute day)
        self.ids = np.empty(0, np.int64)
        self.offer = np.empty(0, np.int8)
        self.start = np.empty(0, np.int64)

    # ---------------------------------------------------------------- enrolment
    def on_year_start(self, world: World) -> None:
        pop = world.pop
        year_end = world.day0 + DAYS_PER_YEAR
        if year_end <= self.start_day:
            return
        offer = self.offer_of_segment[pop.segment]
        person, ids = self.offer_once(world, (offer != NONE) & self.targeted())
        if not ids.size:
            return
        start = self.start_days(world, ids)
        order = np.argsort(np.concatenate([self.ids, ids]))
        self.ids = np.concatenate([self.ids, ids])[order]
        self.offer = np.concatenate([self.offer, offer[person]])[order]
        self.start = np.concatenate([self.start, start])[order]

    def _effects(self, offer: np.ndarray) -> dict[str, np.ndarray]:
        """Demand factors by stream for people with ``offer``."""
        digital, contact = offer == DIGITAL, offer == CONTACT
        return {
            "gp": np.where(digital, max(1.0 + self.gp_effect, 0.0), 1.0),
            "ae": np.where(contact, max(1.0 + self.ae_effect, 0.0), 1.0),
        }

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        if service not in ("gp", "ae") or not self.ids.size:
            return None
        pos = self.positions(world, self.ids)
        before = (pos >= 0) & (self.start < world.day0)
        if not before.any():
            return None
        m = np.ones(world.pop.size)
        m[pos[before]] = self._effects(self.offer[before])[service]
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
                self._begin(w, starting, today - w.day0)
            yield env.timeout(1)

    def _begin(self, world: World, rows: np.ndarray, day: int) -> None:
        """People starting today: behaviour modifiers, and demand for the rest of the year."""
        pos = world.index_of(self.ids[rows])
        ok = pos >= 0
        rows, pos = rows[ok], pos[ok]
        offer = self.offer[rows]
        digital, contact = pos[offer == DIGITAL], pos[offer == CONTACT]
        if digital.size and self.online_shift != 1.0:
            world.set_modifier("gp_online_preference", digital, self.online_shift)
        if contact.size:
            if self.dna_effect != 0.0:
                world.set_modifier("gp_dna", contact, max(1.0 + self.dna_effect, 0.0))
            if self.patience_effect != 0.0:
                world.set_modifier("gp_patience", contact, max(1.0 + self.patience_effect, 0.0))
        for stream, factor in self._effects(offer).items():
            if np.any(factor != 1.0):
                world.set_effect(self.name, stream, pos, day, factor)

    def reached_ids(self) -> np.ndarray:
        return self.ids

    # ---------------------------------------------------------------- records
    def year_record(self, world: World) -> dict[str, float]:
        pos = self.positions(world, self.ids)
        alive = pos >= 0
        rows, pos = np.flatnonzero(alive), pos[alive]
        start = np.maximum(self.start[rows], world.day0)
        end = world.day0 + world.end_day[pos]
        held = np.clip(end - start, 0, DAYS_PER_YEAR) / DAYS_PER_YEAR
        on = held > 0
        rows, pos, held = rows[on], pos[on], held[on]
        offer = self.offer[rows]
        strata = world.strata[pos]
        cost = np.where(offer == DIGITAL, self.platform_cost, self.contact_cost) * held
        digital = offer == DIGITAL
        ledger = world.ledger
        ledger.lever_cost("tailored_access_platform", strata[digital], held[digital], cost[digital])
        ledger.lever_cost(
            "tailored_access_contact", strata[~digital], held[~digital], cost[~digital]
        )
        rec = self.rec
        rec["cost_gbp"] = float(cost.sum())
        rec["holders_at_year_end"] = float((world.end_day[pos] >= DAYS_PER_YEAR).sum())
        self.rec = self.empty_record()
        return rec


__all__ = ["KEYS", "OFFERS", "TailoredAccess"]
