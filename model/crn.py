"""Common random numbers keyed by person: counter-based uniforms and paired Poisson counts.

Scenarios must differ from the baseline only through what their levers change. A shared
sequential stream cannot guarantee that: if one person's number of events changes, every
later draw shifts. Here every uniform is a pure function of
``(seed, replication, purpose, period, person_id, k)`` computed by a counter-based hash
(SplitMix64 finaliser) on numpy ``uint64`` arrays, so:

* the same person gets the same uniforms in every scenario, whatever happens to others;
* a person's event counts are drawn by Poisson *inversion* of a fixed uniform, so a lower
  rate gives the same or fewer events, and the events kept are the first ones, with the
  same days and attributes (maximal coupling);
* nothing depends on the order of people or on the number of workers.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import special

from model import _kernels
from model.streams import seed_sequence

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic), in place on ``z``.

    Callers pass a freshly computed array; working in place halves the temporaries.
    """
    if np.ndim(z) == 0:  # a scalar: no buffer to work in
        z = np.atleast_1d(z)
        return _mix(z)[0]
    t = np.right_shift(z, _S30)
    z ^= t
    z *= _M1
    np.right_shift(z, _S27, out=t)
    z ^= t
    z *= _M2
    np.right_shift(z, _S31, out=t)
    z ^= t
    return z


@functools.lru_cache(maxsize=4096)
def key(seed: int, replication: int, purpose: str, period: int | None = None) -> np.uint64:
    """A 64-bit key for one purpose (e.g. ``"demand.gp"``) in one period of one replication.

    A pure function of its arguments, so it is remembered (services ask for the same keys
    every day).
    """
    state = seed_sequence(seed, replication, f"crn.{purpose}", period).generate_state(1, np.uint64)
    return np.uint64(state[0])


def uniforms(k: np.uint64, person_id: np.ndarray, index: np.ndarray | int = 0) -> np.ndarray:
    """Uniform(0, 1) per element, a pure function of (key, person_id, index).

    One SplitMix64 finalisation of ``person_id * golden + index * M2 + key`` (wrapping
    uint64 arithmetic); the top 53 bits, offset by half a step, give a double strictly
    inside (0, 1).
    """
    ids = np.asarray(person_id)
    idx = np.asarray(index)
    if (
        ids.ndim == 1
        and ids.dtype.kind in "iu"
        and idx.dtype.kind in "iu"
        and (idx.ndim == 0 or idx.shape == ids.shape)
    ):
        # one compiled pass, the same arithmetic (``uniforms_numpy``)
        return _kernels.indexed_uniforms(k, ids, idx)
    return uniforms_numpy(k, person_id, index)


def uniforms_numpy(k: np.uint64, person_id: np.ndarray, index: np.ndarray | int = 0) -> np.ndarray:
    """``uniforms`` in numpy (the reference its compiled pass is tested against)."""
    with np.errstate(over="ignore"):
        z = np.asarray(person_id).astype(np.uint64) * _GOLDEN
        if np.ndim(index) or index:
            z += np.asarray(index).astype(np.uint64) * _M2
        z += k
        z = _mix(z)
    return ((z >> _S11).astype(np.float64) + 0.5) * _TO_UNIT


_SMALL_RATE = 12.0


def _poisson_inverse_small(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inversion by summing the Poisson probabilities (fast for small rates)."""
    n = np.zeros(rate.shape, dtype=np.int32)
    p = np.exp(-rate)
    cdf = p.copy()
    active = np.flatnonzero(u > cdf)
    k = 0
    while active.size:
        k += 1
        p_a = p[active] * rate[active] / k
        c_a = cdf[active] + p_a
        p[active] = p_a
        cdf[active] = c_a
        n[active] = k
        active = active[u[active] > c_a]
        if k > 20 * (_SMALL_RATE + 10):  # round-off guard: cdf a hair below u for ever
            break
    return n


def _poisson_small(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``_poisson_inverse_small`` as a compiled loop (the same operations per element)."""
    if rate.ndim != 1:
        return _poisson_inverse_small(rate, u)
    return _kernels.poisson_small(rate, u, int(20 * (_SMALL_RATE + 10)))


def _poisson_inverse_large(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A Cornish-Fisher start corrected with the exact Poisson CDF (``pdtr``)."""
    z = special.ndtri(u)
    n = np.maximum(np.floor(rate + np.sqrt(rate) * z + (z * z - 1.0) / 6.0), 0.0)
    todo = np.arange(rate.size)
    for _ in range(200):
        if not todo.size:
            break
        r, v, m = rate[todo], u[todo], n[todo]
        up = special.pdtr(m, r) < v  # CDF at n too small: move up
        down = ~up & (m > 0) & (special.pdtr(m - 1.0, r) >= v)  # n - 1 already enough
        n[todo] = m + up - down
        todo = todo[up | down]
    return n.astype(np.int32)


def poisson_inverse(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest ``n`` with ``P(N <= n) >= u`` for ``N ~ Poisson(rate)`` (vectorised).

    Monotone in ``rate`` for a fixed ``u``: the coupling that keeps scenarios paired.
    Small rates sum the probabilities; large ones correct a Cornish-Fisher start with the
    exact CDF. Both give the exact quantile.
    """
    rate = np.asarray(rate, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if rate.ndim != 1:
        large = rate > _SMALL_RATE
        n = np.zeros(rate.shape, dtype=np.int32)
        n[~large] = _poisson_small(rate[~large], u[~large])
        n[large] = _poisson_inverse_large(rate[large], u[large])
        return n
    # the small rates in place (the compiled pass skips the large ones), then the large,
    # each in a compiled pass (the numpy versions' counts, tested)
    return _kernels.poisson(
        rate, u, int(20 * (_SMALL_RATE + 10)), _SMALL_RATE, _pdtr(), special.ndtri
    )


@functools.cache
def _pdtr() -> Any:
    """scipy's ``pdtr`` (the Poisson CDF ``special.pdtr`` computes) as a C function the
    compiled loops can call: ``pdtr(k, rate, 0)``."""
    import ctypes

    from numba.extending import get_cython_function_address

    address = get_cython_function_address("scipy.special.cython_special", "pdtr")
    signature = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int)
    return signature(address)


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and within-row event number (0, 1, ...) for ``counts`` events per row."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    rows = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
    within = np.ones(total, dtype=np.int32)
    nonzero = counts[counts > 0]
    if total:
        within[0] = 0
        starts = np.cumsum(nonzero)[:-1]
        within[starts] = (1 - nonzero[:-1]).astype(np.int32)
        np.cumsum(within, out=within)
    return rows, within


def _event_hash(
    k: np.uint64, person_id: np.ndarray, rows: np.ndarray, index: np.ndarray
) -> np.ndarray:
    with np.errstate(over="ignore"):
        base = np.asarray(person_id).astype(np.uint64) * _GOLDEN + k
        z = base[rows] + np.asarray(index).astype(np.uint64) * _M2
        return _mix(z)


def event_uniforms(
    k: np.uint64, person_id: np.ndarray, rows: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """``uniforms(k, person_id[rows], index)``, hashing each person's part only once."""
    z = _event_hash(k, person_id, rows, index)
    return ((z >> _S11).astype(np.float64) + 0.5) * _TO_UNIT


def event_days(
    k: np.uint64, person_id: np.ndarray, rows: np.ndarray, index: np.ndarray, days: int
) -> np.ndarray:
    """A day 0..days-1 per event from the top 16 bits of one hash (int16).

    ``floor(word * days / 65536)``: each day gets 179 or 180 of the 65,536 words (for 365
    days), a non-uniformity below 0.6 %, and no floating point.
    """
    z = _event_hash(k, person_id, rows, index)
    top = z.astype("<u8", copy=False).view("<u2").reshape(-1, 4)[:, 3]
    return ((top.astype(np.uint32) * np.uint32(days)) >> np.uint32(16)).astype(np.int16)


def event_uniforms16(
    k: np.uint64, person_id: np.ndarray, rows: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Four independent uniforms of 16-bit resolution from one hash per event.

    For yes/no decisions and categories (probabilities far above 1/65536) a 16-bit
    uniform is as good as a 53-bit one and four of them cost one hash.
    """
    z = _event_hash(k, person_id, rows, index)
    # the four 16-bit words of each hash (bits 0-15, 16-31, 32-47, 48-63)
    words = z.astype("<u8", copy=False).view("<u2").reshape(-1, 4)
    out = []
    for j in range(4):
        part = words[:, j].astype(np.float32)
        part += np.float32(0.5)
        part *= np.float32(1.0 / 65536.0)
        out.append(part)
    return out[0], out[1], out[2], out[3]
