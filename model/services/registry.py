"""The care settings of a run, in one place: one line (name, factory) per service.

The order of ``SERVICES`` is the order in which the services run within each simulated day
(``Registry.offset``): general practice first, then the hospital, which sees the GP
overspill of the same day, then day cases and outpatients, then community services. The
engine builds every registered service, runs one SimPy process per service and calls
``start_year``, ``end_year`` and ``carry_people`` on each in this order; it names no service
itself.

To add a care setting, write a module with a class implementing
``model.services.protocol.Service`` and add one line below. For a one-off run (a test, an
experiment), ``SERVICES.with_service(name, factory)`` returns a registry with one more
service, which ``Engine`` and ``run_one`` take as ``registry=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from model.services.acute import AcuteService
from model.services.ambulatory import AmbulatoryCare
from model.services.community import CommunityService
from model.services.primary_care import PrimaryCareService
from model.services.protocol import Service, ServiceYear
from model.world import World

#: builds a service for a replication from its world
Factory = Callable[[World], Service]


@dataclass(frozen=True)
class Entry:
    """One registered service: its name (``Service.name``) and how to build it."""

    name: str
    factory: Factory


@dataclass(frozen=True)
class Registry:
    """An ordered list of services; the order is the within-day order."""

    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        names = [e.name for e in self.entries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"services registered twice: {', '.join(duplicates)}")
        for name in names:
            if not name.isidentifier():
                raise ValueError(f"service name {name!r} is not an identifier")

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        """Registered names, in within-day order."""
        return tuple(e.name for e in self.entries)

    def offset(self, position: int) -> float:
        """Time within a day at which the service at ``position`` runs (0 < offset < 1).

        Tenths of a day (0.1, 0.2, ...) for up to nine services; the year boundary runs at
        whole days, before every service.
        """
        n = len(self.entries)
        return (position + 1) / (10 if n <= 9 else n + 1)

    def with_service(self, name: str, factory: Factory, after: str | None = None) -> Registry:
        """A registry with one more service, last or right after the service ``after``."""
        entries = list(self.entries)
        at = len(entries) if after is None else self.names.index(self._known(after)) + 1
        entries.insert(at, Entry(name, factory))
        return Registry(tuple(entries))

    def replacing(self, name: str, factory: Factory) -> Registry:
        """A registry with the service ``name`` built by ``factory`` instead (same place)."""
        self._known(name)
        return Registry(tuple(Entry(name, factory) if e.name == name else e for e in self.entries))

    def without(self, name: str) -> Registry:
        """A registry without the service ``name``."""
        self._known(name)
        return Registry(tuple(e for e in self.entries if e.name != name))

    def build(self, world: World) -> dict[str, Service]:
        """Every service of a replication, by name, in within-day order."""
        services: dict[str, Service] = {}
        for entry in self.entries:
            service = entry.factory(world)
            if service.name != entry.name:
                raise ValueError(
                    f"service registered as {entry.name!r} calls itself {service.name!r}"
                )
            services[entry.name] = service
        return services

    def _known(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(f"no service {name!r} registered; known: {', '.join(self.names)}")
        return name


def merge_years(records: list[ServiceYear]) -> ServiceYear:
    """One record of the year from every service's; a name reported twice is an error."""
    merged = ServiceYear()
    for record in records:
        twice = (
            (set(merged.backlogs) & set(record.backlogs))
            | (set(merged.capacity) & set(record.capacity))
            | (set(merged.tables) & set(record.tables))
        )
        if twice:
            raise ValueError(f"reported by two services: {', '.join(sorted(twice))}")
        merged.backlogs.update(record.backlogs)
        merged.capacity.update(record.capacity)
        merged.tables.update(record.tables)
        if record.mean_occupied_beds is not None:
            if merged.mean_occupied_beds is not None:
                raise ValueError("mean occupied beds reported by two services")
            merged.mean_occupied_beds = record.mean_occupied_beds
    return merged


#: the services of every run, in within-day order: one line each
SERVICES = Registry(
    (
        Entry("gp", PrimaryCareService),
        Entry("acute", AcuteService),
        Entry("ambulatory", AmbulatoryCare),
        Entry("community", CommunityService),
    )
)
