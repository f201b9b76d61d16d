"""Regenerate every figure in the documentation that comes from running the model.

Usage, from the root of the repository::

    python docs/generate.py                 # re-run every recipe, rewrite the blocks
    python docs/generate.py --check         # re-run every recipe, compare, write nothing
    python docs/generate.py --only NAME ... # re-run these recipes (or the recipes of these blocks)
    python docs/generate.py --list          # the recipes and blocks, with their settings

A *recipe* computes results (a validation run, the calibration, a scenario comparison ...) at
the size given in its settings. A *block* is a delimited part of a page that is rendered from
the results of one or more recipes::

    <!-- generated: NAME (by docs/generate.py; do not edit) -->
    ...
    <!-- end generated: NAME -->

The results of every recipe are recorded in ``docs/generated.json`` with a *fingerprint*: a
SHA-256 over the sorted contents of ``model/**/*.py``, ``model/parameters/*.toml``,
``model/data/*``, ``scenarios/*.toml`` and the recipe's own settings. The test suite
(``tests/test_docs.py``) fails when a recorded fingerprint differs from the current one (the
code, register, data or scenarios changed since the figures were made), and when a block's
text differs from what its recorded results render to. It never re-runs the simulations.
*Cheap* recipes (read from the register and ``docs/references.toml`` only) are not recorded;
the tests recompute them.

Calibrated register values quoted in prose are marked inline, e.g.
``<!-- value: demand.gp.scale -->4.37229<!-- /value -->``. An index ``KEY[2]`` picks one
element of a vector, and a format spec may follow: ``<!-- value: KEY[0] .2f -->``. This
script rewrites them from the register, and the tests check them.

Some blocks hold prose whose wording depends on the figures (for example "the register is at
this fit"). Where a figure no longer supports a sentence, the block renders a neutral
sentence and this script prints a warning naming the block: read the prose around it again.
Regenerating everything takes a little over a minute on two cores; the calibration and the
user guide's comparison are the longest recipes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RECORD = DOCS / "generated.json"
REFERENCES_TOML = DOCS / "references.toml"
if str(ROOT) not in sys.path:  # run as `python docs/generate.py`: import this checkout's model
    sys.path.insert(0, str(ROOT))

FINGERPRINT_GLOBS = ("model/**/*.py", "model/parameters/*.toml", "model/data/*", "scenarios/*.toml")
OPEN_RE = re.compile(
    r"^<!-- generated: (?P<name>[\w.-]+) \(by docs/generate\.py; do not edit\) -->$", re.M
)
VALUE_RE = re.compile(
    r"<!-- value: (?P<key>[\w.]+)(?:\[(?P<index>\d+)\])?(?: (?P<fmt>\S+))? -->"
    r"(?P<text>.*?)<!-- /value -->"
)
TIMING_RE = re.compile(r"\b(in|built in|simulated in) \d+(\.\d+)? s\b")
STALE = "docs figures are stale: run python docs/generate.py"

Data = Any
WARNINGS: list[str] = []


def open_marker(name: str) -> str:
    """The line that opens block ``name``."""
    return f"<!-- generated: {name} (by docs/generate.py; do not edit) -->"


def close_marker(name: str) -> str:
    """The line that closes block ``name``."""
    return f"<!-- end generated: {name} -->"


def claim(ok: bool, block: str, message: str) -> bool:
    """Note a sentence that the figures no longer support (printed after generating)."""
    if not ok:
        WARNINGS.append(f"{block}: {message}")
    return ok


# ============================================================================ fingerprints


def source_files() -> list[Path]:
    """The files whose contents every fingerprint covers, in a stable order."""
    files = {p for pattern in FINGERPRINT_GLOBS for p in ROOT.glob(pattern) if p.is_file()}
    return sorted(files, key=lambda p: p.relative_to(ROOT).as_posix())


def source_digest() -> str:
    """SHA-256 over the relative paths and contents of :func:`source_files`."""
    h = hashlib.sha256()
    for path in source_files():
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def fingerprint(settings: Mapping[str, Any], digest: str | None = None) -> str:
    """The fingerprint of a recipe: the sources' digest and the recipe's settings."""
    digest = source_digest() if digest is None else digest
    text = digest + "\n" + json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ============================================================================ helpers


def _digest(text: str) -> str:
    """A short hash of a documented code example (part of its recipe's settings)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _num(x: float, spec: str = ",.5g") -> str:
    """A number with a real minus sign."""
    return format(x, spec).replace("-", "−")


def _signed(x: float, spec: str) -> str:
    """A number with an explicit sign (+ or −)."""
    return format(x, "+" + spec).replace("-", "−")


def _jsonable(value: Any) -> Any:
    """Numpy scalars and arrays as plain floats and lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, bool | int | str) or value is None:
        return value
    return float(value)


def _md_cell(text: str) -> str:
    """Text for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A temporary folder with a copy of ``scenarios/`` and an empty ``results/``, entered."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="carescale-docs-") as tmp:
        ws = Path(tmp)
        shutil.copytree(ROOT / "scenarios", ws / "scenarios")
        (ws / "results").mkdir()
        os.chdir(ws)
        try:
            yield ws
        finally:
            os.chdir(old)


def run_cli(*argv: str, allow: Sequence[int] = (0,)) -> str:
    """Run ``carescale ARGV`` in this process; return what it printed on stdout."""
    from model.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    if code not in allow:
        raise RuntimeError(
            f"carescale {' '.join(argv)} exited with {code}:\n{err.getvalue()[-2000:]}"
        )
    return out.getvalue()


def exec_capture(code: str) -> tuple[str, dict[str, Any]]:
    """Execute Python ``code`` (a documented example); return its stdout and namespace."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<docs example>", "exec"), namespace)
    return out.getvalue(), namespace


def _version(stdout: str) -> str:
    match = re.match(r"carescale (\S+):", stdout)
    return match.group(1) if match else "?"


def _read_checks(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    from model.register import default_register

    reg = default_register()
    rows = pd.read_csv(path).to_dict("records")
    for row in rows:
        # the CSV of `carescale validate --out` (key, description, kind, target_value,
        # simulated, se, low, high, passed, source), with the names the renderers use
        key = row["key"]
        row["register_key"] = key
        row["target"] = row["target_value"]
        fitted = row["kind"] in ("input", "calibrated")
        passed = str(row["passed"]).lower() == "true"
        row["result"] = "pass" if passed else ("FAIL" if fitted else "miss")
        p = reg[key]
        tol = p.tolerance if p.tolerance is not None else 0.0
        row["tolerance"] = tol * abs(p.scalar) if p.relative_tolerance else tol
        row["relative"] = bool(p.relative_tolerance)
    return list(_jsonable(rows))


def _split_output(stdout: str) -> tuple[str, str]:
    """The heading of a command's output (up to the first blank line) and the rest.

    The "wrote FILE" line of ``--out`` is dropped.
    """
    lines = [line for line in stdout.strip("\n").splitlines() if not line.startswith("wrote ")]
    head, _, rest = "\n".join(lines).partition("\n\n")
    return head, rest.strip("\n")


WIDTH = 96  # prose in rendered blocks is wrapped to this width


def reflow(markdown: str, width: int = WIDTH) -> str:
    """Wrap the prose paragraphs and list items of rendered Markdown; leave the rest alone.

    Tables, fenced code, headings and HTML comment lines are kept as they are.
    """
    out: list[str] = []
    para: list[str] = []
    fence = False

    def flush() -> None:
        if not para:
            return
        items: list[list[str]] = []
        for line in para:
            if line.startswith("- ") or not items:
                items.append([line.strip()])
            else:
                items[-1].append(line.strip())
        for item in items:
            text = re.sub(r"(\d) (%|days\b|m\b)", "\\1\0\\2", " ".join(item))  # keep "14 %" whole
            indent = "  " if text.startswith("- ") else ""
            wrapped = textwrap.wrap(
                text,
                width,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            out.extend(line.replace("\0", " ") for line in wrapped)
        para.clear()

    for line in markdown.split("\n"):
        if line.startswith("```"):
            flush()
            fence = not fence
            out.append(line)
        elif fence or not line.strip() or line.startswith(("|", "#", "<!--")):
            flush()
            out.append(line)
        else:
            para.append(line)
    flush()
    return "\n".join(line.rstrip() for line in out)


# ============================================================================ recipes


@dataclass(frozen=True)
class Recipe:
    """How to compute the results behind one or more blocks."""

    name: str
    what: str
    settings: dict[str, Any]
    compute: Callable[[dict[str, Any]], Data]
    cheap: bool = False  # computed from the register and docs files only; never recorded


def _population_validation(s: dict[str, Any]) -> Data:
    from model.register import default_register

    with workspace():
        stdout = run_cli(
            "validate", "population", "--size", str(s["size"]), "--seed", str(s["seed"]),
            "--base-year", str(s["base_year"]), "--format", "markdown", "--out", "checks.csv",
            allow=(0, 1),
        )  # fmt: skip
        checks = _read_checks(Path("checks.csv"))
    chc = default_register().scalar("social.chc.prevalence")
    return {"stdout": stdout, "checks": checks, "chc_prevalence": chc}


def _baseline_validation(s: dict[str, Any]) -> Data:
    with workspace():
        stdout = run_cli(
            "validate", "baseline", "--scenario", s["scenario"], "--population",
            str(s["population"]), "--years", str(s["years"]), "--no-progress",
            "--format", "markdown", "--out", "checks.csv",
            allow=(0, 1),
        )  # fmt: skip
        checks = _read_checks(Path("checks.csv"))
    return {"stdout": stdout, "checks": checks}


def _calibration(s: dict[str, Any]) -> Data:
    from model import __version__
    from model.calibration import calibrate_baseline
    from model.register import default_register

    reg = default_register()
    fit = calibrate_baseline(reg, size=s["size"], seed=s["seed"], engine_size=s["engine_size"])
    targets = {
        key: reg.scalar(key)
        for key in (
            "targets.baseline.emergency_admissions_per_1000",
            "targets.baseline.admissions_per_1000",
            "targets.baseline.bed_days_per_1000",
        )
    }
    return {
        "version": __version__,
        "log": [[str(w), float(t), float(a)] for w, t, a in fit.log],
        "fitted": _jsonable(dict(fit.values)),
        "register": {k: _jsonable(list(reg[k].value)) for k in fit.values},
        "targets": targets,
        "occupancy": reg.scalar("capacity.acute.bed_occupancy_target"),
    }


def _liabilities(s: dict[str, Any]) -> Data:
    from model.population import population_model
    from model.register import default_register

    reg = default_register()
    model = population_model(base_year=s["base_year"])
    rows = []
    for prefix, calibrated in (
        *(("ltc", c) for c in model.conditions),
        *(("social", c) for c in model.social),
        ("social", model.chc),
        ("social", model.wheelchair),
    ):
        spec = calibrated.spec
        rows.append(
            {
                "name": spec.name,
                "condition": prefix == "ltc",
                "prevalence": spec.prevalence,
                "min_age": spec.min_age,
                "ratio": spec.q1_q5_ratio,
                "ratio_published": f"{prefix}.{spec.name}.q1_q5_ratio" in reg,
                "loading": spec.loading,
                "intercept": calibrated.intercept,
                "slope": calibrated.dep_slope,
            }
        )
    return rows


MULTIMORBIDITY_TARGETS = (
    ("adults", "targets.population.multimorbidity_adults"),
    ("IMD1", "targets.population.multimorbidity_adults_imd1"),
    ("IMD5", "targets.population.multimorbidity_adults_imd5"),
    ("65-74", "targets.population.multimorbidity_65_74"),
)


def _multimorbidity_analytic(s: dict[str, Any]) -> Data:
    import dataclasses

    import numpy as np

    from model.liability import cell_weights, expected_count_distribution
    from model.population import population_model
    from model.register import default_register

    reg = default_register()
    model = population_model(base_year=s["base_year"])
    w = cell_weights(model.base_year)
    age = np.arange(w.shape[1])[None, :, None]
    imd = np.arange(1, 6)[None, None, :]
    masks = {
        "adults": age >= 18,
        "IMD1": (age >= 18) & (imd == 1),
        "IMD5": (age >= 18) & (imd == 5),
        "65-74": (age >= 65) & (age <= 74),
        "65+": age >= 65,
    }

    def share(dist: Any, mask: Any, low: int, high: int | None = None) -> float:
        mask = np.broadcast_to(mask, w.shape)
        p = dist[..., low:high].sum(axis=-1)
        return float((w * p)[mask].sum() / w[mask].sum())

    rows = []
    current: Any = None
    for factor in s["loading_factors"]:
        conditions = [
            dataclasses.replace(
                c, spec=dataclasses.replace(c.spec, loading=min(c.spec.loading * factor, s["cap"]))
            )
            for c in model.conditions
        ]
        dist = expected_count_distribution(conditions)
        if factor == 1:
            current = dist
        rows.append(
            {
                "factor": factor,
                "capped": any(c.spec.loading * factor > s["cap"] for c in model.conditions),
                **{k: share(dist, masks[k], 2) for k in ("adults", "IMD1", "IMD5", "65-74")},
                "none": share(dist, masks["adults"], 0, 1),
                "65+ 4+": share(dist, masks["65+"], 4),
            }
        )
    counts = [share(current, masks["adults"], k, k + 1) for k in range(current.shape[-1])]
    targets = {
        name: {"target": reg.scalar(key), "tolerance": float(reg[key].tolerance or 0.0)}
        for name, key in MULTIMORBIDITY_TARGETS
    }
    return {"rows": rows, "count_distribution": counts, "targets": targets}


def _population_figures(s: dict[str, Any]) -> Data:
    import numpy as np

    from model.population import CONDITIONS, SEGMENTS, build_population
    from model.register import default_register
    from model.validation import population_checks

    reg = default_register()
    pop = build_population(s["size"], seed=s["seed"], register=reg, base_year=s["base_year"])
    adults = pop.age >= 18
    with_ltc = adults & (pop.ltc_count > 0)
    mental = pop.ltc[:, [CONDITIONS.index("depression"), CONDITIONS.index("smi")]].sum(axis=1)
    levels = []
    for level in (1, 2, 3, 4):
        m = with_ltc & (pop.pam_level == level)
        n = pop.ltc_count[m].astype(float)
        levels.append(
            {
                "level": level,
                "people": int(m.sum()),
                "mean": float(n.mean()),
                "mean_physical": float((n - mental[m]).mean()),
                "three_plus": float((n >= 3).mean()),
                "mean_age": float(pop.age[m].mean()),
            }
        )
    segments = {
        str(q): {
            name: float(np.mean(pop.segment[pop.imd == q] == i)) for i, name in enumerate(SEGMENTS)
        }
        for q in (1, 5)
    }
    multimorbidity = [
        {"name": c.name, "target": c.target, "tolerance": c.tolerance, "simulated": c.simulated}
        for c in population_checks(pop, reg)
        if c.group == "multimorbidity" and c.kind != "held_out"
    ]
    return {
        "pam_levels": levels,
        "pam_score_sd": float(pop.pam_score[with_ltc].std()),
        "segments_by_imd": segments,
        "multimorbidity": multimorbidity,
        "adults": int(adults.sum()),
        "adults_imd1": int((adults & (pop.imd == 1)).sum()),
    }


#: age bands of the broad multimorbidity table (inclusive; 100 means 100 or over)
BROAD_AGE_BANDS = ((0, 17), (18, 39), (40, 64), (65, 74), (75, 84), (85, 100), (80, 100))


def _broad_multimorbidity(s: dict[str, Any]) -> Data:
    import numpy as np

    from model.calibration import broad_multimorbidity_shares
    from model.population import BRIDGES_SEGMENTS, bridges_segment, build_population
    from model.register import default_register

    reg = default_register()
    pop = build_population(s["size"], seed=s["seed"], register=reg, base_year=s["base_year"])
    broad = pop.broad_ltc_count >= 2
    qof = pop.ltc_count >= 2
    by_age = [
        {
            "band": f"{lo}-{hi}" if hi < 100 else f"{lo}+",
            "people": int(((pop.age >= lo) & (pop.age <= hi)).sum()),
            "broad": float(broad[(pop.age >= lo) & (pop.age <= hi)].mean()),
            "qof": float(qof[(pop.age >= lo) & (pop.age <= hi)].mean()),
        }
        for lo, hi in BROAD_AGE_BANDS
    ]
    adults = pop.age >= 18
    counts = np.bincount(np.minimum(pop.broad_ltc_count[adults], 6), minlength=7)
    seg = bridges_segment(pop, reg)
    return {
        "by_age": by_age,
        "all_ages": float(broad.mean()),
        "adult_count_distribution": [float(x) for x in counts / counts.sum()],
        "expected": broad_multimorbidity_shares(reg),
        "bridges": {name: float((seg == i).mean()) for i, name in enumerate(BRIDGES_SEGMENTS)},
    }


def _first_replication_years(tables: Mapping[str, Any], reg: Any) -> Data:
    """GP access and long-term support by year, from the tables of one replication."""
    import pandas as pd

    act, py, cap = tables["activity"], tables["person_years"], tables["capacity"]
    wd = tables["wait_distribution"]

    def by_year(service: str) -> Any:
        return act[act["service"] == service].groupby("year", observed=True)["count"].sum()

    person_years = py.groupby("year", observed=True)["person_years"].sum()
    gp = cap[cap["service"] == "gp_appointment"].set_index("year")["utilisation"]
    attended, missed = by_year("gp_appointment"), by_year("gp_appointment_dna")
    attempts, failed = by_year("gp_booking_attempt"), by_year("gp_booking_attempt_unsuccessful")
    spill = by_year("gp_spill_to_ae")
    waits = wd[wd["service"] == "gp_appointment"]
    waits = waits.groupby(["year", "wait_band"], observed=True)["count"].sum().unstack("wait_band")
    waits = waits.fillna(0.0)
    booked = waits.sum(axis=1)
    bands = reg["gp.dna_rr_by_wait_band"]
    rr_wait = pd.Series(list(bands.value), index=[str(b) for b in bands.index])
    supported = by_year("social_care_long_term_support")
    years = [int(y) for y in person_years.index]
    return {
        "years": years,
        "lts_per_1000": [float(1000 * supported.get(y, 0.0) / person_years[y]) for y in years],
        "gp_time_used": [float(gp[y]) for y in years],
        "gp_same_day_share": [float(waits.loc[y, "0"] / booked[y]) for y in years],
        "gp_within_7_days_share": [
            float(waits.loc[y, ["0", "1", "2-7"]].sum() / booked[y]) for y in years
        ],
        "gp_unsuccessful_attempt_share": [float(failed[y] / attempts[y]) for y in years],
        "gp_spill_to_ae_per_1000": [
            float(1000 * spill.get(y, 0.0) / person_years[y]) for y in years
        ],
        "dna_share": [float(missed[y] / (attended[y] + missed[y])) for y in years],
        "dna_rate": reg.scalar("gp.dna_rate"),
        # the mean DNA ratio by booking lead over the appointments of each year
        "dna_wait_ratio": [
            float(waits.loc[y] @ rr_wait[[str(c) for c in waits.columns]].to_numpy() / booked[y])
            for y in years
        ],
        "targets": {
            k: reg.scalar(f"targets.baseline.{k}")
            for k in (
                "gp_same_day_share",
                "gp_within_7_days_share",
                "gp_unsuccessful_attempt_share",
                "gp_spill_to_ae_per_1000",
            )
        },
    }


#: the rows of the trajectories table: (service, mode); mode "" sums every mode
TRAJECTORY_ROWS: tuple[tuple[str, str], ...] = (
    ("gp_appointment", ""),
    ("gp_appointment_dna", ""),
    ("ae_attendance", ""),
    ("emergency_admission", ""),
    ("elective_admission", "ordinary"),
    ("elective_admission", "daycase"),
    ("outpatient_attendance", "first"),
    ("outpatient_attendance", "follow_up"),
    ("bed_day", ""),
    ("maternity_delivery", ""),
    ("community_nursing_contact", ""),
    ("community_mental_health_contact", ""),
    ("mental_health_people_in_contact", ""),
    ("social_care_new_request", ""),
    ("social_care_long_term_support", ""),
    ("social_care_support_day", ""),
)
#: the waiting lists shown beside the trajectories (``waits.parquet`` service names)
TRAJECTORY_WAITS = ("outpatient_first", "elective_daycase", "elective_ordinary", "gp_appointment")


def _row_key(service: str, mode: str) -> str:
    return f"{service}/{mode}" if mode else service


def _trajectories(s: dict[str, Any]) -> Data:
    """`carescale run` of the baseline over five years with two replications.

    The trajectories are means over the replications. The GP access figures and the people
    on long-term support by year (``gp-access-by-year``, ``lts-by-year``) come from the first
    replication alone, which is the same run as a one-replication run with the same seed.
    """
    from model.results import read_results
    from model.scenario import load_scenario

    with workspace():
        run_cli(
            "run", s["scenario"], "--population", str(s["population"]), "--years",
            str(s["years"]), "--replications", str(s["replications"]), "--seed", str(s["seed"]),
            "--workers", str(s["workers"]), "--no-progress", "--out", "results/trajectories",
        )  # fmt: skip
        manifest, tables = read_results("results/trajectories")
    reg = load_scenario(ROOT / s["scenario"]).register  # the register the run used
    reps = int(manifest["replications"])
    act, py, waits = tables["activity"], tables["person_years"], tables["waits"]
    first = {name: t[t["replication"] == 0] for name, t in tables.items()}
    out = _first_replication_years(first, reg)
    years = out["years"]

    person_years = py.groupby("year", observed=True)["person_years"].sum() / reps
    counts = {}
    for service, mode in TRAJECTORY_ROWS:
        rows = act[act["service"] == service]
        if mode:
            rows = rows[rows["mode"] == mode]
        by_year = rows.groupby("year", observed=True)["count"].sum() / reps
        counts[_row_key(service, mode)] = [float(by_year.get(y, 0.0)) for y in years]

    def flow(service: str) -> list[float]:
        rows = act[act["service"] == service].groupby("year", observed=True)["count"].sum()
        return [float(rows.get(y, 0.0) / reps) for y in years]

    lists = {}
    for name in TRAJECTORY_WAITS:
        w = waits[waits["service"] == name]
        served = w.groupby("year", observed=True)["served"].sum()
        waited = (w["mean_wait_days"] * w["served"]).groupby(w["year"], observed=True).sum()
        backlog = w.groupby("year", observed=True)["backlog_end"].sum() / reps
        lists[name] = {
            "backlog_end": [float(backlog[y]) for y in years],
            "mean_wait_days": [float(waited[y] / served[y]) for y in years],
            "served": [float(served[y] / reps) for y in years],
        }

    by_age = py.groupby(["year", "age_band"], observed=True)["person_years"].sum().unstack()
    by_ltc = py.groupby(["year", "ltc_band"], observed=True)["person_years"].sum().unstack()
    total = by_age.sum(axis=1)
    old = [c for c in by_age.columns if str(c) in ("65-69", "70-74", "75-79", "80-84", "85+")]
    shares = {
        "aged_0_4": by_age["0-4"] / total,
        "aged_65_plus": by_age[old].sum(axis=1) / total,
        "aged_85_plus": by_age["85+"] / total,
        "ltc_5_plus": by_ltc["5+"] / total,
    }
    growth_keys = sorted(
        k for k in reg if k.startswith("demand.") and k.endswith(".growth_per_year")
    )
    out["trajectories"] = {
        "replications": reps,
        "person_years": [float(person_years[y]) for y in years],
        "counts": counts,
        "waits": lists,
        "shares": {k: [float(v[y]) for y in years] for k, v in shares.items()},
        "lts_started": flow("social_care_support_started"),
        "lts_ended": flow("social_care_support_ended"),
        "growth_per_year": {k: reg.scalar(k) for k in growth_keys},
        "planned_growth_per_year": reg.scalar("dynamics.planned_growth_per_year"),
        "rtt_list_years": reg.scalar("acute.rtt.list_years"),
    }
    return out


def gp_capacity_keys(register: Any) -> list[str]:
    """Every GP capacity key that scales general practice (``capacity.gp.*_per_1000*``)."""
    return [k for k in register if k.startswith("capacity.gp.") and "_per_1000" in k]


def _gp_capacity_response(s: dict[str, Any]) -> Data:
    import dataclasses

    from model.engine import run_one
    from model.scenario import load_scenario

    scenario = load_scenario(ROOT / s["scenario"]).with_run(
        population=s["population"], years=s["years"], seed=s["seed"], replications=1
    )
    reg = scenario.register
    keys = gp_capacity_keys(reg)
    rows = []
    for factor in s["factors"]:
        values = {k: reg.scalar(k) * factor for k in keys}
        run = dataclasses.replace(scenario, register=reg.with_values(values, "docs/generate.py"))
        tables = run_one(run, 0)
        act = tables["activity"]
        total = act.groupby("service", observed=True)["count"].sum()
        rows.append(
            {
                "factor": factor,
                **{
                    name: float(total.get(name, 0.0))
                    for name in (
                        "gp_appointment",
                        "gp_appointment_dna",
                        "gp_booking_attempt",
                        "gp_booking_attempt_unsuccessful",
                        "gp_request_abandoned",
                        "gp_spill_to_ae",
                        "ae_attendance",
                    )
                },
                "person_years": float(tables["person_years"]["person_years"].sum()),
            }
        )
    return {"keys": keys, "rows": rows}


def _run_output(s: dict[str, Any]) -> Data:
    with workspace():
        stdout = run_cli(
            "run", "scenarios/baseline.toml", "--population", str(s["population"]),
            "--years", str(s["years"]), "--out", s["out"],
        )  # fmt: skip
    return {"stdout": stdout}


def _baseline_settings(s: dict[str, Any]) -> Data:
    from model.scenario import load_scenario

    scenario = load_scenario(ROOT / s["scenario"])
    reg = scenario.register
    capacity = {
        p.key[len("capacity.") :]: _jsonable(list(p.value) if p.is_vector else p.value[0])
        for p in reg.select("capacity")
    }
    units = {p.key[len("capacity.") :]: p.unit for p in reg.select("capacity")}
    return {
        "capacity": capacity,
        "units": units,
        "parameters": {k: reg.scalar(k) for k in ("gp.dna_rate", "gp.same_day_tolerance_days")},
    }


COMPARE_SNIPPET = """\
from model.results import read_results

def cost_by_payer(folder):
    _, tables = read_results(folder)
    act = tables["activity"]
    return act.groupby(["replication", "year", "payer"], observed=True)["cost_gbp"].sum()

# paired by replication: replication r of both runs has the same people and random numbers
diff = cost_by_payer("results/more_gp") - cost_by_payer("results/baseline_5")
print(diff.groupby(["year", "payer"]).agg(["mean", "min", "max"]).round(0))
"""


def _comparison(s: dict[str, Any]) -> Data:
    from model.results import read_results

    baseline = RECIPES["baseline-settings"]
    scenario_text = more_gp_toml(baseline.compute(baseline.settings))
    size = ["--population", str(s["population"]), "--years", str(s["years"])]
    reps = ["--replications", str(s["replications"])]
    with workspace() as ws:
        (ws / "scenarios" / "more_gp.toml").write_text(scenario_text, encoding="utf-8")
        run_cli("run", "scenarios/more_gp.toml", *size, *reps, "--out", "results/more_gp")
        run_cli("run", "scenarios/baseline.toml", *size, *reps, "--out", "results/baseline_5")
        stdout, ns = exec_capture(COMPARE_SNIPPET)
        by_payer = ns["diff"].groupby("payer", observed=True).agg(["min", "max", "mean"])

        def per_year(folder: str, *services: str) -> float:
            """Mean count a year (over replications and years) of ``services``."""
            act = read_results(folder)[1]["activity"]
            count = float(act.loc[act["service"].isin(services), "count"].sum())
            return count / (s["replications"] * s["years"])

        counts = {
            name: {
                folder: per_year(f"results/{folder}", *services)
                for folder in ("more_gp", "baseline_5")
            }
            for name, services in (
                ("gp_appointments", ("gp_appointment", "gp_appointment_dna")),
                ("gp_attended", ("gp_appointment",)),
                ("gp_spill_to_ae", ("gp_spill_to_ae",)),
                ("gp_unsuccessful", ("gp_booking_attempt_unsuccessful",)),
            )
        }
    return {
        "stdout": stdout,
        "by_payer": {str(p): _jsonable(list(row)) for p, row in by_payer.iterrows()},
        "extra_gp_appointments": (
            counts["gp_appointments"]["more_gp"] - counts["gp_appointments"]["baseline_5"]
        ),
        "per_year": counts,
        "beds_per_1000": scenario_text.split("beds_per_1000 = ")[1].split()[0],
    }


SCHEMA_SNIPPET = """\
from model.results import read_results

manifest, tables = read_results("results/example")
act, py = tables["activity"], tables["person_years"]

# attended GP practice appointments (all roles and modes) per 1,000 person-years
keys = ["replication", "year", "imd_quintile"]
gp = act[act["service"] == "gp_appointment"]
appointments = gp.groupby(keys, observed=True)["count"].sum()
person_years = py.groupby(keys, observed=True)["person_years"].sum()
rate = (1000 * appointments / person_years).groupby("imd_quintile").mean()
print(rate.round(0))

# cost by payer and year (GBP, 2023/24 prices), mean over replications
cost = act.groupby(["year", "payer"], observed=True)["cost_gbp"].sum() / manifest["replications"]
print(cost.unstack("payer").round(0))
"""


def schema_command(s: Mapping[str, Any]) -> str:
    """The documented command of the schema example."""
    return (
        f"carescale run scenarios/baseline.toml --population {s['population']} "
        f"--years {s['years']} --out {s['out']} --overwrite --no-progress"
    )


def _schema_example(s: dict[str, Any]) -> Data:
    from model.results import read_manifest

    with workspace():
        run_cli(*schema_command(s).split()[1:])
        stdout, _ = exec_capture(SCHEMA_SNIPPET)
        manifest = read_manifest(s["out"])
    return {"stdout": stdout, "tables": manifest["tables"], "version": manifest["model_version"]}


ERROR_CASES = (
    ("", "run scenarios/nothere.toml"),
    ('[parameters]\n"gp.dna_rates" = 0.04\n', "run scenarios/bad.toml"),
    ('[parameters]\n"gp.dna_rate" = 1.5\n', "run scenarios/bad.toml"),
    ("[run]\nyears = 50\n", "run scenarios/bad.toml"),
    ("[run]\nstart_year = 2030\n", "run scenarios/bad.toml"),
    ("[levers]\nlink_workers = 1\n", "run scenarios/bad.toml"),
    ("", "run scenarios/baseline.toml --population 10"),
    ("", "run scenarios/baseline.toml --population 1000 --years 1 --out results/baseline"),
    ("", "run scenarios/baseline.toml --years two"),
)


def _error_messages(s: dict[str, Any]) -> Data:
    from model.cli import main

    messages = []
    with workspace() as ws:
        # the folder of the second-to-last case exists because carescale wrote it before
        run_cli(*"run scenarios/baseline.toml --population 1000 --years 1".split(), "--out",
                "results/baseline", "--no-progress")  # fmt: skip
        for toml, command in ERROR_CASES:
            if toml:
                text = f'[scenario]\nname = "bad"\nextends = "baseline.toml"\n\n{toml}'
                (ws / "scenarios" / "bad.toml").write_text(text, encoding="utf-8")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(command.split())
            if code != 2:
                raise RuntimeError(f"carescale {command} exited with {code}, expected 2")
            messages.append(err.getvalue().strip())
    return {"messages": messages}


def _register_groups(s: dict[str, Any]) -> Data:
    from model.register import default_register

    return {"groups": default_register().groups()}


def _ae_conversion(s: dict[str, Any]) -> Data:
    from model.register import default_register
    from model.services.acute import type1_conversion

    reg = default_register()
    conv = type1_conversion(reg)
    return {
        "ages": {str(a): [float(conv[0, a]), float(conv[1, a])] for a in s["ages"]},
        "child": reg.scalar("acute.child_type1_conversion"),
    }


# ---------------------------------------------------------------------------- references


def load_references() -> list[dict[str, Any]]:
    """The bibliography in ``docs/references.toml``."""
    with REFERENCES_TOML.open("rb") as f:
        refs: list[dict[str, Any]] = tomllib.load(f)["reference"]
    return refs


NO_PUBLICATION = ("Assumption", "Derived", "Calibrated")


def needs_publication(source: str) -> bool:
    """Whether a register source must name a publication of the bibliography.

    Assumptions, derivations and calibrated values may name none (they are then listed as
    such); any other source is a publication, and a missing bibliography entry is an error.
    """
    return not source.startswith(NO_PUBLICATION)


def _no_publication_label(source: str) -> str:
    if source.startswith("Assumption"):
        return "assumption"
    if source.startswith("Calibrated"):
        return "calibrated"
    return "derived (no publication named)"


def classify_sources(
    sources: Sequence[str], refs: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Reference ids cited by each source string, and the sources matched by none.

    Assumptions, derivations and calibrated values may match no entry; any other unmatched
    source is returned in the second list (a bibliography entry is missing).
    """
    patterns = {r["id"]: [re.compile(m) for m in r["match"]] for r in refs}
    cited: dict[str, list[str]] = {}
    unmatched = []
    for source in sources:
        ids = [rid for rid, pats in patterns.items() if any(p.search(source) for p in pats)]
        cited[source] = ids
        if not ids and needs_publication(source):
            unmatched.append(source)
    return cited, unmatched


def _references(s: dict[str, Any]) -> Data:
    from model.register import default_register

    keys_by_source: dict[str, list[str]] = {}
    for p in default_register().values():
        keys_by_source.setdefault(p.source, []).append(p.key)
    refs = load_references()
    ids = [r["id"] for r in refs]
    if len(set(ids)) != len(ids):
        raise RuntimeError("docs/references.toml has duplicate ids")
    cited, unmatched = classify_sources(sorted(keys_by_source), refs)
    if unmatched:
        raise RuntimeError(
            "these register sources match no entry of docs/references.toml; add one:\n"
            + "\n".join(f"  - {u}" for u in unmatched)
        )
    for source, ids in cited.items():
        claim(
            bool(ids) or source.startswith("Assumption"),
            "register-sources",
            f"this register source names no publication: {source[:80]}",
        )
    return {"refs": refs, "keys_by_source": keys_by_source, "cited": cited}


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "population-validation",
            "carescale validate population",
            {"size": 200_000, "seed": 20231, "base_year": 2023},
            _population_validation,
        ),
        Recipe(
            "baseline-validation",
            "carescale validate baseline",
            {"scenario": "scenarios/baseline.toml", "population": 200_000, "years": 1},
            _baseline_validation,
        ),
        Recipe(
            "calibration",
            "calibrate_baseline (expected rates, then five one-year runs)",
            {"size": 200_000, "engine_size": 200_000, "seed": 20231},
            _calibration,
        ),
        Recipe(
            "liabilities",
            "the solved intercepts and deprivation slopes",
            {"base_year": 2023},
            _liabilities,
        ),
        Recipe(
            "multimorbidity-analytic",
            "expected multimorbidity, current and scaled frailty loadings",
            {"base_year": 2023, "loading_factors": [0, 0.5, 1, 1.5, 1.8], "cap": 0.95},
            _multimorbidity_analytic,
        ),
        Recipe(
            "population-figures",
            "the validation population: PAM levels, segments, multimorbidity",
            {"size": 200_000, "seed": 20231, "base_year": 2023},
            _population_figures,
        ),
        Recipe(
            "broad-multimorbidity",
            "multimorbidity on the broad list by age, and Bridges to Health segment shares",
            {"size": 200_000, "seed": 20231, "base_year": 2023},
            _broad_multimorbidity,
        ),
        Recipe(
            "trajectories",
            "carescale run of the baseline over five years, two replications",
            {
                "scenario": "scenarios/baseline.toml",
                "population": 100_000,
                "years": 5,
                "replications": 2,
                "seed": 2024,
                "workers": 2,
            },
            _trajectories,
        ),
        Recipe(
            "gp-capacity-response",
            "the baseline with every GP capacity key x 0.8, 1.0 and 1.2",
            {
                "scenario": "scenarios/baseline.toml",
                "population": 60_000,
                "years": 3,
                "seed": 2024,
                "factors": [0.8, 1.0, 1.2],
            },
            _gp_capacity_response,
        ),
        Recipe(
            "run-output",
            "carescale run (the user guide's example output)",
            {"population": 20_000, "years": 2, "out": "results/workshop"},
            _run_output,
        ),
        Recipe(
            "comparison",
            "more_gp against the baseline (the user guide's worked comparison)",
            {"population": 50_000, "years": 2, "replications": 5, "code": _digest(COMPARE_SNIPPET)},
            _comparison,
        ),
        Recipe(
            "schema-example",
            "carescale run and the pandas example of schema.md",
            {
                "population": 5_000,
                "years": 2,
                "out": "results/example",
                "code": _digest(SCHEMA_SNIPPET),
            },
            _schema_example,
        ),
        Recipe(
            "error-messages",
            "carescale's one-line messages for mistakes (the user guide's examples)",
            {"cases": [list(c) for c in ERROR_CASES]},
            _error_messages,
        ),
        Recipe(
            "baseline-settings",
            "the baseline scenario's capacities and two parameters",
            {"scenario": "scenarios/baseline.toml"},
            _baseline_settings,
            cheap=True,
        ),
        Recipe(
            "register-groups",
            "the groups of the register",
            {},
            _register_groups,
            cheap=True,
        ),
        Recipe(
            "ae-conversion",
            "A&E type 1 conversion by age",
            {"ages": [18, 90]},
            _ae_conversion,
            cheap=True,
        ),
        Recipe(
            "references",
            "the register's sources against docs/references.toml",
            {},
            _references,
            cheap=True,
        ),
    )
}


# ============================================================================ renderers


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text``."""
    return [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def render_validate_population(d: Mapping[str, Data]) -> str:
    s = RECIPES["population-validation"].settings
    v = d["population-validation"]
    first, rest = _split_output(v["stdout"])
    checks = v["checks"]
    by_key = {c["register_key"]: c for c in checks}
    n_fail = sum(c["result"] == "FAIL" for c in checks)
    held = [c for c in checks if c["kind"] == "held_out"]
    held_pass = sum(c["result"] == "pass" for c in held)
    old = by_key["targets.population.share_65_plus"]
    gap = 100 * (old["simulated"] - old["target"])
    descriptive = {row[1]: row[2] for row in _markdown_rows(rest) if len(row) == 3}
    claim(n_fail == 0, "validate-population", "not every input and calibrated target passes")
    side = "above" if gap >= 0 else "below"
    return f"""\
Command, with carescale {_version(first)} (default register, base year {s["base_year"]},
seed {s["seed"]}):

```bash
carescale validate population --size {s["size"]} --seed {s["seed"]} --format markdown
```

Output (the build time varies between runs; everything else is deterministic):

{first}

{rest}

Notes on reading the table:

- Tolerances come from EVIDENCE §12. They are ±0.5 percentage points for the age-sex shares
  and ±0.5 years for life expectancy. QOF prevalence allows ±10 % relative, or ±15 % below a
  prevalence of 1 %. Multimorbidity and PAM level shares allow ±3 percentage points.
- Life expectancy is computed from the life-table input (ONS NLT England 2021-23), not from
  a simulated population, which has no deaths. The engine's deaths use the same life table,
  renormalised within each age and sex so that it is kept
  ([`model.md` E.4.2](model.md#e42-population-dynamics)).
- The age-sex targets are Census 2021, partly for England and Wales. The population is drawn
  from the ONS mid-2023 estimates for England, so the share aged 65+ runs {abs(gap):.2f}
  percentage points {side} the target.
- Held-out figures (kind `held_out`, used by no fit) are reported as they are: {held_pass} of
  {len(held)} pass here. [`calibration.md`](calibration.md#validation-apart-from-calibration)
  says what each miss means.
- "Descriptive" rows have no published target. Segment shares are exact by construction.
  Each row names the ages it is computed over: CHC eligibility among adults 18+
  ({100 * float(descriptive["chc"]):.3f} %, against the {100 * v["chc_prevalence"]:.3f} % it is
  calibrated to), housing at all ages ({float(descriptive["housing"]):.3f})."""


def render_validate_baseline(d: Mapping[str, Data]) -> str:
    s = RECIPES["baseline-validation"].settings
    v = d["baseline-validation"]
    first, rest = _split_output(v["stdout"])
    checks = v["checks"]
    by_key = {c["register_key"]: c for c in checks}
    block = "validate-baseline"

    def get(name: str) -> Mapping[str, Any]:
        return dict(by_key[f"targets.baseline.{name}"])

    adm, beds = get("admissions_per_1000"), get("bed_days_per_1000")
    elective, pam_ea = get("elective_los_days"), get("pam_rate_ratio_emergency_admission")
    n_fail = sum(c["result"] == "FAIL" for c in checks)
    claim(n_fail == 0, block, "not every input and calibrated target passes")
    opposite = claim(
        adm["simulated"] < adm["target"] and beds["simulated"] > beds["target"],
        block,
        "admissions are no longer below and bed days above their centres (B.3)",
    )
    balance = (
        "sit at opposite sides of their centres by design (B.3). Admissions are low because\n"
        "  HES finished admission episodes include activity carescale does not model."
        if opposite
        else "are balanced against each other (B.3)."
    )
    counts = [
        c
        for c in checks
        if c["relative"] and c["register_key"] not in (adm["register_key"], beds["register_key"])
    ]
    gaps = sorted(counts, key=lambda c: -abs(c["simulated"] / c["target"] - 1))
    largest = "; ".join(
        f"{COUNT_NAMES.get(c['register_key'], c['register_key'])} "
        f"({_num(c['simulated'], ',.4g')} against {_num(c['target'], ',.4g')}, "
        f"{_signed(100 * (c['simulated'] / c['target'] - 1), '.1f')} %)"
        for c in gaps[:3]
    )
    worst = max(abs(c["simulated"] / c["target"] - 1) for c in counts)
    failed, spill = get("gp_unsuccessful_attempt_share"), get("gp_spill_to_ae_per_1000")
    same_day, week = get("gp_same_day_share"), get("gp_within_7_days_share")
    above = pam_ea["simulated"] > pam_ea["target"]
    claim(
        abs(pam_ea["simulated"] - pam_ea["target"]) <= pam_ea["tolerance"],
        block,
        "the emergency admission PAM ratio is outside its tolerance",
    )
    command = (
        f"carescale validate baseline --population {s['population']} --years {s['years']} "
        "--no-progress --format markdown"
    )
    return f"""\
Command, with carescale {_version(first)} (register as committed):

```bash
{command}
```

Output (the simulation time varies between runs; everything else is deterministic):

{first}

{rest}

Notes on reading the table:

- Tolerances: counts ±10 % relative; GP role and mode shares, the share of GP booking
  attempts that fail and the type 1 conversion ±2-4.5 percentage points; GP waits (same day,
  within 7 days) ±{100 * same_day["tolerance"]:g} percentage points; the spill from GP to A&E
  ±{spill["tolerance"]:g} per 1,000; the deprivation and PAM ratios ±0.05 (emergency admissions
  ±0.10); lengths of stay ±1 day.
- **Admissions** ({adm["simulated"]:,.4g} against {adm["target"]:,.4g}) and **bed days**
  ({beds["simulated"]:,.4g} against {beds["target"]:,.4g}) {balance}
- **Lengths of stay** are means over stays of at least one night (`bed_day` /
  `overnight_stay`). The Health Foundation means cannot include same-day stays, given the
  national bed days and admissions. The elective mean ({elective["simulated"]:.1f} days) is not
  fitted: the 10 % zero-night share and the SUS elective stays give it.
- The **GP mode shares** follow from people's preferred modes (`gp.mode_preference.*`, by
  segment): every appointment is in the mode the person prefers. The **role share** follows
  from the clinician minutes of each role and the minutes an appointment takes
  (`gp.minutes_by_role_mode`). The **failed attempts** ({_num(failed["simulated"], ".3f")})
  and the **spill to A&E** ({_num(spill["simulated"], ".1f")} per 1,000) are fitted (B.2); the
  **waits** (same day {100 * same_day["simulated"]:.1f} %, within 7 days
  {100 * week["simulated"]:.1f} %) come from `gp.same_day_share` and `gp.prebook_lead_shares`,
  set by hand (B.2).
- The **emergency admission PAM ratio** ({pam_ea["simulated"]:.3f}) is
  {"above" if above else "below"} its expected-rate fit ({pam_ea["target"]:g}). The fit uses
  expected rates in the reference population. The simulation adds the admissions of GP
  overspill attendances, and it has sampling noise among the relatively few level 4 adults
  with conditions.
- Apart from admissions and bed days, every count is within {100 * worst:.1f} % of its target.
  The largest gaps are: {largest}. The validation uses another population and other random
  numbers than the calibration (seed 2024 instead of 20231), so gaps of a few per cent are
  sampling differences between the two populations, not a stale fit (B.4 shows how close
  the calibration's own runs come)."""


COUNT_NAMES = {
    "targets.baseline.gp_appointments_per_person": "GP appointments",
    "targets.baseline.ae_attendances_per_1000": "A&E attendances",
    "targets.baseline.emergency_admissions_per_1000": "emergency admissions",
    "targets.baseline.outpatient_attendances_per_1000": "outpatient attendances",
    "targets.baseline.bed_days_per_1000": "bed days",
    "targets.baseline.social_care_long_term_support_per_1000": "people on long-term support",
    "targets.baseline.social_care_new_requests_per_1000": "social care requests",
    "targets.baseline.mental_health_contact_share": "share in mental-health contact",
    "targets.baseline.community_nursing_contacts_per_person": "district nursing contacts",
    "targets.baseline.mental_health_contacts_per_person": "mental-health contacts",
}

LOG_NOTES = {
    "emergency_direct adjusted PAM": "direct + via A&E",
    "share in mental-health contact (expected)": "before stage 2",
    "emergency overnight mean LOS": "days",
    "share of emergency admissions with zero nights": (
        "reported, not fitted; Health Foundation 2018"
    ),
    "bed days per 1,000 (expected)": "before stage 2",
    "capacity.": "before stage 2",
}

WHAT_SETS = {
    "demand.gp.imd_rr_q1_q5": "GP Q1/Q5 adjusted ratio 1.18",
    "demand.gp.rr_per_ltc": "GP 2+ vs 0 conditions 2.30",
    "demand.gp.pam_rr": "GP PAM L4/L1 0.82",
    "demand.gp.overdispersion_shape": "top decile 5 × the rest",
    "demand.gp.scale": "GP booking attempts that fail 15.9 % (simulated)",
    "demand.ae.pam_rr": "A&E PAM L4/L1 0.68",
    "demand.ae.scale": "444 attendances per 1,000 (simulated)",
    "demand.emergency_direct.pam_rr": "emergency admissions PAM L4/L1 0.62",
    "demand.emergency_direct.scale": "the balance of B.3",
    "demand.outpatient.pam_rr": "outpatient PAM L4/L1 0.81",
    "demand.outpatient.scale": "1,680 attendances per 1,000",
    "demand.community_nursing.scale": "0.4574 contacts per person",
    "demand.mental_health.scale": "0.352 contacts per person",
    "demand.mental_health.events_per_user": "5.8 % of people in contact",
    "demand.social_care_request.scale": "35 requests per 1,000",
    "acute.child_type1_conversion": "type 1 conversion 28 %",
    "capacity.gp.gp_minutes_per_1000_per_working_day": (
        "6.07 GP appointments per person (simulated)"
    ),
    "capacity.gp.nurse_minutes_per_1000_per_working_day": "with the GP minutes (same factor)",
    "capacity.gp.other_minutes_per_1000_per_working_day": "with the GP minutes (same factor)",
    "gp.spill_to_ae_by_segment": "12.2 A&E attendances per 1,000 after a failed GP attempt",
    "community.request_to_long_term_support": "14.6 per 1,000 on long-term support (first year)",
    "community.long_term_support_exit_per_year": (
        "exits other than death = new starts − deaths (B.2)"
    ),
    "acute.los.emergency.zero_night_share": "overnight mean stay 9.1 days, 12.5 at 85+",
    "capacity.acute.beds_per_1000": "occupancy target of simulated bed days",
}


def _log_label(what: str) -> str:
    label = what.replace(" (simulated, 1 year, before the last step)", " (simulated)")
    label = label.replace(" (demand x margin)", " (expected demand × margin)")
    for start, note in LOG_NOTES.items():
        if label.startswith(start):
            label += f" [{note}]"
    return label


def _values(values: Sequence[float]) -> str:
    return ", ".join(f"{x:.6g}" for x in values)


def _as_list(value: Any) -> list[float]:
    return [float(x) for x in value] if isinstance(value, list) else [float(value)]


def calibration_agreement(c: Mapping[str, Any]) -> tuple[int, float, str]:
    """Values identical to the register, the largest relative change and its key."""
    same, worst, worst_key = 0, 0.0, ""
    for key, old in c["register"].items():
        new = _as_list(c["fitted"][key])
        change = max(
            abs(n - o) / abs(o) if o else abs(n - o) for o, n in zip(old, new, strict=True)
        )
        same += change == 0
        if change > worst:
            worst, worst_key = change, key
    return same, worst, worst_key


def render_calibration_fit(d: Mapping[str, Data]) -> str:
    s = RECIPES["calibration"].settings
    c = d["calibration"]
    log = _table(
        ["matched", "target", "achieved"],
        [[_md_cell(_log_label(w)), _num(t), _num(a)] for w, t, a in c["log"]],
    )
    rows = []
    for key, old in c["register"].items():
        new = _as_list(c["fitted"][key])
        fitted = "same" if new == list(old) else _values(new)
        what = WHAT_SETS.get(key, "demand × margin" if key.startswith("capacity.") else "B.1-B.3")
        rows.append([f"`{key}`", _values(old), fitted, what])
    values = _table(["register key", "in the register (used)", "re-fit", "what sets it"], rows)
    same, worst, worst_key = calibration_agreement(c)
    at_fit = claim(
        worst < 0.01, "calibration-fit", "the register is more than 1 % from a re-fit; re-fit it"
    )
    verdict = (
        "**The register is at this fit**: the remaining differences are the sampling noise of\n"
        "the stage 2 runs."
        if at_fit
        else "**The register is not at this fit.** Re-run `carescale calibrate baseline --write`\n"
        "(B.7) and regenerate the documentation."
    )
    return f"""\
The calibration was re-run without `--write` with carescale {c["version"]}, from the register as
committed, with the default reference population (seed {s["seed"]}, {s["size"]:,} people) and
one-year runs of {s["engine_size"]:,} people. It changes nothing:

```bash
carescale calibrate baseline --size {s["size"]} --engine-size {s["engine_size"]} --seed {s["seed"]}
```

It prints the matched targets (`Fit.log`), then each calibrated register key with its
*current value* (the one in the register, which every run uses) and the *fitted value* of
this re-run.

**Matched targets** (`Fit.log`). Labels are as printed, except that *(simulated)* stands
for "(simulated, 1 year, before the last step)" and notes in square brackets are added here.
The *expected* rows are stage 1; the capacity rows are expected demand × `capacity.margin`,
before stage 2 moves outpatients, nursing, mental health and assessments with their demand
scales. The *simulated* rows are the fifth run of stage 2, before its own updates were
applied:

{log}

**Calibrated values.** The second column is the value in the register, which is what the
model runs with. The third is what the re-run above would write; "same" means identical.

{values}

{same} of {len(rows)} values are identical; the largest difference is {100 * worst:.2f} %
(`{worst_key}`). {verdict}"""


def _log_value(c: Mapping[str, Any], start: str) -> float:
    for what, _, achieved in c["log"]:
        if what.startswith(start):
            return float(achieved)
    raise KeyError(f"no calibration log row starts with {start!r}")


def render_emergency_balance(d: Mapping[str, Data]) -> str:
    c = d["calibration"]
    t = c["targets"]
    rows = (
        (
            "emergency admissions per 1,000",
            "emergency_admissions_per_1000",
            "Health Foundation 2018, NHS England monthly",
        ),
        (
            "admissions per 1,000 (emergency, elective ordinary, day case, deliveries)",
            "admissions_per_1000",
            "HES finished admission episodes 2022/23",
        ),
        ("bed days per 1,000", "bed_days_per_1000", "Health Foundation 2023"),
    )
    return _table(
        ["target", "centre (tolerance)", "source", "simulated, before the last step"],
        [
            [
                name,
                f"{t['targets.baseline.' + key]:,.4g} (±10 %)",
                source,
                _num(_log_value(c, f"{key} (simulated"), ",.4g"),
            ]
            for name, key, source in rows
        ],
    )


def render_beds(d: Mapping[str, Data]) -> str:
    c = d["calibration"]
    beds = float(_as_list(c["fitted"]["capacity.acute.beds_per_1000"])[0])
    return (
        f"The bed stock is then sized for **{100 * c['occupancy']:.1f} % mean occupancy** (NHS "
        "England general and acute\noccupancy, October 2023) of the simulated bed days. That "
        f"gives {beds:.2f} beds per 1,000 people\nin this re-fit, against 1.69 actual G&A beds "
        "per 1,000 (October 2023). Occupancy in the\nsimulation is lower than the target in the "
        "first weeks of year 1, because the hospital\nstarts empty."
    )


def render_liabilities(d: Mapping[str, Data]) -> str:
    rows = d["liabilities"]
    conditions = sorted((r for r in rows if r["condition"]), key=lambda r: -r["prevalence"])
    body = []
    for r in [*conditions, *(r for r in rows if not r["condition"])]:
        body.append(
            [
                r["name"],
                f"{r['prevalence']:g}",
                "all" if r["min_age"] == 0 else f"{r['min_age']}+",
                f"{r['ratio']:g}" if r["ratio_published"] else "1 (none published)",
                f"{r['loading']:.2f}",
                _num(r["intercept"], ".4f"),
                _signed(r["slope"], ".4f"),
            ]
        )
    header = ["attribute", "P* (crude)", "ages", "R* (Q1/Q5)", "loading λ", "β0 (intercept)"]
    return "Solved values for the default register, base year 2023:\n\n" + _table(
        [*header, "β1 (deprivation slope)"], body
    )


def render_loadings(d: Mapping[str, Data]) -> str:
    m = d["multimorbidity-analytic"]
    cap = RECIPES["multimorbidity-analytic"].settings["cap"]
    rows = []
    for r in m["rows"]:
        label = f"{r['factor']:g}"
        label += " (independent)" if r["factor"] == 0 else ""
        label += " (current)" if r["factor"] == 1 else ""
        label += f" (capped at {cap:g})" if r["capped"] else ""
        cells = [f"{r[k]:.3f}" for k in ("adults", "IMD1", "IMD5", "65-74", "none", "65+ 4+")]
        if r["factor"] == 1:
            label, cells = f"**{label}**", [f"**{x}**" for x in cells]
        rows.append([label, *cells])
    header = ["loadings ×", "adults 2+", "adults IMD1 2+", "adults IMD5 2+", "65-74 2+"]
    table = _table([*header, "adults with none", "65+ with 4+"], rows)
    current = next(r for r in m["rows"] if r["factor"] == 1)
    largest = m["rows"][-1]
    t = m["targets"]
    names = ("adults", "IMD1", "IMD5", "65-74")
    within = [abs(current[n] - t[n]["target"]) <= t[n]["tolerance"] for n in names]
    gaps = ", ".join(f"{_signed(100 * (current[n] - t[n]['target']), '.1f')} ({n})" for n in names)
    verdict = (
        "all four 2+ targets pass" if all(within) else f"{sum(within)} of four 2+ targets pass"
    )
    claim(all(within), "loading-sensitivity", "a multimorbidity target fails analytically")
    low_65 = largest["65-74"] < t["65-74"]["target"] - t["65-74"]["tolerance"]
    heavy = current["65+ 4+"] > 0.098
    return f"""\
{table}

Clustering mainly moves people from "one condition" to "none" and to "four or more". The
share with 2+ changes much less. With the current loadings, {verdict}; the expected shares
differ from their central targets by {gaps} percentage points. With loadings
{largest["factor"]:g} times larger, the all-adult share would be {largest["adults"]:.3f} (target
{t["adults"]["target"]:.4g}), but the 65-74 share would fall to {largest["65-74"]:.3f}
({"below" if low_65 else "within"} its tolerance) and the 4+ tail would grow to
{largest["65+ 4+"]:.3f}. The current values are a compromise across the four targets.

Among people aged 65+, the model gives {100 * current["65+ 4+"]:.1f} % with 4+ QOF-list
conditions. Kingston 2018 reports 9.8 % for a broader, self-reported list. A QOF-list count
should be no higher than a broader-list count, so the model's tail
{"may be heavy" if heavy else "is plausible"}.
This is not a target; it is noted for the next calibration pass."""


def render_pam_by_level(d: Mapping[str, Data]) -> str:
    s = RECIPES["population-figures"].settings
    p = d["population-figures"]
    levels = p["pam_levels"]
    header = ["PAM level", "mean QOF conditions", "mean excluding depression and SMI"]
    table = _table(
        [*header, "3+ conditions", "mean age"],
        [
            [
                str(r["level"]),
                f"{r['mean']:.2f}",
                f"{r['mean_physical']:.2f}",
                f"{100 * r['three_plus']:.1f} %",
                f"{r['mean_age']:.1f}",
            ]
            for r in levels
        ],
    )
    fall = 100 * (1 - levels[-1]["mean"] / levels[0]["mean"])
    fall_physical = 100 * (1 - levels[-1]["mean_physical"] / levels[0]["mean_physical"])
    claim(fall > 12, "pam-by-level", "the LTC gradient by PAM level is no steeper than Barker's")
    claim(p["pam_score_sd"] > 17.7, "pam-by-level", "the PAM score SD is no longer above 17.7")
    return f"""\
Result for the validation population ({s["size"]:,} people, seed {s["seed"]}; adults 18+
with at least one QOF condition):

{table}

The mean count falls by {fall:.0f} % from level 1 to level 4 ({fall_physical:.0f} % excluding
depression and SMI). The PAM score's standard deviation among these adults is
{p["pam_score_sd"]:.1f} (17.7 was reported for North West London; see the limitations in
[`model.md`](model.md#known-limitations-and-assumptions-of-the-population))."""


def render_cassell_alternative(d: Mapping[str, Data]) -> str:
    m = d["multimorbidity-analytic"]
    t = m["targets"]
    current = next(r for r in m["rows"] if r["factor"] == 1)

    def odds(p: float) -> float:
        return p / (1 - p)

    level, broad = t["adults"]["target"], 0.272
    alt = {}
    for name, share in (("IMD1", 0.338), ("IMD5", 0.242)):
        ratio = odds(share) / odds(broad)
        alt[name] = (ratio, ratio * odds(level) / (1 + ratio * odds(level)))
    gaps = {n: current[n] - alt[n][1] for n in alt}
    within = all(abs(g) <= t[n]["tolerance"] for n, g in gaps.items())
    model_ratio = current["IMD1"] / current["IMD5"]
    target_ratio = t["IMD1"]["target"] / t["IMD5"]["target"]
    return (
        f"With 33.8 % and 24.2 %, the same transfer would give targets of **{alt['IMD1'][1]:.4f}** "
        f"(IMD1; OR {alt['IMD1'][0]:.4f})\nand **{alt['IMD5'][1]:.4f}** (IMD5; OR "
        f"{alt['IMD5'][0]:.4f}). The implied Q1/Q5 ratio of QOF-list multimorbidity would be\n"
        f"{alt['IMD1'][1] / alt['IMD5'][1]:.2f} instead of {target_ratio:.2f}. The current model "
        f"gives {model_ratio:.2f} (analytic). Its IMD1 and IMD5 shares would\n"
        f"{'still lie within' if within else 'lie outside'} ±{t['IMD1']['tolerance']:g} of those "
        f"alternative targets, at {_signed(gaps['IMD1'], '.3f')} and "
        f"{_signed(gaps['IMD5'], '.3f')} (analytic)."
    )


def render_broad_multimorbidity(d: Mapping[str, Data]) -> str:
    s = RECIPES["broad-multimorbidity"].settings
    b = d["broad-multimorbidity"]
    published = {"65-74": "45.7 % (Kingston 2018, PACSim; held out)", "80+": "68.2 % (Valabhji)"}
    rows = [
        [
            r["band"],
            f"{r['people']:,}",
            f"{100 * r['broad']:.1f} %",
            f"{100 * r['qof']:.1f} %",
            published.get(r["band"], ""),
        ]
        for r in b["by_age"]
    ]
    table = _table(
        ["age", "people", "2+ broad list", "2+ QOF list", "published (not fitted)"], rows
    )
    e = b["expected"]
    last = len(b["adult_count_distribution"]) - 1
    dist = ", ".join(
        f"{k}{'+' if k == last else ''}: {100 * x:.1f} %"
        for k, x in enumerate(b["adult_count_distribution"])
    )
    shares = ", ".join(f"{k.replace('_', ' ')} {100 * v:.1f} %" for k, v in b["bridges"].items())
    young_old = next(r for r in b["by_age"] if r["band"] == "65-74")
    claim(
        abs(young_old["broad"] - 0.457) < 0.03,
        "broad-multimorbidity",
        "2+ at 65-74 is no longer within 3 points of Kingston's 45.7 %: say so in the text",
    )
    return f"""\
Multimorbidity by age in the validation population ({s["size"]:,} people, seed {s["seed"]}); only
the adult figures by sex and deprivation are fitted, the age pattern is not:

{table}

Expected shares of adults with 2+ on the broad list (analytic, the fitting targets'
groups): overall {100 * e["multimorbidity_broad_adults"]:.1f} % (target 27.2 %), women
{100 * e["multimorbidity_broad_female"]:.1f} % (30.0 %), men
{100 * e["multimorbidity_broad_male"]:.1f} % (24.4 %), most deprived quintile
{100 * e["multimorbidity_broad_imd1"]:.1f} % (30.0 %), least deprived
{100 * e["multimorbidity_broad_imd5"]:.1f} % (25.8 %). Adults by number of broad-list
conditions: {dist}. All ages: {100 * b["all_ages"]:.1f} % with 2+; the NHS England
segmentation dataset gives 14.8 % of registered people on its 35 conditions (Valabhji
2023/24), a narrower, coded definition, so only its age gradient (the 80+ odds ratio) is
compared. Valabhji's 68.2 % at 80+ is shown for reference.

Bridges to Health segments of the same population (assumed rules, not validated; national
shares are not published): {shares}. Maternal health is set during a run, from the women who
deliver in the year, so a population on its own has nobody in it."""


def render_multimorbidity(d: Mapping[str, Data]) -> str:
    s = RECIPES["population-figures"].settings
    m = d["multimorbidity-analytic"]
    p = d["population-figures"]
    current = next(r for r in m["rows"] if r["factor"] == 1)
    names = ("adults", "IMD1", "IMD5", "65-74")
    labels = ("adults 18+ with 2+ QOF conditions", "adults, IMD quintile 1")
    labels += ("adults, IMD quintile 5", "aged 65-74")
    sim = p["multimorbidity"]
    if len(sim) != len(names):
        raise RuntimeError("expected four multimorbidity checks in the validation")
    rows = [
        [
            label,
            f"{c['target']:.4f}",
            f"±{c['tolerance']:g}",
            f"{current[n]:.4f}",
            f"{c['simulated']:.4f}",
        ]
        for label, n, c in zip(labels, names, sim, strict=True)
    ]
    header = ["target", "target", "tolerance", "analytic expectation"]
    table = _table([*header, f"simulated ({s['size']:,}, seed {s['seed']})"], rows)
    people = {"adults": p["adults"], "IMD1": p["adults_imd1"]}
    z = max(
        abs(c["simulated"] - current[n]) / math.sqrt(current[n] * (1 - current[n]) / people[n])
        for n, c in zip(names, sim, strict=True)
        if n in people
    )
    claim(z < 3, "multimorbidity-table", "simulated and analytic shares differ by 3 SE or more")
    n1 = p["adults_imd1"]
    se = math.sqrt(current["IMD1"] * (1 - current["IMD1"]) / n1)
    gaps = [100 * (c["simulated"] - c["target"]) for c in sim]
    where = "above" if min(gaps) > 0 else "around"
    last = len(m["count_distribution"]) - 1
    dist = ", ".join(
        f"{k}{'+' if k == last else ''}: {100 * x:.1f} %"
        for k, x in enumerate(m["count_distribution"])
    )
    return f"""\
{table}

The simulated values agree with the expectation within sampling error. For example, about
{round(n1, -3):,} adults are in IMD quintile 1, which gives a standard error near {se:.3f}.
Every simulated share lies {where} its central target, by {min(gaps):.1f} to {max(gaps):.1f}
percentage points. The expected distribution of the condition count among adults is {dist}."""


def render_segments(d: Mapping[str, Data]) -> str:
    s = RECIPES["population-figures"].settings
    seg = d["population-figures"]["segments_by_imd"]
    q1, q5 = seg["1"], seg["5"]
    claim(
        q1["independent_engaged"] < q5["independent_engaged"]
        and q1["vulnerable_concerned"] > q5["vulnerable_concerned"],
        "segments-by-imd",
        "segments no longer follow deprivation",
    )
    return (
        f"In the validation population ({s['size']:,} people, seed {s['seed']}), "
        f"{100 * q1['independent_engaged']:.0f} % of\nIMD quintile 1 are independent & engaged "
        f"against {100 * q5['independent_engaged']:.0f} % of quintile 5, and "
        f"{100 * q1['vulnerable_concerned']:.0f} % are vulnerable &\nconcerned against "
        f"{100 * q5['vulnerable_concerned']:.0f} %."
    )


def render_gp_access(d: Mapping[str, Data]) -> str:
    s = RECIPES["trajectories"].settings
    b = d["trajectories"]
    block = "gp-access-by-year"
    target = b["targets"]

    def pct(values: Sequence[float]) -> list[str]:
        return [f"{100 * x:.1f} %" for x in values]

    rows = [
        ["clinician time used (`capacity` table)", *pct(b["gp_time_used"]), "-"],
        [
            "appointments on the day they were booked",
            *pct(b["gp_same_day_share"]),
            f"{100 * target['gp_same_day_share']:.1f} %",
        ],
        [
            "appointments within 7 days of booking",
            *pct(b["gp_within_7_days_share"]),
            f"{100 * target['gp_within_7_days_share']:.1f} %",
        ],
        [
            "booking attempts that failed",
            *pct(b["gp_unsuccessful_attempt_share"]),
            f"{100 * target['gp_unsuccessful_attempt_share']:.1f} %",
        ],
        [
            "A&E attendances after a failed attempt, per 1,000",
            *(f"{x:.1f}" for x in b["gp_spill_to_ae_per_1000"]),
            f"{target['gp_spill_to_ae_per_1000']:g}",
        ],
        [
            "appointments not attended (DNA)",
            *pct(b["dna_share"]),
            f"{100 * b['dna_rate']:g} % (`gp.dna_rate`)",
        ],
    ]
    table = _table(["", *(str(y) for y in b["years"]), "published"], rows)
    used = b["gp_time_used"]
    claim(min(used) > 0.8, block, "practices use less than 80 % of their clinician time")
    low, high = f"{100 * min(used):.0f}", f"{100 * max(used):.0f}"
    used_text = f"about {low} %" if low == high else f"{low}-{high} %"
    below = b["dna_share"][0] < b["dna_rate"]
    ratio = b["dna_wait_ratio"][0]
    claim(below == (ratio < 1), block, "the DNA share and the mean DNA ratio by lead disagree")
    side = "below" if below else "above"
    return f"""\
In the baseline ({s["population"]:,} people, {s["years"]} years from {b["years"][0]}, seed
{s["seed"]}):

{table}

Practices use {used_text} of their clinician minutes. Time still free at the end of a working
day is lost: that day's requests at that practice and role did not need it, and pre-booked
requests want later days. The share of appointments missed is {side} `gp.dna_rate`,
because the DNA ratios by booking lead (`gp.dna_rr_by_wait_band`) multiply it as they are,
and over the simulated waits they average {ratio:.2f} (first year)."""


def render_gp_capacity_response(d: Mapping[str, Data]) -> str:
    s = RECIPES["gp-capacity-response"].settings
    r = d["gp-capacity-response"]
    block = "gp-capacity-response"
    rows = {row["factor"]: row for row in r["rows"]}
    base = rows[1.0]

    def change(row: Mapping[str, float], name: str) -> float:
        return float(row[name] / base[name] - 1)

    def cell(row: Mapping[str, float], name: str) -> str:
        text = _num(row[name], ",.0f")
        if row is base:
            return text
        return f"{text} ({_signed(100 * change(row, name), '.1f')} %)"

    table_rows = []
    for factor, row in sorted(rows.items()):
        label = f"× {factor:g}" + (" (baseline)" if row is base else "")
        failed = row["gp_booking_attempt_unsuccessful"] / row["gp_booking_attempt"]
        table_rows.append(
            [
                label,
                cell(row, "gp_appointment"),
                cell(row, "ae_attendance"),
                cell(row, "gp_spill_to_ae"),
                f"{100 * failed:.1f} %",
            ]
        )
    header = ["GP clinician time", "attended GP appointments", "A&E attendances"]
    table = _table(
        [*header, "of which after a failed GP attempt", "booking attempts that failed"],
        table_rows,
    )
    others = sorted(f for f in rows if f != 1.0)

    def elasticity(factor: float, name: str) -> float:
        return change(rows[factor], name) / (factor - 1)

    steps = [f"{_signed(100 * (f - 1), '.0f')} %" for f in others]
    elasticities = _table(
        ["outcome", *(f"capacity {x}" for x in steps)],
        [
            [label, *(_num(elasticity(f, name), ".3f") for f in others)]
            for label, name in (
                ("attended GP appointments", "gp_appointment"),
                ("A&E attendances", "ae_attendance"),
            )
        ],
    )
    up, down = max(others), min(others)
    gp_up, ae_up = change(rows[up], "gp_appointment"), change(rows[up], "ae_attendance")
    claim(
        gp_up > 0 > change(rows[down], "gp_appointment"),
        block,
        "appointments no longer move with GP capacity",
    )
    claim(
        ae_up < 0 < change(rows[down], "ae_attendance"),
        block,
        "A&E no longer falls with GP capacity",
    )
    asymmetric = claim(
        abs(elasticity(down, "gp_appointment")) > abs(elasticity(up, "gp_appointment")),
        block,
        "cutting capacity no longer moves appointments more than adding it",
    )
    through_spill = all(
        abs(
            (row["ae_attendance"] - base["ae_attendance"])
            - (row["gp_spill_to_ae"] - base["gp_spill_to_ae"])
        )
        < 0.5
        for row in rows.values()
    )
    claim(through_spill, block, "A&E changes by more than the spill from general practice")
    small = claim(
        abs(ae_up) < 0.05, block, "the A&E response is no longer much smaller than 5-10 %"
    )
    unmet = base["gp_request_abandoned"] + base["gp_spill_to_ae"]
    booked = base["gp_appointment"] + base["gp_appointment_dna"]
    spill_share = base["gp_spill_to_ae"] / base["ae_attendance"]
    keys = ", ".join(f"`{k}`" for k in r["keys"])
    shape = (
        "Cutting capacity moves appointments more than adding it: demand exceeds capacity, so "
        "time taken away\nis time that would have been used, while time added is partly left "
        "unused."
        if asymmetric
        else "Adding and cutting capacity move appointments about equally."
    )
    size = (
        "The A&E response is small because only the attendances after a failed GP attempt "
        "change (the\nother attendances share their random numbers and are identical in every "
        f"run), and at the baseline\nthey are {100 * spill_share:.1f} % of all A&E attendances."
        if through_spill and small
        else "The A&E response includes more than the spill from general practice."
    )
    return f"""\
The baseline scenario ({s["population"]:,} people, {s["years"]} years from 2024, seed
{s["seed"]}) with every GP capacity key ({keys}) multiplied by the same factor; counts are
totals over the {s["years"]} years, with the change from the baseline in brackets:

{table}

Implied elasticities (relative change of the outcome ÷ relative change of clinician time):

{elasticities}

{shape} Appointments can rise at most by the needs that end without an appointment (given up
or gone to A&E), {100 * unmet / booked:.1f} % as many as the appointments booked at the
baseline, because demand in the model does not respond to capacity. {size}"""


def render_lts_by_year(d: Mapping[str, Data]) -> str:
    s = RECIPES["trajectories"].settings
    b = d["trajectories"]
    values = ", ".join(f"{x:.1f}" for x in b["lts_per_1000"][:-1])
    values += f" and {b['lts_per_1000'][-1]:.1f}"
    spread = max(b["lts_per_1000"]) / min(b["lts_per_1000"]) - 1
    claim(spread < 0.15, "lts-by-year", "people on long-term support are no longer about level")
    return (
        f"In a {s['population']:,}-person, {s['years']}-year baseline run (seed {s['seed']}) the "
        f"people supported per 1,000\nperson-years were {values} in "
        f"{b['years'][0]}-{b['years'][-1]}."
    )


#: published trends beside the trajectories, from docs/evidence/EVIDENCE.md only:
#: row key -> (text, (first value, last value, years between them) or None). The mean annual
#: change is worked out from the two ends (derived; EVIDENCE gives the figures, not the rate)
#: and written where the text has ``{rate}``.
PUBLISHED_TRENDS: dict[str, tuple[str, tuple[float, float, int] | None]] = {
    "gp_appointment": (
        "300 m (2019) → 367.4 m (2024){rate}; 5.0 → 5.8 per registered patient (NHS England "
        "AGP via IfG, EVIDENCE §2a)",
        (300.0, 367.4, 5),
    ),
    "gp_appointment_dna": ("no series in EVIDENCE", None),
    "ae_attendance": (
        "23.8 m (2017-18) → 25,348,842 (2022-23){rate} (NHS Digital, EVIDENCE §3a)",
        (23.8e6, 25_348_842, 5),
    ),
    "emergency_admission": (
        "4.25 m (2006/07) → 6.02 m (2017/18){rate} (Health Foundation 2018); −9 % 2019 → "
        "2022 (Health Foundation 2023) (EVIDENCE §3b)",
        (4.25, 6.02, 11),
    ),
    "elective_admission/ordinary": (
        "elective admissions −21 % 2019 → 2022{rate}, day cases probably excluded (Health "
        "Foundation 2023, EVIDENCE §3b)",
        (1.0, 0.79, 3),
    ),
    "elective_admission/daycase": ("no series in EVIDENCE", None),
    "outpatient_attendance/first": (
        "no series of first attendances in EVIDENCE; all attendances 96,420,114 (2018/19) → "
        "95,942,189 (2022/23){rate} (HES, EVIDENCE §3b)",
        (96_420_114, 95_942_189, 4),
    ),
    "outpatient_attendance/follow_up": (
        "no series of follow-ups in EVIDENCE; all attendances as above{rate}",
        (96_420_114, 95_942_189, 4),
    ),
    "bed_day": (
        "36.2 m (2019) → 35.3 m (2022){rate} (Health Foundation 2023, EVIDENCE §3b)",
        (36.2, 35.3, 3),
    ),
    "maternity_delivery": ("no series in EVIDENCE", None),
    "community_nursing_contact": ("no series in EVIDENCE", None),
    "community_mental_health_contact": ("no series in EVIDENCE", None),
    "mental_health_people_in_contact": (
        "2,878,636 (2019-20) → 2,803,244 (2020-21) → 3,256,695 (2021-22){rate} (Mental "
        "Health Bulletin, EVIDENCE §9)",
        (2_878_636, 3_256_695, 2),
    ),
    "social_care_new_request": (
        "1,930,560 (2019-20) → 2,085,720 (2023-24){rate} (ASC-FR, EVIDENCE §15d)",
        (1_930_560, 2_085_720, 4),
    ),
    "social_care_long_term_support": (
        "838,530 (2019-20); 841,245; 817,995; 835,335; 858,720 (2023-24){rate} (ASC-FR, "
        "EVIDENCE §15d)",
        (838_530, 858_720, 4),
    ),
    "social_care_support_day": (
        "no series of days in EVIDENCE; people on support at 31 March 620,960 (2021) → 650,085 "
        "(2024){rate} (ASC-FR, EVIDENCE §15d)",
        (620_960, 650_085, 3),
    ),
}
#: England's resident population (ONS mid-year estimates, EVIDENCE §1a): 2017 and 2022
ENGLAND_POPULATION = (55_619_430, 57_106_398, 5)
#: GP appointments per registered patient (IfG, EVIDENCE §2a): 2019 and 2024
GP_PER_PATIENT = (5.0, 5.8, 5)


def _annual(first: float, last: float, years: int) -> float:
    """Mean (compound) annual change from ``first`` to ``last`` over ``years`` years."""
    return float((last / first) ** (1.0 / years) - 1.0)


def _pct(x: float, spec: str = ".1f") -> str:
    """A signed percentage change, e.g. "+1.2 %" ("0.0 %" for a change that rounds to 0)."""
    text = _signed(100 * x, spec)
    return (text[1:] if float(text[1:]) == 0 else text) + " %"


def _trajectory_label(key: str) -> str:
    service, _, mode = key.partition("/")
    return f"`{service}` ({mode.replace('_', '-')})" if mode else f"`{service}`"


def trajectory_changes(t: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Rates per 1,000 person-years and mean annual changes of every trajectory row."""
    py = t["person_years"]
    n = len(py) - 1
    out = {}
    for key, counts in t["counts"].items():
        rates = [1000 * c / p for c, p in zip(counts, py, strict=True)]
        text, series = PUBLISHED_TRENDS[key]
        out[key] = {
            "rates": rates,
            "count": _annual(counts[0], counts[-1], n),
            "rate": _annual(rates[0], rates[-1], n),
            "yearly_rate": [rates[i + 1] / rates[i] - 1 for i in range(n)],
            "published_text": text,
            "published": None if series is None else _annual(*series),
        }
    return out


def render_trajectories(d: Mapping[str, Data]) -> str:
    s = RECIPES["trajectories"].settings
    b = d["trajectories"]
    t = b["trajectories"]
    block = "trajectories"
    years = b["years"]
    ch = trajectory_changes(t)
    rows = []
    for key, c in ch.items():
        rate = "" if c["published"] is None else f", {_pct(c['published'])} a year derived"
        published = c["published_text"].format(rate=rate)
        rows.append(
            [
                _trajectory_label(key),
                *(f"{r:,.1f}" for r in c["rates"]),
                _pct(c["count"]),
                _pct(c["rate"]),
                _md_cell(published),
            ]
        )
    table = _table(
        [
            "service, per 1,000 person-years",
            *(str(y) for y in years),
            "count: change a year",
            "per person: change a year",
            "published",
        ],
        rows,
    )

    py = t["person_years"]
    n = len(years) - 1
    pop = _annual(py[0], py[-1], n)
    england = _annual(*ENGLAND_POPULATION)
    planned = t["planned_growth_per_year"]
    sh = t["shares"]
    growth = t["growth_per_year"]
    no_growth = all(v == 0 for v in growth.values())
    claim(no_growth, block, "some demand.<stream>.growth_per_year is no longer 0")
    biggest = max(abs(c["rate"]) for c in ch.values())
    claim(biggest < 0.015, block, "some service's rate per person changes by 1.5 % a year or more")
    bound = math.ceil(1000 * biggest) / 10  # per cent, rounded up
    series = {ends: _annual(*ends) for _, ends in PUBLISHED_TRENDS.values() if ends is not None}
    moved = sum(abs(x) > 0.01 for x in series.values())
    claim(2 * moved > len(series), block, "most published series changed by less than 1 % a year")
    slower = all(
        abs(c["count"] - pop) < 0.01 for c in (ch["ae_attendance"], ch["emergency_admission"])
    )
    claim(slower, block, "A&E or emergency admissions no longer grow about with the population")
    claim(
        ch["ae_attendance"]["published"] > england,
        block,
        "published A&E attendances grew no faster than England's population",
    )

    def share(name: str, i: int) -> str:
        return f"{100 * sh[name][i]:.1f} %"

    gp, dna = ch["gp_appointment"], ch["gp_appointment_dna"]
    gp_pp = _annual(*GP_PER_PATIENT)

    def span(values: Sequence[float]) -> str:
        low, high = f"{100 * min(values):.0f}", f"{100 * max(values):.0f}"
        return f"about {low} %" if low == high else f"{low}-{high} %"

    claim(gp["count"] < gp["published"], block, "GP appointments grow as fast as published")
    claim(gp["rate"] < 0.005, block, "GP appointments per person rise by 0.5 % a year or more")
    used = b["gp_time_used"]
    failed = b["gp_unsuccessful_attempt_share"]
    ae, em = ch["ae_attendance"], ch["emergency_admission"]
    claim(
        ae["count"] < ae["published"] and em["count"] < em["published"],
        block,
        "A&E or emergency admissions grow as fast as the published series",
    )
    ordinary, daycase = ch["elective_admission/ordinary"], ch["elective_admission/daycase"]
    first, follow = ch["outpatient_attendance/first"], ch["outpatient_attendance/follow_up"]
    capacity_led = (daycase, first)
    claim(
        all(abs(c["count"] - planned) < 0.002 for c in capacity_led),
        block,
        "day cases and first attendances no longer grow with the planned population",
    )
    waits = t["waits"]
    ord_list = waits["elective_ordinary"]["backlog_end"]
    claim(
        abs(ord_list[-1] / ord_list[0] - 1) < 0.25,
        block,
        "the elective ordinary list no longer stays within 25 % of its size",
    )
    op = ch["outpatient_attendance/first"]
    claim(op["count"] > op["published"], block, "outpatients grow no faster than published")
    beds = ch["bed_day"]
    claim(beds["count"] > beds["published"], block, "bed days fall as fast as published")
    mat = ch["maternity_delivery"]
    nursing, mh = ch["community_nursing_contact"], ch["community_mental_health_contact"]
    people_mh = ch["mental_health_people_in_contact"]
    claim(people_mh["count"] < people_mh["published"], block, "people in contact grow as published")
    req = ch["social_care_new_request"]
    claim(req["count"] < req["published"], block, "requests grow as fast as published")
    lts, days = ch["social_care_long_term_support"], ch["social_care_support_day"]
    lts_floor = min(lts["yearly_rate"])
    claim(lts_floor > -0.015, block, "long-term support falls more than 1.5 % a year per person")
    started, ended = sum(t["lts_started"]), sum(t["lts_ended"])
    rises = lts["rate"] > 0
    claim(rises == (started > ended), block, "long-term support and its flows disagree")
    lts_recent = _annual(817_995, 858_720, 2)
    lts_side = "faster" if lts["count"] > lts["published"] else "more slowly"
    supported = t["counts"]["social_care_long_term_support"]
    support_days = t["counts"]["social_care_support_day"]
    days_per = [x / y for x, y in zip(support_days, supported, strict=True)]

    gp_text = (
        f"the count grows {_pct(gp['count'])} a year and the rate per person "
        f"{_pct(gp['rate'])}, against a published {_pct(gp['published'])} a year "
        f"({_pct(gp_pp)} per registered patient, derived). In the model general practice is "
        f"limited by clinician time: practices use {span(used)} of their minutes and "
        f"{span(failed)} of booking attempts fail every year, and the minutes grow only with the "
        "planned population. "
        "Much of the published rise came with more staff (appointments by staff other than "
        "GPs 136.8 m → 200.0 m, 2019 → 2024, EVIDENCE §2a), which the baseline does not add; "
        "`demand.gp.growth_per_year` (0) would add demand, but appointments can grow only into "
        "the clinician time still unused unless capacity grows too."
    )
    return f"""\
The baseline scenario (`carescale run scenarios/baseline.toml`: {s["population"]:,} people,
{s["years"]} years from {years[0]}, {t["replications"]} replications, seed {s["seed"]}): each
service per 1,000 person-years by year (mean of the replications), the mean annual change of
the count and of the rate per person from {years[0]} to {years[-1]} (compound), and the
published trend. Published figures are from EVIDENCE only; their change a year is worked out
from the two ends of the series (derived, not a published figure).

{table}

**What the model holds fixed.** Demand per person is set by age, sex, deprivation, conditions
and activation at base-year rates, and {"every" if no_growth else "not every"}
`demand.<stream>.growth_per_year` is 0, so a rate per person moves only with the population's
mix and with capacity. Over five years the mix moves little: person-years grow
{_pct(pop, ".2f")} a year (births and net migration; England's resident population grew
{_pct(england, ".2f")} a year from mid-2017 to mid-2022, ONS, EVIDENCE §1a, derived), the share
aged 65 and over goes from {share("aged_65_plus", 0)} to {share("aged_65_plus", -1)} and 85 and
over from {share("aged_85_plus", 0)} to {share("aged_85_plus", -1)}, while the shares aged 0-4
({share("aged_0_4", 0)} to {share("aged_0_4", -1)}) and with five or more conditions
({share("ltc_5_plus", 0)} to {share("ltc_5_plus", -1)}) fall. Capacities grow only with the
planned population ({_pct(planned, ".2f")} a year). Every rate per person therefore
changes by less than {bound:.1f} % a year, while {moved} of the {len(series)} published series
changed by more than 1 % a year, up or down. The differences are of two kinds: growth per
person that the model leaves out by default (general practice, A&E, emergency admissions,
mental health, social care requests), and the fall and recovery of hospital activity around
the pandemic (admissions and bed days 2019 → 2022), which a model at base-year rates does not
reproduce.

**Why each differs.**

- GP appointments: {gp_text} Missed appointments (DNAs) follow the booked appointments
  ({_pct(dna["rate"])} a year per person); EVIDENCE has no series.
- A&E attendances ({_pct(ae["count"])} a year) and emergency admissions
  ({_pct(em["count"])}) grow about with the population; their rates per person change by
  {_pct(ae["rate"])} and {_pct(em["rate"])} a year. Published A&E attendances grew
  {_pct(ae["published"])} a year from 2017-18 to 2022-23 (24 m in 2021-22, 3 % below 2019-20)
  and emergency
  admissions {_pct(em["published"])} a year from 2006/07 to 2017/18, faster than the
  population: growth per person that `demand.ae.growth_per_year` and
  `demand.emergency_direct.growth_per_year` (both 0) would add.
- Elective ordinary admissions grow {_pct(ordinary["count"])} a year (day cases
  {_pct(daycase["count"])}): like day cases, their capacity grows only with the planned
  population; on days the beds are full operations are cancelled, keep their place and are
  made up on the next working day (`acute.cancelled_elective_rebook_share`), so their list
  stays about level (below). The published −21 % from 2019 to 2022 is the pandemic's fall,
  before the base year; the model starts after it, with capacity equal to demand.
- Day cases ({_pct(daycase["count"])}) and first outpatient attendances
  ({_pct(first["count"])}) grow with their capacity, that is with the planned population
  ({_pct(planned, ".2f")}), so their rates per person stay level; follow-ups share the clinics
  ({_pct(follow["count"])}). Published outpatient attendances (first and follow-up together)
  changed {_pct(first["published"])} a year from 2018/19 to 2022/23, a span with the pandemic's
  dip (95.5 m in 2021/22); EVIDENCE has no series of day cases.
- Bed days grow {_pct(beds["count"])} a year with admissions; lengths of stay are fixed by
  age. Published bed days changed {_pct(beds["published"])} a year from 2019 to 2022, with 12 %
  fewer admissions and longer stays (mean 7.3 → 8.3 days), changes around the pandemic that
  the model does not have.
- Deliveries ({_pct(mat["count"])} a year) follow fixed fertility rates by age, so their count
  grows with the number of women aged 15-44 and their ages; EVIDENCE has no series.
- Community nursing ({_pct(nursing["count"])}) and mental-health contacts ({_pct(mh["count"])})
  follow the population at base-year rates; EVIDENCE has no series of either. People in
  contact with mental-health services grow {_pct(people_mh["count"])} a year in the model;
  published, they rose {_pct(people_mh["published"])} a year from 2019-20 to 2021-22, after a
  fall in 2020-21: growth per person that `demand.mental_health.growth_per_year` (0) would
  add.
- Requests for social care grow {_pct(req["count"])} a year ({_pct(req["rate"])} per person)
  against a published {_pct(req["published"])} (2019-20 to 2023-24); the register's
  `demand.social_care_request.growth_per_year` (0) cites this rise.
- People on long-term support grow {_pct(lts["count"])} a year ({_pct(lts["rate"])} per
  person; its weakest year {_pct(lts_floor)}), {lts_side} than the published
  {_pct(lts["published"])} from 2019-20 to 2023-24 ({_pct(lts_recent)} a year from 2021-22,
  derived). The number supported is a balance of starts ({started:,.0f} over the run) and
  ends by death or other exits ({ended:,.0f}), so it {"rises" if rises else "falls"}, while
  requests, which lead to the starts, are about level per person. Support days grow
  {_pct(days["count"])} a year, a little faster than the people supported: days per person
  supported go from {days_per[0]:.0f} to {days_per[-1]:.0f}. The nearest published series,
  people on support at 31 March, grew {_pct(days["published"])} a year from 2021 to 2024."""


def render_waiting_lists(d: Mapping[str, Data]) -> str:
    b = d["trajectories"]
    t = b["trajectories"]
    block = "waiting-lists"
    years = b["years"]
    w = t["waits"]
    rows = []
    for name in TRAJECTORY_WAITS:
        rows.append(
            [
                f"`{name}`",
                "waiting at the end of the year",
                *(f"{x:,.0f}" for x in w[name]["backlog_end"]),
            ]
        )
        rows.append(
            [
                "",
                "mean wait of those served, days",
                *(f"{x:.1f}" for x in w[name]["mean_wait_days"]),
            ]
        )
    table = _table(["list", "", *(str(y) for y in years)], rows)
    little = 365 * t["rtt_list_years"]
    rtt = ("outpatient_first", "elective_daycase")
    settled = all(abs(x / little - 1) < 0.15 for name in rtt for x in w[name]["mean_wait_days"][1:])
    claim(settled, block, "RTT mean waits no longer settle near the list's length in time")
    first_higher = all(w[n]["mean_wait_days"][0] > max(w[n]["mean_wait_days"][1:]) for n in rtt)
    claim(first_higher, block, "the first year's RTT waits are no longer the longest")
    level = all(abs(w[n]["backlog_end"][-1] / w[n]["backlog_end"][0] - 1) < 0.1 for n in rtt)
    claim(level, block, "the outpatient and day-case lists are no longer about level")
    ordinary = w["elective_ordinary"]
    grow = ordinary["backlog_end"][-1] / ordinary["backlog_end"][0] - 1
    claim(abs(grow) < 0.25, block, "the elective ordinary list moves by 25 % or more")
    gp = w["gp_appointment"]
    gp_waits = gp["mean_wait_days"]
    claim(max(gp_waits) / min(gp_waits) < 1.05, block, "GP waits are no longer level")
    booked = gp["backlog_end"]
    claim(max(booked) / min(booked) < 1.1, block, "GP appointments booked ahead are not level")
    low = min(min(w[n]["mean_wait_days"][1:]) for n in rtt)
    high = max(max(w[n]["mean_wait_days"][1:]) for n in rtt)
    return f"""\
The waiting lists of the same run (`waits.parquet`, mean of the {t["replications"]}
replications; waits from referral for the three referral-to-treatment lists, from booking for
GP appointments):

{table}

The referral-to-treatment (RTT) lists start with the published national list scaled to the
population, `acute.rtt.list_years` = {t["rtt_list_years"]:g} years of demand (7,538,800
incomplete pathways at the end of March 2024, EVIDENCE §15b, the only point EVIDENCE gives),
and their capacity equals the first year's expected demand per planned person. The first-year
mean waits are the longest because the starting list had already waited (median 14.9 weeks);
from the second year the outpatient and day-case waits settle at {low:.0f}-{high:.0f} days,
near the list's length in time ({little:.0f} days), and those lists stay within 10 % of their
size. The elective ordinary list changes by {100 * grow:+.0f} % over the run (mean wait
{ordinary["mean_wait_days"][0]:.0f} days in the first year, {ordinary["mean_wait_days"][-1]:.0f}
in the last): elective ordinary admissions also need a bed, and on days the beds are full they
are cancelled, keep their place at the head of the list and the lost theatre time is made up
on the next working day (`acute.cancelled_elective_rebook_share`, an assumption); without
that make-up time the list would grow with every bed shortage. GP appointments booked ahead
at the end of the year and the mean wait from booking
({min(gp_waits):.1f}-{max(gp_waits):.1f} days) stay about level."""


def render_run_output(d: Mapping[str, Data]) -> str:
    s = RECIPES["run-output"].settings
    stdout = d["run-output"]["stdout"].strip("\n")
    command = (
        f"carescale run scenarios/baseline.toml --population {s['population']} "
        f"--years {s['years']} --out {s['out']}"
    )
    return f"""\
A smaller example ({s["population"]:,} people, {s["years"]} years; carescale
{_version(stdout)}). The progress bar is printed on stderr while the run goes on and then
cleared, so it is not shown here:

```text
$ {command}
{stdout}
```"""


CAPACITY_UNITS = {
    "gp.gp_minutes_per_1000_per_working_day": (
        "GP minutes for appointments (all modes) per 1,000 people per working day, shared "
        "between practices"
    ),
    "gp.nurse_minutes_per_1000_per_working_day": (
        "practice nurse minutes for appointments per 1,000 people per working day"
    ),
    "gp.other_minutes_per_1000_per_working_day": (
        "other practice staff minutes (pharmacists, physician associates, ...) for "
        "appointments per 1,000 people per working day"
    ),
    "acute.beds_per_1000": "general and acute beds per 1,000 people",
    "acute.elective_ordinary_per_1000_per_working_day": (
        "planned inpatient admissions per 1,000 per working day"
    ),
    "acute.daycase_per_1000_per_working_day": "day cases per 1,000 per working day",
    "acute.outpatient_per_1000_per_working_day": "outpatient attendances per 1,000 per working day",
    "community.nursing_contacts_per_1000_per_day": (
        "district nursing contacts per 1,000 per day (7 days a week)"
    ),
    "community.mental_health_contacts_per_1000_per_working_day": (
        "community mental-health contacts per 1,000 per working day"
    ),
    "community.social_care_assessments_per_1000_per_working_day": (
        "social care assessments per 1,000 per working day"
    ),
}
CALIBRATION_INPUTS = {"acute.bed_occupancy_target", "margin", "rtt_margin"}


def _setting(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{x:g}" for x in value) + "]"
    return f"{value:g}"


def render_capacities(d: Mapping[str, Data]) -> str:
    settings = d["baseline-settings"]
    cap = settings["capacity"]
    known = [k for k in CAPACITY_UNITS if k in cap]
    others = [k for k in cap if k not in CAPACITY_UNITS and k not in CALIBRATION_INPUTS]
    claim(not others, "capacities", f"no description in CAPACITY_UNITS for {others}")
    keys = sorted([*known, *others], key=lambda k: list(cap).index(k))
    keys = sorted(keys, key=lambda k: [s.split(".")[0] for s in cap].index(k.split(".")[0]))
    rows, last = [], ""
    for key in keys:
        unit = CAPACITY_UNITS.get(key, settings["units"][key])
        section, name = key.split(".", 1)
        label = f"`[capacity.{section}]`" if section != last else ""
        last = section
        rows.append([label, f"`{name}` ({_setting(cap[key])})", unit])
    return "The capacities you can set (baseline values in brackets):\n\n" + _table(
        ["section", "key", "unit"], rows
    )


GP_MINUTES = ("gp", "nurse", "other")


def more_gp_toml(settings: Mapping[str, Any]) -> str:
    """The user guide's example scenario, with the baseline values in its comments."""
    cap, par = settings["capacity"], settings["parameters"]
    minutes = []
    for role in GP_MINUTES:
        key = f"{role}_minutes_per_1000_per_working_day"
        old = cap[f"gp.{key}"]
        line = f"{key} = {round(old * 1.1, 2):g}"
        minutes.append(f"{line:<49}# baseline {old:g} (+10 %)")
    tolerance = par["gp.same_day_tolerance_days"]
    lines = "\n".join(minutes)
    return f"""\
# More practice clinician time, and patients who wait a little longer for it.
[scenario]
name = "more_gp"
description = "10 % more GP, nurse and other clinician time; same-day waits accepted longer."
extends = "baseline.toml"

[run]
replications = 5

[capacity.gp]
{lines}

[capacity.acute]
beds_per_1000 = 2.0                              # baseline {cap["acute.beds_per_1000"]:g}

[parameters]
"gp.dna_rate" = 0.04                 # fewer missed appointments (baseline {par["gp.dna_rate"]:g})
"gp.same_day_tolerance_days" = 3     # urgent needs: longer waits accepted (baseline {tolerance:g})
"""


def render_more_gp(d: Mapping[str, Data]) -> str:
    text = more_gp_toml(d["baseline-settings"])
    return (
        "Save this as `scenarios/more_gp.toml` next to `baseline.toml`:\n\n"
        f"<!-- file: scenarios/more_gp.toml -->\n```toml\n{text}```"
    )


def render_comparison(d: Mapping[str, Data]) -> str:
    s = RECIPES["comparison"].settings
    c = d["comparison"]
    payer = c["by_payer"]
    block = "more-gp-comparison"
    untouched = [p for p in ("community_health", "la_social_care") if p in payer]
    unchanged = all(payer[p][0] == 0 == payer[p][1] for p in untouched)
    claim(unchanged, block, "community or social care costs changed")
    if unchanged:
        first = (
            "Community and social care costs are exactly unchanged, because nothing in the "
            "scenario\ntouches them and the random numbers are shared."
        )
    else:
        first = (
            "Community and social care costs change a little too, although the scenario does "
            "not\ntouch them: look at their min and max."
        )
    n = c["per_year"]
    booked = n["gp_appointments"]
    pct = 100 * (booked["more_gp"] / booked["baseline_5"] - 1)
    rises = claim(
        payer["primary_care"][1] > 0 and c["extra_gp_appointments"] > 0,
        block,
        "primary care costs no longer rise in every replication with the appointments",
    )
    if rises:
        second = (
            "Primary care costs rise in every replication: the extra clinician time, and "
            "people accepting\nlonger waits for an urgent need, give "
            f"{_num(c['extra_gp_appointments'], ',.0f')} more appointments a year "
            f"({_signed(pct, '.1f')} %), each\ncosted whether attended or not."
        )
    else:
        second = "Primary care costs change with the number and the mode of appointments."
    spill, failed = n["gp_spill_to_ae"], n["gp_unsuccessful"]
    fewer = claim(
        spill["more_gp"] < spill["baseline_5"] and failed["more_gp"] < failed["baseline_5"],
        block,
        "failed GP attempts or the spill to A&E no longer fall",
    )
    if fewer:
        third = (
            f"Failed booking attempts fall from {_num(failed['baseline_5'], ',.0f')} to "
            f"{_num(failed['more_gp'], ',.0f')} a year, and A&E attendances after a failed\n"
            f"attempt from {_num(spill['baseline_5'], ',.0f')} to "
            f"{_num(spill['more_gp'], ',.0f')} (means over replications and years)."
        )
    else:
        third = "Failed booking attempts and the spill to A&E change too."
    return f"""\
```python
{COMPARE_SNIPPET.rstrip()}
```

With {s["population"]:,} people, {s["years"]} years and {s["replications"]} replications
(both folders run with `--population {s["population"]} --years {s["years"]}`), this gives
(GBP at 2023/24 prices):

```text
{c["stdout"].rstrip()}
```

{first} {second} {third} Acute hospital costs move with the extra beds
(`beds_per_1000 = {c["beds_per_1000"]}`) and with the fewer A&E attendances from general
practice; compare their min and max with the mean before reading anything into it."""


def render_schema_example(d: Mapping[str, Data]) -> str:
    s = RECIPES["schema-example"].settings
    e = d["schema-example"]
    return f"""\
The examples on this page come from this run (carescale {e["version"]}):

```bash
mkdir -p results
{schema_command(s)}
```

Its manifest records `"tables": {json.dumps(e["tables"])}`. GP practice appointments per
1,000 person-years by IMD quintile, and cost by payer, both as means over replications:

```python
{SCHEMA_SNIPPET.rstrip()}
```

Output:

```text
{e["stdout"].rstrip()}
```"""


def render_register_groups(d: Mapping[str, Data]) -> str:
    return "Groups: " + ", ".join(d["register-groups"]["groups"]) + "."


def render_error_messages(d: Mapping[str, Data]) -> str:
    return "```text\n" + "\n".join(d["error-messages"]["messages"]) + "\n```"


def render_ae_conversion(d: Mapping[str, Data]) -> str:
    a = d["ae-conversion"]

    def span(pair: Sequence[float]) -> str:
        low, high = sorted(pair)
        return f"{low:.2f}-{high:.2f}"

    return (
        f"The conversion therefore rises with age, from {span(a['ages']['18'])} at 18 to "
        f"{span(a['ages']['90'])} at 90 (men and\nwomen); children's conversion is {a['child']:g}."
    )


def _link(target: str) -> str:
    return f"<{target}>" if "://" in target else f"[`{target}`]({target})"


def render_bibliography(d: Mapping[str, Data]) -> str:
    r = d["references"]
    keys_by_ref: dict[str, list[str]] = {}
    for source, ids in r["cited"].items():
        for rid in ids:
            keys_by_ref.setdefault(rid, []).extend(r["keys_by_source"][source])
    parts = []
    for ref in r["refs"]:
        text = f'### <a id="{ref["id"]}"></a>{ref["short"]}\n\n{ref["citation"].strip()}'
        if ref.get("link"):
            text += " " + _link(ref["link"])
        if ref.get("notes"):
            text += f"\n\n{ref['notes'].strip()}"
        keys = sorted(set(keys_by_ref.get(ref["id"], [])))
        if keys and not ref.get("list_keys", True):
            text += (
                f"\n\nCited in the source of {len(keys)} register entries (see the table below)."
            )
        elif keys:
            entries = "entry" if len(keys) == 1 else "entries"
            text += f"\n\nCited by {len(keys)} register {entries}: "
            text += ", ".join(f"`{k}`" for k in keys) + "."
        else:
            text += "\n\nCited by no register entry."
        parts.append(text)
    return "\n\n".join(parts)


def render_sources(d: Mapping[str, Data]) -> str:
    r = d["references"]
    short = {ref["id"]: ref["short"] for ref in r["refs"]}
    rows = []
    for source in sorted(r["keys_by_source"], key=str.casefold):
        refs = ", ".join(f"[{short[i]}](#{i})" for i in r["cited"][source])
        refs = refs or _no_publication_label(source)
        keys = ", ".join(f"`{k}`" for k in sorted(r["keys_by_source"][source]))
        rows.append([_md_cell(source), refs, keys])
    return _table(["source, as written in the register", "references", "register keys"], rows)


@dataclass(frozen=True)
class Block:
    """A delimited part of a page, rendered from the results of some recipes."""

    name: str
    page: str
    recipes: tuple[str, ...]
    render: Callable[[Mapping[str, Data]], str] = field(repr=False)


BLOCKS: tuple[Block, ...] = (
    Block("liability-solutions", "calibration.md", ("liabilities",), render_liabilities),
    Block("loading-sensitivity", "calibration.md", ("multimorbidity-analytic",), render_loadings),
    Block("pam-by-level", "calibration.md", ("population-figures",), render_pam_by_level),
    Block(
        "cassell-alternative",
        "calibration.md",
        ("multimorbidity-analytic",),
        render_cassell_alternative,
    ),
    Block(
        "validate-population",
        "calibration.md",
        ("population-validation",),
        render_validate_population,
    ),
    Block(
        "broad-multimorbidity",
        "calibration.md",
        ("broad-multimorbidity",),
        render_broad_multimorbidity,
    ),
    Block(
        "multimorbidity-table",
        "calibration.md",
        ("multimorbidity-analytic", "population-figures"),
        render_multimorbidity,
    ),
    Block("lts-by-year", "calibration.md", ("trajectories",), render_lts_by_year),
    Block("trajectories", "calibration.md", ("trajectories",), render_trajectories),
    Block("waiting-lists", "calibration.md", ("trajectories",), render_waiting_lists),
    Block("emergency-balance", "calibration.md", ("calibration",), render_emergency_balance),
    Block("bed-stock", "calibration.md", ("calibration",), render_beds),
    Block("calibration-fit", "calibration.md", ("calibration",), render_calibration_fit),
    Block(
        "validate-baseline", "calibration.md", ("baseline-validation",), render_validate_baseline
    ),
    Block(
        "gp-capacity-response",
        "calibration.md",
        ("gp-capacity-response",),
        render_gp_capacity_response,
    ),
    Block("segments-by-imd", "model.md", ("population-figures",), render_segments),
    Block("gp-access-by-year", "model.md", ("trajectories",), render_gp_access),
    Block("ae-conversion", "model.md", ("ae-conversion",), render_ae_conversion),
    Block("run-output", "user-guide.md", ("run-output",), render_run_output),
    Block("capacities", "user-guide.md", ("baseline-settings",), render_capacities),
    Block("more-gp-scenario", "user-guide.md", ("baseline-settings",), render_more_gp),
    Block("more-gp-comparison", "user-guide.md", ("comparison",), render_comparison),
    Block("register-groups", "user-guide.md", ("register-groups",), render_register_groups),
    Block("error-messages", "user-guide.md", ("error-messages",), render_error_messages),
    Block("schema-example", "schema.md", ("schema-example",), render_schema_example),
    Block("bibliography", "references.md", ("references",), render_bibliography),
    Block("register-sources", "references.md", ("references",), render_sources),
)


# ============================================================================ pages


def render_block(block: Block, data: Mapping[str, Data]) -> str:
    """The text inside ``block`` for the results ``data`` (by recipe name)."""
    return reflow(block.render({n: data[n] for n in block.recipes})).strip("\n")


def find_blocks(text: str) -> dict[str, str]:
    """The text inside every generated block of a page, by name."""
    blocks: dict[str, str] = {}
    for match in OPEN_RE.finditer(text):
        name = match.group("name")
        end = text.find("\n" + close_marker(name), match.end())
        if end < 0:
            raise ValueError(f"block '{name}' has no closing line '{close_marker(name)}'")
        if name in blocks:
            raise ValueError(f"block '{name}' appears twice")
        blocks[name] = text[match.end() : end].strip("\n")
    return blocks


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the inside of block ``name`` replaced by ``content``."""
    start = text.find(open_marker(name))
    end = text.find(close_marker(name), start)
    if start < 0 or end < 0:
        raise ValueError(f"no block '{name}'")
    head = text[: start + len(open_marker(name))]
    return head + "\n" + content.strip("\n") + "\n" + text[end:]


def register_value_text(key: str, index: str | None, fmt: str | None) -> str:
    """How an inline register value is written: ``<!-- value: KEY[INDEX] FMT -->``."""
    from model.register import default_register

    p = default_register()[key]
    value = p.value[int(index) if index else 0]
    return format(value, fmt) if fmt else f"{value:g}"


def inline_values(text: str) -> list[tuple[str, str, str]]:
    """Every inline register value of a page: (marker, text written, text expected)."""
    out = []
    for m in VALUE_RE.finditer(text):
        expected = register_value_text(m.group("key"), m.group("index"), m.group("fmt"))
        out.append((m.group(0).split("-->")[0] + "-->", m.group("text"), expected))
    return out


def rewrite_inline_values(text: str) -> str:
    """``text`` with every inline register value rewritten from the register."""

    def sub(m: re.Match[str]) -> str:
        value = register_value_text(m.group("key"), m.group("index"), m.group("fmt"))
        marker = m.group(0).split("-->")[0] + "-->"
        return f"{marker}{value}<!-- /value -->"

    return VALUE_RE.sub(sub, text)


def load_record() -> dict[str, Any]:
    """``docs/generated.json`` (an empty record if it does not exist)."""
    if RECORD.is_file():
        record: dict[str, Any] = json.loads(RECORD.read_text(encoding="utf-8"))
        return record
    return {"recipes": {}}


def results(record: Mapping[str, Any], names: Sequence[str]) -> dict[str, Data]:
    """Results of ``names``: cheap recipes are computed, the others read from the record."""
    out = {}
    for name in names:
        recipe = RECIPES[name]
        if recipe.cheap:
            out[name] = _jsonable(recipe.compute(recipe.settings))
        else:
            out[name] = record["recipes"][name]["data"]
    return out


def pages_with_values() -> list[Path]:
    """The pages whose inline register values are checked and rewritten."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


# ============================================================================ main


def _comparable(text: str) -> str:
    """Block text for ``--check``: run times and line breaks do not count."""
    return " ".join(TIMING_RE.sub("in … s", text).split())


def _selected(only: Sequence[str]) -> list[str]:
    if not only:
        return list(RECIPES)
    blocks = {b.name: b for b in BLOCKS}
    names: set[str] = set()
    for item in only:
        if item in RECIPES:
            names.add(item)
        elif item in blocks:
            names.update(blocks[item].recipes)
        else:
            raise SystemExit(f"generate.py: unknown recipe or block '{item}'")
    return [n for n in RECIPES if n in names]


def _entry(recipe: Recipe, digest: str) -> dict[str, Any]:
    return {
        "what": recipe.what,
        "settings": recipe.settings,
        "fingerprint": fingerprint(recipe.settings, digest),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate (or with ``--check`` compare) the generated blocks; returns the exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="recipes or blocks")
    parser.add_argument("--list", action="store_true", help="list recipes and blocks")
    args = parser.parse_args(argv)
    if args.list:
        for r in RECIPES.values():
            used = ", ".join(b.name for b in BLOCKS if r.name in b.recipes)
            print(f"{r.name}: {r.what} {json.dumps(r.settings)}\n    blocks: {used}")
        return 0

    record = load_record()
    record.setdefault("recipes", {})
    for name in [n for n in record["recipes"] if n not in RECIPES]:  # a recipe removed or renamed
        del record["recipes"][name]
    digest = source_digest()
    names = _selected(args.only)
    computed: dict[str, Data] = {}
    stale = []
    for i, name in enumerate(names, 1):
        recipe = RECIPES[name]
        print(f"[{i}/{len(names)}] {name}: {recipe.what} ...", end="", flush=True)
        t0 = time.perf_counter()
        computed[name] = _jsonable(recipe.compute(recipe.settings))
        seconds = time.perf_counter() - t0
        print(f" {seconds:.1f} s", flush=True)
        record["recipes"][name] = _entry(recipe, digest)
        if not recipe.cheap:
            record["recipes"][name] |= {"seconds": round(seconds, 1), "data": computed[name]}
    for name, recipe in RECIPES.items():
        if name in computed:
            continue
        if recipe.cheap:
            computed[name] = _jsonable(recipe.compute(recipe.settings))
            record["recipes"][name] = _entry(recipe, digest)
            continue
        if "data" not in record["recipes"].get(name, {}):
            raise SystemExit(f"generate.py: no recorded results of '{name}'; run it")
        if record["recipes"][name]["fingerprint"] != fingerprint(recipe.settings, digest):
            stale.append(name)
        computed[name] = record["recipes"][name]["data"]
    if not args.check:  # saved first, so that a failing renderer does not lose the results
        RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", "utf-8")

    differences = []
    pages: dict[Path, str] = {}
    for block in BLOCKS:
        path = DOCS / block.page
        page = pages.setdefault(path, path.read_text(encoding="utf-8"))
        current = find_blocks(page)
        if block.name not in current:
            raise SystemExit(
                f"generate.py: docs/{block.page} has no block '{block.name}'; add the lines\n"
                f"{open_marker(block.name)}\n{close_marker(block.name)}\nwhere it belongs."
            )
        new = render_block(block, computed)
        if _comparable(new) != _comparable(current[block.name]):
            differences.append(f"docs/{block.page}: block {block.name}")
        pages[path] = replace_block(page, block.name, new)
    for path in pages_with_values():
        text = pages.get(path, path.read_text(encoding="utf-8"))
        rewritten = rewrite_inline_values(text)
        if rewritten != text:
            differences.append(f"{path.relative_to(ROOT)}: inline register values")
        pages[path] = rewritten

    if args.check:
        for line in differences:
            print(f"differs: {line}")
        for name in stale:
            print(f"stale, not re-run: {name}")
        _print_warnings()
        if not differences and not stale:
            print("every generated block and inline value is current")
        return 1 if differences or stale else 0

    for path, text in pages.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    print(f"wrote {RECORD.relative_to(ROOT)}")
    for name in stale:
        print(f"warning: the recorded results of '{name}' are stale; re-run it")
    _print_warnings()
    return 0


def _print_warnings() -> None:
    for warning in WARNINGS:
        print(f"warning: check the prose around block {warning}")


if __name__ == "__main__":
    sys.exit(main())
