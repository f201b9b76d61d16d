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

import numpy as np
from scipy import special

from model.streams import seed_sequence

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53
_NORMAL_FROM = 400.0


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return np.asarray(z ^ (z >> _S31))


def key(seed: int, replication: int, purpose: str, period: int | None = None) -> np.uint64:
    """A 64-bit key for one purpose (e.g. ``"demand.gp"``) in one period of one replication."""
    state = seed_sequence(seed, replication, f"crn.{purpose}", period).generate_state(1, np.uint64)
    return np.uint64(state[0])


def uniforms(k: np.uint64, person_id: np.ndarray, index: np.ndarray | int = 0) -> np.ndarray:
    """Uniform(0, 1) per element, a pure function of (key, person_id, index)."""
    with np.errstate(over="ignore"):
        pid = np.asarray(person_id, dtype=np.uint64)
        idx = np.asarray(index, dtype=np.uint64)
        z = _mix(pid * _GOLDEN + k)
        z = _mix((z + idx * _M2) ^ k)
    u = (z >> _S11).astype(np.float64) * _TO_UNIT
    # keep strictly inside (0, 1) so that log(u) and inverse CDFs stay finite
    return np.asarray(np.clip(u, _TO_UNIT, 1.0 - _TO_UNIT))


def poisson_inverse(rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest ``n`` with ``P(N <= n) >= u`` for ``N ~ Poisson(rate)`` (vectorised).

    Monotone in ``rate`` for a fixed ``u``: the coupling that keeps scenarios paired.
    Above ``_NORMAL_FROM`` events (where ``exp(-rate)`` loses precision and exact inversion
    is slow) the normal approximation ``rate + sqrt(rate) * z(u)`` is used, also monotone.
    """
    rate = np.asarray(rate, dtype=np.float64)
    large = rate > _NORMAL_FROM
    if large.any():
        n = np.zeros(rate.shape, dtype=np.int32)
        n[~large] = poisson_inverse(rate[~large], u[~large])
        z = special.ndtri(u[large])
        n[large] = np.maximum(np.rint(rate[large] + np.sqrt(rate[large]) * z), 0).astype(np.int32)
        return n
    n = np.zeros(rate.shape, dtype=np.int32)
    p = np.exp(-rate)
    cdf = p.copy()
    active = np.flatnonzero(u > cdf)
    k = 0
    while active.size:
        k += 1
        lam = rate[active]
        p_a = p[active] * lam / k
        c_a = cdf[active] + p_a
        p[active] = p_a
        cdf[active] = c_a
        n[active] = k
        still = u[active] > c_a
        # guard against round-off leaving cdf a hair below u for ever
        if k > 10 * (float(lam.max()) + 10):
            break
        active = active[still]
    return n


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and within-row event number for ``counts`` events per row."""
    counts = np.asarray(counts, dtype=np.int64)
    rows = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(rows.size, dtype=np.int64) - np.repeat(starts, counts)
    return rows, within
