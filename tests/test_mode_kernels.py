"""The levers' shift of GP request modes: its compiled pass
(``model.services._mode_kernels.shift_modes``) against its numpy reference
(``shift_modes_numpy``, the numpy code of ``PrimaryCareService._shift_modes`` it replaced).

The pass must give exactly the same modes (not merely close ones), so that scenarios' tables
do not move.
"""

from __future__ import annotations

import numpy as np

from model import crn
from model.services._mode_kernels import shift_modes, shift_modes_numpy

ONLINE = 2


def _case(rng: np.random.Generator, n_people: int, n_req: int, factors: np.ndarray) -> tuple:
    person_id = np.sort(rng.choice(10**7, n_people, replace=False)).astype(np.int64)
    segment = rng.integers(0, 5, n_people).astype(np.int8)
    preference = rng.dirichlet(np.ones(3), 5)
    preference[0] = (0.0, 0.0, 1.0)  # no offline preference (the 1e-12 floor)
    preference[1] = (0.5, 0.5, 0.0)  # no online preference
    person = rng.integers(0, n_people, n_req).astype(np.int32)
    k = rng.integers(0, 40, n_req).astype(np.int32)
    mode = rng.integers(0, 3, n_req).astype(np.int8)
    shift = rng.choice(factors, n_people)
    return person_id, segment, preference, person, k, mode, shift


def test_shift_modes_is_its_numpy_reference() -> None:
    rng = np.random.default_rng(11)
    key = crn.key(3, 0, "gp.mode_shift", 1)
    to_key = crn.key(3, 0, "gp.mode_shift_to", 1)
    moved = 0
    for factors in (
        np.array([1.0, 1.5, 0.5, 3.0, 0.0, 1.0 + 1e-15, 50.0]),
        np.array([0.2, 0.9]),
        np.array([1.2, 2.0]),
    ):
        person_id, segment, preference, person, k, mode, shift = _case(rng, 5_000, 40_000, factors)
        pid = person_id[person]
        want = shift_modes_numpy(
            key, to_key, person, pid, k, mode, shift[person], segment, preference, ONLINE
        )
        got = shift_modes(key, to_key, person, pid, k, mode, shift, segment, preference, ONLINE)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        moved += int((got != mode).sum())
    assert moved > 1_000  # modes did move, both ways
    # no factor differs from 1: the modes themselves, unchanged
    person_id, segment, preference, person, k, mode, shift = _case(rng, 100, 500, np.array([1.0]))
    got = shift_modes(
        key, to_key, person, person_id[person], k, mode, shift, segment, preference, ONLINE
    )
    assert got is mode
    empty = np.empty(0, np.int8)
    assert (
        shift_modes(
            key,
            to_key,
            np.empty(0, np.int32),
            np.empty(0, np.int64),
            np.empty(0, np.int32),
            empty,
            shift,
            segment,
            preference,
            ONLINE,
        )
        is empty
    )


def test_shift_modes_moves_the_online_share_by_the_factor() -> None:
    """More online (x 1.5) raises the online share of a segment to about p x 1.5; less online
    (x 0.5) halves it."""
    rng = np.random.default_rng(2)
    n = 200_000
    segment = np.zeros(n, np.int8)
    preference = np.array([[0.5, 0.3, 0.2]])
    person = np.arange(n, dtype=np.int64)
    u = rng.random(n)
    mode = np.where(u < 0.5, 0, np.where(u < 0.8, 1, 2)).astype(np.int8)
    k = np.zeros(n, np.int32)
    key, to_key = crn.key(1, 0, "gp.mode_shift", 0), crn.key(1, 0, "gp.mode_shift_to", 0)
    for factor, share in ((1.5, 0.3), (0.5, 0.1)):
        shift = np.full(n, factor)
        got = shift_modes(key, to_key, person, person, k, mode, shift, segment, preference, 2)
        assert abs(np.mean(got == 2) - share) < 0.005
