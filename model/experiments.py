"""Replications of a scenario, sequentially or on several worker processes.

``run_one`` is pure and keyed only by (scenario, replication), so the tables of a run do not
depend on the number of workers or the order in which replications finish: they are always
concatenated in replication order.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import __version__, threads
from model.allocator import reuse_freed_memory
from model.engine import run_one
from model.errors import ScenarioError, show
from model.ledger import REPORTING_PRICE_YEAR
from model.scenario import Scenario

MAX_WORKERS = 64
#: people in the sample used to estimate a run's demand before it starts
WORKLOAD_SAMPLE = 5_000
#: peak bytes per demand event held in a year's event arrays (person, number, day, sort order)
BYTES_PER_EVENT = 40
#: peak bytes per person of population, demand and service state (docs/performance.md)
BYTES_PER_PERSON = 2_000


@dataclass(frozen=True)
class Workload:
    """A run's expected size, estimated from the base population before any work."""

    events_per_person_year: dict[str, float]
    events_per_year: float
    bytes_needed: float


def _available_bytes() -> float | None:
    """Memory available to new work (Linux ``MemAvailable``), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def estimate_workload(scenario: Scenario, workers: int = 1) -> Workload:
    """Expected demand events per service and the memory a run needs, from a sample.

    Rates are the demand model's expected events per person-year in a sample of the base
    population (the first year; growth over the years is small beside the bounds).
    """
    from model.demand import SERVICES, DemandModel
    from model.population import build_population

    run = scenario.run
    size = min(run.population, WORKLOAD_SAMPLE)
    pop = build_population(size, run.seed, scenario.register, run.base_year)
    demand = DemandModel.build(scenario.register, pop)
    per_person = {s: float(np.mean(demand.rates(s, pop))) for s in SERVICES}
    events = sum(per_person.values()) * run.population
    parallel = min(workers, run.replications)
    need = parallel * (run.population * BYTES_PER_PERSON + events * BYTES_PER_EVENT)
    return Workload(per_person, events, need)


#: the runs of a comparison simulated at once, in processes beside each other
#: (``runs_side_by_side``)
SIDE_BY_SIDE = 2


def runs_side_by_side(loads: Sequence[Workload], workers: int, replications: int) -> bool:
    """Whether a comparison runs its baseline and scenarios ``SIDE_BY_SIDE`` at a time, in
    forked processes, rather than one after the other in this process.

    Only when every run would otherwise be simulated in this process (one worker, or one
    replication: with more, worker processes already use the cores), this process may use
    at least two threads (``model.threads.count``; ``CARESCALE_THREADS=1`` keeps runs one
    after the other), the system can fork, and the memory available holds the two largest
    runs at once (their ``loads``, from ``check_workload``). The results are the same either
    way; side by side the peak memory is about that of two runs.
    """
    if len(loads) < 2 or threads.count() < 2 or (workers > 1 and replications > 1):
        return False
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    available = _available_bytes()
    largest = sorted(load.bytes_needed for load in loads)[-SIDE_BY_SIDE:]
    return available is None or sum(largest) <= available


def check_workload(scenario: Scenario, workers: int = 1) -> Workload:
    """Refuse, before any work, a run whose demand exceeds its registered bound or memory."""
    reg = scenario.register
    bound = reg.scalar("limits.max_events_per_person_year")
    load = estimate_workload(scenario, workers)
    for service, rate in load.events_per_person_year.items():
        if not np.isfinite(rate) or rate > bound:
            raise ScenarioError(
                f"{scenario.path}: service '{service}' would draw {show(rate)} events per "
                f"person-year on average; allowed at most {bound:g} "
                "('limits.max_events_per_person_year'); check its demand parameters."
            )
    available = _available_bytes()
    if available is not None and load.bytes_needed > available:
        raise ScenarioError(
            f"{scenario.path}: the run would need about {load.bytes_needed / 2**30:.1f} GiB of "
            f"memory ({scenario.run.population:,} people, about {load.events_per_year:,.0f} "
            f"events a year, {min(workers, scenario.run.replications)} worker(s)), more than "
            f"the {available / 2**30:.1f} GiB available; use fewer people or workers."
        )
    return load


@dataclass
class RunOutput:
    """Tables of every replication and the manifest describing the run."""

    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]


def _one(args: tuple[Scenario, int]) -> dict[str, pd.DataFrame]:
    scenario, replication = args
    return run_one(scenario, replication)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGINT/SIGTERM or a failure: stop the pool's processes now rather than let them
    finish their work, and wait for them to go."""
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


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
        with reuse_freed_memory():  # kept between replications too
            for r in range(reps):
                results.append(run_one(scenario, r, progress))
    else:
        n_proc = min(workers, reps)
        # each worker process takes its share of the cores for its passes (model.threads)
        pool = ProcessPoolExecutor(
            max_workers=n_proc, initializer=threads.share_between, initargs=(n_proc,)
        )
        try:
            for out in pool.map(_one, [(scenario, r) for r in range(reps)]):
                results.append(out)
                if progress is not None:
                    progress(years)
        except BaseException:
            stop_workers(pool)
            raise
        pool.shutdown(wait=True)
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
        "represents": scenario.run.represented,
        "years": years,
        "start_year": scenario.run.start_year,
        "year_starts": scenario.run.year_starts,
        "base_year": scenario.run.base_year,
        "model_version": __version__,
        "price_year": REPORTING_PRICE_YEAR,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    return RunOutput(manifest, tables)
