"""Referral-to-treatment lists: seeded from the published list, waits from referral."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.engine import Engine, run_one
from model.scenario import Scenario
from model.services.base import RTT_K_OFFSET, rtt_backlog


@pytest.fixture(scope="module")
def run60k(baseline_scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The issue's check: 60,000 people over 3 years."""
    return run_one(baseline_scenario.with_run(population=60_000, years=3), 0)


@pytest.fixture(scope="module")
def first_year(baseline_scenario: Scenario) -> Engine:
    engine = Engine(baseline_scenario.with_run(population=40_000, years=1), 0)
    engine.prepare_first_year()
    return engine


def test_the_starting_list_follows_the_published_waits(first_year: Engine) -> None:
    w = first_year.world
    reg = w.register
    years = reg.scalar("acute.rtt.list_years")
    backlog = rtt_backlog(w, "elective_daycase")
    # about list_years of the base year's demand (Poisson-gamma counts: allow 6 %)
    expected = float(w.base_rates("elective_daycase").sum()) * years
    assert backlog.size == pytest.approx(expected, rel=0.06)
    # oldest first, every request referred before the first day
    assert (np.diff(backlog.arrival) >= 0).all() and (backlog.arrival < w.day0).all()
    weeks = (w.day0 - backlog.arrival) / 7
    # published: median 14.9 weeks, 57.2 % within 18 weeks, 92nd percentile 44.7 weeks
    # (whole days round the weeks up by at most 1/7; binomial SE about 0.01 at 3,000)
    assert np.median(weeks) == pytest.approx(14.9, abs=1.0)
    assert (weeks <= 18 + 1 / 7).mean() == pytest.approx(0.572, abs=0.04)
    assert np.quantile(weeks, 0.92) == pytest.approx(44.7, abs=3.0)
    assert weeks.max() <= 104 + 1
    # event numbers apart from the year's own requests (keyed draws never collide)
    assert backlog.k.min() >= RTT_K_OFFSET


def test_the_lists_start_seeded(first_year: Engine) -> None:
    amb = first_year.services["ambulatory"]
    acute = first_year.services["acute"]
    w = first_year.world
    share = w.register.scalar("acute.outpatient_first_share")
    years = w.register.scalar("acute.rtt.list_years")
    assert len(amb.daycase) > 0 and len(acute.elective) > 0
    first = float(w.base_rates("outpatient").sum()) * years * share
    assert len(amb.first) == pytest.approx(first, rel=0.06)
    # follow-ups are booked as they come: no starting list
    assert len(amb.follow_up) == 0


def test_elective_waits_count_from_referral(run60k: dict[str, pd.DataFrame]) -> None:
    wd = run60k["wait_distribution"]
    el = wd[wd["service"].isin(["elective_ordinary", "elective_daycase"])]
    share = el.loc[el["wait_band"] == "29+", "count"].sum() / el["count"].sum()
    assert share >= 0.30, share  # the issue: at least 30 % wait more than 28 days
    # urgent referrals are seen quickly: some waits are short
    assert el.loc[el["wait_band"].isin(["0", "1", "2-7"]), "count"].sum() > 0
    # follow-ups wait from their booking: short
    waits = run60k["waits"].set_index(["year", "service"])
    for year in waits.index.get_level_values("year").unique():
        follow = waits.loc[(year, "outpatient_follow_up"), "mean_wait_days"]
        first = waits.loc[(year, "outpatient_first"), "mean_wait_days"]
        assert follow < 7 < 28 < first


def test_the_lists_stay_plausible_over_the_years(run60k: dict[str, pd.DataFrame]) -> None:
    waits = run60k["waits"]
    # (elective ordinary admissions too: operations cancelled for want of a bed are made up)
    for service in ("outpatient_first", "elective_daycase", "elective_ordinary"):
        backlog = waits.loc[waits["service"] == service, "backlog_end"].to_numpy()
        # capacity equal to demand keeps the starting list about level (within 25 % after
        # three years; Monte Carlo and ageing move it a little)
        assert backlog[-1] == pytest.approx(backlog[0], rel=0.25), (service, backlog)
        mean = waits.loc[waits["service"] == service, "mean_wait_days"].to_numpy()
        assert (mean > 28).all() and (mean < 365).all(), (service, mean)
