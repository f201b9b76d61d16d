"""The one interface every care-setting service implements.

A service is created once per replication with the world, told when each simulated year
starts and ends, stepped once per simulated day (in registry order, after the year
boundary), and told when the population changes at a year boundary so it can carry the
people it is holding (waiting lists, caseloads, people in beds) across years. Its
``end_year`` returns one uniform record that the engine hands to the ledger.

Adding a care setting means one module implementing ``Service``, one line in
``model.services.registry`` and its register entries; the engine needs no change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from model.world import World


@dataclass
class ServiceYear:
    """What a service reports at the end of a simulated year.

    ``backlogs``: requests still waiting at year end, by activity-table service name;
    ``capacity``: (capacity offered, capacity used) by activity-table service name;
    ``mean_occupied_beds``: for services that hold beds (None otherwise);
    ``tables``: rows of service-specific output tables by table name (without the
    replication and year columns, which the ledger adds), e.g. ``practice_gp``.
    """

    backlogs: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, tuple[float, float]] = field(default_factory=dict)
    mean_occupied_beds: float | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


class Service(Protocol):
    """A care setting on the daily clock."""

    #: registry name of the service (e.g. "gp", "acute", "community")
    name: str

    def start_year(self, world: World) -> None:
        """Take this year's demand (``world.events``) and carry last year's backlog."""

    def day(self, world: World, day: int) -> None:
        """Serve one day (``day`` counts from the start of the simulated year)."""

    def end_year(self, world: World) -> ServiceYear:
        """Close the year: backlogs, capacity offered and used, beds."""

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """The population changed (deaths left, entrants joined): re-index held people.

        ``old_ids`` are the person ids of the population before the change.
        """
