"""``carescale compare``: the folder it writes, pairing, scaling and the terminal summary.

One small comparison (2,000 people, one year, three replications) of the baseline with a
scenario identical to it (another name) and one with 20 % more GP capacity is run once for
the module. It checks every file and column the issue lists, that the identical scenario
differs by exactly zero, that paired differences are far less noisy than unpaired ones, that
every total is for the represented population, and the five headline numbers. The planning
checks (evidence modes, names) run on scenarios without any simulation.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import gp_capacity, run_main

from model import business_case as bc
from model.compare import EVIDENCE_SEPARATOR, plan
from model.errors import ScenarioError
from model.outputs import first_foreign, read_owned_manifest
from model.register import Register
from model.results import TABLES
from model.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]
PEOPLE, YEARS, REPS = 2_000, 1, 3
DIFFERENCE_COLUMNS = [
    "scenario", "replication", "year", "setting", "service", "mode", "payer", "segment",
    "imd_quintile", "ltc_band", "delta_count", "delta_cost_gbp",
]  # fmt: skip


def derived(name: str, body: str = "") -> str:
    return f'[scenario]\nname = "{name}"\nextends = "baseline.toml"\n\n{body}'


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory, register: Register) -> dict[str, Any]:
    """The comparison folder and what the command printed."""
    work = tmp_path_factory.mktemp("compare")
    shutil.copytree(REPO / "scenarios", work / "scenarios")
    gp = "\n".join(
        f"{k.removeprefix('capacity.gp.')} = {v!r}" for k, v in gp_capacity(register, 1.2).items()
    )
    (work / "scenarios" / "same.toml").write_text(derived("same"), encoding="utf-8")
    (work / "scenarios" / "gp_plus.toml").write_text(
        derived("gp_plus", f"[capacity.gp]\n{gp}\n"), encoding="utf-8"
    )
    out = work / "cmp"
    code, stdout, stderr = run_main(
        [
            "compare", str(work / "scenarios" / "baseline.toml"),
            str(work / "scenarios" / "same.toml"), str(work / "scenarios" / "gp_plus.toml"),
            "--population", str(PEOPLE), "--years", str(YEARS), "--replications", str(REPS),
            "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0, stderr
    return {"out": out, "stdout": stdout}


def read(comparison: dict[str, Any], rel: str) -> pd.DataFrame:
    return pd.read_parquet(comparison["out"] / rel)


def test_writes_every_file_with_the_listed_columns(comparison: dict[str, Any]) -> None:
    out: Path = comparison["out"]
    manifest = read_owned_manifest(out)
    assert manifest is not None and manifest["kind"] == "compare" and manifest["complete"]
    assert first_foreign(out) is None  # carescale's own folder: --overwrite may replace it
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["baseline", "gp_plus", "same"]
    for name in ("baseline", "same", "gp_plus"):
        run = out / "runs" / name
        assert (read_owned_manifest(run) or {}).get("kind") == "run"
        for table in (*TABLES, "lever_activity"):
            assert (run / f"{table}.parquet").is_file(), (name, table)
        assert list(pd.read_parquet(run / "lever_activity.parquet").columns) == list(
            bc.LEVER_ACTIVITY_COLUMNS
        )
    diffs = read(comparison, "comparison/differences.parquet")
    assert list(diffs.columns)[: len(DIFFERENCE_COLUMNS)] == DIFFERENCE_COLUMNS
    assert set(diffs["scenario"].astype(str)) == {"same", "gp_plus"}
    assert sorted(diffs["replication"].unique()) == list(range(REPS))
    levers = read(comparison, "comparison/levers.parquet")
    assert list(levers.columns) == ["scenario", *bc.LEVER_ACTIVITY_COLUMNS]
    # levers.parquet and summary.json are the only files of their names in the folder
    for name in ("levers.parquet", "summary.json"):
        assert len(list(out.rglob(name))) == 1, name


def test_summary_json_schema(comparison: dict[str, Any]) -> None:
    summary = json.loads((comparison["out"] / "comparison" / "summary.json").read_text())
    assert summary["schema_version"] == 1
    assert summary["uncertainty"] == (
        "stochastic (Monte Carlo) only; parameter uncertainty needs a sensitivity analysis"
    )
    assert summary["replications"] == REPS and summary["years"] == [2024]
    assert summary["discount_rate"] == 0.035 and summary["health_discount_rate"] == 0.015
    assert summary["optimism_bias"]["applied"] is False
    assert list(summary["scenarios"]) == ["same", "gp_plus"]
    case = summary["scenarios"]["gp_plus"]
    for key in (*bc.MEASURES, "roi", "roi_cashable", "cost_per_qaly_gbp", "switching_value"):
        assert set(case["measures"][key]) == {"mean", "low", "high"}, key
    assert case["measures"]["cost_per_qaly_gbp"]["mean"] is None  # no QALYs without levers
    assert set(case["equity"]) == {"imd_quintile", "segment"}
    assert set(case["equity"]["imd_quintile"]) == {"1", "2", "3", "4", "5"}
    assert set(case) >= {"payback", "by_year", "change_in_cost_by_payer_gbp", "levers"}


def test_a_scenario_identical_to_the_baseline_differs_by_zero(comparison: dict[str, Any]) -> None:
    diffs = read(comparison, "comparison/differences.parquet")
    same = diffs[diffs["scenario"] == "same"]
    assert len(same) > 1000
    for col in bc.DELTAS:
        assert (same[col] == 0).all(), col
    summary = json.loads((comparison["out"] / "comparison" / "summary.json").read_text())
    for key, est in summary["scenarios"]["same"]["measures"].items():
        assert est["mean"] in (0.0, None), key


def _totals(run: Path, service: str | None = None) -> np.ndarray:
    act = pd.read_parquet(run / "activity.parquet")
    if service is not None:
        act = act[act["service"] == service]
    column = "cost_gbp" if service is None else "count"
    return act.groupby("replication")[column].sum().sort_index().to_numpy()


def test_paired_differences_are_much_less_noisy_than_unpaired(comparison: dict[str, Any]) -> None:
    """More GP capacity, total cost: scenario minus baseline of the same replication (common
    random numbers) against scenario minus the baseline of another replication (each
    replication has its own population). Over seeds the ratio of the sds is 40-140."""
    runs = comparison["out"] / "runs"
    base, scen = _totals(runs / "baseline"), _totals(runs / "gp_plus")
    paired = scen - base
    unpaired = scen - np.roll(base, 1)
    assert paired.std(ddof=1) < unpaired.std(ddof=1) / 4, (paired, unpaired)


def test_totals_are_for_the_represented_population(comparison: dict[str, Any]) -> None:
    runs = comparison["out"] / "runs"
    scale = 100_000 / PEOPLE  # baseline.toml's population is the place it stands for
    diffs = read(comparison, "comparison/differences.parquet")
    gp = diffs[diffs["scenario"] == "gp_plus"]
    simulated = _totals(runs / "gp_plus") - _totals(runs / "baseline")
    represented = gp.groupby("replication")["delta_cost_gbp"].sum().sort_index().to_numpy()
    np.testing.assert_allclose(represented, scale * simulated, rtol=1e-9)
    summary = json.loads((comparison["out"] / "comparison" / "summary.json").read_text())
    assert summary["scale"] == scale and summary["represents"] == 100_000
    case = summary["scenarios"]["gp_plus"]
    assert case["measures"]["care_cost_change_gbp"]["mean"] == pytest.approx(represented.mean())
    person_years = sum(g["person_years"]["mean"] for g in case["equity"]["imd_quintile"].values())
    assert person_years == pytest.approx(100_000 * YEARS, rel=0.05)


def test_terminal_summary_has_the_five_headline_numbers(comparison: dict[str, Any]) -> None:
    lines = comparison["stdout"].strip().splitlines()
    text = "\n".join(lines)
    for label in bc.HEADLINE.values():
        row = next(line for line in lines if line.startswith(label))
        assert " to " in row, row  # an interval for each scenario
    assert "stochastic (Monte Carlo) only" in text
    assert "gp_plus" in text and "same" in text
    assert lines[-2].startswith(f"wrote {comparison['out']}/")
    assert lines[-1] == f"report: carescale report {comparison['out']}"


def test_results_do_not_depend_on_the_workers(comparison: dict[str, Any]) -> None:
    """The gp_plus comparison again on two worker processes: the same differences."""
    work = comparison["out"].parent
    out = work / "cmp_workers"
    code, _, stderr = run_main(
        [
            "compare", str(work / "scenarios" / "baseline.toml"),
            str(work / "scenarios" / "gp_plus.toml"), "--population", str(PEOPLE),
            "--years", str(YEARS), "--replications", str(REPS), "--workers", "2",
            "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0, stderr
    one = read(comparison, "comparison/differences.parquet")
    one = one[one["scenario"] == "gp_plus"].reset_index(drop=True)
    two = pd.read_parquet(out / "comparison" / "differences.parquet")
    for col in ("scenario", "setting", "service", "mode", "payer", "segment", "ltc_band"):
        one[col], two[col] = one[col].astype(str), two[col].astype(str)
    pd.testing.assert_frame_equal(one, two)


# ----------------------------------------------------------------------------- planning


@pytest.fixture(scope="module")
def base() -> Scenario:
    return load_scenario(REPO / "scenarios" / "baseline.toml")


def variant(base: Scenario, name: str, levers: dict[str, Any] | None = None) -> Scenario:
    from model.interventions import parse_levers

    run = base.run
    parsed = parse_levers(levers or {}, f"{name}.toml", run.start_year, run.years)
    return dataclasses.replace(base, name=name, path=f"{name}.toml", levers=parsed)


def test_evidence_both_runs_a_scenario_with_levers_under_each_prior(base: Scenario) -> None:
    lever = variant(base, "lw", {"link_workers": {"fte": 10}})
    plain = variant(base, "capacity")
    arms = plan(base, [lever, plain], "both")
    assert [a.name for a in arms] == [
        f"lw{EVIDENCE_SEPARATOR}before_after", f"lw{EVIDENCE_SEPARATOR}controlled", "capacity"
    ]  # fmt: skip
    assert [a.evidence for a in arms] == ["before_after", "controlled", None]
    assert arms[0].scenario.levers["link_workers"].evidence == "before_after"
    assert arms[0].scenario.levers["link_workers"].options["fte"] == (10.0,)
    assert lever.levers["link_workers"].evidence == "controlled"  # the scenario is unchanged
    one = plan(base, [lever], "controlled")
    assert [(a.name, a.evidence) for a in one] == [("lw", "controlled")]
    own = plan(base, [lever], None)
    assert own[0].scenario is lever
    # a [levers] section with only its default prior declares no lever: one run
    setting_only = variant(base, "setting", {"evidence": "controlled"})
    assert [a.name for a in plan(base, [setting_only], "both")] == ["setting"]
    both = variant(base, "lw2", {"evidence": "controlled", "link_workers": {}})
    chosen = both.with_evidence("before_after").levers
    assert [s.evidence for s in chosen.values()] == ["before_after"]


def test_planning_refuses_clashing_names_and_other_run_settings(base: Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"'baseline'.*own name"):
        plan(base, [variant(base, "baseline")])
    with pytest.raises(ScenarioError, match=r"'twin'.*own name"):
        plan(base, [variant(base, "twin"), variant(base, "twin")])
    with pytest.raises(ScenarioError, match=r"'Twin' is also the name 'twin'"):
        plan(base, [variant(base, "twin"), variant(base, "Twin")])  # one folder on Windows
    # a scenario literally named like another's evidence arm
    lever = variant(base, "lw", {"link_workers": {}})
    with pytest.raises(ScenarioError, match="own name"):
        plan(base, [lever, variant(base, f"lw{EVIDENCE_SEPARATOR}controlled")], "both")
    other = dataclasses.replace(base, name="x", run=dataclasses.replace(base.run, seed=1))
    with pytest.raises(ScenarioError, match=r"'run\.seed' = 1 differs from the baseline's"):
        plan(base, [other])
    with pytest.raises(ScenarioError, match="evidence"):
        plan(base, [variant(base, "x")], "optimistic")


@pytest.mark.parametrize("side_by_side", [False, True], ids=["one_after_other", "side_by_side"])
def test_an_interrupted_comparison_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side_by_side: bool
) -> None:
    """SIGINT while the scenario runs (one after the other: the baseline's run folder
    already staged; side by side: in the scenario's process): no comparison folder, no
    staging folder, and a one-line notice."""
    import model.compare
    import model.experiments

    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    (tmp_path / "scenarios" / "same.toml").write_text(derived("same"), encoding="utf-8")
    real = model.compare.run_scenario
    calls: list[str] = []

    def interrupt_same(scenario: Scenario, *args: Any, **kwargs: Any) -> Any:
        calls.append(scenario.name)
        if scenario.name == "same":
            raise KeyboardInterrupt
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(model.compare, "run_scenario", interrupt_same)
    monkeypatch.setattr(model.experiments, "runs_side_by_side", lambda *a: side_by_side)
    out = tmp_path / "cmp"
    code, stdout, stderr = run_main(
        [
            "compare", str(tmp_path / "scenarios" / "baseline.toml"),
            str(tmp_path / "scenarios" / "same.toml"), "--population", "2000", "--years", "1",
            "--replications", "1", "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 130 and "nothing was left half-written" in stderr
    assert ("two runs at a time" in stdout) is side_by_side
    # (side by side, the runs were in forked processes: this one saw no call)
    assert calls == ([] if side_by_side else ["baseline", "same"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenarios"]
