"""Day cases and outpatient attendances: hospital care that holds no overnight bed.

Each has its own waiting list served first come, first served on working days up to its own
daily capacity (a ``ServedList``), and neither shares anything with the hospital's beds, so
they run as a service of their own, after the beds (``model.services.acute``).
"""

from __future__ import annotations

import numpy as np

from model.services.acute import DAYCASE_KEY, OUTPATIENT_KEY
from model.services.base import ServedList, table_from_events
from model.services.protocol import ServiceYear
from model.world import World


class AmbulatoryCare:
    """The acute provider's day-case unit and outpatient clinics."""

    name = "ambulatory"

    def __init__(self, world: World) -> None:
        self.daycase = ServedList(DAYCASE_KEY, "elective_daycase", working_days_only=True)
        self.outpatient = ServedList(
            OUTPATIENT_KEY, "outpatient_attendance", working_days_only=True
        )
        #: (waiting list, demand stream, activity recorded, its mode)
        self.lists = (
            (self.daycase, "elective_daycase", "elective_admission", "daycase"),
            (self.outpatient, "outpatient", "outpatient_attendance", ""),
        )

    def start_year(self, world: World) -> None:
        """The year's requests join each list behind the backlog."""
        for wl, stream, _, _ in self.lists:
            wl.start_year(world, table_from_events(world, world.events[stream]))
            wl.reset_counters()

    def day(self, world: World, day: int) -> None:
        """Serve each list up to the day's capacity."""
        for wl, _, activity, mode in self.lists:
            rows = wl.serve_day(world, day)
            world.ledger.count(activity, world.strata[wl.table.person[rows]], mode=mode)

    def end_year(self, world: World) -> ServiceYear:
        """Backlogs and capacity (offered, used) of both lists."""
        for wl, _, _, _ in self.lists:
            wl.capture(world)
        return ServiceYear(
            backlogs={wl.label: len(wl) for wl, _, _, _ in self.lists},
            capacity={wl.label: (wl.offered, wl.used) for wl, _, _, _ in self.lists},
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Nothing to do: waiting lists find their people again by id (``capture``)."""
