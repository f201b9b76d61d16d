"""Maternity deliveries are recorded for the mothers, by age-specific fertility, keyed by id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import RecordingEngine

from model import crn, dynamics
from model.register import Register
from model.scenario import Scenario


@pytest.fixture(scope="module")
def run(baseline_scenario: Scenario) -> tuple[RecordingEngine, dict[str, pd.DataFrame]]:
    engine = RecordingEngine(baseline_scenario.with_run(population=30_000, years=2), 0)
    return engine, engine.run()


def test_only_women_aged_15_to_44_deliver(register: Register) -> None:
    rates = register.array("dynamics.fertility_rate_by_age")
    ratio = register.scalar("dynamics.maternities_per_live_birth")

    class People:
        age = np.array([14, 15, 19, 20, 32, 44, 45, 30, 30], dtype=np.int16)
        sex = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=np.int8)

    p = dynamics.delivery_probability(People(), rates, ratio)  # type: ignore[arg-type]
    expected = (
        np.array([0, rates[0], rates[0], rates[1], rates[3], rates[5], 0, 0, 0]) / 1000 * ratio
    )
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    # a woman who lived half the year has half the chance; u below or above decides
    exposure = np.full(p.size, 365)
    exposure[4] = 182
    u = np.full(p.size, 0.5)
    u[4] = p[4] * 182 / 365 * 0.999  # just below her part-year probability
    assert dynamics.deliveries(People(), exposure, rates, ratio, u).tolist() == [4]  # type: ignore[arg-type]
    u[4] = p[4] * 182 / 365 * 1.001
    assert dynamics.deliveries(People(), exposure, rates, ratio, u).size == 0  # type: ignore[arg-type]


def test_the_ledger_counts_exactly_the_keyed_deliveries(
    run: tuple[RecordingEngine, dict[str, pd.DataFrame]],
) -> None:
    engine, tables = run
    act = tables["activity"]
    reg = engine.scenario.register
    rates = reg.array("dynamics.fertility_rate_by_age")
    ratio = reg.scalar("dynamics.maternities_per_live_birth")
    start = engine.scenario.run.start_year
    mat = act[act["service"] == "maternity_delivery"]
    # recorded in the mothers' strata: women of child-bearing age only
    assert set(mat["sex"].astype(str)) == {"female"}
    assert set(mat["age_band"].astype(str)) <= {
        "15-19",
        "20-24",
        "25-29",
        "30-34",
        "35-39",
        "40-44",
    }
    for y, rec in enumerate(engine.years):

        class People:
            age = rec["age"]
            sex = rec["sex"]

        key = crn.key(engine.scenario.run.seed, 0, "dynamics.delivery", y)
        u = crn.uniforms(key, rec["person_id"])
        mothers = dynamics.deliveries(People(), rec["exposure_days"], rates, ratio, u)  # type: ignore[arg-type]
        counted = mat.loc[mat["year"] == start + y, "count"].sum()
        assert counted == mothers.size > 0
        # and the number is what the rates imply, within Monte Carlo error (5 SD)
        p = dynamics.delivery_probability(People(), rates, ratio) * rec["exposure_days"] / 365  # type: ignore[arg-type]
        assert abs(mothers.size - p.sum()) <= 5 * np.sqrt((p * (1 - p)).sum())


def test_deliveries_match_births_in_england(
    run: tuple[RecordingEngine, dict[str, pd.DataFrame]],
) -> None:
    """Fertility applied to the synthetic women gives about England's maternities per head.

    England 2023: 557,616 maternities for 57.69 m residents = 9.67 per 1,000 (ONS). The
    fertility rates and the population are both England's, so the rate per 1,000 person-years
    should agree within 10 % (Monte Carlo SD at 30,000 people is about 3.5 %).
    """
    engine, tables = run
    act, py = tables["activity"], tables["person_years"]
    year = engine.scenario.run.start_year
    n = act.loc[(act["service"] == "maternity_delivery") & (act["year"] == year), "count"].sum()
    per_1000 = 1000 * n / py.loc[py["year"] == year, "person_years"].sum()
    assert per_1000 == pytest.approx(557_616 / 57_690_300 * 1000, rel=0.10)


def test_a_womans_delivery_does_not_depend_on_anyone_else(register: Register) -> None:
    rates = register.array("dynamics.fertility_rate_by_age")
    ratio = register.scalar("dynamics.maternities_per_live_birth")
    key = crn.key(7, 0, "dynamics.delivery", 0)
    ids = np.arange(1, 20_001, dtype=np.int64)
    rng = np.random.default_rng(3)

    class Everyone:
        age = rng.integers(15, 45, ids.size).astype(np.int16)
        sex = np.ones(ids.size, dtype=np.int8)

    full = dynamics.deliveries(
        Everyone(),
        np.full(ids.size, 365),
        rates,
        ratio,
        crn.uniforms(key, ids),  # type: ignore[arg-type]
    )
    keep = np.arange(0, ids.size, 2)  # half of the women are gone (e.g. a lever moved them)

    class Half:
        age = Everyone.age[keep]
        sex = Everyone.sex[keep]

    half = dynamics.deliveries(
        Half(),
        np.full(keep.size, 365),
        rates,
        ratio,
        crn.uniforms(key, ids[keep]),  # type: ignore[arg-type]
    )
    assert set(ids[keep][half].tolist()) == set(ids[full].tolist()) & set(ids[keep].tolist())


def test_mothers_are_the_bridges_maternal_segment(
    run: tuple[RecordingEngine, dict[str, pd.DataFrame]],
) -> None:
    """Women who deliver in the year are counted in the maternal health segment unless a
    higher-need rule places them first; nobody else is."""
    _, tables = run
    b2h = tables["bridges_to_health"]
    act = tables["activity"]
    for year, rows in b2h.groupby("year"):
        maternal = rows[rows["segment"] == "maternal_health"]
        deliveries = maternal.loc[maternal["service"] == "maternity_delivery", "count"].sum()
        total = act.loc[
            (act["service"] == "maternity_delivery") & (act["year"] == year), "count"
        ].sum()
        # most mothers are young and healthy: most deliveries are in the maternal segment
        assert 0.3 * total < deliveries <= total
        # and everyone in the segment delivered: its person-years are about its deliveries
        py = maternal["person_years"].iloc[0]
        assert py <= deliveries * 1.01 + 1
