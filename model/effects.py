"""Effects that start on any day: thinning of drawn events and a keyed top-up stream.

A year's demand events are drawn at its start from the year's rates (levers' yearly
multipliers included). When a lever changes a person's demand during the year (a link-worker
episode completes on day d, a budget starts on day d), ``DayEffects.set`` records a factor for
the rest of that person's year in one demand stream:

* factor < 1: each of the person's events on or after day d is kept with probability equal to
  the factor, decided by a uniform keyed by (lever, stream, year, person id, event number), so
  the events that go are the same in every scenario that applies the same factor, and no one
  else's events are touched;
* factor > 1: extra events from a separately keyed top-up stream (Poisson at (factor - 1) x
  the person's rate over the rest of their year, days keyed), with event numbers from
  ``TOP_UP_K`` on so they never collide with drawn events.

Services apply ``keep`` to the events they take on a day and add ``extra`` events, so the
baseline (no effect set) takes exactly the events it always did: ``active`` is False and
nothing is computed. Effects last to the end of the simulated year; a lever carries an effect
into the next year through its yearly ``rate_multiplier``, which the next year's draw uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model import _lever_kernels, crn

#: event numbers of top-up events start here (drawn events are numbered from 0)
TOP_UP_K = 1 << 24
#: no effect: the day from which an effect acts (after every day of a year)
NEVER = np.int16(32_000)


@dataclass
class _Effect:
    """One lever's effect on one stream: its column in the stream's arrays, its keys and
    its top-up events."""

    column: int
    thin_key: np.uint64
    top_up_key: np.uint64
    #: top-up events waiting for their day: absolute day -> (person positions, event numbers)
    top_ups: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    calls: int = 0


@dataclass
class _Stream:
    """The effects on one stream: for each person given an effect by some lever, a row of
    the day each lever's effect starts and its factor (one column per lever, in the order
    the levers first set one); ``slot`` is each person's row (-1: no effect at all), so the
    people without one cost one small read."""

    slot: np.ndarray
    from_day: np.ndarray
    factor: np.ndarray
    thin_key: np.ndarray
    #: one bit per person, set where ``slot`` is a row (``np.packbits(slot >= 0,
    #: bitorder="little")``): what ``keep`` reads first
    has: np.ndarray
    rows: int = 0
    levers: dict[str, _Effect] = field(default_factory=dict)

    def add_lever(self, lever: str, thin_key: np.uint64, top_up_key: np.uint64) -> _Effect:
        """A column for a lever's first effect on the stream (no effect on anyone yet)."""
        size = self.from_day.shape[0]
        self.from_day = np.concatenate(
            [self.from_day, np.full((size, 1), NEVER, dtype=np.int16)], axis=1
        )
        self.factor = np.concatenate([self.factor, np.ones((size, 1), dtype=np.float64)], axis=1)
        self.thin_key = np.append(self.thin_key, np.uint64(thin_key))
        eff = self.levers[lever] = _Effect(len(self.levers), thin_key, top_up_key)
        return eff

    def rows_of(self, person: np.ndarray) -> np.ndarray:
        """The rows of these people, given the people without one new rows (no effect)."""
        row = self.slot[person]
        fresh = row < 0
        if fresh.any():
            new = person[fresh]
            if new.size > 1 and not np.all(new[1:] > new[:-1]):  # sorted unique already
                new = np.unique(new)
            need = self.rows + new.size
            capacity = self.from_day.shape[0]
            if need > capacity:  # room to grow
                capacity = max(2 * capacity, need, 1024)
                grown_day = np.full((capacity, self.from_day.shape[1]), NEVER, dtype=np.int16)
                grown_factor = np.ones((capacity, self.factor.shape[1]), dtype=np.float64)
                grown_day[: self.rows] = self.from_day[: self.rows]
                grown_factor[: self.rows] = self.factor[: self.rows]
                self.from_day, self.factor = grown_day, grown_factor
            self.slot[new] = np.arange(self.rows, need, dtype=np.int32)
            # their bits: ``new`` is sorted, so the bits of a byte are neighbours, OR-ed
            # together by reduceat (np.bitwise_or.at, element by element, is far slower)
            byte = new >> 3
            first = np.flatnonzero(np.concatenate([[True], byte[1:] != byte[:-1]]))
            bits = np.bitwise_or.reduceat(np.left_shift(1, new & 7).astype(np.uint8), first)
            self.has[byte[first]] |= bits
            self.rows = need
            row = self.slot[person]
        return row


class DayEffects:
    """The demand effects of the current year, by demand stream and lever."""

    def __init__(self) -> None:
        self._by_stream: dict[str, _Stream] = {}

    def reset(self) -> None:
        """A new year: every effect ends (levers carry theirs through yearly multipliers)."""
        self._by_stream = {}

    def active(self, stream: str) -> bool:
        """Whether any effect acts on ``stream`` this year."""
        return stream in self._by_stream

    def factor(self, stream: str, lever: str) -> np.ndarray:
        """The factor ``lever`` gives each person in ``stream`` (1 where it gives none)."""
        st = self._by_stream[stream]
        out = np.ones(st.slot.size)
        has = st.slot >= 0
        out[has] = st.factor[st.slot[has], st.levers[lever].column]
        return out

    def set(
        self,
        lever: str,
        stream: str,
        person: np.ndarray,
        from_day: int,
        factor: np.ndarray | float,
        *,
        size: int,
        person_id: np.ndarray,
        end_day: np.ndarray,
        rate: np.ndarray,
        thin_key: np.uint64,
        top_up_key: np.uint64,
        day0: int,
    ) -> None:
        """From relative day ``from_day`` on, multiply ``person``'s demand by ``factor``.

        ``person`` are positions in the population (``size`` people, ids ``person_id``),
        ``end_day`` each person's last day of the year (exclusive), ``rate`` their annual rate
        in the stream (for top-ups), ``day0`` the absolute day of the year's start. A later
        call for the same person and lever replaces the factor from its own day on (events
        before it keep the earlier decision).
        """
        person = np.asarray(person, dtype=np.int64)
        if not person.size:
            return
        factor_arr = np.asarray(factor, dtype=np.float64)
        if factor_arr.shape != person.shape:
            factor_arr = np.broadcast_to(factor_arr, person.shape)
        self._set_one(
            lever,
            stream,
            person,
            from_day,
            factor_arr,
            size=size,
            person_id=person_id,
            end_day=end_day,
            rate=rate,
            thin_key=thin_key,
            top_up_key=top_up_key,
            day0=day0,
        )

    def set_streams(
        self,
        lever: str,
        streams: list[str],
        person: np.ndarray,
        from_day: int,
        factors: np.ndarray,
        *,
        size: int,
        person_id: np.ndarray,
        end_day: np.ndarray,
        rates: list[np.ndarray],
        thin_keys: list[np.uint64],
        top_up_keys: list[np.uint64],
        day0: int,
    ) -> None:
        """``set`` for several streams of one lever at once: the same people (positions,
        int64) from the same day, ``factors[i]`` the factors in ``streams[i]``; the same as
        one ``set`` per stream in turn, with the checks made once."""
        if not person.size:
            return
        for i, stream in enumerate(streams):
            self._set_one(
                lever,
                stream,
                person,
                from_day,
                factors[i],
                size=size,
                person_id=person_id,
                end_day=end_day,
                rate=rates[i],
                thin_key=thin_keys[i],
                top_up_key=top_up_keys[i],
                day0=day0,
            )

    def _set_one(
        self,
        lever: str,
        stream: str,
        person: np.ndarray,
        from_day: int,
        factor_arr: np.ndarray,
        *,
        size: int,
        person_id: np.ndarray,
        end_day: np.ndarray,
        rate: np.ndarray,
        thin_key: np.uint64,
        top_up_key: np.uint64,
        day0: int,
    ) -> None:
        """``set`` with ``person`` int64 positions and ``factor_arr`` float64 of its shape."""
        st = self._by_stream.get(stream)
        if st is None:
            st = self._by_stream[stream] = _Stream(
                slot=np.full(size, -1, dtype=np.int32),
                from_day=np.empty((0, 0), dtype=np.int16),
                factor=np.empty((0, 0), dtype=np.float64),
                thin_key=np.empty(0, dtype=np.uint64),
                has=np.zeros((size + 7) // 8, dtype=np.uint8),
            )
        eff = st.levers.get(lever)
        if eff is None:
            eff = st.add_lever(lever, thin_key, top_up_key)
        eff.calls += 1
        rows = st.rows_of(person)
        st.from_day[rows, eff.column] = np.int16(from_day)
        st.factor[rows, eff.column] = factor_arr
        up = np.flatnonzero(factor_arr > 1.0)
        if up.size:
            who = person[up]
            days_left = np.maximum(end_day[who] - from_day, 0)
            mean = (factor_arr[up] - 1.0) * rate[who] * days_left / 365.0
            ids = person_id[who]
            u = crn.uniforms(eff.top_up_key, ids, np.full(ids.size, eff.calls, np.int64))
            # no event at all when every uniform is at most P(N = 0) = exp(-mean) with the
            # inversion's own numpy exp (means it inverts by summing from numpy's exp; e.g. a
            # factor a rounding above 1)
            if np.all(mean <= crn._SMALL_RATE) and np.all(u <= np.exp(-mean)):
                return
            n = crn.poisson_inverse(mean, u)
            rows, j = crn.expand(n)
            if rows.size:
                k = TOP_UP_K + eff.calls * 4096 + j.astype(np.int64)
                span = days_left[rows]
                u_day = crn.uniforms(eff.top_up_key ^ np.uint64(0x9E3779B9), ids[rows], k)
                day = from_day + np.minimum((u_day * span).astype(np.int64), span - 1)
                for d in np.unique(day):
                    at = day == d
                    old = eff.top_ups.get(int(d) + day0)
                    p_new, k_new = who[rows[at]], k[at]
                    if old is not None:
                        p_new = np.concatenate([old[0], p_new])
                        k_new = np.concatenate([old[1], k_new])
                    eff.top_ups[int(d) + day0] = (p_new, k_new)

    def keep(
        self,
        stream: str,
        person: np.ndarray,
        k: np.ndarray,
        day: np.ndarray | int,
        person_id: np.ndarray,
    ) -> np.ndarray | None:
        """Which of these events (positions, event numbers, relative days) happen; None if
        every one does (no effect on the stream).

        An event goes when any lever thins it: from the lever's day on, with a factor below
        1, its uniform keyed by (lever, stream, person id, event number) is not below the
        factor (one compiled pass over the events, every lever in turn).
        """
        st = self._by_stream.get(stream)
        if st is None or not st.levers or not np.size(person):
            return None
        person = np.asarray(person)
        k = np.asarray(k)
        shape = person.shape
        days = np.asarray(day)
        if person.ndim != 1 or k.shape != shape:
            # events not given one number each (a grid, or one number for all): flattened
            k = np.broadcast_to(k, shape).reshape(-1)
            days = np.broadcast_to(days, shape).reshape(-1)
            person = person.reshape(-1)
        return _lever_kernels.keep_events(
            person, k, days, st.slot, st.from_day, st.factor, st.thin_key, person_id, st.has
        ).reshape(shape)

    def extra(self, stream: str, absolute_day: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Top-up events of ``stream`` on an absolute day: (positions, event numbers)."""
        st = self._by_stream.get(stream)
        if st is None:
            return None
        parts = [
            eff.top_ups.pop(absolute_day)
            for eff in st.levers.values()
            if absolute_day in eff.top_ups
        ]
        if not parts:
            return None
        person = np.concatenate([p for p, _ in parts])
        k = np.concatenate([k for _, k in parts])
        return person, k


__all__ = ["NEVER", "TOP_UP_K", "DayEffects"]
