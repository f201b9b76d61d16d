"""The runs of a comparison side by side in forked processes (``model.compare``).

* a comparison of the baseline with two scenarios gives the same files, bit for bit, with
  its runs side by side and one after the other (three runs: the third starts when the
  first is taken), and reports every finished year;
* when a run fails, the process beside it is stopped and the failing run's error is raised;
* runs go side by side only with two threads or more, runs in this process, and memory for
  the two largest.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model import business_case as bc
from model import experiments, threads
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
    years: list[int] = []
    result = run_comparison(folder, base, arms, settings, 1, years.append, side_by_side)
    assert result.manifest["side_by_side"] is side_by_side
    assert sum(years) == 3  # every run's one year, reported as it finished
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = tmp_path / "started"

    def fake(scenario: Scenario, progress: Any = None) -> RunOutput:
        if scenario.name == "baseline":  # a long run: it is stopped, never finishes
            started.write_text(str(os.getpid()))
            time.sleep(60)
            raise AssertionError("the baseline was not stopped")
        while not started.exists():  # the failing run fails while the other is running
            time.sleep(0.01)
        raise ValueError("the scenario failed")

    monkeypatch.setattr("model.compare.run_scenario", fake)  # (the forked processes too)
    base = scenario("baseline")
    bad = load_scenario(REPO / "scenarios" / "link_workers.toml")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="the scenario failed"):
        list(_outputs([base, bad], 1, lambda n: None, side_by_side=True))
    assert time.perf_counter() - t0 < 30
    pid = int(started.read_text())
    with pytest.raises(ProcessLookupError):  # the baseline's process has gone
        os.kill(pid, 0)


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


def test_the_command_says_how_its_runs_went(tmp_path: Path) -> None:
    from helpers import run_main

    def compare_cli(out: Path, *extra: str) -> tuple[str, dict[str, Any]]:
        code, stdout, stderr = run_main(
            [
                "compare", str(REPO / "scenarios" / "baseline.toml"),
                str(REPO / "scenarios" / "phb.toml"), "--population", "2000", "--years", "1",
                "--replications", "1", "--out", str(out), "--no-progress", *extra,
            ]
        )  # fmt: skip
        assert code == 0, stderr
        return stdout, json.loads((out / "manifest.json").read_text())

    stdout, manifest = compare_cli(tmp_path / "one", "--one-at-a-time")
    assert manifest["side_by_side"] is False and "two runs at a time" not in stdout
    if threads.count() >= 2:  # (a machine with one core runs them one after the other)
        stdout, manifest = compare_cli(tmp_path / "two")
        assert manifest["side_by_side"] is True and "two runs at a time" in stdout
