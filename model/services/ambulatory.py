"""Day cases and outpatient attendances: hospital care that holds no overnight bed.

Each has its own waiting list served first come, first served on working days up to its own
daily capacity (a ``ServedList``), and neither shares anything with the hospital's beds, so
they run as a service of their own, after the beds (``model.services.acute``).

Outpatient attendances are first attendances (a share ``acute.outpatient_first_share`` of
the demand, by a keyed uniform per request) or follow-ups. First attendances and day cases
are referral-to-treatment (RTT) pathways: their lists start with the published backlog
(``model.services.base.rtt_backlog``) and their waits count from referral; follow-ups are
booked and wait from their booking. The outpatient capacity is shared between the two lists
in proportion to the capacity each was sized for (``capacity.rtt_margin`` for first
attendances, ``capacity.margin`` for follow-ups).
"""

from __future__ import annotations

import numpy as np

from model import crn
from model.register import Register
from model.services.acute import DAYCASE_KEY, OUTPATIENT_KEY
from model.services.base import (
    RequestTable,
    ServedList,
    mark_urgent,
    rtt_backlog,
    table_from_events,
)
from model.services.protocol import ServiceYear
from model.world import World


def outpatient_capacity_shares(register: Register) -> tuple[float, float]:
    """Shares of the outpatient capacity for (first attendances, follow-ups)."""
    first = register.scalar("acute.outpatient_first_share")
    a = first * register.scalar("capacity.rtt_margin")
    b = (1.0 - first) * register.scalar("capacity.margin")
    return a / (a + b), b / (a + b)


def outpatient_margin(register: Register) -> float:
    """Capacity of the outpatient clinics relative to expected demand (both lists)."""
    first = register.scalar("acute.outpatient_first_share")
    return first * register.scalar("capacity.rtt_margin") + (1.0 - first) * register.scalar(
        "capacity.margin"
    )


class AmbulatoryCare:
    """The acute provider's day-case unit and outpatient clinics."""

    name = "ambulatory"

    def __init__(self, world: World) -> None:
        reg = world.register
        first, follow = outpatient_capacity_shares(reg)
        self.first_share = reg.scalar("acute.outpatient_first_share")
        self.daycase = ServedList(DAYCASE_KEY, "elective_daycase", working_days_only=True)
        self.first = ServedList(OUTPATIENT_KEY, "outpatient_first", True, first)
        self.follow_up = ServedList(OUTPATIENT_KEY, "outpatient_follow_up", True, follow)
        self.daycase.streams = ("elective_daycase",)
        self.first.streams = ("outpatient",)
        self.follow_up.streams = ("outpatient",)
        #: (waiting list, activity recorded, its mode)
        self.lists = (
            (self.daycase, "elective_admission", "daycase"),
            (self.first, "outpatient_attendance", "first"),
            (self.follow_up, "outpatient_attendance", "follow_up"),
        )
        self.seeded = False

    def start_year(self, world: World) -> None:
        """The year's requests join each list behind the backlog (the RTT lists start with
        the published backlog in the first year)."""
        daycase = table_from_events(world, world.events["elective_daycase"])
        self.daycase.start_year(world, mark_urgent(world, daycase, "elective_daycase"))
        requests = table_from_events(world, world.events["outpatient"])
        ids = world.pop.person_id[requests.person]
        first = crn.uniforms(world.key("outpatient.first"), ids, requests.k) < self.first_share
        firsts = mark_urgent(world, requests.take(np.flatnonzero(first)), "outpatient")
        self.first.start_year(world, firsts)
        self.follow_up.start_year(world, requests.take(np.flatnonzero(~first)))
        if not self.seeded:
            self.daycase.seed(rtt_backlog(world, "elective_daycase"))
            self.first.seed(rtt_backlog(world, "outpatient", self.first_share))
            self.seeded = True
        for wl, _, _ in self.lists:
            wl.reset_counters()

    def day(self, world: World, day: int) -> None:
        """Serve each list up to the day's capacity."""
        for wl, activity, mode in self.lists:
            rows = wl.serve_day(world, day)
            person = wl.table.person[rows]
            world.ledger.count(activity, world.strata[person], mode=mode, person=person)

    def end_year(self, world: World) -> ServiceYear:
        """Backlogs and capacity (offered, used) of the lists."""
        for wl, _, _ in self.lists:
            wl.capture(world)
        return ServiceYear(
            backlogs={wl.label: len(wl) for wl, _, _ in self.lists},
            capacity={wl.label: (wl.offered, wl.used) for wl, _, _ in self.lists},
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Nothing to do: waiting lists find their people again by id (``capture``)."""


__all__ = ["AmbulatoryCare", "RequestTable", "outpatient_capacity_shares", "outpatient_margin"]
