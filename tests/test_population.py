"""Synthetic population: reproducibility, structure, and calibrated behaviour.

Statistical tests use the session's 200,000-person population (fixed seed), so they are
deterministic; each tolerance is still set at several standard errors so that another seed
would pass too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import liability
from model.errors import ScenarioError
from model.population import (
    CONDITIONS,
    MAX_SIZE,
    MIN_SIZE,
    PROPENSITIES,
    SEGMENTS,
    SOCIAL_NEEDS,
    Population,
    activation_mean,
    build_population,
    check_size,
    population_model,
)
from model.register import Register
from model.streams import Streams

PER_PERSON_FIELDS = {
    "person_id",
    "age",
    "sex",
    "imd",
    "frailty",
    "ltc",
    "ltc_extra",
    "isolation",
    "financial",
    "housing",
    "pam_latent",
    "pam_score",
    "pam_level",
    "pam_level_at_entry",
    "anxiety",
    "segment",
    "chc",
    "s117",
    "wheelchair",
    "propensity",
    "ltc_noise",
    "ltc_extra_noise",
    "anxiety_noise",
}


def assert_same_population(a: Population, b: Population, skip: frozenset[str] = frozenset()):
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a.keys() - skip:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)


def expected_pam_level(score: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """PAM level from the published cut-points (level k runs up to cut-point k, inclusive).

    Scores are rounded to 0.1, so comparing with cut-point + 0.05 avoids float32 ties.
    """
    return 1 + (score[:, None] > cutpoints[None, :] + 0.05).sum(axis=1)


# ----------------------------------------------------------------------------- reproducibility


def test_arrays_cover_every_per_person_field(small_population: Population) -> None:
    assert set(small_population.arrays()) == PER_PERSON_FIELDS


def test_same_seed_gives_identical_arrays(small_population: Population) -> None:
    again = build_population(small_population.size, seed=small_population.seed)
    assert_same_population(small_population, again)
    np.testing.assert_array_equal(small_population.pam_thresholds, again.pam_thresholds)
    np.testing.assert_array_equal(small_population.segment_thresholds, again.segment_thresholds)


@pytest.mark.parametrize("change", [{"seed": 1}, {"replication": 1}], ids=["seed", "replication"])
def test_different_seed_or_replication_changes_every_random_array(
    small_population: Population, change: dict[str, int]
) -> None:
    pop = small_population
    settings = {"seed": pop.seed, **change}
    if "seed" in change:
        settings["seed"] = pop.seed + change["seed"]
    other = build_population(pop.size, **settings)
    a, b = small_population.arrays(), other.arrays()
    same = [k for k in a if k != "person_id" and np.array_equal(a[k], b[k])]
    assert not same, f"unchanged by a new {next(iter(change))}: {same}"


def test_using_other_streams_does_not_alter_the_population(
    small_population: Population,
) -> None:
    # draw heavily from the population's own stream names and from new ones in between
    pop = small_population
    s = Streams(pop.seed)
    for name in ("population.age_sex", "population.pam", "population.ltc.diabetes", "other"):
        s.get(name).random(100_000)
    assert_same_population(pop, build_population(pop.size, seed=pop.seed))


@pytest.mark.parametrize(
    "key, value, changed",
    [
        ("social.s117_share_of_smi", 0.5, {"s117"}),
        ("social.wheelchair.prevalence", 0.05, {"wheelchair"}),
    ],
)
def test_changing_one_attribute_leaves_every_other_attribute_unchanged(
    small_population: Population, register: Register, key: str, value: float, changed: set[str]
) -> None:
    """Common random numbers: one stream per attribute, so a scenario that changes one
    parameter changes only the attributes that depend on it."""
    other = build_population(
        small_population.size,
        seed=small_population.seed,
        register=register.with_values({key: value}),
    )
    assert_same_population(small_population, other, skip=frozenset(changed))
    for name in changed:
        assert not np.array_equal(getattr(small_population, name), getattr(other, name)), name


def test_changing_one_condition_keeps_the_other_conditions(
    small_population: Population, register: Register
) -> None:
    other = build_population(
        small_population.size,
        seed=small_population.seed,
        register=register.with_values({"ltc.dementia.prevalence": 0.03}),
    )
    j = CONDITIONS.index("dementia")
    keep = [i for i in range(len(CONDITIONS)) if i != j]
    np.testing.assert_array_equal(small_population.ltc[:, keep], other.ltc[:, keep])
    for name in ("age", "sex", "imd", "frailty", "propensity", "chc", "wheelchair"):
        np.testing.assert_array_equal(
            getattr(small_population, name), getattr(other, name), err_msg=name
        )
    # raising the prevalence only ever adds people to the register (same liabilities)
    before, after = small_population.ltc[:, j], other.ltc[:, j]
    assert after.sum() > before.sum() and not (before & ~after).any()


# ----------------------------------------------------------------------------- structure


def check_structure(pop: Population, size: int, register: Register) -> None:
    for name, arr in pop.arrays().items():
        assert arr.shape[0] == size, name
    assert pop.size == size
    np.testing.assert_array_equal(pop.person_id, np.arange(size))
    assert pop.ltc.shape == (size, len(CONDITIONS))
    assert pop.propensity.shape == (size, len(PROPENSITIES))

    assert pop.age.min() >= 0 and pop.age.max() <= 100
    assert set(np.unique(pop.sex)) <= {0, 1}
    assert set(np.unique(pop.imd)) <= {1, 2, 3, 4, 5}
    assert set(np.unique(pop.pam_level)) <= {1, 2, 3, 4}
    assert set(np.unique(pop.segment)) <= set(range(len(SEGMENTS)))
    assert pop.pam_score.min() >= 0.0 and pop.pam_score.max() <= 100.0
    assert ((pop.propensity >= 0) & (pop.propensity < 1)).all()
    assert np.isfinite(pop.frailty).all() and np.isfinite(pop.pam_latent).all()

    cutpoints = register.array("activation.score_cutpoints")
    np.testing.assert_array_equal(pop.pam_level, expected_pam_level(pop.pam_score, cutpoints))
    np.testing.assert_array_equal(pop.ltc_count, pop.ltc.astype(int).sum(axis=1))


def test_published_pam_cutpoints(register: Register) -> None:
    np.testing.assert_array_equal(register.array("activation.score_cutpoints"), [47.0, 55.1, 67.0])


def test_structure_of_the_small_population(small_population: Population, register) -> None:
    check_structure(small_population, 5_000, register)


@settings(max_examples=6, deadline=None)
@given(size=st.integers(1_000, 20_000), seed=st.integers(0, 2**32))
def test_structure_for_any_size(register: Register, size: int, seed: int) -> None:
    check_structure(build_population(size, seed=seed), size, register)


def test_pam_levels_follow_the_latent_thresholds(small_population: Population) -> None:
    # the level is a monotone cut of the latent activation, and so is the score
    order = np.argsort(small_population.pam_latent, kind="stable")
    assert (np.diff(small_population.pam_level[order].astype(int)) >= 0).all()
    assert (np.diff(small_population.pam_score[order]) >= 0).all()


def test_to_frame_has_one_row_per_person(small_population: Population) -> None:
    df = small_population.to_frame()
    assert len(df) == small_population.size
    ltc_cols = [f"ltc_{c}" for c in CONDITIONS]
    np.testing.assert_array_equal(df["ltc_count"], df[ltc_cols].sum(axis=1))
    assert set(df["segment"].cat.categories) == set(SEGMENTS)
    assert set(df["sex"].unique()) == {"male", "female"}


@pytest.mark.parametrize("size", [-5, 0, 999, 5_000_001, 2.5, True, "1000", None])
def test_bad_size_is_refused_naming_the_allowed_range(size: object) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^population size must be (a whole number )?"
        r"between 1,000 and 5,000,000, got .+\.$",
    ):
        build_population(size)  # type: ignore[arg-type]


def test_size_limits_are_inclusive() -> None:
    assert check_size(MIN_SIZE) == 1_000
    assert check_size(MAX_SIZE) == 5_000_000
    assert check_size(np.int32(2_000)) == 2_000
    assert build_population(MIN_SIZE, seed=1).size == MIN_SIZE


def test_unavailable_base_year_is_refused() -> None:
    with pytest.raises(
        ScenarioError,
        match=re.escape(
            "population base_year 2019 is not available; choose one of 2021, 2022, 2023."
        ),
    ):
        build_population(MIN_SIZE, base_year=2019)


def test_bad_seed_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"^seed must be an integer in \[0, "):
        build_population(MIN_SIZE, seed=-1)


# ----------------------------------------------------------------------------- behaviour at 200k
# Standard errors at 200,000 people: a share near 0.2 in a subgroup of 40,000 has SE 0.002;
# a mean PAM score (SD ~ 12) in a group of 40,000 has SE 0.06. Margins below are >= 5 SE.


def test_deprived_areas_are_younger(big_population: Population) -> None:
    pop = big_population
    mean_age = [pop.age[pop.imd == q].mean() for q in range(1, 6)]
    # IoD 2019 denominators: quintile 1 has the most children and the fewest people 60+
    assert mean_age[4] - mean_age[0] > 2.0, mean_age


def test_activation_is_lower_in_deprived_areas(big_population: Population) -> None:
    pop = big_population
    by_quintile = np.array([pop.pam_score[pop.imd == q].mean() for q in range(1, 6)])
    assert by_quintile[4] - by_quintile[0] > 2.0, by_quintile
    # rising across every step; adjacent quintiles differ by > 1 point, SE of a
    # difference ~ 0.09
    assert (np.diff(by_quintile) > 0.3).all(), by_quintile


def test_activation_falls_with_more_conditions(big_population: Population) -> None:
    pop = big_population
    groups = [pop.ltc_count == k for k in range(4)] + [pop.ltc_count >= 4]
    mean_score = np.array([pop.pam_score[g].mean() for g in groups])
    share_level_1 = np.array([(pop.pam_level[g] == 1).mean() for g in groups])
    # smallest group (4+) has ~4,700 people: SE of its mean score ~ 0.2
    assert (np.diff(mean_score) < -1.0).all(), mean_score
    assert (np.diff(share_level_1) > 0.01).all(), share_level_1


def test_multimorbidity_rises_with_age(big_population: Population) -> None:
    pop = big_population
    bands = [(0, 17), (18, 39), (40, 59), (60, 74), (75, 100)]
    mm = pop.ltc_count >= 2
    share = np.array([mm[(pop.age >= lo) & (pop.age <= hi)].mean() for lo, hi in bands])
    # observed steps are > 0.05; the SE of each band's share is < 0.004
    assert (np.diff(share) > 0.03).all(), dict(zip(bands, share.round(3), strict=True))


def test_segment_shares_match_the_register(big_population: Population, register) -> None:
    shares = np.bincount(big_population.segment, minlength=len(SEGMENTS)) / big_population.size
    # thresholds are quantiles of this very population, so only ties can move the shares
    np.testing.assert_allclose(shares, register.array("segments.shares"), atol=0.005)


def test_engaged_segments_are_the_more_activated(big_population: Population) -> None:
    pop = big_population
    engaged = pop.segment <= 1
    assert pop.pam_latent[engaged].min() >= pop.pam_latent[~engaged].max()
    # worried (1) are more anxious than independent (0); vulnerable (3) than traditional (2)
    for calm, anxious in ((0, 1), (2, 3)):
        assert pop.anxiety[pop.segment == anxious].min() >= pop.anxiety[pop.segment == calm].max()


def test_s117_only_among_people_with_smi(big_population: Population, register) -> None:
    pop = big_population
    smi = pop.condition("smi")
    assert pop.s117.any()
    assert not (pop.s117 & ~smi).any()
    # ~1,800 people with SMI: SE of the share ~ 0.008; 0.03 is about 4 SE
    share = pop.s117[smi].mean()
    assert share == pytest.approx(register.scalar("social.s117_share_of_smi"), abs=0.03)


def test_social_needs_are_absent_below_their_minimum_age(
    big_population: Population, register: Register
) -> None:
    pop = big_population
    assert register.scalar("social.isolation.min_age") == 16
    assert register.scalar("social.financial.min_age") == 16
    for need in SOCIAL_NEEDS:
        key = f"social.{need}.min_age"
        min_age = int(register.scalar(key)) if key in register else 0
        values = getattr(pop, need)
        assert not values[pop.age < min_age].any(), need
        assert values[pop.age >= min_age].any(), need
    # housing has no minimum age (a share of dwellings applied to the people living in them)
    assert pop.housing[pop.age < 16].any()


def test_conditions_are_absent_below_their_minimum_age(
    big_population: Population, register: Register
) -> None:
    pop = big_population
    with_min_age = 0
    for j, name in enumerate(CONDITIONS):
        min_age = int(register.scalar(f"ltc.{name}.min_age"))
        if min_age > 0:
            with_min_age += 1
            assert not pop.ltc[pop.age < min_age, j].any(), name
            assert pop.ltc[pop.age >= min_age, j].any(), name
    assert with_min_age >= 4  # depression, obesity, diabetes, ckd
    assert not pop.chc[pop.age < int(register.scalar("social.chc.min_age"))].any()


def test_register_override_moves_prevalence(big_population: Population, register) -> None:
    higher = register.with_values({"ltc.diabetes.prevalence": 0.10})
    pop = build_population(50_000, seed=3, register=higher)
    adults = pop.age >= int(register.scalar("ltc.diabetes.min_age"))
    base_adults = big_population.age >= 17
    simulated = pop.condition("diabetes")[adults].mean()
    baseline = big_population.condition("diabetes")[base_adults].mean()
    # ~40,000 people aged 17+: SE of a share near 0.1 is 0.0015; 0.006 is 4 SE
    assert simulated == pytest.approx(0.10, abs=0.006)
    assert baseline == pytest.approx(0.0707, abs=0.004)


def test_mental_illness_lowers_activation(big_population: Population) -> None:
    pop = big_population
    adults = pop.age >= 18
    mental = pop.condition("depression") | pop.condition("smi")
    gap = pop.pam_latent[adults & ~mental].mean() - pop.pam_latent[adults & mental].mean()
    # the register shift is 0.3 SD, plus the LTC-count and frailty terms that come with it
    assert gap > 0.2


def test_condition_counts_match_the_analytic_expectation(
    big_population: Population, register: Register
) -> None:
    """Verification: the distribution of adults' condition counts equals the one implied by
    the calibrated liabilities (Gauss-Hermite integration over the shared frailty)."""
    pop = big_population
    model = population_model(register, pop.base_year)
    dist = liability.expected_count_distribution(list(model.conditions))  # (2, 101, 5, 7)
    weights = liability.cell_weights(pop.base_year) * (np.arange(101) >= 18)[None, :, None]
    expected = (weights[..., None] * dist).sum(axis=(0, 1, 2)) / weights.sum()
    counts = np.minimum(pop.ltc_count[pop.age >= 18], 6)
    simulated = np.bincount(counts, minlength=7) / counts.size
    # ~155,000 adults: the SE of each share is at most 0.0013 (at 0.56); 0.006 is > 4 SE.
    # The whole distribution is compared, not only 2+: without clustering the share with
    # 2+ barely moves (0.177 vs 0.175) but the share with none falls from 0.56 to 0.51.
    np.testing.assert_allclose(simulated, expected, atol=0.006)


def test_conditions_cluster_through_frailty(big_population: Population) -> None:
    pop = big_population
    band = (pop.age >= 60) & (pop.age <= 74)  # one age band, so age does not explain it
    none = pop.frailty[band & (pop.ltc_count == 0)].mean()
    several = pop.frailty[band & (pop.ltc_count >= 2)].mean()
    # groups of ~8,000 to ~15,000 people: SE of the difference ~ 0.014
    assert several - none > 0.5, (none, several)


def test_random_components_are_mutually_independent(
    big_population: Population, register: Register
) -> None:
    """Each attribute has its own stream: no two random components share draws."""
    pop = big_population
    mental = pop.condition("depression") | pop.condition("smi")
    pam_noise = pop.pam_latent - activation_mean(
        register, pop.age, pop.imd, pop.ltc_count, mental, pop.frailty, pop.social_need_count
    )
    assert pam_noise.std() == pytest.approx(1.0, abs=0.01)  # SE of an SD ~ 0.0016
    components = np.column_stack(
        [
            pop.frailty,
            pam_noise,
            pop.anxiety_noise,
            pop.ltc_noise,
            pop.ltc_extra_noise.astype(np.float32),
            pop.propensity,
        ]
    )
    corr = np.corrcoef(components, rowvar=False)
    off_diagonal = np.abs(corr[~np.eye(len(corr), dtype=bool)])
    # SE of a correlation between independent samples of 200,000 is 0.0022; 0.015 is ~7 SE
    assert off_diagonal.max() < 0.015


def test_take_with_room_then_concat_is_take_then_concatenate(small_population: Population) -> None:
    """Survivors taken with room for the entrants, then the entrants appended into it, give
    the arrays of a plain take and concatenation; the room is claimed once only."""
    from model import dynamics

    pop = small_population
    alive = np.random.default_rng(4).random(pop.size) < 0.97
    new = dynamics.take(pop, np.arange(25))  # any 25 people stand for the entrants
    plain = dynamics.concat(dynamics.take(pop, alive), new)
    roomy = dynamics.take(pop, alive, room=25)
    joined = dynamics.concat(roomy, new)
    again = dynamics.concat(roomy, new)  # no room left: a fresh concatenation
    for name, a in plain.arrays().items():
        for other in (joined, again):
            b = getattr(other, name)
            assert b.dtype == a.dtype and b.shape == a.shape, name
            np.testing.assert_array_equal(b, a, err_msg=name)
    assert not np.shares_memory(joined.ltc_noise, again.ltc_noise)
    assert np.shares_memory(joined.ltc_noise, roomy.ltc_noise)  # appended in place


def test_hazard_ratios_looked_up_are_numpys_powers() -> None:
    """``hr ** count`` from a table of the counts present: numpy's power of each element."""
    from model import dynamics

    rng = np.random.default_rng(6)
    for hr in (1.0, 1.07, 1.2345678901, 2.5):
        for n in (1, 7, 9, 100_003):
            counts = rng.integers(0, 15, n).astype(np.int8)
            np.testing.assert_array_equal(
                dynamics._hazard_ratio(counts, hr), dynamics._hazard_ratio_numpy(counts, hr)
            )


def test_compiled_pam_scores_are_the_numpy_scores(small_population: Population) -> None:
    """PAM scores in one compiled pass against the numpy expressions: the population's
    latents, values at and around the thresholds and grid ends, far out, and NaN."""
    scale = small_population.activation_scale
    rng = np.random.default_rng(3)
    t = scale.thresholds
    latent = np.concatenate(
        [
            small_population.pam_latent,
            rng.normal(0.0, 3.0, 50_000).astype(np.float32),
            t.astype(np.float32),
            np.nextafter(t.astype(np.float32), np.float32(-np.inf)),
            np.nextafter(t.astype(np.float32), np.float32(np.inf)),
            np.array([-1e30, 1e30, np.nan, -np.inf, np.inf], dtype=np.float32),
        ]
    )
    with np.errstate(invalid="ignore"):
        want = scale.score_numpy(latent)
        got = scale.score(latent)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_compiled_activation_means_are_the_numpy_means(register: Register) -> None:
    """The covariate part of activation in one compiled pass against numpy's expression,
    with the types the model passes (float32 frailty in ageing, float64 in synthesis; int8
    or int64 counts)."""
    from model.population import activation_mean, activation_mean_numpy

    rng = np.random.default_rng(10)
    n = 100_000
    age = rng.integers(0, 101, n).astype(np.int16)
    imd = rng.integers(1, 6, n).astype(np.int8)
    mental = rng.random(n) < 0.2
    needs = rng.integers(0, 4, n).astype(np.int8)
    for count_type in (np.int8, np.int64):
        ltc = rng.integers(0, 9, n).astype(count_type)
        for frailty in (rng.standard_normal(n), rng.standard_normal(n).astype(np.float32)):
            args = (register, age, imd, ltc, mental, frailty, needs)
            got = activation_mean(*args)
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, activation_mean_numpy(*args))


def test_compiled_pam_levels_are_numpys(small_population: Population) -> None:
    """PAM levels from the latent in one compiled pass, as numpy's search finds them:
    float32 and float64 latents, at and beside the thresholds, far out and NaN."""
    from model.population import pam_level_from_latent, pam_level_from_latent_numpy

    t = small_population.activation_scale.thresholds
    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        latent = np.concatenate(
            [
                small_population.pam_latent.astype(dtype),
                rng.normal(0.0, 3.0, 20_000).astype(dtype),
                t.astype(dtype),
                np.nextafter(t.astype(dtype), dtype(-np.inf)),
                np.nextafter(t.astype(dtype), dtype(np.inf)),
                np.array([-np.inf, np.inf, np.nan], dtype=dtype),
            ]
        )
        got = pam_level_from_latent(latent, t)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, pam_level_from_latent_numpy(latent, t))
