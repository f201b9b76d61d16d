"""Run folders: atomic writing, safe reading, and one clear sentence for a corrupt folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model import __version__
from model.errors import ResultsError
from model.experiments import RunOutput, run_scenario
from model.outputs import STAGE_PREFIX
from model.results import MANIFEST, TABLES, read_manifest, read_results, write_results
from model.scenario import Scenario

REQUIRED_MANIFEST = (
    "scenario",
    "seed",
    "replications",
    "population",
    "years",
    "start_year",
    "year_starts",
    "model_version",
    "wall_seconds",
)


@pytest.fixture(scope="module")
def output(baseline_scenario: Scenario) -> RunOutput:
    """A small real run (5,000 people, 1 year) to write and read back."""
    return run_scenario(baseline_scenario.with_run(population=5_000, years=1, replications=1))


@pytest.fixture
def folder(tmp_path: Path, output: RunOutput) -> Path:
    return write_results(tmp_path / "run", output.manifest, output.tables)


def leftovers(parent: Path) -> list[str]:
    """Staging folders of write_results left behind."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(STAGE_PREFIX))


def assert_one_sentence(message: str, *fragments: str) -> None:
    assert "\n" not in message and message.endswith("."), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def edit_manifest(folder: Path, **changes: Any) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


# ----------------------------------------------------------------------------- round trip


def test_write_then_read_round_trips_every_table(folder: Path, output: RunOutput) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST] + [f"{t}.parquet" for t in TABLES]
    )
    manifest, tables = read_results(folder)
    assert set(tables) == set(TABLES)
    for name in TABLES:
        assert len(tables[name]) > 0, name
        pd.testing.assert_frame_equal(tables[name], output.tables[name], check_exact=True, obj=name)
    assert manifest["tables"] == {t: len(output.tables[t]) for t in TABLES}
    assert manifest["complete"] is True
    assert leftovers(folder.parent) == []


def test_the_manifest_describes_the_run(folder: Path, baseline_scenario: Scenario) -> None:
    manifest = read_manifest(folder)
    missing = [k for k in REQUIRED_MANIFEST if k not in manifest]
    assert not missing, missing
    assert manifest["scenario"]["name"] == "baseline"
    assert manifest["scenario"]["run"]["population"] == 5_000
    assert (
        manifest["seed"],
        manifest["replications"],
        manifest["population"],
        manifest["years"],
        manifest["start_year"],
        manifest["year_starts"],
        manifest["scenario"]["run"]["year_starts"],
    ) == (
        baseline_scenario.run.seed,
        1,
        5_000,
        1,
        baseline_scenario.run.start_year,
        "april",
        "april",
    )
    assert manifest["model_version"] == __version__
    assert isinstance(manifest["wall_seconds"], (int, float)) and manifest["wall_seconds"] >= 0
    # capacities as used, so a results folder says what it was run with
    assert manifest["scenario"]["capacity"]["gp.gp_minutes_per_1000_per_working_day"] == (
        baseline_scenario.register.scalar("capacity.gp.gp_minutes_per_1000_per_working_day")
    )


def test_an_existing_folder_is_refused_without_overwrite(folder: Path, output: RunOutput) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    small = {name: df.head(3) for name, df in output.tables.items()}
    with pytest.raises(ResultsError) as info:
        write_results(folder, {"scenario": "other"}, small)
    assert_one_sentence(str(info.value), str(folder), "already exists", "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert read_manifest(folder)["scenario"]["name"] == "baseline"
    assert leftovers(folder.parent) == []


def test_overwrite_replaces_the_folder(folder: Path, output: RunOutput) -> None:
    small = {name: df.head(3) for name, df in output.tables.items()}
    write_results(folder, {"scenario": "other"}, small, overwrite=True)
    manifest, tables = read_results(folder)
    assert manifest["scenario"] == "other"
    assert manifest["tool"] == "carescale" and manifest["kind"] == "run"
    assert sorted(manifest["files"]) == sorted(f"{t}.parquet" for t in TABLES)
    assert all(len(tables[t]) == min(3, len(output.tables[t])) for t in TABLES)
    assert leftovers(folder.parent) == []


def test_overwrite_refuses_a_folder_holding_a_foreign_file(folder: Path, output: RunOutput) -> None:
    (folder / "notes.txt").write_text("a user's notes", encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        write_results(folder, {"scenario": "other"}, output.tables, overwrite=True)
    assert_one_sentence(str(info.value), "notes.txt", "did not write")
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "a user's notes"
    assert read_results(folder)[0]["scenario"]["name"] == "baseline"
    assert leftovers(folder.parent) == []


def test_a_missing_parent_folder_is_refused(tmp_path: Path, output: RunOutput) -> None:
    target = tmp_path / "no" / "such" / "run"
    with pytest.raises(ResultsError) as info:
        write_results(target, output.manifest, output.tables)
    assert_one_sentence(str(info.value), "does not exist")
    assert not (tmp_path / "no").exists()


# ----------------------------------------------------------------------------- corrupt folders


def _truncate(folder: Path) -> None:
    path = folder / "activity.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "missing manifest": (lambda f: (f / MANIFEST).unlink(), ["has no manifest.json"]),
    "manifest not complete": (
        lambda f: edit_manifest(f, complete=False),
        ["manifest.json", "complete"],
    ),
    "manifest without complete": (
        lambda f: edit_manifest(f, complete=None),
        ["manifest.json", "complete"],
    ),
    "manifest not carescale's": (
        lambda f: (f / MANIFEST).write_text(json.dumps({"seed": 1}), encoding="utf-8"),
        ["manifest.json", "not written by carescale"],
    ),
    "manifest not JSON": (
        lambda f: (f / MANIFEST).write_text("{", encoding="utf-8"),
        ["manifest.json", "not valid JSON"],
    ),
    "truncated parquet": (_truncate, ["activity.parquet", "cannot be read", "corrupt"]),
    "missing parquet": (lambda f: (f / "waits.parquet").unlink(), ["waits.parquet"]),
    "row count mismatch": (
        lambda f: edit_manifest(
            f, tables={**json.loads((f / MANIFEST).read_text())["tables"], "capacity": 999}
        ),
        ["capacity.parquet", "999", "corrupt"],
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupt_folder_gives_one_clear_sentence(case: str, folder: Path) -> None:
    corrupt, fragments = CORRUPTIONS[case]
    corrupt(folder)
    with pytest.raises(ResultsError) as info:
        read_results(folder)
    assert_one_sentence(str(info.value), str(folder), *fragments)


def test_a_missing_folder_gives_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(ResultsError) as info:
        read_results(tmp_path / "never")
    assert_one_sentence(str(info.value), "never", "does not exist")


# ----------------------------------------------------------------------------- failed writes


def _fail_on_third_table(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = pd.DataFrame.to_parquet

    def flaky(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    return calls


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, output: RunOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fail_on_third_table(monkeypatch)
    target = tmp_path / "run"
    with pytest.raises(OSError, match="disk full"):
        write_results(target, output.manifest, output.tables)
    assert len(calls) == 3  # it did get as far as the third table
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_keeps_the_old_folder(
    folder: Path, output: RunOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_on_third_table(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        write_results(folder, {"scenario": "other"}, output.tables, overwrite=True)
    manifest, _ = read_results(folder)
    assert manifest["scenario"]["name"] == "baseline"
    assert leftovers(folder.parent) == []
