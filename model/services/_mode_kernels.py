"""Compiled pass of the levers' shift of GP request modes (numba), giving exactly what its
numpy reference gives.

``shift_modes`` is ``PrimaryCareService._shift_modes`` over the requests of a year (or a
day): for each request whose person's factor (``shift``, the ``gp_online_preference``
modifier) is not 1, the keyed uniforms ``crn.uniforms(key, person id, event number)`` and
``crn.uniforms(to_key, ...)`` (the same SplitMix64 hash) decide whether it turns online (factor
above 1: with probability ``(factor - 1) p / (1 - p)``, ``p`` the segment's online
preference) or from online to face to face or telephone (factor below 1: with probability
``1 - factor``, in the segment's offline proportions), with the same float64 expressions as
``shift_modes_numpy``, so the decisions are the same (tested). One pass, no temporaries over
the requests. Compiled once per machine and cached (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model import crn
from model._kernels import _GOLDEN, _M2, _mix


def shift_modes_numpy(
    key: np.uint64,
    to_key: np.uint64,
    person: np.ndarray,
    pid: np.ndarray,
    k: np.ndarray,
    mode: np.ndarray,
    factor: np.ndarray,
    segment: np.ndarray,
    preference: np.ndarray,
    online: int,
) -> np.ndarray:
    """The numpy reference: ``mode`` (a copy when any changes) of requests of ``person``
    (positions; ids ``pid``, event numbers ``k``) with ``factor`` per request, ``segment``
    per person in the population and ``preference`` (segments x modes)."""
    changed = np.flatnonzero(factor != 1.0)
    if not changed.size:
        return mode
    mode = mode.copy()
    f = factor[changed]
    seg = segment[person[changed]]
    pref = preference[seg]  # (requests, modes)
    p_on = pref[:, online]
    u = crn.uniforms(key, pid[changed], k[changed])
    cur = mode[changed]
    q_up = np.minimum((f - 1.0) * p_on / np.maximum(1.0 - p_on, 1e-12), 1.0)
    up = (f > 1.0) & (cur != online) & (u < q_up)
    down = (f < 1.0) & (cur == online) & (u < 1.0 - f)
    offline = np.maximum(pref[:, 0] + pref[:, 1], 1e-12)
    u2 = crn.uniforms(to_key, pid[changed], k[changed])
    to = np.where(u2 < pref[:, 0] / offline, 0, 1).astype(mode.dtype)
    cur = np.where(up, online, np.where(down, to, cur)).astype(mode.dtype)
    mode[changed] = cur
    return mode


def _uniform(key: np.uint64, pid: np.int64, k: np.int64) -> float:  # pragma: no cover
    # crn.uniforms(key, person id, index)
    z = np.uint64(pid) * _GOLDEN + np.uint64(k) * _M2 + key
    z = _mix(z)
    return (np.float64(z >> np.uint64(11)) + 0.5) * 2.0**-53


_uniform_jit: Any = numba.njit(cache=True, nogil=True, inline="always")(_uniform)


def _shift_modes(
    key: np.uint64,
    to_key: np.uint64,
    person: np.ndarray,
    pid: np.ndarray,
    k: np.ndarray,
    mode: np.ndarray,
    shift: np.ndarray,
    segment: np.ndarray,
    preference: np.ndarray,
    online: int,
    out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    n = person.shape[0]
    n_changed = 0
    for i in range(n):
        p = person[i]
        f = shift[p]
        cur = mode[i]
        out[i] = cur
        if f != 1.0:
            n_changed += 1
            s = segment[p]
            p_on = preference[s, online]
            if f > 1.0:
                if cur != online:
                    u = _uniform_jit(key, pid[i], np.int64(k[i]))
                    q_up = min((f - 1.0) * p_on / max(1.0 - p_on, 1e-12), 1.0)
                    if u < q_up:
                        out[i] = online
            elif f < 1.0:
                if cur == online:
                    u = _uniform_jit(key, pid[i], np.int64(k[i]))
                    if u < 1.0 - f:
                        offline = max(preference[s, 0] + preference[s, 1], 1e-12)
                        u2 = _uniform_jit(to_key, pid[i], np.int64(k[i]))
                        out[i] = 0 if u2 < preference[s, 0] / offline else 1
    return n_changed


_shift_modes_jit: Any = numba.njit(cache=True, nogil=True)(_shift_modes)


def shift_modes(
    key: np.uint64,
    to_key: np.uint64,
    person: np.ndarray,
    pid: np.ndarray,
    k: np.ndarray,
    mode: np.ndarray,
    shift: np.ndarray,
    segment: np.ndarray,
    preference: np.ndarray,
    online: int,
) -> np.ndarray:
    """``shift_modes_numpy`` with the factor of each request ``shift[person]`` (``shift``
    per person in the population), in one compiled pass: ``mode`` itself when no request's
    factor differs from 1, else a new array."""
    if not person.shape[0]:
        return mode
    out = np.empty_like(mode)
    n_changed = _shift_modes_jit(
        np.uint64(key),
        np.uint64(to_key),
        np.ascontiguousarray(person).reshape(-1),
        np.ascontiguousarray(pid, dtype=np.int64).reshape(-1),
        np.ascontiguousarray(k).reshape(-1),
        np.ascontiguousarray(mode).reshape(-1),
        np.ascontiguousarray(shift, dtype=np.float64),
        np.ascontiguousarray(segment),
        np.ascontiguousarray(preference, dtype=np.float64),
        int(online),
        out,
    )
    return out if n_changed else mode


__all__ = ["shift_modes", "shift_modes_numpy"]
