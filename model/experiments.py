"""Replications of a scenario, sequentially or on several worker processes.

``run_one`` is pure and keyed only by (scenario, replication), so the tables of a run do not
depend on the number of workers or the order in which replications finish: they are always
concatenated in replication order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from model import __version__
from model.engine import run_one
from model.errors import ScenarioError
from model.ledger import REPORTING_PRICE_YEAR
from model.scenario import Scenario

MAX_WORKERS = 64


@dataclass
class RunOutput:
    """Tables of every replication and the manifest describing the run."""

    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]


def _one(args: tuple[Scenario, int]) -> dict[str, pd.DataFrame]:
    scenario, replication = args
    return run_one(scenario, replication)


def run_scenario(
    scenario: Scenario,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RunOutput:
    """Run every replication of ``scenario``; ``progress(n)`` is called as years complete."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ScenarioError(
            f"workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}."
        )
    reps = scenario.run.replications
    years = scenario.run.years
    t0 = time.perf_counter()
    results: list[dict[str, pd.DataFrame]] = []
    if workers == 1 or reps == 1:
        for r in range(reps):
            results.append(run_one(scenario, r, progress))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, reps)) as pool:
            for out in pool.map(_one, [(scenario, r) for r in range(reps)]):
                results.append(out)
                if progress is not None:
                    progress(years)
    tables = {
        name: pd.concat([res[name] for res in results], ignore_index=True) for name in results[0]
    }
    for col in ("setting", "service", "role", "mode", "payer"):
        tables["activity"][col] = tables["activity"][col].astype("category")
    manifest = {
        "scenario": scenario.resolved(),
        "seed": scenario.run.seed,
        "replications": reps,
        "population": scenario.run.population,
        "years": years,
        "start_year": scenario.run.start_year,
        "base_year": scenario.run.base_year,
        "model_version": __version__,
        "price_year": REPORTING_PRICE_YEAR,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    return RunOutput(manifest, tables)
