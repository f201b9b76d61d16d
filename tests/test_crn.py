"""Common random numbers (``model.crn``) and paired demand draws (``model.demand``).

The uniforms are deterministic (fixed keys), so the statistical checks below either always
pass or always fail; the thresholds are chosen so that a correct generator passes them for
all but a tiny fraction of keys (stated at each check), while a biased or correlated one
fails by a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from model import _kernels, crn
from model.demand import draw_events, draw_events_numpy, paired_counts

N = 200_000
IDS = np.arange(N, dtype=np.int64)
KEY_A = crn.key(1, 0, "test.a", 0)
KEY_B = crn.key(1, 0, "test.b", 0)


def _corr_bound(n: int) -> float:
    # the sample correlation of independent variables has SE 1/sqrt(n); 5 SE is exceeded with
    # probability 6e-7 under independence
    return 5.0 / np.sqrt(n)


# ----------------------------------------------------------------------------- uniforms


def test_uniforms_are_a_pure_function_of_key_person_and_index() -> None:
    u = crn.uniforms(KEY_A, IDS, 3)
    np.testing.assert_array_equal(u, crn.uniforms(KEY_A, IDS, 3))
    # one person's uniform does not depend on who else is in the array, or their order
    pick = np.array([17, 5, 123_456, 0, 17])
    np.testing.assert_array_equal(crn.uniforms(KEY_A, IDS[pick], 3), u[pick])
    shuffled = np.random.default_rng(0).permutation(N)
    np.testing.assert_array_equal(crn.uniforms(KEY_A, IDS[shuffled], 3), u[shuffled])
    # a per-element index array gives the same as a scalar index
    np.testing.assert_array_equal(crn.uniforms(KEY_A, IDS, np.full(N, 3)), u)
    # and the key is itself a pure function of (seed, replication, purpose, period)
    assert crn.key(1, 0, "test.a", 0) == KEY_A
    assert (
        len(
            {
                crn.key(1, 0, "test.a", 0),
                crn.key(2, 0, "test.a", 0),
                crn.key(1, 1, "test.a", 0),
                crn.key(1, 0, "test.a", 1),
                crn.key(1, 0, "test.a", None),
                KEY_B,
            }
        )
        == 6
    )


def test_uniforms_lie_strictly_inside_zero_one() -> None:
    u = crn.uniforms(KEY_A, IDS)
    assert u.dtype == np.float64
    assert np.all(u > 0.0) and np.all(u < 1.0)
    # the extremes of the hash map inside (0, 1) too (log and inverse CDFs stay finite)
    assert np.all(np.isfinite(np.log(u))) and np.all(np.isfinite(stats.norm.ppf(u)))


def test_uniforms_are_uniform() -> None:
    u = crn.uniforms(KEY_A, IDS)
    # Kolmogorov-Smirnov: a correct generator gives p < 0.001 for 0.1 % of keys
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # decile counts: each ~ Binomial(N, 0.1), SD = sqrt(N * 0.1 * 0.9) = 134; allow 5 SD
    counts = np.bincount((u * 10).astype(int), minlength=10)
    assert np.abs(counts - N / 10).max() < 5 * np.sqrt(N * 0.1 * 0.9)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)


@pytest.mark.parametrize(
    "pair",
    ["different keys", "different indices", "neighbouring people", "different seeds"],
)
def test_uniform_streams_are_uncorrelated(pair: str) -> None:
    if pair == "different keys":
        a, b = crn.uniforms(KEY_A, IDS), crn.uniforms(KEY_B, IDS)
    elif pair == "different indices":
        a, b = crn.uniforms(KEY_A, IDS, 0), crn.uniforms(KEY_A, IDS, 1)
    elif pair == "neighbouring people":
        u = crn.uniforms(KEY_A, IDS)
        a, b = u[:-1], u[1:]
    else:
        a, b = crn.uniforms(KEY_A, IDS), crn.uniforms(crn.key(2, 0, "test.a", 0), IDS)
    assert abs(np.corrcoef(a, b)[0, 1]) < _corr_bound(a.size)
    # joint deciles: independence gives chi-square with 81 df; p < 1e-4 for 0.01 % of keys
    table = np.zeros((10, 10))
    np.add.at(table, ((a * 10).astype(int), (b * 10).astype(int)), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-4


# ----------------------------------------------------------------------------- Poisson


def test_poisson_inverse_matches_scipy_for_rates_up_to_50() -> None:
    rates = np.linspace(0.0, 50.0, 201)
    u_grid = np.concatenate(
        [[2.0**-53, 1e-9, 1e-4], np.linspace(0.001, 0.999, 199), [1 - 1e-6, 1 - 2.0**-50]]
    )
    rate, u = (a.ravel() for a in np.meshgrid(rates, u_grid))
    ours = crn.poisson_inverse(rate, u)
    ref = stats.poisson.ppf(u, rate)
    mismatch = ours != ref
    # a mismatch is acceptable only where u sits on a CDF step (round-off in the summation)
    on_step = np.isclose(stats.poisson.cdf(np.minimum(ours, ref), rate), u, rtol=0, atol=1e-12)
    assert not np.any(mismatch & ~on_step), (rate[mismatch][:5], u[mismatch][:5])
    assert ours[rate == 0].max() == 0


@pytest.mark.parametrize("rate", [100.0, 399.5, 400.5, 1000.0, 5000.0])
def test_poisson_inverse_of_large_rates_is_close_to_scipy(rate: float) -> None:
    # the docstring promises the exact quantile for large rates too
    u = np.concatenate([[1e-9], np.linspace(0.001, 0.999, 999), [1 - 1e-9]])
    ours = crn.poisson_inverse(np.full(u.size, rate), u)
    np.testing.assert_array_equal(ours, stats.poisson.ppf(u, rate))


def test_poisson_inverse_is_monotone_in_rate_below_400() -> None:
    rates = np.linspace(0.0, 399.0, 800)
    for u0 in (1e-9, 0.01, 0.3, 0.5, 0.77, 0.999, 1 - 1e-9):
        n = crn.poisson_inverse(rates, np.full(rates.size, u0))
        assert np.all(np.diff(n) >= 0), u0


def test_poisson_inverse_normal_branch_is_monotone_with_the_right_mean() -> None:
    rates = np.linspace(400.5, 5000.0, 900)
    for u0 in (1e-6, 0.02, 0.5, 0.9, 1 - 1e-6):
        n = crn.poisson_inverse(rates, np.full(rates.size, u0))
        assert np.all(np.diff(n) >= 0), u0
    u = crn.uniforms(KEY_A, IDS)
    for rate in (450.0, 1000.0, 4000.0):
        n = crn.poisson_inverse(np.full(N, rate), u).astype(float)
        # mean within 5 SE (SE = sqrt(rate / N)); variance within 3 % (SE of a sample
        # variance of a near-normal variable is sqrt(2 / N) = 0.3 %)
        assert abs(n.mean() - rate) < 5 * np.sqrt(rate / N), rate
        assert abs(n.var() / rate - 1) < 0.03, rate


def test_poisson_inverse_is_monotone_across_the_normal_switch() -> None:
    """A lever lowering a rate from just above 400 to just below must not add events."""
    u = np.linspace(0.0005, 0.9995, 2000)
    below = crn.poisson_inverse(np.full(u.size, 400.0), u)
    above = crn.poisson_inverse(np.full(u.size, 400.0 + 1e-4), u)
    assert np.all(above >= below), (
        f"{int((above < below).sum())} of {u.size} uniforms give fewer events at rate "
        "400.0001 than at 400 (exact inversion vs normal approximation)"
    )


def test_expand_lists_each_event_of_each_row() -> None:
    rows, within = crn.expand(np.array([2, 0, 3, 1]))
    np.testing.assert_array_equal(rows, [0, 0, 2, 2, 2, 3])
    np.testing.assert_array_equal(within, [0, 1, 0, 1, 2, 0])


# ----------------------------------------------------------------------------- paired counts


def _rates(n: int = N) -> np.ndarray:
    # heterogeneous rates like the demand model's (gamma propensity around a service mean)
    return np.random.default_rng(3).gamma(0.8, 2.0, n)


@pytest.mark.parametrize("per_user", [None, 6.0])
def test_paired_counts_have_mean_equal_to_the_rate(per_user: float | None) -> None:
    rate = np.minimum(_rates(), 5.9)  # below events_per_user, where the hurdle keeps the mean
    n = paired_counts(rate, IDS, KEY_A, per_user).astype(float)
    if per_user is None:
        var = rate  # Poisson
    else:
        # user with p = rate / per_user, then 1 + Poisson(lam): E[N^2] = p (1 + 3 lam + lam^2)
        lam = per_user - 1
        var = rate / per_user * (1 + 3 * lam + lam**2) - rate**2
    se = np.sqrt(var.sum()) / N
    assert abs(n.mean() - rate.mean()) < 5 * se
    if per_user is not None:
        users = n > 0
        p = rate / per_user
        assert abs(users.mean() - p.mean()) < 5 * np.sqrt((p * (1 - p)).sum()) / N
        # users have 1 + Poisson(per_user - 1) events
        assert abs(n[users].mean() - per_user) < 5 * np.sqrt((per_user - 1) / users.sum())


def test_hurdle_keeps_the_mean_for_rates_above_events_per_user() -> None:
    """``paired_counts`` promises mean = rate; people whose rate exceeds ``per_user`` (0.35 %
    of the baseline's mental-health rates) are capped at ``per_user`` instead."""
    rate = np.full(N, 12.0)
    n = paired_counts(rate, IDS, KEY_A, per_user=6.0).astype(float)
    assert abs(n.mean() - 12.0) < 5 * np.sqrt(12.0 / N), (
        f"mean {n.mean():.2f} events at rate 12 with events_per_user 6"
    )


@pytest.mark.parametrize("per_user", [None, 6.0])
def test_a_lower_rate_never_gives_more_events_or_more_users(per_user: float | None) -> None:
    rate = _rates()
    full = paired_counts(rate, IDS, KEY_A, per_user)
    for factor in (0.95, 0.8, 0.5, 0.0):
        low = paired_counts(rate * factor, IDS, KEY_A, per_user)
        assert np.all(low <= full), factor
        assert np.all((low > 0) <= (full > 0)), factor  # users at the lower rate are users
        if factor > 0:
            assert low.sum() < full.sum()  # the pairing is not trivial: fewer events
    assert paired_counts(np.zeros(N), IDS, KEY_A, per_user).sum() == 0


def _triples(events) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return set(zip(events.person_id.tolist(), events.k.tolist(), events.day.tolist(), strict=True))


@pytest.mark.parametrize("per_user", [None, 6.0])
def test_lower_rate_events_are_a_prefix_subset_of_the_full_rate(per_user: float | None) -> None:
    n = 50_000
    ids = IDS[:n] * 7 + 3  # person ids need not be positions
    rate = _rates(n)
    exposure = np.where(np.arange(n) % 10 == 0, np.arange(n) % 365, 365)  # some die in-year
    k_count, k_day = crn.key(1, 0, "test.count", 0), crn.key(1, 0, "test.day", 0)
    full = draw_events(rate, exposure, ids, k_count, k_day, per_user=per_user)
    low = draw_events(rate * 0.8, exposure, ids, k_count, k_day, per_user=per_user)
    assert 0 < low.size < full.size
    assert _triples(low) <= _triples(full)
    # the kept events are each person's first ones: event numbers 0 .. n_low - 1 (before
    # the exposure cut) are a prefix of the full rate's 0 .. n_full - 1
    n_low = paired_counts(rate * 0.8, ids, k_count, per_user)
    assert np.all(low.k < n_low[low.person])
    # events are sorted by day, within exposure, and indexed consistently
    assert np.all(np.diff(low.day) >= 0)
    assert np.all(low.day < exposure[low.person])
    np.testing.assert_array_equal(low.person_id, ids[low.person])
    # exposure thins the full-year events, it does not redraw them
    whole = draw_events(rate, np.full(n, 365), ids, k_count, k_day, per_user=per_user)
    assert _triples(full) <= _triples(whole)
    assert _triples(full) == {t for t in _triples(whole) if t[2] < exposure[(t[0] - 3) // 7]}


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), days=st.sampled_from([56, 365]))
def test_compiled_event_draws_are_the_numpy_ones(seed: int, n: int, days: int) -> None:
    # the compiled Poisson inversion, expansion, day hash, cut at death and sort by day give
    # exactly the arrays of the numpy version
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.7, 4.0, n) * (rng.random(n) < 0.9)
    rate[: n // 10] *= 8.0  # some above the small-rate threshold
    exposure = np.where(rng.random(n) < 0.1, rng.integers(0, days + 1, n), days)
    ids = rng.permutation(10 * n + 1)[:n].astype(np.int64)
    k_count, k_day = crn.key(seed, 0, "test.count"), crn.key(seed, 0, "test.day")
    u = crn.uniforms(k_count, ids)
    small = rate <= 12.0
    np.testing.assert_array_equal(
        crn._poisson_small(rate[small], u[small]),
        crn._poisson_inverse_small(rate[small], u[small]),
    )
    # some people arrive during the year (entrants): their events before arrival drop too
    start = np.where(rng.random(n) < 0.1, rng.integers(0, days, n), 0)
    start = np.minimum(start, exposure)
    for per_user, arrive in ((None, None), (3.0, None), (None, start), (3.0, start)):
        args = (rate, exposure, ids, k_count, k_day, days, per_user, arrive)
        got, expected = draw_events(*args), draw_events_numpy(*args)
        for name in ("person", "k", "day"):
            a, b = getattr(got, name), getattr(expected, name)
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_compiled_keyed_uniforms_are_crn_uniforms() -> None:
    ids = np.random.default_rng(5).permutation(10**6)[:20_000].astype(np.int64)
    key = crn.key(11, 0, "test.keyed")
    np.testing.assert_array_equal(_kernels.keyed_uniforms(key, ids), crn.uniforms(key, ids))


def test_compiled_ageing_of_conditions_is_the_numpy_one(register) -> None:  # type: ignore[no-untyped-def]
    """New conditions on ageing (QOF registers and the broad list's bitmask) in one compiled
    pass give exactly the numpy draws, over several years of ageing."""
    import dataclasses

    from model import dynamics
    from model.population import PopulationModel, build_population

    pop = build_population(20_000, 3, register)
    model = PopulationModel.build(register, pop.base_year)
    ltc, extra = pop.ltc, pop.ltc_extra
    for years in (1, 5, 20):
        aged = dataclasses.replace(pop, age=np.minimum(pop.age + years, 100).astype(np.int16))
        np.testing.assert_array_equal(
            dynamics.new_conditions(model, aged, ltc),
            dynamics.new_conditions_numpy(model, aged, ltc),
        )
        np.testing.assert_array_equal(
            dynamics.new_extra_conditions(model, aged, extra),
            dynamics.new_extra_conditions_numpy(model, aged, extra),
        )
        assert dynamics.new_conditions(model, aged, ltc).sum() > ltc.sum()  # some are gained


def test_compiled_liability_draws_are_the_numpy_ones(register) -> None:  # type: ignore[no-untyped-def]
    """The population build's liability draws in one compiled pass (float64 and float32
    noise, and float16 noise into a bitmask) against ``liability.draw``."""
    from model import liability
    from model.population import DEFAULT_BASE_YEAR, PopulationModel, _draw, _draw_bit

    model = PopulationModel.build(register, DEFAULT_BASE_YEAR)
    rng = np.random.default_rng(12)
    n = 50_000
    cell = rng.integers(0, 2 * 101 * 5, n).astype(np.int64)
    frailty = rng.standard_normal(n)
    for cal in (*model.conditions[:4], *model.extra[:3], model.chc):
        for noise in (rng.standard_normal(n), rng.standard_normal(n).astype(np.float32)):
            got = _draw(cal, cell, frailty, noise)
            np.testing.assert_array_equal(got, liability.draw(cal, cell, frailty, noise))
        half = np.empty((n, 3), dtype=np.float16)
        half[:, 1] = rng.standard_normal(n) * 3.0
        bits = rng.integers(0, 2**20, n).astype(np.uint32)
        want = bits | (
            liability.draw(cal, cell, frailty, half[:, 1].astype(np.float64)).astype(np.uint32)
            << np.uint32(5)
        )
        _draw_bit(cal, cell, frailty, half[:, 1], 5, bits)
        np.testing.assert_array_equal(bits, want)
        # rounding the draws to float16 and drawing from the rounded noise in one pass
        draws = rng.standard_normal(n) * 3.0
        fused = np.zeros((n, 3), dtype=np.float16)
        lam = cal.spec.loading
        fused_bits = bits.copy()
        _kernels.half_noise_bit(
            cal.linear_predictor().reshape(-1),
            lam,
            np.sqrt(1.0 - lam * lam),
            cell,
            frailty,
            draws,
            fused[:, 2],
            7,
            fused_bits,
        )
        half[:, 2] = draws
        _draw_bit(cal, cell, frailty, half[:, 2], 7, bits)
        np.testing.assert_array_equal(fused[:, 2].view(np.uint16), half[:, 2].view(np.uint16))
        np.testing.assert_array_equal(fused_bits, bits)


def test_compiled_rounding_to_half_precision_is_numpys() -> None:
    """float64 to float16 (the broad list's noise) as numpy rounds it: normals, ties between
    neighbouring halves and their neighbours, subnormals, overflow, infinities, NaN and
    random bit patterns, into a strided column."""
    rng = np.random.default_rng(8)
    halves = np.arange(0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    ties = (halves[:-1] + halves[1:]) / 2
    x = np.concatenate(
        [
            rng.standard_normal(100_000) * 10.0 ** rng.integers(-9, 6, 100_000),
            ties,
            -ties,
            np.nextafter(ties, 0.0),
            np.nextafter(ties, 1e6),
            halves,
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 1e-300]),
            rng.integers(0, 2**64, 100_000, dtype=np.uint64).view(np.float64),
        ]
    )
    with np.errstate(all="ignore"):
        want = x.astype(np.float16)
    out = np.zeros((x.size, 3), dtype=np.float16)
    _kernels.to_half(x, out[:, 1])
    np.testing.assert_array_equal(out[:, 1].view(np.uint16), want.view(np.uint16))


def test_compiled_half_precision_conversion_is_numpys() -> None:
    """Every one of the 65,536 half-precision numbers read as numpy reads it (the
    broad-list liability noise is held in float16)."""
    import numba

    convert = numba.njit(lambda h: _kernels._half_jit(h))
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = np.array([convert(h) for h in bits])
    want = bits.view(np.float16).astype(np.float64)
    np.testing.assert_array_equal(got, want)  # NaN where numpy has NaN


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_points=st.integers(3, 60), even=st.booleans())
def test_compiled_interp_is_numpys(seed: int, n_points: int, even: bool) -> None:
    """``_kernels.interp`` gives ``np.interp``'s numbers: inside, outside and at the points,
    for float64 and float32 values and NaN, on even and uneven points."""
    rng = np.random.default_rng(seed)
    if even:
        xp = np.linspace(-rng.uniform(0.5, 6), rng.uniform(0.5, 6), n_points)
    else:
        xp = np.unique(np.cumsum(rng.uniform(1e-3, 2.0, n_points)) - rng.uniform(0, 10))
    fp = np.cumsum(rng.standard_normal(xp.size)) * 10.0 ** rng.integers(-3, 4)
    x = rng.uniform(xp[0] - 1.0, xp[-1] + 1.0, 4_000)
    x[: xp.size] = xp
    x[xp.size : xp.size + 3] = (np.nan, np.inf, -np.inf)
    for values in (x, x.astype(np.float32)):
        np.testing.assert_array_equal(_kernels.interp(values, xp, fp), np.interp(values, xp, fp))


def test_compiled_interp_on_the_model_grids() -> None:
    """The grids interpolated at a million people: gamma quantiles of normal scores."""
    from model.demand import _gamma_quantile_table

    rng = np.random.default_rng(9)
    for shape in (0.4, 1.3, 6.0):
        z, q = _gamma_quantile_table(shape)
        x = rng.standard_normal(300_000) * 2.5
        np.testing.assert_array_equal(_kernels.interp(x, z, q), np.interp(x, z, q))


def test_poisson_inverse_in_place_is_the_split_inversion() -> None:
    """Small rates inverted where they sit (numpy's exp of the whole array), large ones
    apart: the same counts as inverting the two groups separately."""
    rng = np.random.default_rng(21)
    for n in (1, 7, 8, 9, 100, 4_097, 100_003):
        rate = np.where(rng.random(n) < 0.1, rng.uniform(12.0, 80.0, n), rng.gamma(1.0, 3.0, n))
        u = rng.random(n)
        large = rate > crn._SMALL_RATE
        split = np.zeros(n, dtype=np.int32)
        split[~large] = crn._poisson_inverse_small(rate[~large], u[~large])
        split[large] = crn._poisson_inverse_large(rate[large], u[large])
        np.testing.assert_array_equal(crn.poisson_inverse(rate, u), split)
        np.testing.assert_array_equal(np.exp(-rate)[~large], np.exp(-rate[~large]))


def test_compiled_uniforms_are_the_numpy_uniforms() -> None:
    """``crn.uniforms`` (one compiled pass for a vector of people) against its numpy
    arithmetic, for the index types the model passes."""
    rng = np.random.default_rng(8)
    key = crn.key(3, 1, "test.indexed")
    ids = rng.permutation(10**7)[:50_000].astype(np.int64)
    for people in (ids, ids.astype(np.int32), ids.astype(np.uint64), ids[:0]):
        for index in (0, 7, rng.integers(0, 10**6, people.size), np.int64(3)):
            got = crn.uniforms(key, people, index)
            np.testing.assert_array_equal(got, crn.uniforms_numpy(key, people, index))
    grid = ids[:600].reshape(20, 30)  # not a vector: numpy
    np.testing.assert_array_equal(crn.uniforms(key, grid, 2), crn.uniforms_numpy(key, grid, 2))


def test_compiled_poisson_inversion_is_the_numpy_one() -> None:
    """The compiled inversion (summation from numpy's exp of the rows that may count above
    0, and the large rates' exact-CDF correction with scipy's C ``pdtr``) gives the counts of
    the numpy versions, including uniforms at the edge of the sure-zero bound and rates
    around the switch to the large-rate inversion."""
    rng = np.random.default_rng(33)
    for n in (1, 5, 1_000, 200_003):
        rate = np.concatenate(
            [
                rng.gamma(0.3, 0.1, n),  # mostly sure zeros
                rng.gamma(1.0, 3.0, n),
                rng.uniform(11.5, 12.5, n),
                rng.uniform(12.0, 300.0, n // 5 + 1),
                np.zeros(2),
            ]
        )
        u = rng.random(rate.size)
        u[:n] = np.clip(1.0 - rate[:n] - rng.uniform(-1e-8, 1e-8, n), 1e-300, 1.0 - 1e-16)
        large = rate > crn._SMALL_RATE
        expected = np.zeros(rate.size, dtype=np.int32)
        expected[~large] = crn._poisson_inverse_small(rate[~large], u[~large])
        expected[large] = crn._poisson_inverse_large(rate[large], u[large])
        got = crn.poisson_inverse(rate, u)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    # scipy's C function is its ufunc's
    k = np.floor(rng.uniform(0, 200, 500))
    m = rng.uniform(12.0, 150.0, 500)
    out = np.array([crn._pdtr()(a, b, 0) for a, b in zip(k, m, strict=True)])
    np.testing.assert_array_equal(out, special.pdtr(k, m))
