"""``carescale run`` and ``carescale validate baseline``, called in-process via ``main``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_one_error_line

from model.cli import EXIT_FAILED_CHECKS, EXIT_OK, EXIT_USER_ERROR, main
from model.register import Register
from model.results import TABLES, read_results
from model.validation import CSV_COLUMNS, FITTED_KINDS

BASELINE = "scenarios/baseline.toml"


@pytest.fixture
def in_repo(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, as the README's commands do."""
    monkeypatch.chdir(repo_root)
    return repo_root


def run_args(out: Path, *extra: str) -> list[str]:
    return [
        "run",
        BASELINE,
        "--population",
        "5000",
        "--years",
        "1",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


# ----------------------------------------------------------------------------- run


def test_run_writes_the_folder_and_prints_the_tables(
    in_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    assert main(run_args(out)) == EXIT_OK
    printed = capsys.readouterr()
    assert printed.err == ""  # --no-progress: no bar
    text = printed.out
    assert "scenario 'baseline'" in text and "5,000 people" in text
    activity = text.index("Activity per year")
    cost = text.index("Cost per year by payer")
    assert activity < cost
    for row in (
        "GP appointments (attended)",
        "A&E attendances",
        "bed days",
        "people on long-term social care support",
    ):
        assert row in text[activity:cost], row
    for payer in ("nhs_acute", "primary_care", "community_health", "la_social_care", "total"):
        assert payer in text[cost:], payer
    assert f"wrote {out}" in text
    manifest, tables = read_results(out)
    assert (manifest["population"], manifest["years"], manifest["replications"]) == (5000, 1, 1)
    assert manifest["scenario"]["name"] == "baseline"
    assert set(tables) == set(TABLES)
    assert tables["activity"]["year"].unique().tolist() == [2024]
    # the baseline runs NHS financial years: the header, the columns and the tables say so
    assert "years from 2024/25" in text and "2024/25" in text[activity:cost]
    assert tables["activity"]["financial_year"].unique().tolist() == ["2024/25"]


def test_run_again_without_overwrite_is_one_error_line(
    in_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    assert main(run_args(out)) == EXIT_OK
    first = (out / "manifest.json").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(run_args(out)) == EXIT_USER_ERROR
    printed = capsys.readouterr()
    assert_one_error_line(printed.err, str(out), "already exists", "--overwrite")
    assert "Activity per year" not in printed.out  # refused before simulating
    assert (out / "manifest.json").read_text(encoding="utf-8") == first
    # with --overwrite the folder is replaced
    assert main(run_args(out, "--overwrite", "--seed", "11")) == EXIT_OK
    assert read_results(out)[0]["seed"] == 11


def test_run_with_a_missing_scenario_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    code = main(["run", str(missing), "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, str(missing), "does not exist")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--population", "10", "--population: '10' is out of range; allowed 1,000"),
        ("--years", "0", "--years: '0' is out of range; allowed 1 to 30"),
        ("--workers", "0", "--workers: '0' is out of range; allowed 1 to 64"),
    ],
)
def test_run_with_a_bad_setting_is_one_error_line(
    in_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    fragment: str,
) -> None:
    settings = {"--population": "5000", "--years": "1", option: value}
    args = ["run", BASELINE, "--out", str(tmp_path / "x"), "--no-progress"]
    for name, setting in settings.items():
        args += [name, setting]
    assert main(args) == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, fragment)
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- validate


def test_validate_baseline_writes_a_row_per_target(
    in_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], register: Register
) -> None:
    csv = tmp_path / "checks.csv"
    code = main(
        [
            "validate",
            "baseline",
            "--population",
            "20000",
            "--replications",
            "2",
            "--no-progress",
            "--out",
            str(csv),
        ]
    )
    text = capsys.readouterr().out
    assert code in (EXIT_OK, EXIT_FAILED_CHECKS)
    df = pd.read_csv(csv)
    assert tuple(df.columns) == CSV_COLUMNS
    targets = {p.key for p in register.select("targets.baseline")}
    assert len(df) == len(targets) == 40
    assert set(df["key"]) == targets
    assert list(df["kind"]) == [register[k].kind for k in df["key"]]
    assert list(df["source"]) == [register[k].source for k in df["key"]]
    assert df["simulated"].notna().all()
    # two replications: a standard error for every target, which widens the accepted range
    assert (df["se"] >= 0).all()
    tol = [
        (register[k].tolerance or 0.0) * (abs(v) if register[k].relative_tolerance else 1.0)
        for k, v in zip(df["key"], df["target_value"], strict=True)
    ]
    np.testing.assert_allclose(df["high"] - df["low"], 2 * (np.array(tol) + 2 * df["se"]))
    inside = (df["simulated"] >= df["low"]) & (df["simulated"] <= df["high"])
    assert (inside == df["passed"]).all()
    fitted = df["kind"].isin(FITTED_KINDS)
    n_fit, n_fit_pass = int(fitted.sum()), int((fitted & df["passed"]).sum())
    n_held, n_held_pass = int((~fitted).sum()), int((~fitted & df["passed"]).sum())
    assert n_held >= 8
    assert f"{n_fit_pass} of {n_fit} input and calibrated targets pass" in text
    assert f"{n_held_pass} of {n_held} held-out targets pass" in text
    # held-out misses are reported, not failures: only input and calibrated misses count
    assert code == (EXIT_OK if n_fit_pass == n_fit else EXIT_FAILED_CHECKS)
    assert "20,000 people" in text and "2 replication(s)" in text and f"wrote {csv}" in text
    assert "standard error" in text


def test_validate_baseline_into_a_missing_folder_is_refused_before_running(
    in_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "validate",
            "baseline",
            "--population",
            "20000",
            "--no-progress",
            "--out",
            str(tmp_path / "none" / "checks.csv"),
        ]
    )
    assert code == EXIT_USER_ERROR
    printed = capsys.readouterr()
    assert_one_error_line(printed.err, "none")
    assert "targets pass" not in printed.out


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0", "--replications: '0' is out of range; allowed 1 to 100"),
        ("101", "--replications: '101' is out of range; allowed 1 to 100"),
        ("two", "--replications: 'two' is not a whole number; allowed 1 to 100"),
    ],
)
def test_validate_baseline_bad_replications_is_one_error_line(
    in_repo: Path, capsys: pytest.CaptureFixture[str], value: str, fragment: str
) -> None:
    code = main(["validate", "baseline", "--replications", value, "--no-progress"])
    assert code == EXIT_USER_ERROR
    printed = capsys.readouterr()
    assert_one_error_line(printed.err, fragment)
    assert "carescale 0" not in printed.out  # refused before the header


@pytest.mark.slow
def test_validate_baseline_passes_every_fitted_target_at_200000(
    in_repo: Path, capsys: pytest.CaptureFixture[str], register: Register
) -> None:
    """The default size and the scenario's seed, one replication to stay fast: every input
    and calibrated baseline target must pass (held-out targets are reported, pass or miss)."""
    code = main(["validate", "baseline", "--replications", "1", "--no-progress"])
    text = capsys.readouterr().out
    assert "200,000 people" in text and "1 replication(s)" in text
    targets = register.select("targets.baseline")
    n_fit = sum(p.kind in FITTED_KINDS for p in targets)
    n_held = sum(p.kind == "held_out" for p in targets)
    assert f"{n_fit} of {n_fit} input and calibrated targets pass" in text, text
    assert f"of {n_held} held-out targets pass" in text
    assert code == EXIT_OK
