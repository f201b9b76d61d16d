"""Compiled passes of the levers (numba), giving exactly what their numpy code gave.

``keep_events`` is ``DayEffects.keep``: for each event, lever by lever, the thinning test
``day >= from day and factor < 1`` and then the keyed uniform ``crn.uniforms(thin key,
person id, event number) < factor`` (the same SplitMix64 hash as ``crn.uniforms``); an event
is kept when no lever thins it. ``add_at_float32`` is ``np.add.at(row, person, (amount *
share).astype(np.float32))``: the same float32 value added to the same float32 cell, record
by record in order, without the temporaries. ``referrals`` is a lever's referral draw from
the people a service saw: the eligible ones whose keyed uniform is below the referral
probability, in order. Compiled once per machine and cached (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from model._kernels import _GOLDEN, _M2, _mix

#: no bits given: the passes read the full per-person arrays
_NO_BITS = np.empty(0, dtype=np.uint8)


def _keep_events(
    person: np.ndarray,
    k: np.ndarray,
    day: np.ndarray,
    slot: np.ndarray,
    from_day: np.ndarray,
    factor: np.ndarray,
    thin_key: np.ndarray,
    person_id: np.ndarray,
    has: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    to_unit = 2.0**-53
    n_levers = thin_key.shape[0]
    one_day = day.shape[0] == 1
    # ``has``: one bit per person (little-endian within a byte), set where ``slot`` is a row;
    # empty: read ``slot`` for everyone. The bits (a 32nd of the slots' bytes) stay in cache
    # where the slots, read at random positions, would not
    use_bits = has.shape[0] > 0
    n = person.shape[0]
    block = 4096
    g_row = np.empty(block, dtype=np.int64)
    g_from = np.empty((block, n_levers), dtype=np.int64)
    g_factor = np.empty((block, n_levers), dtype=np.float64)
    g_id = np.empty(block, dtype=np.int64)
    for start in range(0, n, block):
        end = min(n, start + block)
        # the people's values first, in loops of loads only: reads at random positions
        # overlap there, and would wait on each other amid the arithmetic; people without
        # an effect (no row) need nothing more
        if use_bits:
            for i in range(start, end):
                q = person[i]
                if (has[q >> 3] >> (q & 7)) & 1:
                    g_row[i - start] = slot[q]
                else:
                    g_row[i - start] = -1
        else:
            for i in range(start, end):
                g_row[i - start] = slot[person[i]]
        for i in range(start, end):
            r = g_row[i - start]
            if r >= 0:
                g_id[i - start] = person_id[person[i]]
                for lever in range(n_levers):
                    g_from[i - start, lever] = from_day[r, lever]
                    g_factor[i - start, lever] = factor[r, lever]
        for i in range(start, end):
            g = i - start
            keep = True
            if g_row[g] >= 0:
                d = day[0] if one_day else day[i]
                for lever in range(n_levers):
                    f = g_factor[g, lever]
                    if d >= g_from[g, lever] and f < 1.0:
                        # crn.uniforms(thin key, person id, event number)
                        z = np.uint64(g_id[g]) * _GOLDEN + np.uint64(k[i]) * _M2 + thin_key[lever]
                        z = _mix(z)
                        u = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
                        if not u < f:
                            keep = False
            out[i] = keep


_keep_events_jit: Any = numba.njit(cache=True, nogil=True)(_keep_events)


def keep_events(
    person: np.ndarray,
    k: np.ndarray,
    day: np.ndarray,
    slot: np.ndarray,
    from_day: np.ndarray,
    factor: np.ndarray,
    thin_key: np.ndarray,
    person_id: np.ndarray,
    has: np.ndarray | None = None,
) -> np.ndarray:
    """Which events survive the levers' thinning: ``person`` (positions) and ``k`` (event
    numbers) are 1-D integer arrays of one length, ``day`` (relative) one per event or one
    for all; ``slot`` is each person's row of ``from_day`` and ``factor`` (rows x levers;
    -1: no effect), ``thin_key`` one per lever. ``has`` (optional, uint8) is the same as
    ``np.packbits(slot >= 0, bitorder="little")``, read before ``slot``."""
    out = np.empty(person.shape[0], dtype=np.bool_)
    if person.shape[0]:
        _keep_events_jit(
            person,
            k,
            np.ascontiguousarray(day, dtype=np.int64).reshape(-1),
            slot,
            from_day,
            factor,
            thin_key,
            np.ascontiguousarray(person_id, dtype=np.int64),
            _NO_BITS if has is None else has,
            out,
        )
    return out


def _add_at_float32(
    row: np.ndarray, person: np.ndarray, amount: np.ndarray, share: float
) -> None:  # pragma: no cover - compiled
    one = amount.shape[0] == 1
    for i in range(person.shape[0]):
        a = amount[0] if one else amount[i]
        row[person[i]] += np.float32(a * share)


_add_at_float32_jit: Any = numba.njit(cache=True, nogil=True)(_add_at_float32)


def add_at_float32(row: np.ndarray, person: np.ndarray, amount: np.ndarray, share: float) -> None:
    """``np.add.at(row, person, (amount * share).astype(np.float32))`` on a float32 ``row``,
    in place; ``amount`` (float64) one per record or one for all."""
    if person.shape[0]:
        _add_at_float32_jit(
            row,
            np.ascontiguousarray(person).reshape(-1),
            np.ascontiguousarray(amount, dtype=np.float64).reshape(-1),
            float(share),
        )


def _referrals(
    person: np.ndarray,
    eligible: np.ndarray,
    person_id: np.ndarray,
    key: np.uint64,
    index: np.int64,
    p: float,
    bits: np.ndarray,
    out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    to_unit = 2.0**-53
    m = person.shape[0]
    # loops of loads only first (reads at random positions overlap there): who is eligible
    # (from one bit per person when given: an eighth of the bytes, that stay in cache),
    # then the ids of the eligible
    flag = np.empty(m, dtype=np.bool_)
    if bits.shape[0] > 0:
        for i in range(m):
            q = person[i]
            flag[i] = (bits[q >> 3] >> (q & 7)) & 1
    else:
        for i in range(m):
            flag[i] = eligible[person[i]]
    cand = np.empty(m, dtype=np.int64)
    n_cand = 0
    for i in range(m):
        if flag[i]:
            cand[n_cand] = person[i]
            n_cand += 1
    ids = np.empty(n_cand, dtype=np.int64)
    for j in range(n_cand):
        ids[j] = person_id[cand[j]]
    n = 0
    for j in range(n_cand):
        # crn.uniforms(key, person id, index)
        z = np.uint64(ids[j]) * _GOLDEN + np.uint64(index) * _M2 + key
        z = _mix(z)
        u = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
        if u < p:
            out[n] = cand[j]
            n += 1
    return n


_referrals_jit: Any = numba.njit(cache=True, nogil=True)(_referrals)


def referrals(
    person: np.ndarray,
    eligible: np.ndarray,
    person_id: np.ndarray,
    key: np.uint64,
    index: int,
    p: float,
    bits: np.ndarray | None = None,
) -> np.ndarray:
    """The positions of ``person`` (in order) who are ``eligible`` and whose uniform
    ``crn.uniforms(key, person id, index)`` is below ``p``: a lever's referrals from the
    people a service saw. ``bits`` (optional) is ``np.packbits(eligible,
    bitorder="little")``, read instead of ``eligible``."""
    out = np.empty(person.shape[0], dtype=np.int64)
    if not person.shape[0]:
        return out
    n = _referrals_jit(
        np.ascontiguousarray(person).reshape(-1),
        eligible,
        np.ascontiguousarray(person_id, dtype=np.int64),
        np.uint64(key),
        np.int64(index),
        float(p),
        _NO_BITS if bits is None else bits,
        out,
    )
    return out[:n]


def _caseload_day(
    state: np.ndarray,
    next_day: np.ndarray,
    done: np.ndarray,
    n_sessions: np.ndarray,
    person_id: np.ndarray,
    ref_no: np.ndarray,
    referred: np.ndarray,
    unit: np.ndarray,
    dead: np.ndarray,
    today: np.int64,
    key: np.uint64,
    dropout: float,
    max_wait: float,
    step: np.int64,
    rows: np.ndarray,
    counts: np.ndarray,
    active: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # states as in model.services.caseload
    waiting_, active_, completed_, dropped_, died_, left_ = 0, 1, 2, 3, 4, 5
    to_unit = 2.0**-53
    n_due = n_finished = n_closed = n_waiting = dropped = left = died = 0
    size = state.shape[0]
    # rows: due (from the front), then finished and closed (their own thirds, see below)
    due_at, fin_at, closed_at = 0, size, 2 * size
    for r in range(size):
        st = state[r]
        if st <= active_ and dead[r]:
            state[r] = died_
            died += 1
            rows[closed_at + n_closed] = r
            n_closed += 1
            continue
        if st == active_ and next_day[r] == today:
            rows[due_at + n_due] = r
            n_due += 1
            done[r] += 1
            if done[r] >= n_sessions[r]:
                state[r] = completed_
                rows[fin_at + n_finished] = r
                n_finished += 1
                rows[closed_at + n_closed] = r
                n_closed += 1
                continue
            # crn.uniforms(key, person id, referral number * 1024 + sessions done)
            index = np.int64(ref_no[r]) * 1024 + np.int64(done[r])
            z = np.uint64(person_id[r]) * _GOLDEN + np.uint64(index) * _M2 + key
            z = _mix(z)
            u = (np.float64(z >> np.uint64(11)) + 0.5) * to_unit
            if u < dropout:
                state[r] = dropped_
                dropped += 1
                rows[closed_at + n_closed] = r
                n_closed += 1
            else:
                next_day[r] = today + step
                active[unit[r]] += 1
            continue
        if st == waiting_:
            if today - referred[r] > max_wait:
                state[r] = left_
                left += 1
                rows[closed_at + n_closed] = r
                n_closed += 1
            else:
                n_waiting += 1
        elif st == active_:
            active[unit[r]] += 1
    counts[0] = n_due
    counts[1] = n_finished
    counts[2] = n_closed
    counts[3] = n_waiting
    counts[4] = dropped
    counts[5] = left
    counts[6] = died


_caseload_day_jit: Any = numba.njit(cache=True, nogil=True)(_caseload_day)


def caseload_day(
    cols: dict[str, np.ndarray],
    dead: np.ndarray,
    today: int,
    key: np.uint64,
    dropout: float,
    max_wait: float,
    step: int,
    n_units: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int, int, np.ndarray]:
    """The first part of ``CaseloadService.day`` over the episode rows ``cols`` (in place):
    deaths of open episodes, today's sessions (completion or a keyed drop-out), waiting too
    long. Returns the rows of today's sessions, of the completed ones among them and of every
    episode closed (each in row order), the rows still waiting, the drop-outs, those who left
    the list, the deaths, and the episodes in support per unit."""
    size = cols["state"].shape[0]
    rows = np.empty(3 * size, dtype=np.int64)
    counts = np.zeros(7, dtype=np.int64)
    active = np.zeros(n_units, dtype=np.int64)
    _caseload_day_jit(
        cols["state"],
        cols["next_day"],
        cols["done"],
        cols["n_sessions"],
        cols["person_id"],
        cols["ref_no"],
        cols["referred"],
        cols["unit"],
        np.ascontiguousarray(dead, dtype=np.bool_),
        np.int64(today),
        np.uint64(key),
        float(dropout),
        float(max_wait),
        np.int64(step),
        rows,
        counts,
        active,
    )
    n_due, n_fin, n_closed = int(counts[0]), int(counts[1]), int(counts[2])
    return (
        rows[:n_due],
        rows[size : size + n_fin],
        rows[2 * size : 2 * size + n_closed],
        int(counts[3]),
        int(counts[4]),
        int(counts[5]),
        int(counts[6]),
        active,
    )


def _waiting_take(
    state: np.ndarray, unit: np.ndarray, free: np.ndarray, out: np.ndarray
) -> int:  # pragma: no cover - compiled
    rank = np.zeros(free.shape[0], dtype=np.int64)
    n = 0
    for r in range(state.shape[0]):
        if state[r] == 0:  # waiting: the longest waiting of its unit first
            g = unit[r]
            if rank[g] < free[g]:
                out[n] = r
                n += 1
            rank[g] += 1
    return n


_waiting_take_jit: Any = numba.njit(cache=True, nogil=True)(_waiting_take)


def waiting_take(state: np.ndarray, unit: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Rows (in row order) of the waiting episodes that take a free place: per unit, the
    first ``free[unit]`` waiting in row (referral) order."""
    out = np.empty(state.shape[0], dtype=np.int64)
    n = _waiting_take_jit(state, unit, np.ascontiguousarray(free, dtype=np.int64), out)
    return out[:n]


def _referred_again(
    ids: np.ndarray,
    bulk_ids: np.ndarray,
    bulk_count: np.ndarray,
    bulk_open: np.ndarray,
    new_ids: np.ndarray,
    new_count: np.ndarray,
    new_open: np.ndarray,
    ref_no: np.ndarray,
    state: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for i in range(ids.shape[0]):
        x = ids[i]
        found = False
        for part in range(2):
            part_ids = bulk_ids if part == 0 else new_ids
            count = bulk_count if part == 0 else new_count
            flags = bulk_open if part == 0 else new_open
            if not part_ids.shape[0]:
                continue
            j = np.searchsorted(part_ids, x)
            if j < part_ids.shape[0] and part_ids[j] == x:
                found = True
                if flags[j]:
                    state[i] = 0  # an episode of theirs is open: not referred again
                else:
                    state[i] = 1  # referred again
                    ref_no[i] = count[j]
                    count[j] += 1
                    flags[j] = True
                break
        if not found:
            state[i] = 2  # referred for the first time
            ref_no[i] = 0


_referred_again_jit: Any = numba.njit(cache=True, nogil=True)(_referred_again)


def referred_again(
    ids: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """For sorted unique ``ids`` and the two sorted parts (ids, referral counts, open flags)
    of a caseload's people referred before: per id, 0 if an episode of theirs is open, 1 if
    referred again (their count and open flag updated in place), 2 if new; and each one's
    referral number (0 when new)."""
    state = np.empty(ids.shape[0], dtype=np.int8)
    ref_no = np.zeros(ids.shape[0], dtype=np.int32)
    (b_ids, b_count, b_open), (n_ids, n_count, n_open) = parts
    _referred_again_jit(ids, b_ids, b_count, b_open, n_ids, n_count, n_open, ref_no, state)
    return state, ref_no


__all__ = [
    "add_at_float32",
    "caseload_day",
    "keep_events",
    "referrals",
    "referred_again",
    "waiting_take",
]
