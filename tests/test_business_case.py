"""The business case's arithmetic on hand-built tables (``model.business_case``; no simulation).

Each test builds a differences table (and lever activity) whose answer is known by hand: the
present values at 3.5 %, the payback year, the ROIs, the cashable / non-cashable split, QALYs
at 1.5 % and the cost per QALY (null without QALYs), the switching value, the optimism-bias
adjustment, the intervals and the equity rates per 1,000 person-years.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from model import business_case as bc
from model.register import Register

YEARS = [2024, 2025, 2026]
SETTINGS = bc.Settings(discount_rate=0.035, health_discount_rate=0.015)


def row(
    replication: int,
    year: int,
    service: str,
    cost: float,
    cashable: float = 0.0,
    count: float = 0.0,
    setting: str = "acute",
    payer: str = "nhs_acute",
    imd: int = 1,
    segment: str = "worried_engaged",
) -> dict[str, object]:
    return {
        "scenario": "s",
        "replication": replication,
        "year": year,
        "setting": setting,
        "service": service,
        "mode": "",
        "payer": payer,
        "segment": segment,
        "imd_quintile": imd,
        "ltc_band": "0",
        "delta_count": count,
        "delta_cost_gbp": cost,
        "delta_cashable_gbp": cashable,
    }


def lever_row(replication: int, year: int, cost: float) -> dict[str, object]:
    return row(replication, year, "link_worker_session", cost, cost, 1.0, "lever", "primary_care")


def levers(qalys: dict[tuple[int, int], float] | None = None) -> pd.DataFrame:
    rows = [
        {
            "lever": "probe",
            "replication": r,
            "year": y,
            "referred": 10.0,
            "started": 8.0,
            "completed": 5.0,
            "dropped_out": 1.0,
            "waiting_at_year_end": 2.0,
            "sessions": 40.0,
            "cost_gbp": 0.0,
            "qaly_gain": q,
            "ascot_gain": 0.5 * q,
        }
        for (r, y), q in (qalys or {}).items()
    ]
    if not rows:
        return bc.empty_lever_activity()
    return pd.DataFrame(rows, columns=list(bc.LEVER_ACTIVITY_COLUMNS))


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def case(
    lever_cost: list[float],
    cashable: list[float],
    non_cashable: list[float] | None = None,
    qalys: list[float] | None = None,
    replications: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One table per replication, identical across replications: lever cost and savings by
    year (a saving is a fall in care cost; the non-cashable part has no cashable cost)."""
    rows = []
    non_cashable = non_cashable or [0.0] * len(YEARS)
    for r in range(replications):
        for y, cost, cash, rest in zip(YEARS, lever_cost, cashable, non_cashable, strict=True):
            rows.append(lever_row(r, y, cost))
            rows.append(row(r, y, "emergency_admission", -(cash + rest), -cash, -1.0))
    q = {(r, y): v for r in range(replications) for y, v in zip(YEARS, qalys or [], strict=False)}
    return frame(rows), levers(q)


def measures(diffs: pd.DataFrame, lev: pd.DataFrame, reps: int = 1) -> pd.DataFrame:
    streams = bc.yearly_streams(diffs, lev, list(range(reps)), YEARS)
    return bc.replication_measures(streams, YEARS[0], SETTINGS)


def test_discount_factors_start_at_one_in_the_first_simulated_year() -> None:
    d = bc.discount_factors(YEARS, 2024, 0.035)
    assert d == pytest.approx([1.0, 1 / 1.035, 1 / 1.035**2])


def test_npv_net_cost_and_present_values_by_hand() -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [0.0, 50.0, 150.0])
    m = measures(diffs, lev).iloc[0]
    assert m["lever_cost_gbp"] == pytest.approx(300.0)
    assert m["cashable_saving_gbp"] == pytest.approx(200.0)
    assert m["net_cost_gbp"] == pytest.approx(100.0)
    npv = -100.0 + (50.0 - 100.0) / 1.035 + (150.0 - 100.0) / 1.035**2
    assert m["npv_gbp"] == pytest.approx(npv)
    assert m["lever_cost_pv_gbp"] == pytest.approx(100 * (1 + 1 / 1.035 + 1 / 1.035**2))


def test_cashable_and_non_cashable_savings_split_the_fall_in_care_cost() -> None:
    # care cost falls by 1,000: 300 of it cashable (the service's share), 700 capacity released
    diffs = frame([row(0, 2024, "emergency_admission", -1000.0, -300.0, -2.0)])
    streams = bc.yearly_streams(diffs, bc.empty_lever_activity(), [0], [2024])
    s = streams.iloc[0]
    assert s["cashable_saving_gbp"] == pytest.approx(300.0)
    assert s["non_cashable_saving_gbp"] == pytest.approx(700.0)
    assert s["care_cost_change_gbp"] == pytest.approx(-1000.0)
    assert s["lever_cost_gbp"] == 0.0
    assert s["change_emergency_admissions"] == -2.0


def test_lever_rows_are_lever_cost_not_care() -> None:
    diffs = frame([lever_row(0, 2024, 500.0), row(0, 2024, "gp_appointment", 40.0, 4.0, 1.0)])
    s = bc.yearly_streams(diffs, bc.empty_lever_activity(), [0], [2024]).iloc[0]
    assert s["lever_cost_gbp"] == 500.0
    assert s["care_cost_change_gbp"] == 40.0
    assert s["cashable_saving_gbp"] == -4.0
    assert s["change_gp_appointments"] == 1.0


def test_change_in_cost_by_payer_is_care_only() -> None:
    diffs = frame(
        [
            lever_row(0, 2024, 500.0),
            row(0, 2024, "gp_appointment", 40.0, 4.0, payer="primary_care"),
            row(0, 2024, "ae_attendance", -100.0, -20.0, payer="nhs_acute"),
        ]
    )
    py = pd.DataFrame(
        {"replication": [0], "year": [2024], "imd_quintile": [1], "segment": ["worried_engaged"],
         "person_years": [1000.0]}
    )  # fmt: skip
    out = bc.scenario_summary(diffs, bc.empty_lever_activity(), py, [0], [2024], SETTINGS)
    by_payer = out["change_in_cost_by_payer_gbp"]
    assert by_payer["primary_care"]["mean"] == 40.0
    assert by_payer["nhs_acute"]["mean"] == -100.0
    assert set(by_payer) == {"primary_care", "nhs_acute"}


@pytest.mark.parametrize(
    ("costs", "cash", "expected"),
    [
        ([100.0, 100.0, 100.0], [0.0, 150.0, 200.0], 2026),  # cumulative 350 >= 300 in 2026
        ([100.0, 100.0, 100.0], [0.0, 200.0, 0.0], 2025),  # 200 >= 200 in 2025 (reaches)
        ([100.0, 100.0, 100.0], [0.0, 50.0, 150.0], None),  # 200 < 300: no payback
        ([0.0, 0.0, 0.0], [10.0, 10.0, 10.0], None),  # no lever cost: nothing to pay back
        ([0.0, 100.0, 0.0], [0.0, 0.0, 120.0], 2026),  # years before any cost do not count
    ],
)
def test_payback_year(costs: list[float], cash: list[float], expected: int | None) -> None:
    assert bc.payback_year(YEARS, costs, cash) == expected


def test_roi_and_cashable_roi_from_present_values() -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [50.0, 50.0, 50.0], [100.0, 100.0, 100.0])
    m = measures(diffs, lev).iloc[0].to_dict()
    pv = 1 + 1 / 1.035 + 1 / 1.035**2
    assert bc.roi(m) == pytest.approx((50 + 100 - 100) * pv / (100 * pv))  # 0.5
    assert bc.roi_cashable(m) == pytest.approx(-0.5)
    no_cost = dict(m, lever_cost_pv_gbp=0.0)
    assert bc.roi(no_cost) is None and bc.roi_cashable(no_cost) is None


def test_qalys_are_discounted_at_the_health_rate_and_cost_per_qaly() -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [0.0, 0.0, 0.0], qalys=[0.1, 0.1, 0.1])
    m = measures(diffs, lev).iloc[0].to_dict()
    qalys = 0.1 * (1 + 1 / 1.015 + 1 / 1.015**2)
    assert m["qalys"] == pytest.approx(qalys)
    assert m["ascot_gain"] == pytest.approx(0.5 * qalys)
    assert bc.cost_per_qaly(m) == pytest.approx(m["lever_cost_pv_gbp"] / qalys)


@pytest.mark.parametrize("qalys", [0.0, -0.2])
def test_cost_per_qaly_is_null_without_a_qaly_gain(qalys: float) -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [0.0, 0.0, 0.0], qalys=[qalys] * 3)
    m = measures(diffs, lev).iloc[0].to_dict()
    assert bc.cost_per_qaly(m) is None


def test_switching_value_makes_the_linear_npv_zero() -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [20.0, 40.0, 60.0])
    m = measures(diffs, lev).iloc[0].to_dict()
    k = bc.switching_value(m)
    assert k is not None
    npv0 = -m["lever_cost_pv_gbp"]  # zero effect: demand as in the baseline
    npv1 = m["npv_gbp"]
    assert npv0 + k * (npv1 - npv0) == pytest.approx(0.0, abs=1e-9)
    assert k == pytest.approx(m["lever_cost_pv_gbp"] / m["cashable_saving_pv_gbp"])
    # no cash saved (or none lost to a lever without cost): no multiple reaches NPV = 0
    assert bc.switching_value(dict(m, cashable_saving_pv_gbp=0.0)) is None
    assert bc.switching_value(dict(m, lever_cost_pv_gbp=0.0)) is None


def test_optimism_bias_raises_costs_and_shrinks_effects() -> None:
    diffs, lev = case([100.0, 100.0, 100.0], [50.0, 50.0, 50.0], qalys=[0.1, 0.1, 0.1])
    settings = bc.Settings(optimism_bias=True, cost_uplift=0.41, effect_reduction=0.3)
    adj_diffs, adj_lev = bc.apply_optimism_bias(diffs, lev, settings)
    base = measures(diffs, lev).iloc[0]
    adj = measures(adj_diffs, adj_lev).iloc[0]
    assert adj["lever_cost_gbp"] == pytest.approx(1.41 * base["lever_cost_gbp"])
    assert adj["cashable_saving_gbp"] == pytest.approx(0.7 * base["cashable_saving_gbp"])
    assert adj["change_emergency_admissions"] == pytest.approx(0.7 * -3.0)
    assert adj["qalys"] == pytest.approx(0.7 * base["qalys"])
    # the inputs are unchanged, and the setting off changes nothing
    assert measures(diffs, lev).iloc[0].equals(base)
    same, _ = bc.apply_optimism_bias(diffs, lev, bc.Settings(cost_uplift=0.41))
    pd.testing.assert_frame_equal(same, diffs)


def test_settings_come_from_the_register(register: Register) -> None:
    s = bc.Settings.from_register(register)
    assert (s.discount_rate, s.health_discount_rate) == (0.035, 0.015)
    assert not s.optimism_bias and s.cost_uplift == register.scalar(
        "business_case.optimism_bias.cost_uplift"
    )
    assert "no optimism-bias adjustment" in s.as_dict()["optimism_bias"]["statement"]
    on = bc.Settings.from_register(register, optimism_bias=True).as_dict()["optimism_bias"]
    assert on["applied"] and "x 1.41" in on["statement"]


def test_interval_of_a_mean_is_students_t() -> None:
    values = np.array([10.0, 12.0, 15.0, 11.0])
    est = bc.estimate(values)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / math.sqrt(4)
    assert est["mean"] == pytest.approx(12.0)
    assert (est["low"], est["high"]) == pytest.approx((12.0 - half, 12.0 + half))
    one = bc.estimate(np.array([3.0]))
    assert one == {"mean": 3.0, "low": None, "high": None}


def test_ratios_are_ratios_of_means_with_undefined_values_null() -> None:
    values = np.array([[2.0, 1.0], [4.0, 1.0], [6.0, 2.0]])
    est = bc.estimate(values, lambda m: m[0] / m[1])
    assert est["mean"] == pytest.approx(12.0 / 4.0)
    assert est["low"] < est["mean"] < est["high"]
    undefined = bc.estimate(values, lambda m: None)
    assert undefined == {"mean": None, "low": None, "high": None}


def test_summary_of_replications_and_equity_per_1000() -> None:
    # two replications: GP appointments +10 and +30 in quintile 1 (1,000 person-years each)
    diffs = frame(
        [
            row(0, 2024, "gp_appointment", 400.0, 40.0, 10.0, "primary_care", "primary_care"),
            row(1, 2024, "gp_appointment", 1200.0, 120.0, 30.0, "primary_care", "primary_care"),
        ]
    )
    py = pd.DataFrame(
        {
            "replication": [0, 0, 1, 1],
            "year": [2024] * 4,
            "imd_quintile": [1, 2, 1, 2],
            "segment": ["worried_engaged"] * 4,
            "person_years": [1000.0, 3000.0, 1000.0, 3000.0],
        }
    )
    out = bc.scenario_summary(diffs, bc.empty_lever_activity(), py, [0, 1], [2024], SETTINGS)
    assert out["measures"]["change_gp_appointments"]["mean"] == pytest.approx(20.0)
    q1 = out["equity"]["imd_quintile"]["1"]
    assert q1["change_gp_appointments_per_1000_person_years"]["mean"] == pytest.approx(20.0)
    assert q1["care_cost_change_gbp"]["mean"] == pytest.approx(800.0)
    q2 = out["equity"]["imd_quintile"]["2"]
    assert q2["change_gp_appointments_per_1000_person_years"]["mean"] == 0.0
    seg = out["equity"]["segment"]["worried_engaged"]
    assert seg["change_gp_appointments_per_1000_person_years"]["mean"] == pytest.approx(5.0)
    assert out["payback"] == {"year": None, "financial_year": None, "share_of_replications": 0.0}
    assert out["measures"]["roi"]["mean"] is None  # no lever cost


def test_differences_pair_by_replication_and_fill_missing_rows() -> None:
    def activity(rep: int, service: str, count: float, setting: str = "acute") -> dict:
        return {
            "replication": rep, "year": 2024, "setting": setting, "service": service,
            "role": "", "mode": "", "payer": "nhs_acute", "sex": "male", "age_band": "0-4",
            "imd_quintile": 1, "ltc_band": "0", "activation_level": 1,
            "segment": "worried_engaged", "count": count, "cost_gbp": 2 * count,
            "cashable_gbp": 0.5 * count,
        }  # fmt: skip

    base = pd.DataFrame([activity(0, "ae_attendance", 5), activity(1, "ae_attendance", 7)])
    scen = pd.DataFrame(
        [
            activity(0, "ae_attendance", 4),
            activity(1, "ae_attendance", 7),
            activity(1, "link_worker_session", 3, "lever"),
        ]
    )
    d = bc.differences(bc.aggregate_activity(base, 10.0), bc.aggregate_activity(scen, 10.0), "s")
    by = d.set_index(["replication", "service"])
    assert by.loc[(0, "ae_attendance"), "delta_count"] == -10.0  # (4 - 5) x 10
    assert by.loc[(1, "ae_attendance"), "delta_count"] == 0.0
    assert by.loc[(1, "link_worker_session"), "delta_cost_gbp"] == 60.0  # absent in baseline
    assert list(d.columns) == [
        "scenario", "replication", "year", *bc.DIFFERENCE_KEYS, *bc.DELTAS,
    ]  # fmt: skip


def test_qaly_and_ascot_gains_are_net_of_the_baselines_levers() -> None:
    """A baseline with levers of its own: the gains are the scenario's minus the baseline's."""
    scenario, baseline = levers({(0, 2024): 0.3}), levers({(0, 2024): 0.1})
    diffs = frame([row(0, 2024, "ae_attendance", 0.0)])
    s = bc.yearly_streams(diffs, scenario, [0], [2024], baseline).iloc[0]
    assert s["qaly_gain"] == pytest.approx(0.2)
    assert s["ascot_gain"] == pytest.approx(0.1)
