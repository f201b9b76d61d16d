"""``greedy_book`` (general practice booking) against a brute-force sequential booking.

The reference books requests one at a time, in order of (diary, earliest day) with ties in
the order given: each takes the first day on or after its earliest day whose remaining free
minutes are above zero, and then uses its minutes from that day on. A booking that starts in
a day's last free minutes runs over into the following days of the same diary, exactly as
``greedy_book`` does (its start positions ``s_j = max(f_j, s_{j-1} + d_{j-1})`` on the
line of the diary's cumulative free minutes use up later days' minutes first). A request
whose diary has no free time left on or after its earliest day (or whose earliest day is
beyond the horizon) gets -1.

The reference works in exact rational arithmetic, so it is the booking the docstring
describes. With whole (or binary-fraction) minutes floating point is exact, and the
vectorised booking must equal the reference exactly; with the model's fractional minutes
(7.1-minute telephone appointments, free minutes from capacity x list share) it must too.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.services import _gp_kernels
from model.services.primary_care import greedy_book, greedy_book_vectorised

Inputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def reference_book(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """Sequential first-come booking, in exact arithmetic (see the module docstring)."""
    n_days = free.shape[1]
    remaining = [[Fraction(float(x)) for x in row] for row in free]
    out = np.full(diary.shape[0], -1, dtype=np.int64)
    order = sorted(range(diary.shape[0]), key=lambda j: (int(diary[j]), int(earliest[j])))
    for j in order:
        row = remaining[int(diary[j])]
        day = next((t for t in range(int(earliest[j]), n_days) if row[t] > 0), None)
        if day is None:
            continue
        out[j] = day
        left = Fraction(float(minutes[j]))
        for t in range(day, n_days):  # run over into the following days
            take = min(row[t], left)
            row[t] -= take
            left -= take
            if left == 0:
                break
    return out


@st.composite
def booking_inputs(draw: st.DrawFn, value: st.SearchStrategy[float]) -> Inputs:
    """Random diaries, days, free minutes (``value`` or none), durations and earliest days.

    Durations are quarters of a minute (exact in floating point), up to 30 minutes, so that
    one booking can run over several days.
    """
    n_diaries = draw(st.integers(1, 5))
    n_days = draw(st.integers(1, 8))
    cells = n_diaries * n_days
    free = draw(st.lists(st.one_of(st.just(0.0), value), min_size=cells, max_size=cells))
    n = draw(st.integers(0, 40))
    diary = draw(st.lists(st.integers(0, n_diaries - 1), min_size=n, max_size=n))
    # earliest days include days beyond the horizon (no free time there)
    earliest = draw(st.lists(st.integers(0, n_days + 2), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(1, 120).map(lambda x: x / 4), min_size=n, max_size=n))
    return (
        np.array(diary, dtype=np.int64),
        np.array(earliest, dtype=np.int64),
        np.array(minutes, dtype=np.float64),
        np.array(free, dtype=np.float64).reshape(n_diaries, n_days),
    )


def assert_books_as_reference(inputs: Inputs) -> None:
    diary, earliest, minutes, free = inputs
    got = greedy_book(diary, earliest, minutes, free)
    expected = reference_book(diary, earliest, minutes, free)
    assert got.dtype.kind == "i" and got.shape == diary.shape
    np.testing.assert_array_equal(
        got,
        expected,
        err_msg=f"diary={diary.tolist()} earliest={earliest.tolist()} "
        f"minutes={minutes.tolist()} free={free.tolist()}",
    )


# ----------------------------------------------------------------------------- exact values


@settings(max_examples=400, deadline=None)
@given(booking_inputs(st.integers(1, 40).map(float)))
def test_whole_free_minutes_book_as_the_sequential_reference(inputs: Inputs) -> None:
    assert_books_as_reference(inputs)


@settings(max_examples=300, deadline=None)
@given(booking_inputs(st.integers(1, 400).map(lambda x: x / 8)))
def test_binary_fraction_free_minutes_book_as_the_sequential_reference(inputs: Inputs) -> None:
    assert_books_as_reference(inputs)


def test_the_worked_examples_of_the_semantics() -> None:
    free = np.array([[5.0, 0.0, 10.0, 10.0], [0.0, 3.0, 0.0, 0.0]])
    diary = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    earliest = np.array([0, 0, 3, 0, 0, 0, 1, 9])
    minutes = np.array([4.0, 4.0, 2.0, 9.0, 2.0, 2.0, 2.0, 1.0])
    # diary 0: 4 min on day 0; 4 more start in day 0's last minute and run over into day 2
    # (day 1 has no time, day 2 loses 3); 9 start in day 2 (7 left) and run over into
    # day 3 (2 used); the request from day 3 comes after them and gets day 3. Diary 1: two
    # requests fit day 1 (the second squeezed in), the third finds no time left on or after
    # its earliest day. Earliest beyond the horizon: -1.
    np.testing.assert_array_equal(
        greedy_book(diary, earliest, minutes, free), [0, 0, 3, 2, 1, 1, -1, -1]
    )
    assert_books_as_reference((diary, earliest, minutes, free))


def test_no_requests_and_no_free_time() -> None:
    empty = np.empty(0, dtype=np.int64)
    assert greedy_book(empty, empty, np.empty(0), np.ones((2, 3))).shape == (0,)
    out = greedy_book(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 1.0]), np.zeros((2, 3)))
    np.testing.assert_array_equal(out, [-1, -1])


# ----------------------------------------------------------------------------- model values
# The model's free minutes are fractional (capacity x list share x GP time factor) and so are
# its durations (7.1-minute GP telephone appointments). Small cases of what the property below
# finds: one request, plenty of free time in its diary, and a first free minute that falls
# exactly on a boundary between cells of the (diary, day) free-minute line, which the
# vectorised running maximum (offset by diary x a large number) no longer hits exactly.


@pytest.mark.parametrize(
    ("free", "diary", "earliest", "expected"),
    [
        # diary 1 has 10 free minutes on day 0 (greedy_book currently refuses: -1)
        ([[0.2], [10.0]], 1, 0, 0),
        # the request wants day 1 (currently booked on day 0, before its earliest day)
        ([[0.1, 0.0], [0.1, 10.0]], 1, 1, 1),
        # the request wants a day beyond the horizon (currently booked on day 0)
        ([[0.1], [0.1]], 1, 1, -1),
    ],
)
def test_fractional_free_minutes_at_a_diary_boundary(
    free: list[list[float]], diary: int, earliest: int, expected: int
) -> None:
    inputs = (np.array([diary]), np.array([earliest]), np.array([10.0]), np.array(free))
    assert reference_book(*inputs)[0] == expected
    assert greedy_book(*inputs)[0] == expected, "greedy_book misplaces the request"


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_diaries=st.integers(1, 30),
    n_days=st.integers(1, 10),
    n=st.integers(1, 60),
)
def test_model_like_minutes_book_as_the_sequential_reference(
    seed: int, n_diaries: int, n_days: int, n: int
) -> None:
    # continuous free minutes (no exact ties between sums of durations and day boundaries)
    rng = np.random.default_rng(seed)
    shape = (n_diaries, n_days)
    free = np.where(rng.random(shape) < 0.3, 0.0, rng.uniform(0.5, 300.0, shape))
    diary = rng.integers(0, n_diaries, n)
    earliest = rng.integers(0, n_days + 2, n)
    minutes = rng.choice(np.array([10.0, 7.1, 5.0, 15.0, 7.0]), n)
    got = greedy_book(diary, earliest, minutes, free)
    assert np.all((got == -1) | (got >= earliest)), "a request was booked before its earliest day"
    assert_books_as_reference((diary, earliest, minutes, free))


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_diaries=st.integers(1, 30),
    n_days=st.integers(1, 10),
    n=st.integers(1, 200),
)
def test_the_compiled_booking_is_the_vectorised_one_bit_for_bit(
    seed: int, n_diaries: int, n_days: int, n: int
) -> None:
    # the compiled pass repeats the vectorised floating-point operations in the same order
    rng = np.random.default_rng(seed)
    shape = (n_diaries, n_days)
    free = np.where(rng.random(shape) < 0.3, 0.0, rng.uniform(0.5, 30.0, shape))
    diary = rng.integers(0, n_diaries, n)
    earliest = rng.integers(0, n_days + 3, n)
    minutes = rng.choice(np.array([10.0, 7.1, 5.0, 15.0, 7.0]), n)
    np.testing.assert_array_equal(
        greedy_book(diary, earliest, minutes, free),
        greedy_book_vectorised(diary, earliest, minutes, free),
    )


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_diaries=st.integers(1, 12), n=st.integers(1, 300))
def test_booking_ahead_builds_the_free_minutes_of_the_numpy_expression(
    seed: int, n_diaries: int, n: int
) -> None:
    # the advance booking builds max(outer(capacity, working) - booked ring columns, 0) as it
    # books; it must book as greedy_book_vectorised on that array
    rng = np.random.default_rng(seed)
    ring, n_days = 12, 11
    day_cap = rng.uniform(0.0, 40.0, n_diaries)
    working = rng.random(n_days) < 0.7
    booked = np.where(
        rng.random((n_diaries, ring)) < 0.5, rng.uniform(0.0, 50.0, (n_diaries, ring)), 0.0
    )
    first_col = int(rng.integers(0, ring))
    diary = rng.integers(0, n_diaries, n)
    earliest = rng.integers(0, n_days + 3, n)
    minutes = rng.choice(np.array([10.0, 7.1, 5.0, 15.0, 7.0]), n)
    cols = (first_col + np.arange(n_days)) % ring
    free = np.maximum(np.outer(day_cap, working) - booked[:, cols], 0.0)
    np.testing.assert_array_equal(
        _gp_kernels.book_ahead(diary, earliest, minutes, day_cap, working, booked, first_col),
        greedy_book_vectorised(diary, earliest, minutes, free),
    )
