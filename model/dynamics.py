"""Open-population dynamics, applied once a year: deaths, ageing, new conditions, activation
drift, and entrants (births and net migration).

* Mortality: ONS national life table qx (England 2021-23) by age and sex, multiplied by a
  hazard ratio per long-term condition and divided by that ratio's mean in the age-sex
  cell of the *base* population (fixed for the run), so that age-sex mortality stays at
  the life table while nobody's death probability depends on other people's conditions.
* Incidence: every condition keeps its person's fixed liability noise and frailty, so a
  condition appears when the age curve carries the liability above zero; conditions do
  not remit. This makes incidence consistent with prevalence by age in the base year.
* Activation drifts as an AR(1) process around its covariate mean; levels, scores and
  segments are re-read from the run's fixed scales. The level a person had on entering the
  population (``pam_level_at_entry``) is kept, so drift moves demand only by the causal
  share of the cross-sectional association (``model.demand.activation_rr``).
* Entrants: births at the base-year rate of age-0 people, and net migrants by the
  age-sex profile of ONS cohort change between mid-2022 and mid-2023, both of the
  *planned* population (``PopulationPlan``), with ids from a block reserved for each year
  and attributes keyed by id.

Every draw is a counter-based uniform keyed by person id (and year) (``model.crn``), so a
person's fate does not depend on anyone else's.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cache, partial
from typing import Any

import numpy as np
from scipy import special

from model import _kernels, crn, liability, tables, threads
from model.errors import CarescaleError
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


#: buffers made by ``take`` with room for the people ``concat`` appends (by ``id``; a weak
#: reference to the buffer, so that a freed buffer's ``id`` reused is not taken for it);
#: ``concat`` claims a buffer's room once
_ROOM: dict[int, weakref.ref[np.ndarray]] = {}


def take(pop: Population, index: np.ndarray, room: int = 0) -> Population:
    """The people at ``index`` (boolean mask or integer positions), in order.

    Every per-person array is taken (any array whose first axis is the population's size,
    ``pam_level_at_entry`` included). With ``room``, each array is the first rows of a
    buffer with ``room`` more rows, into which ``concat`` then appends that many people
    without copying the others again (the same values either way).
    """
    index = np.asarray(index)
    # rows of 2-D arrays are copied much faster by positions than by a boolean mask
    rows = np.flatnonzero(index) if index.dtype == np.bool_ else index
    changes: dict[str, Any] = {}
    for f in fields(pop):
        a = getattr(pop, f.name)
        if isinstance(a, np.ndarray) and a.shape[:1] == (pop.size,):
            if room > 0:
                m = rows.shape[0]
                buffer = np.empty((m + room, *a.shape[1:]), dtype=a.dtype)
                # positions within the array: "clip" only skips numpy's buffered bounds check;
                # chunks of rows on the machine's cores (numpy's take releases the GIL)
                threads.rows(m, partial(_take_rows, a, rows, buffer))
                _ROOM[id(buffer)] = weakref.ref(buffer)
                changes[f.name] = buffer[:m]
            else:
                changes[f.name] = a.take(rows, axis=0) if a.ndim > 1 else a[index]
    return replace(pop, **changes)


def _take_rows(a: np.ndarray, rows: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    np.take(a, rows[lo:hi], axis=0, out=out[lo:hi], mode="clip")


def _append_in_room(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``np.concatenate([a, b])`` written into the room ``take`` left after ``a``, or None
    when ``a`` has no such room (or it was claimed already)."""
    base = a.base
    if not isinstance(base, np.ndarray):
        return None
    ref = _ROOM.get(id(base))
    if ref is None or ref() is not base:
        return None
    n = a.shape[0]
    if (
        base.dtype != a.dtype
        or b.dtype != a.dtype
        or base.shape != (n + b.shape[0], *a.shape[1:])
        or b.shape[1:] != a.shape[1:]
        or not base.flags.c_contiguous
        or not a.flags.c_contiguous
        or a.ctypes.data != base.ctypes.data
    ):
        return None
    del _ROOM[id(base)]
    base[n:] = b
    return base


def concat(first: Population, second: Population) -> Population:
    """People of ``first`` followed by those of ``second`` (scales of ``first`` kept)."""
    changes: dict[str, Any] = {}
    for f in fields(first):
        a = getattr(first, f.name)
        if isinstance(a, np.ndarray) and a.shape[:1] == (first.size,):
            b = getattr(second, f.name)
            joined = _append_in_room(a, b)
            changes[f.name] = joined if joined is not None else np.concatenate([a, b])
    # buffers whose room was not claimed keep no entry
    for key in [k for k, ref in _ROOM.items() if ref() is None]:
        del _ROOM[key]
    return replace(first, **changes)


# ----------------------------------------------------------------------------- mortality


def _hazard_ratio(ltc_count: np.ndarray, hr_per_ltc: float) -> np.ndarray:
    counts = np.asarray(ltc_count)
    if counts.ndim == 1 and counts.dtype.kind in "iu" and counts.size and counts.min() >= 0:
        # ``hr ** count`` for the few counts there are, looked up: numpy's power gives an
        # element the same value wherever it sits (``_hazard_ratio_numpy``, tested)
        table = np.power(hr_per_ltc, np.arange(int(counts.max()) + 1, dtype=np.float64))
        return table.take(counts)
    return _hazard_ratio_numpy(counts, hr_per_ltc)


def _hazard_ratio_numpy(ltc_count: np.ndarray, hr_per_ltc: float) -> np.ndarray:
    """``_hazard_ratio`` element by element (its reference)."""
    return np.power(hr_per_ltc, ltc_count.astype(np.float64))


def _hr_normaliser(sex: np.ndarray, age: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Mean of ``hr`` by (sex, age), shape (2, 101); empty cells pool the nearest ages."""
    cell = sex.astype(np.int64) * tables.N_AGES + np.minimum(age, tables.MAX_AGE)
    n_cells = 2 * tables.N_AGES
    total = np.bincount(cell, weights=hr, minlength=n_cells).reshape(2, tables.N_AGES)
    count = np.bincount(cell, minlength=n_cells).reshape(2, tables.N_AGES).astype(np.float64)
    mean = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
    # an empty cell (only a lever run's reference can lack people the run has) takes the
    # mean over the narrowest window of ages around it, same sex, that has people
    zero = np.zeros((2, 1))
    cum_total = np.concatenate([zero, np.cumsum(total, axis=1)], axis=1)
    cum_count = np.concatenate([zero, np.cumsum(count, axis=1)], axis=1)
    ages = np.arange(tables.N_AGES)
    for k in range(1, tables.N_AGES):
        empty = np.isnan(mean)
        if not empty.any():
            break
        lo = np.maximum(ages - k, 0)
        hi = np.minimum(ages + k, tables.MAX_AGE) + 1
        n = cum_count[:, hi] - cum_count[:, lo]
        fill = empty & (n > 0)
        mean[fill] = ((cum_total[:, hi] - cum_total[:, lo]) / np.maximum(n, 1.0))[fill]
    mean = np.where(np.isnan(mean), 1.0, mean)  # a sex with nobody at all
    mean.flags.writeable = False
    return mean


def mortality_normaliser(pop: Population | MortalityReference, hr_per_ltc: float) -> np.ndarray:
    """Mean hazard ratio by (sex, age), shape (2, 101), over ``pop``.

    The engine computes it each year on the lever-free population (``MortalityReference``),
    never on a population that levers have changed.
    """
    return _hr_normaliser(pop.sex, pop.age, _hazard_ratio(pop.ltc_count, hr_per_ltc))


def annual_death_probability(
    pop: Population | MortalityReference, hr_per_ltc: float, normaliser: np.ndarray | None = None
) -> np.ndarray:
    """Probability of dying within the coming year, per person.

    ``qx(sex, age) * hr_per_ltc ** ltc_count / normaliser(sex, age)``. The normaliser is the
    mean hazard ratio by age and sex of the year's lever-free population
    (``mortality_normaliser`` of the ``MortalityReference``); without one, ``pop`` itself.
    """
    hr = _hazard_ratio(pop.ltc_count, hr_per_ltc)
    if normaliser is None:
        normaliser = _hr_normaliser(pop.sex, pop.age, hr)
    qx = tables.qx(LIFE_TABLE_PERIOD)
    age = np.minimum(pop.age, tables.MAX_AGE).astype(np.int64)
    sex = pop.sex.astype(np.int64)
    q = qx[sex, age] * hr / normaliser[sex, age]
    return np.asarray(np.clip(q, 0.0, 1.0))


def death_days(q: np.ndarray, u: np.ndarray, entry: np.ndarray | None = None) -> np.ndarray:
    """Day of death within the year (0..364), or -1 for survivors.

    Uses one uniform per person: death if ``u < q``; then ``u / q`` is uniform and gives the
    day, so a lower hazard means the same or a later death (paired across scenarios).
    People who enter during the year on day ``entry`` (see ``entry_days``) are at risk only
    from then on: ``q`` is scaled by the part of the year left and the day falls after entry.
    """
    dies = u < q
    day = np.full(q.shape, -1, dtype=np.int16)
    day[dies] = np.minimum(
        (u[dies] / q[dies] * DAYS_PER_YEAR).astype(np.int64), DAYS_PER_YEAR - 1
    ).astype(np.int16)
    if entry is not None and entry.any():
        new = np.flatnonzero(entry > 0)
        left = (DAYS_PER_YEAR - entry[new]).astype(np.int64)
        q_left = q[new] * left / DAYS_PER_YEAR
        die = u[new] < q_left
        at = np.minimum((u[new] / np.where(die, q_left, 1.0) * left).astype(np.int64), left - 1)
        day[new] = np.where(die, entry[new] + at, -1).astype(np.int16)
    return day


def entry_days(
    plan: PopulationPlan, person_id: np.ndarray, year: int, u_key: np.uint64
) -> np.ndarray:
    """Day of the year each person joined (0 for people there at its start).

    The entrants of ``year`` (births and net migrants, ids from ``plan``) arrive through the
    year: each on a day from a uniform keyed by their id, so their exposure, deaths and
    demand cover only the part of the year after it.
    """
    lo = plan.base_size + 2 * year * plan.block
    new = np.flatnonzero((person_id >= lo) & (person_id < lo + 2 * plan.block))
    out = np.zeros(person_id.shape[0], dtype=np.int16)
    if new.size:
        u = crn.uniforms(u_key, person_id[new])
        out[new] = np.minimum(u * DAYS_PER_YEAR, DAYS_PER_YEAR - 1).astype(np.int16)
    return out


#: first age of each fertility band (``dynamics.fertility_rate_by_age``: 15-19 ... 40-44)
FERTILITY_AGES = (15, 45)


def delivery_probability(
    pop: Population, rates_per_1000: np.ndarray, maternities_per_birth: float
) -> np.ndarray:
    """Probability that each person delivers a baby within the year (women aged 15-44).

    The age-specific fertility rate of her five-year band, times maternities per live
    birth (twins are one delivery); zero for men and for women outside 15-44.
    """
    lo, hi = FERTILITY_AGES
    age = pop.age.astype(np.int64)
    fertile = (pop.sex == 1) & (age >= lo) & (age < hi)
    band = np.clip((age - lo) // 5, 0, len(rates_per_1000) - 1)
    p = np.where(fertile, rates_per_1000[band] / 1000.0 * maternities_per_birth, 0.0)
    return np.asarray(p)


def deliveries(
    pop: Population,
    exposure_days: np.ndarray,
    rates_per_1000: np.ndarray,
    maternities_per_birth: float,
    u: np.ndarray,
) -> np.ndarray:
    """Positions of the women who deliver this year (one keyed uniform each).

    A woman who dies during the year has the part of the year she lived
    (``exposure_days``); her uniform is keyed by her id, so whether she delivers does not
    depend on anyone else.
    """
    p = delivery_probability(pop, rates_per_1000, maternities_per_birth)
    return np.flatnonzero(u < p * exposure_days / DAYS_PER_YEAR)


@dataclass
class MortalityReference:
    """The lever-free population on which mortality is normalised, year by year.

    Levers may change people's conditions, and so who survives. If the hazard ratio were
    normalised on that population, a change for some people would move everyone else's
    death probability. The reference follows the baseline's own dynamics instead: the same
    keyed deaths (with its own normaliser), the same ageing of conditions and the same
    entrants, with no lever. In a run without levers it is the population itself (the
    engine then uses the population directly); in a run with levers it is the population
    the baseline would have had. Only what mortality needs is kept.
    """

    person_id: np.ndarray
    sex: np.ndarray
    age: np.ndarray
    imd: np.ndarray
    frailty: np.ndarray
    ltc: np.ndarray
    ltc_noise: np.ndarray
    #: who survives the current year (set by ``draw_deaths``)
    alive: np.ndarray | None = None

    @classmethod
    def of(cls, pop: Population) -> MortalityReference:
        """The columns mortality needs, copied (levers cannot reach them)."""
        return cls(
            pop.person_id.copy(),
            pop.sex.copy(),
            pop.age.copy(),
            pop.imd.copy(),
            pop.frailty.copy(),
            pop.ltc.copy(),
            pop.ltc_noise.copy(),
        )

    @property
    def size(self) -> int:
        """Number of people."""
        return int(self.age.shape[0])

    @property
    def ltc_count(self) -> np.ndarray:
        """Number of conditions per person."""
        return np.asarray(self.ltc.sum(axis=1, dtype=np.int8))

    def add(self, new: Population) -> None:
        """Entrants join (they join before any lever acts, so they are the run's own)."""
        other = MortalityReference.of(new)
        for f in fields(self):
            if f.name != "alive":
                setattr(
                    self, f.name, np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                )

    def draw_deaths(
        self,
        hr_per_ltc: float,
        normaliser: np.ndarray,
        u: np.ndarray,
        entry: np.ndarray | None = None,
    ) -> None:
        """Who dies this year, from the same keyed uniforms and entry days as the run's."""
        q = annual_death_probability(self, hr_per_ltc, normaliser)
        self.alive = death_days(q, u, entry) < 0

    def advance(self, model: PopulationModel) -> None:
        """The dead leave; survivors are a year older, with the conditions that brings."""
        if self.alive is None:
            raise CarescaleError("the reference population's deaths were not drawn.")
        keep = self.alive
        for f in fields(self):
            if f.name != "alive":
                setattr(self, f.name, getattr(self, f.name)[keep])
        self.age = np.minimum(self.age + 1, tables.MAX_AGE).astype(np.int16)
        self.ltc = new_conditions(model, self, self.ltc)
        self.alive = None


# ----------------------------------------------------------------------------- ageing


def new_conditions(
    model: PopulationModel, aged: Population | MortalityReference, ltc: np.ndarray
) -> np.ndarray:
    """Conditions after a year's ageing: ``ltc`` plus those the new ages bring (``aged``
    holds the new ages and each person's fixed frailty and liability noise)."""
    cell = (aged.sex.astype(np.int64) * tables.N_AGES + aged.age) * 5 + (aged.imd - 1)
    # liability.draw for every condition, in one compiled pass (``new_conditions_numpy``)
    return _kernels.conditions_gained(model.conditions, cell, aged.frailty, aged.ltc_noise, ltc)


def new_conditions_numpy(
    model: PopulationModel, aged: Population | MortalityReference, ltc: np.ndarray
) -> np.ndarray:
    """``new_conditions`` in numpy (the reference its compiled pass is tested against)."""
    cell = (aged.sex.astype(np.int64) * tables.N_AGES + aged.age) * 5 + (aged.imd - 1)
    frailty = aged.frailty.astype(np.float64)
    out = ltc.copy()
    for j, cal in enumerate(model.conditions):
        out[:, j] |= liability.draw(cal, cell, frailty, aged.ltc_noise[:, j].astype(np.float64))
    return out


def new_extra_conditions(
    model: PopulationModel, aged: Population, ltc_extra: np.ndarray
) -> np.ndarray:
    """The non-QOF broad-list conditions (bitmask) after a year's ageing, as ``new_conditions``."""
    cell = (aged.sex.astype(np.int64) * tables.N_AGES + aged.age) * 5 + (aged.imd - 1)
    return _kernels.condition_bits_gained(
        model.extra, cell, aged.frailty, aged.ltc_extra_noise, ltc_extra
    )


def new_extra_conditions_numpy(
    model: PopulationModel, aged: Population, ltc_extra: np.ndarray
) -> np.ndarray:
    """``new_extra_conditions`` in numpy (the reference of its compiled pass)."""
    cell = (aged.sex.astype(np.int64) * tables.N_AGES + aged.age) * 5 + (aged.imd - 1)
    frailty = aged.frailty.astype(np.float64)
    out = ltc_extra.copy()
    for j, cal in enumerate(model.extra):
        present = liability.draw(cal, cell, frailty, aged.ltc_extra_noise[:, j].astype(np.float64))
        out |= present.astype(np.uint32) << np.uint32(j)
    return out


def age_one_year(pop: Population, model: PopulationModel, rho: float, key: np.uint64) -> Population:
    """Everyone one year older, with new conditions and drifted activation.

    ``pam_level_at_entry`` is left as it was (only the current level drifts).
    """
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
    ltc = new_conditions(model, aged, pop.ltc)
    aged = replace(aged, ltc=ltc, ltc_extra=new_extra_conditions(model, aged, pop.ltc_extra))
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
    birth_ids: np.ndarray,
    migrant_ids: np.ndarray,
    streams: Streams,
) -> Population | None:
    """New people (newborns aged 0, then net migrants), synthesised like the base population.

    Every draw, age and sex included, is keyed by the entrant's id (``KeyedDraws``), so an
    entrant's attributes depend only on who they are, not on how many others join or
    survive. Newborns take the sex ratio of ONS age-0 people in the base year; migrants a
    (sex, age) cell of ``migrant_age_sex_profile`` by inversion of its CDF.
    """
    n_births, n_migrants = int(birth_ids.shape[0]), int(migrant_ids.shape[0])
    if n_births + n_migrants <= 0:
        return None
    seed, rep = streams.seed, streams.replication
    pop0 = tables.population_by_age_sex(model.base_year)
    u_sex = crn.uniforms(crn.key(seed, rep, "entrants.birth_sex"), birth_ids)
    birth_sex = (u_sex < pop0[1, 0] / pop0[:, 0].sum()).astype(np.int8)
    cum = np.cumsum(migrant_age_sex_profile(model.base_year).reshape(-1))
    u_cell = crn.uniforms(crn.key(seed, rep, "entrants.migrant_cell"), migrant_ids)
    # the first cell whose cumulative share exceeds u (never a cell of zero share)
    cells = np.searchsorted(cum, u_cell * cum[-1], side="right")
    mig_sex, mig_age = np.divmod(np.minimum(cells, cum.size - 1), tables.N_AGES)
    age = np.concatenate([np.zeros(n_births, dtype=np.int16), mig_age.astype(np.int16)])
    sex = np.concatenate([birth_sex, mig_sex.astype(np.int8)])
    ids = np.concatenate([birth_ids, migrant_ids]).astype(np.int64)
    return synthesise(
        model,
        age,
        sex,
        ids,
        streams,
        activation_scale=base.activation_scale,
        segment_thresholds=base.segment_thresholds,
        seed=base.seed,
        keyed=True,
    )


def entrant_counts(
    n_people: float, births_rate: float, migration_rate: float, u: float
) -> tuple[int, int]:
    """Births and net migrants for a year (expected values, rounded with a shared uniform)."""
    births = int(np.floor(n_people * births_rate + u))
    migrants = int(np.floor(n_people * migration_rate + (1.0 - u)))
    return births, migrants


def planned_population(start: float, growth: float, year: int) -> float:
    """``start × (1 + growth) ** year``: a planned population, computed without simulation."""
    return float(start * (1.0 + growth) ** year)


#: entrant kinds, in the order of their id blocks within a year
ENTRANT_KINDS: tuple[str, ...] = ("birth", "migrant")


@dataclass(frozen=True)
class PopulationPlan:
    """The run's planned population, fixed before the clock starts (no simulation).

    * Before the entrants of year *t* join, ``base_size × (1 + g)^t`` people are planned
      (``boundary``); the year's births and net migrants are the register's rates of that
      number, rounded with one keyed uniform per year (``entrant_counts``). A lever that
      saves or costs lives therefore changes nobody's birth or arrival.
    * The planned population of year *t*, for which capacity is sized, is
      ``start × (1 + g)^t`` (``population``), where ``start`` is the population of year 0:
      the base population and the year-0 entrants.
    * Entrants of year *t* and kind *k* (0 births, 1 migrants; ``ENTRANT_KINDS``) get the
      ids ``base_size + (2t + k) × block + j``, ``j = 0, 1, ...``, with ``block`` the base
      size: an id says who the entrant is whatever happens to other people, and ids stay
      increasing (births before migrants, years in order).
    """

    base_size: int
    growth: float
    births: tuple[int, ...]
    migrants: tuple[int, ...]

    @classmethod
    def build(
        cls,
        base_size: int,
        growth: float,
        births_rate: float,
        migration_rate: float,
        u: Sequence[float],
    ) -> PopulationPlan:
        """Entrant numbers for ``len(u)`` years from the planned boundary populations."""
        births, migrants = [], []
        for year, u_year in enumerate(u):
            n = planned_population(base_size, growth, year)
            b, m = entrant_counts(n, births_rate, migration_rate, float(u_year))
            births.append(max(b, 0))
            migrants.append(max(m, 0))
        block = int(base_size)
        if max(births + migrants, default=0) > block:
            raise CarescaleError(
                f"a year's planned entrants ({max(births + migrants):,}) exceed the "
                f"{block:,} ids reserved for them; lower the birth, migration or growth rate."
            )
        return cls(int(base_size), float(growth), tuple(births), tuple(migrants))

    @property
    def block(self) -> int:
        """Ids reserved per year and kind of entrant."""
        return self.base_size

    @property
    def start(self) -> int:
        """The population of year 0: the base population and the year-0 entrants."""
        return self.base_size + self.births[0] + self.migrants[0]

    def boundary(self, year: int) -> float:
        """Planned people at the start of ``year`` before its entrants join."""
        return planned_population(self.base_size, self.growth, year)

    def population(self, year: int) -> float:
        """Planned population of ``year`` (capacity is sized for it)."""
        return planned_population(self.start, self.growth, year)

    def entrant_ids(self, year: int, kind: str) -> np.ndarray:
        """Ids of the entrants of one kind (``ENTRANT_KINDS``) joining at the start of ``year``."""
        k = ENTRANT_KINDS.index(kind)
        n = (self.births if kind == "birth" else self.migrants)[year]
        first = self.base_size + (2 * year + k) * self.block
        return np.arange(first, first + n, dtype=np.int64)


__all__ = [
    "CONDITIONS",
    "DAYS_PER_YEAR",
    "ENTRANT_KINDS",
    "MortalityReference",
    "PopulationPlan",
    "age_one_year",
    "annual_death_probability",
    "concat",
    "death_days",
    "entrant_counts",
    "entrants",
    "migrant_age_sex_profile",
    "mortality_normaliser",
    "new_conditions",
    "planned_population",
    "take",
]
