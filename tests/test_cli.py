"""The ``carescale`` command line, called in-process through ``model.cli.main``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_one_error_line

from model import __version__
from model.cli import EXIT_FAILED_CHECKS, EXIT_OK, EXIT_USER_ERROR, main
from model.population import build_population
from model.register import Register, register_markdown
from model.validation import CSV_COLUMNS, FITTED_KINDS, checks_csv, population_checks


def data_keys(table: str) -> list[str]:
    """First column of a text table printed by ``carescale parameters`` (after the rule)."""
    lines = table.strip().splitlines()
    assert set(lines[1].replace(" ", "")) == {"-"}, "second line should be the header rule"
    # a wrapped cell continues on lines whose first column is blank
    return [line.split()[0] for line in lines[2:] if not line.startswith(" ")]


# ----------------------------------------------------------------------------- parameters


def test_parameters_prints_the_whole_register(capsys, register: Register) -> None:
    assert main(["parameters", "--width", "1000"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["key", "value"]
    assert data_keys(out) == list(register)


def test_parameters_group_shows_only_that_group(capsys, register: Register) -> None:
    assert main(["parameters", "--group", "activation", "--width", "1000"]) == EXIT_OK
    keys = data_keys(capsys.readouterr().out)
    assert keys == [p.key for p in register.select("activation")]
    assert keys and all(k.startswith("activation.") for k in keys)


def test_parameters_sources_adds_the_source_column(capsys) -> None:
    assert main(["parameters", "--group", "segments", "--sources", "--width", "1000"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "source" in out.splitlines()[0]
    assert "Assumption: SKL/SKR published no population shares" in " ".join(out.split())


def test_parameters_fit_the_width(capsys) -> None:
    assert main(["parameters", "--group", "segments", "--width", "100"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    # cells wrap between words (long keys after their dots), so every line fits
    assert max(len(line) for line in lines) <= 100
    firsts = [line.split()[0] for line in lines if line.startswith("segments.")]
    assert firsts[0] == "segments.shares"  # the first column is narrowed last


def test_parameters_markdown_format(capsys) -> None:
    assert main(["parameters", "--group", "targets", "--format", "markdown"]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| key | value |") and lines[1].startswith("|---|")
    assert all(line.startswith("| targets.") for line in lines[2:])


def test_parameters_unknown_group_is_one_error_line(capsys) -> None:
    assert main(["parameters", "--group", "nosuchgroup"]) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_error_line(captured.err, "'nosuchgroup'", "groups are: activation")


def test_parameters_markdown_file_is_the_register_page(
    tmp_path: Path, capsys, register: Register
) -> None:
    out = tmp_path / "parameters.md"
    assert main(["parameters", "--markdown", str(out)]) == EXIT_OK
    assert out.read_text(encoding="utf-8") == register_markdown(register)
    assert f"({len(register)} parameters)" in capsys.readouterr().out


def test_parameters_bad_file_is_one_error_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "grp.toml"
    bad.write_text(
        '[_meta]\ntitle = "t"\n[p]\nvalue = 1.3\nunit = "proportion"\n'
        'range = "[0, 1]"\ndescription = "d"\nsource = "s"\nconfidence = "H"\n'
        'uncertainty = { distribution = "fixed" }\n',
        encoding="utf-8",
    )
    assert main(["parameters", "--files", str(bad)]) == EXIT_USER_ERROR
    assert_one_error_line(
        capsys.readouterr().err,
        "grp.toml: 'grp.p' = 1.3 is out of range; allowed [0, 1] (proportion).",
    )


# ----------------------------------------------------------------------------- validate


def test_validate_population_writes_the_checks(tmp_path: Path, capsys, register) -> None:
    out = tmp_path / "tmp.csv"
    code = main(["validate", "population", "--size", "20000", "--seed", "1", "--out", str(out)])
    stdout = capsys.readouterr().out
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])

    assert tuple(df.columns) == CSV_COLUMNS
    assert set(df["passed"].astype(str)) <= {"True", "False", "true", "false"}
    passed = df["passed"].astype(str).str.lower() == "true"
    # the file holds exactly the library's checks for the same size and seed
    expected = checks_csv(population_checks(build_population(20_000, seed=1), register))
    assert list(df["key"]) == list(expected["key"])
    assert list(df["kind"]) == list(expected["kind"])
    np.testing.assert_allclose(df["target_value"], expected["target_value"], rtol=1e-12)
    np.testing.assert_allclose(df["simulated"], expected["simulated"], rtol=1e-12)
    assert list(passed) == list(expected["passed"] == "true")
    inside = (df["simulated"] >= df["low"]) & (df["simulated"] <= df["high"])
    assert (inside == passed).all()
    # at 20,000 people a target may miss; the exit code says whether an input or calibrated
    # target did (held-out misses are reported, not failures)
    fitted = df["kind"].isin(FITTED_KINDS)
    n_fit, n_fit_pass = int(fitted.sum()), int((fitted & passed).sum())
    n_held, n_held_pass = int((~fitted).sum()), int((~fitted & passed).sum())
    assert n_held >= 4
    assert code == (EXIT_OK if n_fit_pass == n_fit else EXIT_FAILED_CHECKS)
    assert f"{n_fit_pass} of {n_fit} input and calibrated targets pass" in stdout
    assert f"{n_held_pass} of {n_held} held-out targets pass" in stdout
    assert "held_out" in stdout and "calibrated" in stdout  # the printed table has the kinds
    assert f"wrote {out}" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["tmp.csv"]  # no temporary file left


def test_validate_population_out_is_replaced_only_with_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "checks.csv"
    args = ["validate", "population", "--size", "2000", "--out", str(out)]
    assert main([*args, "--seed", "1"]) in (EXIT_OK, EXIT_FAILED_CHECKS)
    first = out.read_text(encoding="utf-8")
    capsys.readouterr()
    # again without --overwrite: refused before building anything, file unchanged
    assert main([*args, "--seed", "2"]) == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, "already exists", "--overwrite")
    assert out.read_text(encoding="utf-8") == first
    # with --overwrite, a file carescale wrote (it starts with the CSV header) is replaced
    assert main([*args, "--seed", "2", "--overwrite"]) in (EXIT_OK, EXIT_FAILED_CHECKS)
    assert out.read_text(encoding="utf-8") != first
    assert out.read_text(encoding="utf-8").startswith("key,description,kind,")
    # but never a file it did not write
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["validate", "population", "--size", "2000", "--out", str(mine), "--overwrite"])
    assert code == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, "not written by carescale")
    assert mine.read_text(encoding="utf-8") == "a,b\n1,2\n"


@pytest.mark.parametrize("size", ["-5", "0", "999", "5000001"])
def test_validate_population_bad_size_is_one_error_line(tmp_path: Path, capsys, size: str) -> None:
    out = tmp_path / "checks.csv"
    assert main(["validate", "population", "--size", size, "--out", str(out)]) == (EXIT_USER_ERROR)
    assert_one_error_line(
        capsys.readouterr().err, "--size", repr(size), "allowed 1,000 to 5,000,000"
    )
    assert not out.exists()


def test_validate_population_bad_seed_is_one_error_line(tmp_path: Path, capsys) -> None:
    assert main(["validate", "population", "--size", "1000", "--seed", "-1"]) == (EXIT_USER_ERROR)
    assert_one_error_line(capsys.readouterr().err, "--seed", "'-1'", "allowed 0 to ")


def test_validate_population_into_a_missing_folder_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "missing" / "checks.csv"
    code = main(["validate", "population", "--size", "1000", "--out", str(out)])
    assert code == EXIT_USER_ERROR
    assert_one_error_line(capsys.readouterr().err, "does not exist")
    assert not out.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_unparseable_size_exits_2_with_one_line(capsys) -> None:
    # usage mistakes are reported in one line (no usage block) and main returns 2
    code = main(["validate", "population", "--size", "2.5"])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'2.5' is not a whole number; allowed 1,000 to 5,000,000" in err


def test_a_command_is_required(capsys) -> None:
    assert main([]) == EXIT_USER_ERROR
    assert "required" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the module


def test_python_dash_m_model_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"carescale {__version__}"
    assert __version__ not in ("", "0.0.0+unknown")
