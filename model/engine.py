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
from typing import Any

import numpy as np
import pandas as pd
import simpy

from model import crn, dynamics
from model.allocator import reuse_freed_memory
from model.demand import SERVICES as DEMAND_SERVICES
from model.demand import DemandModel, draw_events
from model.ledger import Ledger
from model.population import bridges_segment, build_population, population_model
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
    def _begin_year(self, year: int) -> None:
        w = self.world
        w.year = year
        w.ledger.start_year_(year)
        w.effects.reset()
        hr = w.register.scalar("dynamics.mortality_hr_per_ltc")
        # normalised on the lever-free population, before any lever acts
        reference = self.reference if self.reference is not None else w.pop
        w.mortality_normaliser = dynamics.mortality_normaliser(reference, hr)
        for lever in w.levers:
            lever.on_year_start(w)
        pop = w.pop
        key = w.key("dynamics.mortality")
        q = dynamics.annual_death_probability(pop, hr, w.mortality_normaliser)
        # this year's entrants join through the year (day keyed by id)
        assert w.plan is not None
        entry_key = w.key("entrants.entry_day")
        w.entry_day = dynamics.entry_days(w.plan, pop.person_id, year, entry_key)
        w.death_day = dynamics.death_days(q, crn.uniforms(key, pop.person_id), w.entry_day)
        if self.reference is not None:
            ref_ids = self.reference.person_id
            u_reference = crn.uniforms(key, ref_ids)
            ref_entry = dynamics.entry_days(w.plan, ref_ids, year, entry_key)
            self.reference.draw_deaths(hr, w.mortality_normaliser, u_reference, ref_entry)
        dies = w.death_day >= 0
        end = np.where(dies, w.death_day.astype(np.int64), DAYS_PER_YEAR)
        w.exposure_days = end - w.entry_day
        w.end_day = end
        # deliveries are recorded for the mothers: women aged 15-44 by age-specific fertility;
        # they are the Bridges to Health maternal segment of the year
        mothers = dynamics.deliveries(
            pop,
            w.exposure_days,
            w.register.array("dynamics.fertility_rate_by_age"),
            w.register.scalar("dynamics.maternities_per_live_birth"),
            crn.uniforms(w.key("dynamics.delivery"), pop.person_id),
        )
        maternal = np.zeros(pop.size, dtype=bool)
        maternal[mothers] = True
        w.strata = person_code(
            stratum_code(
                pop.age, pop.sex, pop.imd, pop.broad_ltc_count, pop.pam_level, pop.segment
            ),
            pop.ltc_count,
            bridges_segment(pop, w.register, maternal),
        )
        w.risk_code = None  # the population changed: recompute relative-risk codes
        w.ledger.person_years(w.strata, w.exposure_days / DAYS_PER_YEAR, dies)
        w.ledger.count("maternity_delivery", w.strata[mothers], person=mothers)
        w.year_rates = {}

        def rates(s: str) -> np.ndarray:
            r = w.rates(s)
            if w.levers:  # kept for levers' top-up events (``World.set_effect``)
                w.year_rates[s] = r
            return r

        w.events = {
            s: draw_events(
                rates(s),
                w.end_day,
                pop.person_id,
                w.key(f"demand.{s}.count"),
                w.key(f"demand.{s}.day"),
                per_user=w.demand.per_user[s],
                start_days=w.entry_day,
            )
            for s in DEMAND_SERVICES
        }
        for service in self.services.values():
            service.start_year(w)
        for events in w.events.values():  # the order as drawn served the year start only
            events.counts = events.slot = None

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

    def _advance_population(self, year: int) -> None:
        """Deaths of the past year leave and survivors age a year (boundary of ``year``)."""
        w = self.world
        old_ids = w.pop.person_id
        alive = w.death_day < 0
        # the survivors' arrays keep room for this year's entrants (``_add_entrants``), so
        # that they are copied once, not again when the entrants join
        assert w.plan is not None
        room = sum(w.plan.entrant_ids(year, kind).size for kind in dynamics.ENTRANT_KINDS)
        survivors = dynamics.take(w.pop, alive, room=room)
        aged = dynamics.age_one_year(
            survivors,
            w.pop_model,
            w.register.scalar("dynamics.activation_year_correlation"),
            w.key("dynamics.activation", year),
        )
        w.set_population(aged, kept=alive)
        self._carry_people(old_ids)
        if self.reference is not None:
            self.reference.advance(w.pop_model)

    def _add_entrants(self, year: int) -> None:
        """Births of the coming year and net migrants join at its start.

        Their numbers and ids come from the run's ``PopulationPlan`` and their attributes
        are keyed by id, so they are the same whoever survived the past year.
        """
        w = self.world
        assert w.plan is not None
        old_ids = w.pop.person_id
        self.newborn_ids = w.plan.entrant_ids(year, "birth")
        migrant_ids = w.plan.entrant_ids(year, "migrant")
        new = dynamics.entrants(w.pop_model, w.pop, self.newborn_ids, migrant_ids, self.streams)
        if new is not None:
            w.set_population(dynamics.concat(w.pop, new), added=new)
            self._carry_people(old_ids)
            if self.reference is not None:
                self.reference.add(new)
        self.births = int(self.newborn_ids.size)

    def _years(self, env: simpy.Environment, progress: ProgressCallback | None) -> Generator[Any]:
        years = self.scenario.run.years
        for year in range(years):
            if year > 0:
                self._end_year()
                if progress is not None:
                    progress(1)
                self._advance_population(year)
                self._add_entrants(year)
                self._begin_year(year)
            else:
                self.prepare_first_year()
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
