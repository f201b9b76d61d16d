"""Pairing that survives levers: a lever changes only the people it targets.

Two probe levers act on 10 % of people, chosen by a hash of their id, from year 1:

* ``ConditionProbe`` gives each targeted person one extra long-term condition at the start
  of year 1 (a state change: it raises their mortality and demand);
* ``RateProbe`` halves the targeted people's demand rates for every service.

Over three years at 10,000 people, every *untargeted* person's demand events (per service:
event number and day), GP request decisions (the general practice's request table: kind,
pre-booking lead, diary (practice and role) and mode) and day of death are identical to the
baseline's; so are the entrants (ids and attributes) and every service's capacity. Today's
mechanisms that would break this (a mortality hazard ratio normalised over the current
population, entrants numbered and counted from the survivors, capacity following the
current population size) are what these tests guard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import RecordingEngine

from model import crn
from model.demand import SERVICES as DEMAND_SERVICES
from model.engine import NextYear
from model.scenario import Scenario
from model.services.primary_care import PrimaryCareService
from model.world import NullLever, World

PEOPLE = 10_000
YEARS = 3
SHARE = 0.10
FIRST_LEVER_YEAR = 1
#: the per-request decisions of general practice, made when the year's requests are drawn
GP_DECISIONS = ("kind", "lead", "diary", "mode")


def targeted(person_id: np.ndarray) -> np.ndarray:
    """The probe levers' people: 10 % of ids, by a hash that no run setting changes."""
    return crn.uniforms(crn.key(0, 0, "tests.pairing.probe"), person_id) < SHARE


@dataclasses.dataclass
class ProbeLever(NullLever):
    """A lever that does nothing unless a subclass says so."""

    name: str = "probe"


@dataclasses.dataclass
class ConditionProbe(ProbeLever):
    """At the start of year 1, each targeted person gains the first condition they lack."""

    name: str = "condition_probe"

    def on_year_start(self, world: World) -> None:
        if world.year != FIRST_LEVER_YEAR:
            return
        pop = world.pop
        who = np.flatnonzero(targeted(pop.person_id) & ~pop.ltc.all(axis=1))
        ltc = pop.ltc.copy()
        first_missing = np.argmin(ltc[who], axis=1)  # first False in the row
        ltc[who, first_missing] = True
        world.pop = dataclasses.replace(pop, ltc=ltc)


@dataclasses.dataclass
class RateProbe(ProbeLever):
    """From year 1, the targeted people's demand rates are halved for every service."""

    name: str = "rate_probe"

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        if world.year < FIRST_LEVER_YEAR:
            return None
        return np.where(targeted(world.pop.person_id), 0.5, 1.0)


class ProbeEngine(RecordingEngine):
    """The recording engine, also keeping the entrants and the year's GP decisions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entrants: list[dict[str, np.ndarray]] = []

    def _add_entrants(self, year: int, ready: NextYear | None = None) -> None:
        before = self.world.pop.person_id.copy()
        super()._add_entrants(year, ready)
        pop = self.world.pop
        new = ~np.isin(pop.person_id, before)
        self.entrants.append({name: arr[new].copy() for name, arr in pop.arrays().items()})

    def _begin_year(self, year: int, ready: NextYear | None = None) -> None:
        super()._begin_year(year, ready)
        gp = self.services["gp"]
        assert isinstance(gp, PrimaryCareService)
        new = gp.new  # this year's requests, one per GP event
        assert new["k"].size == self.world.events["gp"].size
        # requests hold people by id or by position in this year's population
        ids = new["id"] if "id" in new else self.world.pop.person_id[new["idx"]]
        self.years[-1]["gp"] = {
            "person_id": np.asarray(ids, dtype=np.int64).copy(),
            "k": new["k"].astype(np.int64),
            **{name: new[name].copy() for name in GP_DECISIONS},
        }
        self.years[-1]["ltc_count"] = self.world.pop.ltc_count.copy()
        assert self.world.mortality_normaliser is not None
        self.years[-1]["mortality_normaliser"] = self.world.mortality_normaliser.copy()


Run = tuple[ProbeEngine, dict[str, pd.DataFrame]]


def run(scenario: Scenario, *levers: ProbeLever) -> Run:
    engine = ProbeEngine(scenario, 0, levers=list(levers))
    return engine, engine.run()


@pytest.fixture(scope="module")
def probe_scenario(baseline_scenario: Scenario) -> Scenario:
    return baseline_scenario.with_run(population=PEOPLE, years=YEARS, replications=1)


@pytest.fixture(scope="module")
def baseline_run(probe_scenario: Scenario) -> Run:
    return run(probe_scenario)


@pytest.fixture(scope="module")
def condition_run(probe_scenario: Scenario) -> Run:
    return run(probe_scenario, ConditionProbe())


@pytest.fixture(scope="module")
def rate_run(probe_scenario: Scenario) -> Run:
    return run(probe_scenario, RateProbe())


@pytest.fixture(params=["condition", "rate"])
def lever_run(request: pytest.FixtureRequest) -> Run:
    result: Run = request.getfixturevalue(f"{request.param}_run")
    return result


# ----------------------------------------------------------------------------- helpers


def untargeted_deaths(year: dict[str, Any]) -> pd.Series:
    ids = year["person_id"]
    keep = ~targeted(ids)
    return pd.Series(year["death_day"][keep], index=ids[keep])


def untargeted_events(year: dict[str, Any], service: str) -> np.ndarray:
    """(person id, event number, day) of the untargeted people's events, sorted."""
    ev = year["events"][service]
    pid = ev.ids[ev.person]
    keep = ~targeted(pid)
    rows = np.stack([pid[keep], ev.k[keep].astype(np.int64), ev.day[keep].astype(np.int64)])
    return rows[:, np.lexsort(rows[::-1])]


def untargeted_gp(year: dict[str, Any]) -> pd.DataFrame:
    gp = year["gp"]
    frame = pd.DataFrame({name: np.asarray(col) for name, col in gp.items()})
    frame = frame[~targeted(frame["person_id"].to_numpy())]
    return frame.sort_values(["person_id", "k"]).reset_index(drop=True)


def targeted_events(engine: ProbeEngine, service: str) -> int:
    """Events of the targeted people from the lever's first year on."""
    return sum(
        int(targeted(y["events"][service].person_id).sum()) for y in engine.years[FIRST_LEVER_YEAR:]
    )


# ----------------------------------------------------------------------------- the tests


def test_the_probes_target_about_a_tenth_and_change_what_they_target(
    baseline_run: Run, condition_run: Run, rate_run: Run
) -> None:
    base, cond, rate = baseline_run[0], condition_run[0], rate_run[0]
    year1 = base.years[FIRST_LEVER_YEAR]
    share = targeted(year1["person_id"]).mean()
    assert share == pytest.approx(SHARE, abs=0.01)
    # the condition probe added conditions to the targeted (and to nobody else)
    ids = year1["person_id"]
    np.testing.assert_array_equal(cond.years[FIRST_LEVER_YEAR]["person_id"], ids)
    extra = cond.years[FIRST_LEVER_YEAR]["ltc_count"] - year1["ltc_count"]
    hit = targeted(ids)
    assert np.all(extra[~hit] == 0)
    assert np.all(extra[hit] == 1)
    # the rate probe took away some of the targeted people's events (about half)
    for service in ("gp", "outpatient"):
        ratio = targeted_events(rate, service) / targeted_events(base, service)
        assert 0.4 < ratio < 0.65, (service, ratio)


def test_untargeted_death_days_are_identical(baseline_run: Run, lever_run: Run) -> None:
    base, other = baseline_run[0], lever_run[0]
    for year, (a, b) in enumerate(zip(base.years, other.years, strict=True)):
        da, db = untargeted_deaths(a), untargeted_deaths(b)
        # the same untargeted people are alive, and each dies on the same day (or survives)
        pd.testing.assert_series_equal(da, db, obj=f"untargeted death days, year {year}")


def test_untargeted_demand_events_are_identical(baseline_run: Run, lever_run: Run) -> None:
    base, other = baseline_run[0], lever_run[0]
    for year, (a, b) in enumerate(zip(base.years, other.years, strict=True)):
        for service in DEMAND_SERVICES:
            ea, eb = untargeted_events(a, service), untargeted_events(b, service)
            assert ea.shape[1] > 0, (year, service)
            np.testing.assert_array_equal(ea, eb, err_msg=f"year {year} {service}")


def test_untargeted_gp_decisions_are_identical(baseline_run: Run, lever_run: Run) -> None:
    base, other = baseline_run[0], lever_run[0]
    for year, (a, b) in enumerate(zip(base.years, other.years, strict=True)):
        ga, gb = untargeted_gp(a), untargeted_gp(b)
        assert len(ga) > 10_000, (year, len(ga))
        assert set(ga.columns) == {"person_id", "k", *GP_DECISIONS}
        pd.testing.assert_frame_equal(ga, gb, check_exact=True, obj=f"GP decisions {year}")


def test_entrants_are_identical(baseline_run: Run, lever_run: Run) -> None:
    base, other = baseline_run[0], lever_run[0]
    assert len(base.entrants) == len(other.entrants) == YEARS
    for year, (a, b) in enumerate(zip(base.entrants, other.entrants, strict=True)):
        assert a["person_id"].size > 0
        assert set(a) == set(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"year {year} {name}")
    births = [y["births"] for y in base.years]
    assert births == [y["births"] for y in other.years]


def test_capacity_offered_is_identical(baseline_run: Run, lever_run: Run) -> None:
    cap_a = baseline_run[1]["capacity"]
    cap_b = lever_run[1]["capacity"]
    pd.testing.assert_series_equal(
        cap_a["capacity_offered"], cap_b["capacity_offered"], check_exact=True
    )


def test_the_condition_probe_moves_only_the_targeted_deaths(
    baseline_run: Run, condition_run: Run
) -> None:
    base, cond = baseline_run[0], condition_run[0]
    deaths = []
    for engine in (base, cond):
        n = 0
        for year in engine.years[FIRST_LEVER_YEAR:]:
            hit = targeted(year["person_id"])
            n += int((year["death_day"][hit] >= 0).sum())
        deaths.append(n)
    assert deaths[1] > deaths[0]  # an extra condition raises the hazard of the targeted


def test_mortality_is_normalised_on_the_lever_free_population(
    baseline_run: Run, lever_run: Run
) -> None:
    base, other = baseline_run[0], lever_run[0]
    for year, (a, b) in enumerate(zip(base.years, other.years, strict=True)):
        np.testing.assert_array_equal(
            a["mortality_normaliser"], b["mortality_normaliser"], err_msg=f"year {year}"
        )
    # without levers the normaliser is the mean hazard ratio of the year's own population
    # in each age-sex cell, so mortality by age and sex stays at the life table (checked
    # on the last year, whose population is the engine's at the end of the run)
    hr = base.scenario.register.scalar("dynamics.mortality_hr_per_ltc")
    pop = base.world.pop
    cell = pop.sex.astype(np.int64) * 101 + np.minimum(pop.age, 100)
    people = np.bincount(cell, minlength=202)
    total = np.bincount(cell, np.power(hr, pop.ltc_count.astype(float)), minlength=202)
    seen = people > 0
    np.testing.assert_allclose(
        base.years[-1]["mortality_normaliser"].reshape(-1)[seen],
        total[seen] / people[seen],
        rtol=1e-12,
    )


def test_entrant_numbers_ids_and_capacity_follow_the_plan(baseline_run: Run) -> None:
    engine, tables = baseline_run
    plan = engine.world.plan
    assert plan is not None
    reg = engine.scenario.register
    g = reg.scalar("dynamics.planned_growth_per_year")
    assert plan.growth == g
    assert plan.base_size == PEOPLE
    for year, (rec, new) in enumerate(zip(engine.years, engine.entrants, strict=True)):
        births, migrants = plan.births[year], plan.migrants[year]
        assert rec["births"] == births
        # about the register's rates of the planned population before entrants join
        planned = PEOPLE * (1 + g) ** year
        assert abs(births - planned * reg.scalar("dynamics.births_per_person_year")) < 1
        assert abs(migrants - planned * reg.scalar("dynamics.net_migration_per_person_year")) < 1
        # ids from the blocks reserved for the year: births, then migrants
        first = PEOPLE + 2 * year * PEOPLE
        expected = np.concatenate(
            [np.arange(first, first + births), np.arange(first + PEOPLE, first + PEOPLE + migrants)]
        )
        np.testing.assert_array_equal(new["person_id"], expected)
        assert np.all(new["age"][:births] == 0)
    # capacity = rate per 1,000 x planned population (start x (1 + g)^t) on each day
    cap = tables["capacity"].set_index(["year", "service"])["capacity_offered"]
    rate = reg.scalar("capacity.community.nursing_contacts_per_1000_per_day")
    start_year = engine.scenario.run.start_year
    for year in range(YEARS):
        planned = plan.start * (1 + g) ** year
        assert plan.population(year) == pytest.approx(planned, rel=1e-12)
        offered = cap[(start_year + year, "community_nursing_contact")]
        assert abs(offered - rate * planned / 1000 * 365) <= 1
