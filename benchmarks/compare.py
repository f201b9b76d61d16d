"""Benchmark: ``carescale compare`` end to end as a multiple of one ``carescale run``.

Run from the repository root::

    .venv/bin/python benchmarks/compare.py                        # 100 k and 1 M people x 5 years
    .venv/bin/python benchmarks/compare.py --sizes 100000 --repeats 3
    .venv/bin/python benchmarks/compare.py --scenario scenarios/my_capacity.toml --sizes 3000 \
        --years 1 --skip-floor

For each size and repeat, four commands run one after the other, each in a fresh process with
the same Python, in the repository root, results written to a temporary folder:

1. ``python -m model run scenarios/baseline.toml --population N --years Y --replications 1
   --no-progress --out <temp>``: one baseline run of the same size;
2. ``python -m model compare scenarios/baseline.toml SCENARIO --population N --years Y
   --replications 1 --no-progress --out <temp>``: the comparison (a baseline run, a scenario
   run, the differences and the business case);
3. ``python -m model run SCENARIO ...``: one run with the scenario's levers on (its peak
   memory);
4. the reference workload ``floor.py N Y`` (default ``../shared/bench/floor.py`` from the
   repository root), whose ``floor_capacity`` seconds are the yardstick of the baseline run.

It prints per repeat the wall times, the comparison's peak RSS and bytes per person (peak RSS
above the RSS of a fresh Python that imports what ``carescale compare`` imports, divided by
the people) and the lever run's bytes per person (above a fresh Python importing what
``carescale run`` imports), then the medians and the targets of the levers issue with
PASS/MISS: compare / run <= 2.3x, run / floor_capacity <= 6x (the baseline without levers),
and <= 2 KB per person with levers on (the lever run). The comparison's own peak is printed
beside the 2 KB for information: with two threads or more it runs its baseline and scenario
side by side in two forked processes (``model.experiments.runs_side_by_side``), about two
runs' memory at once, measured as the largest sum of the processes' RSS (pages they share
counted in each); ``CARESCALE_THREADS=1`` runs them one after the other. ``SCENARIO``
defaults to ``scenarios/link_workers.toml``; ``--scenario`` names another (a scenario with
capacity changes only works before the levers exist). It prints figures and asserts
nothing: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the sibling benchmark, for its measuring helpers
from baseline import (
    CLI_IMPORTS,
    DEFAULT_FLOOR,
    FLOOR_ENGINE,
    _commit,
    _floor_run,
    _machine,
    _median,
    _pass,
    _positive,
    _post_import_rss,
    _run_child,
    _spread,
    floor_imports,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = "scenarios/baseline.toml"
DEFAULT_SCENARIO = "scenarios/link_workers.toml"
#: targets of the levers issue
TARGET_COMPARE_RATIO = 2.3
TARGET_RUN_RATIO = 6.0
TARGET_BYTES_PER_PERSON = 2_000
#: what ``carescale compare`` imports before it starts work (the post-import RSS baseline)
COMPARE_IMPORTS = (
    "model.cli",
    "model.compare",
    "model.business_case",
    "model.experiments",
    "model.outputs",
    "model.scenario",
    "model.engine",
    "model.results",
)
COLUMNS = (
    ("run s", "run_s", ".2f"),
    ("compare s", "compare_s", ".2f"),
    ("compare/run", "compare_ratio", ".2f"),
    ("cmp cpu s", "compare_cpu_s", ".2f"),
    ("cmp RSS MB", "rss_mb", ",.0f"),
    ("bytes/person", "bpp", ",.0f"),
    ("lever run B/p", "lever_bpp", ",.0f"),
    ("floor s", "floor_s", ".2f"),
    ("run/floor", "run_ratio", ".2f"),
    ("load", "load", ".2f"),
)


def _command(words: list[str], size: int, years: int, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "model", *words,
        "--population", str(size), "--years", str(years), "--replications", "1",
        "--no-progress", "--out", str(out),
    ]  # fmt: skip


def _child(words: list[str], size: int, years: int) -> dict[str, Any]:
    """One ``carescale`` command into a temporary folder; fails loudly if nothing was written."""
    with tempfile.TemporaryDirectory(prefix="carescale-bench-") as tmp:
        out = Path(tmp) / "out"
        r = _run_child(_command(words, size, years, out), REPO_ROOT)
        manifest = out / "manifest.json"
        if r["returncode"] != 0 or not manifest.is_file():
            tail = (r["stderr"] or r["stdout"]).strip().splitlines()[-5:]
            raise RuntimeError(
                f"carescale {words[0]} failed (exit {r['returncode']}):\n" + "\n".join(tail)
            )
        r["manifest"] = json.loads(manifest.read_text())
    return r


def _measure(
    size: int, years: int, scenario: str, floor: Path | None, base_rss: tuple[float, float]
) -> dict[str, float]:
    run = _child(["run", BASELINE], size, years)
    cmp = _child(["compare", BASELINE, scenario], size, years)
    lever = _child(["run", scenario], size, years)
    rec = {
        "run_s": run["seconds"],
        "compare_s": cmp["seconds"],
        "compare_ratio": cmp["seconds"] / run["seconds"],
        "compare_cpu_s": cmp["cpu_seconds"],
        "rss_mb": cmp["peak_rss_bytes"] / 1e6,
        "bpp": (cmp["peak_rss_bytes"] - base_rss[0]) / size,
        "lever_bpp": (lever["peak_rss_bytes"] - base_rss[1]) / size,
        # whether the comparison ran its runs side by side, as its manifest says
        "side_by_side": float(bool(cmp["manifest"].get("side_by_side"))),
        "floor_s": float("nan"),
        "run_ratio": float("nan"),
        "busy": min(run["cpu_seconds"] / run["seconds"], cmp["cpu_seconds"] / cmp["seconds"]),
    }
    if floor is not None:
        f = _floor_run(floor, size, years)
        rec["floor_s"] = f["engines"][FLOOR_ENGINE]
        rec["run_ratio"] = run["seconds"] / rec["floor_s"]
        rec["busy"] = min(rec["busy"], f["cpu_seconds"] / f["seconds"])
    rec["load"] = os.getloadavg()[0]
    return rec


def _side_by_side_note(side_by_side: list[float]) -> str:
    """How the comparisons ran their runs, from their manifests."""
    n = int(sum(side_by_side))
    if n == 0:
        return " (its runs one after the other)"
    times = len(side_by_side)
    said = "its runs side by side" if n == times else f"side by side {n} of {times} times"
    return f" ({said}: about two runs' memory, the processes' RSS summed)"


def _print_size(
    args: argparse.Namespace, size: int, floor: Path | None, base: tuple[float, float]
) -> None:
    print(f"{size:,} people x {args.years} years, {args.repeats} repeat(s):\n")
    widths = [max(len(h), 9) for h, _, _ in COLUMNS]

    def line(name: str, cells: list[str]) -> None:
        print(f"{name:>6} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))

    header = f"{'repeat':>6} " + " ".join(
        f"{h:>{w}}" for (h, _, _), w in zip(COLUMNS, widths, strict=True)
    )
    print(header)
    print("-" * len(header))
    recs = []
    for i in range(args.repeats):
        recs.append(_measure(size, args.years, args.scenario, floor, base))
        line(str(i + 1), [format(recs[-1][k], fmt) for _, k, fmt in COLUMNS])
    print("-" * len(header))

    def col(key: str) -> list[float]:
        return [r[key] for r in recs]

    meds = {k: _median(col(k)) for _, k, _ in COLUMNS}
    meds["compare_ratio"] = meds["compare_s"] / meds["run_s"]
    if floor is not None:
        meds["run_ratio"] = meds["run_s"] / meds["floor_s"]
    line("median", [format(meds[k], fmt) for _, k, fmt in COLUMNS])
    if args.repeats > 1:
        line("spread", [_spread(col(k), fmt) for _, k, fmt in COLUMNS])
    print()
    print(f"{'target':<52} {'measured':>10} {'target':>10}  result")
    ratio = meds["compare_ratio"]
    print(
        f"{'time: compare / run (medians)':<52} {ratio:>9.2f}x "
        f"{'<= ' + format(TARGET_COMPARE_RATIO, 'g') + 'x':>10}  "
        f"{_pass(ratio <= TARGET_COMPARE_RATIO)}"
    )
    if floor is not None:
        rr = meds["run_ratio"]
        print(
            f"{'time: run / ' + FLOOR_ENGINE + ' (medians)':<52} {rr:>9.2f}x "
            f"{'<= ' + format(TARGET_RUN_RATIO, 'g') + 'x':>10}  {_pass(rr <= TARGET_RUN_RATIO)}"
        )
    lever = meds["lever_bpp"]
    print(
        f"{'memory: lever run peak RSS above post-import / person':<52} "
        f"{lever:>8,.0f} B {'<= ' + format(TARGET_BYTES_PER_PERSON, ',') + ' B':>10}  "
        f"{_pass(lever <= TARGET_BYTES_PER_PERSON)}"
    )
    mb = meds["bpp"]
    print(
        f"{'memory: compare peak RSS above post-import / person':<52} {mb:>8,.0f} B "
        f"{'(' + format(TARGET_BYTES_PER_PERSON, ',') + ' B)':>10}  "
        f"{'within' if mb <= TARGET_BYTES_PER_PERSON else 'above'}"
        + _side_by_side_note(col("side_by_side"))
    )
    busy = min(col("busy"))
    if busy < 0.95:
        print(
            f"note: a process waited for a CPU (CPU/wall down to {busy:.0%}; load average up "
            f"to {max(col('load')):.1f} on {os.cpu_count()} CPUs): other work inflated some "
            "timings; compare best times or rerun when the machine is idle"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_positive,
        nargs="+",
        default=[100_000, 1_000_000],
        help="people of each measured size (default: 100000 1000000)",
    )
    parser.add_argument("--years", type=_positive, default=5, help="simulated years (default 5)")
    parser.add_argument(
        "--repeats", type=_positive, default=1, help="measurements of each size (default 1)"
    )
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help=f"the scenario compared with {BASELINE} (default {DEFAULT_SCENARIO}); relative "
        "to the repository root",
    )
    parser.add_argument(
        "--floor",
        type=Path,
        default=None,
        help=f"the reference workload (default {DEFAULT_FLOOR} relative to the repository root)",
    )
    parser.add_argument(
        "--skip-floor", action="store_true", help="no reference workload (no run/floor ratio)"
    )
    args = parser.parse_args(argv)
    scenario = REPO_ROOT / args.scenario
    if not scenario.is_file():
        print(f"scenario not found: {scenario} (give another with --scenario PATH)")
        return 2
    floor: Path | None = None
    if not args.skip_floor:
        floor = (args.floor if args.floor is not None else REPO_ROOT / DEFAULT_FLOOR).resolve()
        if not floor.is_file():
            print(f"reference workload not found: {floor} (give its path with --floor PATH)")
            return 2
    print(
        f"carescale compare benchmark: {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()}, {_machine()}, commit {_commit()}"
    )
    if floor is not None:
        print(
            f"reference workload {floor}; its imports outside the standard library: "
            f"{', '.join(floor_imports(floor)) or 'none'}"
        )
    base = (_post_import_rss(COMPARE_IMPORTS), _post_import_rss(CLI_IMPORTS))
    _child(["run", BASELINE], 2_000, 1)  # warm-up: compiled kernels cached before any timing
    print(
        f"`carescale compare {BASELINE} {args.scenario} --replications 1` against `carescale "
        f"run {BASELINE} --replications 1` of the same size (wall time from start to exit, "
        f"results written); post-import RSS {base[0] / 1e6:,.0f} MB (a fresh Python importing "
        f"{', '.join(COMPARE_IMPORTS)}); the lever run `carescale run {args.scenario}` "
        f"against {base[1] / 1e6:,.0f} MB ({', '.join(CLI_IMPORTS)})\n"
    )
    for size in args.sizes:
        _print_size(args, size, floor, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
