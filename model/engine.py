"""The engine: one replication of one scenario, with SimPy as the clock.

``run_one(scenario, replication)`` is pure: it builds the population from the scenario's
seed and replication, runs the yearly cycle and the daily service processes, and returns
tidy tables. It is picklable and depends on nothing global, so replications can run in any
order on any number of workers and give the same tables.

Within each simulated day the processes run in a fixed order: the year boundary (at whole
days), then general practice, then the hospital (which receives the GP overspill the same
day), then community services and social care.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import simpy

from model import crn, dynamics
from model.demand import SERVICES as DEMAND_SERVICES
from model.demand import DemandModel, draw_events
from model.ledger import Ledger
from model.population import build_population, population_model
from model.scenario import Scenario
from model.services.acute import AcuteService
from model.services.community import CommunityService
from model.services.gp import GPService
from model.strata import stratum_code
from model.streams import Streams
from model.world import DAYS_PER_YEAR, Lever, World

#: offsets of the daily processes within a day (the year boundary runs at whole days)
GP_OFFSET, ACUTE_OFFSET, COMMUNITY_OFFSET = 0.1, 0.2, 0.3

ProgressCallback = Callable[[int], None]


class Engine:
    """Wires the world, the yearly cycle and the services of one replication."""

    def __init__(self, scenario: Scenario, replication: int, levers: Sequence[Lever] = ()) -> None:
        run = scenario.run
        reg = scenario.register
        self.scenario = scenario
        self.streams = Streams(run.seed, replication)
        pop_model = population_model(reg, run.base_year)
        pop = build_population(run.population, run.seed, reg, run.base_year, replication)
        self.world = World(
            scenario=scenario,
            replication=replication,
            register=reg,
            pop=pop,
            pop_model=pop_model,
            demand=DemandModel.build(reg, pop),
            ledger=Ledger(reg, replication, run.start_year),
            levers=list(levers),
            next_person_id=int(pop.person_id.max()) + 1,
        )
        self.births = 0
        self.gp = GPService(self.world)
        self.acute = AcuteService(self.world)
        self.community = CommunityService(self.world)

    # ---------------------------------------------------------------- yearly cycle
    def _begin_year(self, year: int) -> None:
        w = self.world
        w.year = year
        w.ledger.start_year_(year)
        for lever in w.levers:
            lever.on_year_start(w)
        pop = w.pop
        q = dynamics.annual_death_probability(
            pop, w.register.scalar("dynamics.mortality_hr_per_ltc")
        )
        w.death_day = dynamics.death_days(
            q, crn.uniforms(w.key("dynamics.mortality"), pop.person_id)
        )
        dies = w.death_day >= 0
        w.exposure_days = np.where(dies, w.death_day.astype(np.int64), DAYS_PER_YEAR)
        w.strata = stratum_code(
            pop.age, pop.sex, pop.imd, pop.ltc_count, pop.pam_level, pop.segment
        )
        w.risk_code = None  # the population changed: recompute relative-risk codes
        w.ledger.person_years(w.strata, w.exposure_days / DAYS_PER_YEAR, dies)
        # each birth of the year is a maternity (delivery) admission; the mother is not
        # modelled, so it is recorded in the newborn's stratum
        newborn = np.flatnonzero(pop.age == 0)[-self.births :] if self.births else np.empty(0, int)
        w.ledger.count("maternity_delivery", w.strata[newborn])
        w.events = {
            s: draw_events(
                w.rates(s),
                w.exposure_days,
                pop.person_id,
                w.key(f"demand.{s}.count"),
                w.key(f"demand.{s}.day"),
                per_user=w.demand.per_user[s],
            )
            for s in DEMAND_SERVICES
        }
        self.gp.start_year(w)
        self.acute.start_year(w)
        self.community.start_year(w)

    def _end_year(self) -> None:
        w = self.world
        gp_backlog, gp_capacity = self.gp.end_year(w)
        acute_backlogs, acute_capacity, beds = self.acute.end_year(w)
        community_backlogs, community_capacity = self.community.end_year(w)
        w.ledger.end_year(
            {"gp_appointment": gp_backlog, **acute_backlogs, **community_backlogs},
            {"gp_appointment": gp_capacity, **acute_capacity, **community_capacity},
            beds,
        )

    def _advance_population(self, year: int) -> None:
        """Deaths of the past year leave and survivors age a year (boundary of ``year``)."""
        w = self.world
        old_ids = w.pop.person_id
        alive = w.death_day < 0
        survivors = dynamics.take(w.pop, alive)
        aged = dynamics.age_one_year(
            survivors,
            w.pop_model,
            w.register.scalar("dynamics.activation_year_correlation"),
            w.key("dynamics.activation", year),
        )
        w.set_population(aged, kept=alive)
        self.community.carry_people(w, old_ids)

    def _add_entrants(self, year: int) -> None:
        """Births of the coming year and net migrants join at its start."""
        w = self.world
        reg = w.register
        old_ids = w.pop.person_id
        u = float(crn.uniforms(w.key("dynamics.entrants", year), np.zeros(1, np.int64))[0])
        births, migrants = dynamics.entrant_counts(
            w.pop.size,
            reg.scalar("dynamics.births_per_person_year"),
            reg.scalar("dynamics.net_migration_per_person_year"),
            u,
        )
        new = dynamics.entrants(
            w.pop_model, w.pop, births, migrants, w.next_person_id, self.streams, period=year
        )
        if new is not None:
            w.set_population(dynamics.concat(w.pop, new), added=new)
            w.next_person_id += births + migrants
            self.community.carry_people(w, old_ids)
        self.births = births

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
            yield env.timeout(DAYS_PER_YEAR)

    # ---------------------------------------------------------------- run
    def run(self, progress: ProgressCallback | None = None) -> dict[str, pd.DataFrame]:
        """Run every year and return the replication's tables."""
        env = simpy.Environment()
        w = self.world
        env.process(self._years(env, progress))
        env.process(self.gp.process(env, w, GP_OFFSET))
        env.process(self.acute.process(env, w, ACUTE_OFFSET))
        env.process(self.community.process(env, w, COMMUNITY_OFFSET))
        w.env = env
        for lever in w.levers:
            for factory in lever.processes(w):
                env.process(factory(env))
        env.run(until=self.scenario.run.years * DAYS_PER_YEAR)
        self._end_year()
        if progress is not None:
            progress(1)
        return w.ledger.tables()


def run_one(
    scenario: Scenario,
    replication: int,
    progress: ProgressCallback | None = None,
    levers: Sequence[Lever] = (),
) -> dict[str, pd.DataFrame]:
    """Run one replication of a scenario; the same inputs always give the same tables."""
    return Engine(scenario, replication, levers).run(progress)
