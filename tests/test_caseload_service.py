"""The staffed caseload service levers build on: places, waiting lists, sessions, deaths."""

from __future__ import annotations

import numpy as np
import pytest

from model.services.caseload import (
    ACTIVE,
    COMPLETED,
    DIED,
    CaseloadService,
    CaseloadSpec,
)


def spec(**changes: object) -> CaseloadSpec:
    base = {
        "name": "link_workers",
        "fte_by_year": (1.0,),
        "caseload_per_fte_year": 200.0,
        "sessions": (6, 6),
        "days_between_sessions": 14.0,
        "dropout_per_session": 0.0,
        "max_wait_days": 10_000.0,
        "cost_per_fte_year": 36_500.0,
    }
    base.update(changes)
    return CaseloadSpec(**base)  # type: ignore[arg-type]


def run_days(svc: CaseloadService, days: int, referrals_per_day: int, start_id: int = 0) -> None:
    none_dead = np.zeros(0, dtype=bool)
    pid = start_id
    for d in range(days):
        ids = np.arange(pid, pid + referrals_per_day)
        pid += referrals_per_day
        svc.refer(ids, np.zeros(ids.size, dtype=np.int32), d)
        svc.day(d, 0, np.zeros(svc.person_id.size, dtype=bool) if svc.person_id.size else none_dead)


def test_places_follow_staff_and_episode_length() -> None:
    s = spec()
    # 6 sessions a fortnight apart: 5 x 14 + 1 = 71 days; 200 a year -> 38.9 places
    assert s.mean_episode_days == 71
    assert s.places_per_fte == pytest.approx(200 * 71 / 365)
    svc = CaseloadService(s, key=1)
    run_days(svc, 30, 5)
    assert (svc.state == ACTIVE).sum() == 38  # floor(38.9) places, all taken
    assert (svc.state == 0).sum() == 30 * 5 - 38  # the rest wait, in referral order
    started = svc.person_id[svc.state == ACTIVE]
    assert started.max() == 37  # first come, first served


def test_doubling_staff_raises_throughput_only_when_places_are_full() -> None:
    def completed(fte: float, per_day: int) -> float:
        svc = CaseloadService(spec(fte_by_year=(fte,)), key=2)
        run_days(svc, 365, per_day)
        return svc.year_record()["completed"]

    # full: 2 referrals a day for ~39 places x 365/71 days -> about 200 a year per FTE
    full = completed(1.0, 2), completed(2.0, 2)
    assert full[1] > 1.8 * full[0]
    assert full[0] == pytest.approx(200, rel=0.1)
    # not full: 1 referral a week, far below the places: more staff changes nothing
    light = completed(1.0, 0), completed(2.0, 0)
    assert light == (0.0, 0.0)
    sparse_1 = CaseloadService(spec(fte_by_year=(1.0,)), key=2)
    sparse_2 = CaseloadService(spec(fte_by_year=(2.0,)), key=2)
    for svc in (sparse_1, sparse_2):
        for d in range(365):
            if d % 7 == 0:
                svc.refer(np.array([d]), np.zeros(1, np.int32), d)
            svc.day(d, 0, np.zeros(svc.person_id.size, dtype=bool))
    assert sparse_1.year_record()["completed"] == sparse_2.year_record()["completed"] > 0


def test_sessions_dropout_and_completion_are_keyed_per_person() -> None:
    s = spec(sessions=(6, 12), dropout_per_session=0.1, fte_by_year=(50.0,))
    a = CaseloadService(s, key=3)
    b = CaseloadService(s, key=3)
    ids = np.arange(1_000)
    a.refer(ids, np.zeros(ids.size, np.int32), 0)
    b.refer(ids[::2], np.zeros(ids.size // 2, np.int32), 0)  # half of them only
    assert set(a.n_sessions.tolist()) <= set(range(6, 13)) and len(set(a.n_sessions)) > 3
    for d in range(200):
        a.day(d, 0, np.zeros(a.person_id.size, dtype=bool))
        b.day(d, 0, np.zeros(b.person_id.size, dtype=bool))
    # everyone had a place: each person's course is the same whoever else was referred
    state_a = dict(zip(a.person_id.tolist(), a.state.tolist(), strict=True))
    state_b = dict(zip(b.person_id.tolist(), b.state.tolist(), strict=True))
    assert all(state_a[p] == st for p, st in state_b.items())
    ra = a.year_record()
    assert ra["completed"] + ra["dropped_out"] == 1_000
    # drop-out 10 % a session over ~8 sessions: about half complete (binomial, 5 SD)
    p_complete = np.mean([(0.9) ** (n - 1) for n in range(6, 13)])
    assert abs(ra["completed"] - 1_000 * p_complete) < 5 * np.sqrt(1_000 * 0.25)


def test_deaths_leave_and_waiting_too_long_leaves_the_list() -> None:
    svc = CaseloadService(spec(max_wait_days=20.0), key=4)
    svc.refer(np.arange(100), np.zeros(100, np.int32), 0)
    dead = np.zeros(100, dtype=bool)
    dead[[0, 99]] = True  # one in support, one waiting
    svc.day(0, 0, dead)
    assert svc.state[0] == DIED and svc.state[99] == DIED
    for d in range(1, 30):
        svc.day(d, 0, np.zeros(svc.person_id.size, dtype=bool))
    r = svc.year_record()
    assert r["died"] == 2
    # 38 places: the rest waited more than 20 days and left the list
    assert r["left_waiting"] == 100 - 2 - 38
    assert r["waiting_at_year_end"] == 0 and r["in_support_at_year_end"] == 38


def test_ramp_up_units_and_staff_cost() -> None:
    s = spec(fte_by_year=(2.0, 4.0), start_day=100, ramp_up_days=100, unit_fte_share=(0.75, 0.25))
    svc = CaseloadService(s, key=5)
    assert svc.fte_on(99, 0) == 0.0
    assert svc.fte_on(149, 0) == pytest.approx(1.0)  # half-way through the ramp
    assert svc.fte_on(300, 0) == 2.0 and svc.fte_on(900, 5) == 4.0  # last year carries on
    # staff cost accrues per day on duty; units get their share of places
    ids = np.arange(400)
    svc.refer(ids, (ids % 2).astype(np.int32), 300)
    svc.day(300, 0, np.zeros(ids.size, dtype=bool))
    active = svc.unit[svc.state == ACTIVE]
    places = 2.0 * s.places_per_fte
    assert (active == 0).sum() == int(places * 0.75) and (active == 1).sum() == int(places * 0.25)
    r = svc.year_record()
    assert r["staff_cost_gbp"] == pytest.approx(2.0 * 36_500 / 365)
    # a person already waiting or in support is not referred twice
    assert svc.refer(ids[:10], np.zeros(10, np.int32), 301) == 0
    assert COMPLETED not in set(svc.state.tolist())


def test_people_referred_again_are_found_however_the_referred_are_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The people referred before are kept in two sorted parts (the latest join the bulk
    when they are many); who is turned away, referral numbers and every episode must not
    depend on when the parts merge."""
    from model.services import caseload

    s = spec(
        sessions=(1, 5), days_between_sessions=7.0, dropout_per_session=0.1, max_wait_days=30.0
    )
    rows = {}
    for merge in (3, 10_000):
        monkeypatch.setattr(caseload._Referred, "MERGE", merge)
        rng = np.random.default_rng(4)
        svc = CaseloadService(s, 99)
        for d in range(300):
            ids = rng.integers(0, 150, rng.integers(0, 12))
            svc.refer(ids, np.zeros(ids.size, dtype=np.int32), d)
            svc.day(d, 0, rng.random(svc.person_id.size) < 0.01)
        rows[merge] = (svc.person_id.copy(), svc.ref_no.copy(), svc.state.copy(), svc.done.copy())
        assert svc.ref_no.max() > 2  # people come back several times
    for a, b in zip(rows[3], rows[10_000], strict=True):
        np.testing.assert_array_equal(a, b)


def test_insert_at_is_np_insert_for_every_array() -> None:
    from model.services.caseload import insert_at

    rng = np.random.default_rng(5)
    for n, m, ordered in ((0, 0, True), (0, 5, True), (40, 0, True), (40, 7, True), (9, 30, False)):
        ids = np.sort(rng.choice(1000, n, replace=False)).astype(np.int64)
        count = rng.integers(0, 9, n).astype(np.int32)
        flags = rng.random(n) < 0.5
        at = rng.integers(0, n + 1, m)
        if ordered:
            at = np.sort(at)
        values = [rng.integers(0, 1000, m), np.int32(1), True]
        got = insert_at([ids, count, flags], at, values)
        for g, a, v in zip(got, [ids, count, flags], values, strict=True):
            want = np.insert(a, at, v)
            assert g.dtype == want.dtype
            np.testing.assert_array_equal(g, want)
