"""Probit-liability attributes calibrated to published prevalence and deprivation gradients.

A binary attribute (a long-term condition, a social need, an eligibility flag) is present
when a latent liability exceeds zero::

    liability = intercept + age_curve(age) + female_shift * female + dep_slope * dep(imd)
                + loading * frailty + sqrt(1 - loading^2) * noise

with ``frailty`` and ``noise`` independent standard normals, so that in any
(age, sex, IMD) cell ``P(present) = Phi(intercept + age_curve + ...)`` whatever the loading.
That lets the intercept and deprivation slope be solved exactly against the crude prevalence
and crude Q1/Q5 ratio for the expected population structure, while the loadings alone
govern clustering (multimorbidity). ``dep(imd)`` is +1 for quintile 1 (most deprived),
-1 for quintile 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import optimize, special

from model import tables
from model.errors import CarescaleError
from model.register import Register

N_AGES = tables.N_AGES
AGES = np.arange(N_AGES)
DEP_SCORE = np.array([1.0, 0.5, 0.0, -0.5, -1.0])  # IMD quintile 1..5
_REF_AGE = 50.0


def norm_cdf(x: np.ndarray | float) -> np.ndarray:
    """Standard normal CDF (scipy.special.ndtr, fast and vectorised)."""
    return np.asarray(special.ndtr(x))


@dataclass(frozen=True)
class AttributeSpec:
    """Published targets and assumed shape of one probit-liability attribute."""

    name: str
    prevalence: float  # crude, among people aged >= min_age
    q1_q5_ratio: float  # crude prevalence ratio, IMD quintile 1 / quintile 5
    min_age: int
    age_slope: float  # probit units per decade up to peak_age
    peak_age: float
    slope_after_peak: float  # probit units per decade after peak_age
    female_shift: float
    loading: float  # on the shared frailty factor
    male_only: bool = False  # absent in women (e.g. prostate disorders)

    def age_curve(self) -> np.ndarray:
        """Age contribution to the liability, ages 0..100 (``-inf`` below ``min_age``)."""
        before = (np.minimum(AGES, self.peak_age) - _REF_AGE) / 10.0 * self.age_slope
        after = (np.maximum(AGES, self.peak_age) - self.peak_age) / 10.0 * self.slope_after_peak
        curve = before + after
        return np.where(AGES >= self.min_age, curve, -np.inf)

    @classmethod
    def from_register(cls, register: Register, prefix: str, name: str) -> AttributeSpec:
        """Read ``prefix.name.*`` entries (prevalence, q1_q5_ratio, shape...) from the register."""

        def get(field: str, default: float | None = None) -> float:
            key = f"{prefix}.{name}.{field}"
            if default is not None and key not in register:
                return default
            return register.scalar(key)

        return cls(
            name=name,
            prevalence=get("prevalence"),
            q1_q5_ratio=get("q1_q5_ratio", 1.0),
            min_age=int(get("min_age", 0.0)),
            age_slope=get("age_slope_per_decade", 0.0),
            peak_age=get("peak_age", 100.0),
            slope_after_peak=get("slope_after_peak_per_decade", 0.0),
            female_shift=get("female_shift", 0.0),
            loading=get("frailty_loading", 0.0),
        )


@cache
def cell_weights(base_year: int) -> np.ndarray:
    """Expected population share by (sex, age, IMD quintile), shape (2, 101, 5), sums to 1."""
    pop = tables.population_by_age_sex(base_year)  # (2, 101)
    w = pop[:, :, None] * tables.imd_share_by_age()[None, :, :]
    w = w / w.sum()
    w.flags.writeable = False
    return w


def linear_predictor(spec: AttributeSpec, intercept: float, dep_slope: float) -> np.ndarray:
    """Liability mean by (sex, age, IMD), shape (2, 101, 5); ``-inf`` where ineligible."""
    female = -np.inf if spec.male_only else spec.female_shift
    sex_term = np.array([0.0, female])[:, None, None]
    age_term = spec.age_curve()[None, :, None]
    dep_term = (dep_slope * DEP_SCORE)[None, None, :]
    return intercept + age_term + sex_term + dep_term


def _moments(
    spec: AttributeSpec, intercept: float, dep_slope: float, weights: np.ndarray
) -> tuple[float, float]:
    """(crude prevalence, crude Q1/Q5 ratio) among people aged >= min_age."""
    p = norm_cdf(linear_predictor(spec, intercept, dep_slope))
    eligible = (AGES >= spec.min_age)[None, :, None]
    w = weights * eligible
    prevalence = float((w * p).sum() / w.sum())
    by_q = (w * p).sum(axis=(0, 1)) / w.sum(axis=(0, 1))
    return prevalence, float(by_q[0] / by_q[4])


@dataclass(frozen=True)
class Calibrated:
    """A spec with its solved intercept and deprivation slope."""

    spec: AttributeSpec
    intercept: float
    dep_slope: float

    def linear_predictor(self) -> np.ndarray:
        """Liability mean by (sex, age, IMD), shape (2, 101, 5)."""
        return linear_predictor(self.spec, self.intercept, self.dep_slope)

    def probability(self) -> np.ndarray:
        """P(present) by (sex, age, IMD), shape (2, 101, 5)."""
        return norm_cdf(self.linear_predictor())


def calibrate(spec: AttributeSpec, base_year: int) -> Calibrated:
    """Solve intercept and deprivation slope so the crude prevalence and Q1/Q5 ratio match."""
    weights = cell_weights(base_year)
    target = np.array([spec.prevalence, np.log(spec.q1_q5_ratio)])

    def residual(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            prev, ratio = _moments(spec, float(x[0]), float(x[1]), weights)
            return np.array([special.ndtri(prev), np.log(ratio)]) - np.array(
                [special.ndtri(target[0]), target[1]]
            )

    start = np.array([float(special.ndtri(spec.prevalence)), 0.1 * np.log(spec.q1_q5_ratio)])
    sol = optimize.root(residual, start, method="hybr", options={"xtol": 1e-10})
    if not sol.success or np.max(np.abs(residual(sol.x))) > 1e-6:
        # hybr's finite differences degenerate when the start slope is tiny but not zero
        # (a ratio within 1e-8 of 1): retry from a slope of a sensible scale
        start[1] += 0.05
        sol = optimize.root(residual, start, method="hybr", options={"xtol": 1e-10})
    if not sol.success or np.max(np.abs(residual(sol.x))) > 1e-6:
        raise CarescaleError(
            f"could not calibrate '{spec.name}' to prevalence {spec.prevalence:g} and Q1/Q5 "
            f"ratio {spec.q1_q5_ratio:g} with the given age shape; check its parameters."
        )
    return Calibrated(spec, float(sol.x[0]), float(sol.x[1]))


def draw(
    calibrated: Calibrated,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Draw the attribute for people in flat cells ``cell`` (index into (2, 101, 5))."""
    mean = calibrated.linear_predictor().reshape(-1)[cell]
    lam = calibrated.spec.loading
    liability = mean + lam * frailty + np.sqrt(1.0 - lam * lam) * noise
    return np.asarray(liability > 0.0)


def expected_count_distribution(
    calibrated: list[Calibrated], max_count: int = 6, n_nodes: int = 48
) -> np.ndarray:
    """P(count of present attributes = k) by cell, shape (2, 101, 5, max_count + 1).

    Integrates the shared frailty factor with Gauss-Hermite quadrature; the last column is
    ``P(count >= max_count)``. Used to check multimorbidity targets analytically.
    """
    nodes, wts = np.polynomial.hermite_e.hermegauss(n_nodes)
    wts = wts / wts.sum()
    shape = (2, N_AGES, 5)
    dist = np.zeros((*shape, n_nodes, max_count + 1))
    dist[..., 0] = 1.0
    for c in calibrated:
        lam = c.spec.loading
        mean = c.linear_predictor()[..., None]  # (2,101,5,1)
        p = norm_cdf((mean + lam * nodes) / np.sqrt(1.0 - lam * lam))  # (2,101,5,n)
        p = p[..., None]
        shifted = np.concatenate([np.zeros_like(dist[..., :1]), dist[..., :-1]], axis=-1)
        shifted[..., -1] += dist[..., -1]  # keep the ">= max" mass in the last column
        dist = dist * (1.0 - p) + shifted * p
    return np.asarray((dist * wts[None, None, None, :, None]).sum(axis=3))
