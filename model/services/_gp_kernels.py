"""Compiled loops of general practice (numba), bit for bit the vectorised arithmetic.

``book`` is ``greedy_book`` done as one sequential pass per call instead of sorts, cumulative
sums and a ``searchsorted`` over every request. It reproduces the vectorised version's
floating-point operations in the same order (the global cumulative sums of free minutes and
of durations, the start ``first[best] + (before[j] - before[best])`` of each request), so the
bookings are identical, not merely equal up to rounding. ``attend_day`` is a day of
appointments read from the diary (``gp_diary``): who is alive, the wait, DNA and the tallies;
``book_today``, ``offer_and_draw`` and ``settle`` are same-day booking, the advance offers
with their uniforms, and how each offer ends; ``decide`` is the requests' decisions at the
year start. Each makes the decisions of the numpy expressions in its docstring
(``tests/test_gp_kernels.py`` and ``tests/test_booking.py`` check them against numpy
references).

Loops that read per-person arrays at random positions (the people of the day's requests)
read them first in a loop of loads only, then compute: loads in a tight loop overlap,
whereas amid the hashing and branching each waits for memory in turn (several times slower
at a million people).

Compiled once per machine and cached beside this file (``cache=True``); where that folder is
not writable numba uses its user-wide cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from model import threads
from model._kernels import _GOLDEN, _M2, _mix, people_chunks
from model.services import gp_diary


def _start_of(free: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Start of each (diary, day) cell in cumulative free minutes (np.cumsum is sequential)."""
    n_diaries = free.shape[0]
    n_days = free.shape[1]
    start = np.empty(n_diaries * n_days + 1, dtype=np.float64)
    start[0] = 0.0
    acc = 0.0
    for i in range(n_diaries):
        for t in range(n_days):
            if i == 0 and t == 0:
                acc = free[0, 0]
            else:
                acc = acc + free[i, t]
            start[i * n_days + t + 1] = acc
    return start


def _start_ahead(
    day_cap: np.ndarray, working: np.ndarray, booked: np.ndarray, first_col: int
) -> np.ndarray:  # pragma: no cover - compiled
    """``_start_of`` the free advance minutes: max(outer(day_cap, working) - booked, 0),
    booked taken from the ring's columns from ``first_col`` on."""
    n_diaries = day_cap.shape[0]
    n_days = working.shape[0]
    ring = booked.shape[1]
    start = np.empty(n_diaries * n_days + 1, dtype=np.float64)
    start[0] = 0.0
    acc = 0.0
    first = first_col % ring
    at = 1
    for i in range(n_diaries):
        col = first  # the ring column of day t, (first_col + t) % ring, without a division
        for t in range(n_days):
            cap = day_cap[i] * (1.0 if working[t] else 0.0)
            f = cap - booked[i, col]
            col += 1
            if col == ring:
                col = 0
            if not f > 0.0:  # np.maximum(f, 0.0) (no NaN here)
                f = 0.0
            if at == 1:
                acc = f
            else:
                acc = acc + f
            start[at] = acc
            at += 1
    return start


def _book_start(
    diary: np.ndarray,
    earliest: np.ndarray,
    minutes: np.ndarray,
    start: np.ndarray,
    n_diaries: int,
    n_days: int,
    out: np.ndarray,
    monotone: bool,
) -> None:  # pragma: no cover - compiled
    """Each request's day (column) or -1, from the cumulative free minutes ``start``
    (``monotone``: known non-decreasing, as the free minutes of the ring are never
    negative)."""
    n = diary.shape[0]
    total = n_diaries * n_days
    cur = 0
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
        # searchsorted(start, s, side="right") - 1, within the diary's cells when s is in
        # them (start[d * n_days] <= s; a cell found beyond them fails s < end_of_diary)
        lo = d * n_days
        hi = (d + 1) * n_days + 1
        if monotone and start[lo] <= s:
            # the last cell of the diary starting at or before s, stepped to from the
            # previous request's (s moves little from one request of a diary to the next):
            # with ``start`` non-decreasing, the binary search's answer
            if new_group:
                cur = lo
            while cur > lo and start[cur] > s:
                cur -= 1
            while cur + 1 < hi and start[cur + 1] <= s:
                cur += 1
            if s < end_of_diary and cur < hi - 1:
                out[j] = cur - lo
            else:
                out[j] = -1
            continue
        if start[lo] > s:
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


_start_of_jit: Any = numba.njit(cache=True, nogil=True)(_start_of)
_start_ahead_jit: Any = numba.njit(cache=True, nogil=True)(_start_ahead)
_book_start_jit: Any = numba.njit(cache=True, nogil=True)(_book_start)


def _book(
    diary: np.ndarray,
    earliest: np.ndarray,
    minutes: np.ndarray,
    free: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    start = _start_of_jit(free)
    _book_start_jit(diary, earliest, minutes, start, free.shape[0], free.shape[1], out, False)


def _book_ahead(
    diary: np.ndarray,
    earliest: np.ndarray,
    minutes: np.ndarray,
    day_cap: np.ndarray,
    working: np.ndarray,
    booked: np.ndarray,
    first_col: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    start = _start_ahead_jit(day_cap, working, booked, first_col)
    n_days = working.shape[0]
    _book_start_jit(diary, earliest, minutes, start, day_cap.shape[0], n_days, out, True)


_book_jit: Any = numba.njit(cache=True, nogil=True)(_book)
_book_ahead_jit: Any = numba.njit(cache=True, nogil=True)(_book_ahead)

#: the largest earliest day booked with the counting sort; beyond it, ``np.lexsort`` order
_MAX_EARLIEST = 1 << 20


def _checked(diary: np.ndarray, earliest: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Requests' diaries and earliest days as int64, checked before a compiled pass reads
    them: days in 0..2**20, diaries among the ``rows`` of the free minutes."""
    diary = np.ascontiguousarray(diary, dtype=np.int64)
    earliest = np.ascontiguousarray(earliest, dtype=np.int64)
    if int(earliest.min()) < 0 or int(earliest.max()) > _MAX_EARLIEST:
        raise ValueError("earliest days must be in 0..2**20")
    if int(diary.min()) < 0 or int(diary.max()) >= rows:
        raise ValueError("diary indices must be rows of free")
    return diary, earliest


def book(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """``greedy_book`` (see there): each request's day, or -1."""
    n = diary.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    diary, earliest = _checked(diary, earliest, free.shape[0])
    _book_jit(
        diary,
        earliest,
        np.ascontiguousarray(minutes, dtype=np.float64),
        np.ascontiguousarray(free, dtype=np.float64),
        out,
    )
    return out


def book_ahead(
    diary: np.ndarray,
    earliest: np.ndarray,
    minutes: np.ndarray,
    day_cap: np.ndarray,
    working: np.ndarray,
    booked: np.ndarray,
    first_col: int,
) -> np.ndarray:
    """``book`` into the free minutes ``max(outer(day_cap, working) - booked[:, cols], 0)``
    with ``cols`` the ring columns ``(first_col + t) % ring`` of the days ``t`` ahead, built
    in the same pass (the same operations as the numpy expression)."""
    n = diary.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    diary, earliest = _checked(diary, earliest, day_cap.shape[0])
    _book_ahead_jit(
        diary,
        earliest,
        np.ascontiguousarray(minutes, dtype=np.float64),
        np.ascontiguousarray(day_cap, dtype=np.float64),
        np.ascontiguousarray(working, dtype=np.bool_),
        np.ascontiguousarray(booked, dtype=np.float64),
        int(first_col),
        out,
    )
    return out


_LOW16 = np.uint64(0xFFFF)


def _decide(
    key: np.uint64,
    ids: np.ndarray,
    person: np.ndarray,
    k: np.ndarray,
    segment: np.ndarray,
    practice_of: np.ndarray,
    n_roles: int,
    same_day_tab: np.ndarray,
    mode_tab: np.ndarray,
    role_tab: np.ndarray,
    lead_tab: np.ndarray,
    kind: np.ndarray,
    lead: np.ndarray,
    diary: np.ndarray,
    mode: np.ndarray,
    pid: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # each person's id and (practice, segment) side by side, so that a request reads one
    # place in memory for its person (requests come in order of day, not of person)
    n_people = ids.shape[0]
    n = person.shape[0]
    # packing costs a pass over everyone: not for a few requests (levers' top-ups of a day),
    # whose people's values are read where they are
    pack = n * 8 >= n_people
    packed = np.empty((n_people if pack else 0, 2), dtype=np.int64)
    if pack:
        for p in range(n_people):
            packed[p, 0] = ids[p]
            packed[p, 1] = np.int64(practice_of[p]) * 256 + np.int64(segment[p])
    block = 4096
    meta = np.empty(block, dtype=np.int64)
    for start in range(0, n, block):
        end = min(n, start + block)
        # the block's people first, in a loop of loads only (see the module docstring)
        for i in range(start, end):
            p = person[i]
            if pack:
                pid[i] = packed[p, 0]
                meta[i - start] = packed[p, 1]
            else:
                pid[i] = ids[p]
                meta[i - start] = np.int64(practice_of[p]) * 256 + np.int64(segment[p])
        for i in range(start, end):
            # crn.event_uniforms16: one SplitMix64 hash of (key, person id, event number)
            z = np.uint64(pid[i]) * _GOLDEN + key + np.uint64(k[i]) * _M2
            z = _mix(z)
            w_kind = np.int64(z & _LOW16)
            w_mode = np.int64((z >> np.uint64(16)) & _LOW16)
            w_role = np.int64((z >> np.uint64(32)) & _LOW16)
            w_lead = np.int64(z >> np.uint64(48))
            if same_day_tab[w_kind]:
                kind[i] = 0
                lead[i] = 0
            else:
                kind[i] = 1
                lead[i] = lead_tab[w_lead]
            m = meta[i - start]
            diary[i] = (m >> 8) * n_roles + role_tab[w_role]
            mode[i] = mode_tab[m & 255, w_mode]


def _decide_by_person(
    key: np.uint64,
    ids: np.ndarray,
    counts: np.ndarray,
    slot: np.ndarray,
    segment: np.ndarray,
    practice_of: np.ndarray,
    n_roles: int,
    same_day_tab: np.ndarray,
    mode_tab: np.ndarray,
    role_tab: np.ndarray,
    lead_tab: np.ndarray,
    kind: np.ndarray,
    lead: np.ndarray,
    diary: np.ndarray,
    mode: np.ndarray,
    pid: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # ``_decide`` walking the events person by person (event number j = k), as they were
    # generated: each person's values are read in order, the decisions written to each
    # event's slot in day order
    e = 0
    for p in range(counts.shape[0]):
        c = counts[p]
        if c == 0:
            continue
        person_id = ids[p]
        base = np.uint64(person_id) * _GOLDEN + key
        practice = np.int64(practice_of[p]) * n_roles
        seg = np.int64(segment[p])
        for j in range(c):
            i = slot[e]
            e += 1
            if i < 0:
                continue
            z = base + np.uint64(j) * _M2
            z = _mix(z)
            w_kind = np.int64(z & _LOW16)
            w_mode = np.int64((z >> np.uint64(16)) & _LOW16)
            w_role = np.int64((z >> np.uint64(32)) & _LOW16)
            w_lead = np.int64(z >> np.uint64(48))
            if same_day_tab[w_kind]:
                kind[i] = 0
                lead[i] = 0
            else:
                kind[i] = 1
                lead[i] = lead_tab[w_lead]
            diary[i] = practice + role_tab[w_role]
            mode[i] = mode_tab[seg, w_mode]
            pid[i] = person_id


_decide_jit: Any = numba.njit(cache=True, nogil=True)(_decide)
_decide_by_person_jit: Any = numba.njit(cache=True, nogil=True)(_decide_by_person)

#: every value a 16-bit uniform of ``crn.event_uniforms16`` takes, in word order
U16 = ((np.arange(1 << 16, dtype=np.float32) + np.float32(0.5)) * np.float32(1.0 / 65536.0)).astype(
    np.float32
)


def decide(
    key: np.uint64,
    ids: np.ndarray,
    person: np.ndarray,
    k: np.ndarray,
    segment: np.ndarray,
    practice_of: np.ndarray,
    n_roles: int,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    by_person: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kind (0 same-day, 1 pre-booked), lead, diary, mode and person id of each request.

    ``tables`` give the decision for each value of the 16-bit uniform (``U16``): same-day
    (bool), mode by (segment, value), role and pre-booked lead; they are computed with the
    very expressions applied to the uniforms, so looking them up is the same decision.
    With ``by_person`` (the events' ``counts`` and ``slot``, ``demand.Events``) the requests
    are walked person by person, as they were drawn, which reads the people's values in
    order: the same decisions (tested).
    """
    n = person.shape[0]
    # kind, lead, diary, mode and person id: what both compiled passes write
    out = (
        np.empty(n, dtype=np.int8),
        np.empty(n, dtype=np.int16),
        np.empty(n, dtype=np.int32),
        np.empty(n, dtype=np.int8),
        np.empty(n, dtype=np.int64),
    )
    same_day_tab, mode_tab, role_tab, lead_tab = tables
    if int(np.max(lead_tab)) > 127 or int(np.max(role_tab)) > 127:
        raise ValueError("leads and roles must fit the compiled pass's 8-bit tables")
    tabs = (
        np.ascontiguousarray(same_day_tab, dtype=np.bool_),
        np.ascontiguousarray(mode_tab, dtype=np.int8),
        np.ascontiguousarray(role_tab, dtype=np.int8),
        np.ascontiguousarray(lead_tab, dtype=np.int8),
    )
    if n and by_person is not None:
        counts = np.ascontiguousarray(by_person[0])
        slot = np.ascontiguousarray(by_person[1])
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        segment = np.ascontiguousarray(segment)
        practice_of = np.ascontiguousarray(practice_of)

        parts = people_chunks(counts)

        def people(c: int) -> None:
            # chunks of people (on the machine's cores) write the slots of their own events
            lo, hi, e_lo, e_hi = parts[c]
            _decide_by_person_jit(
                np.uint64(key),
                ids[lo:hi],
                counts[lo:hi],
                slot[e_lo:e_hi],
                segment[lo:hi],
                practice_of[lo:hi],
                n_roles,
                *tabs,
                *out,
            )

        threads.each(len(parts), people)
    elif n:
        _decide_jit(
            np.uint64(key),
            np.ascontiguousarray(ids, dtype=np.int64),
            np.ascontiguousarray(person),
            np.ascontiguousarray(k),
            np.ascontiguousarray(segment),
            np.ascontiguousarray(practice_of),
            n_roles,
            *tabs,
            *out,
        )
    return out


def _durations(
    diary: np.ndarray, mode: np.ndarray, minutes: np.ndarray, n_roles: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    for i in range(diary.shape[0]):
        out[i] = minutes[diary[i] % n_roles, mode[i]]


_durations_jit: Any = numba.njit(cache=True, nogil=True)(_durations)


def durations(diary: np.ndarray, mode: np.ndarray, minutes: np.ndarray, n_roles: int) -> np.ndarray:
    """``minutes[diary % n_roles, mode]`` of each request."""
    out = np.empty(diary.shape[0], dtype=np.float64)
    if diary.shape[0]:
        _durations_jit(
            np.ascontiguousarray(diary),
            np.ascontiguousarray(mode),
            np.ascontiguousarray(minutes, dtype=np.float64),
            n_roles,
            out,
        )
    return out


#: roles per practice (a constant, so that the compiled passes divide by it cheaply)
N_ROLES = gp_diary.N_ROLES


def _attend_records(
    cols: Any,
    positions: np.ndarray,
    booked_col: np.ndarray,
    today: int,
    day0: int,
    death_day: np.ndarray,
    key: np.uint64,
    stride: int,
    edges: np.ndarray,
    level_at_entry: np.ndarray,
    level: np.ndarray,
    rr_pair: np.ndarray,
    rr_wait: np.ndarray,
    rate: float,
    mean: float,
    dna_multiplier: np.ndarray,
    multiplier_bits: np.ndarray,
    strata_of: np.ndarray,
    n_strata: int,
    horizon: int,
    minutes: np.ndarray,
    by_practice: np.ndarray,
    wait_hist: np.ndarray,
    keys: np.ndarray,
    wait_out: np.ndarray,
    strata_out: np.ndarray,
    booking_out: np.ndarray,
    band_out: np.ndarray,
    people: np.ndarray,
    durations: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Alive, wait, DNA and tallies of the appointments at ``positions`` (in that order) of
    the record columns ``cols`` (idx, id, k, kind, diary, mode, attempt: a diary's store or
    a day's requests), booked on ``booked_col[r]`` (or today when ``booked_col`` is empty:
    same-day bookings); see ``attend_day``."""
    s_idx, s_id, s_k, s_kind, s_diary, s_mode, s_attempt = cols
    n = positions.shape[0]
    use_booked = booked_col.shape[0] > 0
    # first the people's values, in a loop of loads only: reads of per-person arrays at
    # random positions overlap there, and would wait on each other amid the arithmetic
    g_death = np.empty(n, dtype=np.int32)
    g_entry = np.empty(n, dtype=np.int8)
    g_level = np.empty(n, dtype=np.int8)
    g_stratum = np.empty(n, dtype=np.int32)
    use_multiplier = dna_multiplier.shape[0] > 0
    # with bits (one per person, set where the multiplier may not be 1) the multiplier is
    # read only where a bit is set, and is 1 elsewhere (``prob * 1.0`` is ``prob``)
    use_bits = multiplier_bits.shape[0] > 0
    g_mult = np.empty(n if use_multiplier else 0, dtype=np.float64)
    for j in range(n):
        p = s_idx[positions[j]]
        g_death[j] = death_day[p]
        g_entry[j] = level_at_entry[p]
        g_level[j] = level[p]
        g_stratum[j] = strata_of[p]
        if use_multiplier:
            if use_bits and not (multiplier_bits[p >> 3] >> (p & 7)) & 1:
                g_mult[j] = 1.0
            else:
                g_mult[j] = dna_multiplier[p]
    to_unit = 2.0**-53
    alive = 0
    seen = 0
    missed = n
    for g in range(n):
        r = positions[g]
        death = g_death[g]
        if not (death < 0 or day0 + death > today):
            continue  # died before the appointment: leaves the diary uncounted
        p = s_idx[r]
        w = today - np.int64(booked_col[r]) if use_booked else np.int64(0)
        b = 0
        for edge in edges:  # searchsorted(edges, w, side="right")
            if edge <= w:
                b += 1
        # crn.uniforms(key, person id, k * stride + attempt)
        index = np.int64(s_k[r]) * stride + np.int64(s_attempt[r])
        z = np.uint64(s_id[r]) * _GOLDEN + np.uint64(index) * _M2 + key
        z = _mix(z)
        u = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
        rr = rr_pair[g_entry[g] - 1, g_level[g] - 1]
        prob = rate * rr_wait[b] * rr / mean
        if use_multiplier:  # a lever's per-person multiplier (none in the baseline)
            prob = prob * g_mult[g]
        dna = u < prob
        dia = np.int64(s_diary[r])
        practice = dia // N_ROLES
        role = dia - practice * N_ROLES
        mode = np.int64(s_mode[r])
        code = mode * N_ROLES + role
        stratum = g_stratum[g]
        by_practice[1 if dna else 0, practice, code] += 1
        wait_hist[practice, w if w < horizon else horizon] += 1
        # ledger keys code * n_strata + stratum and the people: attended from the
        # front, missed from the back
        if dna:
            missed -= 1
            keys[missed] = code * n_strata + stratum
            people[missed] = p
        else:
            keys[seen] = code * n_strata + stratum
            people[seen] = p
            seen += 1
        wait_out[alive] = w
        strata_out[alive] = stratum
        booking_out[alive] = np.int64(s_kind[r]) + 1
        band_out[alive] = b
        durations[alive] = minutes[role, mode]
        alive += 1
    return alive, seen


_attend_records_jit: Any = numba.njit(cache=True, nogil=True)(_attend_records)


@dataclass
class AttendedDay:
    """What ``attend_day`` found: the ledger keys of attended and missed appointments,
    each alive appointment's wait (days), person code, booking (kind + 1) and wait band
    (in booking order), the people (positions) who attended and who missed, aligned with
    the keys, and the minutes used (summed as numpy sums them)."""

    seen_keys: np.ndarray
    missed_keys: np.ndarray
    wait: np.ndarray
    strata: np.ndarray
    booking: np.ndarray
    band: np.ndarray
    seen: np.ndarray
    missed: np.ndarray
    used: float


def attend_day(
    diary: gp_diary.Diary,
    today: int,
    day0: int,
    death_day: np.ndarray,
    key: np.uint64,
    stride: int,
    edges: np.ndarray,
    level_at_entry: np.ndarray,
    level: np.ndarray,
    rr_pair: np.ndarray,
    rr_wait: np.ndarray,
    rate: float,
    mean: float,
    dna_multiplier: np.ndarray | None,
    strata_of: np.ndarray,
    n_strata: int,
    horizon: int,
    minutes: np.ndarray,
    by_practice: np.ndarray,
    wait_hist: np.ndarray,
    multiplier_bits: np.ndarray | None = None,
    requests: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
) -> AttendedDay:
    """The appointments of ``today`` (absolute day) in ``diary`` happen; the day is then
    released from the diary. With ``requests`` (a day's requests and the rows of those
    booked today, ``book_today``), the appointments are instead those requests, in that
    order, booked on ``today`` and never written into the diary: what the diary gives after
    the same requests were appended to an empty day (tested).

    For each appointment in booking order, of a person alive on ``today`` (death day of the
    year ``< 0`` or ``day0 + death day > today``): the wait ``today - booked_on``, its band
    ``searchsorted(edges, wait, side="right")``, and DNA when the uniform
    ``crn.uniforms(key, person id, k * stride + attempt)`` is below ``rate *
    rr_wait[band] * rr_pair[entry level - 1, level - 1] / mean`` (times
    ``dna_multiplier[person]`` when a lever gives one), computed in that order, so the
    decisions are those of the numpy expressions. ``by_practice`` (attended / DNA, practice,
    code) and ``wait_hist`` (practice, wait capped at ``horizon``) are counted in place; the
    ledger keys are ``code * n_strata + person code`` with ``code = mode * N_ROLES + role``;
    the minutes used are ``minutes[role, mode]`` of the alive appointments, summed with
    numpy's pairwise summation. ``multiplier_bits`` (optional, ``np.packbits(mask,
    bitorder="little")`` of a mask that holds wherever ``dna_multiplier != 1``) lets the pass
    read the multiplier only where it may not be 1.
    """
    if requests is None:  # the diary's records of today, in booking order
        cols, positions, booked_on = diary.store[:-1], diary.positions(today), diary.store[-1]
    else:  # the booked requests, booked today
        cols, positions, booked_on = (
            gp_diary.request_columns(requests[0]),
            np.ascontiguousarray(requests[1], dtype=np.int64),
            _NO_DAYS,
        )
    n = positions.shape[0]
    keys = np.empty(n, dtype=np.int64)
    wait = np.empty(n, dtype=np.int32)
    strata = np.empty(n, dtype=strata_of.dtype)
    booking = np.empty(n, dtype=np.int8)
    band = np.empty(n, dtype=np.int8)
    people = np.empty(n, dtype=np.int32)
    durations = np.empty(n, dtype=np.float64)
    alive = n_seen = 0
    if n:
        multiplier = _optional(dna_multiplier)
        alive, n_seen = _attend_records_jit(
            _without_lead(cols),
            positions,
            booked_on,
            int(today),
            int(day0),
            death_day,
            np.uint64(key),
            int(stride),
            np.ascontiguousarray(edges, dtype=np.int64),
            level_at_entry,
            level,
            np.ascontiguousarray(rr_pair, dtype=np.float64),
            np.ascontiguousarray(rr_wait, dtype=np.float64),
            float(rate),
            float(mean),
            multiplier,
            _NO_BITS if multiplier_bits is None or not multiplier.shape[0] else multiplier_bits,
            strata_of,
            int(n_strata),
            int(horizon),
            np.ascontiguousarray(minutes, dtype=np.float64),
            by_practice,
            wait_hist,
            keys,
            wait,
            strata,
            booking,
            band,
            people,
            durations,
        )
    if requests is None:
        diary.release(today)
    return AttendedDay(
        seen_keys=keys[:n_seen],
        missed_keys=keys[n - (alive - n_seen) :],
        wait=wait[:alive],
        strata=strata[:alive],
        booking=booking[:alive],
        band=band[:alive],
        seen=people[:n_seen],
        missed=people[n - (alive - n_seen) :],
        used=gp_diary.pairwise_sum(durations[:alive]),
    )


def _offer_and_draw(
    idx: np.ndarray,
    pid: np.ndarray,
    k: np.ndarray,
    attempt: np.ndarray,
    lead: np.ndarray,
    diary: np.ndarray,
    mode: np.ndarray,
    from_lead: bool,
    today: int,
    next_working: np.ndarray,
    segment: np.ndarray,
    key: np.uint64,
    stride: int,
    slots: int,
    minutes: np.ndarray,
    day_cap: np.ndarray,
    working: np.ndarray,
    booked: np.ndarray,
    first_col: int,
    offered: np.ndarray,
    want: np.ndarray,
    seg: np.ndarray,
    u: np.ndarray,
) -> int:  # pragma: no cover - compiled
    n = idx.shape[0]
    first_day = today + 1
    earliest = np.empty(n, dtype=np.int64)
    durations = np.empty(n, dtype=np.float64)
    for i in range(n):
        w = next_working[today + np.int64(lead[i])] if from_lead else first_day
        want[i] = w
        e = w - first_day
        earliest[i] = e if e > 0 else 0  # np.maximum(want - first_day, 0)
        dia = np.int64(diary[i])
        if earliest[i] > _MAX_EARLIEST or dia < 0 or dia >= day_cap.shape[0]:
            return -1
        durations[i] = minutes[dia % N_ROLES, mode[i]]
    for i in range(n):  # loads only (see the module docstring)
        seg[i] = segment[idx[i]]
    col = np.empty(n, dtype=np.int64)
    _book_ahead_jit(diary, earliest, durations, day_cap, working, booked, first_col, col)
    to_unit = 2.0**-53
    for i in range(n):
        offered[i] = first_day + col[i] if col[i] >= 0 else -1
        # crn.uniforms(key, person id, (k * stride + attempt) * slots + j)
        index = np.int64(k[i]) * stride + np.int64(attempt[i])
        base = np.uint64(pid[i]) * _GOLDEN + key
        for j in range(u.shape[0]):
            z = base + np.uint64(index * slots + j) * _M2
            z = _mix(z)
            u[j, i] = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
    return 0


_offer_and_draw_jit: Any = numba.njit(cache=True, nogil=True)(_offer_and_draw)


def offer_and_draw(
    req: dict[str, np.ndarray],
    from_lead: bool,
    today: int,
    next_working: np.ndarray,
    segment: np.ndarray,
    key: np.uint64,
    stride: int,
    slots: int,
    draws: int,
    minutes: np.ndarray,
    day_cap: np.ndarray,
    working: np.ndarray,
    booked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The advance time offered to each request and the uniforms its decisions take.

    Each request wants the day ``next_working[today + lead]`` (``from_lead``) or tomorrow,
    ``today + 1``, and is offered the first free advance time on or after it: ``book_ahead``
    into the ring ``booked`` from tomorrow's column, with ``day_cap`` the advance minutes of
    a working day by diary and ``working`` the days ahead; the offer is an absolute day, or
    -1. Returns (offered, wanted day, the person's segment, ``draws`` uniforms per request:
    ``crn.uniforms(key, person id, (k * stride + attempt) * slots + j)`` for ``j < draws``),
    each as the numpy expressions it replaces give it.
    """
    n = req["idx"].shape[0]
    offered = np.empty(n, dtype=np.int64)
    want = np.empty(n, dtype=np.int64)
    seg = np.empty(n, dtype=segment.dtype)
    u = np.empty((draws, n), dtype=np.float64)
    if n == 0:
        return offered, want, seg, u
    first_day = today + 1
    status = _offer_and_draw_jit(
        np.ascontiguousarray(req["idx"]),
        np.ascontiguousarray(req["id"], dtype=np.int64),
        np.ascontiguousarray(req["k"]),
        np.ascontiguousarray(req["attempt"]),
        np.ascontiguousarray(req["lead"]),
        np.ascontiguousarray(req["diary"]),
        np.ascontiguousarray(req["mode"]),
        bool(from_lead),
        int(today),
        next_working,
        segment,
        np.uint64(key),
        int(stride),
        int(slots),
        np.ascontiguousarray(minutes, dtype=np.float64),
        np.ascontiguousarray(day_cap, dtype=np.float64),
        np.ascontiguousarray(working, dtype=np.bool_),
        booked,
        first_day % booked.shape[1],
        offered,
        want,
        seg,
        u,
    )
    if status < 0:
        raise ValueError("earliest days must be in 0..2**20 and diaries rows of the capacity")
    return offered, want, seg, u


def _book_today(
    req: Any,
    minutes_today: np.ndarray,
    booked: np.ndarray,
    ring: int,
    minutes: np.ndarray,
    served: np.ndarray,
    failed: np.ndarray,
) -> int:  # pragma: no cover - compiled
    diary, mode = req[5], req[6]
    n = diary.shape[0]
    n_diaries = minutes_today.shape[0]
    durations = np.empty(n, dtype=np.float64)
    for i in range(n):
        dia = np.int64(diary[i])
        if dia < 0 or dia >= n_diaries:
            return -1
        durations[i] = minutes[dia % N_ROLES, mode[i]]
    # np.maximum(minutes_today - booked[:, ring], 0.0), a one-day diary of free minutes
    free = np.empty((n_diaries, 1), dtype=np.float64)
    for d in range(n_diaries):
        f = minutes_today[d] - booked[d, ring]
        free[d, 0] = f if (f >= 0.0 or np.isnan(f)) else 0.0
    col = np.empty(n, dtype=np.int64)
    start = _start_of_jit(free)
    _book_start_jit(diary, np.zeros(n, dtype=np.int64), durations, start, n_diaries, 1, col, False)
    n_served = 0
    n_failed = 0
    for i in range(n):
        if col[i] == 0:
            served[n_served] = i
            n_served += 1
            # np.add.at(booked, (diary, ring), durations) in this order, as the diary's
            # append adds them
            booked[diary[i], ring] += minutes[diary[i] % N_ROLES, mode[i]]
        else:
            failed[n_failed] = i
            n_failed += 1
    return n_served


_book_today_jit: Any = numba.njit(cache=True, nogil=True)(_book_today)


def book_today(
    req: dict[str, np.ndarray],
    minutes_today: np.ndarray,
    booked: np.ndarray,
    ring: int,
    minutes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Same-day requests take today's free minutes: ``greedy_book`` into the one-day diary
    ``np.maximum(minutes_today - booked[:, ring], 0)``; the minutes of those booked go into
    ``booked`` (in order). Returns the rows of those booked and of those not booked. The
    booked are seen today (``attend_day(..., requests=(req, rows))``) and never held in the
    diary."""
    n = req["idx"].shape[0]
    served = np.empty(n, dtype=np.int64)
    failed = np.empty(n, dtype=np.int64)
    if n == 0:
        return served, failed
    n_served = _book_today_jit(
        gp_diary.request_columns(req),
        np.ascontiguousarray(minutes_today, dtype=np.float64),
        booked,
        int(ring),
        np.ascontiguousarray(minutes, dtype=np.float64),
        served,
        failed,
    )
    if n_served < 0:
        raise ValueError("diaries must be rows of the capacity")
    return served[:n_served], failed[: n - n_served]


#: how a request ended after its offer (``settle``)
BOOKED, RETRY, GAVE_UP, TO_AE = 0, 1, 2, 3


def _settle(
    links: Any,
    store: Any,
    req: Any,
    offered: np.ndarray,
    reference: np.ndarray,
    tolerance: np.ndarray,
    today: int,
    u_retry: np.ndarray,
    u_spill: np.ndarray,
    seg: np.ndarray,
    retry_share: np.ndarray,
    spill_share: np.ndarray,
    retry_multiplier: np.ndarray,
    spill_multiplier: np.ndarray,
    last_attempt: int,
    minutes: np.ndarray,
    booked: np.ndarray,
    outcome: np.ndarray,
) -> int:  # pragma: no cover - compiled
    n = offered.shape[0]
    idx, attempt = req[0], req[7]
    same_day = u_retry.shape[0] > 0
    by_person_retry = retry_multiplier.shape[0] > 0
    by_person_spill = spill_multiplier.shape[0] > 0
    rows = np.empty(n, dtype=np.int64)
    n_booked = 0
    for i in range(n):
        # (offered >= 0) & (offered - reference <= tolerance)
        if offered[i] >= 0 and np.float64(offered[i] - reference[i]) <= tolerance[i]:
            outcome[i] = BOOKED
            rows[n_booked] = i
            n_booked += 1
        elif not same_day:
            outcome[i] = GAVE_UP
        else:
            # levers' per-person multipliers on the shares (none in the baseline)
            retry = retry_share[seg[i]]
            if by_person_retry:
                retry = retry * retry_multiplier[idx[i]]
            spill = spill_share[seg[i]]
            if by_person_spill:
                spill = spill * spill_multiplier[idx[i]]
            if u_retry[i] < retry and attempt[i] < last_attempt:
                outcome[i] = RETRY
            elif u_spill[i] < spill:
                outcome[i] = TO_AE
            else:
                outcome[i] = GAVE_UP
    day = np.empty(n_booked, dtype=np.int64)
    for j in range(n_booked):
        day[j] = offered[rows[j]]
    booked_on = np.full(n_booked, today, dtype=np.int64)
    return gp_diary._append_jit(links, store, req, rows[:n_booked], day, booked_on, minutes, booked)


_settle_jit: Any = numba.njit(cache=True, nogil=True)(_settle)


def settle(
    diary: gp_diary.Diary,
    req: dict[str, np.ndarray],
    offered: np.ndarray,
    reference: np.ndarray,
    tolerance: np.ndarray,
    today: int,
    minutes: np.ndarray,
    booked: np.ndarray,
    same_day: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None,
    retry_multiplier: np.ndarray | None = None,
    spill_multiplier: np.ndarray | None = None,
) -> np.ndarray:
    """How each offered request ends (``BOOKED``, ``RETRY``, ``GAVE_UP``, ``TO_AE``).

    A request takes its offer when ``offered >= 0`` and ``offered - reference <=
    tolerance`` (days); it is then booked into the diary on the offered day (booked
    ``today``, in order). Otherwise a pre-booked request gives up; a same-day one
    (``same_day``: its retry and A&E uniforms, the person's segment, the shares by segment
    and the number of attempts allowed) retries when ``u_retry < retry_share[segment]``
    and attempts remain, else goes to A&E when ``u_spill < spill_share[segment]``, else
    gives up: the expressions of the numpy version, in its order. A lever may give
    per-person multipliers of the two shares (aligned with the population; None: none).
    """
    n = offered.shape[0]
    outcome = np.empty(n, dtype=np.int8)
    if n == 0:
        return outcome
    if same_day is None:
        empty = np.empty(0, dtype=np.float64)
        u_retry, u_spill, seg = empty, empty, np.zeros(0, dtype=np.int8)
        retry_share = spill_share = empty
        last = 0
    else:
        u_retry, u_spill, seg, retry_share, spill_share, attempts = same_day
        last = attempts - 1
    diary.reserve(n)
    done = _settle_jit(
        diary.links,
        diary.store,
        gp_diary.request_columns(req),
        np.ascontiguousarray(offered, dtype=np.int64),
        np.ascontiguousarray(reference, dtype=np.int64),
        np.ascontiguousarray(tolerance, dtype=np.float64),
        int(today),
        np.ascontiguousarray(u_retry, dtype=np.float64),
        np.ascontiguousarray(u_spill, dtype=np.float64),
        np.ascontiguousarray(seg),
        np.ascontiguousarray(retry_share, dtype=np.float64),
        np.ascontiguousarray(spill_share, dtype=np.float64),
        _optional(retry_multiplier),
        _optional(spill_multiplier),
        int(last),
        np.ascontiguousarray(minutes, dtype=np.float64),
        booked,
        outcome,
    )
    if done < 0:
        raise RuntimeError("GP diary: a day beyond the horizon was booked")
    return outcome


#: no bits given: ``attend_day`` reads the multiplier of everyone
_NO_BITS = np.empty(0, dtype=np.uint8)
#: no booking days: the appointments were booked today
_NO_DAYS = np.empty(0, dtype=np.int32)


def _without_lead(cols: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The columns ``_attend_records`` reads of a record's (``gp_diary.FIELDS``, a diary's
    store or a day's requests): all but the lead and the booking day."""
    idx, pid, k, kind, _lead, diary, mode, attempt = cols[:8]
    return (idx, pid, k, kind, diary, mode, attempt)


def _optional(values: np.ndarray | None) -> np.ndarray:
    """A lever's per-person values as float64, or an empty array for none."""
    if values is None:
        return np.empty(0, dtype=np.float64)
    return np.ascontiguousarray(values, dtype=np.float64)


def _split_columns(
    req: Any,
    death_day: np.ndarray,
    day0: int,
    absolute_day: int,
    strata_of: np.ndarray,
    same: Any,
    pre: Any,
    same_codes: np.ndarray,
    pre_codes: np.ndarray,
    start_same: int,
    start_pre: int,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Writes after the first ``start_same`` same-day and ``start_pre`` pre-booked rows
    (those of requests split before); returns the new totals."""
    idx, kind = req[0], req[3]
    n = idx.shape[0]
    # who is alive and their person codes, in a loop of loads only (see the module docstring)
    alive = np.empty(n, dtype=np.bool_)
    codes = np.empty(n, dtype=strata_of.dtype)
    with_codes = strata_of.shape[0] > 0
    for i in range(n):
        p = idx[i]
        death = np.int64(death_day[p])
        alive[i] = death < 0 or day0 + death > absolute_day
        if with_codes:
            codes[i] = strata_of[p]
    n_same = start_same
    n_pre = start_pre
    for i in range(n):
        if not alive[i]:
            continue
        # ``out`` is bound last in each branch: bound before the codes' branch, the tuple
        # of columns is reference-counted on every request (ten times slower)
        if kind[i] == 0:
            j = n_same
            n_same += 1
            if with_codes:
                same_codes[j] = codes[i]
            out = same
        else:
            j = n_pre
            n_pre += 1
            if with_codes:
                pre_codes[j] = codes[i]
            out = pre
        out[0][j] = req[0][i]
        out[1][j] = req[1][i]
        out[2][j] = req[2][i]
        out[3][j] = req[3][i]
        out[4][j] = req[4][i]
        out[5][j] = req[5][i]
        out[6][j] = req[6][i]
        out[7][j] = req[7][i]
    return n_same, n_pre


_split_columns_jit: Any = numba.njit(cache=True, nogil=True)(_split_columns)


def split_requests(
    req: dict[str, np.ndarray], death_day: np.ndarray, day0: int, absolute_day: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The requests of people alive on ``absolute_day`` (death day of the year < 0, or
    ``day0 + death day > absolute_day``), same-day ones (``kind`` 0) and pre-booked ones
    apart, each in order, as columns: a mask and ``take`` of every column, in one compiled
    pass."""
    same, pre, _, _ = split_coded(req, death_day, day0, absolute_day, None)
    return same, pre


def split_coded(
    req: dict[str, np.ndarray],
    death_day: np.ndarray,
    day0: int,
    absolute_day: int,
    strata_of: np.ndarray | None,
    more: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``split_requests``, and the person codes ``strata_of[idx]`` of the same-day and of
    the pre-booked requests (empty without ``strata_of``), read in the same pass. With
    ``more``, the requests of ``req`` followed by those of ``more`` are split (what
    splitting their concatenation gives, without making it)."""
    parts = [gp_diary.request_columns(req)]
    if more is not None:
        parts.append(gp_diary.request_columns(more))
    n = sum(cols[0].shape[0] for cols in parts)
    cols = parts[0]
    same = tuple(np.empty(n, dtype=c.dtype) for c in cols)
    pre = tuple(np.empty(n, dtype=c.dtype) for c in cols)
    table = np.empty(0, dtype=np.int32) if strata_of is None else strata_of
    m = n if strata_of is not None else 0
    same_codes = np.empty(m, dtype=table.dtype)
    pre_codes = np.empty(m, dtype=table.dtype)
    n_same = n_pre = 0
    for part in parts:
        if part[0].shape[0]:
            n_same, n_pre = _split_columns_jit(
                part,
                death_day,
                int(day0),
                int(absolute_day),
                table,
                same,
                pre,
                same_codes,
                pre_codes,
                n_same,
                n_pre,
            )
    names = gp_diary.REQUEST_FIELDS
    return (
        {name: col[:n_same] for name, col in zip(names, same, strict=True)},
        {name: col[:n_pre] for name, col in zip(names, pre, strict=True)},
        same_codes[: n_same if m else 0],
        pre_codes[: n_pre if m else 0],
    )
