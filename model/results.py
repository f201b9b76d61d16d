"""Run folders: writing them atomically and reading them back safely.

A run writes one folder::

    manifest.json          resolved scenario, seed, replications, population, years, ...
    person_years.parquet   replication, year, strata, person_years, deaths
    activity.parquet       replication, year, setting, service, role, mode, payer, strata,
                           count, cost_gbp
    waits.parquet          replication, year, service, served, mean/p90 wait, backlog
    capacity.parquet       replication, year, service, capacity offered/used, utilisation

The folder is assembled under a temporary name beside the target and renamed into place
only when every file is written, so an interrupted run never leaves a folder that looks
complete. ``read_results`` refuses a folder whose manifest or tables are missing or corrupt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from model.errors import ResultsError

TABLES = ("person_years", "activity", "waits", "capacity")
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def write_results(
    out: Path | str,
    manifest: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    overwrite: bool = False,
) -> Path:
    """Write a run folder atomically; refuse to replace an existing folder unless told to."""
    out = Path(out)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise ResultsError(f"cannot write results to '{out}': folder '{parent}' does not exist.")
    if out.exists() and not overwrite:
        raise ResultsError(
            f"results folder '{out}' already exists; choose another --out or pass --overwrite."
        )
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise ResultsError(f"cannot write results: tables {', '.join(missing)} are missing.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        rows = {}
        for name in TABLES:
            tables[name].to_parquet(tmp / f"{name}.parquet", index=False)
            rows[name] = len(tables[name])
        full = {**manifest, "schema_version": SCHEMA_VERSION, "tables": rows, "complete": True}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, default=str), encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


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
    if not isinstance(manifest, dict) or manifest.get("complete") is not True:
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
