"""Unit tests of demand, where levers will land.

* The base population reproduces ``scale × age-sex profile``: the person multipliers
  average exactly 1 within each age band and sex (that is what the normaliser is for), a
  band's expected demand is its scaled profile up to the bounded effect of ages mixing
  within the band, and a year of drawn events per age band and sex matches the expected
  demand within Monte Carlo tolerance.
* The risk-code lookup table gives the same relative risk as the direct formula of
  ``model.demand`` for random people (every attribute combination can occur, the PAM level
  at entry and the current level included: ``pam_rr[entry] × (pam_rr[level] /
  pam_rr[entry]) ** pam_causal_share``; tests/test_activation_causal.py tests the rule).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model import crn, tables
from model.demand import (
    MAX_LTC_COMPOUNDING,
    SERVICES,
    DemandModel,
    _cell,
    draw_events,
    multiplier_table,
    multipliers,
    risk_code,
    risk_conditions,
)
from model.liability import DEP_SCORE
from model.population import CONDITIONS, Population
from model.register import Register
from model.strata import N_AGE_BANDS

N_CELLS = 2 * N_AGE_BANDS
#: Monte Carlo tolerance in standard errors of a band's mean events per person
Z = 4.5


@pytest.fixture(scope="module")
def demand(register: Register, big_population: Population) -> DemandModel:
    return DemandModel.build(register, big_population)


def per_cell(pop: Population, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` in each (age band, sex) cell."""
    cell = _cell(pop)
    return np.bincount(cell, values, N_CELLS) / np.bincount(cell, minlength=N_CELLS)


def sd_per_cell(pop: Population, values: np.ndarray) -> np.ndarray:
    """Standard deviation (population) of ``values`` in each cell."""
    mean = per_cell(pop, values)
    return np.sqrt(np.maximum(per_cell(pop, values * values) - mean * mean, 0.0))


@pytest.mark.parametrize("service", SERVICES)
def test_multipliers_average_one_in_every_age_band_and_sex(
    register: Register, demand: DemandModel, big_population: Population, service: str
) -> None:
    pop = big_population
    relative = multipliers(register, service, pop) / demand.normalisers[service][_cell(pop)]
    np.testing.assert_allclose(per_cell(pop, relative), 1.0, rtol=1e-10)


@pytest.mark.parametrize("service", SERVICES)
def test_base_population_reproduces_the_scaled_profile(
    register: Register, demand: DemandModel, big_population: Population, service: str
) -> None:
    pop = big_population
    scale = demand.scales[service]
    prof = demand.profiles[service][pop.sex, np.minimum(pop.age, tables.MAX_AGE)]
    target = per_cell(pop, scale * prof)
    # The normaliser is per 5-year band while the profile varies by single year of age,
    # so a band's demand is mean(profile x M / Mbar) = mean(profile) + cov(profile,
    # M / Mbar) (the multipliers average 1 in the band): the gap is at most
    # sd(profile) x sd(M / Mbar) (Cauchy-Schwarz).
    relative = multipliers(register, service, pop) / demand.normalisers[service][_cell(pop)]
    mixing = scale * sd_per_cell(pop, prof) * sd_per_cell(pop, relative)
    unit = np.ones(pop.size, dtype=np.float32)
    expected = per_cell(pop, demand.rates(service, pop, propensity=unit))
    assert np.all(np.abs(expected - target) <= mixing * (1 + 1e-9) + 1e-12), service
    # a year of events with over-dispersion (keyed draws of a fixed seed): each band's
    # mean events per person is its expected demand within Monte Carlo error
    events = draw_events(
        demand.rates(service, pop),
        np.full(pop.size, 365),
        pop.person_id,
        crn.key(1, 0, f"tests.demand.{service}.count"),
        crn.key(1, 0, f"tests.demand.{service}.day"),
        per_user=demand.per_user[service],
    )
    counts = np.bincount(events.person, minlength=pop.size).astype(np.float64)
    mean = per_cell(pop, counts)
    se = sd_per_cell(pop, counts) / np.sqrt(np.bincount(_cell(pop), minlength=N_CELLS))
    bad = np.flatnonzero(np.abs(mean - expected) > Z * se)
    assert not bad.size, f"{service}: cells {bad.tolist()} are off their expected demand"
    # every cell with a positive profile has demand, and none without one
    assert np.all((mean > 0) == (target > 0))


# ----------------------------------------------------------------------------- risk codes


def direct_multiplier(register: Register, service: str, pop: Population) -> np.ndarray:
    """``M`` for each person written out term by term, as in the module docstring."""
    p = f"demand.{service}"
    r = register
    m = np.exp(0.5 * np.log(r.scalar(f"{p}.imd_rr_q1_q5")) * DEP_SCORE[pop.imd - 1])
    # the broad count (Cassell 2018's 36 conditions), as in the results tables
    ltc = np.minimum(pop.broad_ltc_count, MAX_LTC_COMPOUNDING).astype(np.float64)
    m = m * r.scalar(f"{p}.rr_per_ltc") ** ltc
    rr, share = r.array(f"{p}.pam_rr"), r.scalar(f"{p}.pam_causal_share")
    entry = rr[pop.pam_level_at_entry - 1]
    m = m * entry * (rr[pop.pam_level - 1] / entry) ** share
    m = m * r.array(f"{p}.segment_rr")[pop.segment]
    m = m * r.scalar(f"{p}.rr_per_social_need") ** pop.social_need_count.astype(np.float64)
    for cond in CONDITIONS:
        key = f"{p}.condition_rr.{cond}"
        if key in r:
            m = np.where(pop.condition(cond), m * r.scalar(key), m)
    return np.asarray(m)


@pytest.fixture(scope="module")
def random_people(small_population: Population) -> Population:
    """People with random attributes: every level of every risk factor occurs."""
    rng = np.random.default_rng(20250101)
    n = small_population.size
    density = rng.uniform(0.0, 0.6, size=(n, 1))  # from no conditions to many
    return dataclasses.replace(
        small_population,
        imd=rng.integers(1, 6, n).astype(np.int8),
        ltc=rng.random((n, len(CONDITIONS))) < density,
        ltc_extra=rng.integers(0, 1 << 24, n).astype(np.uint32)
        & np.where(rng.random(n) < 0.5, 0, 0xFFFFFF).astype(np.uint32),
        pam_level=rng.integers(1, 5, n).astype(np.int8),
        pam_level_at_entry=rng.integers(1, 5, n).astype(np.int8),
        segment=rng.integers(0, 4, n).astype(np.int8),
        isolation=rng.random(n) < 0.3,
        financial=rng.random(n) < 0.3,
        housing=rng.random(n) < 0.3,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_risk_code_table_equals_the_direct_formula(
    register: Register, random_people: Population, service: str
) -> None:
    pop = random_people
    assert pop.broad_ltc_count.max() > MAX_LTC_COMPOUNDING  # the cap is exercised
    assert (pop.broad_ltc_count == 0).any()
    table = multiplier_table(register, service)
    looked_up = table[risk_code(register, pop)]
    np.testing.assert_allclose(looked_up, direct_multiplier(register, service, pop), rtol=1e-12)


def test_risk_codes_cover_the_table_and_are_distinct_per_combination(
    register: Register, random_people: Population
) -> None:
    pop = random_people
    code = risk_code(register, pop)
    assert code.min() >= 0
    assert code.max() < multiplier_table(register, "gp").size
    # two people share a code exactly when they share every attribute the code encodes
    cols = [
        pop.imd,
        np.minimum(pop.broad_ltc_count, MAX_LTC_COMPOUNDING),
        pop.pam_level,
        pop.pam_level_at_entry,
        pop.segment,
        pop.social_need_count,
        *(pop.condition(c) for c in risk_conditions(register)),
    ]
    combos = np.unique(np.stack([np.asarray(c, dtype=np.int64) for c in cols], axis=1), axis=0)
    assert np.unique(code).size == combos.shape[0]


def test_compiled_rates_are_the_numpy_rates(register, small_population) -> None:  # type: ignore[no-untyped-def]
    """``DemandModel.rates`` (one compiled pass) gives numpy's numbers for every stream,
    with the propensities and risk codes computed inside or passed in."""
    from model.demand import SERVICES, DemandModel, risk_code

    model = DemandModel.build(register, small_population)
    code = risk_code(register, small_population)
    for service in SERVICES:
        prop = model.propensity(service, small_population)
        np.testing.assert_array_equal(
            model.rates(service, small_population, prop, code),
            model.rates_numpy(service, small_population, prop, code),
        )
        np.testing.assert_array_equal(
            model.rates(service, small_population), model.rates_numpy(service, small_population)
        )
