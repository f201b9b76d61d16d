"""Synthetic population: one row per person, held as columns of numpy arrays.

``build_population(size, seed)`` draws age and sex from the ONS mid-year estimates, an IMD
quintile given age (deprived areas are younger), a shared frailty factor, the QOF long-term
conditions (probit liabilities calibrated to crude prevalence and deprivation gradient,
clustered through frailty), the other conditions of the broad list (Cassell 2018's 36, held
as a bitmask; ``broad_ltc_count``), social needs, patient activation (PAM score and level, and the
level at entry, which later activation drift and levers leave alone), a behavioural
segment, PHB eligibility flags and fixed per-person propensities.

Every draw comes from a named stream (``model.streams``), one stream per attribute, so adding
an attribute never changes the draws of another. Nothing here loops over people.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from model import _kernels, crn, liability, tables, threads
from model.errors import ScenarioError
from model.liability import DEP_SCORE, AttributeSpec, Calibrated
from model.register import Register, default_register
from model.streams import Streams

MIN_SIZE = 1_000
MAX_SIZE = 5_000_000
DEFAULT_SIZE = 100_000
DEFAULT_BASE_YEAR = 2023

CONDITIONS: tuple[str, ...] = (
    "hypertension",
    "depression",
    "obesity",
    "diabetes",
    "asthma",
    "ckd",
    "cancer",
    "chd",
    "af",
    "copd",
    "stroke_tia",
    "smi",
    "heart_failure",
    "dementia",
)
#: the non-QOF conditions of the broad list (Cassell 2018, 36 conditions; EVIDENCE §15e), held
#: as bits of ``Population.ltc_extra`` (bit j is ``EXTRA_CONDITIONS[j]``)
EXTRA_CONDITIONS: tuple[str, ...] = (
    "alcohol",
    "substance_misuse",
    "eating_disorder",
    "sight_loss",
    "bronchiectasis",
    "liver_disease",
    "constipation",
    "anxiety",
    "diverticular",
    "epilepsy",
    "hearing_loss",
    "ibd",
    "ibs",
    "learning_disability",
    "migraine",
    "ms",
    "painful_condition",
    "parkinsons",
    "pvd",
    "prostate",
    "psoriasis_eczema",
    "rheumatoid_arthritis",
    "thyroid",
    "viral_hepatitis",
)
#: QOF registers that are items of the broad list on their own (obesity is not on the list;
#: depression counts together with anxiety as one item, "depression, anxiety and other
#: neurotic, stress-related and somatoform disorders")
BROAD_QOF: tuple[str, ...] = (
    "hypertension",
    "diabetes",
    "asthma",
    "ckd",
    "cancer",
    "chd",
    "af",
    "copd",
    "stroke_tia",
    "smi",
    "heart_failure",
    "dementia",
)
#: number of conditions on the broad list: 12 QOF items + depression/anxiety + 23 others
N_BROAD = len(BROAD_QOF) + 1 + len(EXTRA_CONDITIONS) - 1
SOCIAL_NEEDS: tuple[str, ...] = ("isolation", "financial", "housing")
SEGMENTS: tuple[str, ...] = (
    "independent_engaged",
    "worried_engaged",
    "traditional_concerned",
    "vulnerable_concerned",
)
#: fixed per-person uniforms, drawn once so that paired scenarios stay paired
PROPENSITIES: tuple[str, ...] = (
    "gp",
    "ae",
    "emergency_admission",
    "elective",
    "outpatient",
    "community",
    "mental_health",
    "social_care",
    "digital",
    "uptake",
)
PAM_LEVELS = (1, 2, 3, 4)
_MENTAL = ("depression", "smi")


def check_size(size: object, what: str = "population size") -> int:
    """Return ``size`` as an int within [MIN_SIZE, MAX_SIZE] or raise one clear error."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ScenarioError(
            f"{what} must be a whole number between {MIN_SIZE:,} and {MAX_SIZE:,}, got {size!r}."
        )
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise ScenarioError(
            f"{what} must be between {MIN_SIZE:,} and {MAX_SIZE:,}, got {int(size):,}."
        )
    return int(size)


@dataclass(frozen=True)
class PopulationModel:
    """The calibrated, immutable ingredients of population synthesis for one register."""

    register: Register
    base_year: int
    conditions: tuple[Calibrated, ...]
    #: the non-QOF conditions of the broad list, in ``EXTRA_CONDITIONS`` order
    extra: tuple[Calibrated, ...]
    social: tuple[Calibrated, ...]
    chc: Calibrated
    wheelchair: Calibrated

    @classmethod
    def build(cls, register: Register, base_year: int = DEFAULT_BASE_YEAR) -> PopulationModel:
        """Calibrate every liability attribute against the register's targets."""
        if base_year not in tables.population_years():
            years = ", ".join(str(y) for y in tables.population_years())
            raise ScenarioError(
                f"population base_year {base_year} is not available; choose one of {years}."
            )

        def cal(prefix: str, name: str) -> Calibrated:
            return liability.calibrate(
                AttributeSpec.from_register(register, prefix, name), base_year
            )

        return cls(
            register=register,
            base_year=base_year,
            conditions=tuple(cal("ltc", c) for c in CONDITIONS),
            extra=tuple(
                liability.calibrate(broad_spec(register, c), base_year) for c in EXTRA_CONDITIONS
            ),
            social=tuple(cal("social", s) for s in SOCIAL_NEEDS),
            chc=cal("social", "chc"),
            wheelchair=cal("social", "wheelchair"),
        )


def broad_spec(register: Register, name: str) -> AttributeSpec:
    """Spec of a non-QOF broad-list condition: its own assumed profile, with the common
    frailty loading, female-shift offset and deprivation factor (``ltc.broad.*``) applied."""
    spec = AttributeSpec.from_register(register, "ltc", name)
    male_only = (
        f"ltc.{name}.male_only" in register and register.scalar(f"ltc.{name}.male_only") >= 1
    )
    return replace(
        spec,
        loading=register.scalar("ltc.broad.frailty_loading"),
        female_shift=spec.female_shift
        + (0.0 if male_only else register.scalar("ltc.broad.female_shift_offset")),
        q1_q5_ratio=spec.q1_q5_ratio * register.scalar("ltc.broad.deprivation_ratio_factor"),
        male_only=male_only,
    )


@cache
def _default_model(base_year: int) -> PopulationModel:
    return PopulationModel.build(default_register(), base_year)


def population_model(
    register: Register | None = None, base_year: int = DEFAULT_BASE_YEAR
) -> PopulationModel:
    """The calibrated population model (cached for the package's default register)."""
    if register is None or register is default_register():
        return _default_model(base_year)
    return PopulationModel.build(register, base_year)


@dataclass(frozen=True)
class ActivationScale:
    """Maps latent activation to PAM level and 0-100 score (fixed for a run).

    ``thresholds`` cut the latent into levels so that adults with LTCs in the base
    population reproduce the Barker 2018 distribution; ``grid``/``cdf`` tabulate the
    reference mixture CDF used to place scores between the published cut-points.
    """

    thresholds: np.ndarray
    grid: np.ndarray
    cdf: np.ndarray
    cutpoints: np.ndarray

    @classmethod
    def fit(
        cls, reference: np.ndarray, shares: np.ndarray, cutpoints: np.ndarray
    ) -> ActivationScale:
        """Thresholds and score table from reference covariate means (noise SD 1)."""
        thresholds = _mixture_quantiles(reference, np.cumsum(shares)[:3])
        grid = np.linspace(reference.min() - 6.0, reference.max() + 6.0, 1025)
        cdf = _mixture_cdf(grid, reference)
        return cls(thresholds, grid, cdf, np.asarray(cutpoints, dtype=float))

    def level(self, latent: np.ndarray) -> np.ndarray:
        """PAM level 1-4."""
        return pam_level_from_latent(latent, self.thresholds)

    def score(self, latent: np.ndarray) -> np.ndarray:
        """PAM score 0-100, monotone in the latent, within the level's cut-points."""
        if latent.ndim != 1 or self.thresholds.ndim != 1:
            return self.score_numpy(latent)
        cdf = _kernels.interp(latent, self.grid, self.cdf)  # np.interp, compiled
        cut_cdf = np.interp(self.thresholds, self.grid, self.cdf)
        lower_cdf = np.concatenate([[0.0], cut_cdf])
        upper_cdf = np.concatenate([cut_cdf, [1.0]])
        lower_score = np.concatenate([[0.0], self.cutpoints + 0.1])
        upper_score = np.concatenate([self.cutpoints, [100.0]])
        # the level, span, clip, score and rounding in one compiled pass (``score_numpy``)
        return _kernels.pam_scores(
            latent, cdf, self.thresholds, lower_cdf, upper_cdf, lower_score, upper_score
        )

    def score_numpy(self, latent: np.ndarray) -> np.ndarray:
        """``score`` in numpy (the reference of its compiled pass)."""
        cdf = np.interp(latent, self.grid, self.cdf)
        cut_cdf = np.interp(self.thresholds, self.grid, self.cdf)
        lower_cdf = np.concatenate([[0.0], cut_cdf])
        upper_cdf = np.concatenate([cut_cdf, [1.0]])
        lower_score = np.concatenate([[0.0], self.cutpoints + 0.1])
        upper_score = np.concatenate([self.cutpoints, [100.0]])
        level = self.level(latent) - 1
        span = np.maximum(upper_cdf[level] - lower_cdf[level], 1e-12)
        frac = np.clip((cdf - lower_cdf[level]) / span, 0.0, 1.0)
        score = lower_score[level] + frac * (upper_score[level] - lower_score[level])
        return np.round(score, 1).astype(np.float32)


@dataclass
class Population:
    """Struct of arrays, one element per person.

    Codes: ``sex`` 0 = male, 1 = female; ``imd`` 1 (most deprived) .. 5; ``pam_level`` 1..4;
    ``segment`` indexes ``SEGMENTS``; ``ltc`` is a boolean matrix (person x ``CONDITIONS``);
    ``ltc_extra`` a uint32 bitmask of ``EXTRA_CONDITIONS`` (bit j: condition j);
    ``propensity`` is a float32 matrix of fixed uniforms (person x ``PROPENSITIES``).
    ``pam_level_at_entry`` is the PAM level a person had when they entered the population
    (base population or entrant); activation drift and levers change ``pam_level`` only.
    """

    person_id: np.ndarray
    age: np.ndarray
    sex: np.ndarray
    imd: np.ndarray
    frailty: np.ndarray
    ltc: np.ndarray
    #: non-QOF broad-list conditions as a bitmask (bit j set: ``EXTRA_CONDITIONS[j]``)
    ltc_extra: np.ndarray
    isolation: np.ndarray
    financial: np.ndarray
    housing: np.ndarray
    pam_latent: np.ndarray
    pam_score: np.ndarray
    pam_level: np.ndarray
    #: PAM level on entering the population (fixed): demand's cross-sectional gradient by
    #: activation follows it, a later change of level moves demand only by the causal share
    #: of that association (``model.demand.activation_rr``)
    pam_level_at_entry: np.ndarray
    anxiety: np.ndarray
    segment: np.ndarray
    chc: np.ndarray
    s117: np.ndarray
    wheelchair: np.ndarray
    propensity: np.ndarray
    #: fixed idiosyncratic liability noise per condition (person x CONDITIONS), so that
    #: conditions appear as people age (incidence consistent with prevalence by age)
    ltc_noise: np.ndarray
    #: the same for the non-QOF conditions (person x EXTRA_CONDITIONS), in float16: a
    #: liability threshold needs no more precision, and it halves their memory
    ltc_extra_noise: np.ndarray
    #: fixed idiosyncratic part of the anxiety/distrust score
    anxiety_noise: np.ndarray
    activation_scale: ActivationScale
    base_year: int = DEFAULT_BASE_YEAR
    seed: int = 0
    #: latent activation above which people are 'engaged'; anxiety cut-offs within
    #: the engaged and the not engaged
    segment_thresholds: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def pam_thresholds(self) -> np.ndarray:
        """Latent activation thresholds between PAM levels 1|2, 2|3, 3|4."""
        return self.activation_scale.thresholds

    @property
    def size(self) -> int:
        """Number of people."""
        return int(self.age.shape[0])

    @property
    def ltc_count(self) -> np.ndarray:
        """Number of QOF conditions per person."""
        return _kernels.row_counts(self.ltc)  # ltc.sum(axis=1, dtype=np.int8), compiled

    @property
    def broad_ltc_count(self) -> np.ndarray:
        """Number of conditions of the broad list (Cassell 2018, 36 conditions) per person."""
        return broad_count(self.ltc, self.ltc_extra)

    def has_extra(self, name: str) -> np.ndarray:
        """Boolean column of one non-QOF broad-list condition."""
        return has_bit(self.ltc_extra, EXTRA_CONDITIONS.index(name))

    @property
    def social_need_count(self) -> np.ndarray:
        """Number of social needs (isolation, financial, housing) per person."""
        return (
            self.isolation.astype(np.int8)
            + self.financial.astype(np.int8)
            + self.housing.astype(np.int8)
        )

    def condition(self, name: str) -> np.ndarray:
        """Boolean column of one condition."""
        return np.asarray(self.ltc[:, CONDITIONS.index(name)])

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-person arrays by field name (matrices included)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
            and getattr(self, f.name).shape[:1] == (self.size,)
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per person with readable columns (for export and inspection)."""
        cols: dict[str, Any] = {
            "person_id": self.person_id,
            "age": self.age,
            "sex": pd.Categorical.from_codes(self.sex.astype(int), pd.Index(["male", "female"])),
            "imd_quintile": self.imd,
            "frailty": self.frailty,
        }
        for j, name in enumerate(CONDITIONS):
            cols[f"ltc_{name}"] = self.ltc[:, j]
        cols["ltc_count"] = self.ltc_count
        for j, name in enumerate(EXTRA_CONDITIONS):
            cols[f"ltc_{name}"] = has_bit(self.ltc_extra, j)
        cols["broad_ltc_count"] = self.broad_ltc_count
        for need in SOCIAL_NEEDS:
            cols[f"need_{need}"] = getattr(self, need)
        cols["pam_score"] = self.pam_score
        cols["pam_level"] = self.pam_level
        cols["pam_level_at_entry"] = self.pam_level_at_entry
        cols["segment"] = pd.Categorical.from_codes(self.segment.astype(int), pd.Index(SEGMENTS))
        cols["eligible_chc"] = self.chc
        cols["eligible_s117"] = self.s117
        cols["wheelchair_user"] = self.wheelchair
        for j, name in enumerate(PROPENSITIES):
            cols[f"propensity_{name}"] = self.propensity[:, j]
        return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- building blocks


def _draw_age_sex(
    rng: np.random.Generator, n: int, base_year: int
) -> tuple[np.ndarray, np.ndarray]:
    pop = tables.population_by_age_sex(base_year).reshape(-1)
    cell = rng.choice(pop.size, size=n, p=pop / pop.sum())
    sex, age = np.divmod(cell, tables.N_AGES)
    return age.astype(np.int16), sex.astype(np.int8)


class KeyedDraws:
    """Draws keyed by person id, standing in for a ``numpy.random.Generator`` (entrants).

    Each person's value is a pure function of (seed, replication, stream name, person id)
    (``model.crn``), so an entrant's attributes do not depend on how many other people join,
    survive or come before them. Only the two methods ``synthesise`` uses are provided.
    """

    def __init__(self, key: np.uint64, person_id: np.ndarray) -> None:
        self.key = key
        self.person_id = np.asarray(person_id, dtype=np.int64)

    def _uniforms(self, size: int) -> np.ndarray:
        if size != self.person_id.shape[0]:
            raise ValueError(f"{size} draws asked of {self.person_id.shape[0]} keyed people")
        return crn.uniforms(self.key, self.person_id)

    def random(self, size: int, dtype: type[np.floating[Any]] = np.float64) -> np.ndarray:
        """Uniform(0, 1) per person (below 1 also after rounding to ``dtype``)."""
        u = self._uniforms(size).astype(dtype)
        return np.minimum(u, np.nextafter(dtype(1.0), dtype(0.0)))

    def standard_normal(self, size: int) -> np.ndarray:
        """Standard normal per person (inverse normal CDF of a keyed uniform)."""
        return np.asarray(special.ndtri(self._uniforms(size)))


#: a source of draws for ``synthesise``: a named stream, or draws keyed by person id
Draws = np.random.Generator | KeyedDraws


def _draw_imd(rng: Draws, age: np.ndarray) -> np.ndarray:
    cum = np.cumsum(tables.imd_share_by_age(), axis=1)[age]  # (n, 5)
    u = rng.random(int(age.shape[0]))
    return (1 + (u[:, None] > cum[:, :4]).sum(axis=1)).astype(np.int8)


def _cell_index(age: np.ndarray, sex: np.ndarray, imd: np.ndarray) -> np.ndarray:
    """Flat index into a (2 sexes, 101 ages, 5 quintiles) table."""
    return (sex.astype(np.int64) * tables.N_AGES + age) * 5 + (imd.astype(np.int64) - 1)


def activation_mean(
    register: Register,
    age: np.ndarray,
    imd: np.ndarray,
    ltc_count: np.ndarray,
    mental: np.ndarray,
    frailty: np.ndarray,
    social_needs: np.ndarray,
) -> np.ndarray:
    """Covariate part of latent activation (SD units); noise has SD 1."""
    r = register
    coef = (
        r.scalar("activation.age_per_decade"),
        r.scalar("activation.deprivation"),
        r.scalar("activation.per_ltc"),
        r.scalar("activation.mental_illness"),
        r.scalar("activation.frailty"),
        r.scalar("activation.social_need"),
    )
    carer = r.scalar("activation.carer_age_for_children")
    arrays = (age, imd, ltc_count, mental, frailty, social_needs)
    if (
        all(isinstance(v, float) for v in (*coef, carer))
        and all(a.ndim == 1 and a.shape == age.shape for a in arrays)
        and age.dtype.kind in "iu"
        and imd.dtype.kind in "iu"
        and ltc_count.dtype.kind in "iu"
        and mental.dtype == np.bool_
        and frailty.dtype in (np.float32, np.float64)
        and social_needs.dtype.kind in "iu"
    ):  # one compiled pass with numpy's types and order (``activation_mean_numpy``)
        return _kernels.activation_mean(
            age, imd, ltc_count, mental, frailty, social_needs, DEP_SCORE, carer, coef
        )
    return activation_mean_numpy(register, age, imd, ltc_count, mental, frailty, social_needs)


def activation_mean_numpy(
    register: Register,
    age: np.ndarray,
    imd: np.ndarray,
    ltc_count: np.ndarray,
    mental: np.ndarray,
    frailty: np.ndarray,
    social_needs: np.ndarray,
) -> np.ndarray:
    """``activation_mean`` in numpy (the reference of its compiled pass)."""
    r = register
    # under-18s carry the activation of the adult who manages their care: use a carer's age
    adult_age = np.where(age < 18, r.scalar("activation.carer_age_for_children"), age)
    return (
        r.scalar("activation.age_per_decade") * (adult_age - 50.0) / 10.0
        + r.scalar("activation.deprivation") * DEP_SCORE[imd - 1]
        + r.scalar("activation.per_ltc") * ltc_count
        + r.scalar("activation.mental_illness") * mental
        + r.scalar("activation.frailty") * frailty
        + r.scalar("activation.social_need") * social_needs
    )


def _mixture_cdf(points: np.ndarray, means: np.ndarray, block: int = 32) -> np.ndarray:
    """CDF at ``points`` of the mixture of N(mean_i, 1), in blocks to bound memory."""
    out = np.empty(points.shape[0])

    def blocks(first: int, last: int) -> None:
        # the blocks ``first..last - 1`` (chunks of blocks on the machine's cores)
        for start in range(first * block, min(last * block, points.shape[0]), block):
            chunk = points[start : start + block]
            out[start : start + block] = liability.norm_cdf(chunk[:, None] - means[None, :]).mean(
                axis=1
            )

    threads.rows(-(-points.shape[0] // block), blocks, min_rows=4)
    return out


def _mixture_quantiles(means: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Quantiles of the mixture of N(mean_i, 1) at cumulative probabilities ``probs``."""
    lo = np.full(probs.shape, means.min() - 8.0)
    hi = np.full(probs.shape, means.max() + 8.0)
    for _ in range(45):
        mid = 0.5 * (lo + hi)
        cdf = _mixture_cdf(mid, means)
        below = cdf < probs
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray(0.5 * (lo + hi))


def _reference_sample(mask: np.ndarray, limit: int = 20_000) -> np.ndarray:
    """Indices of up to ``limit`` people in ``mask``, evenly spaced (deterministic)."""
    idx = np.flatnonzero(mask)
    if idx.size > limit:
        idx = idx[np.linspace(0, idx.size - 1, limit).astype(np.int64)]
    return idx


def pam_level_from_latent(latent: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """PAM level 1-4 from latent activation and the three level thresholds."""
    if (
        latent.ndim == 1
        and latent.dtype in (np.float32, np.float64)
        and thresholds.ndim == 1
        and thresholds.dtype == np.float64
        and thresholds.size < 127
        and bool(np.all(thresholds[:-1] <= thresholds[1:]))
    ):  # one compiled pass, the same levels (``pam_level_from_latent_numpy``)
        return _kernels.levels(latent, thresholds)
    return pam_level_from_latent_numpy(latent, thresholds)


def pam_level_from_latent_numpy(latent: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``pam_level_from_latent`` in numpy (the reference of its compiled pass)."""
    return (1 + np.searchsorted(thresholds, latent, side="left")).astype(np.int8)


def segment_from_latents(
    pam_latent: np.ndarray, anxiety: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Segment code from latent activation and anxiety with fixed thresholds."""
    engaged = pam_latent > thresholds[0]
    anxious = np.where(engaged, anxiety > thresholds[1], anxiety > thresholds[2])
    # 0 independent & engaged, 1 worried & engaged, 2 traditional & concerned, 3 vulnerable
    return np.where(engaged, anxious.astype(np.int8), 2 + anxious.astype(np.int8)).astype(np.int8)


def _segment_thresholds(
    pam_latent: np.ndarray, anxiety: np.ndarray, shares: np.ndarray
) -> np.ndarray:
    engaged_share = shares[0] + shares[1]
    engaged_cut = float(np.quantile(pam_latent, 1.0 - engaged_share))
    engaged = pam_latent > engaged_cut
    worried_cut = float(np.quantile(anxiety[engaged], 1.0 - shares[1] / engaged_share))
    vulnerable_cut = float(np.quantile(anxiety[~engaged], 1.0 - shares[3] / (1 - engaged_share)))
    return np.array([engaged_cut, worried_cut, vulnerable_cut])


# ----------------------------------------------------------------------------- the build


def anxiety_mean(
    register: Register,
    imd: np.ndarray,
    sex: np.ndarray,
    mental: np.ndarray,
    frailty: np.ndarray,
    social_needs: np.ndarray,
) -> np.ndarray:
    """Covariate part of the anxiety/distrust score (SD units); noise has SD 1."""
    r = register
    return (
        r.scalar("segments.anxiety.mental_illness") * mental
        + r.scalar("segments.anxiety.social_need") * social_needs
        + r.scalar("segments.anxiety.deprivation") * DEP_SCORE[imd - 1]
        + r.scalar("segments.anxiety.frailty") * frailty
        + r.scalar("segments.anxiety.female") * sex
    )


def has_bit(bits: np.ndarray, j: int) -> np.ndarray:
    """True where bit ``j`` of ``bits`` is set."""
    return np.asarray((bits >> np.uint32(j)) & np.uint32(1), dtype=bool)


_ANXIETY_BIT = np.uint32(1 << EXTRA_CONDITIONS.index("anxiety"))
_BROAD_QOF_COLUMNS = np.array([CONDITIONS.index(c) for c in BROAD_QOF], dtype=np.int64)


def broad_count(ltc: np.ndarray, ltc_extra: np.ndarray) -> np.ndarray:
    """Conditions of the broad list per person (int8), from the QOF matrix and the bitmask.

    The QOF registers on the list count one each; depression or anxiety counts once; every
    other bit of ``ltc_extra`` counts one.
    """
    if ltc.ndim == 2 and ltc_extra.ndim == 1:  # one compiled pass (``broad_count_numpy``)
        return _kernels.broad_counts(
            ltc, ltc_extra, _BROAD_QOF_COLUMNS, CONDITIONS.index("depression"), int(_ANXIETY_BIT)
        )
    return broad_count_numpy(ltc, ltc_extra)


def broad_count_numpy(ltc: np.ndarray, ltc_extra: np.ndarray) -> np.ndarray:
    """``broad_count`` in numpy (the reference its compiled pass is tested against)."""
    qof = ltc[:, [CONDITIONS.index(c) for c in BROAD_QOF]].sum(axis=1, dtype=np.int8)
    mood = ltc[:, CONDITIONS.index("depression")] | ((ltc_extra & _ANXIETY_BIT) > 0)
    others = np.bitwise_count(ltc_extra & ~_ANXIETY_BIT).astype(np.int8)
    return np.asarray(qof + mood.astype(np.int8) + others, dtype=np.int8)


#: Bridges to Health segments as the NHS England segmentation dataset's documentation names
#: them, highest need first (``bridges_segment`` assigns each person the first that applies)
BRIDGES_SEGMENTS: tuple[str, ...] = (
    "incurable_cancer",
    "organ_failure",
    "frailty_and_dementia",
    "disability",
    "long_term_conditions",
    "maternal_health",
    "healthy_well",
)


def bridges_rules(
    register: Register,
    age: np.ndarray,
    frailty: np.ndarray,
    ltc: np.ndarray,
    ltc_extra: np.ndarray,
    wheelchair: np.ndarray,
    maternal: np.ndarray | None = None,
) -> np.ndarray:
    """Bridges to Health segment (index into ``BRIDGES_SEGMENTS``) by documented rules.

    Highest need first; the rules are assumptions (``segments.bridges.*``; docs/model.md):

    1. incurable cancer: on the cancer register with frailty above ``severe_frailty_z``;
    2. organ failure: heart failure, or COPD, CKD or chronic liver disease with frailty
       above ``severe_frailty_z``;
    3. frailty and dementia: dementia, or aged ``frailty_min_age``+ with frailty above
       ``frailty_z``;
    4. disability: learning disability, blindness and low vision, or a wheelchair user;
    5. long-term conditions: any condition of the broad list;
    6. maternal health: women who deliver a baby during the year (``maternal``, from the
       engine's keyed deliveries; nobody when not given);
    7. healthy well: everyone else.
    """
    cond = {c: ltc[:, j] for j, c in enumerate(CONDITIONS)}

    def extra(name: str) -> np.ndarray:
        return has_bit(ltc_extra, EXTRA_CONDITIONS.index(name))

    severe = frailty > register.scalar("segments.bridges.severe_frailty_z")
    frail = (age >= register.scalar("segments.bridges.frailty_min_age")) & (
        frailty > register.scalar("segments.bridges.frailty_z")
    )
    rules = [
        cond["cancer"] & severe,
        cond["heart_failure"] | ((cond["copd"] | cond["ckd"] | extra("liver_disease")) & severe),
        cond["dementia"] | frail,
        extra("learning_disability") | extra("sight_loss") | wheelchair,
        broad_count(ltc, ltc_extra) > 0,
        np.zeros(age.shape[0], dtype=bool) if maternal is None else maternal,
    ]
    segment = np.full(age.shape[0], len(BRIDGES_SEGMENTS) - 1, dtype=np.int8)
    for k in range(len(rules) - 1, -1, -1):  # lowest need first, so the highest wins
        segment[rules[k]] = k
    return segment


def bridges_segment(
    pop: Population, register: Register, maternal: np.ndarray | None = None
) -> np.ndarray:
    """Bridges to Health segment of each person of ``pop`` (see ``bridges_rules``);
    ``maternal`` marks the women who deliver during the year."""
    return bridges_rules(
        register, pop.age, pop.frailty, pop.ltc, pop.ltc_extra, pop.wheelchair, maternal
    )


def expected_broad_multimorbidity(model: PopulationModel, n_nodes: int = 32) -> np.ndarray:
    """Expected share with 2+ broad-list conditions by (sex, age, IMD), shape (2, 101, 5).

    Conditions are independent given the shared frailty factor, which is integrated out by
    Gauss-Hermite quadrature; depression or anxiety counts as one item. Used to fit the
    ``ltc.broad.*`` entries without sampling noise.
    """
    nodes, wts = np.polynomial.hermite_e.hermegauss(n_nodes)
    wts = wts / wts.sum()

    def given_frailty(cal: Calibrated) -> np.ndarray:
        lam = cal.spec.loading
        mean = cal.linear_predictor()[..., None]
        return liability.norm_cdf((mean + lam * nodes) / np.sqrt(1.0 - lam * lam))

    qof = dict(zip(CONDITIONS, model.conditions, strict=True))
    extra = dict(zip(EXTRA_CONDITIONS, model.extra, strict=True))
    items = [given_frailty(qof[c]) for c in BROAD_QOF]
    items += [given_frailty(extra[c]) for c in EXTRA_CONDITIONS if c != "anxiety"]
    no_mood = (1.0 - given_frailty(qof["depression"])) * (1.0 - given_frailty(extra["anxiety"]))
    items.append(1.0 - no_mood)
    p = np.clip(np.stack(items), 0.0, 1.0 - 1e-12)  # (items, 2, 101, 5, nodes)
    none = np.prod(1.0 - p, axis=0)
    one = none * (p / (1.0 - p)).sum(axis=0)
    return np.asarray(((1.0 - none - one) * wts).sum(axis=-1))


def mental_illness(ltc: np.ndarray) -> np.ndarray:
    """True for people with depression or SMI."""
    return np.asarray(ltc[:, [CONDITIONS.index(c) for c in _MENTAL]].any(axis=1))


def _draw(cal: Calibrated, cell: np.ndarray, frailty: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``liability.draw`` (its numpy arithmetic, in one compiled pass for float64 frailty
    and float64 or float32 noise, the types ``synthesise`` draws)."""
    if (
        cell.ndim == 1
        and frailty.dtype == np.float64
        and noise.ndim == 1
        and noise.dtype in (np.float64, np.float32)
    ):
        lam = cal.spec.loading
        table = cal.linear_predictor().reshape(-1)
        return _kernels.liability_draw(table, lam, np.sqrt(1.0 - lam * lam), cell, frailty, noise)
    return liability.draw(cal, cell, frailty, noise)


def _draw_bit(
    cal: Calibrated,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
    j: int,
    bits: np.ndarray,
) -> None:
    """``bits |= liability.draw(cal, cell, frailty, noise.astype(np.float64)) << j`` in
    place (float16 ``noise``), in one compiled pass when ``_draw`` would be one."""
    if cell.ndim == 1 and frailty.dtype == np.float64 and noise.dtype == np.float16:
        lam = cal.spec.loading
        table = cal.linear_predictor().reshape(-1)
        root = np.sqrt(1.0 - lam * lam)
        _kernels.liability_bit(table, lam, root, cell, frailty, noise, j, bits)
        return
    present = liability.draw(cal, cell, frailty, noise.astype(np.float64))
    bits |= present.astype(np.uint32) << np.uint32(j)


def _normals_ahead(rng: Callable[[str], Draws], names: list[str], n: int) -> Iterator[np.ndarray]:
    """``rng(name).standard_normal(n)`` of each name in turn, the next one started in
    another thread (``threads.ahead``) while the caller uses this one: each stream is its
    own generator, so its numbers do not depend on when or where it is drawn."""

    def draw(name: str) -> np.ndarray:
        out: np.ndarray = rng(name).standard_normal(n)
        return out

    nxt = threads.ahead(draw, names[0]) if names else None
    for j in range(len(names)):
        assert nxt is not None
        current = nxt.result()
        nxt = threads.ahead(draw, names[j + 1]) if j + 1 < len(names) else None
        yield current


def synthesise(
    model: PopulationModel,
    age: np.ndarray,
    sex: np.ndarray,
    person_id: np.ndarray,
    streams: Streams,
    period: int | None = None,
    activation_scale: ActivationScale | None = None,
    segment_thresholds: np.ndarray | None = None,
    seed: int = 0,
    keyed: bool = False,
) -> Population:
    """Synthesise every attribute for people of given age and sex.

    Used for the base population (``period`` None: scales are fitted here) and for
    entrants (the base population's activation scale and segment thresholds are reused so
    that levels mean the same thing). With ``keyed``, as for entrants, every draw is keyed
    by person id (``KeyedDraws``, purposes ``entrants.<stream name>``) instead of taken in
    order from the named stream of ``period``.
    """
    reg = model.register
    n = int(age.shape[0])

    def rng(name: str) -> Draws:
        if keyed:
            key = crn.key(streams.seed, streams.replication, f"entrants.{name}")
            return KeyedDraws(key, person_id)
        return streams.get(name, period)

    imd = _draw_imd(rng("population.imd"), age)
    cell = _cell_index(age, sex, imd)
    frailty: np.ndarray = rng("population.frailty").standard_normal(n)

    # each condition's and social need's noise from its own stream, the next drawn in
    # another thread while this one is used (the same numbers, ``_normals_ahead``)
    noises = _normals_ahead(
        rng,
        [f"population.ltc.{cal.spec.name}" for cal in (*model.conditions, *model.extra)]
        + [f"population.social.{cal.spec.name}" for cal in model.social],
        n,
    )
    ltc = np.empty((n, len(CONDITIONS)), dtype=bool)
    ltc_noise = np.empty((n, len(CONDITIONS)), dtype=np.float32)
    for j, cal in enumerate(model.conditions):
        ltc_noise[:, j] = next(noises)
        ltc[:, j] = _draw(cal, cell, frailty, ltc_noise[:, j])
    ltc_extra = np.zeros(n, dtype=np.uint32)
    ltc_extra_noise = np.empty((n, len(EXTRA_CONDITIONS)), dtype=np.float16)
    for j, cal in enumerate(model.extra):
        draw_j: np.ndarray = next(noises)
        if draw_j.dtype == np.float64 and draw_j.ndim == 1 and frailty.dtype == np.float64:
            # rounded to float16 as numpy rounds it, and the condition drawn from the rounded
            # noise, in one compiled pass (``_draw_bit`` of the column)
            lam = cal.spec.loading
            _kernels.half_noise_bit(
                cal.linear_predictor().reshape(-1),
                lam,
                np.sqrt(1.0 - lam * lam),
                cell,
                frailty,
                draw_j,
                ltc_extra_noise[:, j],
                j,
                ltc_extra,
            )
        else:
            ltc_extra_noise[:, j] = draw_j
            _draw_bit(cal, cell, frailty, ltc_extra_noise[:, j], j, ltc_extra)
    needs: dict[str, np.ndarray] = {}
    for cal in model.social:
        noise: np.ndarray = next(noises)
        needs[cal.spec.name] = _draw(cal, cell, frailty, noise)
    ltc_count = ltc.sum(axis=1)
    mental = mental_illness(ltc)
    n_needs = np.zeros(n, dtype=np.int8)
    for v in needs.values():
        n_needs += v

    # activation: covariates + noise, levels cut to reproduce Barker 2018 among adults with LTCs
    mean = activation_mean(reg, age, imd, ltc_count, mental, frailty, n_needs)
    pam_noise: np.ndarray = rng("population.pam").standard_normal(n)
    pam_latent = (mean + pam_noise).astype(np.float32)
    fitted = None
    if activation_scale is None:
        reference = mean[_reference_sample((ltc_count > 0) & (age >= 18))]
        if reference.size == 0:  # tiny populations: fall back to everyone
            reference = mean[_reference_sample(np.ones(n, dtype=bool))]
        # fitted in another thread while segments, eligibility and propensities are drawn
        # (none of them reads the scale; each stream is its own generator)
        fitted = threads.ahead(
            ActivationScale.fit,
            reference,
            reg.array("activation.level_shares_ltc"),
            reg.array("activation.score_cutpoints"),
        )

    # segment: engagement (activation) x anxiety/distrust
    anxiety_draw: np.ndarray = rng("population.anxiety").standard_normal(n)
    anxiety_noise = anxiety_draw.astype(np.float32)
    anxiety = (anxiety_mean(reg, imd, sex, mental, frailty, n_needs) + anxiety_noise).astype(
        np.float32
    )
    if segment_thresholds is None:
        segment_thresholds = _segment_thresholds(pam_latent, anxiety, reg.array("segments.shares"))
    segment = segment_from_latents(pam_latent, anxiety, segment_thresholds)

    chc_noise: np.ndarray = rng("population.eligibility.chc").standard_normal(n)
    chc = _draw(model.chc, cell, frailty, chc_noise)
    wheel_noise: np.ndarray = rng("population.eligibility.wheelchair").standard_normal(n)
    wheelchair = _draw(model.wheelchair, cell, frailty, wheel_noise)
    s117_u = rng("population.eligibility.s117").random(n)
    s117 = ltc[:, CONDITIONS.index("smi")] & (s117_u < reg.scalar("social.s117_share_of_smi"))

    propensity = np.empty((n, len(PROPENSITIES)), dtype=np.float32)
    for j, name in enumerate(PROPENSITIES):
        propensity[:, j] = rng(f"population.propensity.{name}").random(n, dtype=np.float32)

    if fitted is not None:
        activation_scale = fitted.result()
    assert activation_scale is not None
    pam_level = activation_scale.level(pam_latent)

    return Population(
        person_id=np.asarray(person_id, dtype=np.int64),
        age=age.astype(np.int16),
        sex=sex.astype(np.int8),
        imd=imd,
        frailty=frailty.astype(np.float32),
        ltc=ltc,
        ltc_extra=ltc_extra,
        isolation=needs["isolation"],
        financial=needs["financial"],
        housing=needs["housing"],
        pam_latent=pam_latent,
        pam_score=activation_scale.score(pam_latent),
        pam_level=pam_level,
        pam_level_at_entry=pam_level.copy(),  # its own array: a lever may write pam_level
        anxiety=anxiety,
        segment=segment,
        chc=chc,
        s117=s117,
        wheelchair=wheelchair,
        propensity=propensity,
        ltc_noise=ltc_noise,
        ltc_extra_noise=ltc_extra_noise,
        anxiety_noise=anxiety_noise,
        activation_scale=activation_scale,
        base_year=model.base_year,
        seed=seed,
        segment_thresholds=segment_thresholds,
    )


def build_population(
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    register: Register | None = None,
    base_year: int = DEFAULT_BASE_YEAR,
    replication: int = 0,
) -> Population:
    """Build a synthetic population of ``size`` people (1,000 to 5,000,000).

    Parameters
    ----------
    size
        Number of people. The default, 100,000, is a slice of an ICB.
    seed, replication
        Keys of the random streams; the same pair gives identical arrays.
    register
        Evidence register (default: the package's own).
    base_year
        ONS mid-year of the age-sex structure (2021, 2022 or 2023).
    """
    n = check_size(size)
    # (a worker process forked within the block builds its own)
    shared = _shared[-1] if _shared and _shared[-1].pid == os.getpid() else None
    key = shared.key(n, seed, register, base_year, replication) if shared else None
    if shared is not None and key is not None:
        pop = shared.take(key)
        if pop is not None:
            return pop
    model = population_model(register, base_year)
    streams = Streams(seed, replication)
    age, sex = _draw_age_sex(streams.get("population.age_sex"), n, base_year)
    pop = synthesise(model, age, sex, np.arange(n, dtype=np.int64), streams, seed=seed)
    if shared is not None and key is not None:
        shared.keep(key, pop)
    return pop


def _copy(pop: Population) -> Population:
    """The same people in arrays of their own."""
    return replace(
        pop, **{f.name: getattr(pop, f.name).copy() for f in fields(pop) if _is_array(pop, f.name)}
    )


def _is_array(pop: Population, name: str) -> bool:
    return isinstance(getattr(pop, name), np.ndarray)


def _nbytes(pop: Population) -> int:
    return sum(int(getattr(pop, f.name).nbytes) for f in fields(pop) if _is_array(pop, f.name))


def register_digest(register: Register | None) -> bytes:
    """A digest of every value in ``register`` (the package's default register if None):
    two registers with the same digest build the same population."""
    reg = register if register is not None else default_register()
    h = hashlib.sha256()
    for key in sorted(reg):
        p = reg[key]
        h.update(key.encode("utf-8"))
        h.update(np.asarray(p.value, dtype=np.float64).tobytes())
    return h.digest()


@dataclass
class _SharedBuilds:
    """Base populations built within ``shared_builds``: each is built once and handed to
    ``uses`` runs, a copy to each but the last, which takes the arrays kept."""

    uses: int
    budget: int
    entries: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    digests: dict[int, tuple[Register | None, bytes]] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)

    def key(
        self, n: int, seed: int, register: Register | None, base_year: int, replication: int
    ) -> tuple[Any, ...] | None:
        known = self.digests.get(id(register))
        if known is None or known[0] is not register:
            known = (register, register_digest(register))
            self.digests[id(register)] = known
        return (n, seed, known[1], base_year, replication)

    def take(self, key: tuple[Any, ...]) -> Population | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        pop, left = entry
        if left <= 1:
            del self.entries[key]
            return pop
        entry[1] = left - 1
        return _copy(pop)

    def keep(self, key: tuple[Any, ...], pop: Population) -> None:
        held = sum(_nbytes(entry[0]) for entry in self.entries.values())
        if self.uses > 1 and held + _nbytes(pop) <= self.budget:
            self.entries[key] = [_copy(pop), self.uses - 1]


#: the innermost ``shared_builds`` (a stack, so that blocks nest)
_shared: list[_SharedBuilds] = []
#: the memory base populations may hold within ``shared_builds`` by default (bytes)
SHARED_BUDGET = 512 * 2**20


@contextmanager
def shared_builds(uses: int, budget: int = SHARED_BUDGET) -> Iterator[None]:
    """Within the block, a base population is built once for ``uses`` runs that build the
    same one (the same size, seed, replication, base year and register values), e.g. the
    baseline and the scenarios of a comparison, instead of once per run. The populations kept
    for later runs hold at most ``budget`` bytes; a population that does not fit is built
    again where it is needed. Every run gets the arrays it would have built (the build is
    keyed), so results are unchanged; a run's changes to its people never reach another's.
    """
    _shared.append(_SharedBuilds(uses=uses, budget=budget))
    try:
        yield
    finally:
        _shared.pop()
