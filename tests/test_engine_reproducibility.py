"""Reproducibility and pairing of the baseline engine.

* the same scenario and replication give identical tables; another seed does not;
* the number of workers does not change the tables;
* a lever that changes nothing reproduces the baseline exactly;
* demand is drawn before capacity feedback, so changing a capacity leaves every demand event
  (person, event number, day) identical, and changing one service's demand leaves the other
  services' events identical (common random numbers keyed by person).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy
from helpers import RecordingEngine, gp_capacity

from model.demand import SERVICES as DEMAND_SERVICES
from model.demand import Events
from model.engine import Engine, run_one
from model.experiments import run_scenario
from model.results import TABLES
from model.scenario import Scenario
from model.world import NullLever, World


def assert_tables_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert set(a) == set(b) == set(TABLES)
    for name in TABLES:
        # exact: "identical" means bit for bit (and check_exact is also the fast path for the
        # categorical columns in pandas 3)
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def with_register(scenario: Scenario, **values: Any) -> Scenario:
    """The scenario with register entries replaced (keys with dots passed via **{...})."""
    return dataclasses.replace(scenario, register=scenario.register.with_values(values))


def first_year_events(scenario: Scenario) -> dict[str, Events]:
    """Demand events of year 0 as drawn at the year start, before any service has run."""
    engine = Engine(scenario, 0)
    engine._add_entrants(0)
    engine._begin_year(0)
    return engine.world.events


def assert_events_equal(a: Events, b: Events, service: str) -> None:
    for field in ("person", "person_id", "k", "day"):
        np.testing.assert_array_equal(
            getattr(a, field), getattr(b, field), err_msg=f"{service}.{field}"
        )


def triples(ev: Events) -> set[tuple[int, int, int]]:
    return set(zip(ev.person_id.tolist(), ev.k.tolist(), ev.day.tolist(), strict=True))


@pytest.fixture(scope="module")
def tiny(baseline_scenario: Scenario) -> Scenario:
    """5,000 people for one year: enough activity to tell runs apart."""
    return baseline_scenario.with_run(population=5_000, years=1, replications=1)


# ----------------------------------------------------------------------------- same inputs


def test_same_scenario_and_replication_give_identical_tables(
    small_baseline: Scenario, small_baseline_tables: dict[str, pd.DataFrame]
) -> None:
    assert_tables_equal(run_one(small_baseline, 0), small_baseline_tables)


@pytest.mark.parametrize("change", ["seed", "replication"])
def test_another_seed_or_replication_gives_different_activity(tiny: Scenario, change: str) -> None:
    base = run_one(tiny, 0)
    other = (
        run_one(tiny.with_run(seed=tiny.run.seed + 1), 0) if change == "seed" else run_one(tiny, 1)
    )
    gp = [t["activity"].query("service == 'gp_appointment'")["count"].sum() for t in (base, other)]
    assert gp[0] != gp[1]
    py = [
        t["person_years"].groupby("age_band", observed=True)["person_years"].sum()
        for t in (base, other)
    ]
    assert not py[0].equals(py[1])  # a different population, not only different events


def test_workers_do_not_change_the_tables(tiny: Scenario) -> None:
    scenario = tiny.with_run(replications=2)
    one = run_scenario(scenario, workers=1)
    two = run_scenario(scenario, workers=2)
    assert_tables_equal(one.tables, two.tables)
    # the two replications are both there, in order, and differ from each other
    act = one.tables["activity"]
    assert act["replication"].unique().tolist() == [0, 1]
    by_rep = act.groupby("replication")["count"].sum()
    assert by_rep[0] != by_rep[1]


class IdentityLever(NullLever):
    """A lever that goes through every hook and changes nothing: it rewrites people's
    activation with the same values, multiplies every rate and capacity by exactly 1 and
    runs a SimPy process every day. A lever whose hooks all return "no change" (``None``)
    would skip the engine's lever branches; this one takes every branch."""

    def __init__(self) -> None:
        self.calls = {"year": 0, "rates": 0, "capacity": 0, "days": 0}

    def on_year_start(self, world: World) -> None:
        self.calls["year"] += 1
        world.pop.pam_level[:] = world.pop.pam_level.copy()

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        self.calls["rates"] += 1
        return np.ones(world.pop.size)

    def capacity_multiplier(self, world: World, service: str) -> float:
        self.calls["capacity"] += 1
        return 1.0

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        def daily(env: simpy.Environment) -> Generator[Any]:
            while True:
                self.calls["days"] += 1
                yield env.timeout(1)

        return [daily]


def test_a_lever_that_changes_nothing_reproduces_the_baseline(
    small_baseline: Scenario, small_baseline_tables: dict[str, pd.DataFrame]
) -> None:
    lever = IdentityLever()
    assert_tables_equal(run_one(small_baseline, 0, levers=[lever]), small_baseline_tables)
    # every hook was called: the equality is not the result of skipped branches
    years = small_baseline.run.years
    assert lever.calls["year"] == years
    assert lever.calls["rates"] >= years * 9  # each demand stream, each year
    assert lever.calls["capacity"] > 0
    assert lever.calls["days"] >= years * 365


# ----------------------------------------------------------------------------- pairing


def test_capacity_does_not_change_first_year_demand(tiny: Scenario) -> None:
    base = first_year_events(tiny)
    more_gp = first_year_events(with_register(tiny, **gp_capacity(tiny.register, 1.3)))
    assert set(base) == set(more_gp) == set(DEMAND_SERVICES)
    for service in DEMAND_SERVICES:
        assert base[service].size > 0, service
        assert_events_equal(base[service], more_gp[service], service)


def test_capacity_changes_outcomes_but_not_demand_over_two_years(tiny: Scenario) -> None:
    two_years = tiny.with_run(years=2, population=10_000)
    runs = []
    for factor in (1.0, 1.3):
        engine = RecordingEngine(
            with_register(two_years, **gp_capacity(two_years.register, factor)), 0
        )
        runs.append((engine, engine.run()))
    (base, base_tables), (more, more_tables) = runs
    assert len(base.years) == len(more.years) == 2
    for year, (a, b) in enumerate(zip(base.years, more.years, strict=True)):
        np.testing.assert_array_equal(a["person_id"], b["person_id"], err_msg=f"year {year}")
        np.testing.assert_array_equal(a["death_day"], b["death_day"], err_msg=f"year {year}")
        for service in DEMAND_SERVICES:
            # includes the self-presenting ('direct') A&E attendances of every year
            assert_events_equal(
                a["events"][service], b["events"][service], f"year {year} {service}"
            )

    # ... while the capacity does change what happens to that demand (the test can tell):
    # more GP appointments, fewer requests given up and fewer overspill A&E attendances
    def total(tables: dict[str, pd.DataFrame], service: str) -> float:
        act = tables["activity"]
        return float(act.loc[act["service"] == service, "count"].sum())

    assert total(more_tables, "gp_appointment") > total(base_tables, "gp_appointment")
    assert total(more_tables, "gp_spill_to_ae") < total(base_tables, "gp_spill_to_ae")
    assert total(more_tables, "ae_attendance") < total(base_tables, "ae_attendance")
    direct_ae = sum(y["events"]["ae"].size for y in base.years)
    # every A&E attendance is a self-presented one or a GP overspill
    for tables in (base_tables, more_tables):
        assert total(tables, "ae_attendance") == direct_ae + total(tables, "gp_spill_to_ae")


@pytest.mark.parametrize("service", ["outpatient", "gp", "mental_health"])
def test_one_services_demand_scale_leaves_other_services_alone(
    tiny: Scenario, service: str
) -> None:
    key = f"demand.{service}.scale"
    base = first_year_events(tiny)
    lower = first_year_events(with_register(tiny, **{key: tiny.register.scalar(key) * 0.8}))
    for other in DEMAND_SERVICES:
        if other != service:
            assert_events_equal(base[other], lower[other], other)
    # the changed service keeps a subset of the same events (same people, numbers and days)
    assert 0 < lower[service].size < base[service].size
    assert triples(lower[service]) <= triples(base[service])
