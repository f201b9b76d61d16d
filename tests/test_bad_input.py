"""Every bad input, for every command, is refused in one safe line and touches nothing on disk.

One table (``CASES``) lists a command line, the files it needs and the words its error line
must hold (the file, the key, the value and what is allowed). Each case runs in a fresh folder
holding a copy of ``scenarios/``, a user's files (one hidden) and a home folder beside it, and
asserts:

* exit code 2 (``carescale check``: non-zero, and a problem line naming the file);
* the last line on stderr starts with ``carescale: error: ``, has at most 300 characters,
  no raw control characters and every required fragment;
* no traceback, and no run header (the checks come before any work);
* nothing written, changed or deleted under the test folder (a snapshot before and after);
* no simulation, population synthesis or calibration was started (they are replaced by a
  guard that records the call), so the whole module runs in seconds.

Later issues extend ``CASES``. A fragment that is a tuple is satisfied by any one of its
alternatives (e.g. ``("directory", "folder")`` or the ways of printing a number).
"""

from __future__ import annotations

import importlib
import json
import os
import pty
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import (
    assert_check_refusal,
    assert_no_traceback,
    assert_refusal,
    assert_same_tree,
    last_error_line,
    snapshot_tree,
    toml_string,
)

from model.cli import main

REPO = Path(__file__).resolve().parents[1]

Fragment = str | tuple[str, ...]

#: what says "it is a folder"
FOLDER = ("directory", "folder")
#: a user's files present in every case's working folder
USER_FILES: Mapping[str, str] = {
    "notes.txt": "my own notes; carescale must never touch them\n",
    ".user-config": "colour = true\n",
    "reports/summary.md": "# my report\n",
}
#: a user's files in the home folder (a sibling of the working folder)
HOME_FILES: Mapping[str, str] = {"todo.txt": "buy milk\n", ".profile": "export X=1\n"}


def derived(name: str = "variant", body: str = "") -> str:
    """A scenario in ``scenarios/`` that extends the baseline and adds ``body``."""
    return f'[scenario]\nname = {toml_string(name)}\nextends = "baseline.toml"\n\n{body}\n'


def override(key: str, value: str) -> str:
    """A scenario overriding one register entry in ``[parameters]`` by its full key."""
    return derived("variant", f'[parameters]\n"{key}" = {value}\n')


def owned_manifest(files: list[str]) -> str:
    """A carescale manifest listing ``files``."""
    manifest = {
        "tool": "carescale",
        "kind": "run",
        "schema_version": 1,
        "complete": True,
        "files": files,
    }
    return json.dumps(manifest, indent=2)


HUGE_LIST = "[" + ", ".join(["1.0"] * 200_000) + "]"
NOT_UTF8 = b'[scenario]\nname = "caf\xe9"\nextends = "baseline.toml"\n'


@dataclass(frozen=True)
class Case:
    """One bad command line and what its refusal must say."""

    id: str
    #: the command line; ``{home}`` and ``{root}`` stand for the home and the test folder
    argv: tuple[str, ...]
    #: fragments the error line must hold (after the 'carescale: error: ' prefix)
    must: tuple[Fragment, ...] = ()
    #: files to create, relative to the working folder (str is written as UTF-8)
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    #: empty folders to create
    dirs: tuple[str, ...] = ()
    #: folders made read-only for the case (skipped as root, who can write anyway)
    read_only: tuple[str, ...] = ()
    #: the refusal must come within this many seconds
    max_seconds: float | None = None
    #: text the error line must not hold (e.g. a value longer than 80 characters, uncut)
    must_not: tuple[str, ...] = ()

    @property
    def is_check(self) -> bool:
        return self.argv[0] == "check"


def case(
    id: str,
    *argv: str,
    must: tuple[Fragment, ...] = (),
    files: Mapping[str, str | bytes] | None = None,
    dirs: tuple[str, ...] = (),
    read_only: tuple[str, ...] = (),
    max_seconds: float | None = None,
    must_not: tuple[str, ...] = (),
) -> Case:
    return Case(id, tuple(argv), must, dict(files or {}), dirs, read_only, max_seconds, must_not)


BASE = "scenarios/baseline.toml"
RUN = ("run", BASE)
COMPARE = ("compare", BASE)
#: a valid scenario to compare with the baseline
VARIANT = "scenarios/variant.toml"
NAMED = "scenarios/named.toml"


VARIANT_FILE: Mapping[str, str] = {VARIANT: derived("variant")}


def named(id: str, name: str, *must: Fragment, must_not: tuple[str, ...] = ()) -> Case:
    """``run`` of a scenario whose name would make an unsafe default results folder."""
    return case(
        f"run-name-{id}",
        "run",
        NAMED,
        "--no-progress",
        must=("named.toml", "name", "allow", *must),
        files={NAMED: derived(name)},
        must_not=must_not,
    )


def bad_value(id: str, key: str, value: str, *must: Fragment, capacity: bool = False) -> Case:
    """``run`` of a scenario with one out-of-range register value."""
    file = f"scenarios/{id}.toml"
    if capacity:
        group, name = key.removeprefix("capacity.").split(".", 1)
        text = derived("variant", f"[capacity.{group}]\n{name} = {value}\n")
    else:
        text = override(key, value)
    return case(
        f"run-{id}",
        "run",
        file,
        "--no-progress",
        must=(f"{id}.toml", key, *must),
        files={file: text},
    )


CASES: list[Case] = [
    # ------------------------------------------------ run: --overwrite never deletes a user's files
    case(
        "run-overwrite-default-folder-of-user-files",
        *RUN,
        "--overwrite",
        must=("results/baseline", ("manifest", "did not write", "not a carescale")),
        files={"results/baseline/my-analysis.xlsx": "user data"},
    ),
    case(
        "run-overwrite-out-folder-of-user-files",
        *RUN,
        "--out",
        "mine",
        "--overwrite",
        must=("mine", ("manifest", "did not write", "not a carescale")),
        files={"mine/thesis.docx": "three years of work"},
    ),
    case(
        "run-overwrite-folder-of-another-tool",
        *RUN,
        "--overwrite",
        must=("results/baseline", ("manifest", "did not write", "not a carescale")),
        files={
            "results/baseline/manifest.json": json.dumps({"tool": "othertool", "files": []}),
            "results/baseline/data.csv": "a,b\n1,2\n",
        },
    ),
    case(
        "run-overwrite-carescale-folder-with-an-unlisted-file",
        *RUN,
        "--overwrite",
        must=("results/baseline", "my-notes.txt"),
        files={
            "results/baseline/manifest.json": owned_manifest(["activity.parquet"]),
            "results/baseline/activity.parquet": "not really parquet",
            "results/baseline/my-notes.txt": "added by the user later",
        },
    ),
    case(
        "run-overwrite-out-is-a-file",
        *RUN,
        "--out",
        "notes.txt",
        "--overwrite",
        must=("notes.txt", "file"),
    ),
    case(
        "run-overwrite-current-folder",
        *RUN,
        "--out",
        ".",
        "--overwrite",
        must=("current",),
    ),
    case(
        "run-overwrite-parent-folder",
        *RUN,
        "--out",
        "..",
        "--overwrite",
        must=("..", ("current", "parent", "contains")),
    ),
    case(
        "run-overwrite-home-folder",
        *RUN,
        "--out",
        "{home}",
        "--overwrite",
        must=("home",),
    ),
    case(
        "run-existing-folder-without-overwrite",
        *RUN,
        must=("results/baseline", "--overwrite"),
        files={"results/baseline/my-analysis.xlsx": "user data"},
    ),
    # ------------------------------------------------ run: where results go
    case("run-out-parent-missing", *RUN, "--out", "nowhere/run", must=("nowhere", "exist")),
    case("run-out-parent-is-a-file", *RUN, "--out", "notes.txt/run", must=("notes.txt", "file")),
    case(
        "run-out-parent-read-only",
        *RUN,
        "--out",
        "locked/run",
        must=("locked", ("writable", "writeable", "permission", "read-only")),
        dirs=("locked",),
        read_only=("locked",),
    ),
    # ------------------------------------------------ run: the scenario name is a folder name
    named("dotdot-path", "../../x", "../../x"),
    named("absolute", "/abs/x", "/abs/x"),
    named("dot", "."),
    named("dotdot", "..", ".."),
    named("nested", "a/b/c", "a/b/c"),
    named("backslash", "a\\b", "a\\"),
    named("newline", "line1\nline2", "line1", "line2"),
    named("escape-code", "\x1b[31mred", "[31mred"),
    named("empty", ""),
    named("too-long", "x" * 101, "100", "…", must_not=("x" * 81,)),
    # ------------------------------------------------ run: options
    case("run-workers-0", *RUN, "--workers", "0", must=("workers", "0")),
    case("run-workers-negative", *RUN, "--workers", "-1", must=("workers", "-1")),
    case("run-workers-1000", *RUN, "--workers", "1000", must=("workers", ("1000", "1,000"))),
    case("run-population-0", *RUN, "--population", "0", must=("population", "0")),
    case(
        "run-population-huge",
        *RUN,
        "--population",
        "99999999999",
        must=("population", ("99999999999", "99,999,999,999")),
    ),
    case("run-population-not-a-number", *RUN, "--population", "lots", must=("population", "lots")),
    case("run-years-0", *RUN, "--years", "0", must=("years", "0")),
    case("run-years-1000", *RUN, "--years", "1000", must=("years", ("1000", "1,000"))),
    case("run-replications-0", *RUN, "--replications", "0", must=("replications", "0")),
    case("run-seed-negative", *RUN, "--seed", "-1", must=("seed", "-1")),
    case("run-format-xml", *RUN, "--format", "xml", must=("xml", "markdown")),
    # ------------------------------------------------ run: scenario files
    case("run-scenario-missing", "run", "nothere.toml", must=("nothere.toml", "exist")),
    case("run-scenario-is-a-directory", "run", "scenarios", must=("scenarios", FOLDER)),
    case(
        "run-scenario-not-toml",
        "run",
        "scenarios/broken.toml",
        must=("broken.toml", "TOML"),
        files={"scenarios/broken.toml": "[scenario\nname = 'x'\n"},
    ),
    case(
        "run-scenario-not-utf8",
        "run",
        "scenarios/latin1.toml",
        must=("latin1.toml", "UTF-8"),
        files={"scenarios/latin1.toml": NOT_UTF8},
    ),
    case(
        "run-unknown-section",
        "run",
        "scenarios/section.toml",
        must=("section.toml", "scenery", "allowed"),
        files={"scenarios/section.toml": derived("variant", "[scenery]\nview = 1\n")},
    ),
    case(
        "run-unknown-key",
        "run",
        "scenarios/typo.toml",
        must=("typo.toml", "populaton"),
        files={"scenarios/typo.toml": derived("variant", "[run]\npopulaton = 5000\n")},
    ),
    case(
        "run-wrong-type",
        "run",
        "scenarios/typed.toml",
        must=("typed.toml", "years", "five"),
        files={"scenarios/typed.toml": derived("variant", '[run]\nyears = "five"\n')},
    ),
    case(
        "run-represents-negative",
        "run",
        "scenarios/place.toml",
        must=("place.toml", "represents", "-10", "out of range"),
        files={"scenarios/place.toml": derived("variant", "[run]\nrepresents = -10\n")},
    ),
    case(
        "run-year-starts-march",
        "run",
        "scenarios/fy.toml",
        must=("fy.toml", "year_starts", "march", "january", "april"),
        files={"scenarios/fy.toml": derived("variant", '[run]\nyear_starts = "march"\n')},
    ),
    case(
        "run-unknown-parameter",
        "run",
        "scenarios/param.toml",
        must=("param.toml", "gp.dna_rat"),
        files={"scenarios/param.toml": override("gp.dna_rat", "0.05")},
    ),
    case(
        "run-extends-missing",
        "run",
        "scenarios/orphan.toml",
        must=("orphan.toml", "extends", "nothere.toml"),
        files={"scenarios/orphan.toml": '[scenario]\nname = "orphan"\nextends = "nothere.toml"\n'},
    ),
    case(
        "run-extends-cycle",
        "run",
        "scenarios/ping.toml",
        must=("cycle", "ping.toml", "pong.toml"),
        files={
            "scenarios/ping.toml": '[scenario]\nname = "ping"\nextends = "pong.toml"\n',
            "scenarios/pong.toml": '[scenario]\nname = "pong"\nextends = "ping.toml"\n',
        },
    ),
    case(
        "run-list-of-200000-values",
        "run",
        "scenarios/long.toml",
        must=("long.toml", "demand.gp.pam_rr"),
        files={"scenarios/long.toml": override("demand.gp.pam_rr", HUGE_LIST)},
    ),
    bad_value("negative-patience", "gp.prebook_tolerance_days", "-5.0", "-5"),
    bad_value("negative-unit-cost", "costs.ae_attendance", "-273.0", "-273"),
    bad_value("negative-demand-scale", "demand.gp.scale", "-1.5", "-1.5"),
    bad_value("gamma-shape-0", "demand.ae.overdispersion_shape", "0.0", "0"),
    bad_value("frailty-loading-2", "ltc.diabetes.frailty_loading", "2.0", "2"),
    bad_value(
        "ae-scale-1e9",
        "demand.ae.scale",
        "1e9",
        ("1e+09", "1e9", "1000000000", "1,000,000,000", "1e+9", "1.0e+09"),
    ),
    bad_value("probability-1.3", "gp.dna_rate", "1.3", "1.3"),
    bad_value(
        "negative-capacity",
        "capacity.gp.gp_minutes_per_1000_per_working_day",
        "-1.0",
        "-1",
        capacity=True,
    ),
    # ------------------------------------------------ compare
    case(
        "compare-two-scenarios-with-one-name",
        *COMPARE,
        "scenarios/a.toml",
        "scenarios/b.toml",
        must=("b.toml", "'variant'", "own name"),
        files={"scenarios/a.toml": derived("variant"), "scenarios/b.toml": derived("variant")},
    ),
    case(
        "compare-scenario-named-like-the-baseline",
        *COMPARE,
        "scenarios/copy.toml",
        must=("copy.toml", "'baseline'", "own name"),
        files={"scenarios/copy.toml": derived("baseline")},
    ),
    case(
        "compare-scenario-with-other-run-settings",
        *COMPARE,
        "scenarios/runs.toml",
        must=("runs.toml", "run.replications", "3", "baseline"),
        files={"scenarios/runs.toml": derived("variant", "[run]\nreplications = 3\n")},
    ),
    case(
        "compare-scenario-with-other-discount-rate",
        *COMPARE,
        "scenarios/rate.toml",
        must=("rate.toml", "business_case.discount_rate", "0.05", "baseline"),
        files={"scenarios/rate.toml": override("business_case.discount_rate", "0.05")},
    ),
    case(
        "compare-scenario-bad-value",
        *COMPARE,
        "scenarios/dna.toml",
        must=("dna.toml", "gp.dna_rate", "1.3"),
        files={"scenarios/dna.toml": override("gp.dna_rate", "1.3")},
    ),
    case(
        "compare-scenario-missing",
        *COMPARE,
        "nothere.toml",
        must=("nothere.toml", "exist"),
    ),
    case("compare-no-scenario", *COMPARE, must=("SCENARIO", "required")),
    case(
        "compare-evidence-unknown",
        *COMPARE,
        VARIANT,
        "--evidence",
        "optimistic",
        must=("--evidence", "optimistic", "before_after", "controlled", "both"),
        files=VARIANT_FILE,
    ),
    case(
        "compare-replications-0",
        *COMPARE,
        VARIANT,
        "--replications",
        "0",
        must=("replications", "0"),
        files=VARIANT_FILE,
    ),
    case(
        "compare-workers-0",
        *COMPARE,
        VARIANT,
        "--workers",
        "0",
        must=("workers", "0"),
        files=VARIANT_FILE,
    ),
    case(
        "compare-existing-folder-without-overwrite",
        *COMPARE,
        VARIANT,
        must=("results/compare_baseline_vs_variant", "--overwrite"),
        files={**VARIANT_FILE, "results/compare_baseline_vs_variant/mine.xlsx": "user data"},
    ),
    case(
        "compare-overwrite-folder-of-user-files",
        *COMPARE,
        VARIANT,
        "--out",
        "mine",
        "--overwrite",
        must=("mine", ("manifest", "did not write", "not a carescale")),
        files={**VARIANT_FILE, "mine/thesis.docx": "three years of work"},
    ),
    case(
        "compare-out-parent-missing",
        *COMPARE,
        VARIANT,
        "--out",
        "nowhere/cmp",
        must=("nowhere", "exist"),
        files=VARIANT_FILE,
    ),
    # ------------------------------------------------ check
    case("check-missing", "check", "nothere.toml", must=("exist",)),
    case("check-directory", "check", "scenarios", must=(FOLDER,)),
    case(
        "check-unsafe-name",
        "check",
        NAMED,
        must=("name", "../../x"),
        files={NAMED: derived("../../x")},
    ),
    case(
        "check-escape-code-in-name",
        "check",
        NAMED,
        must=("name", "[31mred"),
        files={NAMED: derived("\x1b[31mred")},
    ),
    case(
        "check-extends-cycle",
        "check",
        "scenarios/ping.toml",
        must=("cycle", "pong.toml"),
        files={
            "scenarios/ping.toml": '[scenario]\nname = "ping"\nextends = "pong.toml"\n',
            "scenarios/pong.toml": '[scenario]\nname = "pong"\nextends = "ping.toml"\n',
        },
    ),
    case(
        "check-one-bad-file-of-two",
        "check",
        BASE,
        "scenarios/dna.toml",
        must=("gp.dna_rate", "1.3"),
        files={"scenarios/dna.toml": override("gp.dna_rate", "1.3")},
    ),
    case(
        "check-list-of-200000-values",
        "check",
        "scenarios/long.toml",
        must=("demand.gp.pam_rr",),
        files={"scenarios/long.toml": override("demand.gp.pam_rr", HUGE_LIST)},
    ),
    case(
        "check-not-utf8",
        "check",
        "scenarios/latin1.toml",
        must=("UTF-8",),
        files={"scenarios/latin1.toml": NOT_UTF8},
    ),
    # ------------------------------------------------ validate population
    case(
        "validate-population-out-is-a-folder",
        "validate",
        "population",
        "--out",
        "reports",
        must=("reports", FOLDER),
    ),
    case(
        "validate-population-out-in-missing-folder",
        "validate",
        "population",
        "--out",
        "nowhere/checks.csv",
        must=("nowhere", "exist"),
    ),
    case(
        "validate-population-size-0",
        "validate",
        "population",
        "--size",
        "0",
        must=("size", "0"),
    ),
    case(
        "validate-population-seed-negative",
        "validate",
        "population",
        "--seed",
        "-1",
        must=("seed", "-1"),
    ),
    case(
        "validate-population-base-year-1900",
        "validate",
        "population",
        "--base-year",
        "1900",
        must=("1900", "2023"),
    ),
    case(
        "validate-population-format-xml",
        "validate",
        "population",
        "--format",
        "xml",
        must=("xml", "markdown"),
    ),
    # ------------------------------------------------ validate baseline
    case(
        "validate-baseline-out-is-a-folder",
        "validate",
        "baseline",
        "--out",
        "reports",
        "--no-progress",
        must=("reports", FOLDER),
    ),
    case(
        "validate-baseline-out-in-missing-folder",
        "validate",
        "baseline",
        "--out",
        "nowhere/checks.csv",
        "--no-progress",
        must=("nowhere", "exist"),
    ),
    case(
        "validate-baseline-scenario-missing",
        "validate",
        "baseline",
        "--scenario",
        "nothere.toml",
        "--no-progress",
        must=("nothere.toml", "exist"),
    ),
    case(
        "validate-baseline-scenario-bad-value",
        "validate",
        "baseline",
        "--scenario",
        "scenarios/dna.toml",
        "--no-progress",
        must=("dna.toml", "gp.dna_rate", "1.3"),
        files={"scenarios/dna.toml": override("gp.dna_rate", "1.3")},
    ),
    case(
        "validate-baseline-population-0",
        "validate",
        "baseline",
        "--population",
        "0",
        "--no-progress",
        must=("population", "0"),
    ),
    case(
        "validate-baseline-years-0",
        "validate",
        "baseline",
        "--years",
        "0",
        "--no-progress",
        must=("years", "0"),
    ),
    case(
        "validate-baseline-replications-0",
        "validate",
        "baseline",
        "--replications",
        "0",
        "--no-progress",
        must=("--replications", "'0'", "allowed 1 to 100"),
    ),
    case(
        "validate-baseline-replications-1000",
        "validate",
        "baseline",
        "--replications",
        "1000",
        "--no-progress",
        must=("--replications", "'1000'", "allowed 1 to 100"),
    ),
    case(
        "validate-baseline-replications-not-a-number",
        "validate",
        "baseline",
        "--replications",
        "5.5",
        "--no-progress",
        must=("--replications", "'5.5'", "whole number"),
    ),
    case(
        "validate-baseline-replications-with-bad-out",
        "validate",
        "baseline",
        "--replications",
        "3",
        "--out",
        "reports",
        "--no-progress",
        must=("reports", FOLDER),
    ),
    # ------------------------------------------------ calibrate baseline
    case(
        "calibrate-write-scenario-missing",
        "calibrate",
        "baseline",
        "--write",
        "--scenario",
        "missing.toml",
        must=("missing.toml", "exist"),
        max_seconds=5.0,
    ),
    case(
        "calibrate-write-scenario-is-a-directory",
        "calibrate",
        "baseline",
        "--write",
        "--scenario",
        "scenarios",
        must=("scenarios", FOLDER),
        max_seconds=5.0,
    ),
    case("calibrate-size-0", "calibrate", "baseline", "--size", "0", must=("size", "0")),
    case(
        "calibrate-engine-size-0",
        "calibrate",
        "baseline",
        "--engine-size",
        "0",
        must=("engine", "0"),
    ),
    case("calibrate-seed-negative", "calibrate", "baseline", "--seed", "-1", must=("seed", "-1")),
    # ------------------------------------------------ parameters
    case(
        "parameters-unknown-group",
        "parameters",
        "--group",
        "nosuchgroup",
        must=("nosuchgroup", "activation"),
    ),
    case(
        "parameters-files-missing",
        "parameters",
        "--files",
        "missing.toml",
        must=("missing.toml", "exist"),
    ),
    case(
        "parameters-files-not-a-register",
        "parameters",
        "--files",
        "notes.txt",
        must=("notes.txt",),
    ),
    case(
        "parameters-width-0",
        "parameters",
        "--width",
        "0",
        must=("width", "0", ("allowed", "at least", "must", "between", "positive")),
    ),
    case(
        "parameters-markdown-is-a-folder",
        "parameters",
        "--markdown",
        "reports",
        must=("reports", FOLDER),
    ),
    case(
        "parameters-markdown-in-missing-folder",
        "parameters",
        "--markdown",
        "nowhere/parameters.md",
        must=("nowhere", "exist"),
    ),
]


def lever(id: str, body: str, *must: Fragment) -> Case:
    """``run`` of a scenario with a bad ``[levers]`` block."""
    file = f"scenarios/{id}.toml"
    return case(
        f"run-lever-{id}",
        "run",
        file,
        "--no-progress",
        must=(f"{id}.toml", *must),
        files={file: derived("variant", body)},
    )


CASES += [
    lever("unknown-lever", "[levers.link_wokers]\nfte = 3\n", "link_wokers", "link_workers"),
    lever("unknown-key", "[levers.link_workers]\nftee = 3\n", "levers.link_workers.ftee", "fte"),
    lever(
        "negative-fte", "[levers.link_workers]\nfte = -3\n", "levers.link_workers.fte", "-3", "0 to"
    ),
    lever("uptake-1.3", "[levers.phb]\nuptake = 1.3\n", "levers.phb.uptake", "1.3", "0 to 1"),
    lever(
        "start-outside",
        "[levers.link_workers]\nstart_year = 2040\n",
        "levers.link_workers.start_year",
        "2040",
        "2024 to 2028",
    ),
    lever(
        "evidence-mode",
        '[levers]\nevidence = "anecdote"\n[levers.phb]\n',
        "evidence",
        "anecdote",
        "before_after",
    ),
    lever(
        "offer-unknown",
        '[levers.tailored_access]\noffer.vulnerable_concerned = "chatbot"\n',
        "offer.vulnerable_concerned",
        "chatbot",
        "named_contact",
    ),
    lever(
        "target-key",
        '[levers.phb]\ntarget.segmnets = ["vulnerable_concerned"]\n',
        "target.segmnets",
        "segments",
    ),
    lever(
        "coaching-key",
        "[levers.health_coaching]\ncaseload_per_fte = 100\n",
        "levers.health_coaching.caseload_per_fte",
        "caseload_per_fte_year",
    ),
    lever(
        "coordination-key",
        "[levers.care_coordination]\ncaseload_per_fte_year = 100\n",
        "levers.care_coordination.caseload_per_fte_year",
        "caseload_per_fte",
    ),
    lever(
        "coaching-share",
        "[levers.health_coaching]\neffect_scale = -1\n",
        "levers.health_coaching.effect_scale",
        "-1",
        "0 to 10",
    ),
]

CASES += [
    case(
        "evaluate-lever-not-in-scenario",
        "evaluate",
        "scenarios/link_workers.toml",
        "--lever",
        "care_coordination",
        must=("link_workers.toml", "care_coordination", "link_workers"),
    ),
    case(
        "evaluate-lever-cannot-enrol",
        "evaluate",
        "scenarios/link_workers.toml",
        "--lever",
        "link_workers",
        must=("link_workers", "health_coaching"),
    ),
    case("evaluate-top-0", "evaluate", BASE, "--lever", "x", "--top", "0", must=("--top", "'0'")),
    case(
        "evaluate-service",
        "evaluate",
        BASE,
        "--lever",
        "x",
        "--service",
        "bed_day",
        must=("--service", "bed_day", "gp_appointment"),
    ),
]

# ----------------------------------------------------------------------------- workshop
CASES += [
    case("workshop-port-low", "workshop", "--port", "80", must=("--port", "'80'", "1024")),
    case("workshop-port-text", "workshop", "--port", "eight", must=("--port", "'eight'")),
    case(
        "workshop-population-small",
        "workshop",
        "--population",
        "10",
        must=("--population", "'10'", "500"),
    ),
    case(
        "workshop-notebook-missing",
        "workshop",
        "--notebook",
        "workshop.ipynb",
        must=("--notebook", "workshop.ipynb", ".ipynb"),
    ),
    case(
        "workshop-notebook-not-a-notebook",
        "workshop",
        "--notebook",
        "notes.txt",
        must=("--notebook", "notes.txt", ".ipynb"),
    ),
]


def report_manifest(kind: str) -> str:
    """A complete carescale manifest of ``kind`` listing no files."""
    return json.dumps(
        {"tool": "carescale", "kind": kind, "schema_version": 1, "complete": True, "files": []}
    )


CASES += [
    case(
        "report-foreign-folder",
        "report",
        "mine",
        must=("mine", "not a carescale run or compare folder"),
        files={"mine/thesis.docx": "three years of work"},
    ),
    case("report-missing-folder", "report", "nowhere", must=("nowhere", "not a folder")),
    case(
        "report-a-report-folder",
        "report",
        "res/report",
        must=("res/report", "report", "not a run or compare folder"),
        files={
            "res/manifest.json": report_manifest("run"),
            "res/report/manifest.json": report_manifest("report"),
        },
    ),
    case(
        "report-format",
        "report",
        "res",
        "--format",
        "html,pdf",
        must=("--format", "html,pdf", "html, md, xlsx"),
        files={"res/manifest.json": report_manifest("run")},
    ),
    case(
        "report-second-without-overwrite",
        "report",
        "res",
        must=("res/report", "already exists", "--overwrite"),
        files={
            "res/manifest.json": report_manifest("run"),
            "res/report/manifest.json": report_manifest("report"),
        },
    ),
    case(
        "report-overwrite-user-folder",
        "report",
        "res",
        "--out",
        "reports",
        "--overwrite",
        must=("reports", ("manifest", "did not write", "not a carescale")),
        files={"res/manifest.json": report_manifest("run")},
    ),
    case(
        "report-overwrite-a-run-folder",
        "report",
        "res",
        "--out",
        "other",
        "--overwrite",
        must=("other", "only an earlier report"),
        files={
            "res/manifest.json": report_manifest("run"),
            "other/manifest.json": report_manifest("run"),
        },
    ),
    case(
        "report-out-is-the-results",
        "report",
        "res",
        "--out",
        "res",
        "--overwrite",
        must=("res", "never replaces its results"),
        files={"res/manifest.json": report_manifest("run")},
    ),
]


# ----------------------------------------------------------------------------- the set-up


class WorkStarted(BaseException):
    """Raised by the guards: a command began real work before refusing its input.

    A ``BaseException`` so that no ``except Exception`` in the command can swallow it.
    """


#: what counts as work: simulation, population synthesis and calibration
WORK = (
    ("model.engine", "run_one"),
    ("model.engine", "Engine.run"),
    ("model.population", "synthesise"),
    ("model.calibration", "calibrate_baseline"),
    ("model.workshop_app", "serve_command"),
)


@pytest.fixture
def work_guard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every kind of work with a guard; returns the names of the ones called."""
    called: list[str] = []
    # import every module that binds these functions by name *before* patching, so that no
    # module first imported inside a guarded test keeps a guard after the test
    for module_name in ("model.experiments", "model.calibration", "model.validation"):
        importlib.import_module(module_name)

    def guard(name: str) -> Callable[..., object]:
        def refuse(*args: object, **kwargs: object) -> object:
            called.append(name)
            raise WorkStarted(f"{name} was called before the input was refused")

        return refuse

    for module_name, attr in WORK:
        try:
            owner: object = importlib.import_module(module_name)
        except ImportError:
            continue
        *outer, last = attr.split(".")
        for part in outer:
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(owner, last):
            monkeypatch.setattr(owner, last, guard(f"{module_name}.{attr}"))
    return called


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(root, work): ``work`` is the current folder (scenarios and a user's files) and
    ``root/home`` the home folder; ``root`` is what the snapshot covers."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    shutil.copytree(REPO / "scenarios", work / "scenarios")
    for rel, text in USER_FILES.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text, encoding="utf-8")
    for rel, text in HOME_FILES.items():
        (home / rel).write_text(text, encoding="utf-8")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    return tmp_path, work


def _prepare(c: Case, work: Path) -> None:
    for rel, content in c.files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for rel in c.dirs:
        (work / rel).mkdir(parents=True, exist_ok=True)


# ----------------------------------------------------------------------------- the tests


def test_the_table_is_large_and_covers_every_command() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 40
    commands = {
        c.argv[0] if c.argv[0] not in ("validate", "calibrate") else c.argv[:2] for c in CASES
    }
    assert commands >= {
        "run",
        "compare",
        "evaluate",
        "check",
        "parameters",
        "workshop",
        ("validate", "population"),
        ("validate", "baseline"),
        ("calibrate", "baseline"),
    }


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line_and_touches_nothing(
    c: Case,
    folders: tuple[Path, Path],
    work_guard: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, work = folders
    if c.read_only and os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    _prepare(c, work)
    for rel in c.read_only:
        (work / rel).chmod(0o555)
    try:
        argv = [a.format(home=root / "home", root=root) for a in c.argv]
        before = snapshot_tree(root)
        t0 = time.perf_counter()
        try:
            code = main(argv)
        except WorkStarted as exc:
            captured = capsys.readouterr()
            pytest.fail(
                f"{exc}; stdout={captured.out[-300:]!r} stderr={captured.err[-300:]!r}",
                pytrace=False,
            )
        seconds = time.perf_counter() - t0
        captured = capsys.readouterr()
        if c.is_check:
            files = [a for a in c.argv[1:] if not a.startswith("-") and a != BASE]
            assert_check_refusal(code, captured.out, captured.err, Path(files[-1]).name, *c.must)
        else:
            assert_refusal(code, captured.out, captured.err, *c.must)
        for text in c.must_not:
            assert text not in last_error_line(captured.err), f"{text[:20]!r}... was echoed"
        assert not work_guard, f"work started before the refusal: {work_guard}"
        if c.max_seconds is not None:
            assert seconds < c.max_seconds, f"refused after {seconds:.1f} s"
        assert_same_tree(before, root)
    finally:
        for rel in c.read_only:
            (work / rel).chmod(0o755)


def test_a_byte_order_mark_is_accepted(
    folders: tuple[Path, Path], work_guard: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows editors save UTF-8 with a BOM; a valid scenario with one is valid."""
    root, work = folders
    (work / "scenarios" / "bom.toml").write_text("\ufeff" + derived("with-bom"), encoding="utf-8")
    before = snapshot_tree(root)
    code = main(["check", "scenarios/bom.toml"])
    captured = capsys.readouterr()
    assert_no_traceback(captured.out, captured.err)
    assert code == 0, captured.out + captured.err
    assert not work_guard
    assert_same_tree(before, root)


def test_check_accepts_the_shipped_baseline(
    folders: tuple[Path, Path], work_guard: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _work = folders
    before = snapshot_tree(root)
    code = main(["check", BASE])
    captured = capsys.readouterr()
    assert_no_traceback(captured.out, captured.err)
    assert code == 0, captured.out + captured.err
    assert "baseline.toml" in captured.out + captured.err
    assert not work_guard
    assert_same_tree(before, root)


def test_no_traceback_reaches_a_real_terminal(folders: tuple[Path, Path]) -> None:
    """One case through a real process whose stdout and stderr are a terminal (a pty)."""
    root, work = folders
    before = snapshot_tree(root)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "model", "parameters", "--markdown", "reports"],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        os.close(secondary)
        secondary = -1
        chunks = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=60)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert_no_traceback(text, "")
    assert code == 2, text
    line = last_error_line(text)
    assert line.startswith("carescale: error: ") and "reports" in line, text
    assert_same_tree(before, root)
