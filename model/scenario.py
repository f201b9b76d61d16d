"""Scenario files: declarative TOML -> validated, immutable ``Scenario``.

A scenario file has readable sections::

    [scenario]  name, description, extends (a base scenario file, relative path)
    [run]       population, years, start_year, replications, seed, base_year, and
                represents (the real population the simulated sample stands for; by default
                the population written in the file, so --population changes the sample,
                not the place)
    [capacity]  capacity settings; every key is a register entry ``capacity.<key>`` and
                defaults to the register's value (e.g. [capacity.gp] appointments_per_...)
    [parameters] overrides of any other register entry by full key, e.g.
                "demand.gp.female_multiplier" = 1.3
    [levers]    personalised-care levers (none in the baseline)

A scenario that ``extends`` another starts from it and overrides what it names. Every
mistake (unknown section or key, wrong type, negative capacity, probability above 1, missing
file) is reported in one sentence naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.errors import CarescaleError, RegisterError, ScenarioError, show
from model.outputs import safe_component
from model.population import check_size
from model.register import Register, default_register, unknown_key_message
from model.streams import check_seed
from model.tables import population_years
from model.years import DEFAULT_YEAR_STARTS, YEAR_STARTS

SECTIONS = ("scenario", "run", "capacity", "parameters", "levers")
MAX_YEARS = 30
MAX_REPLICATIONS = 10_000
#: the population keeps its base-year structure, so the first simulated year stays close to it
MAX_START_GAP = 5
_MAX_EXTENDS_DEPTH = 10
MAX_DESCRIPTION_CHARS = 10_000
#: the evidence behind a lever's effect priors ("controlled" is the default of [levers])
EVIDENCE_MODES = ("before_after", "controlled")


@dataclass(frozen=True)
class RunSettings:
    """How to run a scenario (not model parameters)."""

    population: int
    years: int
    start_year: int
    replications: int
    seed: int
    base_year: int
    #: the real population the sample stands for (0: the sample itself)
    represents: int = 0
    #: where a simulated year starts: "january" or "april" (NHS financial years)
    year_starts: str = DEFAULT_YEAR_STARTS

    @property
    def represented(self) -> int:
        """The population the results stand for (``represents``, or the sample size)."""
        return self.represents or self.population

    @property
    def scale(self) -> float:
        """Represented people per simulated person (totals x scale = the place's totals)."""
        return self.represented / self.population

    def as_dict(self) -> dict[str, int | str]:
        """Plain dict (for manifests)."""
        return {
            "population": self.population,
            "years": self.years,
            "start_year": self.start_year,
            "replications": self.replications,
            "seed": self.seed,
            "base_year": self.base_year,
            "represents": self.represented,
            "year_starts": self.year_starts,
        }


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario: settings, the register with overrides applied, and levers."""

    name: str
    description: str
    path: str
    run: RunSettings
    register: Register
    capacity_overrides: Mapping[str, Any] = field(default_factory=dict)
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    levers: Mapping[str, Any] = field(default_factory=dict)
    chain: tuple[str, ...] = ()

    def with_run(self, **changes: int | str | None) -> Scenario:
        """A copy with run settings replaced (``None`` values are ignored), re-validated."""
        values = {k: v for k, v in changes.items() if v is not None}
        if not values:
            return self
        merged = {**self.run.as_dict(), **values}
        run = _run_settings(merged, "command line")
        last = run.start_year + run.years - 1
        for name, lever in self.levers.items():
            if not run.start_year <= lever.start_year <= last:
                raise ScenarioError(
                    f"{lever.where}: 'levers.{name}.start_year' = {lever.start_year} is outside "
                    f"the run's horizon with --years {run.years} ({run.start_year} to {last})."
                )
        return replace(self, run=run)

    def _levers_resolved(self) -> dict[str, Any]:
        if not self.levers:
            return {}
        from model.interventions import describe

        return {n: describe(s, self.register, self.run) for n, s in self.levers.items()}

    def with_evidence(self, mode: str) -> Scenario:
        """A copy with every lever's evidence mode set to ``mode``."""
        if mode not in EVIDENCE_MODES:
            raise ScenarioError(
                f"evidence mode {show(mode)} is not allowed; allowed values are "
                f"{', '.join(EVIDENCE_MODES)}."
            )
        return replace(self, levers={n: replace(s, evidence=mode) for n, s in self.levers.items()})

    @property
    def has_levers(self) -> bool:
        """True if the scenario declares at least one lever (a ``[levers.<name>]`` table)."""
        return bool(self.levers)

    def resolved(self) -> dict[str, Any]:
        """Every setting as used (capacities resolved from the register), for manifests."""
        capacity = {
            p.key[len("capacity.") :]: (list(p.value) if p.is_vector else p.value[0])
            for p in self.register.select("capacity")
        }
        return {
            "name": self.name,
            "description": self.description,
            "file": self.path,
            "extends_chain": list(self.chain),
            "run": self.run.as_dict(),
            "capacity": capacity,
            "parameters": dict(self.parameter_overrides),
            "levers": self._levers_resolved(),
        }


def _read_toml(path: Path) -> dict[str, Any]:
    shown = show(str(path))
    if path.is_dir():
        raise ScenarioError(f"scenario file {shown} is a directory; give a scenario .toml file.")
    if not path.is_file():
        raise ScenarioError(f"scenario file {shown} does not exist.")
    try:
        # utf-8-sig: accept the byte-order mark some Windows editors add
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError(f"{shown}: not UTF-8 text; save the scenario as UTF-8.") from None
    except OSError as exc:
        raise ScenarioError(f"scenario file {shown} cannot be read ({exc.strerror}).") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{shown}: not valid TOML ({exc}).") from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """Merged raw sections of a scenario and its ``extends`` chain (base first)."""
    if len(seen) > _MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            f"{path}: 'extends' chain is longer than {_MAX_EXTENDS_DEPTH} files "
            f"(starting at {seen[0].name})."
        )
    raw = _read_toml(path)
    for section in raw:
        if section not in SECTIONS:
            raise ScenarioError(
                f"{path}: unknown section [{section}]; allowed sections are "
                f"{', '.join('[' + s + ']' for s in SECTIONS)}."
            )
        if not isinstance(raw[section], dict):
            raise ScenarioError(
                f"{path}: '{section}' must be a [section], got {show(raw[section])}."
            )
    meta = raw.get("scenario", {})
    for k in meta:
        if k not in ("name", "description", "extends"):
            raise ScenarioError(
                f"{path}: unknown key 'scenario.{k}'; allowed keys are name, description, extends."
            )
    merged: dict[str, Any] = {s: {} for s in SECTIONS}
    chain: list[str] = []
    base = meta.get("extends")
    if base is not None:
        if not isinstance(base, str):
            raise ScenarioError(
                f"{path}: 'scenario.extends' must be a file name, got {show(base)}."
            )
        base_path = (path.parent / base).resolve()
        here = (*seen, path.resolve())
        if base_path in here:
            cycle = [p.name for p in here[here.index(base_path) :]] + [base_path.name]
            raise ScenarioError(
                f"{path}: 'scenario.extends' = {show(base)} makes a cycle "
                f"({' -> '.join(cycle)}); a scenario cannot extend itself."
            )
        if base_path.is_dir():
            raise ScenarioError(
                f"{path}: 'scenario.extends' = {show(base)} names a directory, not a file."
            )
        if not base_path.is_file():
            raise ScenarioError(
                f"{path}: 'scenario.extends' = {show(base)} names a file that does not exist "
                f"({show(str(base_path))})."
            )
        merged, chain = _load_chain(base_path, here)
    for section in SECTIONS:
        if section == "scenario":
            merged[section] = {
                **{k: v for k, v in merged[section].items() if k != "extends"},
                **meta,
            }
        elif section == "levers":
            # lever blocks merge key by key, so a scenario can change one setting of a
            # lever its base declares
            levers = dict(merged[section])
            for k, v in raw.get(section, {}).items():
                if isinstance(v, dict) and isinstance(levers.get(k, (None,))[0], dict):
                    v = _deep_merge(levers[k][0], v)
                levers[k] = (v, str(path))
            merged[section] = levers
        elif section in ("capacity", "parameters"):
            flat = _flatten(raw.get(section, {}))
            merged[section] = {**merged[section], **{k: (v, str(path)) for k, v in flat.items()}}
        else:
            merged[section] = {
                **merged[section],
                **{k: (v, str(path)) for k, v in raw.get(section, {}).items()},
            }
    chain.append(str(path))
    return merged, chain


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = _deep_merge(out[k], v) if both else v
    return out


_RUN_KEYS = ("population", "years", "start_year", "replications", "seed", "base_year")
#: optional [run] keys
_OPTIONAL_RUN_KEYS = ("represents", "year_starts")
#: the largest population a sample may stand for (England is about 57 million)
MAX_REPRESENTS = 100_000_000


def _int_in(where: str, key: str, value: Any, low: int, high: int) -> int:
    def fmt(v: int) -> str:
        return f"{v:,}" if high >= 10_000 and key != "start_year" else str(v)

    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(
            f"{where}: 'run.{key}' = {show(value)} must be a whole number between "
            f"{fmt(low)} and {fmt(high)}."
        )
    if not low <= value <= high:
        raise ScenarioError(
            f"{where}: 'run.{key}' = {value} is out of range; allowed {fmt(low)} to {fmt(high)}."
        )
    return value


def _run_settings(
    values: Mapping[str, Any], where: str, sources: Mapping[str, str] | None = None
) -> RunSettings:
    """Validated run settings; ``sources`` names the file each key came from."""

    def src(key: str) -> str:
        return (sources or {}).get(key, where)

    for k in values:
        if k not in _RUN_KEYS and k not in _OPTIONAL_RUN_KEYS:
            raise ScenarioError(
                f"{src(k)}: unknown key 'run.{k}'; allowed keys are "
                f"{', '.join((*_RUN_KEYS, *_OPTIONAL_RUN_KEYS))}."
            )
    missing = [k for k in _RUN_KEYS if k not in values]
    if missing:
        raise ScenarioError(f"{where}: [run] needs {', '.join(repr(m) for m in missing)}.")
    years = population_years()
    check_size(values["population"], f"{src('population')}: 'run.population'")
    check_seed(values["seed"], f"{src('seed')}: 'run.seed'")
    base_year = values["base_year"]
    if base_year not in years:
        raise ScenarioError(
            f"{src('base_year')}: 'run.base_year' = {show(base_year)} is not available; allowed "
            f"{', '.join(str(y) for y in years)}."
        )
    year_starts = values.get("year_starts", DEFAULT_YEAR_STARTS)
    if not isinstance(year_starts, str) or year_starts not in YEAR_STARTS:
        raise ScenarioError(
            f"{src('year_starts')}: 'run.year_starts' = {show(year_starts)} is not allowed; "
            f"allowed {' or '.join(repr(v) for v in YEAR_STARTS)} (april: NHS financial years)."
        )
    return RunSettings(
        population=int(values["population"]),
        years=_int_in(src("years"), "years", values["years"], 1, MAX_YEARS),
        start_year=_int_in(
            src("start_year"),
            "start_year",
            values["start_year"],
            base_year + 1,
            base_year + MAX_START_GAP,
        ),
        replications=_int_in(
            src("replications"), "replications", values["replications"], 1, MAX_REPLICATIONS
        ),
        seed=int(values["seed"]),
        base_year=int(base_year),
        represents=(
            _int_in(src("represents"), "represents", values["represents"], 1, MAX_REPRESENTS)
            if "represents" in values
            else 0
        ),
        year_starts=year_starts,
    )


def load_scenario(path: Path | str, register: Register | None = None) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file."""
    path = Path(path)
    merged, chain = _load_chain(path)
    where = str(path)
    reg = register if register is not None else default_register()

    run_raw = {k: v for k, (v, _src) in merged["run"].items()}
    if "represents" not in run_raw and "population" in run_raw:
        # the place is the population written in the file; --population changes the sample
        merged["run"]["represents"] = merged["run"]["population"]
        run_raw["represents"] = run_raw["population"]
    run = _run_settings(run_raw, where, {k: src for k, (_v, src) in merged["run"].items()})

    capacity: dict[str, Any] = {}
    for key, (value, src) in merged["capacity"].items():
        full = f"capacity.{key}"
        if full not in reg:
            known = [p.key for p in reg.select("capacity")]
            raise ScenarioError(unknown_key_message(full, known, src))
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(f"{src}: '{full}' = {show(value)} must be a number.")
            if v < 0:
                raise ScenarioError(
                    f"{src}: '{full}' = {show(value)} is negative; capacities must be zero or more."
                )
        capacity[full] = value
    params: dict[str, Any] = {}
    for key, (value, src) in merged["parameters"].items():
        if key.startswith("capacity."):
            raise ScenarioError(
                f"{src}: '{key}' is a capacity; set it in the [capacity] section instead."
            )
        if key not in reg:
            raise ScenarioError(unknown_key_message(key, reg, src))
        params[key] = value
    sources = {k: src for k, (_v, src) in merged["parameters"].items()}
    sources.update({f"capacity.{k}": src for k, (_v, src) in merged["capacity"].items()})
    scenario_register = reg
    try:
        for key, value in {**params, **capacity}.items():
            scenario_register = scenario_register.with_values({key: value}, origin=sources[key])
    except RegisterError as exc:
        raise ScenarioError(str(exc)) from None
    from model.interventions import parse_levers

    raw_levers = {k: v for k, (v, _src) in merged["levers"].items()}
    lever_src = {k: src for k, (_v, src) in merged["levers"].items()}
    levers: dict[str, Any] = {}
    for k in raw_levers:
        if k == "evidence":
            continue
        one = {k: raw_levers[k]}
        if "evidence" in raw_levers:
            one["evidence"] = raw_levers["evidence"]
        levers.update(parse_levers(one, lever_src[k], run.start_year, run.years))
    if "evidence" in raw_levers and not levers:
        parse_levers({"evidence": raw_levers["evidence"]}, lever_src["evidence"], 0, 1)
    meta = merged["scenario"]
    name = meta.get("name", path.stem)
    try:
        safe_component(name, where)
    except CarescaleError as exc:
        raise ScenarioError(str(exc)) from None
    description = meta.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise ScenarioError(
            f"{where}: 'scenario.description' = {show(description)} must be text of at most "
            f"{MAX_DESCRIPTION_CHARS:,} characters."
        )
    return Scenario(
        name=name,
        description=description,
        path=str(path),
        run=run,
        register=scenario_register,
        capacity_overrides=capacity,
        parameter_overrides=params,
        levers=levers,
        chain=tuple(chain),
    )


__all__ = ["EVIDENCE_MODES", "RunSettings", "Scenario", "load_scenario"]
