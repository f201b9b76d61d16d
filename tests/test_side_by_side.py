"""The runs of a comparison side by side in threads of one process (``model.compare``).

* a comparison of the baseline with two scenarios gives the same files, bit for bit, with
  its runs side by side and one after the other (three runs: the second pair starts when the
  first run is taken);
* when a run fails, the run beside it stops at its next day and the failing run's error is
  the one raised;
* a thread running beside another has its share of the threads and a stop flag;
* glibc's settings are restored when the last of overlapping ``reuse_freed_memory`` blocks
  ends, not the first;
* runs go side by side only with two threads or more, runs in this process, and memory for
  the two largest.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model import allocator, experiments, threads
from model import business_case as bc
from model.compare import Arm, _outputs, run_comparison
from model.experiments import RunOutput, Workload, runs_side_by_side
from model.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]


def scenario(name: str) -> Scenario:
    return load_scenario(REPO / "scenarios" / f"{name}.toml").with_run(
        population=2_000, years=1, replications=1
    )


def compare(folder: Path, side_by_side: bool) -> dict[str, Any]:
    base = scenario("baseline")
    arms = [Arm(name, scenario(name)) for name in ("link_workers", "combined")]
    folder.mkdir()
    settings = bc.Settings.from_register(base.register)
    result = run_comparison(folder, base, arms, settings, side_by_side=side_by_side)
    assert result.manifest["side_by_side"] is side_by_side
    return result.summary


def test_side_by_side_gives_the_same_files_as_one_after_the_other(tmp_path: Path) -> None:
    one = compare(tmp_path / "one", side_by_side=False)
    two = compare(tmp_path / "two", side_by_side=True)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.parquet"))
    assert len(files) > 20 and Path("runs/combined/activity.parquet") in files
    for rel in files:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "one" / rel), pd.read_parquet(tmp_path / "two" / rel)
        )


def test_a_failing_run_stops_the_run_beside_it_and_its_error_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped: list[float] = []

    def fake(scenario: Scenario, **_: Any) -> RunOutput:
        if scenario.name == "baseline":  # a long run that checks its flag every "day"
            flag = threads.stop_flag()
            assert flag is not None
            t0 = time.perf_counter()
            for _day in range(3_000):
                try:
                    threads.check_stop(flag)
                except threads.Stopped:
                    stopped.append(time.perf_counter() - t0)
                    raise
                time.sleep(0.01)
            raise AssertionError("the baseline was not stopped")
        time.sleep(0.05)
        raise ValueError("the scenario failed")

    monkeypatch.setattr("model.compare.run_scenario", fake)
    base = scenario("baseline")
    bad = load_scenario(REPO / "scenarios" / "link_workers.toml")
    with pytest.raises(ValueError, match="the scenario failed"):
        list(_outputs([base, bad], 1, None, side_by_side=True))
    assert len(stopped) == 1 and stopped[0] < 5


def test_threads_beside_each_other_share_the_threads_and_have_a_stop_flag() -> None:
    assert threads.stop_flag() is None
    threads.check_stop(None)  # no flag: nothing to stop
    total = threads.count()
    seen: dict[str, Any] = {}
    flags = {"first": threading.Event(), "second": threading.Event()}
    both_in, both_seen = threading.Barrier(2), threading.Barrier(2)
    second_out = threading.Event()

    def run(name: str) -> None:
        with threads.share(flags[name]):
            both_in.wait(5)
            seen[name] = (threads.count(), threads.stop_flag())
            both_seen.wait(5)
            if name == "first":
                second_out.wait(5)
                seen["alone"] = threads.count()  # the other run has ended
                threads.check_stop(flags[name])
                flags[name].set()
                with pytest.raises(threads.Stopped):
                    threads.check_stop(flags[name])
        if name == "second":
            second_out.set()
        seen[name + " after"] = threads.stop_flag()

    ts = [threading.Thread(target=run, args=(name,)) for name in flags]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    half = max(1, total // 2)
    assert seen == {
        "first": (half, flags["first"]),
        "second": (half, flags["second"]),
        "alone": total,
        "first after": None,
        "second after": None,
    }
    assert threads.count() == total  # the main thread keeps its own


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("trim", pad, 0))
        return 1


def test_overlapping_blocks_restore_glibc_when_the_last_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    libc = FakeLibc()
    monkeypatch.setattr(allocator, "_libc", lambda: libc)
    first, second = allocator.reuse_freed_memory(), allocator.reuse_freed_memory()
    first.__enter__()
    second.__enter__()  # (another thread's block, say)
    assert libc.calls == [
        ("mallopt", allocator.M_MMAP_MAX, 0),
        ("mallopt", allocator.M_TRIM_THRESHOLD, allocator.KEEP),
    ]
    first.__exit__(None, None, None)  # the first to begin ends first: nothing restored yet
    assert len(libc.calls) == 2
    second.__exit__(None, None, None)
    assert libc.calls[2:] == [
        ("mallopt", allocator.M_MMAP_MAX, allocator.DEFAULT_MMAP_MAX),
        ("mallopt", allocator.M_TRIM_THRESHOLD, allocator.DEFAULT_TRIM_THRESHOLD),
        ("trim", 0, 0),
    ]
    assert allocator._depth == 0
    assert allocator.share_main_heap()
    assert libc.calls[-1] == ("mallopt", allocator.M_ARENA_MAX, 1)


def test_runs_go_side_by_side_only_with_threads_and_memory_for_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads = [Workload({}, 0.0, need) for need in (3e9, 2e9, 1e9)]
    monkeypatch.setattr(experiments, "_available_bytes", lambda: 6e9)
    monkeypatch.setattr(threads, "count", lambda: 2)
    assert runs_side_by_side(loads, workers=1, replications=10)
    assert runs_side_by_side(loads, workers=4, replications=1)
    assert not runs_side_by_side(loads, workers=2, replications=2)  # worker processes
    assert not runs_side_by_side(loads[:1], workers=1, replications=1)  # one run
    monkeypatch.setattr(experiments, "_available_bytes", lambda: 4.9e9)  # not 3 + 2 GB
    assert not runs_side_by_side(loads, workers=1, replications=1)
    monkeypatch.setattr(experiments, "_available_bytes", lambda: None)  # unknown: allowed
    assert runs_side_by_side(loads, workers=1, replications=1)
    monkeypatch.setattr(threads, "count", lambda: 1)
    assert not runs_side_by_side(loads, workers=1, replications=1)
