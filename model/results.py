"""Run folders: writing them atomically and reading them back safely.

A run writes one folder::

    manifest.json          resolved scenario, seed, replications, population, years, ...
    person_years.parquet   replication, year, strata, qof_ltc_band, person_years, deaths
    activity.parquet       replication, year, setting, service, role, mode, payer, strata,
                           count, cost_gbp
    waits.parquet          replication, year, service, served, mean/p90 wait, backlog
    capacity.parquet       replication, year, service, capacity offered/used, utilisation
    bridges_to_health.parquet  replication, year, segment, person_years, service, count,
                           cost_gbp (activity by Bridges to Health segment)

With ``[run] year_starts = "april"`` (NHS financial years) every table also has
``financial_year`` ("2024/25") right after ``year`` (``model.years``).

The folder is assembled under a temporary name beside the target and renamed into place
only when every file is written, so an interrupted run never leaves a folder that looks
complete. ``read_results`` refuses a folder whose manifest or tables are missing or corrupt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from model.errors import ResultsError
from model.outputs import MANIFEST, TOOL, Staging

TABLES = (
    "person_years",
    "activity",
    "waits",
    "capacity",
    "wait_distribution",
    "practice_gp",
    "bridges_to_health",
)
#: 3: ltc_band counts the broad list; person_years has qof_ltc_band; bridges_to_health added;
#: activity has cashable_gbp and payer "person" rows (client contributions); deliveries are
#: recorded for the mothers. 4: ``[run] year_starts``; with "april" (NHS financial years)
#: every table has ``financial_year`` ("2024/25") after ``year``; the manifest records it
SCHEMA_VERSION = 4


def write_tables(
    stage: Staging, manifest: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]
) -> Path:
    """Write a run's tables into a staging folder and commit it (manifest last)."""
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise ResultsError(f"cannot write results: tables {', '.join(missing)} are missing.")
    rows = {}
    for name, table in tables.items():
        table.to_parquet(stage.path / f"{name}.parquet", index=False)
        rows[name] = len(table)
    return stage.commit({**manifest, "tables": rows}, SCHEMA_VERSION)


def write_results(
    out: Path | str,
    manifest: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    overwrite: bool = False,
) -> Path:
    """Write a run folder atomically; refuse to replace an existing folder unless told to.

    ``overwrite`` replaces only a folder that carescale wrote (see ``model.outputs``).
    """
    with Staging(Path(out), "run", overwrite) as stage:
        return write_tables(stage, manifest, tables)


def read_manifest(folder: Path | str) -> dict[str, Any]:
    """The manifest of a complete run folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"results folder '{folder}' does not exist.")
    path = folder / MANIFEST
    if not path.is_file():
        raise ResultsError(
            f"results folder '{folder}' has no {MANIFEST}; it is not a complete carescale run."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResultsError(f"{path} is not valid JSON; the results folder is corrupt.") from None
    if not isinstance(manifest, dict) or manifest.get("tool") != TOOL:
        raise ResultsError(f"{path} was not written by carescale; it is not a results folder.")
    if manifest.get("complete") is not True:
        raise ResultsError(f"{path} does not mark the run as complete; the folder is corrupt.")
    return manifest


def read_results(folder: Path | str) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Manifest and tables of a run folder, checked for completeness."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        if not path.is_file():
            raise ResultsError(f"results folder '{folder}' is missing {name}.parquet.")
        try:
            tables[name] = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise ResultsError(
                f"{path} cannot be read ({type(exc).__name__}); the file is corrupt."
            ) from None
        expected = manifest.get("tables", {}).get(name)
        if expected is not None and expected != len(tables[name]):
            raise ResultsError(
                f"{path} has {len(tables[name])} rows but the manifest records {expected}; "
                "the folder is corrupt."
            )
    return manifest, tables
