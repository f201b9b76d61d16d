"""The regression-to-the-mean trap (``carescale evaluate``).

A local evaluation typically picks the people who used a service most last year, gives them
the intervention, and reports how much less they used it this year. Their use would have
fallen anyway: people are picked at a peak of their own need and chance, and next year they
move back towards their usual level (regression to the mean). This module runs that
evaluation and the one a microsimulation can do instead, side by side:

1. run the scenario's ``[run]`` settings for two years *without* any lever (the baseline),
   counting each person's use of the service (``--service``: attended GP appointments, or A&E
   attendances) in each year;
2. pick the top ``top`` % of the first year's population by their first-year use (ties broken
   by a keyed uniform), keeping those alive at the start of year 2: the cohort;
3. run the scenario again with only the named lever, starting on the first day of year 2
   (no ramp-up) and aimed at exactly the cohort (``LeverBase.enrol_exactly``: no referral or
   uptake step; the lever's own capacity still applies), with the same seed and replication:
   common random numbers, so the two runs differ only by what the lever does;
4. report, for the cohort, the **naive** change (year 2 with the lever - year 1, what a
   before/after evaluation reports) and the **paired** effect (year 2 with the lever - year 2
   without it, for the same people).

Intervals: 95 % percentile intervals from a bootstrap over the people of the cohort (people
resampled within each replication, 1,000 resamples, keyed), around the mean over
replications. With the lever's ``effect_scale = 0`` the paired effect is exactly 0 for every
person, so its interval is [0, 0], while the naive change still shows a fall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model import crn
from model.engine import Engine
from model.errors import ScenarioError, show
from model.interventions import LEVERS
from model.interventions.base import LeverBase
from model.scenario import Scenario
from model.world import Served, World

#: services whose per-person use can be counted: activity name -> what services publish
SERVICES = {"gp_appointment": "gp_consultation", "ae_attendance": "ae_attendance"}
DEFAULT_SERVICE = "gp_appointment"
DEFAULT_TOP = 5.0
DEFAULT_REPLICATIONS = 3
BOOTSTRAP = 1_000
INTERVAL = "95 % bootstrap over people (resampled within each replication)"
YEARS = 2


class _Counter:
    """Each person's use of a service by simulated year (subscribes to the service)."""

    def __init__(self, world: World, topic: str) -> None:
        self.parts: dict[int, list[np.ndarray]] = {}
        world.subscribe(topic, self)

    def __call__(self, world: World, served: Served) -> None:
        self.parts.setdefault(world.year, []).append(world.pop.person_id[served.person])

    def counts(self, year: int, person_id: np.ndarray) -> np.ndarray:
        """Uses in ``year`` of each of ``person_id`` (sorted ids)."""
        parts = self.parts.get(year)
        if not parts:
            return np.zeros(person_id.size)
        ids, n = np.unique(np.concatenate(parts), return_counts=True)
        pos = np.searchsorted(ids, person_id)
        pos = np.minimum(pos, max(ids.size - 1, 0))
        return np.where(ids[pos] == person_id, n[pos], 0).astype(float)


@dataclass(frozen=True)
class Cohort:
    """One replication's cohort: ids and their use in year 1, year 2 without and with."""

    person_id: np.ndarray
    year1: np.ndarray
    year2_baseline: np.ndarray
    year2_lever: np.ndarray
    started: float


def arms(
    scenario: Scenario, lever: str, population: int | None, seed: int | None
) -> tuple[Scenario, Scenario]:
    """The baseline arm (no lever) and the lever arm (only ``lever``, from year 2)."""
    if lever not in scenario.levers:
        known = ", ".join(scenario.levers) or "none"
        raise ScenarioError(
            f"{scenario.path}: --lever {show(lever)} is not a lever of this scenario; its "
            f"levers are: {known}."
        )
    if not LEVERS[lever].cls.direct_enrolment:
        direct = ", ".join(n for n, e in LEVERS.items() if e.cls.direct_enrolment)
        raise ScenarioError(
            f"{scenario.path}: --lever {show(lever)} cannot enrol a given list of people (it "
            f"works through referrals or eligibility); evaluate works with {direct}."
        )
    # the whole cohort from the first day of year 2: no ramp-up
    settings = replace(
        scenario.levers[lever], start_year=scenario.run.start_year + 1, ramp_up_months=0.0
    )
    base = replace(scenario, levers={})
    with_lever = replace(scenario, levers={lever: settings})
    changes = {"population": population, "seed": seed, "years": YEARS, "replications": 1}
    return base.with_run(**changes), with_lever.with_run(**changes)


def _select(ids: np.ndarray, use: np.ndarray, top: float, key: np.uint64) -> np.ndarray:
    """The top ``top`` % of ``ids`` by ``use`` (ties broken by a keyed uniform)."""
    k = min(ids.size, math.ceil(ids.size * top / 100.0))
    jitter = crn.uniforms(key, ids)
    order = np.lexsort((jitter, -use))
    return np.sort(ids[order[:k]])


def run_cohort(
    base: Scenario,
    with_lever: Scenario,
    lever: str,
    service: str,
    top: float,
    replication: int,
) -> Cohort:
    """One replication: baseline, selection, and the lever run for the same people."""
    topic = SERVICES[service]
    engine = Engine(base, replication)
    counter = _Counter(engine.world, topic)
    year1_pop = np.array(engine.world.pop.person_id)  # the first year's population
    engine.run()
    use1 = counter.counts(0, year1_pop)
    key = crn.key(base.run.seed, replication, "evaluate.ties", 0)
    chosen = _select(year1_pop, use1, top, key)
    # only people alive at the start of year 2 can be enrolled
    cohort = chosen[np.isin(chosen, engine.world.pop.person_id)]
    lever_engine = Engine(with_lever, replication)
    lever_counter = _Counter(lever_engine.world, topic)
    target = next(lv for lv in lever_engine.world.levers if lv.name == lever)
    assert isinstance(target, LeverBase)
    target.enrol_exactly(cohort)
    tables = lever_engine.run()
    started = float(tables["lever_activity"]["started"].sum())
    return Cohort(
        person_id=cohort,
        year1=counter.counts(0, cohort),
        year2_baseline=counter.counts(1, cohort),
        year2_lever=lever_counter.counts(1, cohort),
        started=started,
    )


def _bootstrap(values: list[np.ndarray], key: np.uint64) -> tuple[float, float]:
    """95 % percentile interval of the mean over replications of per-person means."""
    rng = np.random.default_rng(int(key))
    means = np.zeros(BOOTSTRAP)
    for v in values:
        if v.size:
            draws = rng.integers(0, v.size, size=(BOOTSTRAP, v.size))
            means += v[draws].mean(axis=1)
    means /= max(len(values), 1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(cohorts: list[Cohort], service: str, seed: int) -> pd.DataFrame:
    """The naive before/after change beside the paired effect, with intervals."""
    rows = []
    measures = (
        ("naive_before_after", "year 1", "year 2 with the lever", "year1", "year2_lever"),
        (
            "paired_effect",
            "year 2 without the lever",
            "year 2 with the lever",
            "year2_baseline",
            "year2_lever",
        ),
    )
    for i, (measure, ref_label, with_label, ref, new) in enumerate(measures):
        diffs = [getattr(c, new) - getattr(c, ref) for c in cohorts]
        ref_mean = float(np.mean([getattr(c, ref).mean() for c in cohorts]))
        new_mean = float(np.mean([getattr(c, new).mean() for c in cohorts]))
        change = new_mean - ref_mean
        low, high = _bootstrap(diffs, crn.key(seed, i, "evaluate.bootstrap", 0))
        rows.append(
            {
                "measure": measure,
                "service": service,
                "people": float(np.mean([c.person_id.size for c in cohorts])),
                "enrolled": float(np.mean([c.started for c in cohorts])),
                "compared": f"{with_label} - {ref_label}",
                "reference_per_person": ref_mean,
                "with_lever_per_person": new_mean,
                "change_per_person": change,
                "change_low": low,
                "change_high": high,
                "change_percent": 100.0 * change / ref_mean if ref_mean else float("nan"),
                "replications": len(cohorts),
                "interval": INTERVAL,
            }
        )
    return pd.DataFrame(rows)


def evaluate(
    scenario: Scenario,
    lever: str,
    top: float = DEFAULT_TOP,
    service: str = DEFAULT_SERVICE,
    population: int | None = None,
    seed: int | None = None,
    replications: int = DEFAULT_REPLICATIONS,
) -> pd.DataFrame:
    """Run the regression-to-the-mean comparison; one row per measure."""
    if service not in SERVICES:
        raise ScenarioError(
            f"--service {show(service)} is not allowed; allowed values are {', '.join(SERVICES)}."
        )
    if not 0 < top <= 100:
        raise ScenarioError(
            f"--top {show(top)} is not allowed; give a percentage above 0 and at most 100."
        )
    base, with_lever = arms(scenario, lever, population, seed)
    cohorts = [run_cohort(base, with_lever, lever, service, top, r) for r in range(replications)]
    return summarise(cohorts, service, base.run.seed)


__all__ = ["DEFAULT_SERVICE", "DEFAULT_TOP", "SERVICES", "Cohort", "evaluate", "summarise"]
