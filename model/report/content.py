"""What a report says: the tables of a run or compare folder, computed with pandas only.

``load`` reads a results folder (refusing anything that is not a complete carescale run or
compare folder in one line) and ``build_content`` turns it into sections of tables. Every
table holds real numbers; a quantity with a 95 % interval across replications is three
columns, ``<label>``, ``<label> 95 % low`` and ``<label> 95 % high`` (the page writers join
them into "mean (low to high)"). Totals of a comparison, and of a run here, are for the
represented population (``[run] represents``): the simulated figures times the run's scale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import __version__
from model import business_case as bc
from model.errors import ResultsError, show
from model.outputs import read_owned_manifest
from model.register import Register, default_register

LOW = " 95 % low"
HIGH = " 95 % high"
#: services drawn in the demand figure, one per setting's main activity (label, setting)
DEMAND_SERVICES: Mapping[str, tuple[str, str]] = {
    "gp_appointment": ("GP appointments", "primary care"),
    "ae_attendance": ("A&E attendances", "acute"),
    "emergency_admission": ("emergency admissions", "acute"),
    "outpatient_attendance": ("outpatient attendances", "acute"),
    "community_nursing_contact": ("community nursing contacts", "community"),
    "social_care_new_request": ("social care new requests", "social care"),
}
#: register groups a run never reads (validation targets)
UNUSED_GROUPS = ("targets",)
#: the measures of a comparison's summary sheet after the five headline numbers (key, label,
#: unit)
EXTRA_MEASURES: Sequence[tuple[str, str, str]] = (
    ("non_cashable_saving_gbp", "non-cashable saving (capacity released)", "GBP"),
    ("care_cost_change_gbp", "change in care cost", "GBP"),
    ("net_cost_gbp", "net cost (lever cost - cashable saving)", "GBP"),
    ("lever_cost_pv_gbp", "lever cost, present value", "GBP"),
    ("cashable_saving_pv_gbp", "cashable saving, present value", "GBP"),
    ("roi", "return on investment (all savings)", "ratio"),
    ("roi_cashable", "return on investment (cashable only)", "ratio"),
    ("qalys", "QALYs gained (discounted)", "QALY"),
    ("cost_per_qaly_gbp", "cost per QALY", "GBP per QALY"),
    ("switching_value", "switching value (multiple of the effect for NPV = 0)", "ratio"),
    ("change_ae_attendances", "change in A&E attendances", "attendances"),
)
HEADLINE_UNITS: Mapping[str, str] = {
    "lever_cost_gbp": "GBP",
    "npv_gbp": "GBP",
    "cashable_saving_gbp": "GBP",
    "change_emergency_admissions": "admissions",
    "change_gp_appointments": "appointments",
}


# ----------------------------------------------------------------------------- structure


@dataclass
class Table:
    """One table: a sheet of the workbook and (if ``page``) a table of the page."""

    sheet: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    page: bool = True


@dataclass
class Section:
    """A heading, paragraphs, tables and the figures (names) shown under it."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    #: preformatted blocks (scenario files as run), shown as code
    blocks: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RunFolder:
    """One run folder: its manifest, tables and the scale to the represented population."""

    name: str
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def scale(self) -> float:
        population = float(self.manifest.get("population") or 1)
        return float(self.manifest.get("represents") or population) / population

    @property
    def replications(self) -> list[int]:
        return sorted(int(r) for r in self.tables["person_years"]["replication"].unique())

    @property
    def years(self) -> list[int]:
        return sorted(int(y) for y in self.tables["person_years"]["year"].unique())


@dataclass
class Results:
    """A loaded results folder: a run, or a comparison (baseline first in ``runs``)."""

    folder: Path
    kind: str
    manifest: dict[str, Any]
    runs: dict[str, RunFolder]
    summary: dict[str, Any] = field(default_factory=dict)
    differences: pd.DataFrame | None = None
    levers: pd.DataFrame | None = None

    @property
    def baseline(self) -> RunFolder:
        return next(iter(self.runs.values()))

    @property
    def scenarios(self) -> list[str]:
        return list(self.summary.get("scenarios", {}))

    def year_labels(self) -> dict[int, str]:
        """``{2024: "2024/25"}`` for financial years, else ``{2024: "2024"}``."""
        py = self.baseline.tables["person_years"]
        if bc.FINANCIAL_YEAR in py.columns:
            pairs = py[["year", bc.FINANCIAL_YEAR]].drop_duplicates()
            return {
                int(y): str(f)
                for y, f in zip(pairs["year"], pairs[bc.FINANCIAL_YEAR], strict=False)
            }
        return {int(y): str(int(y)) for y in py["year"].unique()}


# ----------------------------------------------------------------------------- loading


def refuse_foreign(folder: Path) -> dict[str, Any]:
    """The manifest of a complete carescale run or compare folder, or one clear error."""
    shown = show(str(folder))
    allowed = "give a folder written by carescale run or carescale compare"
    if not folder.is_dir():
        raise ResultsError(f"RESULTS_DIR {shown} is not a folder; {allowed}.")
    manifest = read_owned_manifest(folder)
    if manifest is None:
        raise ResultsError(
            f"RESULTS_DIR {shown} is not a carescale run or compare folder (it has no "
            f"carescale manifest.json); {allowed}."
        )
    kind = manifest.get("kind")
    if kind not in ("run", "compare"):
        raise ResultsError(
            f"RESULTS_DIR {shown} is a carescale folder of kind {show(kind)}, not a run or "
            f"compare folder; {allowed}."
        )
    if manifest.get("complete") is not True:
        raise ResultsError(
            f"RESULTS_DIR {shown}: its manifest.json does not mark it complete; the folder is "
            "corrupt, so run it again."
        )
    return manifest


def _read_run(folder: Path, name: str) -> RunFolder:
    from model.results import read_results

    manifest, tables = read_results(folder)
    lever_path = folder / "lever_activity.parquet"
    if lever_path.is_file():
        try:
            tables["lever_activity"] = pd.read_parquet(lever_path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise ResultsError(
                f"{lever_path} cannot be read ({type(exc).__name__}); the file is corrupt."
            ) from None
    return RunFolder(name, manifest, tables)


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsError(f"comparison folder is missing {path}; run the comparison again.")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ResultsError(
            f"{path} cannot be read ({type(exc).__name__}); the file is corrupt."
        ) from None


def load(folder: Path) -> Results:
    """Read a run or compare folder (checked first, see ``refuse_foreign``)."""
    manifest = refuse_foreign(folder)
    if manifest["kind"] == "run":
        name = str(manifest.get("scenario", {}).get("name", folder.name))
        return Results(folder, "run", manifest, {name: _read_run(folder, name)})
    from model.compare import COMPARISON, RUNS

    base = str(manifest["baseline"]["name"])
    names = [base, *manifest.get("runs", {})]
    runs = {n: _read_run(folder / RUNS / n, n) for n in names}
    path = folder / COMPARISON / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ResultsError(f"{path} cannot be read as JSON; the folder is corrupt.") from None
    return Results(
        folder,
        "compare",
        manifest,
        runs,
        summary,
        _read_parquet(folder / COMPARISON / "differences.parquet"),
        _read_parquet(folder / COMPARISON / "levers.parquet"),
    )


# ----------------------------------------------------------------------------- numbers


def estimate(values: Iterable[float]) -> dict[str, float | None]:
    """Mean and 95 % interval across replications (``model.business_case.estimate``)."""
    return bc.estimate(np.asarray(list(values), dtype=np.float64))


def with_interval(label: str, est: Mapping[str, Any]) -> dict[str, float]:
    """Three columns for one estimate (NaN where there is no interval)."""

    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    return {label: num(est["mean"]), label + LOW: num(est["low"]), label + HIGH: num(est["high"])}


def _per_replication(
    frame: pd.DataFrame, keys: list[str], col: str, reps: Sequence[int]
) -> pd.DataFrame:
    """``col`` summed by keys and replication, every replication present (zeros)."""
    table = frame.groupby([*keys, "replication"], observed=True)[col].sum().unstack("replication")
    return table.reindex(columns=list(reps), fill_value=0.0).fillna(0.0)


def _estimates(
    frame: pd.DataFrame,
    keys: list[str],
    columns: Mapping[str, str],
    reps: Sequence[int],
    scale: float = 1.0,
) -> pd.DataFrame:
    """Per group of ``keys``: every ``columns`` (source -> label) summed per replication and
    reported as mean with interval."""
    parts: dict[tuple[Any, ...], dict[str, float]] = {}
    for col, label in columns.items():
        table = _per_replication(frame, keys, col, reps) * scale
        for idx, row in table.iterrows():
            key = idx if isinstance(idx, tuple) else (idx,)
            parts.setdefault(key, {}).update(with_interval(label, estimate(row.to_numpy())))
    rows = [{**dict(zip(keys, k, strict=True)), **v} for k, v in parts.items()]
    return pd.DataFrame(rows, columns=[*keys, *_labels(columns.values())])


def _labels(labels: Iterable[str]) -> list[str]:
    return [x for label in labels for x in (label, label + LOW, label + HIGH)]


def _year_column(frame: pd.DataFrame, labels: Mapping[int, str]) -> pd.DataFrame:
    """Insert the financial year label after ``year`` when the run counts financial years."""
    if any(str(y) != lab for y, lab in labels.items()) and "year" in frame.columns:
        at = list(frame.columns).index("year") + 1
        frame.insert(at, "financial year", frame["year"].map(lambda y: labels.get(int(y), "")))
    return frame


def _text(frame: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    for col in cols:
        if col in frame.columns:
            frame[col] = frame[col].astype(str)
    return frame


def _nice(name: str) -> str:
    return name.replace("_", " ")


# ----------------------------------------------------------------------------- shared tables


def waits_table(results: Results) -> Table:
    """Waits by run, service and year (means across replications)."""
    frames = []
    for name, run in results.runs.items():
        w = run.tables["waits"].copy()
        reps = max(len(run.replications), 1)
        w["service"] = w["service"].astype(str)
        grouped = w.groupby(["service", "year"], observed=True)
        out = pd.DataFrame(
            {
                "served (people)": grouped["served"].sum() / reps * run.scale,
                "mean wait (days)": grouped["mean_wait_days"].mean(),
                "90th percentile wait (days)": grouped["p90_wait_days"].mean(),
                "waiting at year end (people)": grouped["backlog_end"].sum() / reps * run.scale,
            }
        ).reset_index()
        out.insert(0, "run", name)
        frames.append(out)
    frame = _year_column(pd.concat(frames, ignore_index=True), results.year_labels())
    return Table(
        "waits",
        "Waits by service and year",
        frame,
        "Mean over the replications; counts for the represented population. A wait is from "
        "request to the day served.",
    )


def parameters_table(results: Results) -> Table:
    """Every register entry the runs could read, with the value each run used."""
    register = default_register()
    values: dict[str, dict[str, list[str]]] = {}
    origin: dict[str, str] = {}
    for name, run in results.runs.items():
        scenario = run.manifest.get("scenario", {})
        overrides = {
            **dict(scenario.get("parameters", {})),
            **{f"capacity.{k}": v for k, v in dict(scenario.get("capacity", {})).items()},
        }
        reg: Register = register
        for key, value in overrides.items():
            if key in reg:
                reg = reg.with_values({key: value}, origin=str(scenario.get("file", name)))
                origin[key] = "scenario"
        for p in reg.values():
            if p.group in UNUSED_GROUPS:
                continue
            values.setdefault(p.key, {}).setdefault(p.display_value(), []).append(name)
    rows = []
    n_runs = len(results.runs)
    for key, by_value in values.items():
        p = register[key]
        for value, runs in by_value.items():
            rows.append(
                {
                    "key": key,
                    "value": _number_or_text(value),
                    "unit": p.unit,
                    "confidence": p.confidence,
                    "source": p.source if origin.get(key) is None else f"scenario; {p.source}",
                    "runs": "all" if len(runs) == n_runs else ", ".join(runs),
                }
            )
    frame = pd.DataFrame(rows, columns=["key", "value", "unit", "confidence", "source", "runs"])
    return Table(
        "parameters",
        "Parameters and sources used",
        frame,
        "Every entry of the evidence register the model reads (all but the validation "
        "targets), with the value the runs used: the register's, or the scenario's override "
        "(source starts with 'scenario'). Confidence: H high, M moderate, L low, A assumption, "
        "D derived.",
    )


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return [x for i, v in enumerate(value) for x in _flatten(v, f"{prefix}[{i}]")]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, bool) or value is None:
        return [(prefix, str(value).lower() if value is not None else "")]
    return [(prefix, value)]


def manifest_table(results: Results) -> Table:
    """The results folder's manifest (and every run's), one row per field."""
    rows = [("", k, v) for k, v in _flatten(results.manifest) if not k.startswith("files")]
    if results.kind == "compare":
        for name, run in results.runs.items():
            rows += [
                (name, k, v)
                for k, v in _flatten(run.manifest)
                if not k.startswith(("files", "scenario."))
            ]
    frame = pd.DataFrame(rows, columns=["run", "field", "value"])
    if results.kind == "run":
        frame = frame.drop(columns="run")
    return Table("manifest", "Run manifest", frame, "As recorded in manifest.json.", page=False)


# ----------------------------------------------------------------------------- run


def _run_activity(run: RunFolder, labels: Mapping[int, str]) -> pd.DataFrame:
    act = _text(run.tables["activity"].copy(), ["setting", "service"])
    frame = _estimates(
        act,
        ["setting", "service", "year"],
        {"count": "activity (count)", "cost_gbp": "cost (GBP)"},
        run.replications,
        run.scale,
    )
    return _year_column(frame, labels)


def _payer_ledger(
    act: pd.DataFrame, reps: Sequence[int], scale: float, labels: Mapping[int, str]
) -> pd.DataFrame:
    act = _text(act.copy(), ["payer"])
    act["non_cashable_gbp"] = act["cost_gbp"] - act["cashable_gbp"]
    columns = {
        "cost_gbp": "cost (GBP)",
        "cashable_gbp": "cashable (GBP)",
        "non_cashable_gbp": "non-cashable (GBP)",
    }
    by_year = _estimates(act, ["payer", "year"], columns, reps, scale)
    total = _estimates(act.assign(year=-1), ["payer", "year"], columns, reps, scale)
    frame = pd.concat([by_year, total], ignore_index=True)
    frame = _year_column(frame, {**labels, -1: "all years"})
    frame["year"] = frame["year"].where(frame["year"] >= 0)
    return frame


def _run_equity(run: RunFolder) -> pd.DataFrame:
    act = run.tables["activity"]
    py = run.tables["person_years"]
    reps = run.replications
    rows = []
    for dim, label in (("imd_quintile", "IMD quintile"), ("segment", "segment")):
        py_rep = _per_replication(_text(py.copy(), [dim]), [dim], "person_years", reps)
        a = _text(act.copy(), [dim, "service"])
        cost = _per_replication(a, [dim], "cost_gbp", reps).reindex(py_rep.index, fill_value=0)
        counted = {
            lab: _per_replication(a[a["service"] == s], [dim], "count", reps).reindex(
                py_rep.index, fill_value=0.0
            )
            for s, lab in (
                ("gp_appointment", "GP appointments per 1,000 person-years"),
                ("ae_attendance", "A&E attendances per 1,000 person-years"),
                ("emergency_admission", "emergency admissions per 1,000 person-years"),
            )
        }
        for group in py_rep.index:
            years = py_rep.loc[group].to_numpy()
            safe = np.where(years > 0, years, np.nan)
            row: dict[str, Any] = {"dimension": label, "group": str(group)}
            row.update(with_interval("person-years", estimate(years * run.scale)))
            row.update(
                with_interval(
                    "cost per person-year (GBP)", estimate(cost.loc[group].to_numpy() / safe)
                )
            )
            for lab, table in counted.items():
                row.update(with_interval(lab, estimate(table.loc[group].to_numpy() / safe * 1e3)))
            rows.append(row)
    return pd.DataFrame(rows)


def _run_summary(run: RunFolder) -> pd.DataFrame:
    act = _text(run.tables["activity"].copy(), ["service", "setting"])
    py = run.tables["person_years"]
    reps = run.replications
    s = run.scale

    def per_rep(frame: pd.DataFrame, col: str) -> np.ndarray:
        return frame.groupby("replication")[col].sum().reindex(reps, fill_value=0.0).to_numpy()

    care = act[act["setting"] != bc.LEVER_SETTING]
    years = per_rep(py, "person_years")
    rows: list[tuple[str, str, np.ndarray]] = [
        ("person-years", "person-years", years * s),
        ("deaths", "people", per_rep(py, "deaths") * s),
        ("cost of care, all payers", "GBP", per_rep(care, "cost_gbp") * s),
        ("cashable part of that cost", "GBP", per_rep(care, "cashable_gbp") * s),
        ("cost of care per person-year", "GBP", per_rep(care, "cost_gbp") / years),
    ]
    for service, (label, _setting) in DEMAND_SERVICES.items():
        rows.append((label, "count", per_rep(act[act["service"] == service], "count") * s))
    lever = act[act["setting"] == bc.LEVER_SETTING]
    if len(lever):
        rows.append(("lever cost", "GBP", per_rep(lever, "cost_gbp") * s))
    out = []
    for label, unit, values in rows:
        est = with_interval("mean", estimate(values))
        out.append({"quantity": label, "unit": unit, **est})
    return pd.DataFrame(out)


def _lever_throughput(levers: pd.DataFrame, keys: list[str], scale: float) -> pd.DataFrame:
    cols = {
        "referred": "referred (people)",
        "started": "started (people)",
        "completed": "completed (people)",
        "dropped_out": "dropped out (people)",
        "waiting_at_year_end": "waiting at year end (people)",
        "sessions": "sessions",
        "cost_gbp": "cost (GBP)",
        "qaly_gain": "QALYs gained (undiscounted)",
    }
    if levers.empty:
        return pd.DataFrame(columns=[*keys, "lever", "year", *cols.values()])
    lv = _text(levers.copy(), ["lever", *keys])
    n_reps = lv["replication"].nunique()
    grouped = lv.groupby([*keys, "lever", "year"], observed=True)[list(cols)].sum()
    frame = (grouped / max(n_reps, 1) * scale).rename(columns=cols).reset_index()
    return frame


def _scenario_block(manifest: Mapping[str, Any]) -> str:
    """The scenario as run (resolved: every ``extends`` applied), as TOML-like text."""
    scenario = dict(manifest.get("scenario", {}))
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
        nested = {k: v for k, v in table.items() if isinstance(v, Mapping)}
        if path and (scalars or not nested):
            lines.append(f"\n[{path}]")
        for k, v in scalars.items():
            key = k if k.replace("_", "").isalnum() else json.dumps(k)
            lines.append(f"{key} = {json.dumps(v)}")
        for k, v in nested.items():
            emit(v, f"{path}.{k}" if path else k)

    head = {k: v for k, v in scenario.items() if not isinstance(v, Mapping)}
    emit({"scenario": head, **{k: v for k, v in scenario.items() if k not in head}}, "")
    return "\n".join(lines).strip() + "\n"


def _appendix(results: Results) -> Section:
    section = Section("Appendix: audit trail")
    m = results.manifest
    run_settings = m.get("run") or m.get("scenario", {}).get("run", {})
    section.paragraphs.append(
        f"Written by carescale {__version__} from the results folder {results.folder.name!r} "
        f"(kind {results.kind}), which carescale {m.get('model_version', 'unknown')} wrote. "
        f"Seed {run_settings.get('seed', m.get('seed'))}: replication r of every run uses the "
        "random streams keyed by (seed, r, stream name), so the same seed gives the same "
        f"tables; {run_settings.get('replications', m.get('replications'))} replication(s) of "
        f"{run_settings.get('population', m.get('population'))} simulated people standing for "
        f"{run_settings.get('represents', m.get('represents'))}."
    )
    if m.get("model_version") not in (None, __version__):
        section.paragraphs.append(
            f"Note: the results were written by carescale {m.get('model_version')}, this report "
            f"by {__version__}; the parameter table shows this version's register with the "
            "scenarios' overrides."
        )
    for name, run in results.runs.items():
        file = run.manifest.get("scenario", {}).get("file", "")
        section.blocks.append(
            (
                f"Scenario {name} as run ({file}, every 'extends' applied)",
                _scenario_block(run.manifest),
            )
        )
    params = parameters_table(results)
    section.tables.append(params)
    section.tables.append(manifest_table(results))
    return section


def run_content(results: Results) -> tuple[str, list[str], list[Section]]:
    """Title, lead paragraphs and sections of the report of one run folder."""
    run = results.baseline
    m = run.manifest
    labels = results.year_labels()
    reps = run.replications
    first, last = labels[run.years[0]], labels[run.years[-1]]
    span = first if first == last else f"{first} to {last}"
    title = f"carescale run: {run.name}"
    lead = [
        f"Scenario {run.name!r} ({m.get('scenario', {}).get('file', '')}): "
        f"{str(m.get('scenario', {}).get('description', '')).rstrip('.')}.",
        f"{int(m.get('population', 0)):,} simulated people standing for "
        f"{int(m.get('represents', m.get('population', 0))):,}, {len(run.years)} year(s) "
        f"({span}), {len(reps)} replication(s), seed {m.get('seed')}. Every count and cost "
        f"below is for the {int(m.get('represents', 0)):,} people represented (the simulated "
        f"figures times {run.scale:g}), in GBP at {m.get('price_year', '2023/24')} prices; "
        "each figure is the mean across replications with its 95 % interval (stochastic "
        "uncertainty only; blank with one replication).",
    ]
    summary = Table("summary", "Summary, totals over all years", _run_summary(run))
    activity = Table(
        "activity",
        "Activity and cost by setting, service and year",
        _run_activity(run, labels),
        "Counts are in each service's own unit (appointments, attendances, bed days, "
        "contacts, ...).",
        page=False,
    )
    by_setting = (
        activity.frame.groupby(
            [
                "setting",
                "year",
                *(["financial year"] if "financial year" in activity.frame else []),
            ],
            observed=True,
        )["cost (GBP)"]
        .sum()
        .reset_index()
    )
    setting_cost = Table(
        "cost by setting", "Cost by setting and year (GBP, mean)", by_setting, page=True
    )
    ledger = Table(
        "payer ledger",
        "Cost by payer and year: cashable and non-cashable",
        _payer_ledger(run.tables["activity"], reps, run.scale, labels),
        "Cashable: the part of the cost a payer could release in cash if the activity "
        "stopped (register cashable.*); non-cashable: the rest (capacity).",
    )
    equity = Table(
        "equity",
        "Use and cost by IMD quintile and segment",
        _run_equity(run),
        "IMD quintile 1 is the most deprived fifth; segments are the activation segments.",
    )
    sections = [
        Section("Summary", tables=[summary], figures=["demand_by_setting"]),
        Section(
            "Activity and cost",
            tables=[setting_cost, activity],
            figures=["cost_by_payer"],
        ),
        Section("Payers: cashable and non-cashable cost", tables=[ledger]),
        Section("Equity: by IMD quintile and segment", tables=[equity], figures=["equity"]),
    ]
    lever = run.tables.get("lever_activity")
    if lever is not None and len(lever):
        sections.append(
            Section(
                "Levers: throughput",
                tables=[
                    Table(
                        "levers",
                        "Lever throughput by year (mean)",
                        _lever_throughput(lever, [], run.scale),
                    )
                ],
                figures=["lever_throughput"],
            )
        )
    sections.append(
        Section(
            "Waits",
            tables=[waits_table(results)],
            figures=["waiting_list", "wait_distribution"],
        )
    )
    sections.append(_appendix(results))
    return title, lead, sections


# ----------------------------------------------------------------------------- compare


def _compare_summary(results: Results) -> pd.DataFrame:
    rows = []
    for name, case in results.summary["scenarios"].items():
        measures = case["measures"]
        for key, label in bc.HEADLINE.items():
            unit = HEADLINE_UNITS.get(key, "")
            rows.append(
                {
                    "scenario": name,
                    "headline": "yes",
                    "quantity": label.split(" (")[0],
                    "unit": unit,
                    **with_interval("mean", measures[key]),
                }
            )
        for key, label, unit in EXTRA_MEASURES:
            if key in measures:
                rows.append(
                    {
                        "scenario": name,
                        "headline": "",
                        "quantity": label,
                        "unit": unit,
                        **with_interval("mean", measures[key]),
                    }
                )
        payback = case.get("payback", {})
        year = payback.get("year")
        rows.append(
            {
                "scenario": name,
                "headline": "",
                "quantity": "payback year (first year cumulative cashable saving >= lever cost)",
                "unit": "year",
                "mean": float(year) if year is not None else float("nan"),
                "mean" + LOW: float("nan"),
                "mean" + HIGH: float("nan"),
            }
        )
        share = payback.get("share_of_replications")
        rows.append(
            {
                "scenario": name,
                "headline": "",
                "quantity": "share of replications that pay back",
                "unit": "share",
                "mean": float(share) if share is not None else float("nan"),
                "mean" + LOW: float("nan"),
                "mean" + HIGH: float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _compare_activity(results: Results, labels: Mapping[int, str]) -> pd.DataFrame:
    assert results.differences is not None
    d = _text(results.differences.copy(), ["scenario", "setting", "service"])
    reps = results.baseline.replications
    base = results.baseline
    change = _estimates(
        d,
        ["scenario", "setting", "service", "year"],
        {
            "delta_count": "change in activity (count)",
            "delta_cost_gbp": "change in cost (GBP)",
        },
        reps,
    )
    act = _text(base.tables["activity"].copy(), ["setting", "service"])
    level = (
        act.groupby(["setting", "service", "year"], observed=True)[["count", "cost_gbp"]].sum()
        / max(len(reps), 1)
        * base.scale
    ).rename(columns={"count": "baseline activity (count)", "cost_gbp": "baseline cost (GBP)"})
    frame = change.merge(level.reset_index(), on=["setting", "service", "year"], how="left")
    cols = [
        "scenario",
        "setting",
        "service",
        "year",
        "baseline activity (count)",
        *_labels(["change in activity (count)"]),
        "baseline cost (GBP)",
        *_labels(["change in cost (GBP)"]),
    ]
    frame = frame[cols].fillna({"baseline activity (count)": 0.0, "baseline cost (GBP)": 0.0})
    return _year_column(frame.sort_values(["scenario", "setting", "service", "year"]), labels)


def _compare_by_setting(results: Results, labels: Mapping[int, str]) -> pd.DataFrame:
    assert results.differences is not None
    d = _text(results.differences.copy(), ["scenario", "setting"])
    frame = _estimates(
        d,
        ["scenario", "setting", "year"],
        {"delta_cost_gbp": "change in cost (GBP)"},
        results.baseline.replications,
    )
    return _year_column(frame.sort_values(["scenario", "setting", "year"]), labels)


def _compare_ledger(results: Results, labels: Mapping[int, str]) -> pd.DataFrame:
    assert results.differences is not None
    d = _text(results.differences.copy(), ["scenario", "setting", "payer"])
    lever = d["setting"] == bc.LEVER_SETTING
    d["lever_cost_gbp"] = d["delta_cost_gbp"].where(lever, 0.0)
    d["care_cost_change_gbp"] = d["delta_cost_gbp"].where(~lever, 0.0)
    d["cashable_saving_gbp"] = -d["delta_cashable_gbp"].where(~lever, 0.0)
    d["non_cashable_saving_gbp"] = -d["care_cost_change_gbp"] - d["cashable_saving_gbp"]
    columns = {
        "lever_cost_gbp": "lever cost (GBP)",
        "care_cost_change_gbp": "change in care cost (GBP)",
        "cashable_saving_gbp": "cashable saving (GBP)",
        "non_cashable_saving_gbp": "non-cashable saving (GBP)",
    }
    reps = results.baseline.replications
    keys = ["scenario", "payer", "year"]
    by_year = _estimates(d, keys, columns, reps)
    total = _estimates(d.assign(year=-1), keys, columns, reps)
    frame = pd.concat([by_year, total], ignore_index=True)
    frame = _year_column(frame, {**labels, -1: "all years"})
    frame["year"] = frame["year"].where(frame["year"] >= 0)
    return frame


def _compare_equity(results: Results) -> pd.DataFrame:
    rows = []
    for name, case in results.summary["scenarios"].items():
        for dim, label in (("imd_quintile", "IMD quintile"), ("segment", "segment")):
            for group, entry in case.get("equity", {}).get(dim, {}).items():
                row: dict[str, Any] = {"scenario": name, "dimension": label, "group": group}
                row.update(with_interval("person-years", entry["person_years"]))
                row.update(with_interval("lever cost (GBP)", entry["lever_cost_gbp"]))
                row.update(
                    with_interval("change in care cost (GBP)", entry["care_cost_change_gbp"])
                )
                for key, service_label in (
                    ("change_emergency_admissions", "emergency admissions"),
                    ("change_gp_appointments", "GP appointments"),
                    ("change_ae_attendances", "A&E attendances"),
                ):
                    est = entry.get(f"{key}_per_1000_person_years")
                    if est is not None:
                        row.update(
                            with_interval(f"change in {service_label} per 1,000 person-years", est)
                        )
                rows.append(row)
    return pd.DataFrame(rows)


def compare_content(results: Results) -> tuple[str, list[str], list[Section]]:
    """Title, lead paragraphs and sections of the report of a comparison folder."""
    s = results.summary
    labels = results.year_labels()
    years = s["years"]
    span_labels = [labels.get(int(y), str(y)) for y in years]
    span = span_labels[0] if len(years) == 1 else f"{span_labels[0]} to {span_labels[-1]}"
    names = results.scenarios
    base = s["baseline"]["name"]
    title = f"carescale comparison: {', '.join(names)} against {base}"
    described = []
    for name in [base, *names]:
        sc = results.runs[name].manifest.get("scenario", {})
        described.append(
            f"{name!r} ({sc.get('file', '')}): {str(sc.get('description', '')).rstrip('.')}"
        )
    lead = [
        "Runs: " + "; ".join(described) + ".",
        f"{int(s['population']):,} simulated people standing for {int(s['represents']):,}, "
        f"{len(years)} year(s) ({span}), {s['replications']} paired replications with common "
        f"random numbers, seed {s['seed']}. Every figure is scenario minus baseline for the "
        f"{int(s['represents']):,} people represented, in GBP at {s['price_year']} prices; "
        f"net present value at {s['discount_rate']:.1%} a year. Intervals: {s['interval']}. "
        f"Uncertainty: {s['uncertainty']}. {str(s['optimism_bias']['statement']).capitalize()}.",
    ]
    summary = Table(
        "summary",
        "Summary: the five headline numbers (first) and the rest of the business case",
        _compare_summary(results),
        "Totals over all years; mean across replications with its 95 % interval.",
    )
    by_setting = Table(
        "cost by setting",
        "Change in cost by setting and year",
        _compare_by_setting(results, labels),
        "Setting 'lever' is the levers' own cost (staff, administration).",
    )
    activity = Table(
        "activity",
        "Activity and cost change by setting, service and year",
        _compare_activity(results, labels),
        "Baseline levels are means across replications; changes are paired (scenario minus "
        "baseline, replication by replication).",
        page=False,
    )
    ledger = Table(
        "payer ledger",
        "Payer ledger: who pays and who saves, cashable and non-cashable",
        _compare_ledger(results, labels),
        "Cashable saving: minus the change in the cashable part of care cost; non-cashable: "
        "minus the rest of the change in care cost (capacity released). See "
        "docs/business-case.md.",
    )
    equity = Table(
        "equity",
        "Equity: changes by IMD quintile and segment",
        _compare_equity(results),
        "IMD quintile 1 is the most deprived fifth.",
    )
    assert results.levers is not None
    levers = Table(
        "levers",
        "Lever throughput by year (mean across replications)",
        _lever_throughput(results.levers, ["scenario"], 1.0),
    )
    sections = [
        Section(
            "Summary",
            tables=[summary],
            figures=["net_saving_distribution", "cost_shift_waterfall"],
        ),
        Section(
            "Activity and cost change",
            tables=[by_setting, activity],
            figures=["demand_by_setting"],
        ),
        Section("Payers: cashable and non-cashable", tables=[ledger]),
        Section("Equity: by IMD quintile and segment", tables=[equity], figures=["equity"]),
        Section("Levers: throughput", tables=[levers], figures=["lever_throughput"]),
        Section(
            "Waits",
            tables=[waits_table(results)],
            figures=["waiting_list", "wait_distribution"],
        ),
        _appendix(results),
    ]
    return title, lead, sections


def net_saving_by_replication(results: Results) -> pd.DataFrame:
    """Per scenario and replication: the NPV (cashable saving - lever cost, discounted) and
    the undiscounted net saving, recomputed exactly as the summary's."""
    assert results.differences is not None and results.levers is not None
    s = results.summary
    ob = s["optimism_bias"]
    settings = bc.Settings(
        discount_rate=float(s["discount_rate"]),
        health_discount_rate=float(s["health_discount_rate"]),
        optimism_bias=bool(ob["applied"]),
        cost_uplift=float(ob["cost_uplift"]),
        effect_reduction=float(ob["effect_reduction"]),
    )
    base = results.baseline
    base_levers = bc.scale_lever_activity(bc.lever_activity_of(base.tables), base.scale)
    reps = list(range(int(s["replications"])))
    years = [int(y) for y in s["years"]]
    _, base_levers = bc.apply_optimism_bias(results.differences.iloc[:0], base_levers, settings)
    frames = []
    for name in results.scenarios:
        diffs = results.differences[results.differences["scenario"].astype(str) == name]
        levers = results.levers[results.levers["scenario"].astype(str) == name]
        diffs, levers = bc.apply_optimism_bias(diffs, levers, settings)
        streams = bc.yearly_streams(diffs, levers, reps, years, base_levers)
        measures = bc.replication_measures(streams, years[0], settings)
        frames.append(
            pd.DataFrame(
                {
                    "scenario": name,
                    "replication": measures.index.to_numpy(),
                    "npv_gbp": measures["npv_gbp"].to_numpy(),
                    "net_saving_gbp": -measures["net_cost_gbp"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "HIGH",
    "LOW",
    "Results",
    "RunFolder",
    "Section",
    "Table",
    "compare_content",
    "load",
    "net_saving_by_replication",
    "refuse_foreign",
    "run_content",
]
