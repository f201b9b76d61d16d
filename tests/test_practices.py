"""Practices and PCNs of a place (``model.practices.Practices``).

* Structure: about size / mean list size practices whose lists sum to the place's size,
  with quartiles near the published ones; PCNs of about the published mean size, each
  practice in exactly one.
* Deprivation: practices take IMD quintiles in proportion to the place's mix (by list, up to
  one practice's list at each quintile boundary); GP time per patient is lower in deprived
  practices and averages 1 over patients.
* Assignment: a person's practice is a pure function of (person id, IMD quintile); each
  practice's realised list is near its nominal size and its patients come mostly from its
  own quintile (``practices.own_quintile_share``).
"""

from __future__ import annotations

import numpy as np
import pytest

from model import crn
from model.population import Population
from model.practices import N_QUINTILES, Practices
from model.register import Register

LARGE = 2_000_000  # a large place (about 208 practices and 42 PCNs)
SEEDS = range(5)
SKEWED = np.array([0.35, 0.25, 0.18, 0.13, 0.09])  # a deprived place
Z = 4.5  # tolerance in standard errors


def imd_shares(pop: Population) -> np.ndarray:
    return np.bincount(pop.imd, minlength=N_QUINTILES + 1)[1:] / pop.size


def list_share_by_quintile(p: Practices, size: int) -> np.ndarray:
    return np.bincount(p.imd - 1, weights=p.list_size, minlength=N_QUINTILES) / size


# ----------------------------------------------------------------------------- structure


@pytest.mark.parametrize("size", [5_000, 20_000, 200_000, LARGE])
def test_number_of_practices_and_list_sizes(register: Register, size: int) -> None:
    p = Practices.build(register, size, 1, np.full(N_QUINTILES, 0.2))
    assert p.n == max(1, round(size / register.scalar("practices.mean_list_size")))
    assert p.list_size.shape == p.imd.shape == p.pcn.shape == p.gp_capacity_factor.shape
    assert np.all(p.list_size > 0)
    assert p.list_size.sum() == pytest.approx(size, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_list_size_quartiles_are_near_the_registers(register: Register, seed: int) -> None:
    p = Practices.build(register, LARGE, seed, np.full(N_QUINTILES, 0.2))
    quartiles = np.quantile(p.list_size, [0.25, 0.5, 0.75])
    published = register.array("practices.list_size_quartiles")
    np.testing.assert_allclose(quartiles, published, rtol=0.15)


@pytest.mark.parametrize("seed", SEEDS)
def test_pcns_have_about_the_published_size_and_hold_whole_practices(
    register: Register, seed: int
) -> None:
    p = Practices.build(register, LARGE, seed, np.full(N_QUINTILES, 0.2))
    mean_pcn = register.scalar("practices.pcn_mean_list_size")
    assert p.n_pcn == round(LARGE / mean_pcn)
    # each practice is in exactly one PCN (one index each, all PCNs used)
    assert p.pcn.shape == (p.n,) and p.pcn.dtype.kind == "i"
    assert p.pcn.min() == 0
    pcn_list = np.bincount(p.pcn, weights=p.list_size, minlength=p.n_pcn)
    practices_per_pcn = np.bincount(p.pcn, minlength=p.n_pcn)
    assert np.all(practices_per_pcn >= 1)
    assert practices_per_pcn.sum() == p.n
    assert pcn_list.mean() == pytest.approx(mean_pcn, rel=0.05)
    # PCNs are built from whole practices: each is its share of the place, up to one practice
    assert np.all(np.abs(pcn_list - LARGE / p.n_pcn) <= p.list_size.max())


# ----------------------------------------------------------------------------- deprivation


@pytest.mark.parametrize("shares", [np.full(N_QUINTILES, 0.2), SKEWED], ids=["even", "skewed"])
def test_practice_quintiles_follow_the_places_mix(register: Register, shares: np.ndarray) -> None:
    problems = []
    for seed in SEEDS:
        p = Practices.build(register, LARGE, seed, shares)
        assert set(np.unique(p.imd)) <= set(range(1, N_QUINTILES + 1))
        # by list: each quintile's share is the place's, up to half a practice at each of
        # its two boundaries
        tolerance = p.list_size.max() / LARGE
        got = list_share_by_quintile(p, LARGE)
        if np.any(np.abs(got - shares) > tolerance):
            problems.append(f"seed {seed}: {got.round(3)} (tolerance {tolerance:.3f})")
    assert not problems, f"list shares by practice quintile vs {shares}: {problems}"


def test_gp_time_is_lower_in_deprived_practices_and_averages_one(
    register: Register, big_population: Population
) -> None:
    pop = big_population
    fte = register.array("practices.gp_fte_per_10000_by_practice_imd")
    for seed in SEEDS:
        p = Practices.build(register, pop.size, seed, imd_shares(pop))
        by_quintile = np.array(
            [p.gp_capacity_factor[p.imd == q].mean() for q in range(1, N_QUINTILES + 1)]
        )
        seen = ~np.isnan(by_quintile)
        assert np.all(np.diff(by_quintile[seen]) >= -1e-12), (seed, by_quintile)
        # relative GP time follows the published FTE per patient by practice quintile
        ratio = p.gp_capacity_factor / fte[p.imd - 1]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        assert by_quintile[0] < by_quintile[-1]
        # averaged over the place's patients, GP time per patient is the place's average
        patients = p.gp_capacity_factor[p.of(pop.person_id, pop.imd)]
        assert patients.mean() == pytest.approx(1.0, abs=0.01), seed


# ----------------------------------------------------------------------------- assignment


def test_the_practice_of_a_person_depends_only_on_id_and_quintile(
    register: Register, big_population: Population
) -> None:
    pop = big_population
    p = Practices.build(register, pop.size, 3, imd_shares(pop))
    everyone = p.of(pop.person_id, pop.imd)
    assert everyone.min() >= 0 and everyone.max() < p.n
    # the same ids, whoever else is present and in any order
    rng = np.random.default_rng(11)
    some = rng.choice(pop.size, 5_000, replace=False)
    np.testing.assert_array_equal(p.of(pop.person_id[some], pop.imd[some]), everyone[some])
    strangers = np.arange(10**9, 10**9 + 1_000, dtype=pop.person_id.dtype)
    ids = np.concatenate([strangers, pop.person_id[some]])
    imd = np.concatenate([np.full(strangers.size, 2, dtype=pop.imd.dtype), pop.imd[some]])
    np.testing.assert_array_equal(p.of(ids, imd)[strangers.size :], everyone[some])
    # the same structure again (same seed, size and mix) gives the same practices
    again = Practices.build(register, pop.size, 3, imd_shares(pop))
    np.testing.assert_array_equal(again.of(pop.person_id, pop.imd), everyone)
    np.testing.assert_array_equal(again.list_size, p.list_size)
    # another seed is another place
    other = Practices.build(register, pop.size, 4, imd_shares(pop))
    assert not np.array_equal(other.of(pop.person_id, pop.imd), everyone)


def test_realised_lists_are_near_their_nominal_sizes(
    register: Register, big_population: Population
) -> None:
    pop = big_population
    problems = []
    for seed in SEEDS:
        p = Practices.build(register, pop.size, seed, imd_shares(pop))
        realised = np.bincount(p.of(pop.person_id, pop.imd), minlength=p.n)
        assert realised.sum() == pop.size
        rel = np.abs(realised / p.list_size - 1)
        # about 9,600 patients a practice: binomial noise is about 1 %
        if rel.mean() > 0.03 or rel.max() > 0.08:
            problems.append(f"seed {seed}: mean {rel.mean():.3f}, max {rel.max():.3f}")
    assert not problems, f"|realised / nominal list - 1| above 3 % on average or 8 %: {problems}"


@pytest.mark.parametrize("own", [None, 0.8], ids=["register", "0.8"])
def test_patients_come_mostly_from_their_practices_quintile(
    register: Register, big_population: Population, own: float | None
) -> None:
    reg = register if own is None else register.with_values({"practices.own_quintile_share": own})
    share = reg.scalar("practices.own_quintile_share")
    pop = big_population
    problems = []
    for seed in SEEDS:
        p = Practices.build(reg, pop.size, seed, imd_shares(pop))
        practice_imd = p.imd[p.of(pop.person_id, pop.imd)]
        for q in np.unique(p.imd):
            patients = pop.imd[practice_imd == q]
            mix = np.bincount(patients, minlength=N_QUINTILES + 1)[1:] / patients.size
            others = np.delete(mix, q - 1)  # about equally from the other quintiles
            if (
                mix.argmax() != q - 1
                or abs(mix[q - 1] - share) > 0.05
                or np.any(np.abs(others - (1 - share) / (N_QUINTILES - 1)) > 0.05)
            ):
                problems.append(f"seed {seed}, practice quintile {q}: {mix.round(3)}")
    assert not problems, f"patients by quintile (own share {share} +- 0.05): {problems}"


def test_the_compiled_assignment_is_the_keyed_uniform_search(register: Register) -> None:
    # Practices.of (a compiled pass) gives what its definition gives in numpy: the first
    # practice whose cumulative share for the person's IMD quintile exceeds a keyed uniform
    p = Practices.build(register, 200_000, 7, np.full(N_QUINTILES, 0.2))
    rng = np.random.default_rng(3)
    ids = rng.permutation(10**7)[:50_000].astype(np.int64)
    imd = rng.integers(1, N_QUINTILES + 1, ids.size).astype(np.int8)
    u = crn.uniforms(p.key, ids)
    expected = np.array(
        [np.searchsorted(p.assign_cum[q - 1], x, side="right") for q, x in zip(imd, u, strict=True)]
    )
    np.testing.assert_array_equal(p.of(ids, imd), np.minimum(expected, p.n - 1))
