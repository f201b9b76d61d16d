"""Paired comparison of scenarios with a baseline (``carescale compare``).

Every scenario runs with the baseline's ``[run]`` settings, so with the same seed and the same
replication numbers: common random numbers. Replication r of a scenario differs from
replication r of the baseline only through what the scenario changes, and the differences are
taken replication by replication (paired), which makes their intervals much narrower than those
of two independent runs.

A comparison folder holds::

    manifest.json                 kind "compare": baseline, scenarios, settings, files
    runs/<name>/                  the usual run folder of the baseline and of every scenario,
                                  plus lever_activity.parquet
    comparison/differences.parquet  scenario - baseline by replication, year and strata
    comparison/levers.parquet     lever_activity of every scenario, with a scenario column
    comparison/summary.json       the business case of every scenario (model.business_case)

Every total in ``comparison/`` is for the represented population (``[run] represents``): the
simulated counts and costs times ``scenario.run.scale``. The run folders keep the simulated
sample's own figures, as ``carescale run`` writes them.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from model import __version__, threads
from model import business_case as bc
from model.allocator import reuse_freed_memory
from model.errors import CarescaleError, ScenarioError, show
from model.experiments import SIDE_BY_SIDE, RunOutput, run_scenario, stop_workers
from model.ledger import REPORTING_PRICE_YEAR
from model.outputs import RESULTS_ROOT, Staging, safe_component
from model.population import shared_builds
from model.results import write_tables
from model.scenario import EVIDENCE_MODES, Scenario

#: ``--evidence`` choices: one prior for every lever, or both side by side
EVIDENCE_CHOICES = (*EVIDENCE_MODES, "both")
#: 1: first version (docs/business-case.md)
SCHEMA_VERSION = 1
RUNS = "runs"
COMPARISON = "comparison"
DEFAULT_REPLICATIONS = 10
#: joins a scenario's name and the evidence mode it runs under with ``--evidence both``
EVIDENCE_SEPARATOR = "@"


@dataclass(frozen=True)
class Arm:
    """One run of a comparison: a scenario, the folder name it is written under and the
    evidence mode imposed on its levers (None: each lever's own setting)."""

    name: str
    scenario: Scenario
    evidence: str | None = None

    def with_run(self, **changes: int | None) -> Arm:
        """The same arm with run settings replaced (as ``Scenario.with_run``)."""
        return replace(self, scenario=self.scenario.with_run(**changes))


# ----------------------------------------------------------------------------- checks


def check_same_run(baseline: Scenario, scenario: Scenario) -> None:
    """Refuse a scenario whose ``[run]`` settings differ from the baseline's."""
    ours, theirs = scenario.run.as_dict(), baseline.run.as_dict()
    for key, value in ours.items():
        if value != theirs[key]:
            raise ScenarioError(
                f"{scenario.path}: 'run.{key}' = {show(value)} differs from the baseline's "
                f"{show(theirs[key])} ({baseline.path}); compared scenarios run with the "
                "baseline's [run] settings, so remove it (the options --population, --years, "
                "--replications and --seed change every run alike)."
            )


def check_business_case_settings(baseline: Scenario, scenario: Scenario) -> None:
    """Refuse a scenario that sets a ``business_case.*`` entry unlike the baseline's."""
    for p in baseline.register.select("business_case"):
        value = scenario.register[p.key].value
        if value != p.value:
            raise ScenarioError(
                f"{scenario.path}: '{p.key}' = {show(value[0])} differs from the baseline's "
                f"{show(p.value[0])} ({baseline.path}); the business case is computed once, "
                "with the baseline's settings, so set it in the baseline."
            )


def plan(
    baseline: Scenario, scenarios: Sequence[Scenario], evidence: str | None = None
) -> list[Arm]:
    """The runs of a comparison besides the baseline, checked before any work.

    Refuses a scenario whose ``[run]`` or ``business_case.*`` settings differ from the
    baseline's and two runs with one name (the baseline's included). With ``evidence`` set,
    every lever of a scenario runs under that prior; with ``"both"``, a scenario with levers
    runs twice, as ``<name>@before_after`` and ``<name>@controlled``. A scenario without
    levers runs once whatever ``evidence`` says.
    """
    if evidence is not None and evidence not in EVIDENCE_CHOICES:
        raise ScenarioError(
            f"--evidence {show(evidence)} is not a mode; allowed {', '.join(EVIDENCE_CHOICES)}."
        )
    if not scenarios:
        raise ScenarioError("compare needs at least one scenario besides the baseline.")
    arms: list[Arm] = []
    # folder names: 'A' and 'a' are one folder on Windows and macOS file systems
    seen = {baseline.name.casefold(): (baseline.name, baseline.path)}
    for scenario in scenarios:
        check_same_run(baseline, scenario)
        check_business_case_settings(baseline, scenario)
        if not scenario.has_levers or evidence is None:
            modes: list[str | None] = [None]
        elif evidence == "both":
            modes = list(EVIDENCE_MODES)
        else:
            modes = [evidence]
        for mode in modes:
            name = scenario.name
            if evidence == "both" and mode is not None:
                name = f"{scenario.name}{EVIDENCE_SEPARATOR}{mode}"
                try:
                    safe_component(name, scenario.path)
                except CarescaleError:
                    raise ScenarioError(
                        f"{scenario.path}: 'scenario.name' = {show(scenario.name)} is too long "
                        f"to carry the evidence mode ({show(name)}); allowed: a name of at "
                        f"most {100 - len(EVIDENCE_SEPARATOR + mode)} characters with "
                        "--evidence both."
                    ) from None
            if name.casefold() in seen:
                other, where = seen[name.casefold()]
                same = "" if other == name else f" {show(other)}"
                raise ScenarioError(
                    f"{scenario.path}: scenario name {show(name)} is also the name{same} of "
                    f"{'the baseline' if where == baseline.path else 'the scenario'} "
                    f"{show(where)}; every run of a comparison needs its own name (it names "
                    f"its folder {RUNS}/<name>/, and case is ignored)."
                )
            seen[name.casefold()] = (name, scenario.path)
            chosen = scenario.with_evidence(mode) if mode is not None else scenario
            arms.append(Arm(name, chosen, mode))
    return arms


def default_folder(baseline: Scenario, scenarios: Sequence[Scenario]) -> Path:
    """``results/compare_<baseline>_vs_<first scenario>``."""
    return RESULTS_ROOT / f"compare_{baseline.name}_vs_{scenarios[0].name}"


# ----------------------------------------------------------------------------- running


@dataclass
class Comparison:
    """What a comparison wrote: its manifest fields, summary and comparison tables."""

    manifest: dict[str, Any]
    summary: dict[str, Any]
    differences: pd.DataFrame
    levers: pd.DataFrame


def _write_run(
    folder: Path, name: str, output: Any, extra: dict[str, Any]
) -> dict[str, pd.DataFrame]:
    """Write one run folder (staged inside the comparison's staging folder)."""
    tables = dict(output.tables)
    tables["lever_activity"] = bc.lever_activity_of(tables)
    with Staging(folder / RUNS / name, "run") as stage:
        write_tables(stage, {**output.manifest, "comparison": extra}, tables)
    return tables


def _scaled_person_years(person_years: pd.DataFrame, scale: float) -> pd.DataFrame:
    out = person_years[["replication", "year", "imd_quintile", "segment", "person_years"]].copy()
    out["person_years"] = out["person_years"].astype("float64") * scale
    return out


def _outputs(
    scenarios: Sequence[Scenario],
    workers: int,
    progress: Callable[[int], None] | None,
    side_by_side: bool,
) -> Generator[RunOutput]:
    """The runs of ``scenarios`` in order: one after the other in this process, or
    ``SIDE_BY_SIDE`` at a time in forked processes (each with its share of the threads; at
    most that many runs are held at once, and their tables come back to this process).
    Every run's tables are the same either way (each run is keyed by its scenario and
    replication alone). If a run fails, or the caller stops (an error, an interrupt), the
    processes still running are stopped and the error is raised."""
    if not side_by_side:
        for i, scenario in enumerate(scenarios):
            if i:
                gc.collect()  # what the last run left; its memory serves the next run
            yield run_scenario(scenario, workers=workers, progress=progress)
        return
    context = multiprocessing.get_context("fork")
    # finished years come back on a pipe (a message of a few bytes is one atomic write)
    reader, writer = context.Pipe(duplex=False) if progress is not None else (None, None)
    pool = ProcessPoolExecutor(
        SIDE_BY_SIDE, mp_context=context, initializer=_beside, initargs=(writer,)
    )
    relay = None
    if progress is not None:
        relay = threading.Thread(target=_relay, args=(reader, progress), daemon=True)
        relay.start()
    todo = iter(scenarios)
    running: deque[Future[RunOutput]] = deque()
    try:
        for scenario in todo:
            running.append(pool.submit(_run_beside, scenario))
            if len(running) == SIDE_BY_SIDE:
                break
        while running:
            output = _first_or_error(running)
            following = next(todo, None)
            if following is not None:
                running.append(pool.submit(_run_beside, following))
            yield output
            del output
    except BaseException:  # a failure, SIGINT/SIGTERM or the caller's error
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if writer is not None and reader is not None and relay is not None:
            writer.close()  # with the processes gone, the relay reads the end of the pipe
            relay.join()
            reader.close()


def _first_or_error(running: deque[Future[RunOutput]]) -> RunOutput:
    """The first run's output (taken off ``running``) when it is done, or at once the
    error of any run that fails first."""
    while True:
        for future in running:
            if future.done() and future.exception() is not None:
                future.result()  # raises the run's error
        if running[0].done():
            return running.popleft().result()
        wait([f for f in running if not f.done()], return_when=FIRST_COMPLETED)


#: in a process running beside others (``_beside``): where it reports finished years
_years_done: Any = None


def _beside(writer: Any) -> None:
    """A forked process of ``_outputs``: its share of the threads, and where to report.
    The parent alone answers Ctrl-C, and stops it (SIGTERM) if need be: at once, without
    the command's own handlers."""
    global _years_done
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threads.share_between(SIDE_BY_SIDE)
    _years_done = writer


def _run_beside(scenario: Scenario) -> RunOutput:
    report = _years_done.send if _years_done is not None else None
    return run_scenario(scenario, progress=report)


def _relay(reader: Any, progress: Callable[[int], None]) -> None:
    """Report each finished year a process sends, until every process has gone."""
    while True:
        try:
            n = reader.recv()
        except (EOFError, OSError):
            return
        progress(n)


def run_comparison(
    folder: Path,
    baseline: Scenario,
    arms: Sequence[Arm],
    settings: bc.Settings,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    side_by_side: bool = False,
) -> Comparison:
    """Run the baseline and every arm, and write the comparison into ``folder``.

    ``folder`` is the (staging) path of the comparison folder; the caller commits it. One
    run's tables are held at a time besides the baseline's aggregated activity (two with
    ``side_by_side``: the runs go two at a time in forked processes, see
    ``model.experiments.runs_side_by_side``; the results are the same).
    """
    t0 = time.perf_counter()
    run = baseline.run
    scale = run.scale
    (folder / RUNS).mkdir()
    (folder / COMPARISON).mkdir()
    # the base population is built once for the baseline and the arms of each replication
    # run in this process (model.population.shared_builds)
    runs = _outputs([baseline, *(a.scenario for a in arms)], workers, progress, side_by_side)
    with shared_builds(uses=1 + len(arms)), reuse_freed_memory(), closing(runs) as outputs:
        output = next(outputs)
        base_tables = _write_run(
            folder, baseline.name, output, {"role": "baseline", "baseline": baseline.name}
        )
        base_activity = bc.aggregate_activity(base_tables["activity"], scale)
        person_years = _scaled_person_years(base_tables["person_years"], scale)
        base_levers = bc.scale_lever_activity(bc.lever_activity_of(base_tables), scale)
        replications = list(range(run.replications))
        years = sorted(int(y) for y in base_tables["person_years"]["year"].unique())
        del output, base_tables
        diffs, levers, summaries = [], [], {}
        for arm in arms:
            output = next(outputs)
            tables = _write_run(
                folder,
                arm.name,
                output,
                {"role": "scenario", "baseline": baseline.name, "evidence": arm.evidence},
            )
            diff = bc.differences(
                base_activity, bc.aggregate_activity(tables["activity"], scale), arm.name
            )
            lever = bc.scale_lever_activity(bc.lever_activity_of(tables), scale)
            lever.insert(0, "scenario", arm.name)
            del output, tables
            summaries[arm.name] = {
                "scenario": arm.scenario.name,
                "file": arm.scenario.path,
                "evidence": arm.evidence,
                **bc.scenario_summary(
                    diff, lever, person_years, replications, years, settings, base_levers
                ),
            }
            diffs.append(diff)
            levers.append(lever)
    differences = pd.concat(diffs, ignore_index=True)
    for col in ("scenario", "setting", "service", "mode", "payer", "segment", "ltc_band"):
        differences[col] = differences[col].astype(str).astype("category")
    lever_table = pd.concat(levers, ignore_index=True)
    lever_table["scenario"] = lever_table["scenario"].astype(str)
    differences.to_parquet(folder / COMPARISON / "differences.parquet", index=False)
    lever_table.to_parquet(folder / COMPARISON / "levers.parquet", index=False)
    labels = bc.financial_year_labels(differences)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "uncertainty": bc.UNCERTAINTY_LABEL,
        "interval": bc.INTERVAL_METHOD,
        "baseline": {"name": baseline.name, "file": baseline.path},
        "population": run.population,
        "represents": run.represented,
        "scale": scale,
        "replications": run.replications,
        "seed": run.seed,
        "years": years,
        "financial_years": [labels[y] for y in years] if labels else None,
        "price_year": REPORTING_PRICE_YEAR,
        **settings.as_dict(),
        "headline": dict(bc.HEADLINE),
        "scenarios": summaries,
    }
    text = json.dumps(summary, indent=2, allow_nan=False)
    (folder / COMPARISON / "summary.json").write_text(text + "\n", encoding="utf-8")
    manifest = {
        "baseline": {"name": baseline.name, "file": baseline.path},
        "runs": {
            arm.name: {
                "scenario": arm.scenario.name,
                "file": arm.scenario.path,
                "evidence": arm.evidence,
            }
            for arm in arms
        },
        "run": run.as_dict(),
        "optimism_bias": settings.optimism_bias,
        "model_version": __version__,
        "price_year": REPORTING_PRICE_YEAR,
        "workers": workers,
        "side_by_side": side_by_side,
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    return Comparison(manifest, summary, differences, lever_table)


# ----------------------------------------------------------------------------- summary text


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def cell(est: dict[str, float | None]) -> str:
    """'mean (low to high)' with whole numbers; no interval with one replication."""
    if est["mean"] is None:
        return "n/a"
    if est["low"] is None or est["high"] is None:
        return _number(est["mean"])
    return f"{_number(est['mean'])} ({_number(est['low'])} to {_number(est['high'])})"


def headline_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """The five headline numbers of every run, side by side (rows: quantities)."""
    columns: dict[str, list[str]] = {"": list(bc.HEADLINE.values())}
    for name, case in summary["scenarios"].items():
        columns[name] = [cell(v) for v in bc.headline(case).values()]
    return pd.DataFrame(columns)


__all__ = [
    "COMPARISON",
    "DEFAULT_REPLICATIONS",
    "EVIDENCE_CHOICES",
    "RUNS",
    "SCHEMA_VERSION",
    "Arm",
    "Comparison",
    "check_business_case_settings",
    "check_same_run",
    "default_folder",
    "headline_frame",
    "plan",
    "run_comparison",
]
