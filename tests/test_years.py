"""NHS financial years: ``[run] year_starts = "april"`` (``model.years``).

With april, simulated year t runs from 1 April of ``start_year`` + t for 365 days: the
weekday pattern, and so every working-day service, follows that calendar, and every table
with a ``year`` column carries a ``financial_year`` label ("2024/25") beside it. With january
(the default when a scenario does not say) nothing changes: no label column, and the
regression snapshot ``tests/data/baseline_snapshot_january.json`` keeps the tables exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from model import kpi
from model.calibration import WORKING_DAYS, _one_year_scenario
from model.engine import Engine, run_one
from model.scenario import Scenario, load_scenario
from model.years import FINANCIAL_YEAR, financial_year, first_day, year_label

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY = range(6)


def weekdays_from(first: dt.date, days: int = 365) -> int:
    """Monday-to-Friday days among ``days`` days from ``first`` (counted independently)."""
    return sum((first + dt.timedelta(days=d)).weekday() < 5 for d in range(days))


@pytest.fixture(scope="module")
def april(baseline_scenario: Scenario) -> Scenario:
    assert baseline_scenario.run.year_starts == "april"  # the baseline runs financial years
    return baseline_scenario.with_run(population=1_000, years=5, replications=1)


@pytest.fixture(scope="module")
def january(april: Scenario) -> Scenario:
    return april.with_run(year_starts="january")


@pytest.fixture(scope="module")
def tables(april: Scenario, january: Scenario) -> dict[str, dict[str, pd.DataFrame]]:
    """Two-year runs of 2,000 people, in financial and in calendar years."""
    return {
        kind: run_one(s.with_run(population=2_000, years=2), 0)
        for kind, s in (("april", april), ("january", january))
    }


# ----------------------------------------------------------------------------- the calendar


def test_labels() -> None:
    assert [financial_year(y) for y in (2009, 2024, 2099)] == ["2009/10", "2024/25", "2099/00"]
    assert (year_label(2024, "april"), year_label(2024, "january")) == ("2024/25", "2024")
    assert (first_day(2024, "april"), first_day(2024)) == (dt.date(2024, 4, 1), dt.date(2024, 1, 1))


def test_an_april_run_starts_on_monday_1_april_2024(april: Scenario) -> None:
    w = Engine(april, 0).world
    assert w.calendar_date(0) == dt.date(2024, 4, 1) and w.calendar_date(0).weekday() == MONDAY
    assert w.calendar_date(364) == dt.date(2025, 3, 31)  # 2024/25 has 365 days
    assert w.calendar_date(365) == dt.date(2025, 4, 1)
    assert w.calendar_date(365).weekday() == TUESDAY
    assert w.calendar_date(4 * 365 + 10) == dt.date(2028, 4, 11)
    # the first weekend of the run is Saturday 6 and Sunday 7 April 2024
    assert [w.is_working_day(d) for d in range(8)] == [True] * 5 + [False, False, True]


def test_a_january_run_starts_on_1_january(january: Scenario) -> None:
    w = Engine(january, 0).world
    assert (w.calendar_date(0), w.calendar_date(365)) == (dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    assert w.calendar_date(365).weekday() == WEDNESDAY


@pytest.mark.parametrize(
    ("kind", "first_weekdays"),
    [
        ("april", [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, SATURDAY]),  # 1 April 2024 ... 2028
        ("january", [MONDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY]),  # 1 January 2024 ... 2028
    ],
)
def test_working_days_follow_the_year_start(
    kind: str, first_weekdays: list[int], april: Scenario
) -> None:
    engine = Engine(april.with_run(year_starts=kind), 0)
    w = engine.world
    counts = []
    for t in range(5):
        first = first_day(2024 + t, kind)
        assert first.weekday() == first_weekdays[t]
        w.year = t
        counts.append(w.working_days_in_year())
        assert counts[-1] == weekdays_from(first), (kind, t)
    assert counts == [261, 261, 261, 261, 260]  # a year starting on a Saturday has 260
    # the GP service's working-day calendar (by absolute day) is the same calendar
    gp_working = engine.services["gp"].working  # type: ignore[attr-defined]
    for t in range(5):
        first = first_day(2024 + t, kind)
        expected = [(first + dt.timedelta(days=d)).weekday() < 5 for d in range(365)]
        assert gp_working[t * 365 : (t + 1) * 365].tolist() == expected, (kind, t)


# ----------------------------------------------------------------------------- tables


def test_every_table_with_a_year_has_financial_year_beside_it(
    tables: dict[str, dict[str, pd.DataFrame]],
) -> None:
    for name, table in tables["april"].items():
        assert "year" in table.columns, name
        columns = list(table.columns)
        assert columns[columns.index("year") + 1] == FINANCIAL_YEAR, name
        labels = table[FINANCIAL_YEAR]
        assert isinstance(labels.dtype, pd.CategoricalDtype) and labels.cat.ordered, name
        assert list(labels.cat.categories) == ["2024/25", "2025/26"], name
        assert (labels.astype(str) == table["year"].map(financial_year)).all(), name
    for name, table in tables["january"].items():
        assert FINANCIAL_YEAR not in table.columns, name


def test_the_calendar_changes_services_not_the_population(
    tables: dict[str, dict[str, pd.DataFrame]],
) -> None:
    """Births, deaths and ageing do not depend on the calendar; working-day services do."""
    april, january = tables["april"], tables["january"]
    pd.testing.assert_frame_equal(
        april["person_years"].drop(columns=FINANCIAL_YEAR), january["person_years"]
    )
    assert not april["capacity"].drop(columns=FINANCIAL_YEAR).equals(january["capacity"])


def test_the_run_summary_labels_financial_years(
    tables: dict[str, dict[str, pd.DataFrame]],
) -> None:
    for frame in (kpi.activity_by_year(tables["april"]), kpi.cost_by_payer(tables["april"])):
        assert list(frame.columns) == ["2024/25", "2025/26"]
    assert list(kpi.people_by_year(tables["april"]).columns) == ["2024/25", "2025/26"]
    assert list(kpi.activity_by_year(tables["january"]).columns) == [2024, 2025]


# ----------------------------------------------------------------------------- settings


def test_year_starts_defaults_to_january_and_survives_with_run(
    tmp_path: Path, baseline_scenario: Scenario
) -> None:
    text = (
        '[scenario]\nname = "calendar"\n[run]\npopulation = 5000\nyears = 1\n'
        "start_year = 2024\nreplications = 1\nseed = 1\nbase_year = 2023\n"
    )
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).run.year_starts == "january"
    smaller = baseline_scenario.with_run(population=5_000, years=1, seed=3)
    assert smaller.run.year_starts == "april"
    assert smaller.resolved()["run"]["year_starts"] == "april"
    assert smaller.with_run(year_starts="january").run.year_starts == "january"


def test_the_calibration_simulates_the_baselines_first_year(baseline_scenario: Scenario) -> None:
    run = _one_year_scenario(baseline_scenario.register, 1_000, 1).run
    base = baseline_scenario.run
    assert (run.start_year, run.base_year, run.year_starts) == (
        base.start_year,
        base.base_year,
        base.year_starts,
    )
    assert WORKING_DAYS == weekdays_from(first_day(run.start_year, run.year_starts))
