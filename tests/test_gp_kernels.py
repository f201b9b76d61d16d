"""The compiled GP day (``model.services.gp_diary``, ``model.services._gp_kernels``) against
numpy references.

The diary (a ring of chunked record lists) must hold what per-day lists of request columns
would: each day's appointments in the order booked, the booked minutes added cell by cell
in that order (``np.add.at``), people re-indexed and the departed dropped at a year
boundary, and chunks reused as days pass and the ring wraps. A day's attendance
(``attend_day``) must make the decisions of the numpy expressions it replaces: the people
alive that day, the wait and its band (``np.searchsorted``), DNA from ``crn.uniforms`` and
``rate * rr_wait[band] * rr_pair[entry, level] / mean``, the tallies (``np.add.at``), the
ledger keys and the minutes used summed as ``np.sum`` sums them. Same-day booking, the
advance offers with their uniforms, how offers end, and the year's request decisions are
checked the same way, with levers' per-person multipliers and without; so is the lookup of
people by id (``World.index_of``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import crn
from model.services import _gp_kernels
from model.services.gp_diary import CHUNK, FIELDS, Diary, pairwise_sum
from model.services.primary_care import greedy_book_vectorised

MINUTES = np.array([[10.0, 7.1, 5.0], [15.0, 10.0, 7.0], [15.0, 10.0, 7.0]])
N_ROLES = _gp_kernels.N_ROLES
EDGES = np.array([1, 2, 8, 15, 29])


def requests(rng: np.random.Generator, n: int, people: int, n_diaries: int) -> dict:
    idx = rng.integers(0, people, n)
    return {
        "idx": idx.astype(np.int32),
        "id": (idx * 7 + 3).astype(np.int64),
        "k": rng.integers(0, 40, n).astype(np.int32),
        "kind": rng.integers(0, 2, n).astype(np.int8),
        "lead": rng.integers(0, 57, n).astype(np.int16),
        "diary": rng.integers(0, n_diaries, n).astype(np.int32),
        "mode": rng.integers(0, 3, n).astype(np.int8),
        "attempt": rng.integers(0, 3, n).astype(np.int8),
    }


class ReferenceDiary:
    """Per-day lists of request columns, and ``np.add.at`` on the booked minutes."""

    def __init__(self, horizon: int, n_diaries: int) -> None:
        self.horizon = horizon
        self.days: dict[int, list[dict[str, np.ndarray]]] = {}
        self.booked = np.zeros((n_diaries, horizon))

    def append(self, req: dict, rows: np.ndarray, day: np.ndarray, booked_on: np.ndarray) -> None:
        cols = {k: v[rows] for k, v in req.items()}
        cols["booked_on"] = booked_on.astype(np.int32)
        minutes = MINUTES[cols["diary"] % N_ROLES, cols["mode"]]
        np.add.at(self.booked, (cols["diary"], day % self.horizon), minutes)
        for d in np.unique(day):
            mine = day == d
            self.days.setdefault(int(d), []).append({k: v[mine] for k, v in cols.items()})

    def columns(self, day: int) -> dict[str, np.ndarray]:
        parts = self.days.get(day, [])
        return {
            name: np.concatenate([p[name] for p in parts]) if parts else np.empty(0, dtype)
            for name, dtype in FIELDS
        }


def assert_same_days(diary: Diary, ref: ReferenceDiary) -> None:
    assert sorted(diary) == sorted(d for d, p in ref.days.items() if sum(x["idx"].size for x in p))
    assert diary.size == sum(x["idx"].size for p in ref.days.values() for x in p)
    for day in ref.days:
        got, want = diary.columns(day), ref.columns(day)
        for name, dtype in FIELDS:
            assert got[name].dtype == dtype
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"day {day}, {name}")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), horizon=st.integers(3, 40), days=st.integers(1, 60))
def test_the_diary_holds_what_per_day_lists_hold(seed: int, horizon: int, days: int) -> None:
    rng = np.random.default_rng(seed)
    n_diaries, people = 7, 500
    diary = Diary(horizon, chunks=2)  # small: the pool grows
    ref = ReferenceDiary(horizon, n_diaries)
    booked = np.zeros((n_diaries, horizon))
    for today in range(days):
        # yesterday's appointments happened and the day is released; new bookings go to
        # days within the horizon (today included, as same-day bookings are)
        diary.release(today - 1)
        ref.days.pop(today - 1, None)
        n = int(rng.choice([0, 3, CHUNK + 5, 2 * CHUNK]))
        req = requests(rng, n, people, n_diaries)
        rows = np.flatnonzero(rng.random(n) < 0.7)
        day = today + rng.integers(0, horizon, rows.size)
        booked_on = today - rng.integers(0, 3, rows.size)
        diary.append(req, rows, day, booked_on, MINUTES, booked)
        ref.append(req, rows, day, booked_on)
        if rng.random() < 0.2:  # a year boundary: some people leave, the rest move
            new_pos = np.where(rng.random(people) < 0.8, rng.permutation(people), -1)
            diary.remap(new_pos[diary.records("idx")])
            for parts in ref.days.values():
                for i, part in enumerate(parts):
                    new = new_pos[part["idx"]]
                    kept = {k: v[new >= 0] for k, v in part.items()}
                    kept["idx"] = new[new >= 0].astype(np.int32)
                    parts[i] = kept
        np.testing.assert_array_equal(booked, ref.booked)
        assert_same_days(diary, ref)


def test_a_slot_holding_another_day_is_an_error() -> None:
    diary = Diary(5)
    req = requests(np.random.default_rng(1), 2, 10, 3)
    booked = np.zeros((3, 5))
    diary.append(req, np.array([0]), np.array([3]), np.array([0]), MINUTES, booked)
    with pytest.raises(RuntimeError, match="beyond the horizon"):
        diary.append(req, np.array([1]), np.array([8]), np.array([0]), MINUTES, booked)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 4097, 65_537])
def test_pairwise_sum_is_numpys_sum(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in (rng.choice(MINUTES.ravel(), n), rng.standard_normal(n) * 1e6):
        assert pairwise_sum(values) == float(np.sum(values))


def reference_attend(
    cols: dict[str, np.ndarray], today: int, world: dict, by_practice: np.ndarray, hist: np.ndarray
) -> dict:
    """The numpy expressions of a day's attendance (the GP service before it was compiled)."""
    idx = cols["idx"]
    death = world["death_day"][idx].astype(np.int64)
    alive = np.flatnonzero((death < 0) | (world["day0"] + death > today))
    c = {k: v[alive] for k, v in cols.items()}
    idx = c["idx"]
    wait = today - c["booked_on"].astype(np.int64)
    band = np.searchsorted(EDGES, wait, side="right")
    u = crn.uniforms(world["key"], c["id"], c["k"].astype(np.int64) * 16 + c["attempt"])
    rr = world["rr_pair"][world["entry"][idx] - 1, world["level"][idx] - 1]
    dna = u < world["rate"] * world["rr_wait"][band] * rr / world["mean"]
    if world["multiplier"] is not None:
        dna = (
            u
            < world["rate"] * world["rr_wait"][band] * rr / world["mean"] * world["multiplier"][idx]
        )
    practice = c["diary"] // N_ROLES
    code = c["mode"].astype(np.int64) * N_ROLES + c["diary"] % N_ROLES
    np.add.at(by_practice, (dna.astype(np.int64), practice, code), 1)
    np.add.at(hist, (practice, np.minimum(wait, hist.shape[1] - 1)), 1)
    strata = world["strata"][idx]
    keys = code * world["n_strata"] + strata
    return {
        "seen_keys": keys[~dna],
        "missed_keys": keys[dna],
        "seen": idx[~dna],
        "missed": idx[dna],
        "wait": wait.astype(float),
        "strata": strata,
        "booking": c["kind"].astype(np.int64) + 1,
        "band": band,
        "used": float(MINUTES[c["diary"] % N_ROLES, c["mode"]].sum()),
    }


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3 * CHUNK),
    lever=st.booleans(),
    bits=st.booleans(),
)
def test_a_day_is_attended_as_the_numpy_expressions_decide(
    seed: int, n: int, lever: bool, bits: bool
) -> None:
    rng = np.random.default_rng(seed)
    people, n_practices, horizon, day0, today = 400, 4, 30, 730, 750
    world = {
        "day0": day0,
        "death_day": np.where(rng.random(people) < 0.2, rng.integers(0, 365, people), -1).astype(
            np.int16
        ),
        "key": np.uint64(rng.integers(0, 2**63)),
        "entry": rng.integers(1, 5, people).astype(np.int8),
        "level": rng.integers(1, 5, people).astype(np.int8),
        "rr_pair": rng.uniform(0.5, 2.0, (4, 4)),
        "rr_wait": rng.uniform(0.5, 3.0, 6),
        "rate": 0.3,
        "mean": 1.1,
        "multiplier": rng.uniform(0.0, 2.0, people) if lever else None,
        "strata": rng.integers(0, 50_000, people).astype(np.int32),
        "n_strata": 50_000,
    }
    multiplier_bits = None
    if lever and bits:  # many multipliers of 1, read only where a bit (a superset) is set
        m = world["multiplier"]
        assert isinstance(m, np.ndarray)
        m[rng.random(people) < 0.6] = 1.0
        multiplier_bits = np.packbits((m != 1.0) | (rng.random(people) < 0.1), bitorder="little")
    req = requests(rng, n, people, n_practices * N_ROLES)
    booked_on = today - rng.integers(0, 60, n)
    diary = Diary(horizon, chunks=1)
    booked = np.zeros((n_practices * N_ROLES, horizon))
    diary.append(req, np.arange(n), np.full(n, today), booked_on, MINUTES, booked)
    cols = diary.columns(today)
    shape = ((2, n_practices, 9), (n_practices, horizon + 1))
    want_tallies = [np.zeros(shape[0], np.int64), np.zeros(shape[1], np.int64)]
    want = reference_attend(cols, today, world, *want_tallies)
    tallies = [np.zeros(shape[0], np.int64), np.zeros(shape[1], np.int64)]
    got = _gp_kernels.attend_day(
        diary,
        today,
        day0,
        world["death_day"],
        world["key"],
        16,
        EDGES,
        world["entry"],
        world["level"],
        world["rr_pair"],
        world["rr_wait"],
        world["rate"],
        world["mean"],
        world["multiplier"],
        world["strata"],
        world["n_strata"],
        horizon,
        MINUTES,
        *tallies,
        multiplier_bits,
    )
    for name in ("seen_keys", "seen", "wait", "strata", "booking", "band"):
        np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=name)
    # the missed are kept from the back: the same records, in reverse
    np.testing.assert_array_equal(got.missed_keys[::-1], want["missed_keys"])
    np.testing.assert_array_equal(got.missed[::-1], want["missed"])
    assert got.used == want["used"]
    np.testing.assert_array_equal(tallies[0], want_tallies[0])
    np.testing.assert_array_equal(tallies[1], want_tallies[1])
    assert today not in diary and diary.size == 0  # the day is released


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 500))
def test_the_day_splits_the_living_by_kind(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    people, day0, today = 300, 365, 400
    death = np.where(rng.random(people) < 0.3, rng.integers(0, 365, people), -1).astype(np.int16)
    req = requests(rng, n, people, 3 * N_ROLES)
    same, pre = _gp_kernels.split_requests(req, death, day0, today)
    d = death[req["idx"]].astype(np.int64)
    alive = (d < 0) | (day0 + d > today)
    for got, rows in ((same, alive & (req["kind"] == 0)), (pre, alive & (req["kind"] == 1))):
        assert list(got) == list(req)
        for name, col in req.items():
            assert got[name].dtype == col.dtype
            np.testing.assert_array_equal(got[name], col[rows], err_msg=name)
    # with the person codes read in the same pass: the same split, and strata[idx] of each
    strata = rng.integers(0, 50_000, people).astype(np.int32)
    same_c, pre_c, same_codes, pre_codes = _gp_kernels.split_coded(req, death, day0, today, strata)
    for got, split, codes in ((same_c, same, same_codes), (pre_c, pre, pre_codes)):
        for name in req:
            np.testing.assert_array_equal(got[name], split[name], err_msg=name)
        assert codes.dtype == strata.dtype
        np.testing.assert_array_equal(codes, strata[split["idx"]])
    # two lists (the waiting requests and the retries) split as their concatenation is
    cut = int(rng.integers(0, n + 1))
    first = {name: col[:cut] for name, col in req.items()}
    second = {name: col[cut:] for name, col in req.items()}
    for more in (second, None):
        head = first if more is not None else req
        got2 = _gp_kernels.split_coded(head, death, day0, today, strata, more)
        for got, split, codes in zip(got2[:2], (same, pre), got2[2:], strict=True):
            for name in req:
                assert got[name].dtype == req[name].dtype
                np.testing.assert_array_equal(got[name], split[name], err_msg=name)
            np.testing.assert_array_equal(codes, strata[split["idx"]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), from_lead=st.booleans())
def test_offers_and_draws_are_the_numpy_expressions(seed: int, n: int, from_lead: bool) -> None:
    rng = np.random.default_rng(seed)
    people, n_diaries, horizon, today = 300, 3 * N_ROLES, 20, 1000
    req = requests(rng, n, people, n_diaries)
    req["lead"] = rng.integers(1, 15, n).astype(np.int16)
    segment = rng.integers(0, 4, people).astype(np.int8)
    working = np.arange(today + 60) % 7 < 5
    days = np.arange(working.size)
    next_working = np.minimum.accumulate(np.where(working, days, working.size)[::-1])[::-1]
    day_cap = rng.uniform(0.0, 60.0, n_diaries)
    booked = np.where(
        rng.random((n_diaries, horizon)) < 0.5, rng.uniform(0, 50, (n_diaries, horizon)), 0
    )
    ahead = working[today + 1 : today + horizon]
    key = np.uint64(rng.integers(0, 2**63))
    offered, want, seg, u = _gp_kernels.offer_and_draw(
        req, from_lead, today, next_working, segment, key, 16, 3, 3 if from_lead else 2, MINUTES,
        day_cap, ahead, booked,
    )  # fmt: skip
    # the numpy expressions of the GP service before they were compiled
    first = today + 1
    want_np = next_working[today + req["lead"].astype(np.int64)] if from_lead else np.full(n, first)
    cols = (first + np.arange(horizon - 1)) % horizon
    free = np.maximum(np.outer(day_cap, ahead) - booked[:, cols], 0.0)
    minutes = MINUTES[req["diary"] % N_ROLES, req["mode"]]
    col = greedy_book_vectorised(req["diary"], np.maximum(want_np - first, 0), minutes, free)
    np.testing.assert_array_equal(offered, np.where(col >= 0, first + col, -1))
    np.testing.assert_array_equal(want, want_np)
    np.testing.assert_array_equal(seg, segment[req["idx"]])
    index = req["k"].astype(np.int64) * 16 + req["attempt"]
    for j in range(u.shape[0]):
        np.testing.assert_array_equal(u[j], crn.uniforms(key, req["id"], index * 3 + j))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 9000))
def test_request_decisions_look_up_the_words_of_one_hash(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    people, practices = 500, 7
    ids = np.sort(rng.choice(10**6, people, replace=False)).astype(np.int64)
    person = rng.integers(0, people, n).astype(np.int32)
    k = rng.integers(0, 30, n).astype(np.int32)
    segment = rng.integers(0, 4, people).astype(np.int8)
    practice = rng.integers(0, practices, people).astype(np.int32)
    words = 1 << 16
    tables = (
        rng.random(words) < 0.4,
        rng.integers(0, 3, (4, words)).astype(np.int8),
        rng.integers(0, N_ROLES, words).astype(np.int32),
        rng.integers(1, 57, words).astype(np.int16),
    )
    key = np.uint64(rng.integers(0, 2**63))
    kind, lead, diary, mode, pid = _gp_kernels.decide(
        key, ids, person, k, segment, practice, N_ROLES, tables
    )
    # the numpy reference: the four 16-bit words of crn's event hash, looked up
    z = crn._event_hash(key, ids, person, k)
    w = [((z >> np.uint64(16 * j)) & np.uint64(0xFFFF)).astype(np.int64) for j in range(4)]
    same = tables[0][w[0]]
    np.testing.assert_array_equal(kind, np.where(same, 0, 1))
    np.testing.assert_array_equal(lead, np.where(same, 0, tables[3][w[3]]))
    np.testing.assert_array_equal(diary, practice[person] * N_ROLES + tables[2][w[2]])
    np.testing.assert_array_equal(mode, tables[1][segment[person], w[1]])
    np.testing.assert_array_equal(pid, ids[person])


def test_positions_by_id_are_those_a_search_finds(baseline_scenario) -> None:  # type: ignore[no-untyped-def]
    """``World.index_of`` searches within buckets of the sorted ids; it must find what a
    binary search of all the ids finds, for ids present, gone, negative or beyond the
    largest, with ids dense or sparse."""
    import dataclasses

    from model.engine import Engine

    w = Engine(baseline_scenario.with_run(population=3_000, years=1), 0).world
    rng = np.random.default_rng(3)

    def searched(ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(ids, query), ids.size - 1)
        return np.where(ids[pos] == query, pos, -1)

    for ids in (
        np.sort(rng.choice(5_000, 3_000, replace=False)),  # dense: small buckets
        np.sort(rng.choice(10**9, 3_000, replace=False)),  # sparse: wide buckets
    ):
        w.pop = dataclasses.replace(w.pop, person_id=ids.astype(np.int64))
        query = np.concatenate([ids[rng.integers(0, ids.size, 500)], rng.integers(-5, 10**9, 500)])
        np.testing.assert_array_equal(w.index_of(query), searched(ids, query))
        np.testing.assert_array_equal(w.index_of(query[:0]), np.empty(0, np.int64))


def test_positions_of_the_people_before_entrants_are_where_they_were(baseline_scenario) -> None:  # type: ignore[no-untyped-def]
    """The ids of a population before entrants joined (a prefix of today's ids) are found at
    their own positions without a search; any other query of the same length is searched."""
    import dataclasses

    from model.engine import Engine

    w = Engine(baseline_scenario.with_run(population=3_000, years=1), 0).world
    rng = np.random.default_rng(4)
    ids = np.sort(rng.choice(10**6, 12_000, replace=False)).astype(np.int64)
    w.pop = dataclasses.replace(w.pop, person_id=ids)

    def searched(query: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(ids, query), ids.size - 1)
        return np.where(ids[pos] == query, pos, -1)

    prefix = ids[:10_000].copy()
    np.testing.assert_array_equal(w.index_of(prefix), np.arange(10_000))
    changed = prefix.copy()
    changed[5_000] = ids[10_500]  # same ends, one id elsewhere
    np.testing.assert_array_equal(w.index_of(changed), searched(changed))
    gone = np.delete(prefix, 77)  # a survivor's population: positions move
    np.testing.assert_array_equal(w.index_of(gone), searched(gone))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 600))
def test_same_day_booking_is_the_numpy_booking(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    n_diaries, horizon, today = 4 * N_ROLES, 15, 500
    req = requests(rng, n, 300, n_diaries)
    minutes_today = rng.uniform(0.0, 200.0, n_diaries)
    booked = np.where(
        rng.random((n_diaries, horizon)) < 0.5, rng.uniform(0, 150, (n_diaries, horizon)), 0
    )
    ring = today % horizon
    want_booked = booked.copy()
    # the numpy version: greedy_book into today's free minutes, then commit the served
    free = np.maximum(minutes_today - booked[:, ring], 0.0)
    minutes = MINUTES[req["diary"] % N_ROLES, req["mode"]]
    col = greedy_book_vectorised(req["diary"], np.zeros(n, dtype=np.int64), minutes, free[:, None])
    served = np.flatnonzero(col == 0)
    ref = ReferenceDiary(horizon, n_diaries)
    ref.booked = want_booked
    ref.append(req, served, np.full(served.size, today), np.full(served.size, today))
    got_served, failed = _gp_kernels.book_today(req, minutes_today, booked, ring, MINUTES)
    np.testing.assert_array_equal(got_served, served)
    np.testing.assert_array_equal(failed, np.flatnonzero(col != 0))
    # the served's minutes added as the diary's append adds them (the same bits)
    np.testing.assert_array_equal(booked, want_booked)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3 * CHUNK),
    lever=st.booleans(),
)
def test_same_day_bookings_are_attended_from_the_requests_as_from_the_diary(
    seed: int, n: int, lever: bool
) -> None:
    """``attend_day(..., requests=(req, rows))`` gives what the diary gave when the booked
    requests were appended to today (booked today) and attended from there."""
    rng = np.random.default_rng(seed)
    people, n_practices, horizon, day0, today = 400, 4, 30, 730, 750
    death_day = np.where(rng.random(people) < 0.2, rng.integers(0, 365, people), -1)
    args = (
        day0,
        death_day.astype(np.int16),
        np.uint64(rng.integers(0, 2**63)),
        16,
        EDGES,
        rng.integers(1, 5, people).astype(np.int8),
        rng.integers(1, 5, people).astype(np.int8),
        rng.uniform(0.5, 2.0, (4, 4)),
        rng.uniform(0.5, 3.0, 6),
        0.3,
        1.1,
        rng.uniform(0.0, 2.0, people) if lever else None,
        rng.integers(0, 50_000, people).astype(np.int32),
        50_000,
        horizon,
        MINUTES,
    )
    req = requests(rng, n, people, n_practices * N_ROLES)
    rows = np.flatnonzero(rng.random(n) < 0.7)
    shape = ((2, n_practices, 9), (n_practices, horizon + 1))
    diary = Diary(horizon, chunks=1)
    booked = np.zeros((n_practices * N_ROLES, horizon))
    diary.append(req, rows, np.full(rows.size, today), np.full(rows.size, today), MINUTES, booked)
    want_tallies = [np.zeros(shape[0], np.int64), np.zeros(shape[1], np.int64)]
    want = _gp_kernels.attend_day(diary, today, *args, *want_tallies)
    tallies = [np.zeros(shape[0], np.int64), np.zeros(shape[1], np.int64)]
    empty = Diary(horizon, chunks=1)
    got = _gp_kernels.attend_day(empty, today, *args, *tallies, None, (req, rows))
    for name in ("seen_keys", "missed_keys", "seen", "missed", "wait", "strata", "booking", "band"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.used == want.used
    np.testing.assert_array_equal(tallies[0], want_tallies[0])
    np.testing.assert_array_equal(tallies[1], want_tallies[1])
    assert empty.size == 0  # nothing went into the diary


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 600),
    same_day=st.booleans(),
    lever=st.booleans(),
)
def test_settling_offers_is_the_numpy_decision(
    seed: int, n: int, same_day: bool, lever: bool
) -> None:
    rng = np.random.default_rng(seed)
    n_diaries, horizon, today = 4 * N_ROLES, 30, 700
    req = requests(rng, n, 300, n_diaries)
    offered = np.where(rng.random(n) < 0.1, -1, today + rng.integers(1, horizon, n))
    reference = today + rng.integers(0, 5, n) if not same_day else np.full(n, today)
    tolerance = -np.log(rng.random(n)) * 6.0
    u_retry, u_spill, seg = rng.random(n), rng.random(n), rng.integers(0, 4, n).astype(np.int8)
    retry_share, spill_share, attempts = rng.random(4), rng.random(4), 3
    booked = np.zeros((n_diaries, horizon))
    diary = Diary(horizon, chunks=1)
    extra = (u_retry, u_spill, seg, retry_share, spill_share, attempts) if same_day else None
    # a lever's per-person multipliers of the retry and A&E shares, or none
    m_retry, m_spill = (rng.uniform(0, 2, 300), rng.uniform(0, 2, 300)) if lever else (None, None)
    outcome = _gp_kernels.settle(
        diary, req, offered, reference, tolerance, today, MINUTES, booked, extra, m_retry, m_spill
    )
    # the numpy version
    accept = (offered >= 0) & (offered - reference <= tolerance)
    rest = ~accept
    if same_day:
        p_retry, p_spill = retry_share[seg], spill_share[seg]
        if lever:
            p_retry, p_spill = p_retry * m_retry[req["idx"]], p_spill * m_spill[req["idx"]]
        retry = rest & (u_retry < p_retry) & (req["attempt"] < attempts - 1)
        left = rest & ~retry
        spill = left & (u_spill < p_spill)
    else:
        retry = spill = np.zeros(n, dtype=bool)
    gave_up = rest & ~retry & ~spill
    np.testing.assert_array_equal(outcome == _gp_kernels.BOOKED, accept)
    np.testing.assert_array_equal(outcome == _gp_kernels.RETRY, retry)
    np.testing.assert_array_equal(outcome == _gp_kernels.TO_AE, spill)
    np.testing.assert_array_equal(outcome == _gp_kernels.GAVE_UP, gave_up)
    ref = ReferenceDiary(horizon, n_diaries)
    rows = np.flatnonzero(accept)
    ref.append(req, rows, offered[rows], np.full(rows.size, today))
    np.testing.assert_array_equal(booked, ref.booked)
    assert_same_days(diary, ref)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), people=st.integers(1, 3000))
def test_deciding_person_by_person_is_deciding_in_day_order(seed: int, people: int) -> None:
    """The year's requests decided walking the events as drawn (person by person) get the
    decisions of walking them in day order, events cut at death or arrival included."""
    from model.demand import draw_events

    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(10**6, people, replace=False)).astype(np.int64)
    end = np.where(rng.random(people) < 0.2, rng.integers(0, 365, people), 365)
    start = np.where(rng.random(people) < 0.1, rng.integers(0, 365, people), 0)
    events = draw_events(
        rng.gamma(1.0, 5.0, people), end, ids, np.uint64(3), np.uint64(4), start_days=start
    )
    segment = rng.integers(0, 4, people).astype(np.int8)
    practice = rng.integers(0, 9, people).astype(np.int32)
    words = 1 << 16
    tables = (
        rng.random(words) < 0.4,
        rng.integers(0, 3, (4, words)).astype(np.int8),
        rng.integers(0, N_ROLES, words).astype(np.int32),
        rng.integers(1, 57, words).astype(np.int16),
    )
    key = np.uint64(rng.integers(0, 2**63))
    args = (key, ids, events.person, events.k, segment, practice, N_ROLES, tables)
    assert events.counts is not None and events.slot is not None
    walked = _gp_kernels.decide(*args, (events.counts, events.slot))
    for a, b in zip(walked, _gp_kernels.decide(*args), strict=True):
        np.testing.assert_array_equal(a, b)
