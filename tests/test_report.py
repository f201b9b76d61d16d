"""``carescale report``: the three formats of a run folder and of a comparison folder.

One tiny run (2,000 people x 1 year x 2 replications) and one tiny comparison (the baseline
against 20 % more GP capacity and the shipped link-workers scenario, same size) are written
once for the module; every test reads their reports.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from helpers import gp_capacity, run_main

from model.register import Register
from model.report.content import load, net_saving_by_replication

REPO = Path(__file__).resolve().parents[1]
SIZE = ["--population", "2000", "--years", "1", "--replications", "2", "--no-progress"]


def derived(name: str, body: str = "") -> str:
    return f'[scenario]\nname = "{name}"\nextends = "baseline.toml"\n\n{body}'


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, register: Register) -> dict[str, Any]:
    """A run folder and a comparison folder, each with its default report written."""
    work = tmp_path_factory.mktemp("report")
    shutil.copytree(REPO / "scenarios", work / "scenarios")
    gp = "\n".join(
        f"{k.removeprefix('capacity.gp.')} = {v!r}" for k, v in gp_capacity(register, 1.2).items()
    )
    (work / "scenarios" / "gp_plus.toml").write_text(
        derived("gp_plus", f"[capacity.gp]\n{gp}\n"), encoding="utf-8"
    )
    base = str(work / "scenarios" / "baseline.toml")
    run, cmp = work / "run", work / "cmp"
    code, run_out, err = run_main(["run", base, "--out", str(run), *SIZE])
    assert code == 0, err
    code, cmp_out, err = run_main(
        [
            "compare", base, str(work / "scenarios" / "gp_plus.toml"),
            str(work / "scenarios" / "link_workers.toml"), "--out", str(cmp), *SIZE,
        ]
    )  # fmt: skip
    assert code == 0, err
    printed = {}
    for folder in (run, cmp):
        code, out, err = run_main(["report", str(folder)])
        assert code == 0, err
        printed[folder.name] = out
    return {
        "work": work,
        "run": run,
        "cmp": cmp,
        "run_out": run_out,
        "cmp_out": cmp_out,
        "printed": printed,
    }


KINDS = ("run", "cmp")


@pytest.mark.parametrize("kind", KINDS)
def test_three_formats_figures_and_a_report_manifest(folders: dict[str, Any], kind: str) -> None:
    report = folders[kind] / "report"
    for name in ("report.html", "report.md", "report.xlsx"):
        assert (report / name).stat().st_size > 1000, name
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tool"] == "carescale" and manifest["kind"] == "report"
    assert manifest["complete"] is True
    assert manifest["source"]["kind"] == ("run" if kind == "run" else "compare")
    figures = manifest["figures"]
    expected = {"demand_by_setting", "equity", "waiting_list", "wait_distribution"}
    if kind == "cmp":
        expected |= {"cost_shift_waterfall", "net_saving_distribution", "lever_throughput"}
    else:
        expected |= {"cost_by_payer"}
        assert "net_saving_distribution" not in figures  # no replications to compare
    assert expected <= set(figures)
    for name in figures:
        assert (report / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (report / "figures" / f"{name}.svg").read_bytes()[:2000]
    # every file written is listed, so the results folder stays carescale's
    listed = set(manifest["files"])
    on_disk = {p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == listed


@pytest.mark.parametrize("kind", KINDS)
def test_html_is_self_contained_and_embeds_its_figures(folders: dict[str, Any], kind: str) -> None:
    text = (folders[kind] / "report" / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<link\b", text, re.IGNORECASE)
    assert not re.search(r"<script\b[^>]*\bsrc=", text, re.IGNORECASE)
    assert not re.search(r"<img\b[^>]*src=\"(?!data:image/png;base64,)", text, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?https?:", text, re.IGNORECASE)  # no CSS fetches
    assert not re.search(r"\bsrc=\"https?:", text, re.IGNORECASE)
    manifest = json.loads((folders[kind] / "report" / "manifest.json").read_text())
    assert text.count('<img src="data:image/png;base64,') == len(manifest["figures"])
    assert "@media print" in text
    md = (folders[kind] / "report" / "report.md").read_text(encoding="utf-8")
    for name in manifest["figures"]:
        assert f"(figures/{name}.png)" in md
    # the same sections, in the same order, in both
    h2 = re.findall(r"<h2[^>]*>([^<]+)</h2>", text)
    assert h2 == re.findall(r"^## (.+)$", md, re.MULTILINE)
    assert h2[-1].startswith("Appendix")


def test_xlsx_has_numbers_units_and_frozen_headers(folders: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(folders["cmp"] / "report" / "report.xlsx")
    expected = {
        "summary", "activity", "payer ledger", "equity", "levers", "waits", "parameters",
        "manifest",
    }  # fmt: skip
    assert expected <= set(wb.sheetnames)
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A4", "B4"), ws.title  # title, note and header rows frozen
    summary = wb["summary"]
    header = [c.value for c in summary[3]]
    assert header[:5] == ["scenario", "headline", "quantity", "unit", "mean"]
    rows = [r for r in summary.iter_rows(min_row=4, values_only=True) if r[1] == "yes"]
    assert len(rows) == 2 * 5  # five headline numbers for each scenario
    for row in rows:
        assert all(isinstance(v, (int, float)) for v in row[4:7]), row
    # the numbers are the summary's own
    case = json.loads((folders["cmp"] / "comparison" / "summary.json").read_text())
    lever_cost = case["scenarios"]["link_workers"]["measures"]["lever_cost_gbp"]
    (found,) = [r for r in rows if r[0] == "link_workers" and r[2] == "lever cost"]
    assert found[4] == pytest.approx(lever_cost["mean"])
    assert found[5] == pytest.approx(lever_cost["low"])
    ledger = wb["payer ledger"]
    head = [c.value for c in ledger[3]]
    assert {"cashable saving (GBP)", "non-cashable saving (GBP)"} <= set(head)
    col = head.index("cashable saving (GBP)")
    cells = [r[col] for r in ledger.iter_rows(min_row=4)]
    assert all(isinstance(c.value, (int, float)) for c in cells)
    assert all(c.number_format == "#,##0" for c in cells)
    params = wb["parameters"]
    assert [c.value for c in params[3]][:5] == ["key", "value", "unit", "confidence", "source"]
    keys = {r[0] for r in params.iter_rows(min_row=4, values_only=True)}
    assert "capacity.gp.gp_minutes_per_1000_per_working_day" in keys
    assert not any(str(k).startswith("targets.") for k in keys)
    # the GP capacity of the gp_plus run is its scenario's, 20 % above the baseline's
    gp = [
        r
        for r in params.iter_rows(min_row=4, values_only=True)
        if r[0] == "capacity.gp.gp_minutes_per_1000_per_working_day"
    ]
    assert len(gp) == 2
    by_runs = {r[5]: r[1] for r in gp}
    assert by_runs["gp_plus"] == pytest.approx(by_runs["baseline, link_workers"] * 1.2, rel=1e-6)


def test_run_report_shows_the_baseline_itself(folders: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(folders["run"] / "report" / "report.xlsx")
    assert {"summary", "activity", "payer ledger", "equity", "waits", "parameters"} <= set(
        wb.sheetnames
    )
    quantities = {r[0]: r for r in wb["summary"].iter_rows(min_row=4, values_only=True)}
    cost = quantities["cost of care, all payers"]
    assert isinstance(cost[2], float) and cost[2] > 0
    # the payer ledger adds up to the summary's cost of care (all years, represented)
    ledger = wb["payer ledger"]
    head = [c.value for c in ledger[3]]
    total = sum(
        r[head.index("cost (GBP)")]
        for r in ledger.iter_rows(min_row=4, values_only=True)
        if r[head.index("financial year")] == "all years"
    )
    assert total == pytest.approx(cost[2], rel=1e-9)


def test_net_saving_distribution_matches_the_summary(folders: dict[str, Any]) -> None:
    results = load(folders["cmp"])
    table = net_saving_by_replication(results)
    for name, case in results.summary["scenarios"].items():
        npv = table.loc[table["scenario"] == name, "npv_gbp"].to_numpy()
        assert len(npv) == 2
        assert np.mean(npv) == pytest.approx(case["measures"]["npv_gbp"]["mean"], abs=1e-6)


def test_run_and_compare_print_the_report_command(folders: dict[str, Any]) -> None:
    for kind, printed in (("run", folders["run_out"]), ("cmp", folders["cmp_out"])):
        last = printed.strip().splitlines()[-1]
        assert last == f"report: carescale report {folders[kind]}"
    assert "report.html" in folders["printed"]["cmp"]


def test_a_second_report_needs_overwrite_and_replaces_only_a_report(
    folders: dict[str, Any],
) -> None:
    cmp = folders["cmp"]
    before = (cmp / "report" / "manifest.json").read_text()
    code, _out, err = run_main(["report", str(cmp)])
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (cmp / "report" / "manifest.json").read_text() == before
    # --overwrite never replaces a run folder
    code, _out, err = run_main(
        ["report", str(cmp), "--out", str(cmp / "runs" / "baseline"), "--overwrite"]
    )
    assert code == 2 and "only an earlier report" in err
    assert (cmp / "runs" / "baseline" / "activity.parquet").is_file()
    # an earlier report is replaced, here by one with fewer formats
    code, _out, err = run_main(["report", str(cmp), "--format", "md", "--overwrite"])
    assert code == 0, err
    report = cmp / "report"
    assert (report / "report.md").is_file() and not (report / "report.html").exists()
    assert json.loads((report / "manifest.json").read_text())["formats"] == ["md"]
    assert not list(cmp.glob(".carescale-staging-*"))


def test_core_modules_never_import_the_report_or_matplotlib() -> None:
    pattern = re.compile(
        r"^\s*(from|import)\s+(matplotlib|ipywidgets|model\.report|model\.plots|model\.workshop)\b",
        re.M,
    )
    for path in (REPO / "model").rglob("*.py"):
        rel = path.relative_to(REPO / "model").as_posix()
        # outside the core: reports, plots, the what-if workshop, and the CLI that calls them
        if rel.startswith("report/") or rel in (
            "plots.py",
            "workshop.py",
            "workshop_app.py",
            "cli.py",
        ):
            continue
        assert not pattern.search(path.read_text(encoding="utf-8")), rel
