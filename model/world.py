"""The state of one replication while it runs: population, calendar, demand, ledger, hooks.

Services and levers read and change the world; the engine owns the SimPy environment and
the yearly cycle. Per-person arrays are indexed by position in ``world.pop`` for the current
year (positions change only at year boundaries, when the dead leave and entrants join).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from model import _kernels, crn
from model.demand import DemandModel, Events, risk_code
from model.dynamics import PopulationPlan
from model.ledger import Ledger
from model.population import Population, PopulationModel
from model.register import Register
from model.scenario import Scenario
from model.services import names

DAYS_PER_YEAR = 365


class Lever(Protocol):
    """What a personalised-care lever may do, without editing the engine.

    Every method is optional in practice: ``model.world.NullLever`` implements them all as
    no-ops, and concrete levers override what they need. The service names a lever sees are
    those of ``model.services.names``: demand streams for rates, capacity names for
    capacities.
    """

    name: str

    def on_year_start(self, world: World) -> None:
        """Change people's state (e.g. activation, social needs) after dynamics."""

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        """Per-person multiplier (aligned with ``world.pop``) on a demand rate, or None.

        ``service`` is a demand stream (``names.DEMAND_STREAMS``: ``"gp"``, ``"ae"``, ...);
        ``names.feeds(service)`` is the activity it feeds (``"gp_appointment"``, ...).
        """

    def capacity_multiplier(self, world: World, service: str) -> float:
        """Multiplier on a daily capacity (1.0 = unchanged).

        ``service`` is a capacity name (``names.CAPACITIES``: ``"gp_appointment"``,
        ``"bed_day"``, ``"elective_ordinary"``, ...), as in the capacity table.
        """

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        """Extra SimPy process factories, each called with the environment (e.g. a
        link-worker caseload built on ``model.services.caseload.Caseload``)."""


@dataclass
class NullLever:
    """A lever that changes nothing (used to test that levers keep the baseline exact)."""

    name: str = "null"

    def on_year_start(self, world: World) -> None:
        return None

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        return None

    def capacity_multiplier(self, world: World, service: str) -> float:
        return 1.0

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return []


@dataclass
class World:
    """Mutable state of one replication."""

    scenario: Scenario
    replication: int
    register: Register
    pop: Population
    pop_model: PopulationModel
    demand: DemandModel
    ledger: Ledger
    levers: list[Lever] = field(default_factory=list)
    year: int = -1
    #: per-person arrays for the current year
    strata: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    death_day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int16))
    #: days each person is in the population this year (``end_day - entry_day``)
    exposure_days: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: day of the year each person joined (0, or an entrant's arrival day)
    entry_day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int16))
    #: day each person leaves the year (their death day, or 365)
    end_day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: this year's demand events by demand stream (``model.services.names.DEMAND_STREAMS``)
    events: dict[str, Events] = field(default_factory=dict)
    #: same-day hand-offs between services: lists of (person index, event number, route)
    ae_inbox: list[tuple[np.ndarray, np.ndarray, str]] = field(default_factory=list)
    #: the planned population (entrant numbers and ids, capacity), fixed before the clock
    #: starts; None: capacity follows the current population's size
    plan: PopulationPlan | None = None
    #: the SimPy environment of the run (set by the engine before the clock starts)
    env: simpy.Environment | None = None
    #: fixed per-person demand propensities by demand service, aligned with ``pop``
    propensity: dict[str, np.ndarray] = field(default_factory=dict)
    #: per-person risk codes for the demand relative risks (recomputed each year)
    risk_code: np.ndarray | None = None
    #: this year's mean mortality hazard ratio by (sex, age) over the lever-free population
    #: (``model.dynamics.MortalityReference``), set before levers act
    mortality_normaliser: np.ndarray | None = None
    #: (person ids, their buckets) of the population ``index_of`` last looked in
    _id_buckets: tuple[np.ndarray, tuple[np.ndarray, int] | None] | None = field(
        default=None, repr=False
    )

    @property
    def seed(self) -> int:
        """Scenario seed."""
        return self.scenario.run.seed

    @property
    def day0(self) -> int:
        """Absolute day index of the first day of the current year."""
        return self.year * DAYS_PER_YEAR

    def key(self, purpose: str, period: int | None = None) -> np.uint64:
        """Counter-based random key for a purpose (and by default the current year)."""
        return crn.key(
            self.seed, self.replication, purpose, self.year if period is None else period
        )

    def calendar_date(self, absolute_day: int) -> dt.date:
        """Calendar date of an absolute simulation day (years of 365 days from 1 January)."""
        year = self.scenario.run.start_year + absolute_day // DAYS_PER_YEAR
        return dt.date(year, 1, 1) + dt.timedelta(days=absolute_day % DAYS_PER_YEAR)

    def is_working_day(self, absolute_day: int) -> bool:
        """Monday to Friday (bank holidays are not modelled)."""
        return self.calendar_date(absolute_day).weekday() < 5

    def working_days_in_year(self) -> int:
        """Number of working days in the current simulated year."""
        return sum(self.is_working_day(self.day0 + d) for d in range(DAYS_PER_YEAR))

    def planned_population(self) -> float:
        """The planned population of the current year (``PopulationPlan.population``).

        Computed without simulation, so a lever that saves or costs lives does not move any
        service's capacity. Without a plan, the current population's size.
        """
        if self.plan is None:
            return float(self.pop.size)
        return self.plan.population(self.year)

    def per_day(self, per_1000: float) -> float:
        """Daily capacity from a rate per 1,000 people of the year's planned population.

        Capacity keeps pace with the planned growth of the population (the register's
        ``dynamics.planned_growth_per_year``) but not with ageing or rising morbidity, which
        is what puts services under more pressure.
        """
        return per_1000 * self.planned_population() / 1000.0

    def capacity_today(self, service: str, per_1000_key: str) -> float:
        """A capacity for one day, after lever multipliers (fractional).

        ``service`` is a capacity name (``model.services.names.CAPACITIES``); any other name
        raises ``UnknownServiceError``.
        """
        if service not in names.CAPACITIES:
            names.check_capacity(service)
        value = self.per_day(self.register.scalar(per_1000_key))
        for lever in self.levers:
            value *= lever.capacity_multiplier(self, service)
        return value

    def unit_multipliers(self, service: str, n_units: int) -> np.ndarray | None:
        """Capacity multipliers by deployment unit (e.g. one per practice) from levers.

        A lever deployed in some units only (a PCN, some practices) defines
        ``unit_capacity_multiplier(world, service)`` returning one factor per unit of the
        service (``None``: no change); levers' factors multiply. ``None`` when no lever
        changes any unit, so the baseline is untouched.
        """
        if service not in names.CAPACITIES:
            names.check_capacity(service)
        out: np.ndarray | None = None
        for lever in self.levers:
            hook = getattr(lever, "unit_capacity_multiplier", None)
            factor = hook(self, service) if hook is not None else None
            if factor is None:
                continue
            factor = np.asarray(factor, dtype=float)
            if factor.shape != (n_units,):
                raise ValueError(
                    f"lever {lever.name!r}: unit_capacity_multiplier for {service!r} must give "
                    f"{n_units} factors (one per unit), got shape {factor.shape}."
                )
            out = factor if out is None else out * factor
        return out

    def set_population(
        self, pop: Population, kept: np.ndarray | None = None, added: Population | None = None
    ) -> None:
        """Replace the population, carrying the fixed per-person demand propensities.

        ``kept`` selects the rows of the old population that remain (in order) and
        ``added`` are the people appended after them; with neither, all are recomputed.
        """
        for service in list(self.demand.profiles):
            old = self.propensity.get(service)
            if old is None or (kept is None and added is None):
                self.propensity[service] = self.demand.propensity(service, pop)
                continue
            parts = [old if kept is None else old[kept]]
            if added is not None:
                parts.append(self.demand.propensity(service, added))
            self.propensity[service] = np.concatenate(parts)
        self.pop = pop

    def base_rates(self, service: str) -> np.ndarray:
        """Annual demand rates per person of the base year: no growth, no lever."""
        names.check_stream(service)
        if service not in self.propensity:
            self.propensity[service] = self.demand.propensity(service, self.pop)
        if self.risk_code is None or self.risk_code.size != self.pop.size:
            self.risk_code = risk_code(self.register, self.pop)
        return self.demand.rates(service, self.pop, self.propensity[service], self.risk_code)

    def rates(self, service: str) -> np.ndarray:
        """Annual demand rates per person for a demand stream, after non-demographic growth
        (``demand.<stream>.growth_per_year``) and lever multipliers."""
        rate = self.base_rates(service)
        growth = self.register.scalar(f"demand.{service}.growth_per_year")
        if growth != 0.0 and self.year > 0:
            # non-demographic growth on top of the population's own change
            rate = rate * (1.0 + growth) ** self.year
        for lever in self.levers:
            m = lever.rate_multiplier(self, service)
            if m is not None:
                rate = rate * m
        return rate

    def index_of(self, person_id: np.ndarray) -> np.ndarray:
        """Positions of person ids in this year's population (-1 if gone)."""
        ids = self.pop.person_id
        index = self._id_index()
        if index is not None:  # the same positions, searched within buckets of ids
            starts, shift = index
            query = np.asarray(person_id)
            found = _kernels.find_sorted(ids, starts, shift, query.reshape(-1))
            return found.reshape(query.shape)
        pos = np.searchsorted(ids, person_id)
        pos = np.minimum(pos, ids.size - 1)
        found = ids[pos] == person_id
        return np.where(found, pos, -1)

    def _id_index(self) -> tuple[np.ndarray, int] | None:
        """Where each bucket of ids starts in this year's (sorted) ids, with the bucket
        width ``2**shift`` (buckets about a quarter to a half of the people: a few kilobytes
        per thousand people), or None for negative ids."""
        ids = self.pop.person_id
        cached = self._id_buckets
        if cached is not None and cached[0] is ids:
            return cached[1]
        index = None
        if ids.size and int(ids[0]) >= 0:
            shift = max((2 * int(ids[-1])) // ids.size, 1).bit_length()
            index = (_kernels.bucket_starts(ids, shift), shift)
        self._id_buckets = (ids, index)
        return index


class DailyCapacity:
    """Carries fractional daily capacity over so that the long-run total is exact."""

    def __init__(self) -> None:
        self.remainder = 0.0

    def take(self, value: float) -> int:
        """Whole slots available today; the fraction carries to the next day."""
        total = value + self.remainder
        whole = int(np.floor(total))
        self.remainder = total - whole
        return whole
