"""Benchmark: person-years per second and peak memory of the baseline engine.

Run from the repository root::

    .venv/bin/python benchmarks/baseline.py
    .venv/bin/python benchmarks/baseline.py --sizes 100000 1000000 --years 5

Each size runs in its own fresh process ('spawn'), one replication on one core, so the peak
resident set size (RSS) belongs to that size alone. The script reports the time to build
the world (population, demand model, services), the simulation time, person-years per
second over the whole run, peak RSS and peak RSS per person. It prints figures and asserts
nothing: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: targets from the baseline-engine issue
TARGET_PY_PER_SECOND = 300_000
TARGET_BYTES_PER_PERSON = 2_000


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss * (1.0 if sys.platform == "darwin" else 1024.0) / 1e6


def _measure(size: int, years: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    from model.engine import Engine
    from model.scenario import load_scenario

    rss_import = _maxrss_mb()
    scenario = load_scenario("scenarios/baseline.toml").with_run(
        population=size, years=years, seed=seed, replications=1
    )
    t1 = time.perf_counter()
    engine = Engine(scenario, 0)
    t2 = time.perf_counter()
    tables = engine.run()
    t3 = time.perf_counter()
    person_years = float(tables["person_years"]["person_years"].sum())
    peak = _maxrss_mb()
    return {
        "size": size,
        "years": years,
        "import_s": t1 - t0,
        "build_s": t2 - t1,
        "simulate_s": t3 - t2,
        "total_s": t3 - t1,
        "person_years": person_years,
        "py_per_s": person_years / (t3 - t1),
        "peak_rss_mb": peak,
        "rss_after_import_mb": rss_import,
        "bytes_per_person": (peak - rss_import) * 1e6 / size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")
    print(
        f"carescale baseline benchmark: Python {platform.python_version()}, "
        f"{platform.machine()}, one replication on one core, {args.years} years\n"
    )
    header = (
        f"{'people':>10} {'build s':>8} {'simulate s':>11} {'total s':>8} "
        f"{'person-years/s':>15} {'peak RSS MB':>12} {'bytes/person':>13}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            r = pool.submit(_measure, size, args.years, args.seed).result()
        print(
            f"{r['size']:>10,} {r['build_s']:>8.2f} {r['simulate_s']:>11.2f} "
            f"{r['total_s']:>8.2f} {r['py_per_s']:>15,.0f} {r['peak_rss_mb']:>12,.0f} "
            f"{r['bytes_per_person']:>13,.0f}"
        )
    print(
        f"\ntargets: >= {TARGET_PY_PER_SECOND:,} person-years/s (1 M x 5 years <= 17 s) "
        f"and <= {TARGET_BYTES_PER_PERSON:,} bytes per person (peak RSS above the RSS "
        "after import, divided by the population)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
