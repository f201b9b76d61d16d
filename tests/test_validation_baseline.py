"""Baseline validation: the measures are computed as documented, every target has its kind,
replications give a mean and a standard error that widen the accepted range, and the checks
can fail."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from helpers import gp_capacity

from model.engine import run_one
from model.errors import CarescaleError
from model.register import TARGET_KINDS, Register
from model.scenario import Scenario
from model.validation import (
    CSV_COLUMNS,
    Check,
    baseline_checks,
    baseline_measures,
    checks_csv,
    checks_frame,
    standardised_rate_ratio,
    summary,
)

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


def test_held_out_measures_are_computed_as_documented(
    small_baseline_tables: dict[str, pd.DataFrame],
) -> None:
    tables = first_year(small_baseline_tables)
    m = baseline_measures(tables)
    act, py = tables["activity"], tables["person_years"]

    def n(service: str, bands: tuple[str, ...] = (), **where: str) -> float:
        sel = act["service"] == service
        if bands:
            sel &= act["age_band"].isin(bands)
        for col, value in where.items():
            sel &= act[col] == value
        return float(act.loc[sel, "count"].sum())

    children = ("0-4", "5-9", "10-14")
    ae = n("ae_attendance")
    under_17 = n("ae_attendance", children) + 0.4 * n("ae_attendance", ("15-19",))
    assert m["ae_under_17_share"] == pytest.approx(under_17 / ae)
    assert m["ae_80_plus_share"] == pytest.approx(n("ae_attendance", ("80-84", "85+")) / ae)
    mh = "mental_health_people_in_contact"
    under_18 = n(mh, children) + 0.6 * n(mh, ("15-19",))
    assert m["mental_health_under_18_share"] == pytest.approx(under_18 / n(mh))
    ea = n("emergency_admission")
    assert m["emergency_zero_night_share"] == pytest.approx(
        n("emergency_admission", mode="same_day") / ea
    )
    gp = n("gp_appointment") + n("gp_appointment_dna")
    gp_85 = n("gp_appointment", ("85+",)) + n("gp_appointment_dna", ("85+",))
    py_85 = float(py.loc[py["age_band"] == "85+", "person_years"].sum())
    assert m["gp_85_plus_rate_ratio"] == pytest.approx(
        (gp_85 / py_85) / (gp / py["person_years"].sum())
    )
    supported = n("social_care_long_term_support")
    started = n("social_care_support_started")
    assert m["social_care_long_term_support_start_share"] == pytest.approx(
        (supported - started) / supported
    )
    days = act[act["service"] == "social_care_support_day"]
    older = days["age_band"].isin(["65-69", "70-74", "75-79", "80-84", "85+"])
    assert m["social_care_working_age_spend_share"] == pytest.approx(
        days.loc[~older, "cost_gbp"].sum() / days["cost_gbp"].sum()
    )
    # the practice spread: appointments per registered person, practice by practice
    pg = tables["practice_gp"]
    rate = pg.groupby("practice")["count"].sum() / pg.groupby("practice")["list_size"].first()
    q25, q50, q75 = np.quantile(rate.to_numpy(), [0.25, 0.5, 0.75])
    assert m["gp_practice_rate_relative_iqr"] == pytest.approx((q75 - q25) / q50)


def test_there_is_one_check_per_baseline_target_with_its_kind(
    small_baseline_tables: dict[str, pd.DataFrame], small_baseline: Scenario, register: Register
) -> None:
    checks = baseline_checks(first_year(small_baseline_tables), small_baseline.register)
    keys = [c.source_key for c in checks]
    assert sorted(keys) == sorted(p.key for p in register.select("targets.baseline"))
    assert len(keys) == 40
    for c in checks:
        assert c.kind == register[c.source_key].kind, c.source_key
        assert c.source == register[c.source_key].source
    kinds = [c.kind for c in checks]
    assert set(kinds) == set(TARGET_KINDS)
    assert kinds.count("held_out") >= 8
    gp = next(c for c in checks if c.source_key.endswith("gp_appointments_per_person"))
    assert gp.passed  # the baseline capacity delivers the national appointment rate


def test_every_target_has_a_kind_and_a_missing_one_is_refused(
    register: Register, small_baseline_tables: dict[str, pd.DataFrame]
) -> None:
    targets = register.select("targets")
    assert all(p.kind in TARGET_KINDS for p in targets), [p.key for p in targets if not p.kind]
    # a target entry without a kind is refused when it is checked, naming the entry
    key = "targets.baseline.ae_attendances_per_1000"
    entries = {k: register[k] for k in register}
    entries[key] = dataclasses.replace(entries[key], kind="")
    bare = Register(entries, register.titles)
    with pytest.raises(
        CarescaleError, match=r"'targets\.baseline\.ae_attendances_per_1000' has no"
    ):
        baseline_checks(first_year(small_baseline_tables), bare)


# ----------------------------------------------------------------------------- replications


def check(simulated: float, se: float = math.nan, kind: str = "calibrated") -> Check:
    return Check("g", "n", 0.5, simulated, 0.05, "proportion", "k", kind, se)


@pytest.mark.parametrize(
    ("simulated", "se", "passed"),
    [
        (0.55, math.nan, True),
        (0.5501, math.nan, False),  # no se: the tolerance alone
        (0.5501, 0.0, False),
        (0.569, 0.01, True),  # 0.5 + 0.05 + 2 x 0.01 = 0.57
        (0.571, 0.01, False),
        (0.431, 0.01, True),
        (0.429, 0.01, False),
        (math.nan, 0.01, False),
    ],
)
def test_a_target_passes_within_tolerance_plus_two_standard_errors(
    simulated: float, se: float, passed: bool
) -> None:
    c = check(simulated, se)
    assert c.passed is passed
    assert c.high - c.low == pytest.approx(2 * (0.05 + (0 if math.isnan(se) else 2 * se)))


def test_replications_give_the_mean_and_its_standard_error(
    small_baseline_tables: dict[str, pd.DataFrame], register: Register
) -> None:
    one = first_year(small_baseline_tables)
    act = one["activity"].copy()
    gp_rows = act["service"].isin(["gp_appointment", "gp_appointment_dna"])
    act.loc[gp_rows, "count"] *= 1.1
    other = {**one, "activity": act}
    value = baseline_measures(one)["gp_appointments_per_person"]
    by_key = {c.source_key: c for c in baseline_checks([one, other], register)}
    gp = by_key["targets.baseline.gp_appointments_per_person"]
    # values v and 1.1 v: mean 1.05 v, sd 0.1 v / sqrt(2), se = sd / sqrt(2) = 0.05 v
    assert gp.simulated == pytest.approx(1.05 * value)
    assert gp.se == pytest.approx(0.05 * value)
    assert gp.high == pytest.approx(gp.target + gp.tolerance + 2 * gp.se)
    # identical replications: se 0; one replication: no se at all
    same = {c.source_key: c for c in baseline_checks([one, one], register)}
    assert same["targets.baseline.gp_appointments_per_person"].se == 0.0
    single = {c.source_key: c for c in baseline_checks(one, register)}
    assert math.isnan(single["targets.baseline.gp_appointments_per_person"].se)
    with pytest.raises(CarescaleError, match="at least one replication"):
        baseline_checks([], register)


def test_only_input_and_calibrated_misses_fail_the_validation() -> None:
    passing = [check(0.5, kind="input"), check(0.5, kind="calibrated")]
    text, ok = summary([*passing, check(0.9, kind="held_out")])
    assert ok
    assert text.startswith("2 of 2 input and calibrated targets pass (1 of 1 input, 1 of 1 ")
    assert "0 of 1 held-out targets pass" in text
    text, ok = summary([check(0.5, kind="input"), check(0.9, kind="calibrated")])
    assert not ok and text.startswith("1 of 2 input and calibrated targets pass")


def test_the_csv_and_the_printed_table() -> None:
    checks = [check(0.569, 0.01), check(0.9, kind="held_out"), check(0.9, kind="input")]
    df = checks_csv(checks)
    assert tuple(df.columns) == CSV_COLUMNS
    assert list(df["passed"]) == ["true", "false", "false"]
    assert list(df["kind"]) == ["calibrated", "held_out", "input"]
    assert df["low"].tolist() == pytest.approx([0.43, 0.45, 0.45])
    assert df["high"].tolist() == pytest.approx([0.57, 0.55, 0.55])
    table = checks_frame(checks)
    # a missed held-out target is a "miss", not a failure
    assert list(table["result"]) == ["pass", "miss", "FAIL"]
    assert {"group", "target_name", "kind", "target", "simulated", "se", "tolerance"} <= set(
        table.columns
    )


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
    assert not summary(list(checks.values()))[1]


def test_a_held_out_check_follows_the_model_not_its_target(
    small_baseline: Scenario, small_baseline_tables: dict[str, pd.DataFrame]
) -> None:
    """The A&E under-17 share is not fitted: moving the target moves only the verdict, and
    changing the children's A&E rates moves the simulated share."""
    reg = small_baseline.register
    tables = first_year(small_baseline_tables)
    key = "targets.baseline.ae_under_17_share"
    at = {c.source_key: c for c in baseline_checks(tables, reg)}[key]
    moved = reg.with_values({key: at.simulated})
    again = {c.source_key: c for c in baseline_checks(tables, moved)}[key]
    assert again.simulated == at.simulated and again.passed
    children = reg.array("demand.ae.child_ratio_to_age_18")
    busier = dataclasses.replace(
        small_baseline.with_run(population=10_000, years=1),
        register=reg.with_values({"demand.ae.child_ratio_to_age_18": list(children * 2.0)}),
    )
    more = {c.source_key: c for c in baseline_checks(run_one(busier, 0), busier.register)}[key]
    assert more.simulated > at.simulated + 0.05
