"""Community health and adult social care.

* District / community nursing contacts: a waiting list served every day of the week.
* Community mental-health contacts: a waiting list served on working days; the number of
  distinct people in contact during the year is recorded too.
* Adult social care: new requests join an assessment list (working days); an assessed
  request leads to long-term support with a fixed probability. People receiving long-term
  support stay on it until they die or leave: each year, everyone on support at its start
  leaves with an annual exit probability, on a day during the year (keyed by id, like a
  death day); the people supported during the year and their support days are counted and
  costed.
"""

from __future__ import annotations

import numpy as np

from model import crn, liability
from model.liability import AttributeSpec
from model.services.base import ServedList, table_from_events
from model.services.protocol import ServiceYear
from model.world import DAYS_PER_YEAR, World

NURSING_KEY = "capacity.community.nursing_contacts_per_1000_per_day"
MH_KEY = "capacity.community.mental_health_contacts_per_1000_per_working_day"
ASSESS_KEY = "capacity.community.social_care_assessments_per_1000_per_working_day"
NOT_ON = -(10**9)  # lts_start of people not on long-term support
NEVER = 10**9  # lts_exit of people who do not leave support this year


class CommunityService:
    """Community nursing, community mental health and adult social care."""

    name = "community"

    def __init__(self, world: World) -> None:
        reg = world.register
        self.nursing = ServedList(NURSING_KEY, "community_nursing_contact", working_days_only=False)
        self.mental_health = ServedList(
            MH_KEY, "community_mental_health_contact", working_days_only=True
        )
        self.assessment = ServedList(ASSESS_KEY, "social_care_assessment", working_days_only=True)
        self.nursing.streams = ("community_nursing",)
        self.mental_health.streams = ("mental_health",)
        self.assessment.streams = ("social_care_request",)
        self.p_long_term = reg.scalar("community.request_to_long_term_support")
        self.exit_probability = reg.scalar("community.long_term_support_exit_per_year")
        # people on long-term support at the start: a probit liability like the LTCs
        cal = liability.calibrate(
            AttributeSpec.from_register(reg, "community", "long_term_support_at_start"),
            world.pop_model.base_year,
        )
        pop = world.pop
        cell = (pop.sex.astype(np.int64) * 101 + pop.age) * 5 + (pop.imd - 1)
        noise = _normal(world, "community.lts_start", pop.person_id)
        on_support = liability.draw(cal, cell, pop.frailty.astype(np.float64), noise)
        #: absolute day long-term support started (NOT_ON: not on support); aligned with pop
        self.lts_start = np.where(on_support, -DAYS_PER_YEAR, NOT_ON).astype(np.int64)
        #: absolute day this year's exit from support (other than death) happens, or NEVER
        self.lts_exit = np.full(pop.size, NEVER, dtype=np.int64)
        self.mh_seen = np.zeros(pop.size, dtype=bool)
        self._reset()

    def _reset(self) -> None:
        for wl in self._lists():
            wl.reset_counters()

    def _lists(self) -> tuple[ServedList, ServedList, ServedList]:
        return (self.nursing, self.mental_health, self.assessment)

    # ---------------------------------------------------------------- yearly
    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Re-align per-person state after the population changed (deaths, entrants)."""
        pos = world.index_of(old_ids)
        lts = np.full(world.pop.size, NOT_ON, dtype=np.int64)
        keep = pos >= 0
        lts[pos[keep]] = self.lts_start[keep]
        self.lts_start = lts
        exit_day = np.full(world.pop.size, NEVER, dtype=np.int64)
        exit_day[pos[keep]] = self.lts_exit[keep]
        self.lts_exit = exit_day

    def start_year(self, world: World) -> None:
        """New requests for the year; the day each person on support leaves it (if they do)."""
        on = np.flatnonzero(self.lts_start != NOT_ON)
        self.lts_exit = np.full(world.pop.size, NEVER, dtype=np.int64)
        p = self.exit_probability
        if on.size and p > 0:
            u = crn.uniforms(world.key("community.lts_exit"), world.pop.person_id[on])
            leave = u < p
            # u / p is uniform given leaving: the day within the year (paired, like deaths)
            day = np.minimum((u[leave] / p * DAYS_PER_YEAR).astype(np.int64), DAYS_PER_YEAR - 1)
            self.lts_exit[on[leave]] = world.day0 + day
        self.mh_seen = np.zeros(world.pop.size, dtype=bool)
        self.nursing.start_year(world, table_from_events(world, world.events["community_nursing"]))
        self.mental_health.start_year(
            world, table_from_events(world, world.events["mental_health"])
        )
        requests = table_from_events(world, world.events["social_care_request"])
        world.ledger.count(
            "social_care_new_request", world.strata[requests.person], person=requests.person
        )
        self.assessment.start_year(world, requests)
        self._reset()

    def end_year(self, world: World) -> ServiceYear:
        """Count people supported and support days; people in MH contact; backlogs."""
        for wl in self._lists():
            wl.capture(world)
        start = world.day0
        end = start + DAYS_PER_YEAR
        on = self.lts_start != NOT_ON
        alive_end = np.where(world.death_day >= 0, start + world.death_day.astype(np.int64), end)
        last = np.minimum(alive_end, self.lts_exit)
        first = np.maximum(self.lts_start, start)
        days = np.where(on, np.clip(last - first, 0, DAYS_PER_YEAR), 0)
        supported = on & (days > 0)
        strata = world.strata
        # people who left support during the year (before any death)
        left = on & (self.lts_exit < alive_end)
        world.ledger.count("social_care_support_ended", strata[left], mode="other")
        self.lts_start[left] = NOT_ON
        world.ledger.count("social_care_long_term_support", strata[supported])
        world.ledger.count(
            "social_care_support_day",
            strata[supported],
            weight=days[supported].astype(float),
            person=np.flatnonzero(supported),
        )
        world.ledger.count("mental_health_people_in_contact", strata[self.mh_seen])
        # people who died leave support
        died = (world.death_day >= 0) & on & ~left
        world.ledger.count("social_care_support_ended", strata[died], mode="death")
        self.lts_start[died] = NOT_ON
        return ServiceYear(
            backlogs={wl.label: len(wl) for wl in self._lists()},
            capacity={wl.label: (wl.offered, wl.used) for wl in self._lists()},
        )

    # ---------------------------------------------------------------- daily
    def day(self, world: World, day: int) -> None:
        """One day of community services and social care."""
        rows = self.nursing.serve_day(world, day)
        person = self.nursing.table.person[rows]
        world.ledger.count("community_nursing_contact", world.strata[person], person=person)
        rows = self.mental_health.serve_day(world, day)
        person = self.mental_health.table.person[rows]
        world.ledger.count("community_mental_health_contact", world.strata[person], person=person)
        self.mh_seen[person] = True
        rows = self.assessment.serve_day(world, day)
        if rows.size:
            tab = self.assessment.table
            person = tab.person[rows]
            u = crn.uniforms(
                world.key("community.lts_decision"), tab.person_ids(world, rows), tab.k[rows]
            )
            # people who died while their request waited are not started on support
            dd = world.death_day[person]
            alive = (dd < 0) | (dd > day)
            p = self.p_long_term
            modifier = world.modifier("social_care_conversion")
            if modifier is not None:  # levers' per-person behaviour
                p = np.minimum(p * modifier[person], 1.0)
            eligible = (u < p) & (self.lts_start[person] == NOT_ON) & alive
            starts = np.unique(person[eligible])
            self.lts_start[starts] = world.day0 + day
            world.ledger.count("social_care_support_started", world.strata[starts])


def _normal(world: World, purpose: str, person_id: np.ndarray) -> np.ndarray:
    from scipy import special

    return np.asarray(special.ndtri(crn.uniforms(world.key(purpose, 0), person_id)))
