"""The levers' compiled passes (``model._lever_kernels``) against their numpy references.

Each reference below is the numpy code the compiled pass replaced; the pass must give exactly
the same values (not merely close ones), so that scenarios' tables do not move.
"""

from __future__ import annotations

import numpy as np

from model import crn
from model._lever_kernels import add_at_float32, keep_events, referrals
from model.effects import NEVER, DayEffects


def _keep_numpy(
    levers: list[tuple[np.ndarray, np.ndarray, np.uint64]],
    person: np.ndarray,
    k: np.ndarray,
    day: np.ndarray | int,
    person_id: np.ndarray,
) -> np.ndarray:
    """``DayEffects.keep`` as it was in numpy: lever by lever, thin with a keyed uniform."""
    keep = np.ones(person.shape, dtype=bool)
    day_arr = np.broadcast_to(np.asarray(day, dtype=np.int64), keep.shape)
    for from_day, factor, thin_key in levers:
        f = factor[person]
        thin = (day_arr >= from_day[person]) & (f < 1.0)
        if thin.any():
            at = np.flatnonzero(thin)
            u = crn.uniforms(thin_key, person_id[person[at]], np.asarray(k)[at])
            keep[at] &= u < f[at]
    return keep


def _effects(size: int, rng: np.random.Generator) -> tuple[DayEffects, list]:
    """Day effects of three levers on one stream, with some factors above 1 (top-ups)."""
    eff = DayEffects()
    person_id = np.arange(size, dtype=np.int64) * 7 + 3
    reference = []
    for n, lever in enumerate(("a", "b", "c")):
        from_day = np.full(size, NEVER, dtype=np.int16)
        factor = np.ones(size)
        thin_key = crn.key(5, 0, f"test.{lever}.thin", 0)
        for _ in range(3):  # later calls replace earlier ones for the same people
            who = np.unique(rng.integers(0, size, size // 4))
            start = int(rng.integers(0, 300))
            f = rng.uniform(0.2, 1.3, who.size) if n != 1 else 0.6
            eff.set(
                lever,
                "gp",
                who,
                start,
                f,
                size=size,
                person_id=person_id,
                end_day=np.full(size, 365),
                rate=np.full(size, 4.0),
                thin_key=thin_key,
                top_up_key=crn.key(5, 0, f"test.{lever}.top_up", 0),
                day0=0,
            )
            from_day[who] = start
            factor[who] = f
        reference.append((from_day, factor, thin_key))
    return eff, [person_id, reference]


def test_keep_is_the_numpy_thinning_lever_by_lever() -> None:
    rng = np.random.default_rng(1)
    size = 5_000
    eff, (person_id, reference) = _effects(size, rng)
    person = rng.integers(0, size, 40_000)
    k = rng.integers(0, 50, person.size).astype(np.int32)
    day = rng.integers(0, 365, person.size)
    got = eff.keep("gp", person, k, day, person_id)
    want = _keep_numpy(reference, person, k, day, person_id)
    assert got is not None
    np.testing.assert_array_equal(got, want)
    assert 0.2 < got.mean() < 0.95  # both thinned and kept events are compared
    # one day for every event
    got = eff.keep("gp", person, k, 200, person_id)
    np.testing.assert_array_equal(got, _keep_numpy(reference, person, k, 200, person_id))
    for lever, (_, factor, _) in zip("abc", reference, strict=True):
        np.testing.assert_array_equal(eff.factor("gp", lever), factor)
    assert eff.keep("ae", person, k, day, person_id) is None  # no effect on the stream
    # the bits read first are the people with a row, and reading every row gives the same
    st = eff._by_stream["gp"]
    np.testing.assert_array_equal(st.has, np.packbits(st.slot >= 0, bitorder="little"))
    args = (person, k, day, st.slot, st.from_day, st.factor, st.thin_key, person_id)
    np.testing.assert_array_equal(keep_events(*args), keep_events(*args, st.has))


def test_add_at_float32_is_numpy_add_at_record_by_record() -> None:
    rng = np.random.default_rng(2)
    person = rng.integers(0, 300, 20_000)  # many records per person: the order matters
    amount = rng.lognormal(3.0, 2.0, person.size)
    for share, values in ((0.37, amount), (1.0, amount), (0.5, np.asarray(123.456))):
        want = rng.uniform(0, 1e4, 300).astype(np.float32)
        got = want.copy()
        np.add.at(want, person, (np.broadcast_to(values, person.shape) * share).astype(np.float32))
        add_at_float32(got, person, values, share)
        np.testing.assert_array_equal(got, want)


def test_referrals_are_the_eligible_below_their_keyed_uniform() -> None:
    rng = np.random.default_rng(3)
    size = 10_000
    person_id = np.sort(rng.choice(10**7, size, replace=False)).astype(np.int64)
    eligible = rng.random(size) < 0.3
    key = crn.key(7, 0, "test.refer", 0)
    sizes = []
    for person, day, p in (
        (rng.integers(0, size, 30_000).astype(np.int32), 17, 0.05),
        (rng.integers(0, size, 500), 364, 1.0),
        (np.empty(0, np.int64), 3, 0.5),
    ):
        # the numpy code it replaced
        want = person[eligible[person]]
        u = crn.uniforms(key, person_id[want], np.full(want.size, day))
        want = want[u < p]
        got = referrals(person, eligible, person_id, key, day, p)
        np.testing.assert_array_equal(got, want)
        # the eligible given as one bit per person: the same referrals
        bits = np.packbits(eligible, bitorder="little")
        np.testing.assert_array_equal(
            referrals(person, eligible, person_id, key, day, p, bits), want
        )
        sizes.append(got.size)
    assert sizes[0] > 100 and sizes[1] > 100 and sizes[2] == 0  # some referred, some not


def test_no_top_up_event_exactly_when_every_uniform_is_at_most_exp_minus_mean() -> None:
    """``DayEffects.set`` skips the Poisson inversion when no top-up event can be drawn:
    for the means the inversion sums from numpy's exp, none is drawn exactly when
    ``u <= exp(-mean)``."""
    rng = np.random.default_rng(5)
    mean = np.concatenate(
        [rng.uniform(0, 1e-12, 5_000), rng.uniform(0, 0.5, 5_000), rng.uniform(0, 12, 5_000)]
    )
    u = crn.uniforms(crn.key(9, 0, "test.top_up", 0), np.arange(mean.size))
    u[:50] = np.exp(-mean[:50])  # at the boundary itself
    drawn = crn.poisson_inverse(mean, u)
    np.testing.assert_array_equal(drawn == 0, u <= np.exp(-mean))
    assert (drawn > 0).any() and (drawn == 0).any()


def test_person_spend_adds_every_payer_and_the_detail_as_np_add_at_in_turn() -> None:
    from model.spend import PersonSpend

    rng = np.random.default_rng(6)
    payers = ("nhs_acute", "la_social_care", "person")
    spend = PersonSpend(400, payers, detail=("care_home",))
    want_rows = np.zeros((3, 400), np.float32)
    want_detail = np.zeros(400, np.float32)
    cases = [
        ("care_home", (("la_social_care", 0.63), ("person", 0.37))),
        ("ae", (("nhs_acute", 1.0),)),
        ("care_home", (("la_social_care", 1.0), ("la_social_care", 0.5))),  # named twice
    ]
    for service, shares in cases * 2:
        person = rng.integers(0, 400, 5_000)
        amount = rng.lognormal(3.0, 2.0, person.size)
        spend.add(service, person, amount, shares)
        for payer, share in shares:
            row = want_rows[payers.index(payer)]
            np.add.at(row, person, (amount * share).astype(np.float32))
        if service == "care_home":
            np.add.at(want_detail, person, (amount * 1.0).astype(np.float32))
    np.testing.assert_array_equal(spend.current, want_rows)
    np.testing.assert_array_equal(spend.detail["care_home"], want_detail)
