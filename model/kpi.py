"""Key figures from run tables: pure functions DataFrame -> DataFrame.

Every function averages over replications (the tables hold one block per replication) and
never modifies its inputs.
"""

from __future__ import annotations

import pandas as pd

from model.years import FINANCIAL_YEAR, financial_year

#: services shown in the run summary, in reading order, with their display names
SUMMARY_SERVICES = {
    "gp_appointment": "GP appointments (attended)",
    "gp_appointment_dna": "GP appointments not attended",
    "gp_request_abandoned": "GP requests unmet (gave up)",
    "gp_spill_to_ae": "GP requests unmet (went to A&E)",
    "ae_attendance": "A&E attendances",
    "emergency_admission": "emergency admissions",
    "elective_admission": "elective admissions (incl. day case)",
    "outpatient_attendance": "outpatient attendances",
    "bed_day": "bed days",
    "community_nursing_contact": "community nursing contacts",
    "community_mental_health_contact": "community mental-health contacts",
    "social_care_new_request": "social care new requests",
    "social_care_long_term_support": "people on long-term social care support",
}


def _replications(tables: dict[str, pd.DataFrame]) -> int:
    return max(int(tables["person_years"]["replication"].nunique()), 1)


def _year_columns(out: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Columns labelled as the run counts years: ``2024``, or ``"2024/25"`` when the table
    carries NHS financial years (``[run] year_starts = "april"``)."""
    if FINANCIAL_YEAR in table.columns:
        out.columns = pd.Index([financial_year(int(y)) for y in out.columns], name=FINANCIAL_YEAR)
    return out


def activity_by_year(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean count per year for the summary services (rows) by year (columns)."""
    act = tables["activity"]
    act = act[act["service"].isin(list(SUMMARY_SERVICES))]
    out = act.groupby(["service", "year"], observed=True)["count"].sum().unstack("year")
    out = out / _replications(tables)
    out = out.reindex([s for s in SUMMARY_SERVICES if s in out.index])
    out.index = [SUMMARY_SERVICES[s] for s in out.index]
    out.index.name = "activity"
    return _year_columns(out, act)


def cost_by_payer(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean cost (GBP) per year by payer (rows) and year (columns), with a total."""
    act = tables["activity"]
    out = act.groupby(["payer", "year"], observed=True)["cost_gbp"].sum().unstack("year")
    out = out / _replications(tables)
    out = out[(out != 0).any(axis=1)]
    out.loc["total"] = out.sum()
    out.index.name = "payer"
    return _year_columns(out, act)


def people_by_year(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean person-years and deaths per year."""
    py = tables["person_years"]
    out = py.groupby("year")[["person_years", "deaths"]].sum() / _replications(tables)
    return _year_columns(out.T, py)
