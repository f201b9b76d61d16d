"""The GP diary: the appointments booked for each day ahead, in a ring of chunked lists.

Every practice's appointments for one absolute day sit in that day's *slot* of a ring of
``horizon`` slots (``day % horizon``), as a list of fixed-size chunks of records; a record
is one appointment (the request's columns and the day it was booked on). Records are
appended in the order they are booked and read back in that order, as the per-day lists of
request columns they replace were; a day's chunks return to a free list when the day has
happened. Appending, reading a day and re-indexing people at a year boundary are compiled
(numba) passes over the chunks, so a day costs no Python work per booking.

``Diary`` holds the arrays; the compiled functions take them as two tuples, ``links``
(chunk and slot bookkeeping) and ``store`` (the record columns, ``FIELDS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

#: records per chunk
CHUNK = 1024
#: roles per practice (gp, nurse, other): a diary is practice * N_ROLES + role (a constant,
#: so that the compiled passes divide by it cheaply; ``primary_care.ROLES`` has this length)
N_ROLES = 3
#: the record columns, in the order of ``Diary.store``: a request's columns (those of
#: ``primary_care._empty_requests``) and the (absolute) day the appointment was booked on
FIELDS: tuple[tuple[str, type[np.generic]], ...] = (
    ("idx", np.int32),
    ("id", np.int64),
    ("k", np.int32),
    ("kind", np.int8),
    ("lead", np.int16),
    ("diary", np.int32),
    ("mode", np.int8),
    ("attempt", np.int8),
    ("booked_on", np.int32),
)
REQUEST_FIELDS = tuple(name for name, _ in FIELDS[:-1])

# links: (chunk_next, chunk_fill, slot_head, slot_tail, slot_count, slot_day, free, state);
# state[0] is the number of free chunks (the top of the ``free`` stack)
_NEXT, _FILL, _HEAD, _TAIL, _COUNT, _DAY, _FREE, _STATE = range(8)


def _append(
    links: Any,
    store: Any,
    req: Any,
    rows: np.ndarray,
    day: np.ndarray,
    booked_on: np.ndarray,
    minutes: np.ndarray,
    booked_minutes: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Append requests ``rows`` (positions in the request columns ``req``) to the slots of
    their days, in the order given, adding their minutes to ``booked_minutes`` (diary, ring
    column) in the same order; returns the records appended, or -1 if a slot holds another
    day or the free chunks ran out (the caller reserves enough, ``Diary.reserve``)."""
    chunk_next, chunk_fill = links[_NEXT], links[_FILL]
    slot_head, slot_tail, slot_count, slot_day = (
        links[_HEAD],
        links[_TAIL],
        links[_COUNT],
        links[_DAY],
    )
    free, state = links[_FREE], links[_STATE]
    horizon = slot_head.shape[0]
    s_idx, s_id, s_k, s_kind, s_lead, s_diary, s_mode, s_attempt, s_booked = store
    r_idx, r_id, r_k, r_kind, r_lead, r_diary, r_mode, r_attempt = req
    for j in range(rows.shape[0]):
        r = rows[j]
        d = day[j]
        s = d % horizon
        if slot_count[s] == 0:
            slot_day[s] = d
        elif slot_day[s] != d:
            return -1
        tail = slot_tail[s]
        if tail < 0 or chunk_fill[tail] == CHUNK:
            if state[0] == 0:
                return -1
            state[0] -= 1
            c = free[state[0]]
            chunk_next[c] = -1
            chunk_fill[c] = 0
            if tail < 0:
                slot_head[s] = c
            else:
                chunk_next[tail] = c
            slot_tail[s] = c
            tail = c
        at = tail * CHUNK + chunk_fill[tail]
        chunk_fill[tail] += 1
        slot_count[s] += 1
        dia = r_diary[r]
        s_idx[at] = r_idx[r]
        s_id[at] = r_id[r]
        s_k[at] = r_k[r]
        s_kind[at] = r_kind[r]
        s_lead[at] = r_lead[r]
        s_diary[at] = dia
        s_mode[at] = r_mode[r]
        s_attempt[at] = r_attempt[r]
        s_booked[at] = booked_on[j]
        # np.add.at(booked_minutes, (diary, day % horizon), durations), in this order
        booked_minutes[dia, s] += minutes[dia % N_ROLES, r_mode[r]]
    return rows.shape[0]


def _release(links: Any, s: int) -> None:  # pragma: no cover - compiled
    """Return slot ``s``'s chunks to the free list and empty it."""
    chunk_next, free, state = links[_NEXT], links[_FREE], links[_STATE]
    c = links[_HEAD][s]
    while c >= 0:
        free[state[0]] = c
        state[0] += 1
        c = chunk_next[c]
    links[_HEAD][s] = -1
    links[_TAIL][s] = -1
    links[_COUNT][s] = 0
    links[_DAY][s] = -1


def _gather(links: Any, column: np.ndarray, s: int, out: np.ndarray) -> None:  # pragma: no cover
    """Slot ``s``'s values of one record column, in booking order."""
    chunk_next, chunk_fill = links[_NEXT], links[_FILL]
    c = links[_HEAD][s]
    n = 0
    while c >= 0:
        base = c * CHUNK
        for q in range(chunk_fill[c]):
            out[n] = column[base + q]
            n += 1
        c = chunk_next[c]


def _positions(links: Any, s: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Slot ``s``'s record positions in the store, in booking order."""
    chunk_next, chunk_fill = links[_NEXT], links[_FILL]
    c = links[_HEAD][s]
    n = 0
    while c >= 0:
        base = c * CHUNK
        for q in range(chunk_fill[c]):
            out[n] = base + q
            n += 1
        c = chunk_next[c]


def _remap(links: Any, store: Any, found: np.ndarray) -> int:  # pragma: no cover - compiled
    """Re-index every record: ``found`` holds the new position of each record's person in
    slot order then booking order (``Diary.records`` order), -1 if they left; records of
    people who left are dropped, the others keep their order. Returns the records kept."""
    chunk_next, chunk_fill = links[_NEXT], links[_FILL]
    slot_head, slot_tail, slot_count = links[_HEAD], links[_TAIL], links[_COUNT]
    free, state = links[_FREE], links[_STATE]
    s_idx, s_id, s_k, s_kind, s_lead, s_diary, s_mode, s_attempt, s_booked = store
    at = 0
    kept_all = 0
    for s in range(slot_head.shape[0]):
        if slot_count[s] == 0:
            continue
        # read and write pointers over the slot's chunk list (writes never pass reads)
        wc = slot_head[s]
        wq = 0
        c = wc
        kept = 0
        while c >= 0:
            base = c * CHUNK
            for q in range(chunk_fill[c]):
                new = found[at]
                at += 1
                if new < 0:
                    continue
                if wq == CHUNK:
                    wc = chunk_next[wc]
                    wq = 0
                src = base + q
                dst = wc * CHUNK + wq
                s_idx[dst] = new
                s_id[dst] = s_id[src]
                s_k[dst] = s_k[src]
                s_kind[dst] = s_kind[src]
                s_lead[dst] = s_lead[src]
                s_diary[dst] = s_diary[src]
                s_mode[dst] = s_mode[src]
                s_attempt[dst] = s_attempt[src]
                s_booked[dst] = s_booked[src]
                wq += 1
                kept += 1
            c = chunk_next[c]
        slot_count[s] = kept
        kept_all += kept
        if kept == 0:
            _release_jit(links, s)
            continue
        # chunks after the write chunk go back to the free list
        c = chunk_next[wc]
        while c >= 0:
            free[state[0]] = c
            state[0] += 1
            c = chunk_next[c]
        chunk_next[wc] = -1
        chunk_fill[wc] = wq
        slot_tail[s] = wc
    return kept_all


def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:  # pragma: no cover - compiled
    """``np.sum(a[lo:lo + n])`` exactly: numpy's pairwise summation (blocks of 128 summed
    with eight accumulators, halves split at multiples of eight), from 0.0."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        whole = n - n % 8
        while i < whole:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum_jit(a, lo, half) + _pairwise_sum_jit(a, lo + half, n - half)


_release_jit: Any = numba.njit(cache=True, nogil=True)(_release)
_pairwise_sum_jit: Any = numba.njit(cache=True, nogil=True)(_pairwise_sum)
_append_jit: Any = numba.njit(cache=True, nogil=True)(_append)
_gather_jit: Any = numba.njit(cache=True, nogil=True)(_gather)
_positions_jit: Any = numba.njit(cache=True, nogil=True)(_positions)
_remap_jit: Any = numba.njit(cache=True, nogil=True)(_remap)


def pairwise_sum(values: np.ndarray) -> float:
    """``float(np.sum(values))`` of a float64 array, computed as numpy does (tested)."""
    a = np.ascontiguousarray(values, dtype=np.float64)
    return 0.0 + float(_pairwise_sum_jit(a, 0, a.shape[0]))


class Diary:
    """Appointments booked for the days ahead, by absolute day (a ring of ``horizon``
    slots of chunked record lists).

    A mapping-like view for reading: ``day in diary``, ``diary.get(day).take()`` (the
    day's records as columns, in booking order), ``iter(diary)`` (days with appointments),
    ``len(diary)``; ``size`` is the number of appointments held.
    """

    def __init__(self, horizon: int, chunks: int = 64) -> None:
        self.horizon = int(horizon)
        self.links: tuple[np.ndarray, ...] = (
            np.full(chunks, -1, dtype=np.int32),  # next chunk of the slot
            np.zeros(chunks, dtype=np.int32),  # records in the chunk
            np.full(self.horizon, -1, dtype=np.int32),  # first chunk of each slot
            np.full(self.horizon, -1, dtype=np.int32),  # last chunk of each slot
            np.zeros(self.horizon, dtype=np.int64),  # records in each slot
            np.full(self.horizon, -1, dtype=np.int64),  # the absolute day each slot holds
            np.arange(chunks, dtype=np.int32)[::-1].copy(),  # free chunks (a stack)
            np.array([chunks], dtype=np.int64),  # free chunks on the stack
        )
        self.store: tuple[np.ndarray, ...] = tuple(
            np.zeros(chunks * CHUNK, dtype=dtype) for _, dtype in FIELDS
        )

    # ---------------------------------------------------------------- writing
    @property
    def n_chunks(self) -> int:
        return int(self.links[_NEXT].shape[0])

    def reserve(self, records: int) -> None:
        """Make sure ``records`` more records fit, whichever slots they go to."""
        need = -(-records // CHUNK) + min(records, self.horizon)
        free = int(self.links[_STATE][0])
        if free >= need:
            return
        old = self.n_chunks
        new = max(2 * old, old + need - free)
        nxt, fill, head, tail, count, day, stack, _ = self.links
        grown_stack = np.empty(new, dtype=np.int32)
        grown_stack[:free] = stack[:free]
        added = np.arange(old, new, dtype=np.int32)[::-1]
        grown_stack[free : free + added.size] = added
        self.links = (
            np.concatenate([nxt, np.full(new - old, -1, dtype=np.int32)]),
            np.concatenate([fill, np.zeros(new - old, dtype=np.int32)]),
            head,
            tail,
            count,
            day,
            grown_stack,
            np.array([free + added.size], dtype=np.int64),
        )
        self.store = tuple(
            np.concatenate([col, np.zeros((new - old) * CHUNK, dtype=col.dtype)])
            for col in self.store
        )

    def append(
        self,
        req: dict[str, np.ndarray],
        rows: np.ndarray,
        day: np.ndarray,
        booked_on: np.ndarray,
        minutes: np.ndarray,
        booked_minutes: np.ndarray,
    ) -> None:
        """Book requests ``rows`` of ``req`` on absolute days ``day`` (booked on
        ``booked_on``), in the order given, and add their minutes (``minutes[role, mode]``,
        role ``diary % N_ROLES``) to ``booked_minutes`` (diary, ``day % horizon``) in that
        order."""
        n = int(rows.shape[0])
        if n == 0:
            return
        self.reserve(n)
        done = _append_jit(
            self.links,
            self.store,
            request_columns(req),
            np.ascontiguousarray(rows, dtype=np.int64),
            np.ascontiguousarray(day, dtype=np.int64),
            np.ascontiguousarray(booked_on, dtype=np.int64),
            np.ascontiguousarray(minutes, dtype=np.float64),
            booked_minutes,
        )
        if done < 0:
            raise RuntimeError("GP diary: a day beyond the horizon was booked")

    def release(self, day: int) -> None:
        """Forget the appointments of ``day`` (after they happened)."""
        s = int(day) % self.horizon
        if self.links[_DAY][s] == day:
            _release_jit(self.links, s)

    # ---------------------------------------------------------------- reading
    @property
    def size(self) -> int:
        """Appointments held."""
        return int(self.links[_COUNT].sum())

    def count(self, day: int) -> int:
        """Appointments booked for ``day``."""
        s = int(day) % self.horizon
        return int(self.links[_COUNT][s]) if self.links[_DAY][s] == day else 0

    def slot(self, day: int) -> int:
        """Ring slot of ``day``, or -1 if it holds no appointments for that day."""
        s = int(day) % self.horizon
        return s if self.links[_COUNT][s] > 0 and self.links[_DAY][s] == day else -1

    def positions(self, day: int) -> np.ndarray:
        """The store positions of ``day``'s appointments, in booking order (int64)."""
        out = np.empty(self.count(day), dtype=np.int64)
        if out.size:
            _positions_jit(self.links, self.slot(day), out)
        return out

    def columns(self, day: int) -> dict[str, np.ndarray]:
        """The appointments of ``day`` as columns (``FIELDS``), in booking order."""
        s = self.slot(day)
        n = self.count(day)
        out = {}
        for (name, dtype), col in zip(FIELDS, self.store, strict=True):
            values = np.empty(n, dtype=dtype)
            if n:
                _gather_jit(self.links, col, s, values)
            out[name] = values
        return out

    def days(self) -> list[int]:
        """Days with appointments, in ring order."""
        count, day = self.links[_COUNT], self.links[_DAY]
        return [int(day[s]) for s in np.flatnonzero(count > 0)]

    def records(self, name: str) -> np.ndarray:
        """One column of every appointment held, slot by slot in ring order, each in
        booking order (the order ``remap`` expects)."""
        count = self.links[_COUNT]
        parts = [np.empty(0, dtype=dict(FIELDS)[name])]
        col = self.store[[n for n, _ in FIELDS].index(name)]
        for s in np.flatnonzero(count > 0):
            values = np.empty(int(count[s]), dtype=col.dtype)
            _gather_jit(self.links, col, int(s), values)
            parts.append(values)
        return np.concatenate(parts)

    def remap(self, found: np.ndarray) -> None:
        """Re-index people (``found`` in ``records`` order: new position, -1 if gone)."""
        if found.size:
            _remap_jit(self.links, self.store, np.ascontiguousarray(found, dtype=np.int64))

    # ---------------------------------------------------------------- mapping view
    def get(self, day: int) -> _Day | None:
        return _Day(self, day) if self.slot(day) >= 0 else None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, (int, np.integer)) and self.slot(int(day)) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.days())

    def __len__(self) -> int:
        return int((self.links[_COUNT] > 0).sum())

    def items(self) -> list[tuple[int, _Day]]:
        return [(d, _Day(self, d)) for d in self.days()]

    def values(self) -> list[_Day]:
        return [_Day(self, d) for d in self.days()]


class _Day:
    """One day of a diary, read on demand (``take``: its records as columns)."""

    def __init__(self, diary: Diary, day: int) -> None:
        self.diary = diary
        self.day = day

    def take(self) -> dict[str, np.ndarray]:
        return self.diary.columns(self.day)


def request_columns(req: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """A request's columns (``REQUEST_FIELDS``) in the record's types, as the compiled
    passes take them."""
    return tuple(np.ascontiguousarray(req[name], dtype=dtype) for name, dtype in FIELDS[:-1])


__all__ = ["CHUNK", "FIELDS", "N_ROLES", "Diary", "pairwise_sum", "request_columns"]
