"""The state of one replication while it runs: population, calendar, demand, ledger, hooks.

Services and levers read and change the world; the engine owns the SimPy environment and
the yearly cycle. Per-person arrays are indexed by position in ``world.pop`` for the current
year (positions change only at year boundaries, when the dead leave and entrants join).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from model import _kernels, crn, years
from model.demand import DemandModel, Events, risk_code
from model.dynamics import PopulationPlan
from model.effects import DayEffects
from model.ledger import Ledger
from model.population import Population, PopulationModel
from model.register import Register
from model.scenario import Scenario
from model.services import names

DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Served:
    """What a service published: the people (positions in ``world.pop``) served on a
    relative day, with their event numbers and route where the topic has them."""

    topic: str
    person: np.ndarray
    day: int
    k: np.ndarray | None = None
    route: str = ""


#: a subscriber to what services serve: ``callback(world, served)``
Subscriber = Callable[["World", Served], None]


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
    #: the place's general practices and PCNs (``model.practices.Practices``), set by the
    #: general-practice service; levers deploy staff by PCN or practice with it
    practices: Any = None
    #: demand effects that start on any day (``model.effects.DayEffects``)
    effects: DayEffects = field(default_factory=DayEffects)
    #: this year's annual rates by demand stream, as drawn (kept only when levers run)
    year_rates: dict[str, np.ndarray] = field(default_factory=dict)
    #: subscribers to what services serve, by topic (``TOPICS``)
    subscribers: dict[str, list[Subscriber]] = field(default_factory=dict)
    #: per-person behaviour modifiers set by levers, by name (``MODIFIERS``), aligned with
    #: ``pop``; absent means none (the baseline)
    modifiers: dict[str, np.ndarray] = field(default_factory=dict)
    #: per modifier: (a weak reference to its array, one bit per person set wherever it
    #: may not be 1); weak, so that an array a population change replaced is freed
    _modifier_bits: dict[str, tuple[weakref.ref[np.ndarray], np.ndarray]] = field(
        default_factory=dict, repr=False
    )
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
        """Calendar date of an absolute simulation day: years of 365 days from 1 January,
        or from 1 April with ``[run] year_starts = "april"`` (``model.years``)."""
        run = self.scenario.run
        first = years.first_day(run.start_year + absolute_day // DAYS_PER_YEAR, run.year_starts)
        return first + dt.timedelta(days=absolute_day % DAYS_PER_YEAR)

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
        self,
        pop: Population,
        kept: np.ndarray | None = None,
        added: Population | None = None,
        propensity: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Replace the population, carrying the fixed per-person demand propensities.

        ``kept`` selects the rows of the old population that remain (in order) and
        ``added`` are the people appended after them; with neither, all are recomputed.
        ``propensity``: the new population's, carried already (``carried_propensity``).
        """
        if propensity is None:
            propensity = self.carried_propensity(pop, kept, added)
        self.propensity.update(propensity)
        if self.ledger.spend is not None:
            self.ledger.spend.carry(kept, 0 if added is None else added.size)
        for name, values in list(self.modifiers.items()):
            part = values if kept is None else values[kept]
            pad = np.ones(0 if added is None else added.size)
            self.modifiers[name] = np.concatenate([part, pad])
        self.pop = pop

    def carried_propensity(
        self, pop: Population, kept: np.ndarray | None = None, added: Population | None = None
    ) -> dict[str, np.ndarray]:
        """The demand propensities of ``pop``: those of the current population's rows
        ``kept`` followed by those of the people ``added`` (with neither, all computed)."""
        out = {}
        for service in self.demand.profiles:
            old = self.propensity.get(service)
            if old is None or (kept is None and added is None):
                out[service] = self.demand.propensity(service, pop)
                continue
            parts = [old if kept is None else old[kept]]
            if added is not None:
                parts.append(self.demand.propensity(service, added))
            out[service] = np.concatenate(parts)
        return out

    def base_rates(self, service: str) -> np.ndarray:
        """Annual demand rates per person of the base year: no growth, no lever."""
        names.check_stream(service)
        if service not in self.propensity:
            self.propensity[service] = self.demand.propensity(service, self.pop)
        if self.risk_code is None or self.risk_code.size != self.pop.size:
            self.risk_code = risk_code(self.register, self.pop)
        return self.demand.rates(service, self.pop, self.propensity[service], self.risk_code)

    def grown(self, service: str, rate: np.ndarray, year: int) -> np.ndarray:
        """``rate`` after the stream's non-demographic growth (``demand.<stream>.
        growth_per_year``) to simulated ``year``, on top of the population's own change."""
        growth = self.register.scalar(f"demand.{service}.growth_per_year")
        if growth != 0.0 and year > 0:
            rate = rate * (1.0 + growth) ** year
        return rate

    def rates(self, service: str) -> np.ndarray:
        """Annual demand rates per person for a demand stream, after non-demographic growth
        (``demand.<stream>.growth_per_year``) and lever multipliers."""
        rate = self.grown(service, self.base_rates(service), self.year)
        for lever in self.levers:
            m = lever.rate_multiplier(self, service)
            if m is not None:
                rate = rate * m
        return rate

    # ---------------------------------------------------------------- lever seams
    def subscribe(self, topic: str, callback: Subscriber) -> None:
        """Call ``callback(world, served)`` whenever a service publishes ``topic`` (one of
        ``TOPICS``); subscribers are called in the order they subscribed."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}")
        self.subscribers.setdefault(topic, []).append(callback)

    def publish(
        self,
        topic: str,
        person: np.ndarray,
        day: int,
        k: np.ndarray | None = None,
        route: str = "",
    ) -> None:
        """Services tell subscribers whom they served today (no-op without subscribers)."""
        callbacks = self.subscribers.get(topic)
        if callbacks:
            served = Served(topic, person, day, k, route)
            for callback in callbacks:
                callback(self, served)

    def listened(self, topic: str) -> bool:
        """Whether anyone subscribes to ``topic`` (services skip work nobody reads)."""
        return bool(self.subscribers.get(topic))

    def modifier(self, name: str) -> np.ndarray | None:
        """A per-person behaviour multiplier (``MODIFIERS``), or None when no lever sets it."""
        return self.modifiers.get(name)

    def set_modifier(self, name: str, person: np.ndarray, factor: np.ndarray | float) -> None:
        """Multiply ``person``'s behaviour ``name`` by ``factor`` (levers' factors multiply)."""
        if name not in MODIFIERS:
            raise ValueError(f"unknown modifier {name!r}; known: {', '.join(MODIFIERS)}")
        current = self.modifiers.get(name)
        if current is None:
            current = self.modifiers[name] = np.ones(self.pop.size)
        current[person] *= factor
        size = current.size
        cached = self._modifier_bits.get(name)
        if cached is not None and cached[0]() is current:  # these people's bits set
            where = np.asarray(person)
            where = np.flatnonzero(where) if where.dtype == np.bool_ else where.reshape(-1)
            where = np.where(where < 0, where + size, where).astype(np.int64)
            bit = np.left_shift(1, where & 7).astype(np.uint8)
            np.bitwise_or.at(cached[1], where >> 3, bit)

    def modifier_bits(self, name: str) -> np.ndarray | None:
        """One bit per person (``np.packbits(..., bitorder="little")``), set at least
        wherever the modifier ``name`` is not 1 (None when no lever sets it): kept up to date
        by ``set_modifier``, made afresh for a new array (e.g. after a population change)."""
        values = self.modifiers.get(name)
        if values is None:
            return None
        cached = self._modifier_bits.get(name)
        if cached is None or cached[0]() is not values:
            cached = self._modifier_bits[name] = (
                weakref.ref(values),
                np.packbits(values != 1.0, bitorder="little"),
            )
        return cached[1]

    def set_effect(
        self, lever: str, stream: str, person: np.ndarray, from_day: int, factor: np.ndarray | float
    ) -> None:
        """From relative day ``from_day`` of this year, multiply ``person``'s demand in
        ``stream`` by ``factor`` (thinning or top-up; ``model.effects``)."""
        names.check_stream(stream)
        rate = self.year_rates.get(stream)
        if rate is None:
            rate = self.year_rates[stream] = self.rates(stream)
        self.effects.set(
            lever,
            stream,
            person,
            from_day,
            factor,
            size=self.pop.size,
            person_id=self.pop.person_id,
            end_day=self.end_day,
            rate=rate,
            thin_key=self.key(f"lever.{lever}.{stream}.thin"),
            top_up_key=self.key(f"lever.{lever}.{stream}.top_up"),
            day0=self.day0,
        )

    def set_effects(
        self, lever: str, streams: list[str], person: np.ndarray, from_day: int, factors: np.ndarray
    ) -> None:
        """``set_effect`` for several streams at once: ``person`` (int64 positions) in
        ``streams[i]`` multiplied by ``factors[i]`` from relative ``from_day``."""
        rates = []
        thin_keys = []
        top_up_keys = []
        for stream in streams:
            names.check_stream(stream)
            rate = self.year_rates.get(stream)
            if rate is None:
                rate = self.year_rates[stream] = self.rates(stream)
            rates.append(rate)
            thin_keys.append(self.key(f"lever.{lever}.{stream}.thin"))
            top_up_keys.append(self.key(f"lever.{lever}.{stream}.top_up"))
        self.effects.set_streams(
            lever,
            streams,
            np.asarray(person, dtype=np.int64),
            from_day,
            np.asarray(factors, dtype=np.float64),
            size=self.pop.size,
            person_id=self.pop.person_id,
            end_day=self.end_day,
            rates=rates,
            thin_keys=thin_keys,
            top_up_keys=top_up_keys,
            day0=self.day0,
        )

    def keep_events(
        self, stream: str, person: np.ndarray, k: np.ndarray, day: np.ndarray | int
    ) -> np.ndarray | None:
        """Which of a stream's events happen after day effects (None: all of them)."""
        if not self.effects.active(stream):
            return None
        return self.effects.keep(stream, person, k, day, self.pop.person_id)

    def extra_events(self, stream: str, day: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Top-up events of a stream on relative ``day``: (positions, event numbers)."""
        if not self.effects.active(stream):
            return None
        return self.effects.extra(stream, self.day0 + day)

    def index_of(self, person_id: np.ndarray) -> np.ndarray:
        """Positions of person ids in this year's population (-1 if gone)."""
        ids = self.pop.person_id
        query = np.asarray(person_id)
        n = query.size
        if (
            query.ndim == 1
            and n >= 4096
            and n <= ids.size
            and query.dtype == ids.dtype
            and query[0] == ids[0]
            and query[-1] == ids[n - 1]
            and np.array_equal(query, ids[:n])
        ):  # the ids of the people before entrants joined: still where they were
            return np.arange(n, dtype=np.int64)
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


#: what services publish to subscribers (``World.publish``): an attended GP appointment, a
#: GP request that went unmet and turned to A&E the same day (the hospital subscribes), an
#: A&E attendance, a discharge from hospital
TOPICS = ("gp_consultation", "gp_unmet_to_ae", "ae_attendance", "discharge")
#: per-person behaviour modifiers services apply where they draw (``World.modifier``), each a
#: multiplier (1 = unchanged): the probability of not attending a GP appointment; the share
#: of GP requests made online (the rest of the preference follows); the time a person waits
#: for a GP appointment before giving up; the chance that an A&E attendance is admitted; the
#: length of a hospital stay; the chance that a social-care assessment leads to long-term
#: support. Activation moves demand through ``pop.pam_level`` and the causal share.
MODIFIERS = (
    "gp_dna",
    "gp_online_preference",
    "gp_patience",
    "ae_conversion",
    "length_of_stay",
    "social_care_conversion",
)


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
