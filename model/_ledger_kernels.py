"""Compiled counting of ledger records (numba): histograms added to in one pass per call.

Each function adds one to a cell of an int64 histogram per record, as ``np.bincount`` of the
cells computed with numpy would (whole counts, so the order of adding does not matter), but
without the temporaries: the cells of a person code (``model.strata.person_code``) are
found with the same integer divisions as ``Ledger`` applies in numpy. A cell outside its
histogram is refused (the caller raises), as ``np.bincount`` with ``minlength`` would fail
to add. Compiled once per machine and cached (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model.strata import (
    LTC_BANDS,
    N_BRIDGES,
    N_CODES,
    N_EXTRA,
    N_IMD,
    N_LEVELS,
    N_SEGMENTS,
    N_STRATA,
)

#: person-code values of one IMD quintile (segment, activation level and LTC band inside it)
_PER_IMD = N_SEGMENTS * N_LEVELS * len(LTC_BANDS)


def _add_codes(
    codes: np.ndarray, by_stratum: np.ndarray, by_bridges: np.ndarray
) -> int:  # pragma: no cover - compiled
    for i in range(codes.shape[0]):
        c = np.int64(codes[i])
        if c < 0 or c >= N_CODES:
            return -1
        by_stratum[c // N_EXTRA] += 1
        by_bridges[c % N_BRIDGES] += 1
    return 0


def _add_keys(
    keys: np.ndarray, labels: int, by_stratum: np.ndarray, by_bridges: np.ndarray
) -> int:  # pragma: no cover - compiled
    for i in range(keys.shape[0]):
        key = np.int64(keys[i])
        code = key // N_CODES
        person = key - code * N_CODES
        if key < 0 or code >= labels:
            return -1
        by_stratum[code * N_STRATA + person // N_EXTRA] += 1
        by_bridges[code * N_BRIDGES + person % N_BRIDGES] += 1
    return 0


def _add_waits(
    codes: np.ndarray, booking: np.ndarray, band: np.ndarray, bands: int, counts: np.ndarray
) -> int:  # pragma: no cover - compiled
    size = counts.shape[0]
    with_booking = booking.shape[0] > 0
    for i in range(codes.shape[0]):
        stratum = np.int64(codes[i]) // N_EXTRA
        segment = stratum % N_SEGMENTS
        imd = stratum // _PER_IMD % N_IMD
        kind = np.int64(booking[i]) if with_booking else 0
        cell = ((kind * N_SEGMENTS + segment) * N_IMD + imd) * bands + np.int64(band[i])
        if codes[i] < 0 or cell < 0 or cell >= size:
            return -1
        counts[cell] += 1
    return 0


_add_codes_jit: Any = numba.njit(cache=True, nogil=True)(_add_codes)
_add_keys_jit: Any = numba.njit(cache=True, nogil=True)(_add_keys)
_add_waits_jit: Any = numba.njit(cache=True, nogil=True)(_add_waits)


def add_codes(codes: np.ndarray, by_stratum: np.ndarray, by_bridges: np.ndarray) -> None:
    """One record per person code: ``by_stratum[code // N_EXTRA]`` and
    ``by_bridges[code % N_BRIDGES]`` each add one."""
    if codes.shape[0] and _add_codes_jit(np.ascontiguousarray(codes), by_stratum, by_bridges):
        raise ValueError("person codes must be in 0..N_CODES - 1")


def add_keys(keys: np.ndarray, labels: int, by_stratum: np.ndarray, by_bridges: np.ndarray) -> None:
    """One record per key ``code * N_CODES + person code`` (``code`` < ``labels``):
    ``by_stratum[code * N_STRATA + person // N_EXTRA]`` and ``by_bridges[code * N_BRIDGES +
    person % N_BRIDGES]`` each add one."""
    if keys.shape[0] and _add_keys_jit(np.ascontiguousarray(keys), labels, by_stratum, by_bridges):
        raise ValueError("ledger keys must be code * N_CODES + person code with a known code")


def add_waits(
    codes: np.ndarray, booking: np.ndarray | None, band: np.ndarray, bands: int, counts: np.ndarray
) -> None:
    """One record per wait: the cell ``((booking * N_SEGMENTS + segment) * N_IMD + imd) *
    bands + band`` of the person code's segment and IMD quintile (booking 0 if None)."""
    if not codes.shape[0]:
        return
    kinds = np.empty(0, dtype=np.int64) if booking is None else np.ascontiguousarray(booking)
    band = np.ascontiguousarray(band)
    if _add_waits_jit(np.ascontiguousarray(codes), kinds, band, bands, counts):
        raise ValueError("wait cells must be within the wait distribution")


def _add_days(waits: np.ndarray, counts: np.ndarray) -> int:  # pragma: no cover - compiled
    size = counts.shape[0]
    for i in range(waits.shape[0]):
        w = np.float64(waits[i])
        if not (w >= 0.0 and w < size) or w != np.floor(w):
            return -1
    for i in range(waits.shape[0]):
        counts[np.int64(waits[i])] += 1
    return 0


_add_days_jit: Any = numba.njit(cache=True, nogil=True)(_add_days)

#: waits from this many days on are refused (``add_days_growing``)
_MAX_WAIT_DAYS = 2**31


def _add_days_growing(waits: np.ndarray, counts: np.ndarray) -> int:  # pragma: no cover
    """``_add_days`` that also finds the largest wait: -2 (nothing counted) if a wait is
    not a whole number of days from 0 to ``2**31 - 1``; the largest wait (nothing counted)
    if it is beyond ``counts``; otherwise counts them and returns -1."""
    size = counts.shape[0]
    top = 0.0
    for i in range(waits.shape[0]):
        w = np.float64(waits[i])
        if not (w >= 0.0 and w < _MAX_WAIT_DAYS) or w != np.floor(w):
            return -2
        if w > top:
            top = w
    if top >= size:
        return int(top)
    for i in range(waits.shape[0]):
        counts[np.int64(waits[i])] += 1
    return -1


def _add_days_growing_int(waits: np.ndarray, counts: np.ndarray) -> int:  # pragma: no cover
    """``_add_days_growing`` of integer waits (the check and the largest without a branch
    per wait)."""
    size = counts.shape[0]
    top = np.int64(0)
    bottom = np.int64(0)
    for i in range(waits.shape[0]):
        w = np.int64(waits[i])
        top = max(top, w)
        bottom = min(bottom, w)
    if bottom < 0 or top >= _MAX_WAIT_DAYS:
        return -2
    if top >= size:
        return int(top)
    for i in range(waits.shape[0]):
        counts[np.int64(waits[i])] += 1
    return -1


_add_days_growing_jit: Any = numba.njit(cache=True, nogil=True)(_add_days_growing)
_add_days_growing_int_jit: Any = numba.njit(cache=True, nogil=True)(_add_days_growing_int)


def add_days_growing(waits: np.ndarray, counts: np.ndarray) -> tuple[bool, int]:
    """Count whole-day waits into ``counts`` (by day) if they fit: (True, -1) when
    counted; (True, largest wait) when one is beyond ``counts`` (nothing counted: grow it
    and count again); (False, -1), counting nothing, if a wait is not a whole number of
    days from 0 to ``2**31 - 1``. One pass for the check and the largest, instead of a
    ``np.max`` before ``add_days``."""
    if not waits.shape[0]:
        return True, -1
    if waits.dtype.kind in "iu" and waits.dtype.itemsize <= 4:
        status = int(_add_days_growing_int_jit(np.ascontiguousarray(waits), counts))
    else:
        if waits.dtype.kind not in "iu":
            waits = waits.astype(np.float64, copy=False)
        status = int(_add_days_growing_jit(np.ascontiguousarray(waits), counts))
    if status == -2:
        return False, -1
    return True, status


def add_days(waits: np.ndarray, counts: np.ndarray) -> bool:
    """Count whole-day waits into ``counts`` (by day); False, counting nothing, if a wait
    is not a whole number of days from 0 to ``counts.size - 1``."""
    if not waits.shape[0]:
        return True
    if waits.dtype.kind not in "iu":
        waits = waits.astype(np.float64, copy=False)
    return bool(_add_days_jit(np.ascontiguousarray(waits), counts) == 0)
