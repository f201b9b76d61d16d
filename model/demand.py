"""Demand: per-person annual rates by service, and paired event draws.

For service ``s`` and person ``i``::

    rate[s, i] = scale[s] * profile[s](age, sex) * M[s, i] / Mbar[s](age band, sex)
                 * propensity[s, i] * lever multipliers
    M[s, i]    = imd_rr(imd) * rr_per_ltc ** min(broad_ltc_count, 5) * A[s](entry level, level)
                 * segment_rr[segment] * rr_per_social_need ** social_needs
                 * condition multipliers
    A[s](e, l) = pam_rr[e] * (pam_rr[l] / pam_rr[e]) ** pam_causal_share[s]

``profile`` is the published (or assumed) rate by age and sex, ``Mbar`` the mean of ``M``
among people of the same age band and sex in the *base* population, so that the base
population reproduces the profile while the multipliers redistribute demand within each
age-sex group; as the population ages and gains conditions, ``M`` (and demand) rises.
``propensity`` is a fixed per-person gamma multiplier (mean 1) giving overdispersion.

Activation (``A``): ``pam_rr`` is a cross-sectional association (Barker 2018), not an
effect. It sets who uses what through the PAM level a person had on entering the population
(``e``); a later change of level (``l``: activation drift, or a lever) moves demand by
``pam_causal_share`` of the association only. When ``l == e``, ``A`` is ``pam_rr[e]``
exactly, so the base population's rates and the normalisers do not depend on the share.

Counts are drawn by Poisson inversion of a counter-based uniform per person, service and
year, and each event's day and later decisions use uniforms keyed by (person, event
number), so lower rates give a subset of the same events (see ``model.crn``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

from model import _kernels, crn, tables, threads
from model.errors import CarescaleError
from model.liability import DEP_SCORE
from model.population import CONDITIONS, PAM_LEVELS, PROPENSITIES, Population
from model.register import Register
from model.strata import AGE_BAND_WIDTH, N_AGE_BANDS, age_band_index

#: demand streams generated per person per year
SERVICES: tuple[str, ...] = (
    "gp",
    "ae",
    "emergency_direct",
    "elective_ordinary",
    "elective_daycase",
    "outpatient",
    "community_nursing",
    "mental_health",
    "social_care_request",
)
#: which fixed per-person propensity column each demand stream uses
PROPENSITY_OF: Mapping[str, str] = {
    "gp": "gp",
    "ae": "ae",
    "emergency_direct": "emergency_admission",
    "elective_ordinary": "elective",
    "elective_daycase": "elective",
    "outpatient": "outpatient",
    "community_nursing": "community",
    "mental_health": "mental_health",
    "social_care_request": "social_care",
}
#: SUS activity groups (Strategy Unit table) behind the adult age-sex profiles
SUS_GROUPS: Mapping[str, tuple[str, ...]] = {
    "ae": ("walkin", "amb"),
    "emergency_direct": ("emer_n",),
    "elective_ordinary": ("ordelec_n",),
    "elective_daycase": ("daycase_n",),
    "outpatient": (
        "surg_first",
        "surg_fup",
        "surg_proc",
        "non-surg_first",
        "non-surg_fup",
        "non-surg_proc",
    ),
}
ADULT_AGE = 18
MAX_LTC_COMPOUNDING = 5


def _knots(register: Register, key: str) -> tuple[np.ndarray, np.ndarray]:
    p = register[key]
    ages = np.array([float(a) for a in p.index])
    return ages, p.array


def _interp_ages(register: Register, key: str) -> np.ndarray:
    ages, values = _knots(register, key)
    return np.interp(np.arange(tables.N_AGES), ages, values)


def age_sex_profile(register: Register, service: str) -> np.ndarray:
    """Annual events per person by (sex, age) before multipliers, shape (2, 101)."""
    prefix = f"demand.{service}"
    if service in SUS_GROUPS:
        adult = sum(tables.hospital_rates(g) for g in SUS_GROUPS[service])
        adult = np.asarray(adult, dtype=float)
        if service == "ae":
            # SUS emergency-care rows are type 1 (major A&E); all types = type 1 / type-1 share
            adult = adult / register.scalar("acute.ae_type1_share")
        if service == "emergency_direct":
            adult = adult * register.scalar("acute.emergency_direct_share")
        child_ratio = _interp_ages(register, f"{prefix}.child_ratio_to_age_18")
        out = adult.copy()
        out[:, :ADULT_AGE] = adult[:, [ADULT_AGE]] * child_ratio[None, :ADULT_AGE]
        return out
    base = _interp_ages(register, f"{prefix}.age_profile")
    female = _interp_ages(register, f"{prefix}.female_ratio")
    out = np.vstack([base, base * female])
    min_key = f"{prefix}.min_age"
    if min_key in register:
        out[:, : int(register.scalar(min_key))] = 0.0
    return out


#: ``risk_conditions`` of the last registers asked about (a register is immutable), by id
_RISK_CONDITIONS: dict[int, tuple[Register, tuple[str, ...]]] = {}


#: conditions that carry their own relative risk for some service (demand.*.condition_rr.*)
def risk_conditions(register: Register) -> tuple[str, ...]:
    """Conditions named in any ``demand.<service>.condition_rr.<condition>`` entry
    (remembered for the last few registers: levers ask for risk codes every day)."""
    hit = _RISK_CONDITIONS.get(id(register))
    if hit is not None and hit[0] is register:
        return hit[1]
    found = tuple(
        c for c in CONDITIONS if any(f"demand.{s}.condition_rr.{c}" in register for s in SERVICES)
    )
    if len(_RISK_CONDITIONS) >= 8:
        _RISK_CONDITIONS.clear()
    _RISK_CONDITIONS[id(register)] = (register, found)
    return found


def causal_rr(rr: np.ndarray, causal_share: float) -> np.ndarray:
    """Relative risk by (level at entry, current level) from a cross-sectional ``rr`` by level.

    ``out[e, l] = rr[e] * (rr[l] / rr[e]) ** causal_share``: the association sets the level
    of people who have not changed (``out[e, e] == rr[e]`` exactly), and a change from ``e``
    to ``l`` multiplies the rate by the causal share of the association between them (0:
    no change, 1: the full association). Shape ``(len(rr), len(rr))``.
    """
    rr = np.asarray(rr, dtype=np.float64)
    return np.asarray(rr[:, None] * (rr[None, :] / rr[:, None]) ** float(causal_share))


def activation_rr(register: Register, service: str) -> np.ndarray:
    """``A[s]``: relative risk by (PAM level at entry, current PAM level), shape (4, 4).

    ``demand.<s>.pam_rr`` (cross-sectional) with ``demand.<s>.pam_causal_share`` for a
    change of level (``causal_rr``).
    """
    p = f"demand.{service}"
    return causal_rr(register.array(f"{p}.pam_rr"), register.scalar(f"{p}.pam_causal_share"))


_N_NEEDS = 4  # 0, 1, 2, 3 social needs
_N_LEVELS = len(PAM_LEVELS)
#: imd, ltc, (PAM level at entry, current PAM level), segment, needs
_RISK_SHAPE = (5, MAX_LTC_COMPOUNDING + 1, _N_LEVELS * _N_LEVELS, 4, _N_NEEDS)


def risk_code(register: Register, pop: Population) -> np.ndarray:
    """One integer per person combining everything the relative risks depend on.

    (IMD quintile, LTC count capped at 5, the pair of PAM levels at entry and now, segment,
    number of social needs, and a bit per condition with its own relative risk). Relative
    risks are then a single lookup.
    """
    level_pair = (pop.pam_level_at_entry.astype(np.int32) - 1) * _N_LEVELS + pop.pam_level - 1
    code = (pop.imd.astype(np.int32) - 1) * _RISK_SHAPE[1]
    code = (code + np.minimum(pop.broad_ltc_count, MAX_LTC_COMPOUNDING)) * _RISK_SHAPE[2]
    code = (code + level_pair) * _RISK_SHAPE[3]
    code = (code + pop.segment) * _RISK_SHAPE[4]
    code = code + pop.social_need_count
    for cond in risk_conditions(register):
        code = code * 2 + pop.ltc[:, CONDITIONS.index(cond)]
    return code.astype(np.int32)


def level_stride(register: Register) -> int:
    """How much ``risk_code`` moves when the current PAM level rises by one (the code is
    linear in it): a change of level moves a code by the change times this."""
    return _RISK_SHAPE[3] * _RISK_SHAPE[4] * 2 ** len(risk_conditions(register))


def multiplier_table(register: Register, service: str) -> np.ndarray:
    """``M`` for every risk code of one service (see ``risk_code``)."""
    p = f"demand.{service}"
    r = register
    imd, ltc, levels, seg, needs = np.meshgrid(*[np.arange(n) for n in _RISK_SHAPE], indexing="ij")
    m = np.exp(0.5 * np.log(r.scalar(f"{p}.imd_rr_q1_q5")) * DEP_SCORE[imd])
    # the per-condition ratio stops compounding at 5 conditions (the top LTC band, "5+")
    m = m * np.power(r.scalar(f"{p}.rr_per_ltc"), ltc.astype(np.float64))
    # (entry level, current level) pairs in the order of ``risk_code``
    m = m * activation_rr(register, service).reshape(-1)[levels]
    m = m * r.array(f"{p}.segment_rr")[seg]
    m = m * np.power(r.scalar(f"{p}.rr_per_social_need"), needs.astype(np.float64))
    table = m.reshape(-1)
    for cond in risk_conditions(register):
        key = f"{p}.condition_rr.{cond}"
        rr = r.scalar(key) if key in r else 1.0
        table = np.stack([table, table * rr], axis=-1).reshape(-1)
    return table


def multipliers(register: Register, service: str, pop: Population) -> np.ndarray:
    """``M[s, i]``: the person-level relative risk for one service (mean not fixed)."""
    return multiplier_table(register, service)[risk_code(register, pop)]


def _cell(pop: Population) -> np.ndarray:
    return age_band_index(pop.age) * 2 + pop.sex


def normaliser(
    register: Register,
    service: str,
    pop: Population,
    code: np.ndarray | None = None,
    table: np.ndarray | None = None,
) -> np.ndarray:
    """``Mbar``: mean multiplier by (age band, sex) in the base population, shape (36,).

    ``code`` and ``table`` may pass ``risk_code(register, pop)`` and ``multiplier_table(
    register, service)`` already computed (the same numbers)."""
    if table is None:
        table = multiplier_table(register, service)
    m = table[risk_code(register, pop) if code is None else code]
    cell = _cell(pop)
    n = 2 * N_AGE_BANDS
    total = np.bincount(cell, weights=m, minlength=n)
    count = np.bincount(cell, minlength=n)
    return np.where(count > 0, total / np.maximum(count, 1), 1.0)


@cache
def _gamma_quantile_table(shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Gamma(shape, 1/shape) quantiles on a fine grid of normal scores z."""
    z = np.linspace(-6.0, 6.0, 4001)
    return z, special.gammaincinv(shape, special.ndtr(z)) / shape


def gamma_propensity(u: np.ndarray, shape: float) -> np.ndarray:
    """Gamma(shape, 1/shape) multiplier (mean 1) from a fixed uniform; ``inf`` shape -> 1.

    The exact inverse (``gammaincinv``) is tabulated once per shape on a grid of normal
    scores and interpolated: the same monotone function of ``u``, about 50 times faster.
    """
    if not np.isfinite(shape):
        return np.ones(u.shape)
    z_grid, q_grid = _gamma_quantile_table(float(shape))
    # np.interp, compiled (the same numbers)
    z = threads.elementwise(special.ndtri, np.asarray(u, dtype=np.float64).reshape(-1))
    return _kernels.interp(z.reshape(np.shape(u)), z_grid, q_grid)


@dataclass(frozen=True)
class DemandModel:
    """Everything needed to turn a population into annual rates, fixed for a run."""

    register: Register
    profiles: Mapping[str, np.ndarray]
    normalisers: Mapping[str, np.ndarray]
    scales: Mapping[str, float]
    shapes: Mapping[str, float]
    per_user: Mapping[str, float | None]
    tables: Mapping[str, np.ndarray]

    @classmethod
    def build(cls, register: Register, base: Population) -> DemandModel:
        """Profiles from the register, normalisers from the base population."""
        profiles, norms, scales, shapes, per_user, tables = {}, {}, {}, {}, {}, {}
        code = risk_code(register, base)  # the base population's, once for every service
        for s in SERVICES:
            profiles[s] = age_sex_profile(register, s)
            if not np.all(np.isfinite(profiles[s])) or np.any(profiles[s] < 0):
                raise CarescaleError(f"demand profile for '{s}' has missing or negative rates.")
            tables[s] = multiplier_table(register, s)
            norms[s] = normaliser(register, s, base, code, tables[s])
            scales[s] = register.scalar(f"demand.{s}.scale")
            shapes[s] = register.scalar(f"demand.{s}.overdispersion_shape")
            key = f"demand.{s}.events_per_user"
            per_user[s] = register.scalar(key) if key in register else None
        return cls(register, profiles, norms, scales, shapes, per_user, tables)

    def propensity(self, service: str, pop: Population) -> np.ndarray:
        """Fixed per-person gamma multiplier (mean 1) for a service (float32)."""
        u = pop.propensity[:, PROPENSITIES.index(PROPENSITY_OF[service])]
        return gamma_propensity(u, self.shapes[service]).astype(np.float32)

    def rates(
        self,
        service: str,
        pop: Population,
        propensity: np.ndarray | None = None,
        code: np.ndarray | None = None,
    ) -> np.ndarray:
        """Expected events per person-year (before lever multipliers and exposure).

        ``propensity`` and ``code`` may pass the person multipliers and risk codes already
        computed for ``pop`` (the gamma inverse and the code are shared by every service).
        """
        if code is None:
            code = risk_code(self.register, pop)
        prop = self.propensity(service, pop) if propensity is None else propensity
        # scale * profile[sex, age] * M[code] / Mbar[age band, sex] * propensity, in one
        # compiled pass with numpy's operations in numpy's order (``rates_numpy``)
        return _kernels.rates(
            self.profiles[service],
            self.tables[service],
            self.normalisers[service],
            self.scales[service],
            pop.age,
            pop.sex,
            code,
            prop,
            tables.MAX_AGE,
            AGE_BAND_WIDTH,
            N_AGE_BANDS,
        )

    def rates_numpy(
        self,
        service: str,
        pop: Population,
        propensity: np.ndarray | None = None,
        code: np.ndarray | None = None,
    ) -> np.ndarray:
        """``rates`` in numpy (the reference its compiled pass is tested against)."""
        prof = self.profiles[service][pop.sex, np.minimum(pop.age, tables.MAX_AGE)]
        if code is None:
            code = risk_code(self.register, pop)
        m = self.tables[service][code]
        norm = self.normalisers[service][_cell(pop)]
        prop = self.propensity(service, pop) if propensity is None else propensity
        return np.asarray(self.scales[service] * prof * m / norm * prop)


@dataclass
class Events:
    """A year's demand events for one service, sorted by day (struct of arrays)."""

    person: np.ndarray  # index into the year's population arrays
    k: np.ndarray  # event number within the person (for keyed uniforms)
    day: np.ndarray  # day of the year 0..364
    ids: np.ndarray  # the year's person ids (the population's array, not a copy)
    #: events drawn per person before the cut at death or arrival, and the position of each
    #: of them (person by person, event number by event number) in the arrays above (-1:
    #: dropped), for a service that walks the events person by person at its year start
    #: (reading people in order); the engine drops them after the services' year start
    counts: np.ndarray | None = None
    slot: np.ndarray | None = None

    @property
    def person_id(self) -> np.ndarray:
        """Person id of each event (gathered on demand)."""
        return self.ids[self.person]

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.day.shape[0])


def paired_counts(
    rate: np.ndarray,
    person_id: np.ndarray,
    key_count: np.uint64,
    per_user: float | None = None,
) -> np.ndarray:
    """Events per person for a year, monotone in ``rate`` for each person.

    Poisson by default. With ``per_user`` (a hurdle model, for services that concentrate on
    a caseload), a person is a user with probability ``rate / per_user`` (capped at 1) and a
    user has ``1 + Poisson(max(rate, per_user) - 1)`` events, so the mean is still ``rate``.
    """
    u = _kernels.keyed_uniforms(key_count, person_id)  # crn.uniforms(key_count, person_id)
    if per_user is None:
        return crn.poisson_inverse(rate, u)
    p_user = np.minimum(rate / per_user, 1.0)
    user = u < p_user
    # above per_user everyone is a user and the extra events carry the rest of the rate
    extra_rate = np.maximum(rate[user], per_user) - 1.0
    extra = crn.poisson_inverse(extra_rate, crn.uniforms(key_count, person_id[user], 1))
    counts = np.zeros(rate.shape, dtype=np.int32)
    counts[user] = 1 + extra
    return counts


def draw_events(
    rate: np.ndarray,
    exposure_days: np.ndarray,
    person_id: np.ndarray,
    key_count: np.uint64,
    key_day: np.uint64,
    days_per_year: int = 365,
    per_user: float | None = None,
    start_days: np.ndarray | None = None,
) -> Events:
    """Paired events for a year, sorted by day.

    ``exposure_days`` (0..365) is the day each person's year ends (their death day, or the
    whole year) and ``start_days`` the day it starts (an entrant's arrival; 0 if None); an
    event's day comes from a hash keyed by (person, event number) (``crn.event_days``), and
    events outside the person's days are dropped, so exposure thins the same events that a
    full year would have.
    """
    n_full = paired_counts(rate, person_id, key_count, per_user)
    # crn.expand, crn.event_days, the cut at death and a stable sort by day in one compiled
    # pass (``draw_events_numpy`` is the same in numpy)
    cut = np.minimum(exposure_days, days_per_year)
    person, k, day, slot = _kernels.expand_days(
        n_full, person_id, key_day, days_per_year, cut, start_days
    )
    return Events(person=person, k=k, day=day, ids=person_id, counts=n_full, slot=slot)


def draw_events_numpy(
    rate: np.ndarray,
    exposure_days: np.ndarray,
    person_id: np.ndarray,
    key_count: np.uint64,
    key_day: np.uint64,
    days_per_year: int = 365,
    per_user: float | None = None,
    start_days: np.ndarray | None = None,
) -> Events:
    """``draw_events`` in numpy (the reference its compiled pass is tested against)."""
    n_full = paired_counts(rate, person_id, key_count, per_user)
    person, k = crn.expand(n_full)
    day = crn.event_days(key_day, person_id, person, k, days_per_year)
    short = exposure_days < days_per_year  # people who die this year (about 1 %)
    late = start_days is not None and bool(start_days.any())  # this year's entrants
    if short.any() or late:
        cut = np.where(short, exposure_days, days_per_year).astype(np.int16)
        keep = day < cut[person]
        if late:
            assert start_days is not None
            keep &= day >= start_days.astype(np.int16)[person]
        person, k, day = person[keep], k[keep], day[keep]
    order = np.argsort(day, kind="stable")  # radix sort for 16-bit keys
    return Events(person=person[order], k=k[order], day=day[order], ids=person_id)
