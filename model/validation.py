"""Validation of simulated output against the calibration targets of EVIDENCE §12.

Each check is a pure function of a population (or, later, of run results) and the register:
target, simulated value, tolerance, pass/fail. Targets and tolerances come from the register
(``targets.*`` or the input entry that *is* the published figure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import tables
from model.population import CONDITIONS, Population
from model.register import Register


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

    @property
    def low(self) -> float:
        """Lowest accepted value."""
        return self.target - self.tolerance

    @property
    def high(self) -> float:
        """Highest accepted value."""
        return self.target + self.tolerance

    @property
    def passed(self) -> bool:
        """True when the simulated value lies within the tolerance."""
        return bool(np.isfinite(self.simulated)) and self.low <= self.simulated <= self.high


def checks_frame(checks: Sequence[Check]) -> pd.DataFrame:
    """Checks as a tidy table (one row per target)."""
    return pd.DataFrame(
        {
            "group": [c.group for c in checks],
            "target_name": [c.name for c in checks],
            "target": [c.target for c in checks],
            "simulated": [c.simulated for c in checks],
            "tolerance": [c.tolerance for c in checks],
            "low": [c.low for c in checks],
            "high": [c.high for c in checks],
            "unit": [c.unit for c in checks],
            "result": ["pass" if c.passed else "FAIL" for c in checks],
            "register_key": [c.source_key for c in checks],
        }
    )


def _target(register: Register, key: str, group: str, name: str, simulated: float) -> Check:
    p = register[key]
    tol = p.tolerance if p.tolerance is not None else 0.0
    if p.relative_tolerance:
        tol *= p.scalar
    return Check(group, name, p.scalar, float(simulated), tol, p.unit, key)


def _share(mask: np.ndarray, among: np.ndarray | None = None) -> float:
    if among is None:
        return float(mask.mean()) if mask.size else float("nan")
    n = int(among.sum())
    return float(mask[among].sum() / n) if n else float("nan")


def population_checks(pop: Population, register: Register) -> list[Check]:
    """Every population target of EVIDENCE §12 (items 1, 8, 9, 10)."""
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
    rel = r.scalar("targets.population.qof_prevalence_tolerance")
    rel_small = r.scalar("targets.population.qof_prevalence_tolerance_below_1pct")
    for j, name in enumerate(CONDITIONS):
        key = f"ltc.{name}.prevalence"
        target = r.scalar(key)
        min_age = int(r.scalar(f"ltc.{name}.min_age"))
        base = "all ages" if min_age == 0 else f"aged {min_age}+"
        tol = target * (rel_small if target < 0.01 else rel)
        checks.append(
            Check(
                "QOF prevalence",
                f"{name} ({base})",
                target,
                _share(pop.ltc[:, j], age >= min_age),
                tol,
                "proportion",
                key,
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
    with_ltc = adult & (count > 0)
    shares = r["activation.level_shares_ltc"]
    tol = r.scalar("targets.population.pam_level_share_tolerance")
    for level, (label, target) in enumerate(zip(shares.index, shares.value, strict=True), 1):
        checks.append(
            Check(
                "activation",
                f"PAM {label} among adults with LTCs",
                target,
                _share(pop.pam_level == level, with_ltc),
                tol,
                "proportion",
                "activation.level_shares_ltc",
            )
        )
    return checks


def population_summary(pop: Population) -> pd.DataFrame:
    """Descriptive shares that have no published target (segments, needs, eligibility)."""
    from model.population import SEGMENTS

    rows = [("people", "count", float(pop.size))]
    rows += [("segment", s, _share(pop.segment == i)) for i, s in enumerate(SEGMENTS)]
    adult16 = pop.age >= 16
    rows.append(("social need (16+)", "isolation", _share(pop.isolation, adult16)))
    rows.append(("social need (16+)", "financial", _share(pop.financial, adult16)))
    rows.append(("social need (all ages)", "housing", _share(pop.housing)))
    rows.append(("PHB eligibility (18+)", "chc", _share(pop.chc, pop.age >= 18)))
    rows.append(("PHB eligibility (all ages)", "s117", _share(pop.s117)))
    rows.append(("PHB eligibility (all ages)", "wheelchair", _share(pop.wheelchair)))
    rows.append(
        (
            "activation",
            "mean PAM score, adults with LTCs",
            float(pop.pam_score[(pop.age >= 18) & (pop.ltc_count > 0)].mean()),
        )
    )
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
    smr = by["n"] / by["expected"]
    return float(smr.loc[numerator] / smr.loc[denominator])


def _adults_with_ltc(df: pd.DataFrame) -> pd.DataFrame:
    adult = ~df["age_band"].isin(["0-4", "5-9", "10-14", "15-19"])
    return df[adult & (df["ltc_band"] != "0")]


def _gp_wait_share(tables: dict[str, pd.DataFrame], bands: Sequence[str]) -> float:
    """Share of GP appointments (attended or not) booked within the given wait bands."""
    wd = tables["wait_distribution"]
    gp = wd[wd["service"] == "gp_appointment"]
    total = float(gp["count"].sum())
    return float(gp[gp["wait_band"].isin(list(bands))]["count"].sum()) / max(total, 1.0)


def baseline_measures(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Simulated values of every baseline target, pooled over years and replications."""
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

    return {
        "gp_appointments_per_person": gp_total / person_years,
        "gp_share_of_appointments": float(by_role.get("gp", 0.0) / gp_total),
        "gp_face_to_face_share": float(by_mode.get("face_to_face", 0.0) / gp_total),
        "gp_telephone_share": float(by_mode.get("telephone", 0.0) / gp_total),
        "gp_online_share": float(by_mode.get("online", 0.0) / gp_total),
        "gp_deprivation_rate_ratio": standardised_rate_ratio(
            act,
            py,
            ["gp_appointment", "gp_appointment_dna"],
            "imd_quintile",
            1,
            5,
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
        "mental_health_contact_share": _per_person_year(act, py, "mental_health_people_in_contact"),
        "community_nursing_contacts_per_person": _per_person_year(
            act, py, "community_nursing_contact"
        ),
        "mental_health_contacts_per_person": _per_person_year(
            act, py, "community_mental_health_contact"
        ),
    }


_BASELINE_GROUPS = {
    "gp_": "general practice",
    "ae_": "A&E",
    "emergency_admissions": "admissions",
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


def baseline_checks(tables: dict[str, pd.DataFrame], register: Register) -> list[Check]:
    """Every baseline utilisation target (EVIDENCE §12) against the simulation."""
    measures = baseline_measures(tables)
    checks = []
    for name, value in measures.items():
        group = next(g for prefix, g in _BASELINE_GROUPS.items() if name.startswith(prefix))
        label = register[f"targets.baseline.{name}"].description.rstrip(".")
        checks.append(_target(register, f"targets.baseline.{name}", group, label, value))
    return checks
