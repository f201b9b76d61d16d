"""The ``carescale`` command line: a thin layer over library functions.

Every command checks every option, path and file before it does any work (and before it
prints its header). A user mistake is reported as one line, the last line printed, of at most
300 characters, naming the file, key, value and what is allowed, with a non-zero exit code and
no traceback. Folders are written by ``model.outputs`` (ownership, staging, clean-up on
faults and on SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from model import __version__, allocator, threads
from model.errors import CarescaleError, error_line, show

T = TypeVar("T")

if TYPE_CHECKING:
    from model.scenario import RunSettings

EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: `carescale parameters` fits this many columns when the terminal width is unknown
FALLBACK_WIDTH = 100
MIN_WIDTH, MAX_WIDTH = 40, 1000
#: validation targets and their tolerances are set for populations of about this size
VALIDATION_SIZE = 200_000
#: replications of `carescale validate baseline` (default and most allowed)
VALIDATION_REPLICATIONS = 5
MAX_VALIDATION_REPLICATIONS = 100
#: first line of the Markdown register page: `--markdown --overwrite` replaces only such a file
MARKDOWN_SIGNATURE = "# Parameters and sources"
#: first field of the checks CSV: `--out --overwrite` replaces only such a file
CSV_SIGNATURE = "key,"
#: the first line carescale writes in an evaluate CSV (``--overwrite`` replaces only such files)
EVALUATE_SIGNATURE = "measure,"
#: `carescale workshop`: people in the workshop population (default and bounds) and the port
WORKSHOP_DEFAULT, WORKSHOP_MIN, WORKSHOP_MAX = 20_000, 500, 200_000
WORKSHOP_PORT = 8866


class Terminated(BaseException):
    """SIGTERM arrived (a batch scheduler or ``kill``): unwind so clean-up code runs."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _whole(low: int, high: int, unit: str = "", years: bool = False) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], allowing 1_000 or 1,000."""
    allowed = f"{low} to {high}" if years else f"{low:,} to {high:,}{unit}"

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{show(text)} is not a whole number; allowed {allowed}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{show(text)} is out of range; allowed {allowed}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("carescale").strip()
        prefix = f"{where}: " if where else ""
        self.exit(EXIT_USER_ERROR, error_line(prefix + message) + "\n")


# ----------------------------------------------------------------------------- helpers


def _checked_out_file(
    path: Path | None, option: str, overwrite: bool, signature: str, suffix: str
) -> None:
    if path is not None:
        from model.outputs import check_output_file

        check_output_file(path, option, overwrite, signature, (suffix,))


def _write_csv(df: Any, out: Path | None) -> None:
    if out is not None:
        from model.outputs import staged_file

        with staged_file(out) as tmp:
            df.to_csv(tmp, index=False)
        print(f"wrote {out}")


class _NoBar:
    """What a disabled tqdm bar does (nothing), without importing tqdm or starting its
    monitor thread (``--no-progress``)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: float | None = 1) -> None:
        return None


def _progress_bar(total: int, label: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="year", leave=False)


def _frame_text(df: Any, fmt: str) -> str:
    import pandas as pd

    from model.textable import to_markdown, to_text

    table = df.reset_index()
    table.columns = [str(c) for c in table.columns]
    for col in table.columns[1:]:
        if pd.api.types.is_numeric_dtype(table[col]):
            table[col] = table[col].astype(float).round(0)
    return to_markdown(table, ",.0f") if fmt == "markdown" else to_text(table, ",.0f")


def _size_note(size: int) -> None:
    if size < VALIDATION_SIZE:
        print(
            f"note: targets and their tolerances are set for about {VALIDATION_SIZE:,} people; "
            f"at {size:,} people some may fail by sampling error alone.\n"
        )


def _finish_checks(checks: Any, out: Path | None) -> int:
    """Print the pass counts by kind, write the checks CSV if asked; exit 0 only if every
    input and calibrated target passes (held-out misses are reported, not failures)."""
    from model.validation import checks_csv, summary

    text, ok = summary(checks)
    print(f"\n{text}")
    _write_csv(checks_csv(checks), out)
    return EXIT_OK if ok else EXIT_FAILED_CHECKS


# ----------------------------------------------------------------------------- commands


def _cmd_parameters(args: argparse.Namespace) -> int:
    from model.register import default_register, load_register, register_markdown

    if args.markdown is not None:
        _checked_out_file(args.markdown, "--markdown", args.overwrite, MARKDOWN_SIGNATURE, ".md")
    reg = load_register(args.files) if args.files else default_register()
    rows = reg.select(args.group or "")
    if args.markdown is not None:
        from model.outputs import write_text_file

        write_text_file(args.markdown, register_markdown(reg))
        print(f"wrote {args.markdown} ({len(reg)} parameters)")
        return EXIT_OK
    import pandas as pd

    from model.register import register_rows
    from model.textable import to_markdown, to_text

    df = pd.DataFrame(register_rows(rows))
    if not args.sources:
        df = df.drop(columns=["source", "evidence"])
    if args.format == "markdown":
        print(to_markdown(df))
    else:
        width = args.width or shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns
        print(to_text(df, width=width))
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from model.scenario import load_scenario

    n_bad = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except CarescaleError as exc:
            n_bad += 1
            print(error_line(str(exc)), file=sys.stderr, flush=True)
        else:
            chain = len(scenario.chain)
            based = f", extends {chain - 1} file(s)" if chain > 1 else ""
            print(f"{path}: ok (scenario {show(scenario.name)}{based})", flush=True)
    if n_bad:
        return EXIT_USER_ERROR
    return EXIT_OK


def _cmd_validate_population(args: argparse.Namespace) -> int:
    from model.population import build_population
    from model.register import default_register
    from model.textable import to_markdown, to_text
    from model.validation import checks_frame, population_checks, population_summary

    _checked_out_file(args.out, "--out", args.overwrite, CSV_SIGNATURE, ".csv")
    reg = default_register()
    t0 = time.perf_counter()
    pop = build_population(args.size, seed=args.seed, register=reg, base_year=args.base_year)
    seconds = time.perf_counter() - t0
    checks = population_checks(pop, reg)
    render = to_markdown if args.format == "markdown" else to_text
    print(
        f"carescale {__version__}: population of {pop.size:,} people, seed {args.seed}, "
        f"base year {args.base_year} (built in {seconds:.1f} s)\n"
    )
    _size_note(pop.size)
    # one population: no standard error
    print(render(checks_frame(checks).drop(columns=["se", "low", "high", "register_key"])))
    print("\nDescriptive (no published target):\n")
    print(render(population_summary(pop, reg)))
    return _finish_checks(checks, args.out)


def _simulate_into(
    out: Path, scenario: Any, args: argparse.Namespace, summarise: Callable[[Any], T]
) -> tuple[Any, T]:
    """Run ``scenario`` and write its results folder at ``out`` (staged, then moved in).

    Returns the run's output and ``summarise(tables)``, made on another core while the
    tables are written."""
    from model.experiments import check_workload, run_scenario
    from model.outputs import Staging
    from model.results import write_tables

    # the staging folder is made first: it proves the location writable before any work
    with Staging(out, "run", args.overwrite) as stage:
        check_workload(scenario, args.workers)
        run = scenario.run
        print(
            f"carescale {__version__}: scenario {show(scenario.name)} ({scenario.path}), "
            f"{run.population:,} people{_standing_for(run)}, {run.years} years from "
            f"{_first_year(run)}, {run.replications} replication(s), seed {run.seed}, "
            f"{args.workers} worker(s)"
        )
        _print_levers(scenario)
        total = run.years * run.replications
        with _progress_bar(total, "simulating", not args.no_progress) as bar:
            output = run_scenario(scenario, workers=args.workers, progress=bar.update)
        summary = threads.ahead(summarise, output.tables)
        write_tables(stage, output.manifest, output.tables)
    return output, summary.result()


def _first_year(run: RunSettings) -> str:
    """The first simulated year as people read it: ``2024``, or ``2024/25`` (from 1 April)."""
    from model.years import year_label

    return year_label(run.start_year, run.year_starts)


def _print_levers(scenario: Any, label: str = "") -> None:
    """One line per lever: start, evidence, target and (staffed levers) effective FTE."""
    run = scenario.run
    for name, lever in scenario.resolved()["levers"].items():
        staff = ""
        if "fte_represented" in lever:
            staff = (
                f", {'/'.join(f'{f:g}' for f in lever['fte_represented'])} FTE for "
                f"{run.represented:,} people = effective "
                f"{'/'.join(f'{f:.3g}' for f in lever['effective_fte_simulated'])} FTE "
                "in the simulated sample"
            )
        print(
            f"  {label}lever {name}: from {lever['start_year']}, evidence {lever['evidence']}, "
            f"target {lever['target']}{staff}"
        )


def _standing_for(run: RunSettings) -> str:
    """Words for the represented population, when the sample stands for another size."""
    return "" if run.represented == run.population else f" standing for {run.represented:,}"


#: glibc's mallopt parameters: the size from which a block gets its own mapping, and the
#: free memory at the top of the heap kept for reuse rather than returned to the system
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Linux's setting of when a fault in huge-page memory waits for memory to be compacted
_THP_DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")


def tune_memory() -> list[str]:
    """Make a run's allocations cheaper (the results are the same); returns what was done.

    A run allocates and frees arrays of tens of megabytes every simulated year, and by
    default each comes afresh from the system. Two settings of this process change that:

    * glibc (``mallopt``): blocks up to 32 MB (glibc's largest mapping threshold) come from
      the heap, and freed heap memory up to 1 GB is kept for reuse: about 40 % fewer page
      faults at a million people, with the same peak memory;
    * numpy asks for transparent huge pages for large arrays; where the system then
      compacts memory on the spot (``defrag`` set to ``madvise`` or ``always``), the first
      touch of a fresh array can stall for a tenth of a second or more. numpy's request is
      turned off there: about 1 s less of a 1 M x 5-year run on the benchmark machine.
    """
    done = []
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        if mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 1 << 30):
            done.append("reuse freed memory")
    except (OSError, AttributeError):
        pass
    try:
        defrag = _THP_DEFRAG.read_text()
    except OSError:
        defrag = ""
    if "[madvise]" in defrag or "[always]" in defrag:
        import importlib

        multiarray = importlib.import_module("numpy._core.multiarray")
        no_huge_pages = getattr(multiarray, "_set_madvise_hugepage", None)
        if no_huge_pages is not None:
            no_huge_pages(False)
            done.append("no huge pages for arrays")
    return done


def _cmd_run(args: argparse.Namespace) -> int:
    from model import kpi
    from model.outputs import RESULTS_ROOT, check_target, default_folder
    from model.scenario import load_scenario

    tune_memory()

    scenario = load_scenario(args.scenario).with_run(
        population=args.population,
        years=args.years,
        replications=args.replications,
        seed=args.seed,
    )
    out = args.out if args.out is not None else default_folder(scenario.name)
    new_root = args.out is None and not RESULTS_ROOT.exists()
    if new_root:  # ./results/ is made once every check has passed
        check_target(RESULTS_ROOT, overwrite=False, option="the results root")
    else:
        check_target(out, args.overwrite)
    if new_root:
        RESULTS_ROOT.mkdir()

    def summarise(tables: dict[str, Any]) -> tuple[str, str]:
        # pandas' tallies and formatting, while pyarrow writes the tables
        return (
            _frame_text(kpi.activity_by_year(tables), args.format),
            _frame_text(kpi.cost_by_payer(tables), args.format),
        )

    try:
        output, (activity, cost) = _simulate_into(out, scenario, args, summarise)
    except BaseException:
        if new_root:  # leave no trace of a run that did not finish
            with contextlib.suppress(OSError):
                RESULTS_ROOT.rmdir()
        raise
    run = scenario.run
    reps = "" if run.replications == 1 else f" (mean of {run.replications} replications)"
    print(f"\nActivity per year{reps}:\n")
    print(activity)
    print(f"\nCost per year by payer, GBP at 2023/24 prices{reps}:\n")
    print(cost)
    tables = ", ".join(output.tables)
    print(
        f"\nwrote {out}/ in {output.manifest['wall_seconds']:.1f} s "
        f"(manifest.json and .parquet tables {tables}; see docs/schema.md)"
    )
    print(_report_hint(out))
    return EXIT_OK


def _report_hint(out: Path) -> str:
    """The exact command that turns the folder just written into a report."""
    import shlex

    return f"report: carescale report {shlex.quote(str(out))}"


def _cmd_compare(args: argparse.Namespace) -> int:
    from model import business_case as bc
    from model.compare import (
        DEFAULT_REPLICATIONS,
        SCHEMA_VERSION,
        default_folder,
        headline_frame,
        plan,
        run_comparison,
    )
    from model.experiments import check_workload, runs_side_by_side
    from model.outputs import RESULTS_ROOT, Staging, check_target
    from model.scenario import load_scenario
    from model.textable import to_markdown, to_text

    tune_memory()
    baseline = load_scenario(args.baseline)
    scenarios = [load_scenario(path) for path in args.scenarios]
    arms = plan(baseline, scenarios, args.evidence)
    changes = {
        "population": args.population,
        "years": args.years,
        "replications": args.replications or DEFAULT_REPLICATIONS,
        "seed": args.seed,
    }
    baseline = baseline.with_run(**changes)
    arms = [arm.with_run(**changes) for arm in arms]
    settings = bc.Settings.from_register(baseline.register, args.optimism_bias)
    out = args.out if args.out is not None else default_folder(baseline, scenarios)
    new_root = args.out is None and not RESULTS_ROOT.exists()
    if new_root:  # ./results/ is made once every check has passed
        check_target(RESULTS_ROOT, overwrite=False, option="the results root")
    else:
        check_target(out, args.overwrite)
    if new_root:
        RESULTS_ROOT.mkdir()
    run = baseline.run
    try:
        # the staging folder is made first: it proves the location writable before any work
        with Staging(out, "compare", args.overwrite) as stage:
            loads = [
                check_workload(scenario, args.workers)
                for scenario in [baseline, *(arm.scenario for arm in arms)]
            ]
            side_by_side = not args.one_at_a_time and runs_side_by_side(
                loads, args.workers, run.replications
            )
            names = ", ".join(show(arm.name) for arm in arms)
            print(
                f"carescale {__version__}: compare {names} with baseline {show(baseline.name)} "
                f"({baseline.path}), {run.population:,} people{_standing_for(run)}, "
                f"{run.years} years from {run.start_year}, {run.replications} replication(s), "
                f"seed {run.seed} (common random numbers), {args.workers} worker(s)"
                + (", two runs at a time" if side_by_side else "")
            )
            for arm in arms:
                _print_levers(arm.scenario, f"{arm.name}: ")
            total = run.years * run.replications * (1 + len(arms))
            with _progress_bar(total, "simulating", not args.no_progress) as bar:
                result = run_comparison(
                    stage.path, baseline, arms, settings, args.workers, bar.update, side_by_side
                )
            stage.commit(result.manifest, SCHEMA_VERSION)
    except BaseException:
        if new_root:  # leave no trace of a comparison that did not finish
            with contextlib.suppress(OSError):
                RESULTS_ROOT.rmdir()
        raise
    summary = result.summary
    years = summary["years"]
    labels = summary["financial_years"] or [str(y) for y in years]
    span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
    kind = "financial year" if summary["financial_years"] else "year"
    reps = run.replications
    spread = (
        f"Mean and 95 % interval across {reps} paired replications: {bc.UNCERTAINTY_LABEL}."
        if reps > 1
        else "One replication: no interval (use --replications 2 or more)."
    )
    print(
        f"\nScenario minus baseline, totals over {len(years)} {kind}{'s' * (len(years) > 1)} "
        f"({span}) for {run.represented:,} people, GBP at {summary['price_year']} prices; net "
        f"present value at {settings.discount_rate:.1%} a year. {spread}\n"
    )
    render = to_markdown if args.format == "markdown" else to_text
    print(render(headline_frame(summary)))
    print(f"\n{summary['optimism_bias']['statement']}.")
    print(
        f"\nwrote {out}/ in {result.manifest['wall_seconds']:.1f} s (runs/, "
        "comparison/differences.parquet, levers.parquet, summary.json; see "
        "docs/business-case.md)"
    )
    print(_report_hint(out))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from model.report import build_report, check_inputs, parse_formats

    formats = parse_formats(args.format)
    check_inputs(args.results_dir, args.out, args.overwrite)
    print(f"carescale {__version__}: report of {args.results_dir} ({', '.join(formats)})")
    folder = build_report(args.results_dir, formats, args.out, args.overwrite)
    written = [f"report.{f}" for f in formats]
    print(f"wrote {folder}/ ({', '.join(written)}, figures/; open {folder / written[0]})")
    return EXIT_OK


def _cmd_workshop(args: argparse.Namespace) -> int:
    import importlib.util
    import socket
    import subprocess

    from model.workshop_app import NOTEBOOK, serve_command

    missing = [m for m in ("voila", "ipywidgets") if importlib.util.find_spec(m) is None]
    if missing:
        raise CarescaleError(
            f"carescale workshop needs {' and '.join(missing)}, which is not installed; "
            'install the workshop extra: pip install -e ".[workshop]".'
        )
    if args.notebook is None and not NOTEBOOK.is_file():
        raise CarescaleError(
            f"the workshop notebook {NOTEBOOK} is not there (carescale workshop serves it from "
            "a checkout of the repository); name one with --notebook FILE."
        )
    notebook = (args.notebook or NOTEBOOK).expanduser()
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise CarescaleError(
            f"--notebook {show(str(args.notebook))} is not a notebook file (.ipynb) that exists."
        )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise CarescaleError(
                f"--port {args.port} is in use on this computer; choose another port "
                "(1024 to 65535)."
            ) from None
    command, env = serve_command(notebook.resolve(), args.port, args.population)
    if args.open:
        command.remove("--no-browser")
    print(
        f"carescale {__version__}: workshop app of {notebook} at http://127.0.0.1:{args.port}/ "
        f"({args.population:,} people; the page shows once the first run is done; "
        "Ctrl-C stops it)",
        flush=True,
    )
    child = subprocess.Popen(command, env=env)
    try:
        return child.wait()
    except (KeyboardInterrupt, Terminated):
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
        print("carescale workshop: stopped", file=sys.stderr)
        return EXIT_OK


def _percent(text: str) -> float:
    """An argparse type: a percentage above 0 and at most 100."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{show(text)} is not a number; allowed above 0 to 100"
        ) from None
    if not (0 < value <= 100):
        raise argparse.ArgumentTypeError(f"{show(text)} is out of range; allowed above 0 to 100")
    return value


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from model.evaluate import arms, evaluate
    from model.scenario import load_scenario
    from model.textable import to_markdown, to_text

    _checked_out_file(args.out, "--out", args.overwrite, EVALUATE_SIGNATURE, ".csv")
    scenario = load_scenario(args.scenario)
    if args.evidence is not None:
        scenario = scenario.with_evidence(args.evidence)
    arms(scenario, args.lever, args.population, args.seed)  # refuses a bad lever before work
    people = args.population if args.population is not None else scenario.run.population
    print(
        f"carescale {__version__}: evaluate lever {show(args.lever)} of {show(scenario.name)}: "
        f"the top {args.top:g} % of year-1 users of {args.service} ({people:,} people, seed "
        f"{args.seed if args.seed is not None else scenario.run.seed}, "
        f"{args.replications} replication(s)), enrolled from the start of year 2"
    )
    table = evaluate(
        scenario,
        args.lever,
        top=args.top,
        service=args.service,
        population=args.population,
        seed=args.seed,
        replications=args.replications,
    )
    shown = table.drop(columns=["interval", "service"])
    shown.columns = [str(c) for c in shown.columns]
    text = to_markdown(shown, ",.3f") if args.format == "markdown" else to_text(shown, ",.3f")
    print()
    print(text)
    naive, paired = table.iloc[0], table.iloc[1]
    print(
        f"\nnaive before/after: {naive['change_percent']:+.1f} % ({naive['change_low']:+.3f} to "
        f"{naive['change_high']:+.3f} per person); paired effect of the lever: "
        f"{paired['change_percent']:+.1f} % ({paired['change_low']:+.3f} to "
        f"{paired['change_high']:+.3f} per person). Intervals: {table['interval'].iloc[0]}.\n"
        "The difference is regression to the mean: people picked for high use in year 1 use "
        "less in year 2 with or without the lever (docs/levers.md)."
    )
    _write_csv(table, args.out)
    return EXIT_OK


def _cmd_validate_baseline(args: argparse.Namespace) -> int:
    from model.engine import run_one
    from model.experiments import check_workload
    from model.scenario import load_scenario
    from model.textable import to_markdown, to_text
    from model.validation import baseline_checks, checks_frame

    _checked_out_file(args.out, "--out", args.overwrite, CSV_SIGNATURE, ".csv")
    scenario = load_scenario(args.scenario).with_run(
        population=args.population,
        years=args.years,
        seed=args.seed,
        replications=args.replications,
    )
    check_workload(scenario, 1)
    run = scenario.run
    t0 = time.perf_counter()
    print(
        f"carescale {__version__}: baseline {show(scenario.name)}, {run.population:,} people, "
        f"{run.years} year(s) from {_first_year(run)}, seed {run.seed}, "
        f"{run.replications} replication(s)"
    )
    with _progress_bar(run.years * run.replications, "simulating", not args.no_progress) as bar:
        # one replication's tables at a time: each is reduced to its measures, then dropped
        replications = (run_one(scenario, r, bar.update) for r in range(run.replications))
        checks = baseline_checks(replications, scenario.register)
    seconds = time.perf_counter() - t0
    render = to_markdown if args.format == "markdown" else to_text
    print(f"(simulated in {seconds:.1f} s)\n")
    _size_note(run.population)
    se_note = (
        "se is the Monte Carlo standard error of the mean over the replications (sd / sqrt(R))"
        if run.replications > 1
        else "se is blank: one replication gives no standard error"
    )
    print(
        f"simulated: mean over {run.replications} replication(s); {se_note}. A target passes "
        "within target ± (tolerance + 2 se).\n"
    )
    print(render(checks_frame(checks).drop(columns=["low", "high", "register_key"])))
    return _finish_checks(checks, args.out)


def _cmd_validate_levers(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from model.engine import run_one
    from model.experiments import check_workload
    from model.interventions import parse_levers
    from model.scenario import load_scenario
    from model.textable import to_markdown, to_text
    from model.validation import NATIONAL_LEVERS, checks_frame, lever_checks

    _checked_out_file(args.out, "--out", args.overwrite, CSV_SIGNATURE, ".csv")
    base = load_scenario(args.scenario).with_run(
        population=args.population, years=1, seed=args.seed, replications=args.replications
    )
    run = base.run
    levers = parse_levers(
        {k: dict(v) for k, v in NATIONAL_LEVERS.items()}, "validate levers", run.start_year, 1
    )
    scenario = replace(base, name="national_levers", levers=levers)
    check_workload(scenario, 1)
    print(
        f"carescale {__version__}: levers at national-average settings (link workers "
        f"{scenario.register.scalar('levers.link_workers.fte_per_100000'):g} FTE per 100,000; "
        f"PHBs for the right-to-have groups), {run.population:,} people, first year "
        f"{_first_year(run)}, seed {run.seed}, {run.replications} replication(s)"
    )
    t0 = time.perf_counter()
    with _progress_bar(run.replications, "simulating", not args.no_progress) as bar:
        replications = (run_one(scenario, r, bar.update) for r in range(run.replications))
        checks = lever_checks(replications, scenario.register)
    render = to_markdown if args.format == "markdown" else to_text
    print(f"(simulated in {time.perf_counter() - t0:.1f} s)\n")
    print(render(checks_frame(checks).drop(columns=["low", "high", "register_key"])))
    return _finish_checks(checks, args.out)


def _cmd_calibrate_baseline(args: argparse.Namespace) -> int:
    import pandas as pd

    from model.calibration import calibrate_baseline, check_fit_targets, write_fit
    from model.register import default_register
    from model.textable import to_markdown, to_text

    reg = default_register()
    if args.write:
        check_fit_targets(args.scenario)
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
            "regenerate docs/parameters.md with: "
            "carescale parameters --markdown docs/parameters.md --overwrite"
        )
    else:
        print("\n(nothing written; pass --write to update the register and the scenario)")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


def _add_checks_output(p: argparse.ArgumentParser, fmt_help: str) -> None:
    """The table format and CSV options shared by the validate commands."""
    p.add_argument("--format", choices=["text", "markdown"], default="text", help=fmt_help)
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE.csv",
        help="also write the checks as CSV to FILE.csv (columns key, description, kind, "
        "target_value, simulated, se, low, high, passed, source)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace FILE.csv if carescale wrote it"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from model.experiments import MAX_WORKERS
    from model.population import DEFAULT_BASE_YEAR, MAX_SIZE, MIN_SIZE
    from model.scenario import MAX_REPLICATIONS, MAX_YEARS
    from model.streams import MAX_SEED
    from model.tables import population_years

    base_years = population_years()
    people = _whole(MIN_SIZE, MAX_SIZE, " people")
    seed = _whole(0, MAX_SEED)
    pop_help = f"number of people, {MIN_SIZE:,} to {MAX_SIZE:,}"
    seed_help = f"random seed, 0 to {MAX_SEED:,}"
    fmt_help = "table format: text (default) or markdown (to paste into documents)"

    # options several commands share, each written once
    def add_population(p: argparse.ArgumentParser, default: int | None, said: str) -> None:
        p.add_argument(
            "--population", type=people, default=default, metavar="N", help=f"{pop_help} ({said})"
        )

    def add_seed(
        p: argparse.ArgumentParser, default: int | None, said: str, also: str = ""
    ) -> None:
        p.add_argument(
            "--seed", type=seed, default=default, metavar="S", help=f"{seed_help}{also} ({said})"
        )

    def add_years(p: argparse.ArgumentParser, whose: str) -> None:
        p.add_argument(
            "--years",
            type=_whole(1, MAX_YEARS),
            metavar="N",
            default=None,
            help=f"years to simulate (1 to {MAX_YEARS}; default: {whose})",
        )

    def add_workers(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--workers",
            type=_whole(1, MAX_WORKERS),
            metavar="N",
            default=1,
            help=f"worker processes for replications (1 to {MAX_WORKERS}; default 1); results "
            "do not depend on it",
        )

    def add_progress(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    def add_format(p: argparse.ArgumentParser, progress: bool = False) -> None:
        p.add_argument("--format", choices=["text", "markdown"], default="text", help=fmt_help)
        if progress:
            add_progress(p)

    def add_baseline_file(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scenario",
            type=Path,
            default=Path("scenarios/baseline.toml"),
            help="baseline scenario file (default scenarios/baseline.toml)",
        )

    parser = _Parser(
        prog="carescale",
        description="Microsimulation of health-care demand under personalised care.",
    )
    parser.add_argument("--version", action="version", version=f"carescale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("parameters", help="print the evidence register")
    p.add_argument("--group", help="only parameters whose key starts with this group")
    p.add_argument("--sources", action="store_true", help="include source and evidence columns")
    add_format(p)
    p.add_argument(
        "--width",
        type=_whole(MIN_WIDTH, MAX_WIDTH, " columns"),
        metavar="N",
        default=None,
        help=f"fit text tables to this many columns ({MIN_WIDTH} to {MAX_WIDTH}; default: the "
        f"terminal's width, or {FALLBACK_WIDTH}); Markdown is never cut",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE.md",
        help="write the whole register as Markdown to FILE.md (docs/parameters.md)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --markdown, replace FILE.md if carescale wrote it",
    )
    p.add_argument(
        "--files",
        type=Path,
        nargs="+",
        metavar="TOML",
        help="validate and print these register files instead of the package's own",
    )
    p.set_defaults(func=_cmd_parameters)

    ck = sub.add_parser(
        "check", help="validate scenario files without running them (exit 0 when all are valid)"
    )
    ck.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="scenario files; each is checked with every file of its 'extends' chain",
    )
    ck.set_defaults(func=_cmd_check)

    v = sub.add_parser("validate", help="compare simulated output with published targets")
    vsub = v.add_subparsers(dest="what", required=True, parser_class=_Parser)
    vp = vsub.add_parser("population", help="validate a synthetic population")
    vp.add_argument(
        "--size",
        type=people,
        default=VALIDATION_SIZE,
        metavar="N",
        help=f"{pop_help} (default 200,000)",
    )
    add_seed(vp, 20231, "default 20231")
    vp.add_argument(
        "--base-year",
        type=_whole(min(base_years), max(base_years), years=True),
        metavar="YEAR",
        default=DEFAULT_BASE_YEAR,
        help=f"ONS mid-year of the age-sex structure ({', '.join(map(str, base_years))}; "
        f"default {DEFAULT_BASE_YEAR})",
    )
    _add_checks_output(vp, fmt_help)
    vp.set_defaults(func=_cmd_validate_population)

    vb = vsub.add_parser("baseline", help="run the baseline and check utilisation targets")
    add_baseline_file(vb)
    add_population(vb, VALIDATION_SIZE, "default 200,000")
    vb.add_argument(
        "--years",
        type=_whole(1, MAX_YEARS),
        metavar="N",
        default=1,
        help=f"years to simulate (1 to {MAX_YEARS}); targets describe the first year (default 1)",
    )
    add_seed(vb, None, "default: the scenario's")
    vb.add_argument(
        "--replications",
        type=_whole(1, MAX_VALIDATION_REPLICATIONS),
        metavar="R",
        default=VALIDATION_REPLICATIONS,
        help=f"independent replications, 1 to {MAX_VALIDATION_REPLICATIONS} (default "
        f"{VALIDATION_REPLICATIONS}); the table gives their mean and its standard error",
    )
    _add_checks_output(vb, fmt_help)
    add_progress(vb)
    vb.set_defaults(func=_cmd_validate_baseline)

    vl = vsub.add_parser(
        "levers", help="run the levers at national-average settings and check their volumes"
    )
    add_baseline_file(vl)
    add_population(vl, VALIDATION_SIZE, "default 200,000")
    add_seed(vl, None, "default: the scenario's")
    vl.add_argument(
        "--replications",
        type=_whole(1, MAX_VALIDATION_REPLICATIONS),
        metavar="R",
        default=1,
        help=f"independent replications, 1 to {MAX_VALIDATION_REPLICATIONS} (default 1)",
    )
    _add_checks_output(vl, fmt_help)
    add_progress(vl)
    vl.set_defaults(func=_cmd_validate_levers)

    c = sub.add_parser("calibrate", help="fit calibrated parameters to the targets")
    csub = c.add_subparsers(dest="what", required=True, parser_class=_Parser)
    cb = csub.add_parser("baseline", help="calibrate the baseline demand model")
    cb.add_argument(
        "--size",
        type=people,
        metavar="N",
        default=200_000,
        help=f"reference population for expected rates ({MIN_SIZE:,} to {MAX_SIZE:,}; "
        "default 200,000)",
    )
    cb.add_argument(
        "--engine-size",
        type=people,
        metavar="N",
        default=200_000,
        help=f"population of the one-year refinement runs ({MIN_SIZE:,} to {MAX_SIZE:,}; "
        "default 200,000)",
    )
    add_seed(cb, 20231, "default 20231")
    cb.add_argument(
        "--scenario",
        type=Path,
        default=Path("scenarios/baseline.toml"),
        help="baseline scenario whose capacities are updated with --write "
        "(default scenarios/baseline.toml)",
    )
    cb.add_argument(
        "--write",
        action="store_true",
        help="write fitted values into the register files and the scenario",
    )
    add_format(cb)
    cb.set_defaults(func=_cmd_calibrate_baseline)

    r = sub.add_parser("run", help="run a scenario and write a results folder")
    r.add_argument("scenario", type=Path, help="scenario file, e.g. scenarios/baseline.toml")
    add_population(r, None, "default: the scenario's")
    add_years(r, "the scenario's")
    r.add_argument(
        "--replications",
        type=_whole(1, MAX_REPLICATIONS),
        metavar="N",
        default=None,
        help=f"independent replications (1 to {MAX_REPLICATIONS:,}; default: the scenario's)",
    )
    add_seed(r, None, "default: the scenario's")
    add_workers(r)
    r.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="the results folder itself (default results/<scenario name>); its parent must exist",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results folder if carescale wrote it (never any other folder or file)",
    )
    add_format(r, progress=True)
    r.set_defaults(func=_cmd_run)

    cp = sub.add_parser(
        "compare",
        help="run scenarios and a baseline with common random numbers and report the "
        "paired differences and the business case",
    )
    cp.add_argument(
        "baseline", type=Path, help="baseline scenario file, e.g. scenarios/baseline.toml"
    )
    cp.add_argument(
        "scenarios",
        type=Path,
        nargs="+",
        metavar="SCENARIO",
        help="scenario files; each runs with the baseline's [run] settings",
    )
    add_population(cp, None, "default: the baseline's")
    add_years(cp, "the baseline's")
    cp.add_argument(
        "--replications",
        type=_whole(1, MAX_REPLICATIONS),
        metavar="N",
        default=None,
        help=f"paired replications of every run (1 to {MAX_REPLICATIONS:,}; default 10)",
    )
    add_seed(cp, None, "default: the baseline's", ", the same for every run")
    add_workers(cp)
    cp.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run the baseline and the scenarios one after the other, with about one run's "
        "memory; by default, with one worker or one replication on two cores or more, two "
        "runs go side by side in two processes when the memory for both is available (the "
        "results are the same)",
    )
    cp.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="the comparison folder itself (default results/compare_<baseline>_vs_<first "
        "scenario>); its parent must exist",
    )
    cp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the comparison folder if carescale wrote it (never any other folder)",
    )
    cp.add_argument(
        "--evidence",
        choices=["before_after", "controlled", "both"],
        default=None,
        help="the prior of every lever's effects: before_after (published uncontrolled "
        "studies), controlled (controlled studies) or both, side by side (twice the runs); "
        "default: each scenario's own setting",
    )
    cp.add_argument(
        "--optimism-bias",
        action="store_true",
        help="apply the Green Book optimism-bias adjustment (business_case.optimism_bias.*) "
        "to lever costs and effects; stated in the summary",
    )
    add_format(cp, progress=True)
    cp.set_defaults(func=_cmd_compare)

    rp = sub.add_parser(
        "report",
        help="turn a run or compare folder into a report: a self-contained HTML page, "
        "Markdown and an Excel workbook, with figures",
    )
    rp.add_argument(
        "results_dir",
        type=Path,
        metavar="RESULTS_DIR",
        help="a folder written by carescale run or carescale compare",
    )
    rp.add_argument(
        "--format",
        default="html,md,xlsx",
        metavar="LIST",
        help="formats to write, separated by commas: html, md, xlsx (default all three); "
        "figures (PNG and SVG) are always written",
    )
    rp.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="the report folder itself (default RESULTS_DIR/report); its parent must exist",
    )
    rp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier report (never any other folder)",
    )
    rp.set_defaults(func=_cmd_report)
    wp = sub.add_parser(
        "workshop",
        help="serve the what-if workshop (notebooks/02) as a web app on this computer (Voila)",
    )
    wp.add_argument(
        "--population",
        type=_whole(WORKSHOP_MIN, WORKSHOP_MAX, " people"),
        default=WORKSHOP_DEFAULT,
        metavar="N",
        help=f"people in the workshop population (default {WORKSHOP_DEFAULT:,}; "
        f"{WORKSHOP_MIN:,} to {WORKSHOP_MAX:,})",
    )
    wp.add_argument(
        "--port",
        type=_whole(1024, 65535, years=True),  # plain digits, as ports are written
        default=WORKSHOP_PORT,
        metavar="PORT",
        help=f"port on 127.0.0.1 (default {WORKSHOP_PORT})",
    )
    wp.add_argument(
        "--notebook",
        type=Path,
        default=None,
        metavar="FILE",
        help="the notebook to serve (default notebooks/02_what_if_workshop.ipynb)",
    )
    wp.add_argument("--open", action="store_true", help="open the page in the default browser")
    wp.set_defaults(func=_cmd_workshop)
    ev = sub.add_parser(
        "evaluate",
        help="the regression-to-the-mean trap: the naive before/after change of the top users "
        "enrolled in a lever beside the paired true effect",
    )
    ev.add_argument("scenario", type=Path, help="scenario file that declares the lever")
    ev.add_argument(
        "--lever", required=True, metavar="NAME", help="the lever of the scenario to evaluate"
    )
    ev.add_argument(
        "--top",
        type=_percent,
        default=5.0,
        metavar="PCT",
        help="percentage of the first year's population, the highest users, to enrol (default 5)",
    )
    ev.add_argument(
        "--service",
        choices=["gp_appointment", "ae_attendance"],
        default="gp_appointment",
        help="the service whose use selects and measures the cohort (default gp_appointment)",
    )
    add_population(ev, None, "default: the scenario's")
    add_seed(ev, None, "default: the scenario's")
    ev.add_argument(
        "--replications",
        type=_whole(1, 100),
        metavar="R",
        default=3,
        help="paired replications, each with its own cohort, 1 to 100 (default 3)",
    )
    ev.add_argument(
        "--evidence",
        choices=["before_after", "controlled"],
        default=None,
        help="the prior of the lever's effects (default: the scenario's own setting)",
    )
    ev.add_argument(
        "--out", type=Path, default=None, metavar="FILE.csv", help="also write the table as CSV"
    )
    ev.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the --out file if carescale wrote it (never any other file)",
    )
    add_format(ev)
    ev.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    allocator.one_heap()  # before any thread allocates
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USER_ERROR
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (e.g. called from a notebook's worker thread)
        previous = None
    try:
        threads.from_environment()  # CARESCALE_THREADS checked before any work starts
        return int(args.func(args))
    except CarescaleError as exc:
        sys.stdout.flush()
        print(error_line(str(exc)), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("carescale: interrupted; nothing was left half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("carescale: terminated; nothing was left half-written", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
