"""Baseline validation: the measures are computed as documented, and the checks can fail."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pandas as pd
import pytest
from helpers import gp_capacity

from model.engine import run_one
from model.register import Register
from model.scenario import Scenario
from model.validation import baseline_checks, baseline_measures, standardised_rate_ratio

# ----------------------------------------------------------------------------- SMR


def tiny_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two age bands, two IMD quintiles; cells split over several rows and a second service.

    ========  =====  ===========  =========
    age band  IMD    person-yrs   GP events
    ========  =====  ===========  =========
    A         1      100          10
    A         5      300          15
    B         1      200          40
    B         5      100          10
    ========  =====  ===========  =========
    """
    py = pd.DataFrame(
        {
            "age_band": ["A", "A", "A", "B", "B", "B"],
            "imd_quintile": [1, 5, 5, 1, 1, 5],
            "person_years": [100.0, 120.0, 180.0, 150.0, 50.0, 100.0],
        }
    )
    act = pd.DataFrame(
        {
            "service": ["gp", "gp", "gp", "gp", "gp", "ae", "ae", "gp"],
            "age_band": ["A", "A", "A", "B", "B", "A", "B", "B"],
            "imd_quintile": [1, 5, 5, 1, 1, 1, 5, 5],
            "count": [10.0, 5.0, 10.0, 30.0, 10.0, 99.0, 99.0, 10.0],
        }
    )
    return act, py


def test_standardised_rate_ratio_by_hand() -> None:
    act, py = tiny_tables()
    # pooled rates: A = 25 / 400, B = 50 / 300
    # expected IMD 1 = 100 * 25/400 + 200 * 50/300 = 475/12; observed 50 -> SMR 24/19
    # expected IMD 5 = 300 * 25/400 + 100 * 50/300 = 425/12; observed 25 -> SMR 12/17
    # ratio = (24/19) / (12/17) = 34/19
    expected = Fraction(24, 19) / Fraction(12, 17)
    assert expected == Fraction(34, 19)
    ratio = standardised_rate_ratio(act, py, ["gp"], "imd_quintile", 1, 5, ["age_band"])
    assert ratio == pytest.approx(float(expected), rel=1e-12)
    # the other way round is the reciprocal; the ae rows were left out
    assert standardised_rate_ratio(act, py, ["gp"], "imd_quintile", 5, 1, ["age_band"]) == (
        pytest.approx(19 / 34, rel=1e-12)
    )


def test_standardised_rate_ratio_removes_confounding_by_age() -> None:
    """Equal rates within each age band give 1, whatever the age mix of the two groups."""
    py = pd.DataFrame(
        {
            "age_band": ["young", "young", "old", "old"],
            "imd_quintile": [1, 5, 1, 5],
            "person_years": [900.0, 100.0, 100.0, 900.0],
        }
    )
    act = pd.DataFrame(
        {
            "service": ["gp"] * 4,
            "age_band": ["young", "young", "old", "old"],
            "imd_quintile": [1, 5, 1, 5],
            "count": [900.0 * 2, 100.0 * 2, 100.0 * 10, 900.0 * 10],
        }
    )
    crude = (2800 / 1000) / (9200 / 1000)
    assert crude < 0.5  # the crude ratio is badly confounded
    assert standardised_rate_ratio(
        act, py, ["gp"], "imd_quintile", 1, 5, ["age_band"]
    ) == pytest.approx(1.0, rel=1e-12)


# ----------------------------------------------------------------------------- measures


def first_year(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    year = tables["person_years"]["year"].min()
    return {name: df[df["year"] == year] for name, df in tables.items()}


def test_measures_are_computed_as_documented(
    small_baseline_tables: dict[str, pd.DataFrame],
) -> None:
    tables = first_year(small_baseline_tables)
    m = baseline_measures(tables)
    act, py = tables["activity"], tables["person_years"]
    people = py["person_years"].sum()

    def n(service: str, **where: str) -> float:
        sel = act["service"] == service
        for col, value in where.items():
            sel &= act[col] == value
        return float(act.loc[sel, "count"].sum())

    gp = n("gp_appointment") + n("gp_appointment_dna")
    assert m["gp_appointments_per_person"] == pytest.approx(gp / people)
    assert m["gp_share_of_appointments"] == pytest.approx(
        (n("gp_appointment", role="gp") + n("gp_appointment_dna", role="gp")) / gp
    )
    assert m["ae_attendances_per_1000"] == pytest.approx(1000 * n("ae_attendance") / people)
    assert m["ae_type1_conversion"] == pytest.approx(
        n("ae_to_admission") / n("ae_attendance", mode="type_1_2")
    )
    assert m["emergency_los_days"] == pytest.approx(
        n("bed_day", mode="emergency") / n("overnight_stay", mode="emergency")
    )
    assert m["admissions_per_1000"] == pytest.approx(
        1000
        * (n("emergency_admission") + n("elective_admission") + n("maternity_delivery"))
        / people
    )
    assert m["gp_unsuccessful_attempt_share"] == pytest.approx(
        n("gp_booking_attempt_unsuccessful") / n("gp_booking_attempt")
    )
    assert m["gp_spill_to_ae_per_1000"] == pytest.approx(1000 * n("gp_spill_to_ae") / people)


def test_there_is_one_check_per_baseline_target(
    small_baseline_tables: dict[str, pd.DataFrame], small_baseline: Scenario, register: Register
) -> None:
    checks = baseline_checks(first_year(small_baseline_tables), small_baseline.register)
    keys = [c.source_key for c in checks]
    assert sorted(keys) == sorted(p.key for p in register.select("targets.baseline"))
    assert len(keys) == 28
    gp = next(c for c in checks if c.source_key.endswith("gp_appointments_per_person"))
    assert gp.passed  # the baseline capacity delivers the national appointment rate


# ----------------------------------------------------------------------------- checks can fail


def test_gp_target_fails_when_gp_capacity_is_far_too_low(baseline_scenario: Scenario) -> None:
    scenario = baseline_scenario.with_run(population=10_000, years=1)
    scenario = dataclasses.replace(
        scenario, register=scenario.register.with_values(gp_capacity(scenario.register, 0.43))
    )
    checks = {
        c.source_key.rsplit(".", 1)[-1]: c
        for c in baseline_checks(run_one(scenario, 0), scenario.register)
    }
    gp = checks["gp_appointments_per_person"]
    assert not gp.passed
    # 43 % of the clinician time: practices fill almost all of it, about 2.6 a person a year
    assert gp.simulated < gp.low
    assert gp.simulated == pytest.approx(0.43 * 6.07, rel=0.12)
    # and far more attempts to get an appointment fail than the survey reports
    assert not checks["gp_unsuccessful_attempt_share"].passed
