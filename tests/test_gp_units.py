"""Unit tests of general practice (``model.services.primary_care.PrimaryCareService``).

Where levers will land (request decisions also on changed register values):

* Requests: each request's mode follows the preferences of its person's segment; the share
  of same-day requests is ``gp.same_day_share``; pre-booked leads follow
  ``gp.prebook_lead_shares`` by band and stay within the bands' days; requests go to roles
  in proportion to the appointments each role's minutes allow, in the person's practice.
* DNA: ``gp.dna_rate x dna_rr_by_wait_band x dna_rr_by_pam_level / mean``, the mean taken
  once on the base population (a change of activation changes the overall DNA rate).
* Weekends: requests made on Saturday or Sunday are handled on Monday; nothing happens on a
  weekend day.
* Too long a wait: with no capacity every same-day attempt fails and ends as a retry, a
  visit to A&E or a give-up, with shares by segment, after at most ``gp.max_same_day_attempts``
  attempts; with ample capacity nobody gives up and same-day requests are seen that day.
* The diary starts seeded (appointments booked before day 0 happen in the first days), and
  people who died before their appointment are not counted.

And waiting lists of the other services carried across years (``model.services.base``).

The service's days are stepped directly (``service.day``); what happens is observed by
wrapping its ``_attend``, ``_same_day`` and ``_give_up`` on the instance. Requests are
compared by (person id, event number) whether the service holds ids or positions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.engine import Engine
from model.ledger import WAIT_BANDS, wait_band
from model.population import SEGMENTS, build_population
from model.register import default_register
from model.scenario import Scenario
from model.services.base import RequestTable, WaitingList
from model.services.primary_care import (
    CAPACITY_KEYS,
    LEAD_BANDS,
    MODES,
    ROLES,
    PrimaryCareService,
    _empty_requests,
)
from model.world import World

PEOPLE = 20_000
#: the register's default gp.max_same_day_attempts
MAX_TRIES = int(default_register().scalar("gp.max_same_day_attempts"))
Z = 4.5  # tolerance in standard errors for shares and means
#: register changes where levers land: preferences, urgency, booking leads, nurse time
CHANGES = {
    "gp.mode_preference.independent_engaged": [0.2, 0.3, 0.5],
    "gp.same_day_share": 0.3,
    "gp.prebook_lead_shares": [0.1, 0.2, 0.3, 0.4],
    "capacity.gp.nurse_minutes_per_1000_per_working_day": 300.0,
}


# ----------------------------------------------------------------------------- helpers


def year_zero(scenario: Scenario) -> Engine:
    """An engine whose first year has been opened (demand drawn, services started)."""
    engine = Engine(scenario, 0)
    engine._add_entrants(0)
    engine._begin_year(0)
    return engine


def gp_service(engine: Engine) -> PrimaryCareService:
    """The engine's general practice (registered as "gp")."""
    service = engine.services["gp"]
    assert isinstance(service, PrimaryCareService)
    return service


def with_values(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    return dataclasses.replace(scenario, register=scenario.register.with_values(overrides))


def capacity_times(scenario: Scenario, factor: float) -> Scenario:
    reg = scenario.register
    return with_values(scenario, {k: reg.scalar(k) * factor for k in CAPACITY_KEYS})


def assert_share(hits: np.ndarray, p: float, what: str, min_n: int = 500) -> None:
    n = hits.size
    assert n >= min_n, f"{what}: only {n} draws"
    se = np.sqrt(max(p * (1 - p), 1e-4) / n)
    assert abs(hits.mean() - p) <= Z * se, f"{what}: {hits.mean():.4f} vs {p:.4f} (n={n})"


def segment_of(world: World, ids: np.ndarray) -> np.ndarray:
    idx = world.index_of(ids)
    assert np.all(idx >= 0)
    return np.asarray(world.pop.segment[idx])


def handling_day(world: World, day: int) -> int:
    """The working day on which a request made on ``day`` (absolute) is handled."""
    while not world.is_working_day(day):
        day += 1
    return day


def handling_days(world: World, days: Any) -> np.ndarray:
    """``handling_day`` of each of an array of absolute days."""
    days = np.asarray(days, dtype=np.int64)
    lo = int(days.min())
    table = np.array([handling_day(world, d) for d in range(lo, int(days.max()) + 1)])
    return np.asarray(table[days - lo])


def working_days(world: World, days: Any) -> np.ndarray:
    """Whether each of an array of absolute days is a working day."""
    return np.array([world.is_working_day(int(d)) for d in np.asarray(days)], dtype=bool)


def alive_on(world: World, ids: np.ndarray, absolute_day: Any) -> np.ndarray:
    """People alive on (absolute) days of the current year.

    Dying on the day counts as dead, as elsewhere in the model (demand stops the day before).
    """
    idx = world.index_of(ids)
    dd = world.death_day[np.maximum(idx, 0)].astype(np.int64)
    return (idx >= 0) & ((dd < 0) | (dd > np.asarray(absolute_day) - world.day0))


def person_ids(world: World, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Person ids of request columns (held as ids or as positions in the population)."""
    if "id" in cols:
        return np.asarray(cols["id"], dtype=np.int64)
    return np.asarray(world.pop.person_id[cols["idx"]], dtype=np.int64)


def frame(world: World, cols: dict[str, np.ndarray], **extra: Any) -> pd.DataFrame:
    """Request columns as a table keyed by person id (positions are valid only today)."""
    out = pd.DataFrame({k: np.asarray(v) for k, v in cols.items() if k not in ("id", "idx")})
    out.insert(0, "id", person_ids(world, cols) if cols else np.empty(0, np.int64))
    out["k"] = out["k"].astype(np.int64)
    for name, value in extra.items():
        out[name] = value
    return out


def counted(gp: PrimaryCareService) -> tuple[int, int]:
    """Appointments counted so far this year: (attended, not attended)."""
    if gp.by_practice.ndim == 3:  # (attended / DNA, practice, code)
        return int(gp.by_practice[0].sum()), int(gp.by_practice[1].sum())
    return int(gp.by_practice.sum()), int(gp.dna_by_practice.sum())  # type: ignore[attr-defined]


@dataclasses.dataclass
class Recorder:
    """What one general practice did, day by day (wraps the service's own steps)."""

    attended: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    counted: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    attempts: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    gave_up: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    retried: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    spilled: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    counters: list[tuple[int, float, float, int]] = dataclasses.field(default_factory=list)
    weekend_diary_days: list[int] = dataclasses.field(default_factory=list)

    def watch(self, gp: PrimaryCareService) -> None:
        attend, same_day, give_up = gp._attend, gp._same_day, gp._give_up

        def _attend(
            world: World,
            today: int,
            booked_today: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
        ) -> None:
            if booked_today is None:  # the diary's appointments of today
                booked = gp.diary.get(today)
                cols = booked.take() if booked is not None else {}
            else:  # same-day bookings, seen straight from the requests (booked today)
                req, rows = booked_today
                cols = {name: col[rows] for name, col in req.items()} if rows.size else {}
                if cols:
                    cols["booked_on"] = np.full(rows.size, today, dtype=np.int32)
            before = sum(counted(gp))
            attend(world, today, booked_today)
            if cols:
                table = frame(world, cols, today=today)
                alive = int(alive_on(world, table["id"].to_numpy(), today).sum())
                self.attended.append(table)
                self.counted.append((today, sum(counted(gp)) - before, alive))

        def _same_day(world: World, req: dict[str, np.ndarray], today: int, ring: int) -> None:
            self.attempts.append(frame(world, req, today=today))
            same_day(world, req, today, ring)

        def _give_up(world: World, req: dict[str, np.ndarray], *args: np.ndarray) -> None:
            unmet, spill = args[-2:]  # (..., unmet, spill)
            self.gave_up.append(frame(world, req, unmet=unmet, spill=spill))
            give_up(world, req, *args)

        gp._attend = _attend  # type: ignore[method-assign]
        gp._same_day = _same_day  # type: ignore[method-assign]
        gp._give_up = _give_up  # type: ignore[method-assign]

    def step(self, engine: Engine, days: Iterable[int]) -> None:
        """Run the service's days, collecting retries and A&E hand-offs after each."""
        gp, w = gp_service(engine), engine.world
        inbox: list[tuple[np.ndarray, np.ndarray, str]] = []
        w.subscribe("gp_unmet_to_ae", lambda _w, s: inbox.append((s.person, s.k, s.route)))
        for day in days:
            absolute = w.day0 + day
            inbox.clear()
            gp.day(w, day)
            self.counters.append((absolute, gp.offered, gp.used, gp.attempts))
            self.weekend_diary_days += [d for d in gp.diary if not w.is_working_day(d)]
            for idx, k, route in inbox:
                assert route == "gp_spill"
                ids = w.pop.person_id[idx].astype(np.int64)
                self.spilled.append(pd.DataFrame({"id": ids, "k": k.astype(np.int64)}))
            if w.is_working_day(absolute):
                nxt = handling_day(w, absolute + 1)
                if nxt in gp.retries:
                    self.retried.append(frame(w, gp.retries[nxt], today=absolute))

    def table(self, name: str) -> pd.DataFrame:
        parts = getattr(self, name)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def run_days(scenario: Scenario, days: int) -> tuple[Engine, Recorder]:
    engine = year_zero(scenario)
    rec = Recorder()
    rec.watch(gp_service(engine))
    rec.step(engine, range(days))
    return engine, rec


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gp_scenario(baseline_scenario: Scenario) -> Scenario:
    return baseline_scenario.with_run(population=PEOPLE, years=2, replications=1)


@pytest.fixture(scope="module")
def opened(gp_scenario: Scenario) -> dict[str, Engine]:
    """Year 0 opened, on the register's values and on changed ones; tests only read them."""
    return {
        "register": year_zero(gp_scenario),
        "changed": year_zero(with_values(gp_scenario, CHANGES)),
    }


@pytest.fixture(params=["register", "changed"])
def engine(request: pytest.FixtureRequest, opened: dict[str, Engine]) -> Engine:
    return opened[request.param]


def requests_of(engine: Engine) -> pd.DataFrame:
    """The year's GP requests (``service.new``, in the order of the year's GP events) with
    the day each is made (absolute) and the person's segment."""
    gp, w = gp_service(engine), engine.world
    out = frame(w, gp.new)
    out["day"] = w.day0 + w.events["gp"].day.astype(np.int64)
    out["segment"] = segment_of(w, out["id"].to_numpy())
    return out


# ----------------------------------------------------------------------------- requests


def test_the_years_requests_are_the_years_gp_events(engine: Engine) -> None:
    gp, w = gp_service(engine), engine.world
    ev = w.events["gp"]
    req = frame(w, gp.new)
    assert len(req) == ev.size
    np.testing.assert_array_equal(req["id"], ev.ids[ev.person])
    np.testing.assert_array_equal(req["k"], ev.k)
    if "day" in gp.new:
        np.testing.assert_array_equal(gp.new["day"], w.day0 + ev.day.astype(np.int64))
    assert np.all(gp.new["attempt"] == 0)


@pytest.mark.parametrize("segment", range(len(SEGMENTS)))
def test_mode_follows_the_preferences_of_the_segment(engine: Engine, segment: int) -> None:
    req = requests_of(engine)
    prefs = engine.world.register.array(f"gp.mode_preference.{SEGMENTS[segment]}")
    mine = req["mode"].to_numpy()[req["segment"].to_numpy() == segment]
    for m, mode in enumerate(MODES):
        assert_share(mine == m, float(prefs[m]), f"{SEGMENTS[segment]} {mode}")


def test_segments_choose_modes_differently(opened: dict[str, Engine]) -> None:
    req = requests_of(opened["register"])
    face = req.groupby("segment")["mode"].apply(lambda m: float((m == 0).mean()))
    assert face.max() - face.min() > 0.05
    # the changed preference moves only its own segment
    changed = requests_of(opened["changed"])
    online = changed.groupby("segment")["mode"].apply(lambda m: float((m == 2).mean()))
    assert online[0] > 0.4 and online[1:].max() < 0.1


def test_the_share_of_same_day_requests_is_the_registers(engine: Engine) -> None:
    req = requests_of(engine)
    share = engine.world.register.scalar("gp.same_day_share")
    assert_share(req["kind"].to_numpy() == 0, share, "same-day share")
    assert set(np.unique(req["kind"])) == {0, 1}
    assert np.all(req.loc[req["kind"] == 0, "lead"] == 0)


def test_pre_booked_leads_follow_the_band_shares(engine: Engine) -> None:
    req = requests_of(engine)
    lead = req.loc[req["kind"] == 1, "lead"].to_numpy().astype(np.int64)
    shares = engine.world.register.array("gp.prebook_lead_shares")
    assert lead.min() >= LEAD_BANDS[0][0] and lead.max() <= LEAD_BANDS[-1][1]
    for (lo, hi), share in zip(LEAD_BANDS, shares, strict=True):
        inside = (lead >= lo) & (lead <= hi)
        assert_share(inside, float(share), f"lead {lo}-{hi} days")
        # every day of the band is about equally likely
        days = lead[inside]
        counts = np.bincount(days - lo, minlength=hi - lo + 1)
        p = 1 / (hi - lo + 1)
        se = np.sqrt(days.size * p * (1 - p))
        assert np.all(np.abs(counts - days.size * p) <= Z * se), (lo, hi, counts)


def test_requests_go_to_roles_by_the_appointments_their_minutes_allow(engine: Engine) -> None:
    gp, w = gp_service(engine), engine.world
    reg = w.register
    minutes = reg.array("gp.minutes_by_role_mode").reshape(len(ROLES), len(MODES))
    mean_pref = np.mean([reg.array(f"gp.mode_preference.{s}") for s in SEGMENTS], axis=0)
    role_minutes = np.array([reg.scalar(k) for k in CAPACITY_KEYS])
    appointments = role_minutes / (minutes @ mean_pref)
    expected = appointments / appointments.sum()
    np.testing.assert_allclose(gp.cum_role, np.cumsum(expected)[:-1], rtol=1e-12)
    role = gp.new["diary"] % len(ROLES)
    for r, name in enumerate(ROLES):
        assert_share(role == r, float(expected[r]), f"role {name}")
    # in the person's own practice
    ids = person_ids(w, gp.new)
    practice = gp.practices.of(ids, w.pop.imd[w.index_of(ids)])
    np.testing.assert_array_equal(gp.new["diary"] // len(ROLES), practice)


def test_more_nurse_time_sends_more_requests_to_nurses(opened: dict[str, Engine]) -> None:
    share = [
        float((gp_service(opened[name]).new["diary"] % len(ROLES) == 1).mean())
        for name in ("register", "changed")
    ]
    assert share[1] > share[0] + 0.1


# ----------------------------------------------------------------------------- DNA

WAITS = (0, 1, 4, 10, 20, 40)  # one wait (days from booking) in each band
PER_CELL = 20_000


@pytest.fixture
def fresh(gp_scenario: Scenario) -> Engine:
    """Year 0 opened, for a test to change."""
    return year_zero(gp_scenario)


def dna_share(engine: Engine, who: np.ndarray, wait: int, n: int, k0: int) -> np.ndarray:
    """Book ``n`` appointments (people ``who``, repeated) ``wait`` days ahead of a working day
    and let it happen; returns each one's DNA (True) or attendance, from the counts."""
    gp, w = gp_service(engine), engine.world
    today = handling_day(w, w.day0 + 300)
    reps = -(-n // who.size)
    person = np.tile(who, reps)[:n]
    ids = w.pop.person_id[person]
    k = k0 + np.repeat(np.arange(reps), who.size)[:n]
    practice = gp.practice_of[person].astype(np.int64)
    columns = {
        "id": ids,
        "idx": person,
        "k": k,
        "day": np.full(n, today - wait),
        "kind": np.ones(n),  # pre-booked
        "lead": np.full(n, wait),
        "diary": practice * len(ROLES),  # the GP's diary of the person's practice
        "mode": np.zeros(n),  # face to face
        "attempt": np.zeros(n),
    }
    req = {name: columns[name].astype(col.dtype) for name, col in _empty_requests().items()}
    assert today not in gp.diary
    gp._commit(req, np.full(n, today, dtype=np.int64), np.full(n, today - wait, dtype=np.int64))
    attended, missed = counted(gp)
    gp._attend(w, today)
    attended, missed = counted(gp)[0] - attended, counted(gp)[1] - missed
    assert attended + missed == n
    return np.r_[np.ones(missed, dtype=bool), np.zeros(attended, dtype=bool)]


def base_normaliser(scenario: Scenario) -> float:
    reg, run = scenario.register, scenario.run
    base = build_population(run.population, run.seed, reg, run.base_year, 0)
    return float(reg.array("gp.dna_rr_by_pam_level")[base.pam_level - 1].mean())


def test_the_dna_normaliser_is_the_mean_on_the_base_population(
    gp_scenario: Scenario, opened: dict[str, Engine]
) -> None:
    gp = gp_service(opened["register"])
    assert gp.dna_rr_mean == pytest.approx(base_normaliser(gp_scenario), rel=1e-12)


def test_dna_follows_wait_band_and_activation(gp_scenario: Scenario, fresh: Engine) -> None:
    np.testing.assert_array_equal(wait_band(np.array(WAITS)), np.arange(len(WAIT_BANDS)))
    w = fresh.world
    reg = w.register
    norm = base_normaliser(gp_scenario)
    rr_level = reg.array("gp.dna_rr_by_pam_level")
    rr_wait = reg.array("gp.dna_rr_by_wait_band")
    survivors = w.death_day < 0
    k0 = 1_000
    for level in range(1, 5):
        who = np.flatnonzero(survivors & (w.pop.pam_level == level))
        for band, wait in enumerate(WAITS):
            k0 += PER_CELL
            dna = dna_share(fresh, who, wait, PER_CELL, k0)
            p = reg.scalar("gp.dna_rate") * rr_wait[band] * rr_level[level - 1] / norm
            assert_share(dna, p, f"DNA, PAM level {level}, wait band {WAIT_BANDS[band]}")


def test_more_activation_lowers_the_dna_rate(gp_scenario: Scenario, fresh: Engine) -> None:
    # everyone reaches PAM level 4 (as a lever might): the normaliser stays that of the base
    # population, so the DNA rate falls rather than staying at the register's rate
    w = fresh.world
    gp = gp_service(fresh)
    norm = gp.dna_rr_mean
    w.pop = dataclasses.replace(w.pop, pam_level=np.full(w.pop.size, 4, w.pop.pam_level.dtype))
    reg = w.register
    dna = dna_share(fresh, np.flatnonzero(w.death_day < 0), WAITS[2], 100_000, 10**6)
    rate, rr = reg.scalar("gp.dna_rate"), reg.array("gp.dna_rr_by_pam_level")
    rr_wait = reg.array("gp.dna_rr_by_wait_band")[2]
    assert gp.dna_rr_mean == norm
    # a change of level carries the causal share of the association (level at entry kept)
    entry = rr[w.pop.pam_level_at_entry[np.flatnonzero(w.death_day < 0)] - 1]
    share = reg.scalar("gp.dna_pam_causal_share")
    rr4 = float(np.mean(entry * (rr[3] / entry) ** share))
    assert rr4 < float(np.mean(entry))  # lower than before the change
    assert_share(dna, rate * rr_wait * rr4 / norm, "DNA when everyone is at level 4")


def test_the_dna_normaliser_stays_fixed_across_years(gp_scenario: Scenario) -> None:
    engine = year_zero(gp_scenario.with_run(population=5_000))
    before = gp_service(engine).dna_rr_mean
    engine._end_year()
    engine._advance_population(1)  # deaths, ageing and activation drift
    engine._add_entrants(1)
    engine._begin_year(1)
    assert gp_service(engine).dna_rr_mean == before
    rr = engine.world.register.array("gp.dna_rr_by_pam_level")
    assert float(rr[engine.world.pop.pam_level - 1].mean()) != before


# ----------------------------------------------------------------------------- ample capacity
# Ten times the clinician time: every request gets the time it wants.

AMPLE_DAYS = 28


@pytest.fixture(scope="module")
def ample(gp_scenario: Scenario) -> tuple[Engine, Recorder]:
    return run_days(capacity_times(gp_scenario, 10.0), AMPLE_DAYS)


def made_in(engine: Engine, days: int) -> pd.DataFrame:
    """Requests made in the first ``days`` days whose handling day is within them too."""
    w = engine.world
    req = requests_of(engine)
    req["handled"] = handling_days(w, req["day"])
    return req[req["handled"] < w.day0 + days]


def test_with_ample_capacity_nobody_gives_up(ample: tuple[Engine, Recorder]) -> None:
    engine, rec = ample
    gp, w = gp_service(engine), engine.world
    assert gp.attempts > 5_000
    gave_up = rec.table("gave_up")
    if not gave_up.empty:
        gave_up = gave_up[gave_up["unmet"] | gave_up["spill"]]
    if not gave_up.empty:
        req = made_in(engine, AMPLE_DAYS).merge(gave_up[["id", "k"]], on=["id", "k"])
        weekend = ~working_days(w, req["handled"] + req["lead"].astype(np.int64))
        pytest.fail(
            f"{len(gave_up)} requests gave up ({int((gave_up['kind'] == 0).sum())} same-day, "
            f"{int((gave_up['kind'] == 1).sum())} pre-booked, of which {int(weekend.sum())} "
            "wanted a Saturday or Sunday and were offered the next working day)"
        )
    assert gp.failed == 0
    assert not rec.retried and not rec.spilled


def test_with_ample_capacity_same_day_requests_are_seen_that_day(
    ample: tuple[Engine, Recorder],
) -> None:
    engine, rec = ample
    w = engine.world
    req = made_in(engine, AMPLE_DAYS)
    same = req[req["kind"] == 0]
    same = same[alive_on(w, same["id"].to_numpy(), same["handled"].to_numpy())]
    seen = rec.table("attended")
    seen = seen[seen["kind"] == 0][["id", "k", "today", "booked_on"]]
    got = same.merge(seen, on=["id", "k"], how="left", validate="one_to_one")
    assert len(got) > 1_000
    missing = got["today"].isna()
    assert not missing.any(), f"{int(missing.sum())} same-day requests were not seen"
    np.testing.assert_array_equal(got["today"], got["handled"])
    np.testing.assert_array_equal(got["booked_on"], got["handled"])


def test_with_ample_capacity_pre_booked_requests_get_the_day_they_want(
    ample: tuple[Engine, Recorder],
) -> None:
    engine, rec = ample
    gp, w = gp_service(engine), engine.world
    req = made_in(engine, AMPLE_DAYS)
    pre = req[req["kind"] == 1]
    pre = pre[alive_on(w, pre["id"].to_numpy(), pre["handled"].to_numpy())]
    future = [frame(w, b.take(), today=d) for d, b in gp.diary.items()]
    booked = pd.concat([rec.table("attended"), *future], ignore_index=True)
    booked = booked[(booked["kind"] == 1) & (booked["booked_on"] >= w.day0)]  # not seeded
    booked = booked[["id", "k", "today", "booked_on"]]
    got = pre.merge(booked, on=["id", "k"], how="left", validate="one_to_one")
    assert len(got) > 1_000
    got["wanted"] = got["handled"] + got["lead"].astype(np.int64)
    missing = got[got["today"].isna()]
    assert missing.empty, (
        f"{len(missing)} of {len(got)} pre-booked requests got no appointment; "
        f"{int((~working_days(w, missing['wanted'])).sum())} of them wanted a weekend day"
    )
    np.testing.assert_array_equal(got["booked_on"], got["handled"])
    # the day wanted, or the next working day when it falls on a weekend
    np.testing.assert_array_equal(got["today"], handling_days(w, got["wanted"]))


# ----------------------------------------------------------------------------- weekends


def test_nothing_happens_on_a_weekend_day(ample: tuple[Engine, Recorder]) -> None:
    engine, rec = ample
    w = engine.world
    weekend = [d for d in range(w.day0, w.day0 + AMPLE_DAYS) if not w.is_working_day(d)]
    assert len(weekend) >= 6
    seen = rec.table("attended")
    assert not seen["today"].isin(weekend).any(), "appointments on a weekend day"
    assert not rec.weekend_diary_days, "appointments booked for a weekend day"
    counters = {day: rest for day, *rest in rec.counters}
    for day in weekend:
        before = counters.get(day - 1)
        if before is not None:
            assert counters[day] == before, f"day {day}: offered, used or attempts changed"


def test_weekend_requests_are_handled_on_monday(ample: tuple[Engine, Recorder]) -> None:
    engine, rec = ample
    w = engine.world
    req = made_in(engine, AMPLE_DAYS)
    req = req[alive_on(w, req["id"].to_numpy(), req["handled"].to_numpy())]
    weekend = req[~working_days(w, req["day"])]
    assert len(weekend) > 500
    assert all(w.calendar_date(int(d)).weekday() == 0 for d in weekend["handled"])
    # every same-day request is first tried on the day it is handled (the weekend's on
    # Monday); pre-booked ones are booked then (see the test above)
    tried = rec.table("attempts")
    tried = tried[tried["attempt"] == 0][["id", "k", "today"]]
    same = req[req["kind"] == 0].merge(tried, on=["id", "k"], how="left", validate="one_to_one")
    assert not same["today"].isna().any()
    np.testing.assert_array_equal(same["today"], same["handled"])
    assert (same["handled"] != same["day"]).sum() > 200


# ----------------------------------------------------------------------------- no capacity
# No clinician time at all: every attempt fails. Run on the register's shares of retries and
# A&E visits and on exaggerated ones (well apart, so that each segment's share is tested).

SPREAD = {
    "gp.retry_share_by_segment": [0.2, 0.4, 0.6, 0.8],
    "gp.spill_to_ae_by_segment": [0.1, 0.3, 0.5, 0.7],
}
CLOSED_DAYS = 200


@pytest.fixture(scope="module", params=["register", "spread"])
def closed(
    request: pytest.FixtureRequest, gp_scenario: Scenario
) -> tuple[Engine, Recorder, pd.DataFrame]:
    scenario = capacity_times(gp_scenario, 0.0)
    if request.param == "spread":
        scenario = with_values(scenario, SPREAD)
    engine, rec = run_days(scenario, CLOSED_DAYS)
    # each same-day attempt and how it ended
    tried = rec.table("attempts")
    tried = tried[tried["kind"] == 0].copy()
    tried["segment"] = segment_of(engine.world, tried["id"].to_numpy())
    keys = ["id", "k", "attempt"]
    retried = rec.table("retried")[["id", "k", "attempt"]].copy()
    retried["attempt"] -= 1
    retried["retry"] = True
    ended = rec.table("gave_up")
    ended = ended[ended["kind"] == 0][[*keys, "unmet", "spill"]]
    out = tried.merge(retried, on=keys, how="left", validate="one_to_one")
    out = out.merge(ended, on=keys, how="left", validate="one_to_one")
    out["retry"] = out["retry"].fillna(False).astype(bool)
    out[["unmet", "spill"]] = out[["unmet", "spill"]].fillna(False).astype(bool)
    return engine, rec, out


def test_with_no_capacity_every_attempt_fails(
    closed: tuple[Engine, Recorder, pd.DataFrame],
) -> None:
    engine, rec, _ = closed
    gp = gp_service(engine)
    assert gp.attempts > 10_000
    assert gp.failed == gp.attempts
    assert gp.used == 0 and not gp.diary
    assert rec.table("attended").empty


def test_each_failed_same_day_attempt_retries_goes_to_ae_or_gives_up(
    closed: tuple[Engine, Recorder, pd.DataFrame],
) -> None:
    engine, rec, out = closed
    outcomes = out[["retry", "spill", "unmet"]].sum(axis=1)
    np.testing.assert_array_equal(outcomes, 1)
    # at most MAX_TRIES attempts: the last cannot retry
    assert out["attempt"].max() == MAX_TRIES - 1
    assert not out.loc[out["attempt"] == MAX_TRIES - 1, "retry"].any()
    assert out.groupby(["id", "k"]).size().max() <= MAX_TRIES
    # a retry is an attempt on the next working day
    w = engine.world
    retried = rec.table("retried")[["id", "k", "attempt", "today"]]
    retried["next"] = handling_days(w, retried["today"] + 1)
    retried = retried[retried["next"] < w.day0 + CLOSED_DAYS]
    retried = retried[alive_on(w, retried["id"].to_numpy(), retried["next"].to_numpy())]
    tried = rec.table("attempts")[["id", "k", "attempt", "today"]]
    again = retried.merge(tried, on=["id", "k", "attempt"], how="left", suffixes=("_failed", ""))
    assert len(again) > 1_000
    np.testing.assert_array_equal(again["today"], again["next"])
    # those who go to A&E are handed to the hospital the same day
    spilled = rec.table("spilled")
    np.testing.assert_array_equal(
        np.sort(spilled["id"].to_numpy() * 10**4 + spilled["k"].to_numpy()),
        np.sort(out.loc[out["spill"], "id"].to_numpy() * 10**4 + out.loc[out["spill"], "k"]),
    )


@pytest.mark.parametrize("segment", range(len(SEGMENTS)))
def test_retries_and_ae_visits_follow_the_segment(
    closed: tuple[Engine, Recorder, pd.DataFrame], segment: int
) -> None:
    engine, _, out = closed
    reg = engine.world.register
    retry = float(reg.array("gp.retry_share_by_segment")[segment])
    spill = float(reg.array("gp.spill_to_ae_by_segment")[segment])
    mine = out[out["segment"] == segment]
    can_retry = mine[mine["attempt"] < MAX_TRIES - 1]
    assert_share(can_retry["retry"].to_numpy(), retry, f"{SEGMENTS[segment]} retry")
    left = mine[~mine["retry"]]
    assert_share(left["spill"].to_numpy(), spill, f"{SEGMENTS[segment]} A&E")


def test_with_no_capacity_pre_booked_requests_go_unmet(
    closed: tuple[Engine, Recorder, pd.DataFrame],
) -> None:
    _, rec, _ = closed
    ended = rec.table("gave_up")
    pre = ended[ended["kind"] == 1]
    assert len(pre) > 1_000
    assert pre["unmet"].all() and not pre["spill"].any()
    tried = rec.table("attempts")
    assert (tried["kind"] == 0).all()  # pre-booked requests are not same-day attempts


# ----------------------------------------------------------------------------- a year


@pytest.fixture(scope="module")
def baseline_year(gp_scenario: Scenario) -> tuple[Engine, Recorder]:
    """Year 0 stepped to its end, then the first 40 days of year 1."""
    engine, rec = run_days(gp_scenario, 365)
    engine._end_year()
    engine._advance_population(1)
    engine._add_entrants(1)
    engine._begin_year(1)
    rec.step(engine, range(40))
    return engine, rec


def test_the_diary_starts_with_the_appointments_booked_before_day_0(
    baseline_year: tuple[Engine, Recorder],
) -> None:
    engine, rec = baseline_year
    w = engine.world
    seen = rec.table("attended")
    seen = seen[seen["today"] < 365]  # year 0
    first = min(seen["today"])
    assert first == handling_day(w, 0)
    early = seen[seen["today"] == first]
    seeded = early[early["booked_on"] < 0]
    assert len(seeded) > 0.3 * len(early)
    assert np.all(first - seeded["booked_on"] > 0)
    # the first week's pre-booked appointments are near those of a settled diary
    pre = seen[seen["kind"] == 1]
    per_day = pre.groupby("today").size()
    week1 = per_day[per_day.index < 7].mean()
    settled = per_day[(per_day.index >= 70) & (per_day.index < 180)].mean()
    assert 0.6 * settled <= week1 <= 1.4 * settled, (week1, settled)


def test_people_who_died_are_not_counted_at_their_appointments(
    baseline_year: tuple[Engine, Recorder],
) -> None:
    _, rec = baseline_year
    counted = np.array(rec.counted)
    assert counted[:, 1].sum() > 100_000
    # appointments counted on a day = booked appointments of people alive that day
    wrong = counted[counted[:, 1] != counted[:, 2]]
    assert wrong.size == 0, (
        f"{int((wrong[:, 1] - wrong[:, 2]).sum())} appointments of people who had died "
        f"were counted, on {len(wrong)} days (first: day {wrong[0, 0]})"
    )


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


def test_attempts_and_horizon_come_from_the_register(baseline_scenario) -> None:  # type: ignore[no-untyped-def]
    """More permitted attempts mean more retries and fewer final give-ups; the diary keeps
    the register's horizon."""
    from model.engine import run_one

    small = baseline_scenario.with_run(population=10_000, years=1)

    def outcome(attempts: int) -> tuple[float, float]:
        reg = small.register.with_values({"gp.max_same_day_attempts": attempts})
        act = run_one(dataclasses.replace(small, register=reg), 0)["activity"]
        total = act.groupby("service", observed=True)["count"].sum()
        return float(total["gp_booking_attempt"]), float(total["gp_request_abandoned"])

    one, three = outcome(1), outcome(3)
    assert three[0] > one[0]  # retries add attempts
    assert three[1] < one[1]  # and fewer people give up in the end
    engine_reg = small.register.with_values({"gp.diary_horizon_days": 120})
    from model.engine import Engine

    engine = Engine(dataclasses.replace(small, register=engine_reg), 0)
    gp = engine.services["gp"]
    assert gp.horizon == 120 and gp.booked_minutes.shape[1] == 120  # type: ignore[attr-defined]


class _OnePracticeLever:
    """More GP time in practice 0 only (a lever deployed by practice)."""

    name = "practice_zero"

    def on_year_start(self, world: World) -> None:
        return None

    def rate_multiplier(self, world: World, service: str) -> np.ndarray | None:
        return None

    def capacity_multiplier(self, world: World, service: str) -> float:
        return 1.0

    def unit_capacity_multiplier(self, world: World, service: str) -> np.ndarray | None:
        if service != "gp_appointment":
            return None
        factor = np.ones(self.n)
        factor[0] = 2.0
        return factor

    def processes(self, world: World) -> list[object]:
        return []

    def __init__(self, n: int) -> None:
        self.n = n


def test_capacity_can_be_deployed_by_practice(baseline_scenario) -> None:  # type: ignore[no-untyped-def]
    from model.engine import Engine, run_one

    small = baseline_scenario.with_run(population=10_000, years=1)
    n = Engine(small, 0).services["gp"].practices.n  # type: ignore[attr-defined]
    base = run_one(small, 0)["practice_gp"]
    more = run_one(small, 0, levers=[_OnePracticeLever(n)])["practice_gp"]  # type: ignore[list-item]
    cap = lambda t: t.groupby("practice")["capacity_per_1000"].first()  # noqa: E731
    assert cap(more)[0] == pytest.approx(2 * cap(base)[0])
    np.testing.assert_allclose(cap(more)[1:], cap(base)[1:])
    seen = lambda t: t[t["service"] == "gp_appointment"].groupby("practice")["count"].sum()  # noqa: E731
    assert seen(more)[0] > seen(base)[0]
