"""The business case of a comparison: pure functions on tables, no simulation.

Every function takes tables for the *represented* population (``model.compare`` multiplies
the simulated counts and costs by ``scenario.run.scale`` first) and returns new tables or
numbers; none changes its inputs. The definitions, as implemented here, are in
``docs/business-case.md``:

* **lever cost**: the change in cost of the activity rows whose ``setting`` is ``"lever"``
  (staff, voluntary-sector activity, administration of the levers);
* **change in cost by payer**: the change in cost of every other (care) row, scenario minus
  baseline, summed by payer;
* **cashable saving**: minus the change in ``cashable_gbp`` of the care rows (cost x the
  service's registered cashable share, ``cashable.*``); **non-cashable saving**: the rest of
  minus the change in care cost (capacity released);
* **net cost** = lever cost - cashable saving; **NPV** = sum over years of (cashable saving -
  lever cost) / (1 + r)^t, t = 0 for the first simulated year, r = ``business_case.discount_rate``;
* **ROI** = (PV cashable + PV non-cashable saving - PV lever cost) / PV lever cost, and the
  cashable-only ROI = (PV cashable saving - PV lever cost) / PV lever cost;
* **payback year**: the first year in which the cumulative cashable saving reaches the
  cumulative lever cost (undiscounted), or None;
* **QALYs** (from the levers' ``qaly_gain``) and **ASCOT gains**, discounted at
  ``business_case.health_discount_rate``; **cost per QALY** = PV of (lever cost - cashable
  - non-cashable saving) / QALYs, None when QALYs <= 0;
* **switching value**: the multiple k of the levers' effect at which NPV = 0, from the linear
  approximation NPV(k) = NPV0 + k (NPV1 - NPV0), NPV0 = -PV lever cost (a lever at zero effect
  leaves demand as in the baseline), so k = PV lever cost / PV cashable saving;
* **optimism bias** (optional): lever costs x (1 + ``business_case.optimism_bias.cost_uplift``),
  every change caused by the levers' effects x (1 - ``...effect_reduction``);
* **equity**: the changes by IMD quintile and by segment, per 1,000 person-years and in GBP.

Each quantity is computed per replication and reported as its mean with a 95 % interval
(``estimate``): Student's t with R - 1 degrees of freedom times the jackknife standard error,
which for a mean is the usual sd / sqrt(R). Ratios are ratios of the means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from model.register import Register

#: the ``setting`` of activity rows that are the levers' own costs
LEVER_SETTING = "lever"
#: columns of a run's ``lever_activity`` table (absent or empty without levers)
LEVER_ACTIVITY_COLUMNS = (
    "lever",
    "replication",
    "year",
    "referred",
    "started",
    "completed",
    "dropped_out",
    "waiting_at_year_end",
    "sessions",
    "cost_gbp",
    "qaly_gain",
    "ascot_gain",
)
#: lever_activity columns that sum over years (``waiting_at_year_end`` is a stock)
LEVER_FLOWS = (
    "referred",
    "started",
    "completed",
    "dropped_out",
    "sessions",
    "cost_gbp",
    "qaly_gain",
    "ascot_gain",
)
#: strata and labels kept by the differences table (others are summed over)
DIFFERENCE_KEYS = ("setting", "service", "mode", "payer", "segment", "imd_quintile", "ltc_band")
#: the NHS financial-year label beside ``year`` when runs have one ("2024/25")
FINANCIAL_YEAR = "financial_year"
DELTAS = ("delta_count", "delta_cost_gbp", "delta_cashable_gbp")
#: activity services reported as changes in counts (summary key -> activity service)
COUNTED_SERVICES: Mapping[str, str] = {
    "change_emergency_admissions": "emergency_admission",
    "change_gp_appointments": "gp_appointment",
    "change_ae_attendances": "ae_attendance",
}
#: the five headline numbers (summary key -> label), in reading order
HEADLINE: Mapping[str, str] = {
    "lever_cost_gbp": "lever cost (GBP)",
    "npv_gbp": "net present value (GBP)",
    "cashable_saving_gbp": "cashable saving (GBP)",
    "change_emergency_admissions": "change in emergency admissions",
    "change_gp_appointments": "change in GP appointments",
}
UNCERTAINTY_LABEL = (
    "stochastic (Monte Carlo) only; parameter uncertainty needs a sensitivity analysis"
)
INTERVAL_METHOD = (
    "95 % interval of the mean across replications: the estimate +/- Student's t "
    "(R - 1 degrees of freedom) x the jackknife standard error (sd / sqrt(R) for a mean); "
    "ratios are ratios of means; null with one replication"
)
CONFIDENCE = 0.95


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How the business case is computed (register entries ``business_case.*``)."""

    discount_rate: float = 0.035
    health_discount_rate: float = 0.015
    optimism_bias: bool = False
    #: lever costs are multiplied by 1 + cost_uplift when ``optimism_bias``
    cost_uplift: float = 0.0
    #: the levers' effects are multiplied by 1 - effect_reduction when ``optimism_bias``
    effect_reduction: float = 0.0

    @classmethod
    def from_register(cls, register: Register, optimism_bias: bool = False) -> Settings:
        """Settings from ``business_case.*`` of ``register``."""
        return cls(
            discount_rate=register.scalar("business_case.discount_rate"),
            health_discount_rate=register.scalar("business_case.health_discount_rate"),
            optimism_bias=optimism_bias,
            cost_uplift=register.scalar("business_case.optimism_bias.cost_uplift"),
            effect_reduction=register.scalar("business_case.optimism_bias.effect_reduction"),
        )

    def as_dict(self) -> dict[str, Any]:
        """For summary.json: the rates and the optimism-bias adjustment, stated."""
        return {
            "discount_rate": self.discount_rate,
            "health_discount_rate": self.health_discount_rate,
            "optimism_bias": {
                "applied": self.optimism_bias,
                "cost_uplift": self.cost_uplift,
                "effect_reduction": self.effect_reduction,
                "statement": (
                    f"Green Book optimism-bias adjustment applied: lever costs x "
                    f"{1 + self.cost_uplift:g}, the levers' effects on care, QALYs and ASCOT "
                    f"x {1 - self.effect_reduction:g} (differences.parquet and levers.parquet "
                    "are not adjusted)"
                    if self.optimism_bias
                    else "no optimism-bias adjustment (pass --optimism-bias to apply one)"
                ),
            },
        }


# ----------------------------------------------------------------------------- tables


def empty_lever_activity() -> pd.DataFrame:
    """A lever_activity table with no rows (a run without levers)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in LEVER_ACTIVITY_COLUMNS})
    frame["lever"] = frame["lever"].astype("object")
    frame["replication"] = frame["replication"].astype("int32")
    frame["year"] = frame["year"].astype("int16")
    return frame


def lever_activity_of(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``lever_activity`` table of a run, or an empty one when it has none."""
    table = tables.get("lever_activity")
    if table is None:
        return empty_lever_activity()
    missing = [c for c in LEVER_ACTIVITY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"lever_activity lacks the columns {', '.join(missing)}")
    return table


def _year_keys(columns: Iterable[str]) -> list[str]:
    return ["replication", "year", *([FINANCIAL_YEAR] if FINANCIAL_YEAR in columns else [])]


def aggregate_activity(activity: pd.DataFrame, scale: float = 1.0) -> pd.DataFrame:
    """Activity summed over the strata the differences do not keep, times ``scale``.

    Columns: replication, year, [financial_year,] the ``DIFFERENCE_KEYS``, count, cost_gbp,
    cashable_gbp (text keys as plain strings, so that two runs' tables merge).
    """
    keys = [*_year_keys(activity.columns), *DIFFERENCE_KEYS]
    values = ["count", "cost_gbp", "cashable_gbp"]
    out = activity.groupby(keys, observed=True, sort=True)[values].sum().reset_index()
    for col in keys:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or out[col].dtype == object:
            out[col] = out[col].astype(str)
    out[values] = out[values] * scale
    return out


def differences(baseline: pd.DataFrame, scenario: pd.DataFrame, name: str) -> pd.DataFrame:
    """Scenario minus baseline, paired by replication, of two ``aggregate_activity`` tables.

    A row present in one run only counts as zero in the other. Columns: scenario,
    replication, year, [financial_year,] the ``DIFFERENCE_KEYS``, delta_count,
    delta_cost_gbp, delta_cashable_gbp.
    """
    keys = [*_year_keys(baseline.columns), *DIFFERENCE_KEYS]
    merged = baseline.merge(scenario, on=keys, how="outer", suffixes=("_b", "_s"), sort=True)
    out = merged[keys].copy()
    for value, delta in zip(("count", "cost_gbp", "cashable_gbp"), DELTAS, strict=True):
        s = merged[f"{value}_s"].fillna(0.0).to_numpy()
        b = merged[f"{value}_b"].fillna(0.0).to_numpy()
        out[delta] = s - b
    out.insert(0, "scenario", name)
    for col in ("setting", "service", "mode", "payer", "segment", "ltc_band"):
        out[col] = out[col].astype("category")
    out["replication"] = out["replication"].astype("int32")
    out["year"] = out["year"].astype("int16")
    out["imd_quintile"] = out["imd_quintile"].astype("int8")
    if FINANCIAL_YEAR in out.columns:  # the listed columns first, the label last
        out = out[[c for c in out.columns if c != FINANCIAL_YEAR] + [FINANCIAL_YEAR]]
    return out.reset_index(drop=True)


def scale_lever_activity(levers: pd.DataFrame, scale: float) -> pd.DataFrame:
    """lever_activity for the represented population (every count and cost x ``scale``)."""
    out = levers.copy()
    # every count and cost (levers may add their own columns); staff FTE are already given
    # for the represented population
    keep = ("lever", "replication", "year", "fte", "financial_year")
    numeric = [c for c in out.columns if c not in keep and pd.api.types.is_numeric_dtype(out[c])]
    out[numeric] = out[numeric].astype("float64") * scale
    return out


def apply_optimism_bias(
    diffs: pd.DataFrame, levers: pd.DataFrame, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Differences and lever activity with the optimism-bias adjustment (copies).

    Lever rows' costs x (1 + cost uplift); every change in care rows and the levers' QALY and
    ASCOT gains x (1 - effect reduction). Unchanged copies when the setting is off.
    """
    diffs, levers = diffs.copy(), levers.copy()
    if not settings.optimism_bias:
        return diffs, levers
    uplift, keep = 1.0 + settings.cost_uplift, 1.0 - settings.effect_reduction
    lever = (diffs["setting"].astype(str) == LEVER_SETTING).to_numpy()
    factor = np.where(lever, 1.0, keep)
    for col in DELTAS:
        diffs[col] = diffs[col].to_numpy() * factor
    for col in ("delta_cost_gbp", "delta_cashable_gbp"):
        diffs[col] = np.where(lever, diffs[col].to_numpy() * uplift, diffs[col].to_numpy())
    levers["cost_gbp"] = levers["cost_gbp"].astype("float64") * uplift
    for col in ("qaly_gain", "ascot_gain"):
        levers[col] = levers[col].astype("float64") * keep
    return diffs, levers


# ----------------------------------------------------------------------------- streams

#: columns of ``yearly_streams``
STREAMS = (
    "lever_cost_gbp",
    "care_cost_change_gbp",
    "cashable_saving_gbp",
    "non_cashable_saving_gbp",
    "qaly_gain",
    "ascot_gain",
    *COUNTED_SERVICES,
)


def _full_index(replications: Sequence[int], years: Sequence[int]) -> pd.MultiIndex:
    return pd.MultiIndex.from_product(
        [list(replications), list(years)], names=["replication", "year"]
    )


def yearly_streams(
    diffs: pd.DataFrame,
    levers: pd.DataFrame,
    replications: Sequence[int],
    years: Sequence[int],
    baseline_levers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per replication and year: lever cost, care cost change, cashable and non-cashable
    saving (GBP), QALY and ASCOT gains (undiscounted) and the counted services' changes.

    QALY and ASCOT gains are the scenario's levers' (``levers``) minus the baseline's
    (``baseline_levers``; none when the baseline has no levers). Index (replication, year)
    over every replication and year given (zeros where no row).
    """
    index = _full_index(replications, years)
    lever = diffs["setting"].astype(str) == LEVER_SETTING
    by = ["replication", "year"]

    def total(frame: pd.DataFrame, col: str) -> pd.Series:
        return frame.groupby(by)[col].sum().reindex(index, fill_value=0.0)

    care = diffs[~lever]
    out = pd.DataFrame(index=index)
    out["lever_cost_gbp"] = total(diffs[lever], "delta_cost_gbp")
    out["care_cost_change_gbp"] = total(care, "delta_cost_gbp")
    out["cashable_saving_gbp"] = -total(care, "delta_cashable_gbp")
    out["non_cashable_saving_gbp"] = -out["care_cost_change_gbp"] - out["cashable_saving_gbp"]
    for col in ("qaly_gain", "ascot_gain"):
        out[col] = total(levers, col) if len(levers) else 0.0
        if baseline_levers is not None and len(baseline_levers):
            out[col] -= total(baseline_levers, col)
    service = diffs["service"].astype(str)
    for key, name in COUNTED_SERVICES.items():
        out[key] = total(diffs[service == name], "delta_count")
    return out.astype("float64")


def discount_factors(years: Sequence[int] | np.ndarray, first_year: int, rate: float) -> np.ndarray:
    """1 / (1 + rate)^t for each year, t = year - first_year (0 for the first simulated year)."""
    t = np.asarray(years, dtype=np.float64) - first_year
    return np.asarray(1.0 / (1.0 + rate) ** t, dtype=np.float64)


#: additive per-replication measures (sums over years); ratios are formed from their means
MEASURES = (
    "lever_cost_gbp",
    "lever_cost_pv_gbp",
    "cashable_saving_gbp",
    "cashable_saving_pv_gbp",
    "non_cashable_saving_gbp",
    "non_cashable_saving_pv_gbp",
    "care_cost_change_gbp",
    "net_cost_gbp",
    "npv_gbp",
    "qalys",
    "ascot_gain",
    *COUNTED_SERVICES,
)


def replication_measures(
    streams: pd.DataFrame, first_year: int, settings: Settings
) -> pd.DataFrame:
    """The additive measures (``MEASURES``) of each replication from its yearly streams."""
    years = streams.index.get_level_values("year").to_numpy()
    d = discount_factors(years, first_year, settings.discount_rate)
    h = discount_factors(years, first_year, settings.health_discount_rate)
    s = streams
    parts = {
        "lever_cost_gbp": s["lever_cost_gbp"],
        "lever_cost_pv_gbp": s["lever_cost_gbp"] * d,
        "cashable_saving_gbp": s["cashable_saving_gbp"],
        "cashable_saving_pv_gbp": s["cashable_saving_gbp"] * d,
        "non_cashable_saving_gbp": s["non_cashable_saving_gbp"],
        "non_cashable_saving_pv_gbp": s["non_cashable_saving_gbp"] * d,
        "care_cost_change_gbp": s["care_cost_change_gbp"],
        "net_cost_gbp": s["lever_cost_gbp"] - s["cashable_saving_gbp"],
        "npv_gbp": (s["cashable_saving_gbp"] - s["lever_cost_gbp"]) * d,
        "qalys": s["qaly_gain"] * h,
        "ascot_gain": s["ascot_gain"] * h,
        **{k: s[k] for k in COUNTED_SERVICES},
    }
    frame = pd.DataFrame(parts, index=s.index)
    return frame.groupby(level="replication").sum()[list(MEASURES)]


def _ratio(num: float, den: float) -> float | None:
    """num / den, or None unless the denominator is positive (and both are finite)."""
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0:
        return None
    return float(num / den)


def roi(m: Mapping[str, float]) -> float | None:
    """(PV cashable + PV non-cashable saving - PV lever cost) / PV lever cost (None if no cost)."""
    gain = m["cashable_saving_pv_gbp"] + m["non_cashable_saving_pv_gbp"] - m["lever_cost_pv_gbp"]
    return _ratio(gain, m["lever_cost_pv_gbp"])


def roi_cashable(m: Mapping[str, float]) -> float | None:
    """(PV cashable saving - PV lever cost) / PV lever cost (None if no cost)."""
    return _ratio(m["cashable_saving_pv_gbp"] - m["lever_cost_pv_gbp"], m["lever_cost_pv_gbp"])


def cost_per_qaly(m: Mapping[str, float]) -> float | None:
    """PV of (lever cost - cashable - non-cashable saving) / discounted QALYs.

    None when QALYs <= 0.
    """
    cost = m["lever_cost_pv_gbp"] - m["cashable_saving_pv_gbp"] - m["non_cashable_saving_pv_gbp"]
    return _ratio(cost, m["qalys"])


def switching_value(m: Mapping[str, float]) -> float | None:
    """The multiple of the levers' effect at which NPV = 0 (an approximation).

    NPV(k) ~ NPV0 + k (NPV1 - NPV0), with NPV0 = -PV lever cost (at zero effect demand is the
    baseline's) and NPV1 the NPV at full effect, so NPV1 - NPV0 = PV cashable saving and
    k = PV lever cost / PV cashable saving. None when the levers cost nothing or save no cash
    (no multiple of the effect reaches NPV = 0).
    """
    if m["lever_cost_pv_gbp"] <= 0:
        return None
    return _ratio(m["lever_cost_pv_gbp"], m["cashable_saving_pv_gbp"])


#: ratio quantities: summary key -> function of the mean measures
RATIOS: Mapping[str, Callable[[Mapping[str, float]], float | None]] = {
    "roi": roi,
    "roi_cashable": roi_cashable,
    "cost_per_qaly_gbp": cost_per_qaly,
    "switching_value": switching_value,
}


def payback_year(
    years: Sequence[int],
    lever_cost: Sequence[float] | np.ndarray,
    cashable_saving: Sequence[float] | np.ndarray,
) -> int | None:
    """The first year whose cumulative cashable saving reaches the cumulative lever cost.

    Only years with some cumulative lever cost count (a scenario without lever costs has no
    payback); None if the horizon ends first.
    """
    cum_cost = np.cumsum(np.asarray(lever_cost, dtype=np.float64))
    cum_cash = np.cumsum(np.asarray(cashable_saving, dtype=np.float64))
    for year, cost, cash in zip(years, cum_cost, cum_cash, strict=True):
        if cost > 0 and cash >= cost:
            return int(year)
    return None


# ----------------------------------------------------------------------------- estimates


def estimate(
    values: pd.DataFrame | np.ndarray,
    statistic: Callable[[np.ndarray], float | None] | None = None,
) -> dict[str, float | None]:
    """Mean and 95 % interval across replications (rows of ``values``).

    ``statistic`` maps the column means to a number (default: the mean of the only column).
    The interval is the estimate +/- t(0.975, R - 1) x the jackknife standard error (for a
    mean, sd / sqrt(R)); None where the statistic is undefined, and low/high None with one
    replication or when a leave-one-out estimate is undefined.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    n = arr.shape[0]

    def stat(rows: np.ndarray) -> float | None:
        means = rows.mean(axis=0)
        value = float(means[0]) if statistic is None else statistic(means)
        return None if value is None or not math.isfinite(value) else float(value)

    if n == 0:
        return {"mean": None, "low": None, "high": None}
    theta = stat(arr)
    if theta is None or n < 2:
        return {"mean": theta, "low": None, "high": None}
    loo = [stat(np.delete(arr, i, axis=0)) for i in range(n)]
    if any(v is None for v in loo):
        return {"mean": theta, "low": None, "high": None}
    jack = np.array(loo, dtype=np.float64)
    se = math.sqrt((n - 1) / n * float(np.sum((jack - jack.mean()) ** 2)))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * se
    return {"mean": theta, "low": theta - half, "high": theta + half}


def _ratio_statistic(
    columns: Sequence[str], fn: Callable[[Mapping[str, float]], float | None]
) -> Callable[[np.ndarray], float | None]:
    def statistic(means: np.ndarray) -> float | None:
        return fn(dict(zip(columns, (float(v) for v in means), strict=True)))

    return statistic


def _per_1000(means: np.ndarray) -> float | None:
    return None if means[1] <= 0 else float(means[0] / means[1] * 1000.0)


# ----------------------------------------------------------------------------- equity


def equity(
    diffs: pd.DataFrame,
    person_years: pd.DataFrame,
    dimension: str,
) -> dict[str, dict[str, Any]]:
    """Changes by IMD quintile or by segment: per group, the baseline's person-years, lever
    cost and care cost change (GBP, with intervals), and the counted services' changes per
    1,000 person-years (with intervals).

    ``person_years`` is the baseline's person_years table for the represented population.
    """
    reps = sorted(person_years["replication"].unique())
    groups = sorted(person_years[dimension].astype(str).unique())
    index = pd.MultiIndex.from_product([reps, groups], names=["replication", dimension])
    py = person_years.assign(**{dimension: person_years[dimension].astype(str)})
    py_sum = (
        py.groupby(["replication", dimension])["person_years"].sum().reindex(index, fill_value=0.0)
    )
    d = diffs.assign(**{dimension: diffs[dimension].astype(str)})
    lever = d["setting"].astype(str) == LEVER_SETTING
    service = d["service"].astype(str)

    def by_group(frame: pd.DataFrame, col: str) -> pd.Series:
        return frame.groupby(["replication", dimension])[col].sum().reindex(index, fill_value=0.0)

    series = {
        "lever_cost_gbp": by_group(d[lever], "delta_cost_gbp"),
        "care_cost_change_gbp": by_group(d[~lever], "delta_cost_gbp"),
        **{k: by_group(d[service == s], "delta_count") for k, s in COUNTED_SERVICES.items()},
    }
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        rows = index.get_level_values(dimension) == group
        entry: dict[str, Any] = {"person_years": estimate(py_sum[rows].to_numpy())}
        for key in ("lever_cost_gbp", "care_cost_change_gbp"):
            entry[key] = estimate(series[key][rows].to_numpy())
        for key in COUNTED_SERVICES:
            pair = np.column_stack([series[key][rows].to_numpy(), py_sum[rows].to_numpy()])
            entry[f"{key}_per_1000_person_years"] = estimate(pair, _per_1000)
        out[group] = entry
    return out


# ----------------------------------------------------------------------------- summary


def financial_year_labels(diffs: pd.DataFrame) -> dict[int, str]:
    """``year`` -> its ``financial_year`` label ("2024/25"), or {} when runs have none."""
    if FINANCIAL_YEAR not in diffs.columns or diffs.empty:
        return {}
    pairs = diffs[["year", FINANCIAL_YEAR]].drop_duplicates()
    return {int(y): str(f) for y, f in zip(pairs["year"], pairs[FINANCIAL_YEAR], strict=True)}


def scenario_summary(
    diffs: pd.DataFrame,
    levers: pd.DataFrame,
    person_years: pd.DataFrame,
    replications: Sequence[int],
    years: Sequence[int],
    settings: Settings,
    baseline_levers: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The business case of one scenario against the baseline (a JSON-ready dict).

    ``diffs`` (one scenario's rows of the differences table), ``levers`` (its lever activity)
    and ``baseline_levers`` (the baseline's, if it has levers) are for the represented
    population, unadjusted: the optimism-bias adjustment of ``settings`` is applied here.
    ``person_years`` is the baseline's, represented.
    """
    labels = financial_year_labels(diffs)
    diffs, levers = apply_optimism_bias(diffs, levers, settings)
    if baseline_levers is not None:
        _, baseline_levers = apply_optimism_bias(diffs.iloc[:0], baseline_levers, settings)
    years = sorted(int(y) for y in years)
    first_year = years[0]
    streams = yearly_streams(diffs, levers, replications, years, baseline_levers)
    measures = replication_measures(streams, first_year, settings)
    out: dict[str, Any] = {"measures": {k: estimate(measures[k].to_numpy()) for k in MEASURES}}
    columns = list(measures.columns)
    for key, fn in RATIOS.items():
        out["measures"][key] = estimate(measures.to_numpy(), _ratio_statistic(columns, fn))
    mean_streams = streams.groupby(level="year").mean()
    year = payback_year(
        years, mean_streams["lever_cost_gbp"].tolist(), mean_streams["cashable_saving_gbp"].tolist()
    )
    cost = streams["lever_cost_gbp"].to_numpy().reshape(len(replications), len(years))
    cash = streams["cashable_saving_gbp"].to_numpy().reshape(len(replications), len(years))
    paid = [payback_year(years, c, s) is not None for c, s in zip(cost, cash, strict=True)]
    out["payback"] = {
        "year": year,
        FINANCIAL_YEAR: labels.get(year) if year is not None else None,
        "share_of_replications": float(np.mean(paid)) if paid else None,
    }
    out["by_year"] = [
        {
            "year": y,
            **({FINANCIAL_YEAR: labels[y]} if labels else {}),
            "t": y - first_year,
            **{
                col: estimate(streams.xs(y, level="year")[col].to_numpy())
                for col in streams.columns
            },
        }
        for y in years
    ]
    care = diffs[diffs["setting"].astype(str) != LEVER_SETTING]
    index = _full_index(replications, years)
    by_payer = {}
    for payer in sorted(care["payer"].astype(str).unique()):
        rows = care[care["payer"].astype(str) == payer]
        per_rep = (
            rows.groupby(["replication", "year"])["delta_cost_gbp"]
            .sum()
            .reindex(index, fill_value=0.0)
            .groupby(level="replication")
            .sum()
        )
        by_payer[payer] = estimate(per_rep.to_numpy())
    out["change_in_cost_by_payer_gbp"] = by_payer
    out["levers"] = lever_summary(levers, replications)
    out["equity"] = {dim: equity(diffs, person_years, dim) for dim in ("imd_quintile", "segment")}
    return out


def lever_summary(levers: pd.DataFrame, replications: Sequence[int]) -> dict[str, Any]:
    """Per lever: totals over the years of its flows (undiscounted) and the waiting list at
    the end of the last year, each with its interval across replications."""
    out: dict[str, Any] = {}
    if levers.empty:
        return out
    last = levers["year"].max()
    for name in sorted(levers["lever"].astype(str).unique()):
        rows = levers[levers["lever"].astype(str) == name]
        totals = (
            rows.groupby("replication")[list(LEVER_FLOWS)]
            .sum()
            .reindex(list(replications), fill_value=0.0)
        )
        waiting = (
            rows[rows["year"] == last]
            .groupby("replication")["waiting_at_year_end"]
            .sum()
            .reindex(list(replications), fill_value=0.0)
        )
        out[name] = {
            **{col: estimate(totals[col].to_numpy()) for col in LEVER_FLOWS},
            "waiting_at_end": estimate(waiting.to_numpy()),
        }
    return out


def headline(summary: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """The five headline numbers of one scenario's summary (``HEADLINE`` order)."""
    return {key: summary["measures"][key] for key in HEADLINE}


__all__ = [
    "COUNTED_SERVICES",
    "DIFFERENCE_KEYS",
    "HEADLINE",
    "LEVER_ACTIVITY_COLUMNS",
    "LEVER_SETTING",
    "MEASURES",
    "UNCERTAINTY_LABEL",
    "Settings",
    "aggregate_activity",
    "apply_optimism_bias",
    "cost_per_qaly",
    "differences",
    "discount_factors",
    "empty_lever_activity",
    "equity",
    "estimate",
    "financial_year_labels",
    "headline",
    "lever_activity_of",
    "payback_year",
    "replication_measures",
    "roi",
    "roi_cashable",
    "scale_lever_activity",
    "scenario_summary",
    "switching_value",
    "yearly_streams",
]
