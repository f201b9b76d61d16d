"""Validation of simulated output against the published targets of EVIDENCE §12 and §15.

Each check is a pure function of a population (or of run results) and the register: target,
simulated value, tolerance, pass/fail, and the target's *kind* (``targets.*`` entries'
``kind`` field): ``input`` (the simulated value is set by an input from the same statistic),
``calibrated`` (a fitting target) or ``held_out`` (used by no fit). Targets and tolerances come
from the register (``targets.*`` or the input entry that *is* the published figure).

Baseline checks pool several replications: the simulated value is the mean of the
replications' values and ``se`` its Monte Carlo standard error (sd / sqrt(R)); a target
passes when the mean lies within target ± (tolerance + 2 se). With one replication (and for
a population) no se is estimated and the tolerance alone applies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import tables
from model.errors import CarescaleError
from model.population import CONDITIONS, Population
from model.register import TARGET_KINDS, Register

#: kinds whose every target must pass for a validation to succeed (held-out misses are
#: reported, not failures)
FITTED_KINDS = ("input", "calibrated")
#: the columns of the checks CSV (``--out``), in order
CSV_COLUMNS = (
    "key",
    "description",
    "kind",
    "target_value",
    "simulated",
    "se",
    "low",
    "high",
    "passed",
    "source",
)


@dataclass(frozen=True)
class Check:
    """One target compared with the simulation."""

    group: str
    name: str
    target: float
    simulated: float
    tolerance: float
    unit: str
    source_key: str
    kind: str
    se: float = math.nan
    source: str = ""

    @property
    def margin(self) -> float:
        """Accepted distance from the target: the tolerance plus two standard errors."""
        se = self.se if np.isfinite(self.se) else 0.0
        return self.tolerance + 2.0 * se

    @property
    def low(self) -> float:
        """Lowest accepted value."""
        return self.target - self.margin

    @property
    def high(self) -> float:
        """Highest accepted value."""
        return self.target + self.margin

    @property
    def passed(self) -> bool:
        """True when the simulated value lies within the tolerance (plus two se)."""
        return bool(np.isfinite(self.simulated)) and self.low <= self.simulated <= self.high


def checks_frame(checks: Sequence[Check]) -> pd.DataFrame:
    """Checks as a tidy table (one row per target), as printed by ``carescale validate`` (which
    leaves out ``low``, ``high`` and ``register_key``). ``result`` is ``pass``, ``FAIL`` (an
    input or calibrated target missed) or ``miss`` (a held-out target missed)."""
    return pd.DataFrame(
        {
            "group": [c.group for c in checks],
            "target_name": [c.name for c in checks],
            "kind": [c.kind for c in checks],
            "target": [c.target for c in checks],
            "simulated": [c.simulated for c in checks],
            "se": [c.se for c in checks],
            "tolerance": [c.tolerance for c in checks],
            "low": [c.low for c in checks],
            "high": [c.high for c in checks],
            "unit": [c.unit for c in checks],
            "result": [_result(c) for c in checks],
            "register_key": [c.source_key for c in checks],
        }
    )


def _result(c: Check) -> str:
    if c.passed:
        return "pass"
    return "FAIL" if c.kind in FITTED_KINDS else "miss"


def checks_csv(checks: Sequence[Check]) -> pd.DataFrame:
    """Checks as the CSV of ``--out`` (``CSV_COLUMNS``, one row per target); ``passed`` is
    ``true``/``false``, ``se`` is empty when it was not estimated."""
    return pd.DataFrame(
        {
            "key": [c.source_key for c in checks],
            "description": [c.name for c in checks],
            "kind": [c.kind for c in checks],
            "target_value": [c.target for c in checks],
            "simulated": [c.simulated for c in checks],
            "se": [c.se for c in checks],
            "low": [c.low for c in checks],
            "high": [c.high for c in checks],
            "passed": ["true" if c.passed else "false" for c in checks],
            "source": [c.source for c in checks],
        },
        columns=list(CSV_COLUMNS),
    )


def summary(checks: Sequence[Check]) -> tuple[str, bool]:
    """One line of pass counts by kind, and whether every input and calibrated target passed."""
    counts = {
        kind: (sum(c.passed for c in checks if c.kind == kind), sum(c.kind == kind for c in checks))
        for kind in TARGET_KINDS
    }
    fitted_pass = sum(counts[k][0] for k in FITTED_KINDS)
    fitted_all = sum(counts[k][1] for k in FITTED_KINDS)
    held_pass, held_all = counts["held_out"]
    parts = ", ".join(f"{counts[k][0]} of {counts[k][1]} {k}" for k in FITTED_KINDS)
    text = (
        f"{fitted_pass} of {fitted_all} input and calibrated targets pass ({parts}); "
        f"{held_pass} of {held_all} held-out targets pass (held-out misses are reported, "
        "not failures)."
    )
    return text, fitted_pass == fitted_all


def _kind(register: Register, key: str) -> str:
    kind = register[key].kind
    if kind not in TARGET_KINDS:
        raise CarescaleError(
            f"{register[key].file}: target '{key}' has no kind; give kind = "
            f"{' | '.join(repr(k) for k in TARGET_KINDS)}."
        )
    return kind


def _target(
    register: Register,
    key: str,
    group: str,
    name: str,
    simulated: float,
    se: float = math.nan,
) -> Check:
    p = register[key]
    tol = p.tolerance if p.tolerance is not None else 0.0
    if p.relative_tolerance:
        tol *= p.scalar
    return Check(
        group,
        name,
        p.scalar,
        float(simulated),
        tol,
        p.unit,
        key,
        _kind(register, key),
        se,
        p.source,
    )


def _share(mask: np.ndarray, among: np.ndarray | None = None) -> float:
    if among is None:
        return float(mask.mean()) if mask.size else float("nan")
    n = int(among.sum())
    return float(mask[among].sum() / n) if n else float("nan")


def _odds_ratio(p: float, q: float) -> float:
    """Odds ratio of two shares (NaN when either odds is undefined or zero)."""
    if not (0.0 < p < 1.0 and 0.0 < q < 1.0):
        return float("nan")
    return (p / (1.0 - p)) / (q / (1.0 - q))


def population_checks(pop: Population, register: Register) -> list[Check]:
    """Every population target: EVIDENCE §12 items 1, 8, 9, 10 and the held-out figures."""
    r = register
    age = pop.age
    checks = [
        _target(
            r, "targets.population.share_65_plus", "age/sex", "share aged 65+", _share(age >= 65)
        ),
        _target(
            r,
            "targets.population.share_under_15",
            "age/sex",
            "share aged under 15",
            _share(age < 15),
        ),
        _target(
            r, "targets.population.share_female", "age/sex", "share female", _share(pop.sex == 1)
        ),
    ]
    # life expectancy implied by the mortality input (ONS NLT 2021-23), not by sampling
    qx = tables.qx("2021-2023")
    for s, sex in enumerate(("male", "female")):
        checks.append(
            _target(
                r,
                f"targets.population.life_expectancy_{sex}",
                "mortality",
                f"life expectancy at birth, {sex}s (life-table input)",
                tables.life_expectancy_at_birth(qx[s]),
            )
        )
    rel_key = "targets.population.qof_prevalence_tolerance"
    small_key = "targets.population.qof_prevalence_tolerance_below_1pct"
    for j, name in enumerate(CONDITIONS):
        key = f"ltc.{name}.prevalence"
        target = r.scalar(key)
        min_age = int(r.scalar(f"ltc.{name}.min_age"))
        base = "all ages" if min_age == 0 else f"aged {min_age}+"
        tol_key = small_key if target < 0.01 else rel_key
        checks.append(
            Check(
                "QOF prevalence",
                f"{name} ({base})",
                target,
                _share(pop.ltc[:, j], age >= min_age),
                target * r.scalar(tol_key),
                "proportion",
                key,
                _kind(r, tol_key),
                source=r[key].source,
            )
        )
    count = pop.ltc_count
    adult = age >= 18
    mm = count >= 2
    checks += [
        _target(
            r,
            "targets.population.multimorbidity_adults",
            "multimorbidity",
            "adults with 2+ QOF conditions",
            _share(mm, adult),
        ),
        _target(
            r,
            "targets.population.multimorbidity_adults_imd1",
            "multimorbidity",
            "adults with 2+, IMD quintile 1",
            _share(mm, adult & (pop.imd == 1)),
        ),
        _target(
            r,
            "targets.population.multimorbidity_adults_imd5",
            "multimorbidity",
            "adults with 2+, IMD quintile 5",
            _share(mm, adult & (pop.imd == 5)),
        ),
        _target(
            r,
            "targets.population.multimorbidity_65_74",
            "multimorbidity",
            "aged 65-74 with 2+",
            _share(mm, (age >= 65) & (age <= 74)),
        ),
    ]
    # the one non-QOF prevalence taken from a published figure (the others are assumptions)
    key = "ltc.painful_condition.prevalence"
    target = r.scalar(key)
    checks.append(
        Check(
            "broad-list prevalence",
            "painful_condition (aged 18+)",
            target,
            _share(pop.has_extra("painful_condition"), age >= 18),
            target * r.scalar(rel_key),
            "proportion",
            key,
            _kind(r, rel_key),
            source=r[key].source,
        )
    )
    broad = pop.broad_ltc_count >= 2
    checks += [
        _target(
            r,
            f"targets.population.multimorbidity_broad_{key}",
            "multimorbidity (broad list)",
            f"adults with 2+ broad-list conditions{label}",
            _share(broad, adult & mask),
        )
        for key, label, mask in (
            ("adults", "", adult),
            ("female", ", women", pop.sex == 1),
            ("male", ", men", pop.sex == 0),
            ("imd1", ", IMD quintile 1", pop.imd == 1),
            ("imd5", ", IMD quintile 5", pop.imd == 5),
        )
    ]
    with_ltc = adult & (count > 0)
    shares = r["activation.level_shares_ltc"]
    tol_key = "targets.population.pam_level_share_tolerance"
    for level, (label, target) in enumerate(zip(shares.index, shares.value, strict=True), 1):
        checks.append(
            Check(
                "activation",
                f"PAM {label} among adults with LTCs",
                target,
                _share(pop.pam_level == level, with_ltc),
                r.scalar(tol_key),
                "proportion",
                "activation.level_shares_ltc",
                _kind(r, tol_key),
                source=shares.source,
            )
        )
    # held out: figures no input is taken from and no fit uses
    score = pop.pam_score[with_ltc].astype(np.float64)
    checks += [
        _target(
            r,
            "targets.population.pam_score_mean_ltc",
            "activation",
            "mean PAM score among adults with LTCs",
            float(score.mean()) if score.size else float("nan"),
        ),
        _target(
            r,
            "targets.population.pam_score_sd_ltc",
            "activation",
            "SD of the PAM score among adults with LTCs",
            float(score.std()) if score.size else float("nan"),
        ),
        _target(
            r,
            "targets.population.multimorbidity_broad_65_74",
            "multimorbidity (broad list)",
            "aged 65-74 with 2+ broad-list conditions",
            _share(broad, (age >= 65) & (age <= 74)),
        ),
        _target(
            r,
            "targets.population.multimorbidity_80_plus_odds_ratio",
            "multimorbidity (broad list)",
            "odds ratio of 2+ broad-list conditions, aged 80+ vs all ages",
            _odds_ratio(_share(broad, age >= 80), _share(broad)),
        ),
        _target(
            r,
            "targets.population.hypertension_adults",
            "multimorbidity (broad list)",
            "adults with hypertension",
            _share(pop.condition("hypertension"), adult),
        ),
        _target(
            r,
            "targets.population.depression_anxiety_adults",
            "multimorbidity (broad list)",
            "adults with depression or anxiety",
            _share(pop.condition("depression") | pop.has_extra("anxiety"), adult),
        ),
    ]
    return checks


def population_summary(pop: Population, register: Register | None = None) -> pd.DataFrame:
    """Descriptive shares that have no published target (segments, needs, eligibility, and
    the Bridges to Health segments, whose national shares are not published and whose rules
    are assumptions)."""
    from model.population import BRIDGES_SEGMENTS, SEGMENTS, bridges_segment
    from model.register import default_register

    rows = [("people", "count", float(pop.size))]
    rows += [("segment", s, _share(pop.segment == i)) for i, s in enumerate(SEGMENTS)]
    adult16 = pop.age >= 16
    rows.append(("social need (16+)", "isolation", _share(pop.isolation, adult16)))
    rows.append(("social need (16+)", "financial", _share(pop.financial, adult16)))
    rows.append(("social need (all ages)", "housing", _share(pop.housing)))
    rows.append(("PHB eligibility (18+)", "chc", _share(pop.chc, pop.age >= 18)))
    rows.append(("PHB eligibility (all ages)", "s117", _share(pop.s117)))
    rows.append(("PHB eligibility (all ages)", "wheelchair", _share(pop.wheelchair)))
    bridges = bridges_segment(pop, register if register is not None else default_register())
    group = "Bridges to Health segment (assumed rules)"
    rows += [(group, s, _share(bridges == i)) for i, s in enumerate(BRIDGES_SEGMENTS)]
    return pd.DataFrame(rows, columns=["group", "measure", "value"])


# ============================================================================= baseline

_ADJUST_POP = ["age_band", "sex", "imd_quintile", "ltc_band"]


def _count(activity: pd.DataFrame, service: str, **where: object) -> pd.DataFrame:
    sel = activity[activity["service"] == service]
    for col, val in where.items():
        sel = sel[sel[col] == val]
    return sel


def _per_person_year(
    activity: pd.DataFrame, person_years: pd.DataFrame, service: str, **where: object
) -> float:
    return float(
        _count(activity, service, **where)["count"].sum() / person_years["person_years"].sum()
    )


def standardised_rate_ratio(
    activity: pd.DataFrame,
    person_years: pd.DataFrame,
    services: Sequence[str],
    group: str,
    numerator: int | str,
    denominator: int | str,
    adjust: Sequence[str],
) -> float:
    """Indirectly standardised rate ratio of ``group`` = numerator vs denominator.

    Expected counts come from the rate of each ``adjust`` cell pooled over the groups; the
    ratio of observed/expected between the two groups is the adjusted rate ratio.
    """
    keys = [*adjust, group]
    py = person_years
    act = activity[activity["service"].isin(list(services))]
    py_cells = py.groupby(keys, observed=True)["person_years"].sum()
    ev_cells = act.groupby(keys, observed=True)["count"].sum()
    frame = pd.concat([py_cells.rename("py"), ev_cells.rename("n")], axis=1).fillna(0.0)
    frame = frame.reset_index()
    pooled = frame.groupby(list(adjust))[["py", "n"]].sum()
    rate = (pooled["n"] / pooled["py"]).rename("rate")
    frame = frame.merge(rate, left_on=list(adjust), right_index=True)
    frame["expected"] = frame["py"] * frame["rate"]
    by = frame.groupby(group)[["n", "expected"]].sum()
    if numerator not in by.index or denominator not in by.index:
        return float("nan")  # a group with no person-years (a very small population)
    n_num, e_num = by.loc[numerator, ["n", "expected"]].to_numpy(dtype=float)
    n_den, e_den = by.loc[denominator, ["n", "expected"]].to_numpy(dtype=float)
    if min(e_num, e_den, n_den) <= 0:
        return float("nan")
    return float((n_num / e_num) / (n_den / e_den))


def _adults_with_ltc(df: pd.DataFrame) -> pd.DataFrame:
    adult = ~df["age_band"].isin(["0-4", "5-9", "10-14", "15-19"])
    return df[adult & (df["ltc_band"] != "0")]


def _gp_wait_share(tables: Mapping[str, pd.DataFrame], bands: Sequence[str]) -> float:
    """Share of GP appointments (attended or not) booked within the given wait bands."""
    wd = tables["wait_distribution"]
    gp = wd[wd["service"] == "gp_appointment"]
    total = float(gp["count"].sum())
    return float(gp[gp["wait_band"].isin(list(bands))]["count"].sum()) / max(total, 1.0)


_CHILD_BANDS = ("0-4", "5-9", "10-14")
_OLDER_BANDS = ("65-69", "70-74", "75-79", "80-84", "85+")


def _age_share(df: pd.DataFrame, bands: Sequence[str], part_15_19: float = 0.0) -> float:
    """Share of ``count`` in the given age bands, plus a fraction of the 15-19 band (ages in a
    band taken as evenly spread)."""
    by_age = df.groupby("age_band", observed=True)["count"].sum()
    total = float(by_age.sum())
    if total <= 0:
        return float("nan")
    inside = float(by_age[by_age.index.isin(list(bands))].sum())
    inside += part_15_19 * float(by_age.get("15-19", 0.0))
    return inside / total


def _multimorbidity_band(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a column ``mm``: "0", "1" or "2+" QOF conditions."""
    band = df["ltc_band"].astype(str)
    return df.assign(mm=np.where(band == "0", "0", np.where(band == "1", "1", "2+")))


def _practice_relative_iqr(tables: Mapping[str, pd.DataFrame]) -> float:
    """Interquartile range over the median of practices' appointments per registered person."""
    pg = tables.get("practice_gp")
    if pg is None or pg.empty:
        return float("nan")
    keys = ["replication", "year", "practice"]
    lists = pg.groupby(keys)["list_size"].first().groupby(level="practice").sum()
    counts = pg.groupby("practice")["count"].sum()
    rate = (counts / lists.reindex(counts.index)).to_numpy(dtype=float)
    rate = rate[np.isfinite(rate)]
    if rate.size == 0:
        return float("nan")
    q25, q50, q75 = np.quantile(rate, [0.25, 0.5, 0.75])
    return float((q75 - q25) / q50) if q50 > 0 else float("nan")


def baseline_measures(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Simulated values of every baseline target, pooled over the years (and replications)
    of ``tables``."""
    act = tables["activity"]
    py = tables["person_years"]
    person_years = float(py["person_years"].sum())
    gp_all = pd.concat([_count(act, "gp_appointment"), _count(act, "gp_appointment_dna")])
    gp_total = float(gp_all["count"].sum())
    by_mode = gp_all.groupby("mode", observed=True)["count"].sum()
    by_role = gp_all.groupby("role", observed=True)["count"].sum()
    ae = _count(act, "ae_attendance")
    ae_t1 = float(ae[ae["mode"] == "type_1_2"]["count"].sum())
    ea = _count(act, "emergency_admission")
    elective = _count(act, "elective_admission")
    deliveries = _count(act, "maternity_delivery")
    bed = _count(act, "bed_day")
    stays = _count(act, "overnight_stay")

    def los(kind: str, older: bool = False) -> float:
        b = bed[bed["mode"] == kind]
        s = stays[stays["mode"] == kind]
        if older:
            b, s = b[b["age_band"] == "85+"], s[s["age_band"] == "85+"]
        return float(b["count"].sum() / max(s["count"].sum(), 1.0))

    ea_via_ae = float(_count(act, "ae_to_admission")["count"].sum())
    adults_ltc_py = _adults_with_ltc(py)
    adults_ltc_act = _adults_with_ltc(act)

    def pam_rr(services: Sequence[str]) -> float:
        return standardised_rate_ratio(
            adults_ltc_act, adults_ltc_py, services, "activation_level", 4, 1, _ADJUST_POP
        )

    gp_services = ["gp_appointment", "gp_appointment_dna"]

    def gp_deprivation(role: str | None = None) -> float:
        sel = act if role is None else act[act["role"] == role]
        return standardised_rate_ratio(
            sel, py, gp_services, "imd_quintile", 1, 5, ["age_band", "sex"]
        )

    gp_85 = float(gp_all[gp_all["age_band"] == "85+"]["count"].sum())
    py_85 = float(py[py["age_band"] == "85+"]["person_years"].sum())
    supported = float(_count(act, "social_care_long_term_support")["count"].sum())
    started = float(_count(act, "social_care_support_started")["count"].sum())
    support_days = _count(act, "social_care_support_day")
    support_cost = float(support_days["cost_gbp"].sum())
    working_age_cost = float(
        support_days[~support_days["age_band"].isin(list(_OLDER_BANDS))]["cost_gbp"].sum()
    )

    return {
        "gp_appointments_per_person": gp_total / person_years,
        "gp_share_of_appointments": float(by_role.get("gp", 0.0) / gp_total),
        "gp_face_to_face_share": float(by_mode.get("face_to_face", 0.0) / gp_total),
        "gp_telephone_share": float(by_mode.get("telephone", 0.0) / gp_total),
        "gp_online_share": float(by_mode.get("online", 0.0) / gp_total),
        "gp_deprivation_rate_ratio": gp_deprivation(),
        "gp_multimorbidity_rate_ratio": standardised_rate_ratio(
            _multimorbidity_band(act),
            _multimorbidity_band(py),
            gp_services,
            "mm",
            "2+",
            "0",
            ["age_band", "sex"],
        ),
        "gp_unsuccessful_attempt_share": float(
            _count(act, "gp_booking_attempt_unsuccessful")["count"].sum()
            / max(float(_count(act, "gp_booking_attempt")["count"].sum()), 1.0)
        ),
        "gp_spill_to_ae_per_1000": 1000 * _per_person_year(act, py, "gp_spill_to_ae"),
        "gp_same_day_share": _gp_wait_share(tables, ("0",)),
        "gp_within_7_days_share": _gp_wait_share(tables, ("0", "1", "2-7")),
        "ae_attendances_per_1000": 1000 * float(ae["count"].sum()) / person_years,
        "ae_type1_conversion": ea_via_ae / max(ae_t1, 1.0),
        "emergency_admissions_per_1000": 1000 * float(ea["count"].sum()) / person_years,
        "admissions_per_1000": 1000
        * float(ea["count"].sum() + elective["count"].sum() + deliveries["count"].sum())
        / person_years,
        "outpatient_attendances_per_1000": 1000
        * _per_person_year(act, py, "outpatient_attendance"),
        "bed_days_per_1000": 1000 * float(bed["count"].sum()) / person_years,
        "emergency_los_days": los("emergency"),
        "elective_los_days": los("elective"),
        "emergency_los_85_plus_days": los("emergency", older=True),
        "pam_rate_ratio_gp": pam_rr(["gp_appointment", "gp_appointment_dna"]),
        "pam_rate_ratio_ae": pam_rr(["ae_attendance"]),
        "pam_rate_ratio_emergency_admission": pam_rr(["emergency_admission"]),
        "pam_rate_ratio_outpatient": pam_rr(["outpatient_attendance"]),
        "social_care_long_term_support_per_1000": 1000
        * _per_person_year(act, py, "social_care_long_term_support"),
        "social_care_new_requests_per_1000": 1000
        * _per_person_year(act, py, "social_care_new_request"),
        "social_care_long_term_support_start_share": (supported - started) / supported
        if supported > 0
        else float("nan"),
        "mental_health_contact_share": _per_person_year(act, py, "mental_health_people_in_contact"),
        "community_nursing_contacts_per_person": _per_person_year(
            act, py, "community_nursing_contact"
        ),
        "mental_health_contacts_per_person": _per_person_year(
            act, py, "community_mental_health_contact"
        ),
        # held out: no input is taken from these figures and no fit uses them
        "gp_85_plus_rate_ratio": (gp_85 / py_85) / (gp_total / person_years)
        if py_85 > 0 and gp_total > 0
        else float("nan"),
        "gp_deprivation_rate_ratio_gp_role": gp_deprivation("gp"),
        "gp_deprivation_rate_ratio_nurse": gp_deprivation("nurse"),
        "gp_practice_rate_relative_iqr": _practice_relative_iqr(tables),
        "pam_rate_ratio_gp_dna": pam_rr(["gp_appointment_dna"]),
        "ae_under_17_share": _age_share(ae, _CHILD_BANDS, 2 / 5),
        "ae_80_plus_share": _age_share(ae, ("80-84", "85+")),
        "emergency_zero_night_share": float(ea[ea["mode"] == "same_day"]["count"].sum())
        / max(float(ea["count"].sum()), 1.0),
        "mental_health_under_18_share": _age_share(
            _count(act, "mental_health_people_in_contact"), _CHILD_BANDS, 3 / 5
        ),
        "social_care_working_age_spend_share": working_age_cost / support_cost
        if support_cost > 0
        else float("nan"),
    }


_BASELINE_GROUPS = {
    "gp_": "general practice",
    "ae_": "A&E",
    "emergency_admissions": "admissions",
    "emergency_zero_night": "admissions",
    "admissions": "admissions",
    "outpatient": "admissions",
    "bed_days": "beds",
    "emergency_los": "beds",
    "elective_los": "beds",
    "pam_": "activation",
    "social_care": "social care",
    "mental_health": "community",
    "community": "community",
}


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and Monte Carlo standard error (sd / sqrt(R)); se is NaN for one value."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, float("nan")
    return mean, float(arr.std(ddof=1) / np.sqrt(arr.size))


def baseline_checks(
    replications: Mapping[str, pd.DataFrame] | Iterable[Mapping[str, pd.DataFrame]],
    register: Register,
) -> list[Check]:
    """Every baseline target against the simulation.

    ``replications`` are the tables of one or more replications (``run_one`` each; an
    iterator is read one replication at a time, so their tables need not all be held); the
    simulated value is the mean of their measures and ``se`` its standard error.
    """
    runs = [replications] if isinstance(replications, Mapping) else replications
    measures = [baseline_measures(t) for t in runs]
    if not measures:
        raise CarescaleError("baseline validation needs at least one replication.")
    checks = []
    for name in measures[0]:
        group = next(g for prefix, g in _BASELINE_GROUPS.items() if name.startswith(prefix))
        key = f"targets.baseline.{name}"
        label = register[key].description.rstrip(".")
        mean, se = _mean_se([m[name] for m in measures])
        checks.append(_target(register, key, group, label, mean, se))
    return checks


# ================================================================ levers
#: the scenario ``carescale validate levers`` runs: both levers at national-average settings
NATIONAL_LEVERS: Mapping[str, Mapping[str, object]] = {"link_workers": {}, "phb": {}}


def lever_measures(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Link-worker referrals from general practice per 1,000 person-years, PHB holders per
    1,000 people at the end of the first year and their notional share (one replication)."""
    lever = tables["lever_activity"]
    py = tables["person_years"]
    first = int(py["year"].min())
    people = float(py.loc[py["year"] == first, "person_years"].sum())
    lw = lever[(lever["lever"] == "link_workers") & (lever["year"] == first)]
    phb = lever[(lever["lever"] == "phb") & (lever["year"] == first)]
    holders = float(phb["holders_at_year_end"].sum())
    return {
        "link_worker_referrals_per_1000": 1000.0 * float(lw["referred_gp"].sum()) / people,
        "phb_holders_per_1000": 1000.0 * holders / people,
        "phb_notional_share": float(phb["notional_at_year_end"].sum()) / holders
        if holders
        else math.nan,
    }


def lever_checks(
    replications: Iterable[Mapping[str, pd.DataFrame]], register: Register
) -> list[Check]:
    """The levers' published volumes against the simulation (mean over replications)."""
    measures = [lever_measures(t) for t in replications]
    if not measures:
        raise CarescaleError("lever validation needs at least one replication.")
    checks = []
    for name in ("link_worker_referrals_per_1000", "phb_holders_per_1000"):
        key = f"targets.levers.{name}"
        mean, se = _mean_se([m[name] for m in measures])
        checks.append(
            _target(register, key, "levers", register[key].description.rstrip("."), mean, se)
        )
    mean, se = _mean_se([m["phb_notional_share"] for m in measures])
    tol_key = "targets.levers.phb_notional_share_tolerance"
    share = register["levers.phb.notional_share"]
    checks.append(
        Check(
            "levers",
            "Share of personal health budgets held as notional budgets",
            share.scalar,
            mean,
            register.scalar(tol_key),
            share.unit,
            "levers.phb.notional_share",
            _kind(register, tol_key),
            se,
            share.source,
        )
    )
    return checks
