"""Activation: the gradient sets who uses what; a change of level moves only its causal share.

``demand.<s>.pam_rr`` (and ``gp.dna_rr_by_pam_level``) are associations (Barker 2018), not
effects. Demand follows the PAM level a person had on entering the population
(``pam_level_at_entry``); a later change of level, by activation drift or a lever,
multiplies the rate by ``(pam_rr[new] / pam_rr[at entry]) ** demand.<s>.pam_causal_share``
(``model.demand.activation_rr``).

* The base population (level = level at entry) has the rates of the cross-sectional formula,
  whatever the causal shares: the normalisers and every base rate are identical.
* Raising one person from level 1 to 4 (level at entry kept) multiplies their rate for each
  service by exactly ``(pam_rr[4] / pam_rr[1]) ** share``: not at all for a share of 0,
  the full association for 1; nobody else's rate moves.
* Entrants enter at their own level; ``take`` and ``concat`` carry the level at entry and
  activation drift leaves it alone, so drift moves demand only by the causal share.
* GP DNA follows the same rule with ``gp.dna_pam_causal_share``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_gp_units import WAITS, assert_share, dna_share, gp_service, year_zero

from model import crn, dynamics
from model.demand import (
    SERVICES,
    DemandModel,
    activation_rr,
    causal_rr,
    level_stride,
    multipliers,
    risk_code,
)
from model.liability import DEP_SCORE
from model.population import CONDITIONS, Population, population_model
from model.register import Register
from model.scenario import Scenario
from model.streams import Streams

SHARE_KEYS = tuple(f"demand.{s}.pam_causal_share" for s in SERVICES)
#: causal shares tried: none, the register's default (None), the full association
SHARES = (0.0, None, 1.0)


def with_share(register: Register, share: float | None) -> Register:
    """The register with every demand causal share set to ``share`` (None: as registered)."""
    if share is None:
        return register
    return register.with_values(dict.fromkeys(SHARE_KEYS, share))


def share_of(register: Register, service: str) -> float:
    return register.scalar(f"demand.{service}.pam_causal_share")


def cross_sectional_multiplier(register: Register, service: str, pop: Population) -> np.ndarray:
    """``M`` with ``pam_rr`` by the current level (the formula before the causal share)."""
    p = f"demand.{service}"
    r = register
    m = np.exp(0.5 * np.log(r.scalar(f"{p}.imd_rr_q1_q5")) * DEP_SCORE[pop.imd - 1])
    m = m * r.scalar(f"{p}.rr_per_ltc") ** np.minimum(pop.broad_ltc_count, 5).astype(np.float64)
    m = m * r.array(f"{p}.pam_rr")[pop.pam_level - 1]
    m = m * r.array(f"{p}.segment_rr")[pop.segment]
    m = m * r.scalar(f"{p}.rr_per_social_need") ** pop.social_need_count.astype(np.float64)
    for cond in CONDITIONS:
        key = f"{p}.condition_rr.{cond}"
        if key in r:
            m = np.where(pop.condition(cond), m * r.scalar(key), m)
    return np.asarray(m)


def with_levels(pop: Population, who: np.ndarray, level: int) -> Population:
    """``pop`` with the people ``who`` moved to PAM ``level`` (their level at entry kept)."""
    pam_level = pop.pam_level.copy()
    pam_level[who] = level
    return dataclasses.replace(pop, pam_level=pam_level)


# ----------------------------------------------------------------------------- the register


def test_every_demand_service_has_a_registered_conservative_causal_share(
    register: Register,
) -> None:
    for key in (*SHARE_KEYS, "gp.dna_pam_causal_share"):
        p = register[key]
        assert p.unit == "proportion" and p.confidence == "A", key
        assert 0.0 < p.value[0] <= 0.5, f"{key}: the default is meant to be conservative"
        assert p.uncertainty.distribution == "beta", key
        assert "Barker 2018" in p.source and "§13" in p.source, key


def test_causal_rr_keeps_the_association_for_unchanged_levels() -> None:
    rr = np.array([1.0, 0.9, 0.7, 0.55])
    for share in (0.0, 0.2, 0.5, 1.0):
        table = causal_rr(rr, share)
        np.testing.assert_array_equal(np.diag(table), rr)  # exactly, at every share
        np.testing.assert_allclose(table / rr[:, None], (rr[None, :] / rr[:, None]) ** share)
    np.testing.assert_array_equal(causal_rr(rr, 0.0), np.repeat(rr[:, None], 4, axis=1))
    np.testing.assert_allclose(causal_rr(rr, 1.0), np.tile(rr, (4, 1)), rtol=1e-15)


# ----------------------------------------------------------------------------- base population


def test_the_base_population_enters_at_its_own_level(big_population: Population) -> None:
    pop = big_population
    np.testing.assert_array_equal(pop.pam_level_at_entry, pop.pam_level)
    assert pop.pam_level_at_entry.dtype == np.int8
    # its own array: writing one person's level leaves their level at entry alone
    assert not np.shares_memory(pop.pam_level_at_entry, pop.pam_level)
    assert "pam_level_at_entry" in pop.arrays()


@pytest.mark.parametrize("service", SERVICES)
def test_the_baseline_gradient_is_unchanged(
    register: Register, big_population: Population, service: str
) -> None:
    pop = big_population
    # the cross-sectional formula, by the current level
    np.testing.assert_allclose(
        multipliers(register, service, pop),
        cross_sectional_multiplier(register, service, pop),
        rtol=1e-12,
    )
    # and nothing about the base population depends on the causal share
    models = [DemandModel.build(with_share(register, s), big_population) for s in SHARES]
    rates = [m.rates(service, pop) for m in models]
    for model, rate in zip(models[1:], rates[1:], strict=True):
        np.testing.assert_array_equal(model.normalisers[service], models[0].normalisers[service])
        np.testing.assert_array_equal(rate, rates[0])


# ----------------------------------------------------------------------------- a raised level


@pytest.mark.parametrize("share", SHARES, ids=["none", "default", "full"])
@pytest.mark.parametrize("service", SERVICES)
def test_raising_one_persons_activation_moves_their_rate_by_the_causal_share(
    register: Register,
    small_population: Population,
    service: str,
    share: float | None,
) -> None:
    reg = with_share(register, share)
    pop = small_population
    demand = DemandModel.build(reg, pop)  # normalised on the base population
    adults = (pop.pam_level == 1) & (pop.age >= 30) & (pop.age <= 80)
    person = int(np.flatnonzero(adults)[0])
    raised = with_levels(pop, np.array([person]), 4)
    assert raised.pam_level_at_entry[person] == 1 and raised.pam_level[person] == 4
    before, after = demand.rates(service, pop), demand.rates(service, raised)
    assert before[person] > 0
    rr = reg.array(f"demand.{service}.pam_rr")
    causal = share_of(reg, service)
    expected = (rr[3] / rr[0]) ** causal
    np.testing.assert_allclose(after[person] / before[person], expected, rtol=1e-12)
    if causal == 0.0:
        assert after[person] == before[person]
    if causal == 1.0:  # the full cross-sectional association
        np.testing.assert_allclose(after[person] / before[person], rr[3] / rr[0], rtol=1e-12)
    others = np.arange(pop.size) != person
    np.testing.assert_array_equal(after[others], before[others])


def test_the_default_share_is_a_fraction_of_the_association(
    register: Register, small_population: Population
) -> None:
    # where there is a gradient, a raised level lowers the rate, but by less than the
    # association: a lever cannot inherit the cross-sectional gradient as a saving
    pop = small_population
    demand = DemandModel.build(register, pop)
    person = int(np.flatnonzero((pop.pam_level == 1) & (pop.age >= 30) & (pop.age <= 80))[0])
    raised = with_levels(pop, np.array([person]), 4)
    for service in ("gp", "ae", "emergency_direct", "outpatient"):
        rr = register.array(f"demand.{service}.pam_rr")
        ratio = demand.rates(service, raised)[person] / demand.rates(service, pop)[person]
        assert rr[3] / rr[0] < ratio < 1.0, service


# ----------------------------------------------------------------------------- dynamics


def test_entrants_get_their_own_entry_level_and_take_and_concat_carry_it(
    register: Register, small_population: Population
) -> None:
    base = small_population
    model = population_model(register, base.base_year)
    ids = np.arange(base.size, base.size + 3_000, dtype=np.int64)
    new = dynamics.entrants(model, base, ids[:100], ids[100:], Streams(base.seed))
    assert new is not None
    np.testing.assert_array_equal(new.pam_level_at_entry, new.pam_level)
    assert set(np.unique(new.pam_level_at_entry)) == {1, 2, 3, 4}
    both = dynamics.concat(base, new)
    np.testing.assert_array_equal(
        both.pam_level_at_entry, np.r_[base.pam_level_at_entry, new.pam_level_at_entry]
    )
    pick = np.flatnonzero(both.person_id % 3 == 0)
    np.testing.assert_array_equal(
        dynamics.take(both, pick).pam_level_at_entry, both.pam_level_at_entry[pick]
    )


@pytest.fixture(scope="module")
def drifted(register: Register, small_population: Population) -> Population:
    """The small population after three years of ageing and activation drift (nobody dies)."""
    pop = small_population
    model = population_model(register, pop.base_year)
    rho = register.scalar("dynamics.activation_year_correlation")
    for year in range(1, 4):
        key = crn.key(pop.seed, 0, "dynamics.activation", year)
        pop = dynamics.age_one_year(pop, model, rho, key)
    return pop


def test_drift_changes_the_level_but_not_the_level_at_entry(
    small_population: Population, drifted: Population
) -> None:
    np.testing.assert_array_equal(drifted.pam_level_at_entry, small_population.pam_level_at_entry)
    moved = drifted.pam_level != drifted.pam_level_at_entry
    assert 0.05 < moved.mean() < 0.95  # drift moves some levels (the test below can fail)
    assert (drifted.pam_level > drifted.pam_level_at_entry).any()
    assert (drifted.pam_level < drifted.pam_level_at_entry).any()


@pytest.mark.parametrize("service", SERVICES)
def test_drift_moves_demand_only_by_the_causal_share(
    register: Register,
    small_population: Population,
    drifted: Population,
    service: str,
) -> None:
    # the same people and ages, demand with no causal share (the level at entry only) and
    # with the registered and the full share: the ratio is the causal share of the change
    pop = drifted
    rates = {
        s: DemandModel.build(with_share(register, s), small_population).rates(service, pop)
        for s in SHARES
    }
    rr = register.array(f"demand.{service}.pam_rr")
    association = rr[pop.pam_level - 1] / rr[pop.pam_level_at_entry - 1]
    positive = rates[0.0] > 0
    assert positive.mean() > 0.3
    for s in (None, 1.0):
        causal = share_of(with_share(register, s), service)
        np.testing.assert_allclose(
            rates[s][positive] / rates[0.0][positive],
            association[positive] ** causal,
            rtol=1e-12,
        )
    # with the full share, demand follows the current level as the cross-sectional formula
    full = with_share(register, 1.0)
    np.testing.assert_allclose(
        multipliers(full, service, pop),
        cross_sectional_multiplier(full, service, pop),
        rtol=1e-12,
    )
    if service in ("gp", "ae", "emergency_direct", "outpatient"):
        assert not np.allclose(rates[None], rates[1.0])  # the share matters after drift


def test_activation_rr_is_the_risk_code_factor(register: Register) -> None:
    for service in SERVICES:
        table = activation_rr(register, service)
        rr = register.array(f"demand.{service}.pam_rr")
        np.testing.assert_array_equal(np.diag(table), rr)
        np.testing.assert_allclose(
            table[0, 3], rr[0] * (rr[3] / rr[0]) ** share_of(register, service), rtol=1e-15
        )


# ----------------------------------------------------------------------------- GP DNA


@pytest.fixture(scope="module")
def gp_people(baseline_scenario: Scenario) -> Scenario:
    return baseline_scenario.with_run(population=20_000, years=1, replications=1)


@pytest.mark.parametrize("share", [0.2, 1.0], ids=["default-like", "full"])
def test_dna_after_a_raised_level_carries_the_causal_share(
    gp_people: Scenario, share: float
) -> None:
    scenario = dataclasses.replace(
        gp_people, register=gp_people.register.with_values({"gp.dna_pam_causal_share": share})
    )
    engine = year_zero(scenario)
    gp, w = gp_service(engine), engine.world
    reg = w.register
    rr = reg.array("gp.dna_rr_by_pam_level")
    np.testing.assert_array_equal(np.diag(gp.dna_rr_pair), rr)  # the base is unchanged
    norm = gp.dna_rr_mean
    # everyone who entered at level 1 reaches level 4 (as a lever might)
    who = np.flatnonzero((w.death_day < 0) & (w.pop.pam_level_at_entry == 1))
    w.pop = with_levels(w.pop, who, 4)
    assert gp.dna_rr_mean == norm
    dna = dna_share(engine, who, WAITS[2], 60_000, 10**6)
    base = reg.scalar("gp.dna_rate") * reg.array("gp.dna_rr_by_wait_band")[2] / norm
    assert_share(dna, base * rr[0] * (rr[3] / rr[0]) ** share, f"DNA at share {share}")


def test_a_change_of_level_moves_the_risk_code_by_the_level_stride(
    big_population: Population, register: Register
) -> None:
    """``ActivationGains`` moves codes by the change of level times ``level_stride``: the
    codes ``risk_code`` gives at the new levels."""
    pop = big_population
    before = risk_code(register, pop)
    for change in (1, 2, -1, -3):
        new = np.clip(pop.pam_level.astype(np.int32) + change, 1, 4)
        moved = dataclasses.replace(pop, pam_level=new.astype(pop.pam_level.dtype))
        want = risk_code(register, moved)
        step = new - pop.pam_level.astype(np.int32)
        assert np.any(step != 0)
        np.testing.assert_array_equal(before + step * level_stride(register), want)
