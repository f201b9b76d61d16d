"""The engine: one replication of one scenario, with SimPy as the clock.

``run_one(scenario, replication)`` is pure: it builds the population from the scenario's
seed and replication, runs the yearly cycle and the daily service processes, and returns
tidy tables. It is picklable and depends on nothing global, so replications can run in any
order on any number of workers and give the same tables.

Within each simulated day the processes run in a fixed order: the year boundary (at whole
days), then the services in the order of their registry (``model.services.registry``:
general practice, then the hospital, which receives the GP overspill the same day, then day
cases and outpatients, then community services and social care). The engine names no
service: it builds every registered one and drives it through the ``Service`` protocol
(``model.services.protocol``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy

from model import crn, dynamics, threads
from model.allocator import reuse_freed_memory
from model.demand import SERVICES as DEMAND_SERVICES
from model.demand import DemandModel, Events, draw_events, risk_code
from model.ledger import Ledger
from model.population import Population, bridges_segment, build_population, population_model
from model.scenario import Scenario
from model.services.protocol import Service
from model.services.registry import SERVICES, Registry, merge_years
from model.strata import person_code, stratum_code
from model.streams import Streams
from model.world import DAYS_PER_YEAR, Lever, World
from model.years import with_financial_year

#: register entry of the planned population growth (capacity and entrant numbers)
PLANNED_GROWTH_KEY = "dynamics.planned_growth_per_year"
_ZERO = np.zeros(1, dtype=np.int64)  # the "person" of draws made once per year


def _yearly_uniform(seed: int, replication: int, purpose: str, year: int) -> float:
    """One keyed uniform for a purpose and year (e.g. rounding the year's entrant numbers)."""
    return float(crn.uniforms(crn.key(seed, replication, purpose, year), _ZERO)[0])


ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class YearDraws:
    """A year's per-person draws: entry day, death day (-1: survives the year), the day
    each leaves the year (death day or 365), days in the year, the mothers of the year's
    deliveries (positions) and person codes."""

    entry_day: np.ndarray
    death_day: np.ndarray
    end_day: np.ndarray
    exposure_days: np.ndarray
    mothers: np.ndarray
    strata: np.ndarray


@dataclass(frozen=True)
class NextYear:
    """What a year boundary makes from the people of the year before alone (without
    levers): the survivors aged a year (and which of the old rows they are), the entrants
    (and the births' ids), everyone, their demand propensities, the mortality normaliser,
    the year's draws, relative-risk codes and demand events (``Engine._next_year``)."""

    survivors: Population
    alive: np.ndarray
    newborn_ids: np.ndarray
    entrants: Population | None
    pop: Population
    propensity: dict[str, np.ndarray]
    normaliser: np.ndarray
    draws: YearDraws
    risk_code: np.ndarray
    events: dict[str, Events]


class Engine:
    """Wires the world, the yearly cycle and the services of one replication.

    ``services`` holds every registered service by name (``engine.services["gp"]``), in
    within-day order; ``registry`` chooses them (default: ``model.services.registry``).
    """

    def __init__(
        self,
        scenario: Scenario,
        replication: int,
        levers: Sequence[Lever] = (),
        registry: Registry = SERVICES,
    ) -> None:
        run = scenario.run
        reg = scenario.register
        self.scenario = scenario
        self.streams = Streams(run.seed, replication)
        pop_model = population_model(reg, run.base_year)
        pop = build_population(run.population, run.seed, reg, run.base_year, replication)
        # fixed before the clock starts, so that no lever can move them: the planned
        # population (entrant numbers and ids, capacity) and the mortality normaliser
        plan = dynamics.PopulationPlan.build(
            pop.size,
            reg.scalar(PLANNED_GROWTH_KEY),
            reg.scalar("dynamics.births_per_person_year"),
            reg.scalar("dynamics.net_migration_per_person_year"),
            [
                _yearly_uniform(run.seed, replication, "dynamics.entrants", y)
                for y in range(run.years)
            ],
        )
        self.world = World(
            scenario=scenario,
            replication=replication,
            register=reg,
            pop=pop,
            pop_model=pop_model,
            demand=DemandModel.build(reg, pop),
            ledger=Ledger(reg, replication, run.start_year),
            levers=list(levers),
            plan=plan,
        )
        if not levers and scenario.levers:
            # the scenario's levers, built fresh for this replication
            from model.interventions import build_levers

            self.world.levers = list(build_levers(scenario.levers, self.world))
        #: the lever-free population mortality is normalised on (with levers only: without
        #: them it is the population itself)
        # only levers that may change what mortality depends on (conditions, frailty) need
        # it; for the others the population itself is the lever-free one for mortality
        needs_reference = any(getattr(lv, "affects_mortality", True) for lv in self.world.levers)
        self.reference = dynamics.MortalityReference.of(pop) if needs_reference else None
        self.births = 0
        self.newborn_ids = np.empty(0, dtype=np.int64)
        self.registry = registry
        self.services: dict[str, Service] = registry.build(self.world)

    # ---------------------------------------------------------------- yearly cycle
    def _begin_year(self, year: int, ready: NextYear | None = None) -> None:
        """The year starts: its deaths, entrants' days, person codes and demand events, made
        here (after levers' year-start hooks) or made ahead (``ready``, without levers)."""
        w = self.world
        w.year = year
        w.ledger.start_year_(year)
        w.effects.reset()
        if ready is None:
            hr = w.register.scalar("dynamics.mortality_hr_per_ltc")
            # normalised on the lever-free population, before any lever acts
            reference = self.reference if self.reference is not None else w.pop
            w.mortality_normaliser = dynamics.mortality_normaliser(reference, hr)
            for lever in w.levers:
                lever.on_year_start(w)
            draws = self._draws(w.pop, year, w.mortality_normaliser)
            if self.reference is not None:
                assert w.plan is not None
                ref_ids = self.reference.person_id
                u_reference = crn.uniforms(w.key("dynamics.mortality"), ref_ids)
                ref_entry = dynamics.entry_days(w.plan, ref_ids, year, w.key("entrants.entry_day"))
                self.reference.draw_deaths(hr, w.mortality_normaliser, u_reference, ref_entry)
        else:
            w.mortality_normaliser = ready.normaliser
            draws = ready.draws
        pop = w.pop
        w.entry_day = draws.entry_day
        w.death_day = draws.death_day
        w.exposure_days = draws.exposure_days
        w.end_day = draws.end_day
        w.strata = draws.strata
        # the population changed: relative-risk codes recomputed (or made ahead)
        w.risk_code = None if ready is None else ready.risk_code
        w.ledger.person_years(w.strata, w.exposure_days / DAYS_PER_YEAR, draws.death_day >= 0)
        w.ledger.count("maternity_delivery", w.strata[draws.mothers], person=draws.mothers)
        w.year_rates = {}

        def rates(s: str) -> np.ndarray:
            r = w.rates(s)
            if w.levers:  # kept for levers' top-up events (``World.set_effect``)
                w.year_rates[s] = r
            return r

        if ready is None:
            w.events = {s: self._events(s, rates(s), pop, draws, year) for s in DEMAND_SERVICES}
        else:
            w.events = ready.events
        for service in self.services.values():
            service.start_year(w)
        for events in w.events.values():  # the order as drawn served the year start only
            events.counts = events.slot = None

    def _draws(self, pop: Population, year: int, normaliser: np.ndarray) -> YearDraws:
        """The year's entry days, deaths, exposure, deliveries and person codes of ``pop``
        (each keyed by person id)."""
        w = self.world
        reg = w.register
        assert w.plan is not None
        hr = reg.scalar("dynamics.mortality_hr_per_ltc")
        q = dynamics.annual_death_probability(pop, hr, normaliser)
        # this year's entrants join through the year (day keyed by id)
        entry_day = dynamics.entry_days(
            w.plan, pop.person_id, year, w.key("entrants.entry_day", year)
        )
        u_death = crn.uniforms(w.key("dynamics.mortality", year), pop.person_id)
        death_day = dynamics.death_days(q, u_death, entry_day)
        dies = death_day >= 0
        end = np.where(dies, death_day.astype(np.int64), DAYS_PER_YEAR)
        exposure = end - entry_day
        # deliveries are recorded for the mothers: women aged 15-44 by age-specific fertility;
        # they are the Bridges to Health maternal segment of the year
        mothers = dynamics.deliveries(
            pop,
            exposure,
            reg.array("dynamics.fertility_rate_by_age"),
            reg.scalar("dynamics.maternities_per_live_birth"),
            crn.uniforms(w.key("dynamics.delivery", year), pop.person_id),
        )
        maternal = np.zeros(pop.size, dtype=bool)
        maternal[mothers] = True
        strata = person_code(
            stratum_code(
                pop.age, pop.sex, pop.imd, pop.broad_ltc_count, pop.pam_level, pop.segment
            ),
            pop.ltc_count,
            bridges_segment(pop, reg, maternal),
        )
        return YearDraws(entry_day, death_day, end, exposure, mothers, strata)

    def _events(
        self, s: str, rate: np.ndarray, pop: Population, draws: YearDraws, year: int
    ) -> Events:
        """The year's demand events of stream ``s`` at annual rates ``rate``."""
        w = self.world
        return draw_events(
            rate,
            draws.end_day,
            pop.person_id,
            w.key(f"demand.{s}.count", year),
            w.key(f"demand.{s}.day", year),
            per_user=w.demand.per_user[s],
            start_days=draws.entry_day,
        )

    def _next_year(self, year: int) -> NextYear:
        """The people of ``year`` and their draws and demand events, from those of the year
        before alone: what the year boundary makes, without levers. Made in the background
        while the year before runs (``run``); nothing in it touches the world."""
        w = self.world
        survivors, alive = self._survivors(w.pop, w.death_day, year)
        newborn_ids, new = self._entrants(survivors, year)
        pop = survivors if new is None else dynamics.concat(survivors, new)
        propensity = w.carried_propensity(pop, alive, new)
        normaliser = dynamics.mortality_normaliser(
            pop, w.register.scalar("dynamics.mortality_hr_per_ltc")
        )
        draws = self._draws(pop, year, normaliser)
        risk = risk_code(w.register, pop)
        events = {}
        for s in DEMAND_SERVICES:
            rate = w.grown(s, w.demand.rates(s, pop, propensity[s], risk), year)
            events[s] = self._events(s, rate, pop, draws, year)
        return NextYear(
            survivors, alive, newborn_ids, new, pop, propensity, normaliser, draws, risk, events
        )

    def prepare_first_year(self) -> None:
        """The first year's people, deaths, exposure and demand, as a run starts them."""
        self._add_entrants(0)
        self._begin_year(0)

    def _end_year(self) -> None:
        w = self.world
        year = merge_years([service.end_year(w) for service in self.services.values()])
        records = []
        reached: list[np.ndarray] = []
        for lever in w.levers:
            hook = getattr(lever, "year_record", None)
            if hook is None:
                continue
            ids = lever.reached_ids() if hasattr(lever, "reached_ids") else np.empty(0)
            reached.append(ids)
            records.append({"lever": lever.name, **hook(w), "reached": float(ids.size)})
        if len(records) > 1:
            # people reached by several levers count once ("any lever")
            # the distinct ids: sorted, one more than the places where the next differs
            every = np.sort(np.concatenate(reached)) if reached else np.empty(0)
            n_every = int(every.size > 0) + int(np.count_nonzero(every[1:] != every[:-1]))
            records.append({"lever": "any", "reached": float(n_every)})
        if records:
            year.tables["lever_activity"] = pd.DataFrame(records)
        w.ledger.end_year(year.backlogs, year.capacity, year.mean_occupied_beds, year.tables)

    def _carry_people(self, old_ids: np.ndarray) -> None:
        for service in self.services.values():
            service.carry_people(self.world, old_ids)

    def _survivors(
        self, pop: Population, death_day: np.ndarray, year: int
    ) -> tuple[Population, np.ndarray]:
        """Those of ``pop`` alive at the boundary of ``year`` (``death_day`` of the year
        before), a year older, and the mask of who they were."""
        w = self.world
        alive = death_day < 0
        # the survivors' arrays keep room for this year's entrants (``_add_entrants``), so
        # that they are copied once, not again when the entrants join
        assert w.plan is not None
        room = sum(w.plan.entrant_ids(year, kind).size for kind in dynamics.ENTRANT_KINDS)
        survivors = dynamics.take(pop, alive, room=room)
        aged = dynamics.age_one_year(
            survivors,
            w.pop_model,
            w.register.scalar("dynamics.activation_year_correlation"),
            w.key("dynamics.activation", year),
        )
        return aged, alive

    def _entrants(self, base: Population, year: int) -> tuple[np.ndarray, Population | None]:
        """The ids of the births of ``year`` and the year's entrants (births, then net
        migrants), from the run's ``PopulationPlan``, with attributes keyed by id, so they
        are the same whoever survived the past year."""
        w = self.world
        assert w.plan is not None
        newborn_ids = w.plan.entrant_ids(year, "birth")
        migrant_ids = w.plan.entrant_ids(year, "migrant")
        new = dynamics.entrants(w.pop_model, base, newborn_ids, migrant_ids, self.streams)
        return newborn_ids, new

    def _advance_population(self, year: int, ready: NextYear | None = None) -> None:
        """Deaths of the past year leave and survivors age a year (boundary of ``year``)."""
        w = self.world
        old_ids = w.pop.person_id
        if ready is None:
            aged, alive = self._survivors(w.pop, w.death_day, year)
            w.set_population(aged, kept=alive)
        else:
            m = ready.survivors.size
            propensity = {s: p[:m] for s, p in ready.propensity.items()}
            w.set_population(ready.survivors, kept=ready.alive, propensity=propensity)
        self._carry_people(old_ids)
        if self.reference is not None:
            self.reference.advance(w.pop_model)

    def _add_entrants(self, year: int, ready: NextYear | None = None) -> None:
        """Births of the coming year and net migrants join at its start."""
        w = self.world
        old_ids = w.pop.person_id
        if ready is None:
            self.newborn_ids, new = self._entrants(w.pop, year)
            pop = None if new is None else dynamics.concat(w.pop, new)
            propensity = None
        else:
            self.newborn_ids, new = ready.newborn_ids, ready.entrants
            pop, propensity = ready.pop, ready.propensity
        if new is not None:
            assert pop is not None
            w.set_population(pop, added=new, propensity=propensity)
            self._carry_people(old_ids)
            if self.reference is not None:
                self.reference.add(new)
        self.births = int(self.newborn_ids.size)

    def _years(self, env: simpy.Environment, progress: ProgressCallback | None) -> Generator[Any]:
        years = self.scenario.run.years
        # without levers nothing in a year changes who lives, ages or joins, or their demand
        # rates: the next year's people and demand are made on another core while the year
        # runs (the same values as made at the boundary)
        made_ahead = not self.world.levers and threads.count() > 1
        ahead: Future[NextYear] | None = None
        for year in range(years):
            if year > 0:
                self._end_year()
                if progress is not None:
                    progress(1)
                ready = None if ahead is None else ahead.result()
                ahead = None
                self._advance_population(year, ready)
                self._add_entrants(year, ready)
                self._begin_year(year, ready)
                del ready  # the world holds what it needs of it
            else:
                self.prepare_first_year()
            if made_ahead and year + 1 < years:
                ahead = threads.aside(self._next_year, year + 1)
            yield env.timeout(DAYS_PER_YEAR)

    def _daily(self, env: simpy.Environment, service: Service, offset: float) -> Generator[Any]:
        """SimPy process of one service: a step each day at ``offset`` within the day."""
        w = self.world
        yield env.timeout(offset)
        while True:
            service.day(w, int(env.now) - w.day0)
            yield env.timeout(1)

    # ---------------------------------------------------------------- run
    def run(self, progress: ProgressCallback | None = None) -> dict[str, pd.DataFrame]:
        """Run every year and return the replication's tables."""
        env = simpy.Environment()
        w = self.world
        env.process(self._years(env, progress))
        for position, service in enumerate(self.services.values()):
            env.process(self._daily(env, service, self.registry.offset(position)))
        w.env = env
        for lever in w.levers:
            for factory in lever.processes(w):
                env.process(factory(env))
        env.run(until=self.scenario.run.years * DAYS_PER_YEAR)
        self._end_year()
        if progress is not None:
            progress(1)
        run = self.scenario.run
        # financial years (year_starts = "april") are labelled beside the integer year
        return with_financial_year(w.ledger.tables(), run.year_starts, run.start_year, run.years)


def run_one(
    scenario: Scenario,
    replication: int,
    progress: ProgressCallback | None = None,
    levers: Sequence[Lever] = (),
    registry: Registry = SERVICES,
) -> dict[str, pd.DataFrame]:
    """Run one replication of a scenario; the same inputs always give the same tables.

    Freed memory is reused during the run (``model.allocator``; about a third fewer page
    faults at 1 M people) and given back at its end."""
    with reuse_freed_memory():
        return Engine(scenario, replication, levers, registry).run(progress)
