"""The lever registry: every personalised-care lever a scenario can name, in one place.

A scenario declares levers as ``[levers.<name>]`` blocks (and may set ``[levers] evidence``,
the default evidence mode of its levers). ``parse_levers`` checks them when the scenario is
read; ``build_levers`` makes fresh levers for each replication. Adding a lever means one
module under ``model/interventions/`` with a class derived from ``LeverBase`` and its ``KEYS``,
one line in ``LEVERS`` and its register entries (``model/parameters/levers.toml``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from model.errors import ScenarioError, show
from model.interventions import (
    care_coordination,
    health_coaching,
    link_workers,
    phb,
    tailored_access,
)
from model.interventions.base import (
    DEFAULT_EVIDENCE,
    EVIDENCE_MODES,
    Check,
    LeverBase,
    LeverSettings,
    parse_settings,
)
from model.world import World


@dataclass(frozen=True)
class Entry:
    """A registered lever: its class and its own keys (besides the common ones)."""

    cls: type[LeverBase]
    keys: Mapping[str, Check]
    #: extra facts for the manifest (e.g. effective staff), from settings, register and run
    describe: Callable[[LeverSettings, Any, Any], dict[str, Any]] | None = None


#: every lever a scenario can name
LEVERS: Mapping[str, Entry] = {
    "link_workers": Entry(link_workers.LinkWorkers, link_workers.KEYS, link_workers.staffing),
    "phb": Entry(phb.PersonalHealthBudgets, phb.KEYS),
    "tailored_access": Entry(
        tailored_access.TailoredAccess, tailored_access.KEYS, tailored_access.describe
    ),
    "health_coaching": Entry(
        health_coaching.HealthCoaching, health_coaching.KEYS, health_coaching.staffing
    ),
    "care_coordination": Entry(
        care_coordination.CareCoordination, care_coordination.KEYS, care_coordination.staffing
    ),
}


def parse_levers(
    raw: Mapping[str, Any], where: str, start_year: int, years: int
) -> dict[str, LeverSettings]:
    """Check a scenario's merged ``[levers]`` section; one-sentence errors."""
    default = raw.get("evidence", DEFAULT_EVIDENCE)
    if default not in EVIDENCE_MODES:
        raise ScenarioError(
            f"{where}: 'levers.evidence' = {show(default)} is not allowed; allowed values are "
            f"{', '.join(EVIDENCE_MODES)}."
        )
    out: dict[str, LeverSettings] = {}
    for name, block in raw.items():
        if name == "evidence":
            continue
        if name not in LEVERS:
            close = difflib.get_close_matches(name, list(LEVERS), n=1)
            hint = f"; did you mean [levers.{close[0]}]?" if close else ""
            raise ScenarioError(
                f"{where}: unknown lever [levers.{name}]{hint} (known levers: "
                f"{', '.join(LEVERS)}; the section may also set evidence)."
            )
        if not isinstance(block, dict):
            raise ScenarioError(
                f"{where}: 'levers.{name}' must be a [levers.{name}] table, got {show(block)}."
            )
        out[name] = parse_settings(
            name, block, LEVERS[name].keys, where, start_year, years, default
        )
    return out


def describe(settings: LeverSettings, register: Any, run: Any) -> dict[str, Any]:
    """A lever's settings for the manifest, with what its registry entry adds."""
    entry = LEVERS[settings.kind]
    extra = entry.describe(settings, register, run) if entry.describe is not None else {}
    return {**settings.as_dict(), **extra}


def build_levers(settings: Mapping[str, LeverSettings], world: World) -> list[LeverBase]:
    """Fresh levers for one replication, in the order of the scenario file."""
    return [LEVERS[s.kind].cls(s, world) for s in settings.values()]


__all__ = ["LEVERS", "LeverSettings", "build_levers", "describe", "parse_levers"]
