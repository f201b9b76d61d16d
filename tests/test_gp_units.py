"""Unit tests of general practice internals, and of waiting lists across years.

* Mode: each request's preferred mode follows the register's preferences of its segment;
  a served request gets its preference while that mode has slots, then a mode with spare
  slots.
* Patience and spill: the days a request waits before giving up follow the segment's
  exponential patience; a share of the requests that give up (by segment) go to A&E the
  same day, the rest go unmet.
* DNA: the normaliser is fixed on the base population, whose DNA rate is the register's.
* Weekends: requests made on Saturday or Sunday wait for Monday, first come first served.
* Waiting lists carried into a new year keep their order and drop the people who died.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import simpy

from model.engine import Engine
from model.population import SEGMENTS, build_population
from model.scenario import Scenario
from model.services.base import RequestTable, WaitingList
from model.services.gp import MODES, GPService
from model.world import World

PEOPLE = 20_000
Z = 4.5  # tolerance in standard errors for shares and means


def year_zero(scenario: Scenario, levers: list[Any] | None = None) -> Engine:
    """An engine whose first year has been opened (demand drawn, services started)."""
    engine = Engine(scenario, 0, levers=levers or [])
    engine._add_entrants(0)
    engine._begin_year(0)
    return engine


def gp_service(engine: Engine) -> GPService:
    """The engine's general practice (registered as "gp")."""
    service = engine.services["gp"]
    assert isinstance(service, GPService)
    return service


@pytest.fixture(scope="module")
def gp_scenario(baseline_scenario: Scenario) -> Scenario:
    return baseline_scenario.with_run(population=PEOPLE, years=2, replications=1)


@pytest.fixture(scope="module")
def opened(gp_scenario: Scenario) -> Engine:
    """Year 0 opened; tests only read it."""
    return year_zero(gp_scenario)


def requests(engine: Engine) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Segment of each of the year's GP requests and their decision columns."""
    table = gp_service(engine).list.table
    return engine.world.pop.segment[table.person], table.extra


def assert_share(hits: np.ndarray, p: float, what: str) -> None:
    n = hits.size
    assert n > 500, what
    se = np.sqrt(p * (1 - p) / n)
    assert abs(hits.mean() - p) <= Z * se, f"{what}: {hits.mean():.4f} vs {p:.4f} (n={n})"


# ----------------------------------------------------------------------------- mode


@pytest.mark.parametrize("segment", range(len(SEGMENTS)))
def test_preferred_mode_follows_the_preferences_of_the_segment(
    opened: Engine, segment: int
) -> None:
    seg, extra = requests(opened)
    prefs = opened.world.register.array(f"gp.mode_preference.{SEGMENTS[segment]}")
    mine = extra["pref"][seg == segment]
    for m, mode in enumerate(MODES):
        assert_share(mine == m, float(prefs[m]), f"{SEGMENTS[segment]} {mode}")


def test_segments_prefer_modes_differently(opened: Engine) -> None:
    seg, extra = requests(opened)
    face = [float((extra["pref"][seg == s] == 0).mean()) for s in range(len(SEGMENTS))]
    assert max(face) - min(face) > 0.05


def test_modes_follow_preference_while_slots_last(opened: Engine) -> None:
    gp = gp_service(opened)
    pref = np.array([0, 0, 0, 1, 2, 0], dtype=np.int8)
    # every preference fits: nobody is moved
    np.testing.assert_array_equal(gp._assign_modes(pref, np.array([4, 1, 1])), pref)
    # two face-to-face slots: the first two who want one get it (queue order); the other
    # two are moved to the mode with spare slots
    mode = gp._assign_modes(pref, np.array([2, 3, 1]))
    np.testing.assert_array_equal(mode, [0, 0, 1, 1, 2, 1])
    assert np.all(np.bincount(mode, minlength=3) <= [2, 3, 1])
    # fewer slots than requests (rounding): the one spare slot goes to the first moved
    # request, and the rest keep their preference
    mode = gp._assign_modes(pref, np.array([1, 2, 0]))
    np.testing.assert_array_equal(mode, [0, 1, 0, 1, 2, 0])


# ----------------------------------------------------------------------------- patience, spill


@pytest.mark.parametrize("segment", range(len(SEGMENTS)))
def test_patience_follows_the_segment(opened: Engine, segment: int) -> None:
    seg, extra = requests(opened)
    reg = opened.world.register
    mean_days = reg.scalar("gp.patience_days") * reg.array("gp.patience_relative_by_segment")
    table = gp_service(opened).list.table
    mine = seg == segment
    waited = (extra["deadline"] - table.arrival)[mine].astype(np.float64)
    # the deadline is the last whole day of an exponential patience X of the segment's
    # mean mu: E[floor(X)] = 1 / (exp(1 / mu) - 1), SD about mu
    mu = float(mean_days[segment])
    expected = 1.0 / np.expm1(1.0 / mu)
    assert abs(waited.mean() - expected) <= Z * mu / np.sqrt(waited.size), (
        SEGMENTS[segment],
        waited.mean(),
        expected,
    )
    assert waited.min() >= 0


@pytest.mark.parametrize("segment", range(len(SEGMENTS)))
def test_spill_share_follows_the_segment(opened: Engine, segment: int) -> None:
    seg, extra = requests(opened)
    share = float(opened.world.register.array("gp.spill_to_ae_by_segment")[segment])
    assert_share(extra["spill"][seg == segment], share, SEGMENTS[segment])


@dataclasses.dataclass
class NoGP:
    """A lever that closes general practice (so every request waits until it gives up)."""

    name: str = "no_gp"

    def on_year_start(self, world: World) -> None:
        return None

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        return None

    def capacity_multiplier(self, world: World, service: str) -> float:
        return 0.0 if service == "gp_appointment" else 1.0

    def processes(self, world: World) -> list[Callable[[simpy.Environment], Any]]:
        return []


def test_requests_past_their_patience_spill_to_ae_or_go_unmet(gp_scenario: Scenario) -> None:
    engine = year_zero(gp_scenario.with_run(population=5_000), [NoGP()])
    gp, w = gp_service(engine), engine.world
    tab = gp.list.table
    dropped_total = spilled_total = 0
    for day in range(60):
        before = np.concatenate([gp.list.queue.pending, gp.list.arrivals(day)])
        expired = tab.extra["deadline"][before] < day  # year 0: absolute day = day
        w.ae_inbox = []
        gp.day(w, day)
        # nobody is served; exactly the requests past their deadline leave the queue
        np.testing.assert_array_equal(gp.list.queue.pending, before[~expired])
        gone = before[expired]
        spill = gone[tab.extra["spill"][gone]]
        sent = w.ae_inbox[0] if w.ae_inbox else (np.empty(0), np.empty(0), "gp_spill")
        np.testing.assert_array_equal(sent[0], tab.person[spill])
        np.testing.assert_array_equal(sent[1], tab.k[spill])
        dropped_total += gone.size
        spilled_total += spill.size
    assert gp.used == 0
    assert dropped_total > 200 and 0 < spilled_total < dropped_total


# ----------------------------------------------------------------------------- DNA


def test_dna_normaliser_gives_the_register_rate_on_the_base_population(
    gp_scenario: Scenario, opened: Engine
) -> None:
    reg = opened.world.register
    run = gp_scenario.run
    base = build_population(run.population, run.seed, reg, run.base_year, 0)
    gp = gp_service(opened)
    rr = reg.array("gp.dna_rr_by_pam_level")
    assert gp.dna_rr_mean == pytest.approx(float(rr[base.pam_level - 1].mean()), rel=1e-12)
    p_dna = reg.scalar("gp.dna_rate") * rr / gp.dna_rr_mean
    # the base population's people miss appointments at the register's rate on average
    assert float(p_dna[base.pam_level - 1].mean()) == pytest.approx(
        reg.scalar("gp.dna_rate"), rel=1e-12
    )
    # each request's DNA follows its person's PAM level
    table = gp.list.table
    level = opened.world.pop.pam_level[table.person]
    for lv in range(1, 5):
        assert_share(table.extra["dna"][level == lv], float(p_dna[lv - 1]), f"PAM level {lv}")


def test_dna_normaliser_stays_fixed_when_activation_changes(gp_scenario: Scenario) -> None:
    engine = Engine(gp_scenario.with_run(population=5_000), 0)
    before = gp_service(engine).dna_rr_mean
    engine.run()  # two years: ageing and activation drift change everyone's level
    assert gp_service(engine).dna_rr_mean == before
    rr = engine.world.register.array("gp.dna_rr_by_pam_level")
    assert float(rr[engine.world.pop.pam_level - 1].mean()) != before


# ----------------------------------------------------------------------------- weekends


def test_weekend_requests_wait_for_monday(gp_scenario: Scenario) -> None:
    engine = year_zero(gp_scenario)
    gp, w = gp_service(engine), engine.world
    saturday = next(d for d in range(7, 21) if w.calendar_date(d).weekday() == 5)
    for day in range(saturday):
        gp.day(w, day)
    tab = gp.list.table
    weekend: list[np.ndarray] = []
    for day in (saturday, saturday + 1):
        offered, used = gp.offered, gp.used
        before = np.concatenate([gp.list.queue.pending, gp.list.arrivals(day)])
        weekend.append(gp.list.arrivals(day))
        gp.day(w, day)
        # nothing is offered or served; requests only join (or give up)
        assert (gp.offered, gp.used) == (offered, used)
        kept = before[tab.extra["deadline"][before] >= day]
        np.testing.assert_array_equal(gp.list.queue.pending, kept)
    monday = saturday + 2
    assert w.is_working_day(monday)
    used = gp.used
    queue = np.concatenate([gp.list.queue.pending, gp.list.arrivals(monday)])
    queue = queue[tab.extra["deadline"][queue] >= monday]
    gp.day(w, monday)
    served = int(gp.used - used)
    assert served > 0
    # first come, first served: Monday serves the head of the queue, which holds the
    # weekend's requests before Monday's own
    np.testing.assert_array_equal(gp.list.queue.pending, queue[served:])
    first = queue[:served]
    saturday_rows = np.intersect1d(weekend[0], first)
    assert saturday_rows.size > 0
    assert np.all(tab.arrival[first] <= monday)
    monday_rows = gp.list.arrivals(monday)
    if np.isin(np.concatenate(weekend), gp.list.queue.pending).any():
        assert not np.isin(monday_rows, first).any()  # nobody jumped the weekend queue


# ----------------------------------------------------------------------------- across years


def test_waiting_lists_carried_across_years_drop_the_dead(gp_scenario: Scenario) -> None:
    engine = year_zero(gp_scenario.with_run(population=5_000))
    w = engine.world
    ids0 = w.pop.person_id.copy()
    dead = np.flatnonzero(w.death_day >= 0)
    alive = np.flatnonzero(w.death_day < 0)
    assert dead.size >= 10
    # a list holding requests of the dead and of survivors, interleaved, still waiting at
    # the end of the year
    people = np.ravel(np.column_stack([dead[:10], alive[:10]]))
    wl = WaitingList()
    wl.start_year(
        w,
        RequestTable(
            person=people.astype(np.int32),
            k=np.arange(people.size, dtype=np.int32),
            arrival=np.full(people.size, 360, dtype=np.int32),
            extra={"tag": np.arange(people.size)},
        ),
    )
    wl.queue.add(wl.arrivals(360)[::-1])  # queue order differs from table order
    queued = wl.queue.pending.copy()
    engine._end_year()
    wl.capture(w)
    engine._advance_population(1)
    engine._add_entrants(1)
    w.year = 1
    new = RequestTable(
        person=np.array([0, 1], dtype=np.int32),
        k=np.array([7, 8], dtype=np.int32),
        arrival=np.array([365, 366], dtype=np.int32),
        extra={"tag": np.array([100, 101])},
    )
    wl.start_year(w, new)
    # the backlog comes first, in queue order, without the dead, found again by id
    survivors = queued[np.isin(people[queued], alive)]
    expected_ids = ids0[people[survivors]]
    n = expected_ids.size
    assert n == 10
    np.testing.assert_array_equal(wl.queue.pending, np.arange(n))
    np.testing.assert_array_equal(w.pop.person_id[wl.table.person[:n]], expected_ids)
    np.testing.assert_array_equal(wl.table.extra["tag"][:n], survivors)
    assert not np.isin(w.pop.person_id[wl.table.person], ids0[dead]).any()
    # then the new year's requests, arriving on their days
    np.testing.assert_array_equal(wl.table.extra["tag"][n:], [100, 101])
    np.testing.assert_array_equal(wl.arrivals(0), [n])
    np.testing.assert_array_equal(wl.arrivals(1), [n + 1])


def test_a_new_years_gp_table_holds_one_row_per_request(opened: Engine) -> None:
    assert isinstance(opened.services["gp"], GPService)
    assert gp_service(opened).list.table.size == opened.world.events["gp"].size
