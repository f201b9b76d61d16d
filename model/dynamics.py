"""Open-population dynamics, applied once a year: deaths, ageing, new conditions, activation
drift, and entrants (births and net migration).

* Mortality: ONS national life table qx (England 2021-23) by age and sex, multiplied by a
  hazard ratio per long-term condition and renormalised within each age-sex cell so that
  the population's age-sex mortality still equals the life table.
* Incidence: every condition keeps its person's fixed liability noise and frailty, so a
  condition appears when the age curve carries the liability above zero; conditions do
  not remit. This makes incidence consistent with prevalence by age in the base year.
* Activation drifts as an AR(1) process around its covariate mean; levels, scores and
  segments are re-read from the run's fixed scales.
* Entrants: births at the base-year rate of age-0 people, and net migrants by the
  age-sex profile of ONS cohort change between mid-2022 and mid-2023.

Every draw is a counter-based uniform keyed by person id and year (``model.crn``), so a
person's fate does not depend on anyone else's.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import cache
from typing import Any

import numpy as np
from scipy import special

from model import crn, liability, tables
from model.population import (
    CONDITIONS,
    Population,
    PopulationModel,
    activation_mean,
    anxiety_mean,
    mental_illness,
    segment_from_latents,
    synthesise,
)
from model.streams import Streams

LIFE_TABLE_PERIOD = "2021-2023"
DAYS_PER_YEAR = 365


def take(pop: Population, index: np.ndarray) -> Population:
    """The people at ``index`` (boolean mask or integer positions), in order."""
    changes: dict[str, Any] = {
        f.name: getattr(pop, f.name)[index]
        for f in fields(pop)
        if isinstance(getattr(pop, f.name), np.ndarray)
        and getattr(pop, f.name).shape[:1] == (pop.size,)
    }
    return replace(pop, **changes)


def concat(first: Population, second: Population) -> Population:
    """People of ``first`` followed by those of ``second`` (scales of ``first`` kept)."""
    changes: dict[str, Any] = {}
    for f in fields(first):
        a = getattr(first, f.name)
        if isinstance(a, np.ndarray) and a.shape[:1] == (first.size,):
            changes[f.name] = np.concatenate([a, getattr(second, f.name)])
    return replace(first, **changes)


# ----------------------------------------------------------------------------- mortality


def annual_death_probability(pop: Population, hr_per_ltc: float) -> np.ndarray:
    """Probability of dying within the coming year, per person."""
    qx = tables.qx(LIFE_TABLE_PERIOD)
    age = np.minimum(pop.age, tables.MAX_AGE).astype(np.int64)
    cell = pop.sex.astype(np.int64) * tables.N_AGES + age
    hr = np.power(hr_per_ltc, pop.ltc_count.astype(np.float64))
    n_cells = 2 * tables.N_AGES
    total = np.bincount(cell, weights=hr, minlength=n_cells)
    count = np.bincount(cell, minlength=n_cells)
    mean_hr = np.where(count > 0, total / np.maximum(count, 1), 1.0)
    q = qx.reshape(-1)[cell] * hr / mean_hr[cell]
    return np.asarray(np.clip(q, 0.0, 1.0))


def death_days(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Day of death within the year (0..364), or -1 for survivors.

    Uses one uniform per person: death if ``u < q``; then ``u / q`` is uniform and gives the
    day, so a lower hazard means the same or a later death (paired across scenarios).
    """
    dies = u < q
    day = np.full(q.shape, -1, dtype=np.int16)
    day[dies] = np.minimum(
        (u[dies] / q[dies] * DAYS_PER_YEAR).astype(np.int64), DAYS_PER_YEAR - 1
    ).astype(np.int16)
    return day


# ----------------------------------------------------------------------------- ageing


def _liability_now(cal: liability.Calibrated, pop: Population, noise: np.ndarray) -> np.ndarray:
    cell = (pop.sex.astype(np.int64) * tables.N_AGES + pop.age) * 5 + (pop.imd - 1)
    return liability.draw(cal, cell, pop.frailty.astype(np.float64), noise)


def age_one_year(pop: Population, model: PopulationModel, rho: float, key: np.uint64) -> Population:
    """Everyone one year older, with new conditions and drifted activation."""
    reg = model.register
    old_mean = activation_mean(
        reg,
        pop.age,
        pop.imd,
        pop.ltc_count,
        mental_illness(pop.ltc),
        pop.frailty,
        pop.social_need_count,
    )
    aged = replace(pop, age=np.minimum(pop.age + 1, tables.MAX_AGE).astype(np.int16))
    ltc = pop.ltc.copy()
    for j, cal in enumerate(model.conditions):
        ltc[:, j] |= _liability_now(cal, aged, pop.ltc_noise[:, j].astype(np.float64))
    aged = replace(aged, ltc=ltc)
    mental = mental_illness(ltc)
    new_mean = activation_mean(
        reg, aged.age, aged.imd, aged.ltc_count, mental, aged.frailty, aged.social_need_count
    )
    z = special.ndtri(crn.uniforms(key, pop.person_id))
    latent = (new_mean + rho * (pop.pam_latent - old_mean) + np.sqrt(1.0 - rho * rho) * z).astype(
        np.float32
    )
    anxiety = (
        anxiety_mean(reg, aged.imd, aged.sex, mental, aged.frailty, aged.social_need_count)
        + aged.anxiety_noise
    ).astype(np.float32)
    scale = pop.activation_scale
    return replace(
        aged,
        pam_latent=latent,
        pam_level=scale.level(latent),
        pam_score=scale.score(latent),
        anxiety=anxiety,
        segment=segment_from_latents(latent, anxiety, pop.segment_thresholds),
    )


# ----------------------------------------------------------------------------- entrants


@cache
def migrant_age_sex_profile(base_year: int) -> np.ndarray:
    """Share of net migrants by (sex, age), shape (2, 101), from ONS cohort change.

    Net migration at age a ~ pop(a, year) - pop(a-1, year-1) * (1 - qx(a-1)); negative
    cells (net emigration) are set to zero. Uses the last two mid-years up to ``base_year``.
    """
    years = tables.population_years()
    prev = max(y for y in years if y < base_year) if base_year > min(years) else base_year
    now = tables.population_by_age_sex(base_year if base_year > min(years) else years[1])
    before = tables.population_by_age_sex(prev if prev != base_year else years[0])
    qx = tables.qx(LIFE_TABLE_PERIOD)
    net = np.zeros_like(now)
    net[:, 1:] = now[:, 1:] - before[:, :-1] * (1.0 - qx[:, :-1])
    net = np.clip(net, 0.0, None)
    out = net / net.sum()
    out.flags.writeable = False
    return out


def entrants(
    model: PopulationModel,
    base: Population,
    n_births: int,
    n_migrants: int,
    first_id: int,
    streams: Streams,
    period: int,
) -> Population | None:
    """New people (newborns aged 0 and net migrants), synthesised like the base population."""
    if n_births + n_migrants <= 0:
        return None
    pop0 = tables.population_by_age_sex(model.base_year)
    rng = streams.get("dynamics.entrants", period)
    birth_sex = (rng.random(n_births) < pop0[1, 0] / pop0[:, 0].sum()).astype(np.int8)
    profile = migrant_age_sex_profile(model.base_year).reshape(-1)
    cells = rng.choice(profile.size, size=n_migrants, p=profile)
    mig_sex, mig_age = np.divmod(cells, tables.N_AGES)
    age = np.concatenate([np.zeros(n_births, dtype=np.int16), mig_age.astype(np.int16)])
    sex = np.concatenate([birth_sex, mig_sex.astype(np.int8)])
    ids = np.arange(first_id, first_id + age.size, dtype=np.int64)
    return synthesise(
        model,
        age,
        sex,
        ids,
        streams,
        period=period,
        activation_scale=base.activation_scale,
        segment_thresholds=base.segment_thresholds,
        seed=base.seed,
    )


def entrant_counts(
    n_alive: int, births_rate: float, migration_rate: float, u: float
) -> tuple[int, int]:
    """Births and net migrants for a year (expected values, rounded with a shared uniform)."""
    births = int(np.floor(n_alive * births_rate + u))
    migrants = int(np.floor(n_alive * migration_rate + (1.0 - u)))
    return births, migrants


__all__ = [
    "CONDITIONS",
    "DAYS_PER_YEAR",
    "age_one_year",
    "annual_death_probability",
    "concat",
    "death_days",
    "entrant_counts",
    "entrants",
    "migrant_age_sex_profile",
    "take",
]
