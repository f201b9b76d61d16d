"""The machine's cores for passes over people (``model.threads``).

* chunks cover every row once, in order; ``rows`` runs every chunk and raises a chunk's
  error; ``ahead`` gives what the function returns, with one thread or several;
* the thread count is checked and shared between worker processes;
* ``serial`` runs what it is given one at a time, in order, on one background thread (or now,
  with one thread, after what it was given before), and gives the result or the error;
* ``aside`` runs its work on a thread of its own whose passes stay in that thread, in order,
  and gives the result or the error;
* the model gives the same tables, bit for bit, with one thread and with two, for the
  baseline and for a scenario with every lever (chunks and the ledger's batches made small
  so that every pass that can split its rows does so, and batches are counted in the
  background many times, even for a small population); with two threads the baseline's
  later years are made ahead, while the year before runs, and a scenario with levers makes
  every year at its boundary.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_refusal, run_main

from model import _kernels, crn, ledger, threads
from model.engine import Engine, NextYear, run_one
from model.results import TABLES
from model.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two threads, chunks of at least 64 rows (so small runs split their passes) and the
    ledger's batches of 256 records (so they are counted in the background many times)."""
    monkeypatch.setattr(threads, "MIN_ROWS", 64)
    monkeypatch.setattr(ledger, "_BATCH", 256)
    monkeypatch.setattr(ledger, "_KEY_BATCH", 256)
    threads.set_count(2)
    yield
    threads.set_count(None)


def test_chunks_cover_every_row_once_in_order(two_threads: None) -> None:
    for n in (0, 1, 63, 128, 129, 1_000_001):
        parts = threads.chunks(n)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        assert len(parts) == (2 if n >= 128 else 1)
    threads.set_count(1)
    assert threads.chunks(1_000_000) == [(0, 1_000_000)]


def test_rows_runs_every_chunk_and_raises_a_chunks_error(two_threads: None) -> None:
    out = np.zeros(1_000, dtype=np.int64)

    def fill(lo: int, hi: int) -> None:
        out[lo:hi] = np.arange(lo, hi)

    threads.rows(out.shape[0], fill)
    np.testing.assert_array_equal(out, np.arange(1_000))

    def fail(lo: int, hi: int) -> None:
        if lo == 0:  # the chunk run in the pool, not the caller's
            raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        threads.rows(1_000, fail)


@pytest.mark.parametrize("n", [1, 2])
def test_ahead_gives_the_result_or_the_error(n: int) -> None:
    threads.set_count(n)
    try:
        assert threads.ahead(lambda a, b: a + b, 2, 3).result() == 5
        with pytest.raises(ZeroDivisionError):
            threads.ahead(lambda: 1 / 0).result()
    finally:
        threads.set_count(None)


def test_serial_work_runs_in_order_and_gives_its_result_or_error() -> None:
    done: list[int] = []

    def slow(i: int) -> int:
        if i == 0:
            time.sleep(0.05)  # the first takes longest: the rest still wait for it
        done.append(i)
        return i * i

    threads.set_count(2)
    try:
        futures = [threads.serial(slow, i) for i in range(20)]
        with pytest.raises(ZeroDivisionError):
            threads.serial(lambda: 1 / 0).result()
        assert [f.result() for f in futures] == [i * i for i in range(20)]
        assert done == list(range(20))
        # one thread: run now, after what the background thread was given before
        threads.serial(slow, 0)
        threads.set_count(1)
        now = threads.serial(slow, 20)
        assert now.done() and now.result() == 400
        assert done[-2:] == [0, 20]
    finally:
        threads.set_count(None)


def test_aside_runs_alone_in_order_and_gives_its_result_or_error() -> None:
    seen: list[tuple[int, int, list[tuple[int, int]]]] = []

    def work(i: int) -> int:
        if i == 0:
            time.sleep(0.05)  # the first takes longest: the next still waits for it
        seen.append((i, threads.count(), threads.chunks(10_000_000)))
        return i + 1

    threads.set_count(2)
    try:
        futures = [threads.aside(work, i) for i in range(3)]
        assert [f.result() for f in futures] == [1, 2, 3]
        # its passes stay in its thread; the caller's are split as before
        assert seen == [(i, 1, [(0, 10_000_000)]) for i in range(3)]
        assert threads.count() == 2 and len(threads.chunks(10_000_000)) == 2
        with pytest.raises(ZeroDivisionError):
            threads.aside(lambda: 1 / 0).result()
        threads.set_count(1)  # one thread: run now
        now = threads.aside(work, 5)
        assert now.done() and now.result() == 6
    finally:
        threads.set_count(None)


def test_a_batch_counted_in_the_background_counts_every_record() -> None:
    counts = np.zeros(50, dtype=np.int64)
    values = np.random.default_rng(5).integers(0, 50, 10_000)
    threads.set_count(2)
    try:
        batch = ledger._Batch(lambda v: np.add.at(counts, v, 1), size=64)
        for part in np.array_split(values, 997):  # parts of 10-11: many full batches
            batch.add(part)
        batch.add(values[:100])  # more than a batch at once
        batch.flush()
        batch.wait()
    finally:
        threads.set_count(None)
    want = np.bincount(np.concatenate([values, values[:100]]), minlength=50)
    np.testing.assert_array_equal(counts, want)


def test_thread_count_is_checked_and_shared_between_processes() -> None:
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            threads.set_count(bad)  # type: ignore[arg-type]
    try:
        threads.share_between(threads.cores() * 2)
        assert threads.count() == 1
        threads.set_count(None)
        threads.share_between(1)
        assert threads.count() == min(threads.cores(), threads.MAX_THREADS)
        threads.set_count(4)
        threads.share_between(2)  # a worker's share of what its parent was given
        assert threads.count() == 2
    finally:
        threads.set_count(None)


def test_split_passes_give_the_values_of_one_pass(two_threads: None) -> None:
    rng = np.random.default_rng(3)
    n = 10_000
    rate = np.concatenate([rng.gamma(1.0, 0.5, n - 100), rng.uniform(30.0, 90.0, 100)])
    rng.shuffle(rate)
    u = rng.random(n)
    ids = rng.permutation(n * 3)[:n].astype(np.int64)
    counts = rng.poisson(3.0, n).astype(np.int64)
    cut = rng.integers(0, 366, n)
    start = np.where(rng.random(n) < 0.1, rng.integers(0, 365, n), 0)

    def both() -> list[object]:
        return [
            crn.poisson_inverse(rate, u),
            _kernels.keyed_uniforms(np.uint64(7), ids),
            *_kernels.expand_days(counts, ids, np.uint64(11), 365, cut, start),
        ]

    split = both()
    threads.set_count(1)
    single = both()
    for a, b in zip(split, single, strict=True):
        np.testing.assert_array_equal(a, b)


def _tables_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert set(a) == set(b)
    for name in TABLES:
        if name in a:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.parametrize("name", ["baseline", "combined"])
def test_the_model_gives_the_same_tables_with_one_thread_and_with_two(
    two_threads: None, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(REPO / "scenarios" / f"{name}.toml").with_run(
        population=4_000, years=3, replications=1
    )
    made_ahead: list[tuple[int, bool]] = []
    next_year = Engine._next_year

    def spy(self: Engine, year: int) -> NextYear:
        made_ahead.append((year, threading.current_thread() is not threading.main_thread()))
        return next_year(self, year)

    monkeypatch.setattr(Engine, "_next_year", spy)
    split = run_one(scenario, 0)
    # without levers, years 1 and 2 are made on another thread while the year before runs
    assert made_ahead == ([(1, True), (2, True)] if name == "baseline" else [])
    threads.set_count(1)
    single = run_one(scenario, 0)
    assert len(made_ahead) == (2 if name == "baseline" else 0)  # one thread: at the boundary
    _tables_equal(split, single)


@pytest.mark.parametrize("value", ["0", "9", "two", "-1", "1.5"])
def test_a_bad_thread_count_in_the_environment_is_refused_before_work_starts(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(threads.ENVIRONMENT, value)
    out = tmp_path / "run"
    code, stdout, stderr = run_main(
        [
            "run",
            str(REPO / "scenarios" / "baseline.toml"),
            "--population",
            "1000",
            "--years",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert_refusal(code, stdout, stderr, "CARESCALE_THREADS", repr(value), "1 to 8")
    assert not out.exists()


def test_the_environment_sets_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENVIRONMENT, "1")
    assert threads.count() == 1 and threads.chunks(10_000_000) == [(0, 10_000_000)]
    monkeypatch.setenv(threads.ENVIRONMENT, " 3 ")
    assert threads.count() == 3
