"""Benchmark: the baseline engine in-process, and ``carescale run`` end to end against a floor.

Run from the repository root::

    .venv/bin/python benchmarks/baseline.py
    .venv/bin/python benchmarks/baseline.py --sizes 100000 1000000 --years 5 --repeats 3
    .venv/bin/python benchmarks/baseline.py --sizes 1000000 --skip-in-process --repeats 5
    .venv/bin/python benchmarks/baseline.py --sizes 1000000 --skip-in-process \
        --skip-end-to-end --phases

Three measurements, each in a fresh process:

1. In-process, per size ('spawn' child, one replication on one core): the time to build the
   world (population, demand model, services), the simulation time, person-years per
   second, peak resident set size (RSS) and peak RSS above the post-import RSS per person.
2. End to end, at the largest size: ``python -m model run scenarios/baseline.toml
   --population N --years Y --replications 1 --no-progress --out <temp folder>``, wall time
   from start to exit and the child's own peak RSS (``ru_maxrss`` from ``os.wait4``, the
   figure ``getrusage(RUSAGE_CHILDREN)`` would give for that child alone).
3. The reference workload ``floor.py N Y`` (default ``../shared/bench/floor.py`` from the
   repository root) with the same Python; its ``floor_capacity`` seconds are the yardstick.

It prints carescale's end-to-end time as a multiple of ``floor_capacity`` and the peak RSS per
person, with the targets and PASS/MISS. ``--phases`` adds the time per phase of one end-to-end
run (timers around the engine's functions) and a census of its arrays; ``--profile`` a
cProfile of one. It prints figures and asserts nothing: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "scenarios/baseline.toml"
DEFAULT_FLOOR = "../shared/bench/floor.py"  # relative to the repository root
FLOOR_ENGINE = "floor_capacity"

#: targets from the baseline-engine issue (in-process)
TARGET_PY_PER_SECOND = 300_000
TARGET_BYTES_PER_PERSON = 2_000
#: targets from the primary-care issue (end to end, ``carescale run``)
TARGET_RATIO = 6.0
TARGET_CLI_BYTES_PER_PERSON = 1_500

#: what ``carescale run`` imports before it starts work (the post-import RSS baseline)
CLI_IMPORTS = (
    "model.cli",
    "model.kpi",
    "model.experiments",
    "model.outputs",
    "model.scenario",
    "model.engine",
    "model.results",
)


def _maxrss_bytes(who: int = resource.RUSAGE_SELF) -> float:
    rss = resource.getrusage(who).ru_maxrss
    return rss * (1.0 if sys.platform == "darwin" else 1024.0)


def _maxrss_mb() -> float:
    return _maxrss_bytes() / 1e6


# ----------------------------------------------------------------------------- in-process


def _measure(size: int, years: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    from model.engine import Engine
    from model.scenario import load_scenario

    rss_import = _maxrss_mb()
    scenario = load_scenario(REPO_ROOT / SCENARIO).with_run(
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


# ----------------------------------------------------------------------------- children


def _tree_rss(pid: int) -> int:
    """RSS (bytes) of process ``pid`` and every process under it, now (0 once gone)."""
    total, todo, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def _run_child(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd``; wall seconds from start to exit, its peak RSS, exit code, output.

    The peak RSS is the child's own high-water mark, or, if larger, the largest sum of the
    RSS of the child and the processes it started (sampled every 0.1 s; Linux), so that a
    command whose work runs in processes beside it is measured whole (pages those processes
    share are counted in each: an over-estimate)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        tree = {"peak": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                tree["peak"] = max(tree["peak"], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        if sys.platform.startswith("linux"):
            sampler.start()
        # wait4 gives the rusage of this child alone (RUSAGE_CHILDREN is a maximum over
        # every child reaped so far, including the in-process measurements)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        done.set()
        if sampler.is_alive():
            sampler.join()
        cpu = usage.ru_utime + usage.ru_stime
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        scale = 1.0 if sys.platform == "darwin" else 1024.0
        return {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "peak_rss_bytes": max(usage.ru_maxrss * scale, tree["peak"]),
            "returncode": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def _post_import_rss(modules: tuple[str, ...] = CLI_IMPORTS) -> float:
    """Peak RSS (bytes) of a fresh Python that only imports ``modules`` (by default what
    ``carescale run`` imports)."""
    # a module that a later version no longer has is skipped
    code = (
        "import contextlib, importlib\n"
        f"for m in {modules!r}:\n"
        "    with contextlib.suppress(ImportError):\n"
        "        importlib.import_module(m)\n"
    )
    r = _run_child([sys.executable, "-c", code], REPO_ROOT)
    if r["returncode"] != 0:
        raise RuntimeError(f"importing the model failed:\n{r['stderr']}")
    return float(r["peak_rss_bytes"])


def _cli_command(size: int, years: int, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "model",
        "run",
        SCENARIO,
        "--population",
        str(size),
        "--years",
        str(years),
        "--replications",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]


def _cli_run(size: int, years: int) -> dict[str, Any]:
    """``carescale run`` end to end into a temporary folder, results written."""
    with tempfile.TemporaryDirectory(prefix="carescale-bench-") as tmp:
        out = Path(tmp) / "run"
        r = _run_child(_cli_command(size, years, out), REPO_ROOT)
        manifest = out / "manifest.json"
        if r["returncode"] != 0 or not manifest.is_file():
            tail = (r["stderr"] or r["stdout"]).strip().splitlines()[-5:]
            raise RuntimeError(
                f"carescale run failed (exit {r['returncode']}):\n" + "\n".join(tail)
            )
        r["engine_s"] = float(json.loads(manifest.read_text())["wall_seconds"])
        r["files"] = sorted(p.name for p in out.iterdir())
    return r


def _floor_run(floor: Path, size: int, years: int) -> dict[str, Any]:
    """The reference workload; seconds of each of its engines (population build excluded)."""
    r = _run_child([sys.executable, str(floor), str(size), str(years)], floor.parent)
    engines = {}
    for line in r["stdout"].splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rec = json.loads(line)
            if isinstance(rec, dict) and "engine" in rec:
                engines[rec["engine"]] = float(rec["seconds"])
    if r["returncode"] != 0 or FLOOR_ENGINE not in engines:
        tail = (r["stderr"] or r["stdout"]).strip().splitlines()[-5:]
        raise RuntimeError(
            f"{floor} failed (exit {r['returncode']}) or printed no {FLOOR_ENGINE}:\n"
            + "\n".join(tail)
        )
    r["engines"] = engines
    return r


def floor_imports(floor: Path) -> list[str]:
    """Top-level modules the floor workload imports outside the standard library and the
    files beside ``floor`` (read from the source, nothing is run)."""
    local = {p.stem for p in floor.parent.glob("*.py")}
    found: set[str] = set()
    todo, seen = [floor], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in local:
                    todo.append(floor.parent / f"{top}.py")
                elif top not in sys.stdlib_module_names:
                    found.add(top)
    return sorted(found)


# ----------------------------------------------------------------------------- phases

#: (key, parent key, module, attribute path, label) of the phases timed by ``--phases``. A
#: row whose function no longer exists is reported as missing, so the table survives changes
#: to the engine. ``a|b`` times the first of ``a``, ``b`` that exists; groups time several
#: functions under one key (``_GROUPS``); ``@start_year`` and ``@day`` stand for one row per
#: service of the engine (``engine.services``, or its ``gp``, ``acute``, ``community``), keyed
#: ``start_year:<name>`` and ``day:<name>``; parent ``*``: spread over other rows, or run
#: beside them on another thread (``_BESIDE``); not summed.
PHASES: tuple[tuple[str, str, str, str, str], ...] = (
    ("check", "", "model.experiments", "check_workload", "workload check (5,000-person sample)"),
    ("run", "", "model.experiments", "run_scenario", "run_scenario (the simulation)"),
    ("world", "run", "model.engine", "Engine.__init__", "world build (Engine.__init__)"),
    ("pop", "world", "model.engine", "build_population", "population (incl. calibration)"),
    ("demand", "world", "model.engine", "DemandModel.build", "demand model"),
    ("services", "world", "", "services_init", "services set-up"),
    ("begin", "run", "model.engine", "Engine._begin_year", "year start (Engine._begin_year)"),
    ("rates", "begin", "model.world", "World.rates", "demand rates (World.rates)"),
    ("draws", "begin", "model.engine", "draw_events", "event draws (draw_events)"),
    ("start_year", "begin", "", "@start_year", "start_year"),
    ("day", "run", "", "@day", "day loop"),
    ("ae", "day:acute", "model.services.acute", "AcuteService._ae", "A&E"),
    ("beds", "day:acute", "model.services.acute", "AcuteService._beds",
     "beds, emergency and elective admissions"),
    ("end", "run", "model.engine", "Engine._end_year", "year end (Engine._end_year)"),
    ("ledger", "end", "model.ledger", "Ledger.end_year", "ledger tallies (Ledger.end_year)"),
    ("advance", "run", "model.engine", "Engine._advance_population",
     "deaths leave, survivors age (_advance_population)"),
    ("entrants", "run", "model.engine", "Engine._add_entrants", "entrants (_add_entrants)"),
    ("tables", "run", "model.ledger", "Ledger.tables", "final tables (Ledger.tables)"),
    ("write", "", "model.results", "write_tables|write_results", "write parquet and manifest"),
    ("kpi", "*", "", "kpi", "console summary tables (model.kpi)"),
    ("records", "*", "", "ledger_records", "ledger records (count, coded, keys, waits)"),
    ("ahead", "*", "model.engine", "Engine._next_year",
     "the next year made ahead on a thread of its own (Engine._next_year)"),
)  # fmt: skip
#: rows that run on another thread beside other rows: where, printed below the table
_BESIDE = {
    "ahead": "beside the day loop (not in the total)",
    "kpi": "beside writing parquet (not in the total)",
}
_GROUPS = {
    "services_init": [
        ("model.services.registry", "Registry.build"),
        ("model.services.gp", "GPService.__init__"),
        ("model.services.acute", "AcuteService.__init__"),
        ("model.services.community", "CommunityService.__init__"),
    ],
    "ledger_records": [
        ("model.ledger", "Ledger.count"),
        ("model.ledger", "Ledger.count_coded"),
        ("model.ledger", "Ledger.count_keys"),
        ("model.ledger", "Ledger.waits"),
    ],
    "kpi": [("model.kpi", "activity_by_year"), ("model.kpi", "cost_by_payer")],
}


def _services_of(engine: Any) -> dict[str, Any]:
    """The engine's services by name (a registry's dict, or the older fixed attributes)."""
    found = getattr(engine, "services", None)
    if isinstance(found, dict):
        return dict(found)
    return {n: getattr(engine, n) for n in ("gp", "acute", "community") if hasattr(engine, n)}


class _Timers:
    """Wraps functions with wall-clock timers and notes the growth of the peak RSS.

    A phase with a parent is counted only while its parent runs (the workload check builds
    its own demand model, which is not the run's); re-entrant calls are counted once.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        #: growth of the peak RSS (high-water mark) during the calls, bytes
        self.peak_growth: dict[str, float] = {}
        self.missing: list[str] = []
        #: rows for the services found at run time: (key, parent, label)
        self.dynamic: list[tuple[str, str, str]] = []
        self._depth: dict[str, int] = {}

    def wrap(self, key: str, parent: str, module: str, path: str) -> None:
        """Time ``module.path`` (the first existing alternative of ``a|b``)."""
        import importlib

        for alternative in path.split("|"):
            try:
                owner: Any = importlib.import_module(module)
                *parents, name = alternative.split(".")
                for p in parents:
                    owner = getattr(owner, p)
                getattr(owner, name)
            except (ImportError, AttributeError):
                continue
            self.wrap_attr(key, parent, owner, name)
            return
        self.missing.append(f"{module}.{path}")

    def wrap_attr(self, key: str, parent: str, owner: Any, name: str) -> None:
        """Replace ``owner.name`` (a class's function, a module's or an instance's) by a timed
        version."""
        fn = getattr(owner, name)
        for d in (self.seconds, self.peak_growth):
            d.setdefault(key, 0.0)
        self.calls.setdefault(key, 0)
        depth = self._depth
        depth.setdefault(key, 0)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if (parent not in ("", "*") and depth.get(parent, 0) == 0) or depth[key] > 0:
                return fn(*args, **kwargs)
            self.calls[key] += 1
            depth[key] += 1
            hwm = _maxrss_bytes()
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[key] -= 1
                self.seconds[key] += time.perf_counter() - t0
                self.peak_growth[key] += _maxrss_bytes() - hwm

        setattr(owner, name, timed)

    def wrap_services(self, engine: Any) -> None:
        """Time each service's ``start_year`` and ``day`` (on the instances)."""
        for name, service in _services_of(engine).items():
            for method, parent in (("start_year", "begin"), ("day", "run")):
                key = f"{method}:{name}"
                if key not in self.seconds and hasattr(service, method):
                    self.dynamic.append((key, parent, f"{name}: {method}"))
                if hasattr(service, method):
                    self.wrap_attr(key, parent, service, method)


def _phase_rows(dynamic: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(key, parent, label) of every phase in print order, services expanded in place."""
    static = [(k, p, label) for k, p, _, path, label in PHASES if not path.startswith("@")]
    rows: list[tuple[str, str, str]] = []

    def emit(row: tuple[str, str, str]) -> None:
        rows.append(row)
        rows.extend(r for r in static if r[1] == row[0] and ":" in r[1])

    for key, parent, _, path, label in PHASES:
        if ":" in parent:
            continue  # placed under its service
        if path.startswith("@"):
            for row in dynamic:
                if row[0].startswith(path[1:] + ":"):
                    emit(row)
        else:
            emit((key, parent, label))
    return rows


def _nbytes_tree(obj: Any, seen: set[int], depth: int = 0) -> int:
    """Bytes of the distinct numpy buffers reachable from ``obj`` (fields, dicts, lists)."""
    import numpy as np

    if depth > 6:
        return 0
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen:
            return 0
        seen.add(id(base))
        return int(base.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes_tree(v, seen, depth + 1) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_nbytes_tree(v, seen, depth + 1) for v in obj)
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("model."):
        return sum(_nbytes_tree(v, seen, depth + 1) for v in vars(obj).values())
    return 0


def _census(engine: Any) -> dict[str, Any]:
    """Bytes held in numpy arrays by each part of the engine (a buffer shared by two parts is
    counted once, in the first), events per person-year and bytes per event."""
    w = engine.world
    seen: set[int] = set()
    parts: dict[str, dict[str, int]] = {}
    parts["population arrays"] = {k: _nbytes_tree(v, seen) for k, v in w.pop.arrays().items()}
    parts["demand: propensities, risk codes"] = {
        "propensity": _nbytes_tree(w.propensity, seen),
        "risk_code": _nbytes_tree(w.risk_code, seen),
    }
    parts["year arrays (strata, death day, exposure)"] = {
        k: _nbytes_tree(getattr(w, k), seen) for k in ("strata", "death_day", "exposure_days")
    }
    parts["demand events of the year"] = {s: _nbytes_tree(e, seen) for s, e in w.events.items()}
    for name, svc in _services_of(engine).items():
        parts[f"{name} service"] = {k: _nbytes_tree(v, seen) for k, v in vars(svc).items()}
    year = getattr(w.ledger, "_year", None)
    if year is not None:
        parts["ledger records of the year"] = {
            k: _nbytes_tree(v, seen) for k, v in vars(year).items()
        }
    events = {s: int(e.size) for s, e in w.events.items()}
    per_event = {
        s: sum(getattr(e, f).itemsize for f in ("person", "k", "day")) for s, e in w.events.items()
    }
    return {
        "size": int(w.pop.size),
        "bytes": {k: {a: b for a, b in v.items() if b} for k, v in parts.items()},
        "events": events,
        "bytes_per_event": per_event,
        "population_fields": {k: (str(v.dtype), v.shape[1:]) for k, v in w.pop.arrays().items()},
    }


def _phases(size: int, years: int, profile: bool, top: int) -> dict[str, Any]:
    """One ``carescale run`` inside this process with timers (or cProfile) on its phases."""
    t0 = time.perf_counter()
    import model.cli
    import model.engine

    t_import = time.perf_counter() - t0
    rss_import = _maxrss_bytes()
    timers = _Timers()
    if not profile:
        for key, parent, module, path, _ in PHASES:
            if not path.startswith("@"):
                missing = len(timers.missing)
                group = _GROUPS.get(path, [(module, path)])
                for mod, attr in group:
                    timers.wrap(key, parent, mod, attr)
                if len(timers.missing) - missing < len(group):  # a group needs one member
                    del timers.missing[missing:]
    marks: list[tuple[str, float]] = [("imports", rss_import)]
    census: dict[str, Any] = {}
    engine_cls: Any = model.engine.Engine
    begin, end = engine_cls._begin_year, engine_cls._end_year

    def begin_year(self: Any, year: int, ready: Any = None) -> None:
        begin(self, year, ready)
        marks.append((f"year {year} started", _maxrss_bytes()))

    def end_year(self: Any) -> None:
        if self.world.year == self.scenario.run.years - 1:
            census.update(_census(self))
        end(self)
        marks.append((f"year {self.world.year} ended", _maxrss_bytes()))

    engine_cls._begin_year, engine_cls._end_year = begin_year, end_year
    init = engine_cls.__init__

    def engine_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        marks.append(("world built", _maxrss_bytes()))
        if not profile:
            timers.wrap_services(self)

    engine_cls.__init__ = engine_init
    import model.experiments

    run_scenario = model.experiments.run_scenario

    def run_and_mark(*args: Any, **kwargs: Any) -> Any:
        out = run_scenario(*args, **kwargs)
        marks.append(("tables made", _maxrss_bytes()))
        return out

    model.experiments.run_scenario = run_and_mark
    with tempfile.TemporaryDirectory(prefix="carescale-bench-") as tmp:
        argv = _cli_command(size, years, Path(tmp) / "run")[3:]
        os.chdir(REPO_ROOT)
        stats_text = ""
        t1 = time.perf_counter()
        console = io.StringIO()
        with contextlib.redirect_stdout(console):
            if profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                code = prof.runcall(model.cli.main, argv)
                buf = io.StringIO()
                stats = pstats.Stats(prof, stream=buf).strip_dirs()
                stats.sort_stats("tottime").print_stats(top)
                stats.sort_stats("cumulative").print_stats(top)
                stats_text = buf.getvalue()
            else:
                code = model.cli.main(argv)
        t_main = time.perf_counter() - t1
    if code != 0:
        tail = "\n".join(console.getvalue().strip().splitlines()[-5:])
        raise RuntimeError(f"carescale run failed (exit {code}):\n{tail}")
    marks.append(("results written", _maxrss_bytes()))
    return {
        "exit": code,
        "import_s": t_import,
        "main_s": t_main,
        "seconds": timers.seconds,
        "calls": timers.calls,
        "peak_growth": timers.peak_growth,
        "rows": _phase_rows(timers.dynamic),
        "missing": timers.missing,
        "rss_marks": marks,
        "census": census,
        "profile": stats_text,
    }


# ----------------------------------------------------------------------------- printing


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _spread(values: list[float], fmt: str = ".2f") -> str:
    if len(values) < 2:
        return "-"
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    # carescale's passes over people use the cores (model.threads); the reference uses one
    try:
        from model import threads

        used = f"; carescale uses {threads.count()} thread(s) for its passes over people"
    except ImportError:  # pragma: no cover - run outside the repository
        used = ""
    return f"{os.cpu_count()} CPUs ({cpu}){used}, the reference workload one"


def _commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        r = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if r.returncode == 0:
            return r.stdout.strip()
    return "unknown"


def _print_in_process(args: argparse.Namespace, ctx: Any) -> None:
    print(
        f"In-process engine (build + simulate, no writing), {args.years} years, "
        f"{args.repeats} repeat(s), medians:\n"
    )
    header = (
        f"{'people':>10} {'build s':>8} {'simulate s':>11} {'total s':>8} {'spread s':>11} "
        f"{'person-years/s':>15} {'peak RSS MB':>12} {'bytes/person':>13}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        runs = []
        for _ in range(args.repeats):
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                runs.append(pool.submit(_measure, size, args.years, args.seed).result())

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return _median([r[key] for r in runs])

        print(
            f"{size:>10,} {med('build_s'):>8.2f} {med('simulate_s'):>11.2f} "
            f"{med('total_s'):>8.2f} {_spread([r['total_s'] for r in runs]):>11} "
            f"{med('py_per_s'):>15,.0f} {med('peak_rss_mb'):>12,.0f} "
            f"{med('bytes_per_person'):>13,.0f}"
        )
    print(
        f"\nin-process targets: >= {TARGET_PY_PER_SECOND:,} person-years/s (1 M x 5 years "
        f"<= 17 s) and <= {TARGET_BYTES_PER_PERSON:,} bytes per person (peak RSS above the "
        "RSS after import, divided by the population)\n"
    )


#: columns of the end-to-end table: (heading, record key, number format)
_E2E_COLUMNS = (
    ("carescale s", "cli_s", ".2f"),
    ("cpu s", "cli_cpu_s", ".2f"),
    ("run_scenario s", "engine_s", ".2f"),
    ("peak RSS MB", "rss_mb", ",.0f"),
    ("bytes/person", "bpp", ",.0f"),
    (f"{FLOOR_ENGINE} s", "floor_s", ".3f"),
    ("floor cpu/wall", "floor_busy", ".0%"),
    ("ratio", "ratio", ".2f"),
    ("load", "load", ".1f"),
)


def _print_end_to_end(args: argparse.Namespace, floor: Path, size: int) -> None:
    years = args.years
    base = _post_import_rss()
    print(
        f"End to end: `python -m model run {SCENARIO} --population {size} --years {years} "
        "--replications 1 --no-progress --out <temp>` (wall time from start to exit, results "
        f"written) against `{floor.name} {size} {years}` ({FLOOR_ENGINE}), "
        f"{args.repeats} repeat(s):\n"
    )
    widths = [max(len(h), 9) for h, _, _ in _E2E_COLUMNS]
    header = f"{'repeat':>6} " + " ".join(
        f"{h:>{w}}" for (h, _, _), w in zip(_E2E_COLUMNS, widths, strict=True)
    )

    def line(name: str, cells: list[str]) -> None:
        print(f"{name:>6} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))

    print(header)
    print("-" * len(header))
    recs: list[dict[str, float]] = []
    for i in range(args.repeats):
        c = _cli_run(size, years)
        f = _floor_run(floor, size, years)
        recs.append(
            {
                "cli_s": c["seconds"],
                "cli_cpu_s": c["cpu_seconds"],
                "engine_s": c["engine_s"],
                "rss_mb": c["peak_rss_bytes"] / 1e6,
                "bpp": (c["peak_rss_bytes"] - base) / size,
                "floor_s": f["engines"][FLOOR_ENGINE],
                "floor_busy": f["cpu_seconds"] / f["seconds"],
                "ratio": c["seconds"] / f["engines"][FLOOR_ENGINE],
                "load": os.getloadavg()[0],
            }
        )
        line(str(i + 1), [format(recs[-1][k], fmt) for _, k, fmt in _E2E_COLUMNS])
    print("-" * len(header))

    def col(key: str) -> list[float]:
        return [r[key] for r in recs]

    ratio = _median(col("cli_s")) / _median(col("floor_s"))
    meds = {k: _median(col(k)) for _, k, _ in _E2E_COLUMNS}
    meds["ratio"] = ratio
    line("median", [format(meds[k], fmt) for _, k, fmt in _E2E_COLUMNS])
    if args.repeats > 1:
        line("spread", [_spread(col(k), fmt) for _, k, fmt in _E2E_COLUMNS])
    print(
        "\ncpu s: the child's user + system CPU time; floor cpu/wall: CPU time of the whole "
        "floor process over its wall time (below ~95 % the process waited for a CPU); "
        "load: 1-minute load average after the repeat"
    )
    print(
        f"post-import RSS {base / 1e6:,.0f} MB (a fresh Python importing "
        f"{', '.join(CLI_IMPORTS)}); bytes/person = (child's peak RSS - post-import RSS) / "
        "people"
    )
    best = min(col("cli_s")) / min(col("floor_s"))
    cpu_ratio = _median(col("cli_cpu_s")) / _median(col("floor_s"))
    print(
        f"ratio: median carescale / median {FLOOR_ENGINE} = {ratio:.2f}; median of the "
        f"per-repeat ratios {_median(col('ratio')):.2f}; best / best {best:.2f}; median "
        f"carescale CPU time / median {FLOOR_ENGINE} {cpu_ratio:.2f} (less sensitive to "
        "other work on the machine)\n"
    )
    mb = meds["bpp"]
    print(f"{'target':<44} {'measured':>10} {'target':>10}  result")
    print(
        f"{'time: carescale / ' + FLOOR_ENGINE + ' (medians)':<44} {ratio:>9.2f}x "
        f"{'<= ' + format(TARGET_RATIO, 'g') + 'x':>10}  {_pass(ratio <= TARGET_RATIO)}"
    )
    print(
        f"{'memory: peak RSS above post-import / person':<44} {mb:>8,.0f} B "
        f"{'<= ' + format(TARGET_CLI_BYTES_PER_PERSON, ',') + ' B':>10}  "
        f"{_pass(mb <= TARGET_CLI_BYTES_PER_PERSON)}"
    )
    print(
        f"\nat {TARGET_RATIO:g}x the run would take {TARGET_RATIO * meds['floor_s']:.1f} s "
        f"on this machine now; 1.5 KB per person = {TARGET_CLI_BYTES_PER_PERSON:,} bytes"
    )
    busy = min(min(r["cli_cpu_s"] / r["cli_s"] for r in recs), *col("floor_busy"))
    if busy < 0.95:
        print(
            f"note: a process waited for a CPU (CPU/wall down to {busy:.0%}; "
            f"load average up to {max(col('load')):.1f} on {os.cpu_count()} CPUs): other work "
            "inflated some timings; compare best times or rerun when the machine is idle"
        )
    print()


def _print_phases(args: argparse.Namespace, ctx: Any, size: int) -> None:
    runs = []
    for _ in range(1 if args.profile else args.repeats):
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            runs.append(pool.submit(_phases, size, args.years, args.profile, args.top).result())
    r = runs[-1]
    if args.profile:
        print(f"cProfile of one `carescale run` ({size:,} x {args.years} years) in-process:\n")
        print(r["profile"])
        return
    totals = [x["import_s"] + x["main_s"] for x in runs]
    total = _median(totals)
    print(
        f"Time per phase of `carescale run` ({size:,} people x {args.years} years) in-process "
        f"with timers, median of {len(runs)} run(s); inclusive times, indented rows are parts "
        "of the row above; share of the median total; peak +MB: growth of the peak RSS "
        "during the phase:\n"
    )
    header = (
        f"{'phase':<54} {'calls':>6} {'seconds':>8} {'spread':>11} {'share':>6} {'peak +MB':>9}"
    )
    print(header)
    print("-" * len(header))

    def row(label: str, calls: str, secs: list[float], grow: list[float], indent: int) -> None:
        name = "  " * indent + label
        med = _median(secs)
        mb = f"{_median(grow) / 1e6:,.0f}" if grow else "-"
        print(f"{name:<54} {calls:>6} {med:>8.2f} {_spread(secs):>11} {med / total:>6.1%} {mb:>9}")

    def col(key: str, what: str = "seconds") -> list[float]:
        return [x[what][key] for x in runs]

    # the main command as a whole: its time, and the peak's growth after the imports
    whole_main = {
        "seconds": [x["main_s"] for x in runs],
        "peak_growth": [x["rss_marks"][-1][1] - x["rss_marks"][0][1] for x in runs],
    }

    def rest(parent: str, what: str, summed: dict[str, list[float]]) -> list[float]:
        whole = whole_main[what] if parent == "" else col(parent, what)
        parts = summed.get(parent, [0.0] * len(runs))
        return [w - p for w, p in zip(whole, parts, strict=True)]

    def add(acc: dict[str, list[float]], parent: str, values: list[float]) -> None:
        prev = acc.get(parent, [0.0] * len(runs))
        acc[parent] = [a + b for a, b in zip(prev, values, strict=True)]

    row("imports (model.cli and the engine)", "1", [x["import_s"] for x in runs], [], 0)
    depth = {"": -1}
    t_sum: dict[str, list[float]] = {}
    g_sum: dict[str, list[float]] = {}
    in_run = False
    for key, parent, label in r["rows"]:
        if key not in r["seconds"] or parent == "*" or not r["calls"][key]:
            continue
        if in_run and parent == "":  # leaving run_scenario: what its rows did not cover
            row(
                "rest of run_scenario (SimPy, concat, manifest)",
                "",
                rest("run", "seconds", t_sum),
                rest("run", "peak_growth", g_sum),
                1,
            )
        in_run = key == "run" or (in_run and parent != "")
        depth[key] = depth.get(parent, 0) + 1
        add(t_sum, parent, col(key))
        add(g_sum, parent, col(key, "peak_growth"))
        row(label, str(r["calls"][key]), col(key), col(key, "peak_growth"), depth[key])
    row(
        "rest of the command (scenario, checks, staging)",
        "",
        rest("", "seconds", t_sum),
        rest("", "peak_growth", g_sum),
        0,
    )
    print("-" * len(header))
    row("total (imports + carescale main)", "", totals, whole_main["peak_growth"], 0)
    for key, parent, label in r["rows"]:
        if parent == "*" and key in r["seconds"] and r["calls"][key]:
            where = _BESIDE.get(key, "of which spread over the rows above")
            print(
                f"{where}: {label}, {r['calls'][key]:,} calls, "
                f"{_median(col(key)):.2f} s ({_median(col(key)) / total:.1%})"
            )
    if r["missing"]:
        print(f"\nnot found (the engine changed; rows left out): {', '.join(r['missing'])}")
    print("\nPeak RSS (high-water mark) at points of the last run:")
    for label, b in r["rss_marks"]:
        print(f"  {label:<22} {b / 1e6:>8,.0f} MB")
    c = r["census"]
    if c:
        n = c["size"]
        print(
            f"\nArrays held at the end of the last year ({n:,} people), bytes per person "
            "(a buffer shared by two parts is counted in the first):"
        )
        for part, attrs in c["bytes"].items():
            detail = ", ".join(f"{a} {b / n:,.1f}" for a, b in attrs.items() if b / n >= 0.05)
            print(f"  {part:<44} {sum(attrs.values()) / n:>7,.1f}   ({detail})")
        total_b = sum(sum(a.values()) for a in c["bytes"].values())
        print(f"  {'total':<44} {total_b / n:>7,.1f}")
        print("\nDemand events in the last year: per person-year, bytes per event (arrays):")
        for s, e in c["events"].items():
            print(f"  {s:<22} {e / n:>7.3f} {c['bytes_per_event'][s]:>4}")
        print(f"  {'total':<22} {sum(c['events'].values()) / n:>7.3f}")
    print()


# ----------------------------------------------------------------------------- main


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_positive,
        nargs="+",
        default=[100_000, 1_000_000],
        help="people per in-process run; the end-to-end run uses the largest (default: "
        "100000 1000000)",
    )
    parser.add_argument("--years", type=_positive, default=5, help="simulated years (default 5)")
    parser.add_argument(
        "--repeats", type=_positive, default=1, help="runs of each measurement (default 1)"
    )
    parser.add_argument("--seed", type=int, default=2024, help="seed of the in-process runs")
    parser.add_argument(
        "--floor",
        type=Path,
        default=None,
        help=f"the reference workload (default {DEFAULT_FLOOR} relative to the repository root)",
    )
    parser.add_argument(
        "--skip-in-process", action="store_true", help="leave out the in-process measurements"
    )
    parser.add_argument(
        "--skip-end-to-end", action="store_true", help="no end-to-end comparison with the floor"
    )
    parser.add_argument(
        "--phases", action="store_true", help="also time the phases of the end-to-end run"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="a cProfile of one end-to-end run (instead of the --phases timers)",
    )
    parser.add_argument("--top", type=_positive, default=25, help="rows of the profile")
    args = parser.parse_args(argv)
    floor = args.floor if args.floor is not None else REPO_ROOT / DEFAULT_FLOOR
    floor = floor.resolve()
    if not args.skip_end_to_end and not floor.is_file():
        print(f"reference workload not found: {floor} (give its path with --floor PATH)")
        return 2
    size = max(args.sizes)
    ctx = multiprocessing.get_context("spawn")
    print(
        f"carescale baseline benchmark: {time.strftime('%Y-%m-%d %H:%M')}, "
        f"Python {platform.python_version()}, {_machine()}, commit {_commit()}"
    )
    if floor.is_file():
        print(
            f"reference workload {floor}; its imports outside the standard library: "
            f"{', '.join(floor_imports(floor)) or 'none'}"
        )
    print()
    if not args.skip_in_process:
        _print_in_process(args, ctx)
    if not args.skip_end_to_end:
        _print_end_to_end(args, floor, size)
    if args.phases or args.profile:
        _print_phases(args, ctx, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
