"""The service registry and the one vocabulary of service names.

* Names: every name a run records, reports or shows a lever is declared in
  ``model.services.names``; an unknown name (a typo, an old name) raises
  ``UnknownServiceError`` wherever it is used, even when there is nothing to record.
* Registry: the default services run in a fixed within-day order; a registry refuses a
  name registered twice or a service that calls itself by another name.
* A toy service registered through the registry's API (no change to the engine) runs
  every day after the others and its activity appears in the activity table, while every
  other row of the tables stays as in the baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy

from model.demand import SERVICES as DEMAND_STREAM_ORDER
from model.engine import Engine, run_one
from model.ledger import SERVICES as LEDGER_SERVICES
from model.ledger import Ledger
from model.register import Register
from model.scenario import Scenario
from model.services import names
from model.services.base import ServedList
from model.services.names import UnknownServiceError
from model.services.protocol import ServiceYear
from model.services.registry import SERVICES, Entry, Registry, merge_years
from model.world import World

# ----------------------------------------------------------------------------- vocabulary


def test_the_vocabulary_is_the_one_the_rest_of_the_model_uses() -> None:
    # demand streams: the register's demand.<stream> keys, in the engine's drawing order
    assert tuple(names.DEMAND_STREAMS) == DEMAND_STREAM_ORDER
    assert LEDGER_SERVICES == {k: (a.setting, a.payer) for k, a in names.ACTIVITIES.items()}
    # every waiting list, capacity and demand stream delivers or feeds a declared activity
    for mapping in (names.WAITING_LISTS, names.CAPACITIES, names.DEMAND_STREAMS):
        assert set(mapping.values()) <= set(names.ACTIVITIES)
    assert names.feeds("gp") == "gp_appointment"
    assert names.feeds("elective_daycase") == "elective_admission"


@pytest.fixture
def ledger(register: Register) -> Ledger:
    ledger = Ledger(register, replication=0, start_year=2024)
    ledger.start_year_(0)
    return ledger


@pytest.mark.parametrize("strata", [np.array([1, 2]), np.empty(0, dtype=np.int64)])
def test_the_ledger_refuses_an_unknown_activity(ledger: Ledger, strata: np.ndarray) -> None:
    with pytest.raises(UnknownServiceError, match="did you mean 'gp_appointment'"):
        ledger.count("gp_apointment", strata)
    with pytest.raises(UnknownServiceError, match="gp_apointment"):
        ledger.count_coded("gp_apointment", strata, np.zeros_like(strata), (("gp", ""),))
    # the names of waiting lists and capacities are not activity names
    with pytest.raises(UnknownServiceError):
        ledger.count("social_care_assessment", strata)


def test_the_ledger_refuses_unknown_waiting_lists_and_capacities(ledger: Ledger) -> None:
    with pytest.raises(UnknownServiceError, match="waiting-list"):
        ledger.waits("gp", np.array([1.0]), np.zeros(1, dtype=np.int64))
    with pytest.raises(UnknownServiceError, match="waiting-list"):
        ledger.end_year({"gp": 3}, {})
    with pytest.raises(UnknownServiceError, match="capacity"):
        ledger.end_year({}, {"beds": (1.0, 1.0)})


@pytest.fixture(scope="module")
def opened(baseline_scenario: Scenario) -> Engine:
    """A small engine whose first year has been opened; tests only read it."""
    engine = Engine(baseline_scenario.with_run(population=2_000, years=1), 0)
    engine._add_entrants(0)
    engine._begin_year(0)
    return engine


@pytest.mark.parametrize("old_name", ["gp", "beds", "elective", "bed_days"])
def test_capacity_lookups_refuse_unknown_names(opened: Engine, old_name: str) -> None:
    key = "capacity.acute.beds_per_1000"
    assert opened.world.capacity_today("bed_day", key) > 0
    with pytest.raises(UnknownServiceError, match="capacity"):
        opened.world.capacity_today(old_name, key)


def test_demand_rates_refuse_unknown_streams(opened: Engine) -> None:
    assert opened.world.rates("gp").shape == opened.world.pop.person_id.shape
    for wrong in ("gp_appointment", "elective"):
        with pytest.raises(UnknownServiceError, match="demand stream"):
            opened.world.rates(wrong)
    with pytest.raises(UnknownServiceError):
        names.feeds("outpatients")


@dataclasses.dataclass
class NameRecorder:
    """A lever that changes nothing and notes the service names the engine shows it."""

    name: str = "names"
    rates: set[str] = dataclasses.field(default_factory=set)
    capacities: set[str] = dataclasses.field(default_factory=set)

    def on_year_start(self, world: World) -> None:
        return None

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        self.rates.add(service)
        return None

    def capacity_multiplier(self, world: World, service: str) -> float:
        self.capacities.add(service)
        return 1.0

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return []


def test_levers_see_the_declared_names_and_runs_report_only_those(
    baseline_scenario: Scenario,
) -> None:
    recorder = NameRecorder()
    tables = run_one(baseline_scenario.with_run(population=2_000, years=1), 0, levers=[recorder])
    # rate multipliers see every demand stream, capacity multipliers every capacity name
    assert recorder.rates == set(names.DEMAND_STREAMS)
    assert recorder.capacities == set(names.CAPACITIES)
    assert set(tables["activity"]["service"].astype(str)) <= set(names.ACTIVITIES)
    assert set(tables["waits"]["service"].astype(str)) == set(names.WAITING_LISTS)
    assert set(tables["capacity"]["service"].astype(str)) == set(names.CAPACITIES)


def test_every_served_list_is_a_declared_waiting_list_and_capacity(opened: Engine) -> None:
    lists = [
        value
        for service in opened.services.values()
        for value in vars(service).values()
        if isinstance(value, ServedList)
    ]
    assert len(lists) == 6  # day cases, outpatient first and follow-up, three community
    for wl in lists:
        assert wl.label in names.WAITING_LISTS and wl.label in names.CAPACITIES


# ----------------------------------------------------------------------------- registry


def test_the_default_services_run_in_a_fixed_order_within_the_day(opened: Engine) -> None:
    assert SERVICES.names == ("gp", "acute", "ambulatory", "community")
    assert [SERVICES.offset(i) for i in range(len(SERVICES))] == [0.1, 0.2, 0.3, 0.4]
    assert tuple(opened.services) == SERVICES.names
    for name, service in opened.services.items():
        assert service.name == name


def test_a_registry_refuses_duplicates_and_services_with_another_name(opened: Engine) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        SERVICES.with_service("gp", Toy)
    with pytest.raises(KeyError, match="no service 'dentist'"):
        SERVICES.with_service("toy", Toy, after="dentist")
    misnamed = Registry((Entry("dentist", Toy),))
    with pytest.raises(ValueError, match="calls itself 'toy'"):
        misnamed.build(opened.world)


def test_registry_edits_keep_the_order() -> None:
    assert SERVICES.with_service("toy", Toy, after="gp").names == (
        "gp",
        "toy",
        "acute",
        "ambulatory",
        "community",
    )
    assert SERVICES.without("ambulatory").names == ("gp", "acute", "community")
    swapped = SERVICES.replacing("acute", Toy)
    assert swapped.names == SERVICES.names
    assert swapped.entries[1].factory is Toy


def test_records_of_the_year_merge_and_a_name_reported_twice_is_an_error() -> None:
    a = ServiceYear(backlogs={"gp_appointment": 1}, capacity={"gp_appointment": (2.0, 1.0)})
    b = ServiceYear(backlogs={"emergency_admission": 3}, mean_occupied_beds=4.5)
    merged = merge_years([a, b])
    assert merged.backlogs == {"gp_appointment": 1, "emergency_admission": 3}
    assert merged.capacity == {"gp_appointment": (2.0, 1.0)}
    assert merged.mean_occupied_beds == 4.5
    with pytest.raises(ValueError, match="gp_appointment"):
        merge_years([a, ServiceYear(capacity={"gp_appointment": (1.0, 1.0)})])
    with pytest.raises(ValueError, match="beds"):
        merge_years([b, ServiceYear(mean_occupied_beds=1.0)])


# ----------------------------------------------------------------------------- toy service

TOY_ACTIVITY = "toy_visit"


class Toy:
    """A minimal care setting: one visit a day, by the first person of the population."""

    name = "toy"

    def __init__(self, world: World) -> None:
        self.times: list[float] = []
        self.years: list[int] = []
        self.carried = 0

    def start_year(self, world: World) -> None:
        self.years.append(world.year)

    def day(self, world: World, day: int) -> None:
        assert world.env is not None
        self.times.append(float(world.env.now))
        world.ledger.count(TOY_ACTIVITY, world.strata[:1], mode="visit")

    def end_year(self, world: World) -> ServiceYear:
        return ServiceYear()

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        self.carried += 1


def _without_categories(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
    return out


def test_a_registered_toy_service_runs_and_appears_in_the_activity_table(
    baseline_scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a new care setting declares its activity names, then takes one registry line
    toy_activity = names.Activity("toy_setting", "person")
    monkeypatch.setitem(names.ACTIVITIES, TOY_ACTIVITY, toy_activity)
    scenario = baseline_scenario.with_run(population=2_000, years=2)
    engine = Engine(scenario, 0, registry=SERVICES.with_service("toy", Toy))
    tables = engine.run()
    toy = engine.services["toy"]
    assert isinstance(toy, Toy)
    # every day of every year, after the other services (offset 0.5 of 0.1 .. 0.5)
    assert toy.years == [0, 1]
    assert len(toy.times) == 2 * 365
    assert np.allclose(np.asarray(toy.times) % 1, 0.5)
    assert toy.carried >= 1  # told when the population changed at the year boundary
    act = tables["activity"]
    mine = act[act["service"] == TOY_ACTIVITY]
    assert mine.groupby("year")["count"].sum().tolist() == [365.0, 365.0]
    assert set(mine["setting"]) == {"toy_setting"} and set(mine["payer"]) == {"person"}
    assert set(mine["mode"]) == {"visit"} and mine["cost_gbp"].sum() == 0.0
    # the other services are untouched by the extra one
    baseline = run_one(scenario, 0)
    others = act[act["service"] != TOY_ACTIVITY]
    pd.testing.assert_frame_equal(
        _without_categories(others), _without_categories(baseline["activity"])
    )
    for name in ("person_years", "waits", "capacity"):
        pd.testing.assert_frame_equal(tables[name], baseline[name])
