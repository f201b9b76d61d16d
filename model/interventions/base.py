"""What every lever shares: its settings from a scenario file and its life in a replication.

A lever is declared in a scenario as ``[levers.<name>]``; ``parse_settings`` checks the
common keys (``start_year``, ``ramp_up_months``, ``uptake``, ``evidence``, ``target.*``) and
hands the rest to the lever's own ``KEYS``. The parsed settings are frozen and picklable; the
engine builds a fresh lever from them for every replication (``build``), so no state leaks
between replications. A lever's random numbers are keyed by its name (``LeverBase.key``):
its uptake propensities are independent of every other lever's, and the baseline's streams
are untouched.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from model import crn
from model.errors import ScenarioError, show
from model.ledger import uprate
from model.scenario import EVIDENCE_MODES
from model.services.caseload import CaseloadSpec, insert_at
from model.targeting import Rule, parse_rule, select, world_rates
from model.world import DAYS_PER_YEAR, World

#: the default evidence mode of every lever (``[levers] evidence`` overrides it)
DEFAULT_EVIDENCE = "controlled"
COMMON_KEYS = ("start_year", "ramp_up_months", "uptake", "evidence", "target")

#: ``dead_in``: the first dead day of people gone in an earlier year, and of survivors
_GONE = np.int64(-(1 << 40))
_NEVER_DIES = np.int64(1 << 40)

#: a checker of one lever-specific key: (file, key, value) -> the value as used
Check = Callable[[str, str, Any], Any]


def fail(where: str, key: str, value: object, allowed: str) -> ScenarioError:
    """The one-sentence error for a lever key."""
    return ScenarioError(f"{where}: '{key}' = {show(value)} is not allowed; {allowed}.")


def number(low: float, high: float, whole: bool = False) -> Check:
    """A checker for a number in [low, high] (a whole number if ``whole``)."""

    def check(where: str, key: str, value: Any) -> float:
        ok_type = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)):
            kind = "a whole number" if whole else "a number"
            raise fail(where, key, value, f"give {kind} from {low:g} to {high:g}")
        if not low <= value <= high:
            raise fail(where, key, value, f"allowed {low:g} to {high:g}")
        return float(value)

    return check


def number_or_list(low: float, high: float) -> Check:
    """A number, or a list of numbers (one per simulated year), each in [low, high]."""
    one = number(low, high)

    def check(where: str, key: str, value: Any) -> tuple[float, ...]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise fail(where, key, value, "give a number or a list of numbers, one per year")
        return tuple(one(where, key, v) for v in values)

    return check


def choice(options: tuple[str, ...]) -> Check:
    """A checker for one of ``options``."""

    def check(where: str, key: str, value: Any) -> str:
        if value not in options:
            raise fail(where, key, value, f"allowed values are {', '.join(options)}")
        return str(value)

    return check


@dataclass(frozen=True)
class LeverSettings:
    """A lever's settings as read from a scenario (checked, frozen, picklable)."""

    kind: str
    where: str
    start_year: int
    ramp_up_months: float
    uptake: float | None
    evidence: str
    target: Rule
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the manifest."""
        return {
            "start_year": self.start_year,
            "ramp_up_months": self.ramp_up_months,
            "uptake": self.uptake,
            "evidence": self.evidence,
            "target": self.target.describe(),
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()},
        }


def parse_settings(
    kind: str,
    raw: Mapping[str, Any],
    keys: Mapping[str, Check],
    where: str,
    start_year: int,
    years: int,
    default_evidence: str,
) -> LeverSettings:
    """Check a ``[levers.<kind>]`` block: common keys, then the lever's own ``keys``."""
    prefix = f"levers.{kind}"
    allowed = (*COMMON_KEYS, *keys)
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                raise ScenarioError(
                    f"{where}: unknown key '{prefix}.{key}'; did you mean '{prefix}.{close[0]}'? "
                    "(docs/levers.md lists every key)."
                )
            raise ScenarioError(
                f"{where}: unknown key '{prefix}.{key}'; allowed keys are {', '.join(allowed)}."
            )
    last = start_year + years - 1
    first = raw.get("start_year", start_year)
    if isinstance(first, bool) or not isinstance(first, int) or not start_year <= first <= last:
        raise fail(
            where,
            f"{prefix}.start_year",
            first,
            f"give a year within the run's horizon, {start_year} to {last}",
        )
    ramp = number(0, 120)(where, f"{prefix}.ramp_up_months", raw.get("ramp_up_months", 0))
    uptake = number(0, 1)(where, f"{prefix}.uptake", raw["uptake"]) if "uptake" in raw else None
    evidence = choice(EVIDENCE_MODES)(
        where, f"{prefix}.evidence", raw.get("evidence", default_evidence)
    )
    target_raw = raw.get("target", {})
    if not isinstance(target_raw, dict):
        raise fail(where, f"{prefix}.target", target_raw, "give target.<key> = value pairs")
    target = parse_rule(target_raw, f"{where} [{prefix}]")
    options = {k: check(where, f"{prefix}.{k}", raw[k]) for k, check in keys.items() if k in raw}
    return LeverSettings(
        kind=kind,
        where=where,
        start_year=int(first),
        ramp_up_months=ramp,
        uptake=uptake,
        evidence=evidence,
        target=target,
        options=options,
    )


def staffing_of(name: str, settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """A staffed lever's FTE by year for the represented population (its ``fte``, else the
    register's ``levers.<name>.fte_per_100000`` for the represented population) and the
    effective FTE of the simulated sample (represented / scale)."""
    if "fte" in settings.options:
        value = settings.options["fte"]
        represented = tuple(value) if isinstance(value, tuple) else (float(value),)
    else:
        per = register.scalar(f"levers.{name}.fte_per_100000")
        represented = (per * run.represented / 100_000.0,)
    return {
        "fte_represented": [round(f, 6) for f in represented],
        "effective_fte_simulated": [round(f / run.scale, 6) for f in represented],
    }


def add_sorted(ids: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``np.union1d(ids, new)`` of a sorted array of unique ids and sorted new ids none of
    which it holds: the new ids inserted in place."""
    if not new.size:
        return ids
    return insert_at([ids], np.searchsorted(ids, new), [new])[0]


class LeverBase:
    """Common machinery of a lever in one replication (implements ``model.world.Lever``).

    Subclasses set ``name`` and override the hooks they need; ``record`` collects the
    year's throughput for ``lever_activity``.
    """

    name = "lever"
    #: register prefix of the lever's defaults (``levers.<name>.``)
    prefix = ""
    #: whether the lever may change what mortality depends on (age, sex, deprivation,
    #: frailty, conditions: ``model.dynamics.MortalityReference``); the engine then keeps a
    #: lever-free reference population to normalise mortality on. None of the levers here
    #: does (they change activation, social needs, behaviour and demand).
    affects_mortality = False
    #: whom the lever targets when the scenario gives no ``target.*`` rule (None: everyone)
    default_rule: Rule | None = None
    #: whether ``enrol_exactly`` enrols the listed people directly (``carescale evaluate``)
    direct_enrolment = False

    def __init__(self, settings: LeverSettings, world: World) -> None:
        self.settings = settings
        self.world = world
        self.register = world.register
        run = world.scenario.run
        self.scale = run.scale  # represented people per simulated person
        self.start_day = (settings.start_year - run.start_year) * DAYS_PER_YEAR
        self.ramp_days = round(settings.ramp_up_months * DAYS_PER_YEAR / 12.0)
        self.rec = self.empty_record()
        #: ids offered the lever so far (``offer_once``)
        self.offered = np.empty(0, np.int64)
        #: a targeting override (``carescale evaluate``): when set, the lever is aimed at
        #: exactly these person ids (sorted), enrolled at its start without referral or uptake
        self.enrol_ids: np.ndarray | None = None
        #: a caseload, (year start, its generation) and its rows' first dead day (``dead_in``)
        self._death_rows: tuple[Any, tuple[int, int], np.ndarray] | None = None
        #: a caseload, (id of the population, year start, its generation) and its rows'
        #: positions (the population itself is not held: it is freed at the year's end)
        self._row_pos: tuple[Any, tuple[int, int, int], np.ndarray] | None = None
        #: an ids array, the population and the ids' positions in it (``positions``)
        self._positions: tuple[np.ndarray, Any, np.ndarray] | None = None
        #: a ``start`` array and its rows grouped by start day (``starting_rows``)
        self._start_groups: tuple[np.ndarray, dict[int, np.ndarray]] | None = None

    @property
    def rule(self) -> Rule:
        """The lever's target rule: the scenario's, else the lever's default."""
        if self.settings.target == Rule() and self.default_rule is not None:
            return self.default_rule
        return self.settings.target

    def enrol_exactly(self, person_id: np.ndarray) -> None:
        """Aim the lever at exactly these people (``carescale evaluate``)."""
        self.enrol_ids = np.unique(np.asarray(person_id, dtype=np.int64))

    # ---------------------------------------------------------------- settings
    def param(self, key: str) -> float:
        """A lever setting from the scenario, else the register's ``levers.<name>.<key>``."""
        if key in self.settings.options:
            value = self.settings.options[key]
            return float(value[0] if isinstance(value, tuple) else value)
        return self.register.scalar(f"levers.{self.name}.{key}")

    def by_year(self, key: str) -> tuple[float, ...]:
        """A setting given as a number or a list per simulated year."""
        value = self.settings.options.get(key)
        if value is None:
            return (self.register.scalar(f"levers.{self.name}.{key}"),)
        return tuple(value) if isinstance(value, tuple) else (float(value),)

    def effect(self, outcome: str) -> float:
        """The relative effect on ``outcome`` under the lever's evidence mode."""
        return self.param(f"{outcome}_effect_{self.settings.evidence}")

    @property
    def effect_scale(self) -> float:
        """The scenario's ``effect_scale`` (1 when it gives none)."""
        if "effect_scale" in self.settings.options:
            return self.param("effect_scale")
        return 1.0

    def cost_per_fte_year(self) -> float:
        """Staff cost per FTE-year: the scenario's, else the register's uprated from its
        price year to the reporting prices."""
        if "cost_per_fte_year" in self.settings.options:
            return self.param("cost_per_fte_year")
        key = f"levers.{self.name}.cost_per_fte_year"
        return uprate(self.register, self.register.scalar(key), self.register[key].price_year)

    def caseload_spec(self, fte_by_year: tuple[float, ...]) -> CaseloadSpec:
        """The caseload of this lever's staff (``fte_by_year``, for the simulated sample):
        caseload per FTE-year, sessions, days between them, drop-out and wait limit from the
        scenario or the register (``levers.<name>.sessions``), the staff cost per FTE-year,
        and the lever's start day and ramp-up."""
        sessions = self.register.array(f"levers.{self.name}.sessions")
        return CaseloadSpec(
            name=self.name,
            fte_by_year=fte_by_year,
            caseload_per_fte_year=self.param("caseload_per_fte_year"),
            sessions=(int(sessions[0]), int(sessions[1])),
            days_between_sessions=self.param("days_between_sessions"),
            dropout_per_session=self.param("dropout_per_session"),
            max_wait_days=self.param("max_wait_days"),
            cost_per_fte_year=self.cost_per_fte_year(),
            start_day=self.start_day,
            ramp_up_days=self.ramp_days,
        )

    @property
    def uptake(self) -> float:
        """Share of people offered the lever who take it up."""
        if self.settings.uptake is not None:
            return self.settings.uptake
        return self.register.scalar(f"levers.{self.name}.uptake")

    # ---------------------------------------------------------------- randomness
    def key(self, purpose: str, year: int | None = 0) -> np.uint64:
        """A key of this lever (fixed over the run unless ``year`` is None: this year)."""
        w = self.world
        period = w.year if year is None else year
        return crn.key(w.seed, w.replication, f"lever.{self.name}.{purpose}", period)

    def start_days(
        self, world: World, ids: np.ndarray, ramp_only_in_start_year: bool = False
    ) -> np.ndarray:
        """A keyed start day (absolute) for each of ``ids`` enrolled this year: spread over
        the ramp-up in the year the lever starts (over the rest of that year without one,
        or on its first day if ``ramp_only_in_start_year``), over the year after it."""
        year_end = world.day0 + DAYS_PER_YEAR
        first = max(self.start_day, world.day0)
        if world.day0 <= self.start_day and self.ramp_days > 0:
            span = min(self.ramp_days, year_end - first)
        elif world.day0 <= self.start_day and ramp_only_in_start_year:
            span = 1
        else:
            span = year_end - first
        u = crn.uniforms(self.key("start_day"), ids)
        return np.asarray(first + np.minimum((u * span).astype(np.int64), span - 1))

    def offer_once(self, world: World, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offer the lever to the ``eligible`` people (mask over ``world.pop``) not offered
        it before, once each; return the positions and ids of those who take it up (their
        referrals and starts are recorded)."""
        pop = world.pop
        person = np.flatnonzero(eligible & ~self.was_offered(world))
        if not person.size:
            return person, pop.person_id[person]
        ids = pop.person_id[person]
        self.offered = add_sorted(self.offered, ids)
        self.rec["referred"] += ids.size
        takes = self.takes_up(ids)
        person, ids = person[takes], ids[takes]
        self.rec["started"] += ids.size
        return person, ids

    def was_offered(self, world: World) -> np.ndarray:
        """Mask over ``world.pop``: ``np.isin(pop.person_id, self.offered)``, found through
        the world's id index."""
        mask = np.zeros(world.pop.size, dtype=bool)
        if self.offered.size:
            pos = world.index_of(self.offered)
            mask[pos[pos >= 0]] = True
        return mask

    def propensity(self, person_id: np.ndarray) -> np.ndarray:
        """Each person's fixed uptake propensity for this lever (independent of others)."""
        return crn.uniforms(self.key("uptake"), person_id)

    def takes_up(self, person_id: np.ndarray) -> np.ndarray:
        """Who of these people takes the lever up (everyone under ``enrol_exactly``)."""
        if self.enrol_ids is not None:
            return np.ones(np.asarray(person_id).shape, dtype=bool)
        return self.propensity(person_id) < self.uptake

    def targeted(self) -> np.ndarray:
        """Mask over ``world.pop`` of the people the lever's rule targets (pre-lever rates),
        or exactly the people of ``enrol_exactly``."""
        w = self.world
        if self.enrol_ids is not None:
            return np.isin(w.pop.person_id, self.enrol_ids)
        rule = self.rule
        rates = world_rates(w) if rule.top_percent is not None else None
        return select(rule, w.pop, w.register, rates)

    @staticmethod
    def dead_by(world: World, ids: np.ndarray, day: int) -> np.ndarray:
        """Per id: has the person died by relative ``day`` (or left in an earlier year)?"""
        pos = world.index_of(ids)
        death = world.death_day[np.maximum(pos, 0)].astype(np.int64)
        return np.asarray((pos < 0) | ((death >= 0) & (death <= day)))

    def positions(self, world: World, ids: np.ndarray) -> np.ndarray:
        """``world.index_of(ids)`` for a lever's array of ids, looked up once while the array
        and the year's population are the same objects (levers replace the array when they
        enrol people; the population is replaced at each year boundary). Read only."""
        cached = self._positions
        if cached is not None and cached[0] is ids and cached[1] is world.pop:
            return cached[2]
        pos = world.index_of(ids)
        self._positions = (ids, world.pop, pos)
        return pos

    def starting_rows(self, start: np.ndarray, absolute_day: int) -> np.ndarray:
        """``np.flatnonzero(start == absolute_day)``: the rows of a lever's people starting
        on a day. The rows are grouped by day once for each ``start`` array (levers replace
        the array when they enrol people, never write into it)."""
        cache = self._start_groups
        if cache is None or cache[0] is not start:
            order = np.argsort(start, kind="stable")
            days = start[order]
            cuts = np.flatnonzero(np.diff(days)) + 1
            groups = {
                int(d[0]): rows
                for d, rows in zip(np.split(days, cuts), np.split(order, cuts), strict=True)
                if d.size
            }
            cache = self._start_groups = (start, groups)
        rows = cache[1].get(int(absolute_day))
        return rows if rows is not None else np.empty(0, np.int64)

    def dead_in(self, world: World, caseload: Any, day: int) -> np.ndarray:
        """Per row of a caseload (``model.services.caseload.CaseloadService``): has the
        person died by relative ``day`` (or left in an earlier year)? ``dead_by`` of the
        rows' people, with each row's death day looked up once a year (positions and death
        days are fixed within a year; rows are only appended until the caseload's year end).
        """
        cache = self._death_rows
        n = caseload.size
        fresh = (
            cache is None
            or cache[0] is not caseload
            or cache[1] != (world.day0, caseload.generation)
            or cache[2].size > n
        )
        dead_from = np.empty(0, np.int64) if fresh or cache is None else cache[2]
        if dead_from.size < n:
            pos = self.row_positions(world, caseload)[dead_from.size : n]
            death = world.death_day[np.maximum(pos, 0)].astype(np.int64)
            # the first day the person counts as dead: the death day, never for survivors,
            # always for people gone in an earlier year
            new = np.where(pos < 0, _GONE, np.where(death >= 0, death, _NEVER_DIES))
            dead_from = np.concatenate([dead_from, new])
            self._death_rows = (caseload, (world.day0, caseload.generation), dead_from)
        return dead_from <= day

    def row_positions(self, world: World, caseload: Any) -> np.ndarray:
        """Per row of a caseload: ``world.index_of`` of the row's person (-1: gone), each
        row looked up once a year (positions are fixed within a year; rows are only appended
        until the caseload's year end). Read only."""
        cache = self._row_pos
        n = caseload.size
        state = (id(world.pop), world.day0, caseload.generation)
        fresh = cache is None or cache[0] is not caseload or cache[1] != state or cache[2].size > n
        pos = np.empty(0, np.int64) if fresh or cache is None else cache[2]
        if pos.size < n:
            new = world.index_of(caseload.person_id[pos.size :])
            pos = np.concatenate([pos, new.astype(np.int64, copy=False)])
            self._row_pos = (caseload, state, pos)
        return pos

    def active_share(self, absolute_day: int) -> float:
        """Share of the lever running on an absolute day (0 before start, ramping up)."""
        if absolute_day < self.start_day:
            return 0.0
        if self.ramp_days <= 0:
            return 1.0
        return min(1.0, (absolute_day - self.start_day + 1) / self.ramp_days)

    # ---------------------------------------------------------------- records
    @staticmethod
    def empty_record() -> dict[str, float]:
        return dict.fromkeys(
            (
                "referred",
                "referred_gp",
                "started",
                "completed",
                "dropped_out",
                "waiting_at_year_end",
                "sessions",
                "cost_gbp",
                "qaly_gain",
                "ascot_gain",
                "fte",
            ),
            0.0,
        )

    def reached_ids(self) -> np.ndarray:
        """Ids of everyone the lever has reached so far (started support, holds a budget,
        took up an offer); levers override it. Used to count people reached by several
        levers once."""
        return np.empty(0, np.int64)

    def year_record(self, world: World) -> dict[str, float]:
        """The year's throughput (then counting starts afresh)."""
        rec, self.rec = self.rec, self.empty_record()
        return rec

    # ---------------------------------------------------------------- Lever protocol
    def on_year_start(self, world: World) -> None:
        return None

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        return None

    def capacity_multiplier(self, world: World, service: str) -> float:
        return 1.0

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return []


__all__ = [
    "COMMON_KEYS",
    "DEFAULT_EVIDENCE",
    "EVIDENCE_MODES",
    "LeverBase",
    "LeverSettings",
    "add_sorted",
    "choice",
    "fail",
    "number",
    "number_or_list",
    "parse_settings",
    "staffing_of",
]
