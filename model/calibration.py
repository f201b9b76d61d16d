"""Calibration of the baseline demand model to its fitting targets.

Every target value is read from the register: the entries ``targets.baseline.<name>`` (and
``targets.calibration_only.<name>``, for a target the result tables cannot measure) whose
``kind`` is ``calibrated``. No held-out target (``kind = "held_out"``) is read here.

``calibrate_baseline()`` fits, on a reference population, the parameters whose register source
says "Calibrated to targets...", using *expected* annual rates so that the fit is fast and free
of sampling noise:

1. GP relative risks: the direct deprivation ratio, the ratio per LTC and the PAM level
   ratios are iterated until the age-sex-adjusted Q1/Q5 rate ratio
   (``gp_deprivation_rate_ratio``), the adjusted multimorbidity 2+ vs 0 ratio
   (``gp_multimorbidity_rate_ratio``) and the adjusted PAM L4/L1 ratio (``pam_rate_ratio_gp``)
   are met; the gamma shape so that the top decile of users has the rate ratio
   ``calibration_only.gp_top_decile_rate_ratio`` against the rest.
2. PAM level ratios of A&E, emergency admissions (direct and via A&E together) and
   outpatients, to their adjusted L4/L1 targets (``pam_rate_ratio_*``).
3. Overall scales: GP requests = appointments / (1 - the share of attempts that fail) as a
   start; A&E (less the GP overspill), emergency admissions, outpatients, community nursing,
   mental-health contacts, social care requests to their volumes; the mental-health contacts
   per person in contact from the share of people in contact.
4. Zero-night shares of emergency stays so that overnight stays average
   ``emergency_los_days`` overall and ``emergency_los_85_plus_days`` at 85+; the children's
   type 1 conversion so that the share of type 1 attendances admitted is
   ``ae_type1_conversion``.
5. Capacities of electives, day cases and community services: expected demand per working
   day (or day) times the capacity margin.

6. One-year engine runs then refine what only simulation gives: GP clinician minutes (to the
   appointments per person) and GP demand (to the share of booking attempts that fail), A&E
   and the other simulated volumes, beds, the emergency balance and long-term social care.

The fitted values are written back into the register files (and the baseline scenario),
each replacing the ``value =`` line of its entry, so the register stays the single source.
``carescale validate baseline`` then checks the *simulated* results against the targets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import optimize

from model import crn, tables
from model.demand import PROPENSITY_OF, DemandModel, age_sex_profile, gamma_propensity
from model.errors import CarescaleError, show
from model.outputs import write_text_file
from model.population import PROPENSITIES, Population, build_population
from model.register import Register, default_parameter_files
from model.services.acute import mean_los_table, type1_conversion
from model.services.ambulatory import outpatient_margin
from model.services.names import DEMAND_STREAMS
from model.services.primary_care import CAPACITY_KEYS as GP_CAPACITY_KEYS
from model.strata import age_band_index

if TYPE_CHECKING:
    from model.scenario import Scenario

#: working days (Monday to Friday) of the year the calibration simulates (2024/25: 261)
WORKING_DAYS = 261
REFERENCE_SIZE = 200_000
REFERENCE_SEED = 20231
ENGINE_SIZE = 200_000
_LEVEL_WEIGHTS = np.array([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0])


@dataclass
class Fit:
    """Fitted values (register key -> value) and a log of what was matched."""

    values: dict[str, Any] = field(default_factory=dict)
    log: list[tuple[str, float, float]] = field(default_factory=list)

    def note(self, what: str, target: float, achieved: float) -> None:
        """Record a matched target."""
        self.log.append((what, target, achieved))


def _cells(*codes: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(codes[0].shape, dtype=np.int64)
    for c, n in zip(codes, sizes, strict=True):
        out = out * n + c.astype(np.int64)
    return out


def adjusted_ratio(
    rate: np.ndarray,
    group: np.ndarray,
    num: int,
    den: int,
    cell: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """Indirectly standardised ratio of expected rates, group ``num`` vs ``den``."""
    if mask is not None:
        rate, group, cell = rate[mask], group[mask], cell[mask]
    _, inv = np.unique(cell, return_inverse=True)
    total = np.bincount(inv, weights=rate)
    count = np.bincount(inv)
    expected = (total / count)[inv]
    smr = [rate[group == g].sum() / expected[group == g].sum() for g in (num, den)]
    return float(smr[0] / smr[1])


class _Context:
    """A reference population and helpers to evaluate rates under trial registers."""

    def __init__(self, register: Register, size: int, seed: int):
        self.pop: Population = build_population(size, seed, register)
        pop = self.pop
        self.band = age_band_index(pop.age)
        self.age_sex = _cells(self.band, pop.sex, sizes=(18, 2))
        # the LTC count of the results tables (ltc_band): the broad list
        count = pop.broad_ltc_count
        ltc_band = np.minimum(count, 5)
        self.adjust_pam = _cells(self.band, pop.sex, pop.imd - 1, ltc_band, sizes=(18, 2, 5, 6))
        self.adult_ltc = (pop.age >= 20) & (count > 0)
        self.seed = seed

    def rates(self, register: Register, service: str, propensity: bool = False) -> np.ndarray:
        demand = DemandModel.build(register, self.pop)
        if propensity:
            return demand.rates(service, self.pop)
        shapes = {**demand.shapes, service: float("inf")}
        return replace(demand, shapes=shapes).rates(service, self.pop)


def _with(register: Register, values: Mapping[str, Any]) -> Register:
    return register.with_values(dict(values), origin="calibration")


def _pam_update(vector: np.ndarray, target: float, achieved: float) -> list[float]:
    shift = np.log(target / achieved) * _LEVEL_WEIGHTS
    return [round(float(v), 4) for v in vector * np.exp(shift)]


#: mean GP appointments per person at which the top-decile ratio is measured (stage 1 draws
#: counts at about the national rate; the ratio hardly depends on it)
_TOP_DECILE_MEAN = 6.2


def _fit_gp(ctx: _Context, reg: Register, fit: Fit, target: Callable[[str], float]) -> Register:
    pop = ctx.pop
    imd_goal = target("gp_deprivation_rate_ratio")
    mm_goal = target("gp_multimorbidity_rate_ratio")
    pam_goal = target("pam_rate_ratio_gp")
    count = pop.broad_ltc_count
    mm = np.where(count >= 2, 2, np.where(count == 0, 0, 1))
    for _ in range(12):
        r = ctx.rates(reg, "gp")
        imd = adjusted_ratio(r, pop.imd, 1, 5, ctx.age_sex)
        mm_rr = adjusted_ratio(r, mm, 2, 0, ctx.age_sex)
        pam = adjusted_ratio(r, pop.pam_level, 4, 1, ctx.adjust_pam, ctx.adult_ltc)
        reg = _with(
            reg,
            {
                "demand.gp.imd_rr_q1_q5": round(
                    reg.scalar("demand.gp.imd_rr_q1_q5") * imd_goal / imd, 4
                ),
                "demand.gp.rr_per_ltc": round(
                    reg.scalar("demand.gp.rr_per_ltc") * (mm_goal / mm_rr) ** (1 / 2.5), 4
                ),
                "demand.gp.pam_rr": _pam_update(reg.array("demand.gp.pam_rr"), pam_goal, pam),
            },
        )
    fit.note("GP adjusted Q1/Q5 rate ratio (expected rates)", imd_goal, imd)
    fit.note("GP adjusted 2+ vs 0 LTC rate ratio", mm_goal, mm_rr)
    fit.note("GP adjusted PAM L4/L1 rate ratio", pam_goal, pam)

    # overdispersion: top decile of realised counts against the other 90 %
    top_goal = reg.scalar("targets.calibration_only.gp_top_decile_rate_ratio")
    base = ctx.rates(reg, "gp")
    u_prop = pop.propensity[:, PROPENSITIES.index(PROPENSITY_OF["gp"])]
    u_count = crn.uniforms(crn.key(ctx.seed, 0, "calibration.gp.count"), pop.person_id)
    scale = _TOP_DECILE_MEAN / base.mean()

    def top_decile_ratio(shape: float) -> float:
        counts = crn.poisson_inverse(base * scale * gamma_propensity(u_prop, shape), u_count)
        # split ties at random so the top group is exactly 10 %
        order = np.argsort(counts + u_count * 1e-3)
        top = order[int(0.9 * counts.size) :]
        rest = order[: int(0.9 * counts.size)]
        return float(counts[top].mean() / counts[rest].mean())

    shape = optimize.brentq(lambda k: top_decile_ratio(k) - top_goal, 0.6, 200.0, xtol=1e-3)
    reg = _with(reg, {"demand.gp.overdispersion_shape": round(shape, 3)})
    fit.note("GP top-decile / other 90 % rate ratio", top_goal, top_decile_ratio(shape))
    return reg


def _fit_pam(
    ctx: _Context,
    reg: Register,
    fit: Fit,
    service: str,
    target: float,
    rate_fn: Callable[[Register], np.ndarray],
) -> Register:
    pop = ctx.pop
    key = f"demand.{service}.pam_rr"
    for _ in range(40):
        ratio = adjusted_ratio(rate_fn(reg), pop.pam_level, 4, 1, ctx.adjust_pam, ctx.adult_ltc)
        if abs(ratio - target) < 1e-4:
            break
        reg = _with(reg, {key: _pam_update(reg.array(key), target, ratio)})
    fit.note(f"{service} adjusted PAM L4/L1 rate ratio", target, ratio)
    return reg


def _via_ae(ctx: _Context, reg: Register, ae_rate: np.ndarray) -> np.ndarray:
    pop = ctx.pop
    conv = type1_conversion(reg)[pop.sex, np.minimum(pop.age, 100)]
    return np.asarray(ae_rate * reg.scalar("acute.ae_type1_share") * conv)


def _scale(reg: Register, service: str, target: float, mean_rate: float) -> dict[str, float]:
    key = f"demand.{service}.scale"
    return {key: round(reg.scalar(key) * target / mean_rate, 5)}


def _targets(reg: Register) -> Callable[[str], float]:
    """The value of ``targets.baseline.<name>``, refusing any target that is not a fitting
    target (a held-out or input target must never steer the fit)."""

    def value(name: str) -> float:
        key = f"targets.baseline.{name}"
        if reg[key].kind != "calibrated":
            raise CarescaleError(
                f"calibration asked for {key}, whose kind is {reg[key].kind or 'not given'}; "
                "only kind 'calibrated' targets may be fitted."
            )
        return reg.scalar(key)

    return value


#: (target under targets.population, sex (None: both), IMD quintile (None: all)) of the broad
#: multimorbidity fit, all among adults (18+)
_BROAD_TARGETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("multimorbidity_broad_adults", None, None),
    ("multimorbidity_broad_female", 1, None),
    ("multimorbidity_broad_male", 0, None),
    ("multimorbidity_broad_imd1", None, 1),
    ("multimorbidity_broad_imd5", None, 5),
)
_BROAD_KEYS = (
    "ltc.broad.frailty_loading",
    "ltc.broad.female_shift_offset",
    "ltc.broad.deprivation_ratio_factor",
)


def broad_multimorbidity_shares(register: Register) -> dict[str, float]:
    """Expected adult shares with 2+ broad-list conditions for each fitting target's group."""
    from model.liability import cell_weights
    from model.population import DEFAULT_BASE_YEAR, PopulationModel, expected_broad_multimorbidity

    model = PopulationModel.build(register, DEFAULT_BASE_YEAR)
    share = expected_broad_multimorbidity(model)
    w = cell_weights(DEFAULT_BASE_YEAR) * (np.arange(tables.N_AGES) >= 18)[None, :, None]
    out = {}
    for name, sex, imd in _BROAD_TARGETS:
        m = w.copy()
        if sex is not None:
            m[1 - sex] = 0.0
        if imd is not None:
            m[:, :, [q for q in range(5) if q != imd - 1]] = 0.0
        out[name] = float((m * share).sum() / m.sum())
    return out


def fit_broad_multimorbidity(register: Register, fit: Fit) -> Register:
    """Fit the common loading, female offset and deprivation factor of the non-QOF broad-list
    conditions to Cassell 2018's adult multimorbidity overall, by sex and by deprivation
    (least squares on the expected shares; the QOF conditions are left as they are)."""
    goals = {}
    for name, _, _ in _BROAD_TARGETS:
        key = f"targets.population.{name}"
        if register[key].kind != "calibrated":
            raise CarescaleError(f"calibration asked for {key}, whose kind is not 'calibrated'.")
        goals[name] = register.scalar(key)

    def trial(x: np.ndarray) -> Register:
        return _with(
            register,
            {
                "ltc.broad.frailty_loading": float(x[0]),
                "ltc.broad.female_shift_offset": float(x[1]),
                "ltc.broad.deprivation_ratio_factor": float(np.exp(x[2])),
            },
        )

    def residual(x: np.ndarray) -> np.ndarray:
        got = broad_multimorbidity_shares(trial(x))
        return np.array([got[k] - goals[k] for k in goals])

    start = np.array(
        [
            register.scalar("ltc.broad.frailty_loading"),
            register.scalar("ltc.broad.female_shift_offset"),
            np.log(register.scalar("ltc.broad.deprivation_ratio_factor")),
        ]
    )
    sol = optimize.least_squares(
        residual, start, bounds=([0.0, -1.0, -1.5], [0.9, 1.0, 1.5]), xtol=1e-6, diff_step=1e-3
    )
    values = {
        "ltc.broad.frailty_loading": round(float(sol.x[0]), 4),
        "ltc.broad.female_shift_offset": round(float(sol.x[1]), 4),
        "ltc.broad.deprivation_ratio_factor": round(float(np.exp(sol.x[2])), 4),
    }
    reg = _with(register, values)
    fit.values.update(values)
    got = broad_multimorbidity_shares(reg)
    for name in goals:
        fit.note(f"adults with 2+ broad-list conditions: {name} (expected)", goals[name], got[name])
    return reg


def calibrate_baseline(
    register: Register,
    size: int = REFERENCE_SIZE,
    seed: int = REFERENCE_SEED,
    engine_size: int = ENGINE_SIZE,
) -> Fit:
    """Fit the calibrated parameters (see the module docstring); returns the new values."""
    fit = Fit()
    # first the broad-list multimorbidity (demand's relative risk per LTC counts that list)
    register = fit_broad_multimorbidity(register, fit)
    ctx = _Context(register, size, seed)
    pop = ctx.pop
    target = _targets(register)
    reg = _fit_gp(ctx, register, fit, target)

    # A&E: the GP overspill (its target) comes on top of the direct attendances
    spill = target("gp_spill_to_ae_per_1000") / 1000
    reg = _fit_pam(ctx, reg, fit, "ae", target("pam_rate_ratio_ae"), lambda r: ctx.rates(r, "ae"))
    ae_mean = float(ctx.rates(reg, "ae", True).mean())
    reg = _with(reg, _scale(reg, "ae", target("ae_attendances_per_1000") / 1000 - spill, ae_mean))
    fit.note(
        "A&E direct attendances per person (target less GP overspill)",
        target("ae_attendances_per_1000") / 1000 - spill,
        float(ctx.rates(reg, "ae", True).mean()),
    )

    # children's type 1 conversion so that the target share of type 1 attendances is admitted
    ae_rate = ctx.rates(reg, "ae", True)

    def overall_conversion(child: float) -> float:
        r = _with(reg, {"acute.child_type1_conversion": child})
        return float(
            _via_ae(ctx, r, ae_rate).sum() / (ae_rate.sum() * r.scalar("acute.ae_type1_share"))
        )

    goal = target("ae_type1_conversion")
    if overall_conversion(0.01) < goal < overall_conversion(0.6):
        child = optimize.brentq(lambda c: overall_conversion(c) - goal, 0.01, 0.6, xtol=1e-4)
        reg = _with(reg, {"acute.child_type1_conversion": round(child, 4)})
    fit.note(
        "type 1 conversion (expected)",
        goal,
        overall_conversion(reg.scalar("acute.child_type1_conversion")),
    )

    # emergency admissions: direct route scaled so that direct + via A&E hits the target
    def ea_total(r: Register, with_prop: bool = False) -> np.ndarray:
        return ctx.rates(r, "emergency_direct", with_prop) + _via_ae(
            ctx, r, ctx.rates(r, "ae", with_prop)
        )

    reg = _fit_pam(
        ctx,
        reg,
        fit,
        "emergency_direct",
        target("pam_rate_ratio_emergency_admission"),
        lambda r: ea_total(r),
    )
    via = float(_via_ae(ctx, reg, ctx.rates(reg, "ae", True)).mean())
    direct = float(ctx.rates(reg, "emergency_direct", True).mean())
    # the level of the SUS table itself (which also gives the bed days and stays), not the
    # §12 centre: the validation then checks it against 108-115 per 1,000
    profile = age_sex_profile(reg, "emergency_direct") / reg.scalar("acute.emergency_direct_share")
    goal = float(profile[pop.sex, np.minimum(pop.age, 100)].mean())
    if goal <= via:
        raise CarescaleError("A&E conversions alone exceed the emergency admission target.")
    reg = _with(reg, _scale(reg, "emergency_direct", goal - via, direct))
    fit.note(
        "emergency admissions per person (expected, SUS level)",
        goal,
        float(ea_total(reg, True).mean()),
    )

    reg = _fit_pam(
        ctx,
        reg,
        fit,
        "outpatient",
        target("pam_rate_ratio_outpatient"),
        lambda r: ctx.rates(r, "outpatient"),
    )
    for service, goal in (
        (
            "gp",
            target("gp_appointments_per_person") / (1 - target("gp_unsuccessful_attempt_share")),
        ),
        ("outpatient", target("outpatient_attendances_per_1000") / 1000),
        ("community_nursing", target("community_nursing_contacts_per_person")),
        ("mental_health", target("mental_health_contacts_per_person")),
        ("social_care_request", target("social_care_new_requests_per_1000") / 1000),
    ):
        reg = _with(reg, _scale(reg, service, goal, float(ctx.rates(reg, service, True).mean())))
        fit.note(
            f"{service} demand per person-year (expected)",
            goal,
            float(ctx.rates(reg, service, True).mean()),
        )

    # mental health (hurdle model): contacts per person in contact = contacts / people
    per_user = target("mental_health_contacts_per_person") / target("mental_health_contact_share")
    reg = _with(reg, {"demand.mental_health.events_per_user": round(per_user, 4)})
    rate = ctx.rates(reg, "mental_health", True)
    fit.note(
        "share in mental-health contact (expected)",
        target("mental_health_contact_share"),
        float(np.minimum(rate / per_user, 1.0).mean()),
    )

    reg = _fit_los(ctx, reg, fit, target)
    reg = _fit_capacity(ctx, reg, fit, target)
    reg = _fit_by_simulation(reg, fit, engine_size, seed)
    for key in _CALIBRATED_KEYS:
        fit.values[key] = _as_toml_value(reg[key])
    return fit


def _fit_los(ctx: _Context, reg: Register, fit: Fit, target: Callable[[str], float]) -> Register:
    """Zero-night shares of emergency stays: the overnight mean stays overall and at 85+.

    The share of emergency admissions with zero nights that results is *not* fitted: it is
    the held-out target ``targets.baseline.emergency_zero_night_share``.
    """
    pop = ctx.pop
    ea = ctx.rates(reg, "emergency_direct", True) + _via_ae(ctx, reg, ctx.rates(reg, "ae", True))
    mean = mean_los_table(reg, "emergency")
    ages = np.minimum(pop.age, 100)
    m = mean[pop.sex, ages]
    knots = reg["acute.los.emergency.zero_night_share"]
    knot_ages = np.array([float(a) for a in knots.index])
    old = np.array(knots.value)
    target_all = target("emergency_los_days")
    target_85 = target("emergency_los_85_plus_days")
    older = ages >= 85

    def overnight_mean(values: np.ndarray, mask: np.ndarray | None = None) -> float:
        p0 = np.interp(ages, knot_ages, values)
        w = ea if mask is None else ea * mask
        return float((w * m).sum() / (w * (1.0 - p0)).sum())

    # the last knot (85) from the 85+ target; the others shifted together for the overall one
    last = 1.0 - float((ea[older] * m[older]).sum() / ea[older].sum()) / target_85
    new = old.copy()
    new[-1] = last

    def gap(shift: float) -> float:
        trial = new.copy()
        trial[:-1] = np.clip(old[:-1] + shift, 0.0, 0.95)
        return overnight_mean(trial) - target_all

    shift = optimize.brentq(gap, -0.4, 0.5, xtol=1e-5)
    new[:-1] = np.clip(old[:-1] + shift, 0.0, 0.95)
    reg = _with(reg, {"acute.los.emergency.zero_night_share": [round(float(v), 4) for v in new]})
    fit.note("emergency overnight mean LOS (expected)", target_all, overnight_mean(new))
    fit.note("emergency overnight mean LOS 85+ (expected)", target_85, overnight_mean(new, older))
    return reg


#: (measure, register key of the demand scale, capacity key moved in proportion, or None)
_SIMULATED_SCALES = (
    ("ae_attendances_per_1000", "demand.ae.scale", None),
    (
        "outpatient_attendances_per_1000",
        "demand.outpatient.scale",
        "capacity.acute.outpatient_per_1000_per_working_day",
    ),
    (
        "community_nursing_contacts_per_person",
        "demand.community_nursing.scale",
        "capacity.community.nursing_contacts_per_1000_per_day",
    ),
    (
        "mental_health_contacts_per_person",
        "demand.mental_health.scale",
        "capacity.community.mental_health_contacts_per_1000_per_working_day",
    ),
    (
        "social_care_new_requests_per_1000",
        "demand.social_care_request.scale",
        "capacity.community.social_care_assessments_per_1000_per_working_day",
    ),
)


def _one_year_scenario(reg: Register, size: int, seed: int) -> Scenario:
    """The one-year baseline run the calibration simulates: the first year of
    ``scenarios/baseline.toml`` (2024/25, a financial year from 1 April; a test checks
    that these settings are the baseline's)."""
    from model.scenario import RunSettings, Scenario

    return Scenario(
        name="calibration",
        description="",
        path="",
        register=reg,
        run=RunSettings(
            population=size,
            years=1,
            start_year=2024,
            replications=1,
            seed=seed,
            base_year=2023,
            year_starts="april",
        ),
    )


def _fit_by_simulation(reg: Register, fit: Fit, size: int, seed: int) -> Register:
    """Refine what only the engine reveals, with a few one-year runs of the baseline.

    Expected rates ignore deaths within the year, requests still waiting at year end, GP
    requests given up, and the overspill to A&E. Each step moves the GP patience, the demand
    scales (with their capacities), the long-term support conversion and the mental-health
    contacts per person in contact by the ratio of target to simulated value.
    """
    from model.engine import run_one
    from model.validation import baseline_measures

    target = _targets(reg)
    stock_share = (
        reg.scalar("community.long_term_support_at_start.prevalence")
        * 1000
        * (
            1
            - tables.population_by_age_sex(2023)[:, :18].sum()
            / tables.population_by_age_sex(2023).sum()
        )
    )
    m: dict[str, float] = {}
    for _ in range(5):
        scenario = _one_year_scenario(reg, size, seed)
        result = run_one(scenario, 0)
        m = baseline_measures(result)
        values: dict[str, Any] = {}
        values["demand.emergency_direct.scale"] = _balance_emergency(reg, m, result, target)
        values.update(_refine_gp(reg, m, target))
        for measure, key, capacity in _SIMULATED_SCALES:
            ratio = target(measure) / m[measure]
            values[key] = round(reg.scalar(key) * ratio, 5)
            if capacity is not None:
                values[capacity] = round(reg.scalar(capacity) * ratio, 4)
        values["capacity.acute.beds_per_1000"] = round(
            m["bed_days_per_1000"] / 365 / reg.scalar("capacity.acute.bed_occupancy_target"), 4
        )
        share = m["mental_health_contact_share"] / target("mental_health_contact_share")
        values["demand.mental_health.events_per_user"] = round(
            reg.scalar("demand.mental_health.events_per_user") * share, 4
        )
        # exits other than death balance starts and deaths, so the number supported is stable
        act = result["activity"]
        started = float(act[act["service"] == "social_care_support_started"]["count"].sum())
        ended = act[act["service"] == "social_care_support_ended"]
        deaths = float(ended[ended["mode"] == "death"]["count"].sum())
        supported = float(act[act["service"] == "social_care_long_term_support"]["count"].sum())
        stock = max(supported - started, 1.0)
        values["community.long_term_support_exit_per_year"] = round(
            float(np.clip((started - deaths) / stock, 0.0, 0.5)), 4
        )
        lts = m["social_care_long_term_support_per_1000"]
        goal = target("social_care_long_term_support_per_1000")
        values["community.request_to_long_term_support"] = round(
            min(
                reg.scalar("community.request_to_long_term_support")
                * (goal - stock_share)
                / max(lts - stock_share, 0.1),
                0.9,
            ),
            4,
        )
        reg = _with(reg, values)
    for measure in (
        "gp_appointments_per_person",
        "gp_unsuccessful_attempt_share",
        "gp_spill_to_ae_per_1000",
        "mental_health_contact_share",
        "emergency_admissions_per_1000",
        "admissions_per_1000",
        "bed_days_per_1000",
        "social_care_long_term_support_per_1000",
        *(s[0] for s in _SIMULATED_SCALES),
    ):
        fit.note(
            f"{measure} (simulated, 1 year, before the last step)", target(measure), m[measure]
        )
    return reg


def _refine_gp(
    reg: Register, m: Mapping[str, float], target: Callable[[str], float]
) -> dict[str, Any]:
    """GP clinician minutes to the appointments per person, GP demand to the failure share,
    the level of the A&E shares of failed attempts to the spill to A&E.

    Appointments follow capacity (practices fill most of their time) and the share of
    attempts that fail follows demand over capacity, so each is moved by its own ratio
    (demand also by the capacity ratio, to keep the pressure on practices the same).
    """
    to_capacity = target("gp_appointments_per_person") / m["gp_appointments_per_person"]
    to_failures = target("gp_unsuccessful_attempt_share") / max(
        m["gp_unsuccessful_attempt_share"], 1e-6
    )
    values: dict[str, Any] = {
        key: round(reg.scalar(key) * to_capacity, 2) for key in GP_CAPACITY_KEYS
    }
    to_spill = target("gp_spill_to_ae_per_1000") / max(m["gp_spill_to_ae_per_1000"], 1e-6)
    values["gp.spill_to_ae_by_segment"] = [
        round(float(v), 5) for v in np.clip(reg.array("gp.spill_to_ae_by_segment") * to_spill, 0, 1)
    ]
    values["demand.gp.scale"] = round(
        reg.scalar("demand.gp.scale") * to_capacity * to_failures**0.5, 5
    )
    return values


def _balance_emergency(
    reg: Register,
    m: Mapping[str, float],
    result: Mapping[str, Any],
    target: Callable[[str], float],
) -> float:
    """Direct emergency admission scale that best balances three linked targets.

    The SUS table's emergency admissions, total admissions and bed days cannot all sit at
    the §12 centres (the published totals use different definitions), so the direct route
    is moved to where the smallest margin to a tolerance limit, in units of that measure's
    sampling error, is largest.
    """
    act = result["activity"]
    py = float(result["person_years"]["person_years"].sum())

    def total(service: str, mode: str | None = None) -> float:
        sel = act[act["service"] == service]
        if mode is not None:
            sel = sel[sel["mode"] == mode]
        return float(sel["count"].sum())

    n_ea = total("emergency_admission")
    direct_share = 1.0 - total("ae_to_admission") / max(n_ea, 1.0)
    emergency_bed = total("bed_day", "emergency") * 1000 / py
    overnight = max(total("overnight_stay", "emergency"), 1.0)
    mean_los = total("bed_day", "emergency") / overnight
    ea = m["emergency_admissions_per_1000"]
    n_adm = ea * py / 1000 + total("elective_admission") + total("maternity_delivery")
    # (change per unit of the direct scale factor, sampling error) of each measure
    lines = {
        "emergency_admissions_per_1000": (direct_share * ea, 1000 * np.sqrt(n_ea) / py),
        "admissions_per_1000": (direct_share * ea, 1000 * np.sqrt(n_adm) / py),
        # geometric stays: a bed-day total has variance about 2 x overnight x mean^2
        "bed_days_per_1000": (
            direct_share * emergency_bed,
            1000 * np.sqrt(2.0 * overnight) * mean_los / py,
        ),
    }
    grid = np.linspace(0.5, 1.5, 2001)
    worst = np.full(grid.shape, np.inf)
    for name, (slope, se) in lines.items():
        goal = target(name)
        p = reg[f"targets.baseline.{name}"]
        assert p.tolerance is not None
        tol = p.tolerance * (goal if p.relative_tolerance else 1.0)
        value = m[name] + slope * (grid - 1.0)
        worst = np.minimum(worst, (tol - np.abs(value - goal)) / se)
    factor = float(grid[int(np.argmax(worst))])
    return round(reg.scalar("demand.emergency_direct.scale") * factor, 5)


def _first_year_demand(reg: Register, size: int, seed: int) -> dict[str, float]:
    """Expected demand of the first simulated year per planned person, by stream.

    Capacities are per planned person (``World.per_day``), while demand comes from the
    people there, each for the part of the year they are there: the base population less
    the deaths, and the year's entrants (mostly young, with low rates) from their arrival.
    """
    from model.engine import Engine

    engine = Engine(_one_year_scenario(reg, size, seed), 0)
    engine.prepare_first_year()
    w = engine.world
    exposure = w.exposure_days / 365.0
    planned = w.per_day(1000.0)  # the planned population
    return {s: float((w.base_rates(s) * exposure).sum()) / planned for s in DEMAND_STREAMS}


def _fit_capacity(
    ctx: _Context, reg: Register, fit: Fit, target: Callable[[str], float]
) -> Register:
    margin = reg.scalar("capacity.margin")
    rtt_margin = reg.scalar("capacity.rtt_margin")
    year0 = _first_year_demand(reg, ctx.pop.size, ctx.seed)
    values = {}
    for service, key, days in (
        (
            "elective_ordinary",
            "capacity.acute.elective_ordinary_per_1000_per_working_day",
            WORKING_DAYS,
        ),
        ("elective_daycase", "capacity.acute.daycase_per_1000_per_working_day", WORKING_DAYS),
        ("community_nursing", "capacity.community.nursing_contacts_per_1000_per_day", 365),
        (
            "mental_health",
            "capacity.community.mental_health_contacts_per_1000_per_working_day",
            WORKING_DAYS,
        ),
        (
            "social_care_request",
            "capacity.community.social_care_assessments_per_1000_per_working_day",
            WORKING_DAYS,
        ),
        ("outpatient", "capacity.acute.outpatient_per_1000_per_working_day", WORKING_DAYS),
    ):
        demand = year0[service] * 1000 / days
        # referral-to-treatment lists start with the published backlog and are sized to
        # keep it level (capacity.rtt_margin); outpatient clinics serve first attendances
        # (RTT) and follow-ups (capacity.margin)
        m = rtt_margin if service in ("elective_ordinary", "elective_daycase") else margin
        if service == "outpatient":
            m = outpatient_margin(reg)
        values[key] = round(demand * m, 4)
        fit.note(f"{key} (demand x margin)", demand * m, values[key])
    # beds: expected overnight bed days of emergency and elective ordinary stays
    bed_days = _expected_bed_days(ctx, reg)
    beds = bed_days * 1000 / 365 / reg.scalar("capacity.acute.bed_occupancy_target")
    values["capacity.acute.beds_per_1000"] = round(beds, 4)
    fit.note("bed days per 1,000 (expected)", target("bed_days_per_1000"), bed_days * 1000)
    return _with(reg, values)


def _expected_bed_days(ctx: _Context, reg: Register) -> float:
    """Expected bed days per person-year of the calibrated demand (mean LOS by age, sex)."""
    pop = ctx.pop
    ages = np.minimum(pop.age, 100)
    total = 0.0
    for kind, rate in (
        (
            "emergency",
            ctx.rates(reg, "emergency_direct", True)
            + _via_ae(ctx, reg, ctx.rates(reg, "ae", True)),
        ),
        ("elective", ctx.rates(reg, "elective_ordinary", True)),
    ):
        mean = mean_los_table(reg, kind)
        total += float((rate * mean[pop.sex, ages]).mean())
    return total


def _as_toml_value(p: Any) -> Any:
    return list(p.value) if p.is_vector else p.value[0]


_CALIBRATED_KEYS = (
    *_BROAD_KEYS,
    "demand.gp.imd_rr_q1_q5",
    "demand.gp.rr_per_ltc",
    "demand.gp.pam_rr",
    "demand.gp.overdispersion_shape",
    "demand.gp.scale",
    "demand.ae.pam_rr",
    "demand.ae.scale",
    "demand.emergency_direct.pam_rr",
    "demand.emergency_direct.scale",
    "demand.outpatient.pam_rr",
    "demand.outpatient.scale",
    "demand.community_nursing.scale",
    "demand.mental_health.scale",
    "demand.mental_health.events_per_user",
    "demand.social_care_request.scale",
    "acute.child_type1_conversion",
    *GP_CAPACITY_KEYS,
    "gp.spill_to_ae_by_segment",
    "community.request_to_long_term_support",
    "community.long_term_support_exit_per_year",
    "acute.los.emergency.zero_night_share",
    "capacity.acute.beds_per_1000",
    "capacity.acute.elective_ordinary_per_1000_per_working_day",
    "capacity.acute.daycase_per_1000_per_working_day",
    "capacity.acute.outpatient_per_1000_per_working_day",
    "capacity.community.nursing_contacts_per_1000_per_day",
    "capacity.community.mental_health_contacts_per_1000_per_working_day",
    "capacity.community.social_care_assessments_per_1000_per_working_day",
)


# ----------------------------------------------------------------------------- writing


def _format(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return f"{value:g}"


def replace_value(text: str, table: str, value: Any, where: str) -> str:
    """Replace the ``value = ...`` line of ``[table]`` in TOML ``text``."""
    pattern = re.compile(
        r"(^\[" + re.escape(table) + r"\]\s*\n(?:(?!^\[).*\n)*?)^value = .*$", re.MULTILINE
    )
    new, n = pattern.subn(lambda m: m.group(1) + f"value = {_format(value)}", text, count=1)
    if n != 1:
        raise CarescaleError(f"{where}: no [{table}] entry with a value line to update.")
    return new


def _rescale_interval(text: str, table: str, old: Any, new: Any, where: str) -> str:
    """Move the ``low``/``high`` of ``[table]``'s uncertainty with its value (same ratios)."""
    pattern = re.compile(
        r"(^\[" + re.escape(table) + r"\]\s*\n(?:(?!^\[).*\n)*?^uncertainty = \{[^}]*?)"
        r"low = (\[[^\]]*\]|[-\d.e]+), high = (\[[^\]]*\]|[-\d.e]+)",
        re.MULTILINE,
    )
    match = pattern.search(text)
    if match is None:
        return text  # fixed or dirichlet: nothing to move

    def parse(s: str) -> np.ndarray:
        return np.array([float(x) for x in s.strip("[]").split(",")])

    old_v = np.atleast_1d(np.asarray(old, dtype=float))
    new_v = np.atleast_1d(np.asarray(new, dtype=float))
    low, high = parse(match.group(2)), parse(match.group(3))
    ratio_lo = np.where(old_v != 0, low / np.where(old_v == 0, 1, old_v), 0.9)
    ratio_hi = np.where(old_v != 0, high / np.where(old_v == 0, 1, old_v), 1.1)
    new_lo = np.round(new_v * ratio_lo, 5)
    new_hi = np.round(new_v * ratio_hi, 5)
    vec = match.group(2).startswith("[")

    def fmt(a: np.ndarray) -> str:
        return "[" + ", ".join(f"{x:g}" for x in a) + "]" if vec else f"{a[0]:g}"

    return (
        text[: match.start()]
        + match.group(1)
        + f"low = {fmt(new_lo)}, high = {fmt(new_hi)}"
        + text[match.end() :]
    )


def _keep_prefix(replacement: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` callback that keeps group 1 and replaces the rest."""
    return lambda m: m.group(1) + replacement


def check_fit_targets(scenario_path: Path) -> None:
    """Check, before calibrating, that ``--write`` can update the scenario and the register.

    The scenario must be a valid scenario file that sets the capacities the fit updates, and
    every file to be written must be writable.
    """
    from model.scenario import load_scenario

    load_scenario(scenario_path)
    for path in [scenario_path, *default_parameter_files()]:
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise CarescaleError(
                f"calibrate --write cannot update {show(str(path))}: the file or its folder "
                "is not writable."
            )


def write_fit(fit: Fit, register: Register, scenario_path: Path | None = None) -> list[Path]:
    """Write fitted values into the package's register files (and the baseline scenario).

    Each entry's uncertainty interval moves with its value (same ratios), so a fitted value
    stays inside its interval.
    """
    files = {p.stem: p for p in default_parameter_files()}
    touched: dict[Path, str] = {}
    for key, value in fit.values.items():
        group, table = key.split(".", 1)
        path = files[group]
        text = touched.get(path, path.read_text(encoding="utf-8"))
        text = replace_value(text, table, value, path.name)
        old = _as_toml_value(register[key])
        touched[path] = _rescale_interval(text, table, old, value, path.name)
    if scenario_path is not None:
        text = scenario_path.read_text(encoding="utf-8")
        for key, value in fit.values.items():
            if key.startswith("capacity."):
                name = key[len("capacity.") :].rsplit(".", 1)[1]
                pattern = re.compile(r"^(" + re.escape(name) + r"\s*=\s*)[^#\n]*", re.MULTILINE)
                text = pattern.sub(_keep_prefix(_format(value) + " "), text, count=1)
        touched[scenario_path] = text
    for path, text in touched.items():
        write_text_file(path, text.replace("  \n", "\n").replace(" \n", "\n"))
    return list(touched)


__all__ = [
    "Fit",
    "adjusted_ratio",
    "calibrate_baseline",
    "check_fit_targets",
    "replace_value",
    "write_fit",
]
