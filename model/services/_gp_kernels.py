"""Compiled loops of general-practice booking (numba), bit for bit the vectorised arithmetic.

``book`` is ``greedy_book`` done as one sequential pass per call instead of sorts, cumulative
sums and a ``searchsorted`` over every request. It reproduces the vectorised version's
floating-point operations in the same order (the global cumulative sums of free minutes and
of durations, the start ``first[best] + (before[j] - before[best])`` of each request), so the
bookings are identical, not merely equal up to rounding. ``add_minutes`` is ``np.add.at`` on
the booked minutes, adding in the order given (as ``np.add.at`` does).

Compiled once per machine and cached beside this file (``cache=True``); where that folder is
not writable numba uses its user-wide cache.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


def _book(
    diary: np.ndarray,
    earliest: np.ndarray,
    minutes: np.ndarray,
    free: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    n = diary.shape[0]
    n_diaries = free.shape[0]
    n_days = free.shape[1]
    total = n_diaries * n_days
    # start of each (diary, day) cell in cumulative free minutes (np.cumsum is sequential)
    start = np.empty(total + 1, dtype=np.float64)
    start[0] = 0.0
    acc = 0.0
    for i in range(n_diaries):
        for t in range(n_days):
            if i == 0 and t == 0:
                acc = free[0, 0]
            else:
                acc = acc + free[i, t]
            start[i * n_days + t + 1] = acc
    # order = np.lexsort((earliest, diary)): stable counting sorts, earliest then diary
    e_max = 0
    for j in range(n):
        if earliest[j] > e_max:
            e_max = earliest[j]
    count = np.zeros(e_max + 2, dtype=np.int64)
    for j in range(n):
        count[earliest[j] + 1] += 1
    for v in range(1, e_max + 2):
        count[v] += count[v - 1]
    by_e = np.empty(n, dtype=np.int64)
    for j in range(n):
        by_e[count[earliest[j]]] = j
        count[earliest[j]] += 1
    count_d = np.zeros(n_diaries + 1, dtype=np.int64)
    for j in range(n):
        count_d[diary[j] + 1] += 1
    for v in range(1, n_diaries + 1):
        count_d[v] += count_d[v - 1]
    order = np.empty(n, dtype=np.int64)
    for p in range(n):
        j = by_e[p]
        order[count_d[diary[j]]] = j
        count_d[diary[j]] += 1
    c = 0.0
    group_csum = 0.0
    prev_d = -1
    best_key = 0.0
    best_first = 0.0
    best_before = 0.0
    for p in range(n):
        j = order[p]
        d = diary[j]
        e = earliest[j]
        m = minutes[j]
        if p == 0:
            c = m
        else:
            c = c + m
        csum = c - m  # durations booked before, over all diaries (np.cumsum(m) - m)
        new_group = d != prev_d
        if new_group:
            group_csum = csum
            prev_d = d
        before = csum - group_csum
        if e >= n_days:
            first = start[(d + 1) * n_days]  # beyond the horizon
        else:
            first = start[d * n_days + e]
        key = first - before
        # the running maximum of the key within the diary, ties to the later request
        if new_group or key >= best_key:
            best_key = key
            best_first = first
            best_before = before
        s = best_first + (before - best_before)
        end_of_diary = start[(d + 1) * n_days]
        # searchsorted(start, s, side="right") - 1
        lo = 0
        hi = total + 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if start[mid] <= s:
                lo = mid + 1
            else:
                hi = mid
        cell = lo - 1
        if s < end_of_diary and cell // n_days == d:
            out[j] = cell % n_days
        else:
            out[j] = -1


def _add_minutes(
    booked: np.ndarray, diary: np.ndarray, column: np.ndarray, minutes: np.ndarray
) -> None:  # pragma: no cover - compiled
    for j in range(diary.shape[0]):
        booked[diary[j], column[j]] += minutes[j]


_book_jit: Any = numba.njit(cache=True, nogil=True)(_book)
_add_minutes_jit: Any = numba.njit(cache=True, nogil=True)(_add_minutes)

#: the largest earliest day booked with the counting sort; beyond it, ``np.lexsort`` order
_MAX_EARLIEST = 1 << 20


def book(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """``greedy_book`` (see there): each request's day, or -1."""
    n = diary.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    diary = np.ascontiguousarray(diary, dtype=np.int64)
    earliest = np.ascontiguousarray(earliest, dtype=np.int64)
    if int(earliest.min()) < 0 or int(earliest.max()) > _MAX_EARLIEST:
        raise ValueError("earliest days must be in 0..2**20")
    if int(diary.min()) < 0 or int(diary.max()) >= free.shape[0]:
        raise ValueError("diary indices must be rows of free")
    _book_jit(
        diary,
        earliest,
        np.ascontiguousarray(minutes, dtype=np.float64),
        np.ascontiguousarray(free, dtype=np.float64),
        out,
    )
    return out


def add_minutes(
    booked: np.ndarray, diary: np.ndarray, column: np.ndarray, minutes: np.ndarray
) -> None:
    """``np.add.at(booked, (diary, column), minutes)``, in the order given."""
    if diary.shape[0] == 0:
        return
    _add_minutes_jit(
        booked,
        np.ascontiguousarray(diary, dtype=np.int64),
        np.ascontiguousarray(column, dtype=np.int64),
        np.ascontiguousarray(minutes, dtype=np.float64),
    )
