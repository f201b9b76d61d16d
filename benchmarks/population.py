"""Benchmark: how fast is population synthesis, and how much memory does it take?

Run from the repository root::

    .venv/bin/python benchmarks/population.py
    .venv/bin/python benchmarks/population.py --sizes 100000 1000000 --repeats 3
    .venv/bin/python benchmarks/population.py --sizes 1000000 --profile

Each size is measured in its own fresh process (``multiprocessing`` with the 'spawn' start
method), so the peak resident set size (RSS) reported for a size belongs to that size alone.
Inside that process the script

1. imports ``model`` (timed as 'import');
2. builds one population, which also calibrates the population model (every probit intercept
   and deprivation slope is solved on first use and then cached); this is the 'first build',
   reported apart from the timed builds, with the calibration share in brackets;
3. builds ``--repeats`` more populations with the same size and seed and reports the best and
   the median wall time;
4. optionally builds once more under ``tracemalloc`` to report the peak of Python and numpy
   allocations (numpy reports its array buffers to ``tracemalloc``);
5. reports the process's own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), which
   covers all of the above, and the bytes per person held by ``Population.arrays()``.

This script prints figures. It asserts nothing about time: timings depend on the machine.
The target from the population issue is printed next to the results for comparison.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import platform
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from typing import Any

#: target from the population issue: 1 M people built in <= 5 s within <= 600 MB
TARGET_SIZE = 1_000_000
TARGET_SECONDS = 5.0
TARGET_PEAK_MB = 600.0

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_REPEATS = 3
DEFAULT_SEED = 0


def _maxrss_mb() -> float:
    """Peak RSS of this process so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return rss * scale / 1e6


def measure(size: int, repeats: int, seed: int, trace: bool) -> dict[str, Any]:
    """Measure one population size. Runs in a fresh child process."""
    t0 = time.perf_counter()
    from model.population import build_population, population_model

    import_s = time.perf_counter() - t0
    rss_after_import_mb = _maxrss_mb()

    t0 = time.perf_counter()
    population_model()  # calibration (cached for the rest of the process)
    calibration_s = time.perf_counter() - t0
    pop = build_population(size, seed=seed)
    first_build_s = time.perf_counter() - t0

    arrays = pop.arrays()
    bytes_per_person = sum(a.nbytes for a in arrays.values()) / pop.size
    bytes_by_array = {name: a.nbytes / pop.size for name, a in arrays.items()}
    del pop, arrays

    times: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pop = build_population(size, seed=seed)
        times.append(time.perf_counter() - t0)
        del pop  # never hold two populations at once
    peak_rss_mb = _maxrss_mb()

    traced_peak_mb = float("nan")
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
        pop = build_population(size, seed=seed)
        traced_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        del pop

    return {
        "size": size,
        "import_s": import_s,
        "calibration_s": calibration_s,
        "first_build_s": first_build_s,
        "times_s": times,
        "rss_after_import_mb": rss_after_import_mb,
        "peak_rss_mb": peak_rss_mb,
        "traced_peak_mb": traced_peak_mb,
        "bytes_per_person": bytes_per_person,
        "bytes_by_array": bytes_by_array,
    }


def profile(size: int, seed: int, top: int) -> str:
    """cProfile of one build after calibration; the ``top`` functions by cumulative time."""
    from model.population import build_population, population_model

    population_model()
    profiler = cProfile.Profile()
    profiler.enable()
    build_population(size, seed=seed)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    out.write("\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _in_child(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh 'spawn' process and return its result."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        "size",
        "first build s (calib.)",
        "best s",
        "median s",
        "people/s (best)",
        "peak RSS MB",
        "RSS after import MB",
        "tracemalloc peak MB",
        "bytes/person",
    )
    lines = [header]
    for r in rows:
        best = min(r["times_s"]) if r["times_s"] else float("nan")
        median = statistics.median(r["times_s"]) if r["times_s"] else float("nan")
        lines.append(
            (
                f"{r['size']:,}",
                f"{r['first_build_s']:.2f} ({r['calibration_s']:.2f})",
                f"{best:.2f}",
                f"{median:.2f}",
                f"{r['size'] / best:,.0f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['rss_after_import_mb']:.0f}",
                f"{r['traced_peak_mb']:.0f}",
                f"{r['bytes_per_person']:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for k, row in enumerate(lines):
        out.append("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _verdict(rows: list[dict[str, Any]]) -> str:
    row = next((r for r in rows if r["size"] == TARGET_SIZE), None)
    target = (
        f"Target (population issue): {TARGET_SIZE:,} people in <= {TARGET_SECONDS:g} s "
        f"and <= {TARGET_PEAK_MB:g} MB peak RSS."
    )
    if row is None or not row["times_s"]:
        return target + f" (not measured: add {TARGET_SIZE} to --sizes)"
    best = min(row["times_s"])
    time_ok = "meets" if best <= TARGET_SECONDS else "MISSES"
    mem_ok = "meets" if row["peak_rss_mb"] <= TARGET_PEAK_MB else "MISSES"
    return (
        f"{target}\nMeasured: best {best:.2f} s ({time_ok} the time target); "
        f"peak RSS {row['peak_rss_mb']:.0f} MB ({mem_ok} the memory target)."
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure each size in its own process and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="population sizes (default: 100000 1000000)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timed builds per size after the first build (default: 3)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the extra build under tracemalloc"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of one build of the largest size",
    )
    parser.add_argument("--top", type=int, default=15, help="rows of the profile (default 15)")
    parser.add_argument(
        "--per-array", action="store_true", help="also print bytes per person by array"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    from model import __version__

    print(f"carescale {__version__}, population benchmark")
    print(
        f"python {platform.python_version()}, {platform.machine()}, "
        f"{multiprocessing.cpu_count()} logical CPUs, seed {args.seed}, "
        f"{args.repeats} timed builds per size, one fresh process per size\n"
    )

    rows = []
    for size in args.sizes:
        rows.append(_in_child(measure, size, args.repeats, args.seed, not args.no_tracemalloc))
        r = rows[-1]
        print(
            f"  {size:>11,}: import {r['import_s']:.2f} s, first build "
            f"{r['first_build_s']:.2f} s, timed "
            + ", ".join(f"{t:.2f}" for t in r["times_s"])
            + " s",
            flush=True,
        )
    print()
    print(_table(rows))
    print()
    print(
        "first build = calibration (in brackets) + first build_population call; best and "
        "median are over the timed builds that follow."
    )
    print(
        "peak RSS = the child process's own ru_maxrss over imports, calibration and every "
        "build (one population alive at a time)."
    )
    print("tracemalloc peak = Python + numpy allocations during one build after calibration.")
    print("bytes/person = sum of .nbytes of Population.arrays() divided by size.\n")
    if args.per_array:
        r = rows[-1]
        print(f"bytes per person by array ({r['size']:,} people):")
        for name, b in r["bytes_by_array"].items():
            print(f"  {name:<14} {b:6.1f}")
        print()
    print(_verdict(rows))

    if args.profile:
        size = max(args.sizes)
        print(f"\ncProfile of one build of {size:,} people (after calibration):\n")
        print(_in_child(profile, size, args.seed, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
