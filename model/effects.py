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

from model import crn

#: event numbers of top-up events start here (drawn events are numbered from 0)
TOP_UP_K = 1 << 24
#: no effect: the day from which an effect acts (after every day of a year)
NEVER = np.int16(32_000)


@dataclass
class _Effect:
    """One lever's effect on one stream: the day it starts and its factor, per person."""

    from_day: np.ndarray
    factor: np.ndarray
    thin_key: np.uint64
    top_up_key: np.uint64
    #: top-up events waiting for their day: absolute day -> (person positions, event numbers)
    top_ups: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    calls: int = 0


class DayEffects:
    """The demand effects of the current year, by demand stream and lever."""

    def __init__(self) -> None:
        self._by_stream: dict[str, dict[str, _Effect]] = {}

    def reset(self) -> None:
        """A new year: every effect ends (levers carry theirs through yearly multipliers)."""
        self._by_stream = {}

    def active(self, stream: str) -> bool:
        """Whether any effect acts on ``stream`` this year."""
        return stream in self._by_stream

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
        factor_arr = np.broadcast_to(np.asarray(factor, dtype=np.float64), person.shape)
        if not person.size:
            return
        levers = self._by_stream.setdefault(stream, {})
        eff = levers.get(lever)
        if eff is None:
            eff = levers[lever] = _Effect(
                from_day=np.full(size, NEVER, dtype=np.int16),
                factor=np.ones(size, dtype=np.float64),
                thin_key=thin_key,
                top_up_key=top_up_key,
            )
        eff.calls += 1
        eff.from_day[person] = np.int16(from_day)
        eff.factor[person] = factor_arr
        up = np.flatnonzero(factor_arr > 1.0)
        if up.size:
            who = person[up]
            days_left = np.maximum(end_day[who] - from_day, 0)
            mean = (factor_arr[up] - 1.0) * rate[who] * days_left / 365.0
            ids = person_id[who]
            u = crn.uniforms(eff.top_up_key, ids, np.full(ids.size, eff.calls, np.int64))
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
        every one does (no effect on the stream)."""
        levers = self._by_stream.get(stream)
        if not levers or not np.asarray(person).size:
            return None
        keep = np.ones(np.asarray(person).shape, dtype=bool)
        day_arr = np.broadcast_to(np.asarray(day, dtype=np.int64), keep.shape)
        for eff in levers.values():
            f = eff.factor[person]
            thin = (day_arr >= eff.from_day[person]) & (f < 1.0)
            if thin.any():
                at = np.flatnonzero(thin)
                u = crn.uniforms(eff.thin_key, person_id[person[at]], np.asarray(k)[at])
                keep[at] &= u < f[at]
        return keep

    def extra(self, stream: str, absolute_day: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Top-up events of ``stream`` on an absolute day: (positions, event numbers)."""
        levers = self._by_stream.get(stream)
        if not levers:
            return None
        parts = [
            eff.top_ups.pop(absolute_day) for eff in levers.values() if absolute_day in eff.top_ups
        ]
        if not parts:
            return None
        person = np.concatenate([p for p, _ in parts])
        k = np.concatenate([k for _, k in parts])
        return person, k


__all__ = ["NEVER", "TOP_UP_K", "DayEffects"]
