"""Queueing behaviour checked against theory: Little's law for beds, Erlang C for a caseload,
monotonicity in capacity, and the semantics of the FIFO waiting list.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools

import numpy as np
import pandas as pd
import pytest
import simpy
from helpers import gp_capacity
from hypothesis import given, settings
from hypothesis import strategies as st

from model.scenario import Scenario
from model.services.acute import OUTPATIENT_KEY
from model.services.caseload import Caseload, Episode, erlang_c_wait
from model.services.queue import FifoQueue
from model.world import DailyCapacity

# ----------------------------------------------------------------------------- Little's law


def test_littles_law_for_beds(small_baseline_tables: dict[str, pd.DataFrame]) -> None:
    """Mean occupied beds = overnight admissions per day x mean overnight length of stay.

    Checked in the second year: the first starts with an empty hospital. Bed days are
    counted at admission (the whole stay), occupancy day by day, so the stays carried into
    the year from the first and out of it into the third make the two differ; in a steady
    state they balance. Each carry is about 2 % of the year's bed days at 20,000 people
    (lambda x E[L^2] / 2 with lambda ~ 4 a day, L geometric with mean ~ 8.5) and their
    difference has an SD of well under 1 %, so the tolerance is 3 %.
    """
    tables = small_baseline_tables
    year = int(tables["capacity"]["year"].max())
    act = tables["activity"]
    act = act[act["year"] == year]
    stays = act.loc[act["service"] == "overnight_stay", "count"].sum()
    bed_days = act.loc[act["service"] == "bed_day", "count"].sum()
    arrivals_per_day = stays / 365
    mean_los_days = bed_days / stays
    cap = tables["capacity"]
    occupied = cap.loc[(cap["year"] == year) & (cap["service"] == "bed_day"), "mean_occupied_beds"]
    assert len(occupied) == 1
    assert occupied.iloc[0] == pytest.approx(arrivals_per_day * mean_los_days, rel=0.03)
    assert mean_los_days > 2  # overnight stays, not a degenerate check


# ----------------------------------------------------------------------------- Erlang C


def _fcfs_waits(arrival: np.ndarray, service: np.ndarray, servers: int) -> np.ndarray:
    """Waits of a first-come-first-served c-server queue (Kiefer-Wolfowitz recursion)."""
    free_at = [0.0] * servers
    waits = np.empty(arrival.size)
    for i, (t, s) in enumerate(zip(arrival.tolist(), service.tolist(), strict=True)):
        earliest = heapq.heappop(free_at)
        start = max(t, earliest)
        waits[i] = start - t
        heapq.heappush(free_at, start + s)
    return waits


def _run_caseload(n: int, lam: float, mu: float, servers: int, seed: int) -> Caseload:
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(1 / mu, n)
    env = simpy.Environment()
    caseload = Caseload(env, servers)
    env.process(caseload.arrivals(np.arange(n), arrival, service))
    env.run()
    return caseload


def test_caseload_is_an_exact_fcfs_multi_server_queue() -> None:
    caseload = _run_caseload(20_000, lam=2.0, mu=0.25, servers=10, seed=1)
    eps = caseload.episodes
    arrival = np.array([e.arrival for e in eps])
    service = np.array([e.service_days for e in eps])
    assert len(eps) == 20_000 and np.all(np.diff(arrival) >= 0)
    np.testing.assert_allclose(
        [e.wait_days for e in eps], _fcfs_waits(arrival, service, 10), rtol=0, atol=1e-6
    )
    # (end - start recovers the service time up to round-off at times ~ 10^4 days)
    np.testing.assert_allclose([e.end - e.start for e in eps], service, rtol=0, atol=1e-9)


def test_caseload_mean_wait_matches_erlang_c() -> None:
    """M/M/10 with lambda = 2 a day and mu = 0.25 a day (utilisation 0.8).

    Erlang C gives a mean wait of 0.818 days. With 250,000 episodes (125,000 days; the
    first 500 are warm-up) batch means put the SE of the simulated mean at about 3.5 %, so
    the 10 % tolerance is nearly 3 SE (the seed is fixed, so the result is deterministic).
    """
    lam, mu, c = 2.0, 0.25, 10
    caseload = _run_caseload(250_000, lam, mu, c, seed=20240601)
    waits = caseload.waits(since=500.0)
    assert waits.size > 240_000
    expected = erlang_c_wait(lam, mu, c)
    assert expected == pytest.approx(0.8184, abs=1e-4)  # the formula itself, by hand
    assert waits.mean() == pytest.approx(expected, rel=0.10)
    # Erlang C probability of waiting at all: 0.409 (SE ~ 1.5 % here)
    assert (waits > 1e-9).mean() == pytest.approx(expected * (c * mu - lam), rel=0.05)


def test_erlang_c_formula() -> None:
    # M/M/1: Wq = rho / (mu - lambda)
    assert erlang_c_wait(0.5, 1.0, 1) == pytest.approx(0.5 / 0.5)
    # M/M/2, lambda = 1, mu = 1: P(wait) = 1/3, Wq = P(wait) / (c mu - lambda) = 1/3
    assert erlang_c_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)
    assert erlang_c_wait(2.0, 1.0, 2) == float("inf")
    assert erlang_c_wait(1.0, 1.0, 3) < erlang_c_wait(1.0, 1.0, 2)


def test_caseload_needs_a_place() -> None:
    with pytest.raises(ValueError, match="at least one place"):
        Caseload(simpy.Environment(), 0)


def test_caseload_waits_exclude_episodes_not_started() -> None:
    env = simpy.Environment()
    caseload = Caseload(env, 1)
    for t in (0.0, 0.0):
        caseload.submit(Episode(1, t, 10.0))
    env.run(until=5.0)
    assert caseload.waits().tolist() == [0.0]  # the second is still waiting


# ----------------------------------------------------------------------------- monotonicity


def _sweep(
    scenario: Scenario, key: str, values: tuple[float, ...]
) -> list[dict[str, pd.DataFrame]]:
    from model.engine import run_one

    out = []
    for v in values:
        reg = scenario.register.with_values({key: v})
        out.append(run_one(dataclasses.replace(scenario, register=reg), 0))
    return out


@pytest.fixture(scope="module")
def sweep_scenario(baseline_scenario: Scenario) -> Scenario:
    return baseline_scenario.with_run(population=10_000, years=1, replications=1)


def _wait_row(tables: dict[str, pd.DataFrame], service: str) -> pd.Series:
    w = tables["waits"]
    rows = w[w["service"] == service]
    assert len(rows) == 1
    return rows.iloc[0]


def _total(tables: dict[str, pd.DataFrame], *services: str) -> float:
    act = tables["activity"]
    return float(act.loc[act["service"].isin(services), "count"].sum())


def _non_increasing(values: list[float]) -> bool:
    return all(b <= a for a, b in itertools.pairwise(values))


def test_more_gp_capacity_never_lengthens_waits(sweep_scenario: Scenario) -> None:
    from model.engine import run_one

    runs = [
        run_one(
            dataclasses.replace(
                sweep_scenario,
                register=sweep_scenario.register.with_values(
                    gp_capacity(sweep_scenario.register, factor)
                ),
            ),
            0,
        )
        for factor in (0.85, 1.0, 1.15)
    ]
    waits = [_wait_row(t, "gp_appointment") for t in runs]
    mean = [w["mean_wait_days"] for w in waits]
    assert _non_increasing(mean), mean
    assert _non_increasing([w["p90_wait_days"] for w in waits])
    # (the GP "backlog" at year end is next year's booked diary, which can grow with more
    # capacity because fewer people give up, so it is not compared)
    unmet = [_total(t, "gp_request_abandoned", "gp_spill_to_ae") for t in runs]
    assert _non_increasing(unmet), unmet
    served = [_total(t, "gp_appointment", "gp_appointment_dna") for t in runs]
    assert served == sorted(served)
    # the range is wide enough to matter: the tightest capacity waits clearly longer
    assert mean[0] > 1.2 * mean[-1]


def test_more_outpatient_capacity_never_lengthens_waits(sweep_scenario: Scenario) -> None:
    base = sweep_scenario.register.scalar(OUTPATIENT_KEY)
    runs = _sweep(sweep_scenario, OUTPATIENT_KEY, (0.85 * base, base, 1.15 * base))
    for service in ("outpatient_first", "outpatient_follow_up"):
        waits = [_wait_row(t, service) for t in runs]
        mean = [w["mean_wait_days"] for w in waits]
        assert _non_increasing(mean), (service, mean)
        assert _non_increasing([w["p90_wait_days"] for w in waits]), service
        assert _non_increasing([w["backlog_end"] for w in waits]), service
    # follow-ups are booked without a backlog, so their waits react most to capacity
    assert mean[0] > 2 * mean[-1]
    # first attendances start with the RTT backlog: less capacity leaves more of it
    first = [_wait_row(t, "outpatient_first")["backlog_end"] for t in runs]
    assert first[0] > 1.1 * first[-1]
    served = [_total(t, "outpatient_attendance") for t in runs]
    assert served == sorted(served)
    # outpatient capacity does not touch general practice (separate demand streams)
    gp = [_total(t, "gp_appointment") for t in runs]
    assert gp[0] == gp[1] == gp[2]


# ----------------------------------------------------------------------------- FIFO queue


def _queue(*rows: int) -> FifoQueue:
    q = FifoQueue()
    q.add(np.array(rows, dtype=np.int64))
    return q


def test_fifo_serves_in_arrival_order() -> None:
    q = _queue(5, 3, 9)
    q.add(np.array([1, 7]))
    assert len(q) == 5
    assert q.serve(2).tolist() == [5, 3]
    assert q.pending.tolist() == [9, 1, 7]
    assert q.serve(0).tolist() == [] and q.serve(-3).tolist() == []
    assert q.serve(10).tolist() == [9, 1, 7]  # more capacity than requests
    assert len(q) == 0 and q.serve(1).tolist() == []
    q.add(np.array([], dtype=np.int64))
    assert len(q) == 0


def test_fifo_drop_removes_masked_rows_and_keeps_order() -> None:
    q = _queue(10, 11, 12, 13, 14)
    dropped = q.drop(np.array([False, True, False, True, False]))
    assert dropped.tolist() == [11, 13]
    assert q.pending.tolist() == [10, 12, 14]
    assert q.drop(np.zeros(3, dtype=bool)).tolist() == []
    assert q.pending.tolist() == [10, 12, 14]
    assert q.drop(np.ones(3, dtype=bool)).tolist() == [10, 12, 14]
    assert len(q) == 0


def test_fifo_add_front_puts_rows_back_at_the_head() -> None:
    q = _queue(1, 2, 3)
    head = q.serve(2)
    q.add(np.array([4]))
    q.add_front(head)  # e.g. electives cancelled for want of a bed
    assert q.pending.tolist() == [1, 2, 3, 4]
    q.add_front(np.array([], dtype=np.int64))
    assert q.serve(1).tolist() == [1]


@pytest.mark.parametrize("per_day", [2.3, 0.25, 17.77, 0.0, 3.0])
def test_daily_capacity_carries_fractions_so_the_total_is_exact(per_day: float) -> None:
    cap = DailyCapacity()
    slots = np.array([cap.take(per_day) for _ in range(2_000)])
    assert set(slots.tolist()) <= {int(np.floor(per_day)), int(np.ceil(per_day))}
    # after n days the slots given are the n days' capacity, less a fraction still carried
    # (round-off may hold back a slot worth 0.999999 for a day, never lose it)
    given = np.cumsum(slots)
    offered = per_day * np.arange(1, slots.size + 1)
    assert np.all(given <= offered + 1e-6)
    assert np.all(given >= offered - 1 - 1e-6)


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3000)), max_size=60))
def test_fifo_keeps_the_order_of_a_list(ops: list[tuple[int, int]]) -> None:
    """The queue's buffer (room at both ends) holds what a plain list would."""
    q, ref, next_row = FifoQueue(), [], 0
    for op, n in ops:
        if op == 0:  # join at the back
            rows = list(range(next_row, next_row + n))
            next_row += n
            q.add(np.array(rows, dtype=np.int32))
            ref += rows
        elif op == 1:  # back at the head
            rows = list(range(next_row, next_row + n))
            next_row += n
            q.add_front(np.array(rows, dtype=np.int64))
            ref = rows + ref
        elif op == 2:
            assert q.serve(n).tolist() == ref[:n]
            ref = ref[n:]
        else:
            mask = np.arange(len(ref)) % (n % 5 + 2) == 0
            assert q.drop(mask).tolist() == [r for r, m in zip(ref, mask, strict=True) if m]
            ref = [r for r, m in zip(ref, mask, strict=True) if not m]
        assert q.pending.tolist() == ref and len(q) == len(ref)
