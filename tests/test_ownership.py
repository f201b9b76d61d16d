"""carescale replaces only what it wrote, writes only below its output root, cleans up faults.

The rules live in ``model.outputs``; these tests drive them through ``carescale run`` (small
runs) and directly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import assert_one_error_line

from model.cli import EXIT_OK, EXIT_USER_ERROR, main
from model.errors import ResultsError
from model.outputs import (
    MANIFEST,
    STAGE_PREFIX,
    STAGE_RECORD,
    TOOL,
    Staging,
    first_foreign,
    remove_stale_staging,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--population", "1000", "--years", "1", "--no-progress"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current folder holding a copy of the shipped scenarios."""
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every path below ``root`` with its size and content (files) or -1 (folders)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = (-1, b"") if p.is_dir() else (p.stat().st_size, p.read_bytes())
    return out


def run(*args: str) -> int:
    return main(["run", "scenarios/baseline.toml", *SMALL, *args])


# ----------------------------------------------------------------------------- --overwrite


def test_overwrite_replaces_its_own_results_folder(workdir: Path, capsys) -> None:
    assert run("--out", "mine") == EXIT_OK
    first = json.loads((workdir / "mine" / MANIFEST).read_text())
    assert first["tool"] == TOOL and first["kind"] == "run" and first["complete"] is True
    assert run("--out", "mine", "--overwrite", "--seed", "5") == EXIT_OK
    second = json.loads((workdir / "mine" / MANIFEST).read_text())
    assert second["seed"] == 5
    assert not [p for p in workdir.iterdir() if p.name.startswith(STAGE_PREFIX)]


def test_overwrite_keeps_a_carescale_subfolder_rule(workdir: Path, capsys) -> None:
    # a run folder holding a carescale report folder is still carescale's and is replaced
    assert run("--out", "mine") == EXIT_OK
    report = workdir / "mine" / "report"
    report.mkdir()
    (report / "report.md").write_text("# report\n")
    (report / MANIFEST).write_text(
        json.dumps({"tool": TOOL, "kind": "report", "files": ["report.md"], "complete": True})
    )
    assert first_foreign(workdir / "mine") is None
    assert run("--out", "mine", "--overwrite") == EXIT_OK
    assert not report.exists()


@pytest.mark.parametrize(
    ("setup", "fragments"),
    [
        pytest.param(
            lambda d: (d / "docs").mkdir() or (d / "docs" / "thesis.txt").write_text("years"),
            ["docs", "not a carescale results folder"],
            id="a folder of documents",
        ),
        pytest.param(
            lambda d: run("--out", "docs") or (d / "docs" / "thesis.txt").write_text("years"),
            ["thesis.txt", "did not write"],
            id="a results folder holding a foreign file",
        ),
        pytest.param(
            lambda d: (
                run("--out", "docs")
                or (d / "docs" / "report").mkdir()
                or (d / "docs" / "report" / "notes.txt").write_text("mine")
            ),
            ["notes.txt", "did not write"],
            id="a foreign file in a subfolder without its own manifest",
        ),
        pytest.param(
            lambda d: (d / "docs").write_text("a file"),
            ["docs", "is a file"],
            id="a file",
        ),
    ],
)
def test_overwrite_refuses_what_carescale_did_not_write(
    workdir: Path, capsys, setup, fragments: list[str]
) -> None:
    setup(workdir)
    capsys.readouterr()
    before = snapshot(workdir)
    assert run("--out", "docs", "--overwrite") == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, *fragments)
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    ("out", "fragment"),
    [(".", "current folder"), ("..", "contains the current folder"), ("/", "current folder")],
)
def test_overwrite_never_replaces_the_current_folder_or_its_parents(
    workdir: Path, capsys, out: str, fragment: str
) -> None:
    before = snapshot(workdir)
    assert run("--out", out, "--overwrite") == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, fragment)
    assert snapshot(workdir) == before


def test_overwrite_never_replaces_the_home_folder(
    workdir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = workdir / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert run("--out", str(home), "--overwrite") == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, "home folder")
    assert home.is_dir()


# ----------------------------------------------------------------------------- the output root


@pytest.mark.parametrize(
    "name",
    ["../../x", "/tmp/elsewhere", ".", "..", "a/b/c", "a\\b", "new\nline", "\x1b[31mred", ""],
)
def test_a_scenario_name_cannot_leave_the_results_root(workdir: Path, capsys, name: str) -> None:
    (workdir / "scenarios" / "bad.toml").write_text(
        f'[scenario]\nname = {json.dumps(name)}\nextends = "baseline.toml"\n'
    )
    before = snapshot(workdir)
    assert main(["run", "scenarios/bad.toml", *SMALL, "--overwrite"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert_one_error_line(err, "scenario.name")
    assert "\x1b" not in err and err.count("\n") == 1
    assert snapshot(workdir) == before
    assert not (workdir.parent / "x").exists()


def test_without_out_results_go_to_results_slash_name(workdir: Path, capsys) -> None:
    assert run() == EXIT_OK
    assert (workdir / "results" / "baseline" / MANIFEST).is_file()
    assert sorted(p.name for p in (workdir / "results").iterdir()) == ["baseline"]


def test_out_is_the_results_folder_itself(workdir: Path, capsys) -> None:
    assert run("--out", "here") == EXIT_OK
    names = sorted(p.name for p in (workdir / "here").iterdir())
    assert names == sorted(
        [
            MANIFEST,
            *[
                f"{t}.parquet"
                for t in json.loads((workdir / "here" / MANIFEST).read_text())["tables"]
            ],
        ]
    )


def test_a_missing_parent_of_out_is_named(workdir: Path, capsys) -> None:
    before = snapshot(workdir)
    assert run("--out", "no/such/run") == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, "'no/such'", "does not exist")
    assert snapshot(workdir) == before


# ----------------------------------------------------------------------------- faults


def test_permissions_follow_the_umask(workdir: Path, capsys) -> None:
    old = os.umask(0o002)
    try:
        assert run("--out", "shared") == EXIT_OK
    finally:
        os.umask(old)
    assert (workdir / "shared").stat().st_mode & 0o777 == 0o775
    assert (workdir / "shared" / MANIFEST).stat().st_mode & 0o777 == 0o664


def _stage(parent: Path, name: str, **record: object) -> Path:
    stage = parent / f"{STAGE_PREFIX}{name}"
    (stage / "new").mkdir(parents=True)
    if record:
        (stage / STAGE_RECORD).write_text(json.dumps(record))
    return stage


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_staging_folders_are_removed_only_when_safe(tmp_path: Path) -> None:
    host, now = socket.gethostname(), time.time()
    dead = _stage(tmp_path, "dead", tool=TOOL, host=host, pid=_dead_pid(), started="", since=now)
    live = _stage(tmp_path, "live", tool=TOOL, host=host, pid=os.getpid(), started="", since=now)
    elsewhere = _stage(tmp_path, "other", tool=TOOL, host="h2", pid=1, started="", since=now)
    old = _stage(tmp_path, "old", tool=TOOL, host="h2", pid=1, started="", since=now - 90_000)
    unknown = _stage(tmp_path, "unknown")
    not_ours = _stage(tmp_path, "x", tool="other", host=host, pid=_dead_pid(), started="", since=0)
    removed = remove_stale_staging(tmp_path)
    assert sorted(removed) == sorted([dead, old])
    for kept in (live, elsewhere, unknown, not_ours):
        assert kept.is_dir()


def test_a_failure_inside_staging_restores_nothing_half_written(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with pytest.raises(RuntimeError), Staging(target, "run") as stage:
        (stage.path / "a.parquet").write_bytes(b"x")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_staging_refuses_an_unwritable_parent(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(ResultsError, match="not writable"):
            Staging(parent / "run", "run").__enter__()
    finally:
        parent.chmod(0o755)


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from model.cli import main

    real = pd.DataFrame.to_parquet

    def slow(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)
        print("WROTE", path, flush=True)
        time.sleep(60)

    pd.DataFrame.to_parquet = slow
    sys.exit(main(sys.argv[1:]))
    """
)


def test_sigterm_while_writing_leaves_no_debris(workdir: Path) -> None:
    script = workdir / "slow.py"
    script.write_text(_SLOW_WRITER)
    before = snapshot(workdir)
    proc = subprocess.Popen(
        [sys.executable, str(script), "run", "scenarios/baseline.toml", *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    deadline = time.time() + 120
    line = ""
    while time.time() < deadline and not line.startswith("WROTE"):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert line.startswith("WROTE"), proc.stderr.read() if proc.stderr else ""
    # one table is on disk in the staging folder: the run is half-written now
    stages = list((workdir / "results").glob(f"{STAGE_PREFIX}*"))
    assert len(stages) == 1 and any(stages[0].rglob("*.parquet"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("carescale: terminated")
    assert snapshot(workdir) == before  # no results/, no staging folder, nothing else


def test_an_unwritable_location_is_refused_before_any_work(
    workdir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # root can write anywhere, so the refusal of the file system is simulated
    import model.outputs

    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(model.outputs, "_mkdir", refuse)
    (workdir / "results").mkdir()
    before = snapshot(workdir)
    assert run() == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert_one_error_line(captured.err, "'results'", "not writable")
    assert "carescale 0." not in captured.out  # refused before the run header
    assert snapshot(workdir) == before


# ----------------------------------------------------------------------------- workload


def test_a_run_needing_more_memory_than_available_is_refused(workdir: Path, capsys) -> None:
    before = snapshot(workdir)
    args = ["--population", "5000000", "--replications", "64", "--workers", "64"]
    assert main(["run", "scenarios/baseline.toml", *args, "--no-progress"]) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert_one_error_line(captured.err, "GiB of memory", "5,000,000 people", "64 worker(s)")
    assert "carescale 0." not in captured.out
    assert snapshot(workdir) == before


def test_demand_above_the_registered_bound_is_refused(workdir: Path, capsys) -> None:
    (workdir / "scenarios" / "busy.toml").write_text(
        '[scenario]\nname = "busy"\nextends = "baseline.toml"\n'
        '[parameters]\n"limits.max_events_per_person_year" = 2.0\n'
    )
    before = snapshot(workdir)
    assert main(["run", "scenarios/busy.toml", *SMALL]) == EXIT_USER_ERROR
    assert_one_error_line(
        capsys.readouterr().err, "busy.toml", "'gp'", "allowed at most 2", "max_events"
    )
    assert snapshot(workdir) == before


@pytest.mark.parametrize("out", ["bad\x1b[31mname", "new\nline", "tab\there"])
def test_an_out_path_with_control_characters_is_refused(workdir: Path, capsys, out: str) -> None:
    before = snapshot(workdir)
    assert run("--out", out) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert_one_error_line(err, "--out", "control character")
    assert "\x1b" not in err and err.count("\n") == 1
    assert snapshot(workdir) == before
