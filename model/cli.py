"""The ``carescale`` command line: a thin layer over library functions.

Every user mistake (a bad file, key or value) is reported as one sentence on stderr with a
non-zero exit code; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from model import __version__
from model.errors import CarescaleError

EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_USER_ERROR = 2


def _whole_number(text: str) -> int:
    """A whole number, allowing 1_000 or 1,000 (range checks are the library's)."""
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _cmd_parameters(args: argparse.Namespace) -> int:
    from model.register import default_register, load_register, register_markdown
    from model.textable import to_markdown, to_text

    reg = load_register(args.files) if args.files else default_register()
    if args.markdown:
        from model.io import atomic_write_text

        atomic_write_text(args.markdown, register_markdown(reg))
        print(f"wrote {args.markdown} ({len(reg)} parameters)")
        return EXIT_OK
    import pandas as pd

    from model.register import register_rows

    df = pd.DataFrame(register_rows(reg.select(args.group or "")))
    if not args.sources:
        df = df.drop(columns=["source", "evidence"])
    print(to_markdown(df) if args.format == "markdown" else to_text(df))
    return EXIT_OK


def _cmd_validate_population(args: argparse.Namespace) -> int:
    from model.population import build_population
    from model.register import default_register
    from model.textable import to_markdown, to_text
    from model.validation import checks_frame, population_checks, population_summary

    reg = default_register()
    if args.out:
        from model.io import check_parent

        check_parent(args.out)
    t0 = time.perf_counter()
    pop = build_population(args.size, seed=args.seed, register=reg, base_year=args.base_year)
    seconds = time.perf_counter() - t0
    checks = population_checks(pop, reg)
    df = checks_frame(checks)
    show = df.drop(columns=["low", "high", "register_key"])
    render = to_markdown if args.format == "markdown" else to_text
    print(
        f"carescale {__version__}: population of {pop.size:,} people, seed {args.seed}, "
        f"base year {args.base_year} (built in {seconds:.1f} s)\n"
    )
    print(render(show))
    print("\nDescriptive (no published target):\n")
    print(render(population_summary(pop)))
    return _finish_checks(df, args.out)


def _finish_checks(df: Any, out: Path | None) -> int:
    """Print the pass count, write the checks CSV if asked; exit 0 only if all pass."""
    n_fail = int((df["result"] != "pass").sum())
    print(f"\n{len(df) - n_fail} of {len(df)} targets pass.")
    if out:
        from model.io import atomic_write

        atomic_write(out, lambda tmp: df.to_csv(tmp, index=False))
        print(f"wrote {out}")
    return EXIT_OK if n_fail == 0 else EXIT_FAILED_CHECKS


def _progress_bar(total: int, label: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="year", disable=not enabled, leave=False)


def _frame_text(df: Any, fmt: str) -> str:
    import pandas as pd

    from model.textable import to_markdown, to_text

    table = df.reset_index()
    table.columns = [str(c) for c in table.columns]
    for col in table.columns[1:]:
        if pd.api.types.is_numeric_dtype(table[col]):
            table[col] = table[col].astype(float).round(0)
    return to_markdown(table, ",.0f") if fmt == "markdown" else to_text(table, ",.0f")


def _cmd_run(args: argparse.Namespace) -> int:
    from model import kpi
    from model.experiments import run_scenario
    from model.results import write_results
    from model.scenario import load_scenario

    scenario = load_scenario(args.scenario).with_run(
        population=args.population,
        years=args.years,
        replications=args.replications,
        seed=args.seed,
    )
    out = Path(args.out) if args.out else Path("results") / scenario.name
    if out.exists() and not args.overwrite:
        from model.errors import ResultsError

        raise ResultsError(
            f"results folder '{out}' already exists; choose another --out or pass --overwrite."
        )
    if args.out is None:
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        from model.io import check_parent

        check_parent(out)
    run = scenario.run
    print(
        f"carescale {__version__}: scenario '{scenario.name}' ({scenario.path}), "
        f"{run.population:,} people, {run.years} years from {run.start_year}, "
        f"{run.replications} replication(s), seed {run.seed}, {args.workers} worker(s)"
    )
    with _progress_bar(run.years * run.replications, "simulating", not args.no_progress) as bar:
        output = run_scenario(scenario, workers=args.workers, progress=bar.update)
    write_results(out, output.manifest, output.tables, overwrite=args.overwrite)
    reps = "" if run.replications == 1 else f" (mean of {run.replications} replications)"
    print(f"\nActivity per year{reps}:\n")
    print(_frame_text(kpi.activity_by_year(output.tables), args.format))
    print(f"\nCost per year by payer, GBP at 2023/24 prices{reps}:\n")
    print(_frame_text(kpi.cost_by_payer(output.tables), args.format))
    print(
        f"\nwrote {out}/ in {output.manifest['wall_seconds']:.1f} s "
        "(manifest.json, person_years, activity, waits, capacity .parquet)"
    )
    return EXIT_OK


def _cmd_validate_baseline(args: argparse.Namespace) -> int:
    from model.engine import run_one
    from model.scenario import load_scenario
    from model.textable import to_markdown, to_text
    from model.validation import baseline_checks, checks_frame

    if args.out:
        from model.io import check_parent

        check_parent(args.out)
    scenario = load_scenario(args.scenario).with_run(
        population=args.population, years=args.years, seed=args.seed, replications=1
    )
    run = scenario.run
    t0 = time.perf_counter()
    with _progress_bar(run.years, "simulating", not args.no_progress) as bar:
        tables = run_one(scenario, 0, bar.update)
    seconds = time.perf_counter() - t0
    df = checks_frame(baseline_checks(tables, scenario.register))
    render = to_markdown if args.format == "markdown" else to_text
    print(
        f"carescale {__version__}: baseline '{scenario.name}', {run.population:,} people, "
        f"{run.years} year(s) from {run.start_year}, seed {run.seed} "
        f"(simulated in {seconds:.1f} s)\n"
    )
    print(render(df.drop(columns=["low", "high", "register_key"])))
    return _finish_checks(df, args.out)


def _cmd_calibrate_baseline(args: argparse.Namespace) -> int:
    import pandas as pd

    from model.calibration import calibrate_baseline, write_fit
    from model.register import default_register
    from model.textable import to_markdown, to_text

    reg = default_register()
    print(
        f"carescale {__version__}: calibrating the baseline on {args.size:,} people "
        f"(expected rates) and one-year runs of {args.engine_size:,} people ..."
    )
    fit = calibrate_baseline(reg, size=args.size, seed=args.seed, engine_size=args.engine_size)
    render = to_markdown if args.format == "markdown" else to_text
    log = pd.DataFrame(fit.log, columns=["matched", "target", "achieved"])
    print("\n" + render(log))
    values = pd.DataFrame(
        [(k, str(reg[k].display_value()), str(v)) for k, v in fit.values.items()],
        columns=["register key", "current value", "fitted value"],
    )
    print("\n" + render(values))
    if args.write:
        paths = write_fit(fit, reg, args.scenario)
        print("\nupdated " + ", ".join(str(p) for p in paths))
        print(
            "regenerate docs/parameters.md with: carescale parameters --markdown docs/parameters.md"
        )
    else:
        print("\n(nothing written; pass --write to update the register and the scenario)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from model.population import DEFAULT_BASE_YEAR

    parser = _Parser(
        prog="carescale",
        description="Microsimulation of health-care demand under personalised care.",
    )
    parser.add_argument("--version", action="version", version=f"carescale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("parameters", help="print the evidence register")
    p.add_argument("--group", help="only parameters whose key starts with this group")
    p.add_argument("--sources", action="store_true", help="include source and evidence columns")
    p.add_argument("--format", choices=["text", "markdown"], default="text")
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write the whole register as Markdown to FILE (docs/parameters.md)",
    )
    p.add_argument(
        "--files",
        type=Path,
        nargs="+",
        metavar="TOML",
        help="validate and print these register files instead of the package's own",
    )
    p.set_defaults(func=_cmd_parameters)

    v = sub.add_parser("validate", help="compare simulated output with published targets")
    vsub = v.add_subparsers(dest="what", required=True, parser_class=_Parser)
    vp = vsub.add_parser("population", help="validate a synthetic population")
    vp.add_argument(
        "--size", type=_whole_number, default=200_000, help="number of people (default 200,000)"
    )
    vp.add_argument("--seed", type=_whole_number, default=20231, help="random seed")
    vp.add_argument(
        "--base-year",
        type=int,
        default=DEFAULT_BASE_YEAR,
        help="ONS mid-year of the age-sex structure",
    )
    vp.add_argument("--format", choices=["text", "markdown"], default="text")
    vp.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the checks as CSV")
    vp.set_defaults(func=_cmd_validate_population)

    vb = vsub.add_parser("baseline", help="run the baseline and check utilisation targets")
    vb.add_argument(
        "--scenario",
        type=Path,
        default=Path("scenarios/baseline.toml"),
        help="baseline scenario file (default scenarios/baseline.toml)",
    )
    vb.add_argument(
        "--population",
        type=_whole_number,
        default=200_000,
        help="number of people (default 200,000)",
    )
    vb.add_argument(
        "--years",
        type=_whole_number,
        default=1,
        help="years to simulate; targets describe the first year (default 1)",
    )
    vb.add_argument("--seed", type=_whole_number, default=None, help="random seed")
    vb.add_argument("--format", choices=["text", "markdown"], default="text")
    vb.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the checks as CSV")
    vb.add_argument("--no-progress", action="store_true", help="no progress bar")
    vb.set_defaults(func=_cmd_validate_baseline)

    c = sub.add_parser("calibrate", help="fit calibrated parameters to the targets")
    csub = c.add_subparsers(dest="what", required=True, parser_class=_Parser)
    cb = csub.add_parser("baseline", help="calibrate the baseline demand model")
    cb.add_argument(
        "--size",
        type=_whole_number,
        default=200_000,
        help="reference population for expected rates (default 200,000)",
    )
    cb.add_argument(
        "--engine-size",
        type=_whole_number,
        default=200_000,
        help="population of the one-year refinement runs (default 200,000)",
    )
    cb.add_argument("--seed", type=_whole_number, default=20231, help="reference seed")
    cb.add_argument(
        "--scenario",
        type=Path,
        default=Path("scenarios/baseline.toml"),
        help="baseline scenario whose capacities are updated with --write",
    )
    cb.add_argument(
        "--write",
        action="store_true",
        help="write fitted values into the register files and the scenario",
    )
    cb.add_argument("--format", choices=["text", "markdown"], default="text")
    cb.set_defaults(func=_cmd_calibrate_baseline)

    r = sub.add_parser("run", help="run a scenario and write a results folder")
    r.add_argument("scenario", type=Path, help="scenario file, e.g. scenarios/baseline.toml")
    r.add_argument("--population", type=_whole_number, default=None, help="number of people")
    r.add_argument("--years", type=_whole_number, default=None, help="years to simulate")
    r.add_argument(
        "--replications", type=_whole_number, default=None, help="independent replications"
    )
    r.add_argument("--seed", type=_whole_number, default=None, help="random seed")
    r.add_argument(
        "--workers",
        type=_whole_number,
        default=1,
        help="worker processes for replications (results do not depend on it)",
    )
    r.add_argument(
        "--out", type=Path, default=None, help="results folder (default results/<scenario name>)"
    )
    r.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    r.add_argument("--format", choices=["text", "markdown"], default="text")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USER_ERROR
    try:
        return int(args.func(args))
    except CarescaleError as exc:
        print(f"carescale: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("carescale: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
