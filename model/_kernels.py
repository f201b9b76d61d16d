"""Compiled loops of the demand draws (numba), giving exactly what the numpy code gives.

``poisson_small`` is the summation inversion of ``crn._poisson_inverse_small`` per element
(the same products and sums in the same order, from the same ``exp(-rate)``, which numpy
computes). ``expand_days`` is ``crn.expand``, ``crn.event_days``, the cut at death and the
stable sort by day of ``demand.draw_events`` in two passes over chunks of people (on the
machine's cores, ``model.threads``): the same SplitMix64 hash, the same 16-bit day, and a
stable counting sort, which orders events as the stable ``argsort`` does. The other passes
over people or rows go through ``_in_rows``, which splits their rows the same way.
Compiled once per machine and cached (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model import threads

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix_py(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The SplitMix64 finaliser of ``crn`` (every keyed hash of the compiled passes)."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


#: ``_mix_py`` compiled and inlined where it is called (same operations, same bits)
_mix: Any = numba.njit(cache=True, nogil=True, inline="always")(_mix_py)


def _in_rows(kernel: Any, rows: int, per_row: tuple[int, ...], *args: Any) -> None:
    """``kernel(*args)`` (a compiled pass, or a function of such passes) for a pass whose
    row ``i`` reads and writes only row ``i`` of the arguments at the positions ``per_row``
    (arrays of ``rows`` rows; the other arguments, tables and scalars, are passed whole):
    chunks of rows on the machine's cores (``threads.rows``), the same values as one pass."""

    def part(lo: int, hi: int) -> None:
        kernel(*[a[lo:hi] if j in per_row else a for j, a in enumerate(args)])

    threads.rows(rows, part)


def _poisson_count(r: float, v: float, p: float, max_k: int) -> int:  # pragma: no cover
    """The count whose cumulative probability first reaches ``v``, summing from
    ``p = exp(-r)`` (the products and sums of the numpy version, in its order)."""
    cdf = p
    k = 0
    while v > cdf:
        k += 1
        p = p * r / k
        cdf = cdf + p
        if k > max_k:  # round-off guard, as in numpy
            break
    return k


_poisson_count_jit: Any = numba.njit(cache=True, nogil=True, inline="always")(_poisson_count)


def _poisson_small(
    rate: np.ndarray, u: np.ndarray, p0: np.ndarray, max_k: int, limit: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    for i in range(rate.shape[0]):
        if rate[i] > limit:  # left to the large-rate inversion
            continue
        out[i] = _poisson_count_jit(rate[i], u[i], p0[i], max_k)


def _expand_count(
    counts: np.ndarray,
    person_id: np.ndarray,
    key: np.uint64,
    days: int,
    start: np.ndarray,
    cut: np.ndarray,
    day_of: np.ndarray,
    per_day: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The day of each event of some people (-1: before arrival or after death, dropped),
    person by person, event number by event number, and the kept events per day."""
    n_days = np.uint32(days)
    e = 0
    for p in range(counts.shape[0]):
        base = np.uint64(person_id[p]) * _GOLDEN + key
        for j in range(counts[p]):
            z = base + np.uint64(j) * _M2
            z = _mix(z)
            top = np.uint32(z >> np.uint64(48))
            d = np.int64((top * n_days) >> np.uint32(16))
            if start[p] <= d < cut[p]:
                per_day[d] += 1
                day_of[e] = d
            else:
                day_of[e] = -1
            e += 1


def _expand_place(
    counts: np.ndarray,
    day_of: np.ndarray,
    first: int,
    at_day: np.ndarray,
    person: np.ndarray,
    k: np.ndarray,
    slot: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Each kept event of some people (the first person is ``first``) at the next place of
    its day (``at_day``: where these people's events of each day start), so that events
    are sorted by day and, within a day, by person and event number (a stable sort)."""
    e = 0
    for p in range(counts.shape[0]):
        for j in range(counts[p]):
            kept_day = day_of[e]
            if kept_day >= 0:
                at = at_day[kept_day]
                at_day[kept_day] += 1
                person[at] = first + p
                k[at] = j
                slot[e] = at
            else:
                slot[e] = -1
            e += 1


def _fill_days(ends: np.ndarray, day: np.ndarray) -> None:  # pragma: no cover - compiled
    """``day[at] = t`` for the events of day ``t`` (``ends[t]``: one past its last)."""
    at = 0
    for t in range(ends.shape[0]):
        while at < ends[t]:
            day[at] = t
            at += 1


def _poisson_sure_zero(
    rate: np.ndarray, u: np.ndarray, limit: float, need: np.ndarray
) -> int:  # pragma: no cover - compiled
    """Rows whose count the summation inversion may make above 0: the rates up to
    ``limit`` whose uniform is not below ``1 - rate - 1e-9``. Below it the count is 0
    whatever the last bits of ``exp(-rate)``: ``exp(-r) >= 1 - r`` and numpy's ``exp`` is
    within a few units in the last place (about 1e-16 of it), so ``u < exp(-rate)`` and the
    summation stops at once. Returns how many rows ``need`` holds."""
    n_need = 0
    for i in range(rate.shape[0]):
        r = rate[i]
        if r > limit:  # left to the large-rate inversion
            continue
        if u[i] < (1.0 - r) - 1e-9:
            continue
        need[n_need] = i
        n_need += 1
    return n_need


def _poisson_small_rows(
    rate: np.ndarray,
    u: np.ndarray,
    rows: np.ndarray,
    p0: np.ndarray,
    max_k: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``_poisson_small`` of the rows ``rows`` (``p0`` their ``exp(-rate)``, in row order)."""
    for j in range(rows.shape[0]):
        i = rows[j]
        out[i] = _poisson_count_jit(rate[i], u[i], p0[j], max_k)


def _poisson_large(
    rate: np.ndarray,
    u: np.ndarray,
    rows: np.ndarray,
    start: np.ndarray,
    pdtr: Any,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``crn._poisson_inverse_large`` of the rows ``rows`` from their Cornish-Fisher starts:
    each count moves up while ``pdtr(n, rate) < u`` and down while ``pdtr(n - 1, rate) >=
    u``, at most 200 moves, as the numpy loop moves it (``pdtr`` is scipy's own, a pure
    function, so a value already computed for the same arguments is reused)."""
    for j in range(rows.shape[0]):
        i = rows[j]
        r = rate[i]
        v = u[i]
        m = start[j]
        known = False  # whether c holds pdtr(m, r)
        c = 0.0
        for _ in range(200):
            if not known:
                c = pdtr(m, r, 0)
            if c < v:  # CDF at m too small: move up (pdtr(m - 1) < v then: no move down)
                m = m + 1.0
                known = False
                continue
            if m > 0:
                below = pdtr(m - 1.0, r, 0)
                if below >= v:  # m - 1 already enough: move down
                    m = m - 1.0
                    c = below
                    known = True
                    continue
            break
        out[i] = np.int32(m)


_poisson_small_jit: Any = numba.njit(cache=True, nogil=True)(_poisson_small)
_poisson_sure_zero_jit: Any = numba.njit(cache=True, nogil=True)(_poisson_sure_zero)
_poisson_small_rows_jit: Any = numba.njit(cache=True, nogil=True)(_poisson_small_rows)
_poisson_large_jit: Any = numba.njit(cache=True, nogil=True)(_poisson_large)
_expand_count_jit: Any = numba.njit(cache=True, nogil=True)(_expand_count)
_expand_place_jit: Any = numba.njit(cache=True, nogil=True)(_expand_place)
_fill_days_jit: Any = numba.njit(cache=True, nogil=True)(_fill_days)


def poisson_small(rate: np.ndarray, u: np.ndarray, max_k: int, limit: float = np.inf) -> np.ndarray:
    """Poisson inversion by summing probabilities (``crn._poisson_inverse_small``) of the
    rates up to ``limit`` (0 for the others)."""
    rate = np.ascontiguousarray(rate, dtype=np.float64)
    out = np.zeros(rate.shape[0], dtype=np.int32)
    if rate.shape[0]:
        # numpy's exp, as in the numpy version (element by element: numpy's exp gives an
        # element the same value wherever it sits in the array, tested)
        p0 = np.exp(-rate)
        u = np.ascontiguousarray(u, dtype=np.float64)
        _poisson_small_jit(rate, u, p0, max_k, float(limit), out)
    return out


def poisson(
    rate: np.ndarray, u: np.ndarray, max_k: int, limit: float, pdtr: Any, ndtri: Any
) -> np.ndarray:
    """``crn.poisson_inverse`` of a vector: the summation inversion of the rates up to
    ``limit`` (``poisson_small``'s operations, from numpy's ``exp`` of only the rows that
    may count above 0), then the Cornish-Fisher start and exact-CDF correction of the
    larger rates (``crn._poisson_inverse_large``'s, with scipy's ``pdtr`` called from the
    compiled loop and its ``ndtri`` as a ufunc). The counts are those of the numpy versions
    (``tests/test_crn.py``)."""
    rate = np.ascontiguousarray(rate, dtype=np.float64)
    u = np.ascontiguousarray(u, dtype=np.float64)
    n = rate.shape[0]
    out = np.zeros(n, dtype=np.int32)
    if n:
        # row by row: chunks of rows on the machine's cores give the same counts
        _in_rows(_poisson_rows, n, (0, 1, 6), rate, u, max_k, limit, pdtr, ndtri, out)
    return out


def _poisson_rows(
    rate: np.ndarray,
    u: np.ndarray,
    max_k: int,
    limit: float,
    pdtr: Any,
    ndtri: Any,
    out: np.ndarray,
) -> None:
    """``poisson`` of some rows, written to ``out`` (zeros)."""
    n = rate.shape[0]
    need = np.empty(n, dtype=np.int64)
    n_need = _poisson_sure_zero_jit(rate, u, float(limit), need)
    if n_need > n // 2:  # most rows: numpy's exp of the whole array is cheaper than a gather
        _poisson_small_jit(rate, u, np.exp(-rate), max_k, float(limit), out)
    elif n_need:
        rows = need[:n_need]
        # numpy's exp gives an element the same value wherever it sits (tested)
        _poisson_small_rows_jit(rate, u, rows, np.exp(-rate.take(rows)), max_k, out)
    large = np.flatnonzero(rate > limit)
    if large.size:
        r, v = rate.take(large), u.take(large)
        z = ndtri(v)
        start = np.maximum(np.floor(r + np.sqrt(r) * z + (z * z - 1.0) / 6.0), 0.0)
        _poisson_large_jit(rate, u, large, start, pdtr, out)


def people_chunks(counts: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Chunks of people for the machine's cores (``threads.chunks``), each with the range of
    its events among events drawn person by person (``counts`` per person): ``(lo, hi,
    first event, one past its last event)``."""
    out = []
    e = 0
    for lo, hi in threads.chunks(counts.shape[0]):
        n = int(counts[lo:hi].sum())
        out.append((lo, hi, e, e + n))
        e += n
    return out


def expand_days(
    counts: np.ndarray,
    person_id: np.ndarray,
    key: np.uint64,
    days: int,
    cut: np.ndarray,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of ``counts`` per person with days from ``crn.event_days``, those before
    ``start`` or on or after ``cut`` (per person) dropped, stably sorted by day: (person
    int32, k int32, day int16), and the slot of each event as generated (person by person,
    event number by event number) in that order (int32, -1 for a dropped event).
    """
    if start is None:
        start = np.zeros(counts.shape[0], dtype=np.int64)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    person_id = np.ascontiguousarray(person_id, dtype=np.int64)
    start = np.ascontiguousarray(start, dtype=np.int64)
    cut = np.ascontiguousarray(cut, dtype=np.int64)
    # chunks of people (on the machine's cores) and where their events start, as generated
    parts = people_chunks(counts)
    total = parts[-1][3]
    day_of = np.empty(total, dtype=np.int16)
    person = np.empty(total, dtype=np.int32)
    k = np.empty(total, dtype=np.int32)
    day = np.empty(total, dtype=np.int16)
    slot = np.empty(total, dtype=np.int32)
    # each chunk's events' days and counts per day, then where each chunk's events of a
    # day go (after those of the chunks before it)
    per_day = np.zeros((len(parts), days), dtype=np.int64)

    def count(c: int) -> None:
        lo, hi, e_lo, e_hi = parts[c]
        _expand_count_jit(
            counts[lo:hi],
            person_id[lo:hi],
            np.uint64(key),
            int(days),
            start[lo:hi],
            cut[lo:hi],
            day_of[e_lo:e_hi],
            per_day[c],
        )

    def place(c: int) -> None:
        lo, hi, e_lo, e_hi = parts[c]
        _expand_place_jit(
            counts[lo:hi], day_of[e_lo:e_hi], lo, at_day[c], person, k, slot[e_lo:e_hi]
        )

    threads.each(len(parts), count)
    per_day_all = per_day.sum(axis=0)
    day_ends = np.cumsum(per_day_all)
    kept = int(day_ends[-1]) if days else 0
    # chunk c's events of day d start after every event of earlier days and chunk c's
    # predecessors' events of day d
    at_day = (day_ends - per_day_all)[None, :] + np.cumsum(per_day, axis=0) - per_day
    threads.each(len(parts), place)
    _fill_days_jit(day_ends, day)
    # events after death (about 1 % of people die in a year) leave unused room at the end
    return person[:kept], k[:kept], day[:kept], slot


def _practice_of(
    person_id: np.ndarray,
    imd: np.ndarray,
    key: np.uint64,
    assign_cum: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    to_unit = 2.0**-53
    n_practices = assign_cum.shape[1]
    for i in range(person_id.shape[0]):
        # crn.uniforms(key, person id)
        z = np.uint64(person_id[i]) * _GOLDEN + key
        z = _mix(z)
        u = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
        # searchsorted(assign_cum[imd - 1], u, side="right"), at most the last practice
        row = imd[i] - 1
        lo = 0
        hi = n_practices
        while lo < hi:
            mid = (lo + hi) >> 1
            if assign_cum[row, mid] <= u:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo if lo < n_practices else n_practices - 1


_practice_of_jit: Any = numba.njit(cache=True, nogil=True)(_practice_of)


def practice_of(
    person_id: np.ndarray, imd: np.ndarray, key: np.uint64, assign_cum: np.ndarray
) -> np.ndarray:
    """``Practices.of``: the practice of each person from ``crn.uniforms(key, person id)``
    and the cumulative assignment shares of the person's IMD quintile (1-5)."""
    out = np.empty(person_id.shape[0], dtype=np.int32)
    if person_id.shape[0]:
        _in_rows(
            _practice_of_jit,
            person_id.shape[0],
            (0, 1, 4),
            np.ascontiguousarray(person_id, dtype=np.int64),
            np.ascontiguousarray(imd),
            np.uint64(key),
            np.ascontiguousarray(assign_cum, dtype=np.float64),
            out,
        )
    return out


def _keyed_uniforms(
    person_id: np.ndarray, key: np.uint64, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    to_unit = 2.0**-53
    for i in range(person_id.shape[0]):
        z = np.uint64(person_id[i]) * _GOLDEN + key
        z = _mix(z)
        out[i] = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit


_keyed_uniforms_jit: Any = numba.njit(cache=True, nogil=True)(_keyed_uniforms)


def keyed_uniforms(key: np.uint64, person_id: np.ndarray) -> np.ndarray:
    """``crn.uniforms(key, person_id)`` (index 0) as one compiled pass."""
    out = np.empty(person_id.shape[0], dtype=np.float64)
    if person_id.shape[0]:
        _in_rows(
            _keyed_uniforms_jit,
            person_id.shape[0],
            (0, 2),
            np.ascontiguousarray(person_id, dtype=np.int64),
            np.uint64(key),
            out,
        )
    return out


# ----------------------------------------------------------------------------- conditions


#: 2.0 ** (exponent - 25) for the 32 exponents of a half-precision number (exact powers of
#: two, as ``2.0 ** float(exponent - 25)`` gives them, without a call to ``pow``)
_HALF_SCALE = np.array([2.0 ** float(e - 25) for e in range(32)], dtype=np.float64)


def _half_to_double(h: np.uint16) -> float:  # pragma: no cover - compiled
    """An IEEE half-precision number (its 16 bits) as a double, exactly."""
    bits = np.int64(h)
    sign = (bits >> 15) & 1
    exponent = (bits >> 10) & 0x1F
    fraction = bits & 0x3FF
    value: float
    if exponent == 0:
        value = float(fraction) * 2.0**-24
    elif exponent == 31:
        value = np.inf if fraction == 0 else np.nan
    else:
        value = float(1024 + fraction) * _HALF_SCALE[exponent]
    return -value if sign else value


_half_jit: Any = numba.njit(cache=True, nogil=True, inline="always")(_half_to_double)


def _liability_or(
    mean: np.ndarray,
    lam: np.ndarray,
    scale: np.ndarray,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(cell.shape[0]):
        c = cell[i]
        f = np.float64(frailty[i])
        for j in range(mean.shape[1]):
            if not out[i, j]:
                liability = mean[c, j] + lam[j] * f + scale[j] * np.float64(noise[i, j])
                if liability > 0.0:
                    out[i, j] = True


def _liability_bits(
    mean: np.ndarray,
    lam: np.ndarray,
    scale: np.ndarray,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise_bits: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(cell.shape[0]):
        c = cell[i]
        f = np.float64(frailty[i])
        for j in range(mean.shape[1]):
            bit = np.uint32(1) << np.uint32(j)
            if (out[i] & bit) == 0:
                x = _half_jit(noise_bits[i, j])
                liability = mean[c, j] + lam[j] * f + scale[j] * x
                if liability > 0.0:
                    out[i] |= bit


_liability_or_jit: Any = numba.njit(cache=True, nogil=True)(_liability_or)
_liability_bits_jit: Any = numba.njit(cache=True, nogil=True)(_liability_bits)


def _activation_mean(
    age: np.ndarray,
    imd: np.ndarray,
    ltc_count: np.ndarray,
    mental: np.ndarray,
    frailty: np.ndarray,
    needs: np.ndarray,
    dep: np.ndarray,
    carer_age: float,
    coef: np.ndarray,
    frailty_f32: bool,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    per_decade, deprivation, per_ltc, mental_rr, frail, per_need = (
        coef[0],
        coef[1],
        coef[2],
        coef[3],
        coef[4],
        coef[5],
    )
    frail32 = np.float32(frail)
    for i in range(age.shape[0]):
        a = np.float64(age[i])
        adult = carer_age if age[i] < 18 else a
        s = per_decade * (adult - 50.0) / 10.0
        s = s + deprivation * dep[np.int64(imd[i]) - 1]
        s = s + per_ltc * np.float64(ltc_count[i])
        s = s + mental_rr * (1.0 if mental[i] else 0.0)
        if frailty_f32:  # a Python float times float32 is a float32 product in numpy
            s = s + np.float64(frail32 * frailty[i])
        else:
            s = s + frail * np.float64(frailty[i])
        s = s + per_need * np.float64(needs[i])
        out[i] = s


_activation_mean_jit: Any = numba.njit(cache=True, nogil=True)(_activation_mean)


def activation_mean(
    age: np.ndarray,
    imd: np.ndarray,
    ltc_count: np.ndarray,
    mental: np.ndarray,
    frailty: np.ndarray,
    needs: np.ndarray,
    dep: np.ndarray,
    carer_age: float,
    coef: tuple[float, float, float, float, float, float],
) -> np.ndarray:
    """``population.activation_mean``'s sum in one compiled pass, with numpy's types:
    float64 throughout but for a float32 ``frailty``, whose product with its (Python float)
    coefficient numpy takes in float32."""
    out = np.empty(age.shape[0], dtype=np.float64)
    if age.shape[0]:
        _in_rows(
            _activation_mean_jit,
            age.shape[0],
            (0, 1, 2, 3, 4, 5, 10),
            np.ascontiguousarray(age),
            np.ascontiguousarray(imd),
            np.ascontiguousarray(ltc_count),
            np.ascontiguousarray(mental),
            np.ascontiguousarray(frailty),
            np.ascontiguousarray(needs),
            np.ascontiguousarray(dep, dtype=np.float64),
            float(carer_age),
            np.array(coef, dtype=np.float64),
            frailty.dtype == np.float32,
            out,
        )
    return out


def _levels(
    latent: np.ndarray, thresholds: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    n_thresholds = thresholds.shape[0]
    for i in range(latent.shape[0]):
        x = np.float64(latent[i])
        # 1 + searchsorted(thresholds, x, side="left"), NaN after everything as numpy sorts
        level = 1
        if x != x:
            level += n_thresholds
        else:
            for t in range(n_thresholds):
                if thresholds[t] < x:
                    level += 1
        out[i] = level


_levels_jit: Any = numba.njit(cache=True, nogil=True)(_levels)


def levels(latent: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``(1 + np.searchsorted(thresholds, latent, side="left")).astype(np.int8)`` of a
    vector, in one compiled pass (``thresholds`` sorted, fewer than 127)."""
    out = np.empty(latent.shape[0], dtype=np.int8)
    if latent.shape[0]:
        _in_rows(
            _levels_jit,
            latent.shape[0],
            (0, 2),
            np.ascontiguousarray(latent),
            np.ascontiguousarray(thresholds, dtype=np.float64),
            out,
        )
    return out


def _pam_scores(
    latent: np.ndarray,
    cdf: np.ndarray,
    thresholds: np.ndarray,
    lower_cdf: np.ndarray,
    upper_cdf: np.ndarray,
    lower_score: np.ndarray,
    upper_score: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    n_thresholds = thresholds.shape[0]
    for i in range(latent.shape[0]):
        x = np.float64(latent[i])
        # searchsorted(thresholds, x, side="left"), NaN after everything as numpy sorts it
        level = 0
        if x != x:
            level = n_thresholds
        else:
            for t in range(n_thresholds):
                if thresholds[t] < x:
                    level += 1
        lo = lower_cdf[level]
        span = upper_cdf[level] - lo
        if not span >= 1e-12:  # np.maximum(span, 1e-12) (no NaN in the tables)
            span = 1e-12
        frac = (cdf[i] - lo) / span
        if frac < 0.0:  # np.clip(frac, 0, 1), NaN kept
            frac = 0.0
        elif frac > 1.0:
            frac = 1.0
        score = lower_score[level] + frac * (upper_score[level] - lower_score[level])
        # np.round(score, 1) is rint(score * 10) / 10; then float32
        out[i] = np.float32(np.rint(score * 10.0) / 10.0)


_pam_scores_jit: Any = numba.njit(cache=True, nogil=True)(_pam_scores)


def pam_scores(
    latent: np.ndarray,
    cdf: np.ndarray,
    thresholds: np.ndarray,
    lower_cdf: np.ndarray,
    upper_cdf: np.ndarray,
    lower_score: np.ndarray,
    upper_score: np.ndarray,
) -> np.ndarray:
    """``ActivationScale.score`` after its interpolation (``cdf``), in one compiled pass:
    each person's level, the place of the CDF within the level's span, the score within
    the level's cut-points, rounded to one decimal as ``np.round`` rounds, in float32."""
    out = np.empty(latent.shape[0], dtype=np.float32)
    if latent.shape[0]:
        _in_rows(
            _pam_scores_jit,
            latent.shape[0],
            (0, 1, 7),
            np.ascontiguousarray(latent),
            np.ascontiguousarray(cdf, dtype=np.float64),
            np.ascontiguousarray(thresholds, dtype=np.float64),
            np.ascontiguousarray(lower_cdf, dtype=np.float64),
            np.ascontiguousarray(upper_cdf, dtype=np.float64),
            np.ascontiguousarray(lower_score, dtype=np.float64),
            np.ascontiguousarray(upper_score, dtype=np.float64),
            out,
        )
    return out


def _half_bits(d: np.uint64) -> np.uint16:  # pragma: no cover - compiled
    """IEEE binary64 (its bits) to binary16 bits, rounded to nearest, ties to even: numpy's
    conversion (``npy_doublebits_to_halfbits``), step for step."""
    h_sgn = np.uint16((d & np.uint64(0x8000000000000000)) >> np.uint64(48))
    d_exp = d & np.uint64(0x7FF0000000000000)
    if d_exp >= np.uint64(0x40F0000000000000):  # overflow, inf or NaN
        if d_exp == np.uint64(0x7FF0000000000000):
            d_sig = d & np.uint64(0x000FFFFFFFFFFFFF)
            if d_sig != np.uint64(0):
                ret = np.uint16(np.uint64(0x7C00) + (d_sig >> np.uint64(42)))
                if ret == np.uint16(0x7C00):
                    ret = np.uint16(ret + np.uint16(1))
                return np.uint16(h_sgn + ret)
        return np.uint16(h_sgn + np.uint16(0x7C00))
    if d_exp <= np.uint64(0x3F00000000000000):  # subnormal half or signed zero
        if d_exp < np.uint64(0x3E60000000000000):
            return h_sgn
        e = d_exp >> np.uint64(52)
        d_sig = np.uint64(0x0010000000000000) + (d & np.uint64(0x000FFFFFFFFFFFFF))
        d_sig = d_sig << (e - np.uint64(998))
        if (d_sig & np.uint64(0x003FFFFFFFFFFFFF)) != np.uint64(0x0010000000000000):
            d_sig = d_sig + np.uint64(0x0010000000000000)
        return np.uint16(h_sgn + np.uint16(d_sig >> np.uint64(53)))
    h_exp = np.uint64((d_exp - np.uint64(0x3F00000000000000)) >> np.uint64(42))
    d_sig = d & np.uint64(0x000FFFFFFFFFFFFF)
    if (d_sig & np.uint64(0x000007FFFFFFFFFF)) != np.uint64(0x0000020000000000):
        d_sig = d_sig + np.uint64(0x0000020000000000)
    h_sig = (d_sig >> np.uint64(42)) + h_exp
    return np.uint16(np.uint64(h_sgn) + h_sig)


_half_bits_jit: Any = numba.njit(cache=True, nogil=True, inline="always")(_half_bits)


def _double_to_half(bits: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """IEEE binary64 (as uint64 bits) to binary16 bits (``_half_bits``) element by element."""
    for i in range(bits.shape[0]):
        out[i] = _half_bits_jit(np.uint64(bits[i]))


def _half_noise_bit(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    draws: np.ndarray,
    noise_bits: np.ndarray,
    bit: np.uint32,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``to_half`` of ``draws`` into the noise column and ``_liability_bit`` of the rounded
    noise, in one pass (the column is not read back)."""
    for i in range(cell.shape[0]):
        h = _half_bits_jit(np.uint64(draws[i]))
        noise_bits[i] = h
        x = _half_jit(h)
        liability = table[cell[i]] + lam * np.float64(frailty[i]) + scale * x
        if liability > 0.0:
            out[i] |= bit


_half_noise_bit_jit: Any = numba.njit(cache=True, nogil=True)(_half_noise_bit)


_double_to_half_jit: Any = numba.njit(cache=True, nogil=True)(_double_to_half)


def half_noise_bit(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    draws: np.ndarray,
    noise: np.ndarray,
    j: int,
    bits: np.ndarray,
) -> None:
    """``to_half(draws, noise)`` then ``liability_bit(..., noise, j, bits)`` in one pass."""
    if (
        draws.dtype != np.float64
        or noise.dtype != np.float16
        or bits.dtype != np.uint32
        or draws.shape != noise.shape
    ):
        raise ValueError("float64 draws, a float16 column of their shape and uint32 bits")
    if cell.shape[0]:
        _in_rows(
            _half_noise_bit_jit,
            cell.shape[0],
            (3, 4, 5, 6, 8),
            np.ascontiguousarray(table, dtype=np.float64),
            float(lam),
            float(scale),
            np.ascontiguousarray(cell, dtype=np.int64),
            np.ascontiguousarray(frailty, dtype=np.float64),
            np.ascontiguousarray(draws).view(np.uint64),
            noise.view(np.uint16),
            np.uint32(1) << np.uint32(j),
            bits,
        )


def to_half(values: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = values`` for float64 ``values`` and a float16 ``out`` (a column may be
    strided): numpy's rounding, in one compiled pass."""
    if values.dtype != np.float64 or out.dtype != np.float16 or values.shape != out.shape:
        raise ValueError("float64 values and a float16 array of their shape are required")
    if values.shape[0]:
        _double_to_half_jit(np.ascontiguousarray(values).view(np.uint64), out.view(np.uint16))


def _liability_draw(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(cell.shape[0]):
        liability = table[cell[i]] + lam * np.float64(frailty[i]) + scale * np.float64(noise[i])
        out[i] = liability > 0.0


def _liability_bit(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise_bits: np.ndarray,
    bit: np.uint32,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(cell.shape[0]):
        x = _half_jit(noise_bits[i])
        liability = table[cell[i]] + lam * np.float64(frailty[i]) + scale * x
        if liability > 0.0:
            out[i] |= bit


_liability_draw_jit: Any = numba.njit(cache=True, nogil=True)(_liability_draw)
_liability_bit_jit: Any = numba.njit(cache=True, nogil=True)(_liability_bit)


def liability_draw(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """``liability.draw``: ``table[cell] + lam * frailty + scale * noise > 0`` per person
    (``table`` the flat linear predictor, ``scale`` numpy's ``sqrt(1 - lam * lam)``), in
    numpy's order of operations and in float64, as numpy computes it for float64 frailty
    and float64 or float32 noise; one compiled pass."""
    out = np.empty(cell.shape[0], dtype=np.bool_)
    if cell.shape[0]:
        _in_rows(
            _liability_draw_jit,
            cell.shape[0],
            (3, 4, 5, 6),
            np.ascontiguousarray(table, dtype=np.float64),
            float(lam),
            float(scale),
            np.ascontiguousarray(cell, dtype=np.int64),
            np.ascontiguousarray(frailty, dtype=np.float64),
            noise,
            out,
        )
    return out


def liability_bit(
    table: np.ndarray,
    lam: float,
    scale: float,
    cell: np.ndarray,
    frailty: np.ndarray,
    noise: np.ndarray,
    j: int,
    bits: np.ndarray,
) -> None:
    """``bits |= liability_draw(...) << j`` in place, from float16 ``noise`` (widened to
    float64 exactly, as ``astype`` does), in one compiled pass."""
    if cell.shape[0]:
        if noise.dtype != np.float16 or bits.dtype != np.uint32:
            raise ValueError("float16 noise and a uint32 bitmask are required")
        _in_rows(
            _liability_bit_jit,
            cell.shape[0],
            (3, 4, 5, 7),
            np.ascontiguousarray(table, dtype=np.float64),
            float(lam),
            float(scale),
            np.ascontiguousarray(cell, dtype=np.int64),
            np.ascontiguousarray(frailty, dtype=np.float64),
            noise.view(np.uint16),
            np.uint32(1) << np.uint32(j),
            bits,
        )


def _tables(calibrated: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # the linear predictors by (cell, condition): a person's conditions side by side
    mean = np.ascontiguousarray(
        np.stack([c.linear_predictor().reshape(-1) for c in calibrated]).astype(np.float64).T
    )
    lam = np.array([c.spec.loading for c in calibrated], dtype=np.float64)
    scale = np.array([np.sqrt(1.0 - c.spec.loading * c.spec.loading) for c in calibrated])
    return mean, lam, scale


def conditions_gained(
    calibrated: Any, cell: np.ndarray, frailty: np.ndarray, noise: np.ndarray, ltc: np.ndarray
) -> np.ndarray:
    """``ltc`` (person x condition, bool) or-ed with each condition's liability draw
    (``liability.draw`` with the person's fixed noise), in one compiled pass."""
    mean, lam, scale = _tables(calibrated)
    out = np.array(ltc, dtype=np.bool_, copy=True, order="C")
    _in_rows(
        _liability_or_jit,
        out.shape[0],
        (3, 4, 5, 6),
        mean,
        lam,
        scale,
        np.ascontiguousarray(cell, dtype=np.int64),
        np.ascontiguousarray(frailty),
        np.ascontiguousarray(noise),
        out,
    )
    return out


def condition_bits_gained(
    calibrated: Any, cell: np.ndarray, frailty: np.ndarray, noise: np.ndarray, bits: np.ndarray
) -> np.ndarray:
    """``bits`` (uint32 bitmask, bit j = condition j) with each condition's liability draw
    set, from float16 noise (person x condition), in one compiled pass."""
    mean, lam, scale = _tables(calibrated)
    out = np.array(bits, dtype=np.uint32, copy=True)
    half = np.ascontiguousarray(noise, dtype=np.float16).view(np.uint16)
    _in_rows(
        _liability_bits_jit,
        out.shape[0],
        (3, 4, 5, 6),
        mean,
        lam,
        scale,
        np.ascontiguousarray(cell, dtype=np.int64),
        np.ascontiguousarray(frailty),
        half,
        out,
    )
    return out


def _bucket_starts(ids: np.ndarray, shift: int, out: np.ndarray) -> None:  # pragma: no cover
    # out[b]: the position of the first id at or above b << shift (ids sorted)
    b = 0
    for i in range(ids.shape[0]):
        top = ids[i] >> shift
        while b <= top:
            out[b] = i
            b += 1
    while b < out.shape[0]:
        out[b] = ids.shape[0]
        b += 1


def _find_sorted(
    ids: np.ndarray, starts: np.ndarray, shift: int, keys: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    n_buckets = starts.shape[0] - 1
    for i in range(keys.shape[0]):
        key = np.int64(keys[i])
        out[i] = -1
        if key < 0:
            continue
        b = key >> shift
        if b >= n_buckets:
            continue
        lo = starts[b]
        hi = starts[b + 1]
        while lo < hi:  # the first id at or above the key, within its bucket
            mid = (lo + hi) >> 1
            if ids[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < starts[b + 1] and ids[lo] == key:
            out[i] = lo


_bucket_starts_jit: Any = numba.njit(cache=True, nogil=True)(_bucket_starts)
_find_sorted_jit: Any = numba.njit(cache=True, nogil=True)(_find_sorted)


def bucket_starts(ids: np.ndarray, shift: int) -> np.ndarray:
    """For sorted non-negative ``ids``: the position of the first id at or above each
    multiple of ``2**shift`` up to the largest id, and ``ids.size`` after it."""
    n_buckets = (int(ids[-1]) >> shift) + 1 if ids.shape[0] else 0
    out = np.empty(n_buckets + 1, dtype=np.int64)
    _bucket_starts_jit(np.ascontiguousarray(ids, dtype=np.int64), int(shift), out)
    return out


def find_sorted(ids: np.ndarray, starts: np.ndarray, shift: int, keys: np.ndarray) -> np.ndarray:
    """The position of each key in sorted unique ``ids`` (-1 if absent), searched within
    its bucket of ``bucket_starts``."""
    out = np.empty(keys.shape[0], dtype=np.int64)
    if keys.shape[0]:
        _in_rows(
            _find_sorted_jit,
            keys.shape[0],
            (3, 4),
            np.ascontiguousarray(ids, dtype=np.int64),
            starts,
            int(shift),
            np.ascontiguousarray(keys),
            out,
        )
    return out


def _rates(
    profile: np.ndarray,
    table: np.ndarray,
    normaliser: np.ndarray,
    scale: float,
    age: np.ndarray,
    sex: np.ndarray,
    code: np.ndarray,
    propensity: np.ndarray,
    max_age: int,
    band_width: int,
    n_bands: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(age.shape[0]):
        a = int(age[i])
        s = int(sex[i])
        band = min(a // band_width, n_bands - 1)
        rate = scale * profile[s, min(a, max_age)]
        rate = rate * table[code[i]]
        rate = rate / normaliser[band * 2 + s]
        out[i] = rate * np.float64(propensity[i])


_rates_jit: Any = numba.njit(cache=True, nogil=True)(_rates)


def rates(
    profile: np.ndarray,
    table: np.ndarray,
    normaliser: np.ndarray,
    scale: float,
    age: np.ndarray,
    sex: np.ndarray,
    code: np.ndarray,
    propensity: np.ndarray,
    max_age: int,
    band_width: int,
    n_bands: int,
) -> np.ndarray:
    """``scale * profile[sex, min(age, max_age)] * table[code] / normaliser[min(age //
    band_width, n_bands - 1) * 2 + sex] * propensity`` per person, the operations of
    ``DemandModel.rates`` in its order (``propensity`` widened to float64 first, as numpy
    does), so the same numbers."""
    out = np.empty(age.shape[0], dtype=np.float64)
    if age.shape[0]:
        _in_rows(
            _rates_jit,
            age.shape[0],
            (4, 5, 6, 7, 11),
            np.ascontiguousarray(profile, dtype=np.float64),
            np.ascontiguousarray(table, dtype=np.float64),
            np.ascontiguousarray(normaliser, dtype=np.float64),
            float(scale),
            np.ascontiguousarray(age),
            np.ascontiguousarray(sex),
            np.ascontiguousarray(code),
            np.ascontiguousarray(propensity),
            int(max_age),
            int(band_width),
            int(n_bands),
            out,
        )
    return out


def _interp(
    x: np.ndarray, xp: np.ndarray, fp: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    n = xp.shape[0]
    left = fp[0]
    right = fp[n - 1]
    # a first guess at each interval for evenly spaced points (corrected below)
    inv_step = (n - 1) / (xp[n - 1] - xp[0])
    slopes = np.empty(n - 1, dtype=np.float64)
    for i in range(n - 1):
        slopes[i] = (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
    j = 0
    for i in range(x.shape[0]):
        value = np.float64(x[i])
        if np.isnan(value):
            out[i] = value
            continue
        if value > xp[n - 1]:
            out[i] = right
            continue
        if value < xp[0]:
            out[i] = left
            continue
        # the last point at or below the value (the interval numpy's search finds)
        guess = (value - xp[0]) * inv_step
        j = int(guess) if guess < n - 1 else n - 1
        while j > 0 and xp[j] > value:
            j -= 1
        while j < n - 1 and xp[j + 1] <= value:
            j += 1
        if j == n - 1 or xp[j] == value:
            out[i] = fp[j]
            continue
        slope = slopes[j]
        result = slope * (value - xp[j]) + fp[j]
        if np.isnan(result):
            result = slope * (value - xp[j + 1]) + fp[j + 1]
            if np.isnan(result) and fp[j] == fp[j + 1]:
                result = fp[j]
        out[i] = result


_interp_jit: Any = numba.njit(cache=True, nogil=True)(_interp)


def interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x, xp, fp)`` for increasing ``xp`` of three or more points, compiled: the
    interval numpy's search finds (the last point at or below ``x``), then numpy's
    arithmetic (``slope * (x - xp[j]) + fp[j]``, slopes ``(fp[j+1] - fp[j]) / (xp[j+1] -
    xp[j])``) and its special cases, so the same numbers (tested); faster for points
    spaced about evenly, whose interval is guessed rather than searched."""
    xp = np.ascontiguousarray(xp, dtype=np.float64)
    fp = np.ascontiguousarray(fp, dtype=np.float64)
    x = np.asarray(x)
    if xp.shape[0] < 3 or x.dtype not in (np.float32, np.float64) or np.any(np.diff(xp) <= 0):
        return np.asarray(np.interp(x, xp, fp))
    out = np.empty(x.shape, dtype=np.float64)
    if x.size:
        flat = np.ascontiguousarray(x).reshape(-1)
        _in_rows(_interp_jit, flat.shape[0], (0, 3), flat, xp, fp, out.reshape(-1))
    return out


def _row_counts(flags: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    # ``flags`` as bytes: each true flag counts one, without a branch per flag
    for i in range(flags.shape[0]):
        c = 0
        for j in range(flags.shape[1]):
            c += flags[i, j] != 0
        out[i] = c


def _popcount32(x: np.int64) -> np.int64:  # pragma: no cover - compiled
    """Set bits of the low 32 bits of ``x`` (SWAR, no branch)."""
    x = x & 0xFFFFFFFF
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


_popcount32_jit: Any = numba.njit(cache=True, nogil=True, inline="always")(_popcount32)


def _broad_counts(
    ltc: np.ndarray,
    extra: np.ndarray,
    qof: np.ndarray,
    mood_column: int,
    mood_bit: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # ``ltc`` as bytes: counts without a branch per flag or bit
    keep = np.int64(0xFFFFFFFF ^ mood_bit)  # the other bits of the list, counted
    for i in range(ltc.shape[0]):
        c = 0
        for q in qof:
            c += ltc[i, q] != 0
        bits = np.int64(extra[i])
        c += (ltc[i, mood_column] != 0) | ((bits & mood_bit) != 0)
        c += _popcount32_jit(bits & keep)
        out[i] = c


_row_counts_jit: Any = numba.njit(cache=True, nogil=True)(_row_counts)
_broad_counts_jit: Any = numba.njit(cache=True, nogil=True)(_broad_counts)


def row_counts(flags: np.ndarray) -> np.ndarray:
    """``flags.sum(axis=1, dtype=np.int8)`` of a 2-D bool array, in one compiled pass."""
    out = np.empty(flags.shape[0], dtype=np.int8)
    if flags.shape[0]:
        _in_rows(
            _row_counts_jit,
            flags.shape[0],
            (0, 1),
            np.ascontiguousarray(flags, dtype=np.bool_).view(np.uint8),
            out,
        )
    return out


def broad_counts(
    ltc: np.ndarray, extra: np.ndarray, qof: np.ndarray, mood_column: int, mood_bit: int
) -> np.ndarray:
    """Per person: the true ``ltc`` columns ``qof``, one more if ``ltc[:, mood_column]``
    or the ``mood_bit`` of ``extra``, and the other set bits of ``extra`` (int8)."""
    out = np.empty(ltc.shape[0], dtype=np.int8)
    if ltc.shape[0]:
        _in_rows(
            _broad_counts_jit,
            ltc.shape[0],
            (0, 1, 5),
            np.ascontiguousarray(ltc, dtype=np.bool_).view(np.uint8),
            np.ascontiguousarray(extra, dtype=np.uint32),
            np.asarray(qof, dtype=np.int64),
            int(mood_column),
            int(mood_bit),
            out,
        )
    return out


def _indexed_uniforms(
    person_id: np.ndarray, index: np.ndarray, key: np.uint64, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    to_unit = 2.0**-53
    one_index = index.shape[0] == 1
    for i in range(person_id.shape[0]):
        j = index[0] if one_index else index[i]
        z = np.uint64(person_id[i]) * _GOLDEN + np.uint64(j) * _M2 + key
        z = _mix(z)
        out[i] = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit


_indexed_uniforms_jit: Any = numba.njit(cache=True, nogil=True)(_indexed_uniforms)


def indexed_uniforms(key: np.uint64, person_id: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``crn.uniforms(key, person_id, index)`` for 1-D integer ``person_id`` and an index
    per person (or one for all), as one compiled pass."""
    out = np.empty(person_id.shape[0], dtype=np.float64)
    if person_id.shape[0]:
        index = np.ascontiguousarray(index, dtype=np.int64).reshape(-1)
        n = person_id.shape[0]
        _in_rows(
            _indexed_uniforms_jit,
            n,
            (0, 1, 3) if index.shape[0] == n and n > 1 else (0, 3),
            np.ascontiguousarray(person_id, dtype=np.int64),
            index,
            np.uint64(key),
            out,
        )
    return out
