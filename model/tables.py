"""Published tables shipped with the package (``model/data``), read once and cached.

Each CSV keeps its provenance beside it in ``model/data/PROVENANCE.md`` (copied unchanged
from the project's shared data folder). Functions here return tidy numpy arrays; they do
no modelling beyond reshaping.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import CarescaleError

MAX_AGE = 100
N_AGES = MAX_AGE + 1
SEXES = ("male", "female")  # index 0 = male, 1 = female

POPULATION_CSV = "england_population_mye_sya_sex_mid2021_2023.csv"
LIFE_TABLE_CSV = "england_national_life_tables_qx_2017-19_to_2021-23.csv"
IMD_CSV = "england_population_by_imd2019_quintile_broad_age_mid2015.csv"
HOSPITAL_CSV = "england_hospital_activity_rates_per_head_by_age_sex_2023_SU.csv"
LOS_CSV = "england_mean_los_by_age_sex_2023_DERIVED.csv"

#: IMD population table age bands -> (first age, last age)
IMD_AGE_BANDS = {"0-15": (0, 15), "16-59": (16, 59), "60+": (60, MAX_AGE)}


def data_path(name: str) -> Path:
    """Path of a packaged data file."""
    path = Path(str(resources.files("model") / "data" / name))
    if not path.is_file():
        raise CarescaleError(f"packaged data file '{name}' is missing; reinstall carescale.")
    return path


@cache
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(data_path(name))


def population_years() -> tuple[int, ...]:
    """Mid-years available in the ONS population table."""
    return tuple(sorted(int(y) for y in _read(POPULATION_CSV)["year_mid"].unique()))


@cache
def life_table_periods() -> tuple[str, ...]:
    """Three-year periods available in the national life tables, oldest first."""
    return tuple(sorted(_read(LIFE_TABLE_CSV)["period"].unique()))


@cache
def qx(period: str = "2021-2023") -> np.ndarray:
    """Probability of dying within a year, shape (2 sexes, 101 ages), ONS NLT England."""
    df = _read(LIFE_TABLE_CSV)
    if period not in life_table_periods():
        raise CarescaleError(
            f"life-table period '{period}' is not available; choose one of "
            f"{', '.join(life_table_periods())}."
        )
    df = df[df["period"] == period]
    out = np.zeros((2, N_AGES))
    for s, sex in enumerate(SEXES):
        rows = df[df["sex"] == sex].sort_values("age")
        out[s, :] = rows["qx"].to_numpy()[:N_AGES]
    out.flags.writeable = False
    return out


def life_expectancy_at_birth(qx_by_age: np.ndarray) -> float:
    """Period life expectancy from single-year qx (ax = 0.5, a0 = 0.1, open last age).

    The same approximation as the data provenance note, so the two are comparable.
    """
    q = np.asarray(qx_by_age, dtype=float)
    survivors = np.concatenate([[1.0], np.cumprod(1.0 - q)[:-1]])
    deaths = survivors * q
    years_lived = survivors - 0.5 * deaths
    years_lived[0] = survivors[0] - 0.9 * deaths[0]
    # open-ended last age: expected remaining life 1/m with m = q/(1 - q/2)
    m_last = q[-1] / (1.0 - 0.5 * q[-1])
    years_lived[-1] = survivors[-1] / m_last
    return float(years_lived.sum())


@cache
def population_by_age_sex(year: int, life_table_period: str = "2021-2023") -> np.ndarray:
    """ONS mid-year population by sex and single year of age 0-100, shape (2, 101).

    The ONS table gives ages 0-89 and a 90+ total. The 90+ total is spread over ages
    90-100 (100 meaning 100 and over) in proportion to stationary-population person-years
    (L_x, and T_100 for the open age) from the life table,
    a documented derivation (``docs/model.md``), not a published split.
    """
    df = _read(POPULATION_CSV)
    if year not in population_years():
        raise CarescaleError(
            f"population base year {year} is not available; choose one of "
            f"{', '.join(str(y) for y in population_years())}."
        )
    df = df[df["year_mid"] == year]
    q = qx(life_table_period)
    out = np.zeros((2, N_AGES))
    for s, sex in enumerate(SEXES):
        rows = df[df["sex"] == sex]
        ages = rows["age"].astype(str)
        single = rows[ages != "90+"]
        out[s, single["age"].astype(int).to_numpy()] = single["population"].to_numpy()
        total_90 = float(rows.loc[ages == "90+", "population"].sum())
        surv = np.concatenate([[1.0], np.cumprod(1.0 - q[s, 90:])[:-1]])
        weights = surv * (1.0 - 0.5 * q[s, 90:])
        # age 100 is open-ended (100 and over): person-years l_100 / m_100
        m_last = q[s, -1] / (1.0 - 0.5 * q[s, -1])
        weights[-1] = surv[-1] / m_last
        out[s, 90:] = total_90 * weights / weights.sum()
    out.flags.writeable = False
    return out


@cache
def imd_share_by_age() -> np.ndarray:
    """P(IMD quintile | age), shape (101 ages, 5 quintiles); quintile 1 = most deprived.

    From MHCLG IoD 2019 population denominators (mid-2015) in bands 0-15, 16-59, 60+.
    """
    df = _read(IMD_CSV)
    out = np.zeros((N_AGES, 5))
    for band, (lo, hi) in IMD_AGE_BANDS.items():
        rows = df[df["age_band"] == band].sort_values("imd2019_quintile")
        pop = rows["population_mid2015_excl_prisoners"].to_numpy(dtype=float)
        out[lo : hi + 1, :] = pop / pop.sum()
    out.flags.writeable = False
    return out


@cache
def hospital_rates(activity_group: str, smoothed: bool = True) -> np.ndarray:
    """Activity per head by sex and age 18-90 (SUS, Strategy Unit), shape (2, 101).

    Ages below 18 are NaN (no rows in the source); ages above 90 take the age-90 value.
    """
    df = _read(HOSPITAL_CSV)
    df = df[df["activity_group"] == activity_group]
    if df.empty:
        raise CarescaleError(f"hospital activity group '{activity_group}' is not in the table.")
    column = "rate_per_head_gam_smoothed" if smoothed else "rate_per_head_observed"
    out = np.full((2, N_AGES), np.nan)
    for s, sex in enumerate(SEXES):
        rows = df[df["sex"] == sex].sort_values("age")
        ages = rows["age"].to_numpy(dtype=int)
        out[s, ages] = rows[column].to_numpy()
        out[s, ages.max() + 1 :] = out[s, ages.max()]
    out.flags.writeable = False
    return out


@cache
def mean_los_days(admission_type: str) -> np.ndarray:
    """Derived mean length of stay by sex and age 18-90, shape (2, 101); NaN below 18."""
    df = _read(LOS_CSV)
    df = df[df["admission_type"] == admission_type]
    if df.empty:
        raise CarescaleError(f"admission type '{admission_type}' is not in the LOS table.")
    out = np.full((2, N_AGES), np.nan)
    for s, sex in enumerate(SEXES):
        rows = df[df["sex"] == sex].sort_values("age")
        ages = rows["age"].to_numpy(dtype=int)
        out[s, ages] = rows["implied_mean_los_days"].to_numpy()
        out[s, ages.max() + 1 :] = out[s, ages.max()]
    out.flags.writeable = False
    return out
