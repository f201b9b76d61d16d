"""Who a lever is aimed at: one module for every targeting rule.

A rule is the ``target.*`` keys of a lever block in a scenario file (``[levers.<name>]``),
for example::

    target.segments = ["vulnerable_concerned"]
    target.ltc_count = "qof"        # which count min_ltc / max_ltc use: "qof" or "broad"
    target.min_ltc = 2
    target.top_percent = 5          # then the top 5 % of the population ...
    target.rank_by = "emergency_admission_risk"   # ... by predicted risk (or "cost")

Every key narrows the people selected (they are combined with AND; the values of one key are
alternatives, combined with OR). ``top_percent`` ranks the *whole* population, as risk
stratification tools do, and keeps those in the top k % who also meet the other keys. The
ranking uses each person's pre-lever, base-year demand rates (``World.base_rates``), so a
lever's own effect never feeds back into who it targets.

A rule is checked when the scenario is read (``parse_rule``): unknown keys, unknown names and
values outside their ranges are refused in one sentence naming the file, the key, the value
and what is allowed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.errors import ScenarioError, show
from model.ledger import unit_cost
from model.population import (
    BRIDGES_SEGMENTS,
    CONDITIONS,
    EXTRA_CONDITIONS,
    SEGMENTS,
    SOCIAL_NEEDS,
    Population,
    bridges_segment,
)
from model.register import Register
from model.services import names

LTC_COUNTS = ("qof", "broad")
RANKINGS = ("emergency_admission_risk", "cost")
#: eligibility for a personal health budget (the right to have one, NHS England)
PHB_ELIGIBILITY = ("chc", "s117", "wheelchair")

#: unit cost of one event of each demand stream, as (activity, role, mode) weights: the
#: prediction of a person's cost uses national average unit costs (``costs.*``)
_STREAM_COSTS: Mapping[str, tuple[tuple[str, str, str, float], ...]] = {
    # GP: the mean over staff roles and modes (an approximation: the mix varies)
    "gp": tuple(
        ("gp_appointment", role, mode, 1.0 / 9.0)
        for role in ("gp", "nurse", "other")
        for mode in ("face_to_face", "telephone", "online")
    ),
    "ae": (("ae_attendance", "", "", 1.0),),
    # NCC 2023/24 non-elective spells: 6.37 m short stays, 4.53 m long (EVIDENCE §15c)
    "emergency_direct": (
        ("emergency_admission", "", "short_stay", 6.37 / 10.90),
        ("emergency_admission", "", "long_stay", 4.53 / 10.90),
    ),
    "elective_ordinary": (("elective_admission", "", "ordinary", 1.0),),
    "elective_daycase": (("elective_admission", "", "daycase", 1.0),),
    "outpatient": (("outpatient_attendance", "", "", 1.0),),
    "community_nursing": (("community_nursing_contact", "", "", 1.0),),
    "mental_health": (("community_mental_health_contact", "", "", 1.0),),
    "social_care_request": (("social_care_new_request", "", "", 1.0),),
}


@dataclass(frozen=True)
class Rule:
    """A targeting rule (every field None = everyone)."""

    segments: tuple[str, ...] | None = None
    activation_levels: tuple[int, ...] | None = None
    ltc_count: str | None = None
    min_ltc: int | None = None
    max_ltc: int | None = None
    conditions: tuple[str, ...] | None = None
    imd_quintiles: tuple[int, ...] | None = None
    min_age: int | None = None
    max_age: int | None = None
    social_needs: tuple[str, ...] | None = None
    phb_eligible: bool | None = None
    bridges_segments: tuple[str, ...] | None = None
    top_percent: float | None = None
    rank_by: str | None = None

    def describe(self) -> str:
        """The rule in words (for manifests and summaries)."""
        parts = []
        if self.segments is not None:
            parts.append("segment " + " or ".join(self.segments))
        if self.activation_levels is not None:
            parts.append("PAM level " + " or ".join(str(v) for v in self.activation_levels))
        if self.min_ltc is not None or self.max_ltc is not None:
            lo = self.min_ltc if self.min_ltc is not None else 0
            hi = f"-{self.max_ltc}" if self.max_ltc is not None else "+"
            parts.append(f"{lo}{hi} long-term conditions ({self.ltc_count} count)")
        if self.conditions is not None:
            parts.append("with " + " or ".join(self.conditions))
        if self.imd_quintiles is not None:
            parts.append("IMD quintile " + " or ".join(str(q) for q in self.imd_quintiles))
        if self.min_age is not None or self.max_age is not None:
            lo = self.min_age if self.min_age is not None else 0
            hi = f"-{self.max_age}" if self.max_age is not None else "+"
            parts.append(f"aged {lo}{hi}")
        if self.social_needs is not None:
            parts.append("social need " + " or ".join(self.social_needs))
        if self.phb_eligible is not None:
            parts.append(("" if self.phb_eligible else "not ") + "eligible for a PHB")
        if self.bridges_segments is not None:
            parts.append("Bridges to Health segment " + " or ".join(self.bridges_segments))
        if self.top_percent is not None:
            parts.append(f"top {self.top_percent:g} % by {self.rank_by}")
        return "; ".join(parts) if parts else "everyone"


# ----------------------------------------------------------------------------- parsing


def _fail(where: str, key: str, value: object, allowed: str) -> ScenarioError:
    return ScenarioError(f"{where}: 'target.{key}' = {show(value)} is not allowed; {allowed}.")


def _names(where: str, key: str, value: object, known: Sequence[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise _fail(where, key, value, f"give one or more of {', '.join(known)}")
    for v in items:
        if v not in known:
            close = difflib.get_close_matches(v, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(where, key, value, f"{v!r} is unknown{hint}; allowed {', '.join(known)}")
    return tuple(dict.fromkeys(items))


def _ints(where: str, key: str, value: object, low: int, high: int) -> tuple[int, ...]:
    items: list[object] = [value] if not isinstance(value, list) else list(value)
    out: list[int] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise _fail(where, key, value, f"give whole numbers from {low} to {high}")
        out.append(v)
    if not out:
        raise _fail(where, key, value, f"give whole numbers from {low} to {high}")
    return tuple(dict.fromkeys(out))


def _int(where: str, key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, key, value, f"give a whole number from {low} to {high}")
    return value


def known_conditions() -> tuple[str, ...]:
    """Condition names a rule may use: the QOF registers and the broad list's others."""
    return (*CONDITIONS, *EXTRA_CONDITIONS)


KEYS = (
    "segments",
    "activation_levels",
    "ltc_count",
    "min_ltc",
    "max_ltc",
    "conditions",
    "imd_quintiles",
    "min_age",
    "max_age",
    "social_needs",
    "phb_eligible",
    "bridges_segments",
    "top_percent",
    "rank_by",
)


def parse_rule(raw: Mapping[str, Any], where: str) -> Rule:
    """A ``Rule`` from a lever block's ``target`` table; ``ScenarioError`` if anything is off."""
    for key in raw:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"; did you mean 'target.{close[0]}'?" if close else ""
            raise ScenarioError(
                f"{where}: unknown key 'target.{key}'{hint} (allowed: {', '.join(KEYS)})."
            )
    out: dict[str, Any] = {}
    if "segments" in raw:
        out["segments"] = _names(where, "segments", raw["segments"], SEGMENTS)
    if "activation_levels" in raw:
        out["activation_levels"] = _ints(where, "activation_levels", raw["activation_levels"], 1, 4)
    for key in ("min_ltc", "max_ltc"):
        if key in raw:
            out[key] = _int(where, key, raw[key], 0, 40)
    if "min_ltc" in out or "max_ltc" in out or "ltc_count" in raw:
        count = raw.get("ltc_count")
        if count not in LTC_COUNTS:
            raise _fail(
                where,
                "ltc_count",
                count,
                "a rule on the number of conditions names its count: 'qof' (the 14 QOF "
                "registers) or 'broad' (the 36-condition list)",
            )
        out["ltc_count"] = count
        if "min_ltc" in out and "max_ltc" in out and out["min_ltc"] > out["max_ltc"]:
            raise _fail(
                where, "max_ltc", out["max_ltc"], f"it must be at least min_ltc ({out['min_ltc']})"
            )
    if "conditions" in raw:
        out["conditions"] = _names(where, "conditions", raw["conditions"], known_conditions())
    if "imd_quintiles" in raw:
        out["imd_quintiles"] = _ints(where, "imd_quintiles", raw["imd_quintiles"], 1, 5)
    for key in ("min_age", "max_age"):
        if key in raw:
            out[key] = _int(where, key, raw[key], 0, 120)
    if "min_age" in out and "max_age" in out and out["min_age"] > out["max_age"]:
        raise _fail(
            where, "max_age", out["max_age"], f"it must be at least min_age ({out['min_age']})"
        )
    if "social_needs" in raw:
        out["social_needs"] = _names(where, "social_needs", raw["social_needs"], SOCIAL_NEEDS)
    if "phb_eligible" in raw:
        if not isinstance(raw["phb_eligible"], bool):
            raise _fail(where, "phb_eligible", raw["phb_eligible"], "give true or false")
        out["phb_eligible"] = raw["phb_eligible"]
    if "bridges_segments" in raw:
        out["bridges_segments"] = _names(
            where, "bridges_segments", raw["bridges_segments"], BRIDGES_SEGMENTS
        )
    if "top_percent" in raw or "rank_by" in raw:
        pct = raw.get("top_percent")
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 100:
            raise _fail(where, "top_percent", pct, "give a percentage above 0 and at most 100")
        rank_by = raw.get("rank_by")
        if rank_by not in RANKINGS:
            raise _fail(where, "rank_by", rank_by, f"rank by {' or '.join(RANKINGS)}")
        out["top_percent"] = float(pct)
        out["rank_by"] = rank_by
    return Rule(**out)


# ----------------------------------------------------------------------------- selection


def ltc_count(pop: Population, which: str) -> np.ndarray:
    """Number of long-term conditions on the named count (``"qof"`` or ``"broad"``)."""
    if which == "qof":
        return np.asarray(pop.ltc_count)
    return np.asarray(pop.broad_ltc_count)


def has_condition(pop: Population, name: str) -> np.ndarray:
    """Boolean column of a named condition."""
    return np.asarray(pop.condition(name), dtype=bool)


def phb_eligible(pop: Population) -> np.ndarray:
    """People with a right to a personal health budget (CHC, s117 aftercare, wheelchair)."""
    return np.asarray(pop.chc | pop.s117 | pop.wheelchair, dtype=bool)


def predicted_cost(register: Register, rates: Mapping[str, np.ndarray]) -> np.ndarray:
    """Expected annual cost (GBP, reporting prices) per person from demand ``rates``.

    ``rates`` are each demand stream's per-person annual rates (pre-lever); each event is
    costed at the national average unit cost of what it usually becomes.
    """
    total: np.ndarray | None = None
    for stream, rate in rates.items():
        per_event = sum(w * unit_cost(register, a, r, m) for a, r, m, w in _STREAM_COSTS[stream])
        part = np.asarray(rate, dtype=float) * per_event
        total = part if total is None else total + part
    assert total is not None
    return total


def emergency_admission_risk(
    pop: Population, rates: Mapping[str, np.ndarray], register: Register
) -> np.ndarray:
    """Probability of at least one emergency admission in a year (pre-lever rates).

    Direct admissions plus A&E attendances at type 1 departments that convert to an
    admission (by age and sex), as a Poisson rate: ``1 - exp(-rate)``.
    """
    from model.services.acute import type1_conversion

    conversion = type1_conversion(register)[pop.sex, np.minimum(pop.age, 100)]
    via_ae = rates["ae"] * register.scalar("acute.ae_type1_share") * conversion
    return np.asarray(1.0 - np.exp(-(rates["emergency_direct"] + via_ae)))


def top_share(score: np.ndarray, person_id: np.ndarray, percent: float) -> np.ndarray:
    """The ceil(percent % of n) people with the highest ``score`` (ties: lower id first)."""
    n = score.shape[0]
    k = min(n, math.ceil(n * percent / 100.0))
    order = np.lexsort((person_id, -score))
    out = np.zeros(n, dtype=bool)
    out[order[:k]] = True
    return out


def select(
    rule: Rule,
    pop: Population,
    register: Register,
    base_rates: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Boolean mask over ``pop`` of the people the rule targets.

    ``base_rates`` (per stream, pre-lever) are needed only for ``top_percent``;
    ``World.base_rates`` gives them.
    """
    keep = np.ones(pop.size, dtype=bool)
    if rule.segments is not None:
        keep &= np.isin(pop.segment, [SEGMENTS.index(s) for s in rule.segments])
    if rule.activation_levels is not None:
        keep &= np.isin(pop.pam_level, rule.activation_levels)
    if rule.min_ltc is not None or rule.max_ltc is not None:
        assert rule.ltc_count is not None
        count = ltc_count(pop, rule.ltc_count)
        if rule.min_ltc is not None:
            keep &= count >= rule.min_ltc
        if rule.max_ltc is not None:
            keep &= count <= rule.max_ltc
    if rule.conditions is not None:
        keep &= np.logical_or.reduce([has_condition(pop, c) for c in rule.conditions])
    if rule.imd_quintiles is not None:
        keep &= np.isin(pop.imd, rule.imd_quintiles)
    if rule.min_age is not None:
        keep &= pop.age >= rule.min_age
    if rule.max_age is not None:
        keep &= pop.age <= rule.max_age
    if rule.social_needs is not None:
        keep &= np.logical_or.reduce([getattr(pop, n).astype(bool) for n in rule.social_needs])
    if rule.phb_eligible is not None:
        keep &= phb_eligible(pop) == rule.phb_eligible
    if rule.bridges_segments is not None:
        wanted = [BRIDGES_SEGMENTS.index(b) for b in rule.bridges_segments]
        keep &= np.isin(bridges_segment(pop, register), wanted)
    if rule.top_percent is not None:
        if base_rates is None:
            raise ValueError("top_percent targeting needs the pre-lever base rates")
        if rule.rank_by == "cost":
            score = predicted_cost(register, base_rates)
        else:
            score = emergency_admission_risk(pop, base_rates, register)
        keep &= top_share(score, pop.person_id, rule.top_percent)
    return keep


def world_rates(world: Any) -> dict[str, np.ndarray]:
    """Every demand stream's pre-lever base-year rates in a ``World``."""
    return {s: world.base_rates(s) for s in names.DEMAND_STREAMS}


__all__ = [
    "KEYS",
    "LTC_COUNTS",
    "RANKINGS",
    "Rule",
    "emergency_admission_risk",
    "ltc_count",
    "parse_rule",
    "phb_eligible",
    "predicted_cost",
    "select",
    "top_share",
    "world_rates",
]
