"""A caseload service for rare, long episodes: one SimPy process per episode.

Link-worker support, health coaching or PHB reviews are rare relative to the population and
last weeks, so each episode is its own SimPy process that requests one of ``servers``
places (a ``simpy.Resource``), holds it for its service time and releases it. With Poisson
arrivals and exponential service times this is an M/M/c queue, and the tests check its mean
wait against the Erlang-C formula.

The service records waits and completed episodes itself; levers turn its episodes into
effects on people.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from model import _lever_kernels


@dataclass
class Episode:
    """One request for a place on the caseload."""

    person_id: int
    arrival: float
    service_days: float
    start: float = math.nan
    end: float = math.nan

    @property
    def wait_days(self) -> float:
        """Time from arrival to the start of service (NaN until started)."""
        return self.start - self.arrival


@dataclass
class Caseload:
    """``servers`` places served first come, first served."""

    env: simpy.Environment
    servers: int
    episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.servers < 1:
            raise ValueError("a caseload needs at least one place")
        self.resource = simpy.Resource(self.env, capacity=self.servers)

    def episode(self, ep: Episode) -> Generator[Any]:
        """SimPy process of one episode: wait for a place, hold it, release it."""
        self.episodes.append(ep)
        with self.resource.request() as req:
            yield req
            ep.start = self.env.now
            yield self.env.timeout(ep.service_days)
            ep.end = self.env.now

    def submit(self, ep: Episode) -> simpy.Process:
        """Start the episode's process now."""
        return self.env.process(self.episode(ep))

    def arrivals(
        self, person_ids: np.ndarray, arrival_days: np.ndarray, service_days: np.ndarray
    ) -> Generator[Any]:
        """SimPy process that submits pre-drawn episodes at their arrival times (sorted)."""
        for pid, t, s in zip(person_ids, arrival_days, service_days, strict=True):
            delay = float(t) - self.env.now
            if delay > 0:
                yield self.env.timeout(delay)
            self.submit(Episode(int(pid), float(t), float(s)))

    def waits(self, since: float = 0.0) -> np.ndarray:
        """Waits (days) of episodes that started, arriving at or after ``since``."""
        return np.array(
            [e.wait_days for e in self.episodes if e.arrival >= since and not math.isnan(e.start)]
        )


def erlang_c_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of an M/M/c system (Erlang C), same time unit as the rates."""
    a = arrival_rate / service_rate  # offered load
    rho = a / servers
    if rho >= 1:
        return math.inf
    terms = sum(a**k / math.factorial(k) for k in range(servers))
    top = a**servers / math.factorial(servers) / (1 - rho)
    p_wait = top / (terms + top)
    return p_wait / (servers * service_rate - arrival_rate)


# ----------------------------------------------------------------------------- caseload service


#: states of a referral in a ``CaseloadService``
WAITING, ACTIVE, COMPLETED, DROPPED, DIED, LEFT_WAITING = range(6)


@dataclass(frozen=True)
class CaseloadSpec:
    """What a caseload service (link workers, coaches, PHB reviews) is given.

    ``fte_by_year`` is the staff of the *simulated* sample in each simulated year (a lever
    scales the represented population's FTE by sample / represented); a year beyond the list
    keeps the last value. ``caseload_per_fte_year`` is the people one FTE supports in a
    year; with episodes of ``sessions`` x ``days_between_sessions`` days this gives the
    places one FTE holds at once. Staff arrive from ``start_day`` (absolute), ramping up
    linearly over ``ramp_up_days``. ``unit_fte_share`` splits the staff between deployment
    units (one unit: the whole population; or PCNs or practices), and each unit has its
    own places and waiting list.
    """

    name: str
    fte_by_year: tuple[float, ...]
    caseload_per_fte_year: float
    sessions: tuple[int, int]
    days_between_sessions: float
    dropout_per_session: float
    max_wait_days: float
    cost_per_fte_year: float
    start_day: int = 0
    ramp_up_days: int = 0
    unit_fte_share: tuple[float, ...] = (1.0,)

    @property
    def mean_episode_days(self) -> float:
        """Mean days from first to last session."""
        lo, hi = self.sessions
        return max((lo + hi) / 2.0 - 1.0, 0.0) * self.days_between_sessions + 1.0

    @property
    def places_per_fte(self) -> float:
        """People one FTE supports at the same time."""
        return self.caseload_per_fte_year * self.mean_episode_days / 365.0


def insert_at(
    arrays: list[np.ndarray], at: np.ndarray, values: list[np.ndarray | Any]
) -> list[np.ndarray]:
    """``[np.insert(a, at, v) for a, v in zip(arrays, values)]`` (``arrays`` of one length,
    each value an array like ``at`` or one for all), with where the old and new elements go
    found once for them all when ``at`` is nondecreasing (the case of sorted insertions)."""
    m = at.size
    if m and at.size > 1 and not np.all(at[1:] >= at[:-1]):
        return [np.insert(a, at, v) for a, v in zip(arrays, values, strict=True)]
    n = arrays[0].size
    new_at = at + np.arange(m)  # np.insert's positions of the new elements, in order
    old_at = np.ones(n + m, dtype=bool)
    old_at[new_at] = False
    out = []
    for a, v in zip(arrays, values, strict=True):
        merged = np.empty(n + m, dtype=a.dtype)
        merged[new_at] = v
        merged[old_at] = a
        out.append(merged)
    return out


class _Referred:
    """The people referred to a caseload so far: their ids, how many times each was referred
    and whether an episode of theirs is open (waiting or in support).

    Two sorted parts, the bulk and the latest people, so that adding a few people copies
    only the latest; they join the bulk when there are ``MERGE`` of them.
    """

    MERGE = 4096

    def __init__(self) -> None:
        #: per part: sorted ids, referral counts, open flags
        self.ids = [np.empty(0, np.int64), np.empty(0, np.int64)]
        self.count = [np.empty(0, np.int32), np.empty(0, np.int32)]
        self.open = [np.empty(0, dtype=bool), np.empty(0, dtype=bool)]

    def find(self, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per part: which of ``ids`` it holds, and their positions there."""
        out = []
        for part in self.ids:
            if not part.size:
                out.append((np.zeros(ids.size, dtype=bool), np.zeros(ids.size, np.int64)))
                continue
            pos = np.minimum(np.searchsorted(part, ids), part.size - 1)
            out.append((part[pos] == ids, pos))
        return out

    def close(self, ids: np.ndarray) -> None:
        """These people's open episodes ended."""
        for (found, pos), flags in zip(self.find(ids), self.open, strict=True):
            flags[pos[found]] = False

    def add(self, fresh: np.ndarray) -> None:
        """People referred for the first time (sorted, none held yet), with an open episode."""
        if not fresh.size:
            return
        at = np.searchsorted(self.ids[1], fresh)
        self.ids[1], self.count[1], self.open[1] = insert_at(
            [self.ids[1], self.count[1], self.open[1]], at, [fresh, np.int32(1), True]
        )
        if self.ids[1].size >= self.MERGE:  # the latest join the bulk
            at = np.searchsorted(self.ids[0], self.ids[1])
            self.ids[0], self.count[0], self.open[0] = insert_at(
                [self.ids[0], self.count[0], self.open[0]],
                at,
                [self.ids[1], self.count[1], self.open[1]],
            )
            self.ids[1] = np.empty(0, np.int64)
            self.count[1] = np.empty(0, np.int32)
            self.open[1] = np.empty(0, dtype=bool)


#: columns of a caseload's episode rows
_COLUMNS = (
    ("person_id", np.int64),
    ("unit", np.int32),
    ("referred", np.int64),
    ("started", np.int64),
    ("n_sessions", np.int16),
    ("done", np.int16),
    ("next_day", np.int64),
    ("state", np.int8),
    ("ref_no", np.int32),
)


class _Column:
    """A column of a caseload's episode rows: a view of the rows in use."""

    name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: CaseloadService, objtype: type | None = None) -> np.ndarray:
        return obj._buf[self.name][: obj.size]

    def __set__(self, obj: CaseloadService, value: np.ndarray) -> None:
        raise AttributeError(f"caseload column {self.name!r} is written in place, not replaced")


class CaseloadService:
    """A staffed caseload with a waiting list per deployment unit, served day by day.

    Referrals (``refer``) wait first come, first served in their unit's list; each day the
    free places of every unit (staff on duty x places per FTE, less those in support) take
    the longest waiting. A person in support has a keyed number of sessions, one every
    ``days_between_sessions``; at each session they may drop out (keyed); after the last
    they complete. People who die leave the list or the caseload; people who wait longer
    than ``max_wait_days`` leave the list. Everything random is a uniform keyed by the
    person's id and their referral number, so a person's course does not depend on others.

    ``year_record()`` gives the year's throughput (referred, started, completed,
    dropped_out, died, left_waiting, waiting_at_year_end, sessions, mean_wait_days,
    staff_cost_gbp, fte), and ``completions`` / ``sessions_log`` what levers turn into
    effects.
    """

    def __init__(self, spec: CaseloadSpec, key: int) -> None:
        if spec.sessions[0] < 1 or spec.sessions[1] < spec.sessions[0]:
            raise ValueError("sessions must be (low, high) with 1 <= low <= high")
        self.spec = spec
        self.key = np.uint64(key)
        n_units = len(spec.unit_fte_share)
        self.unit_share = np.asarray(spec.unit_fte_share, dtype=float)
        #: the episode rows (referral order) in buffers with room to grow: ``size`` rows
        #: used, read through the column attributes (views of the used rows)
        self._buf = {name: np.empty(16, dtype) for name, dtype in _COLUMNS}
        self.size = 0
        #: incremented when the rows are compacted (at the year's end): rows keep their
        #: place until then
        self.generation = 0
        #: people referred so far, how many times each was referred, and whether they have
        #: an open episode (waiting or in support) now
        self._referred = _Referred()
        self.n_units = n_units
        #: (person id, absolute day) of each completed episode, appended as they happen
        self.completions: list[tuple[np.ndarray, int]] = []
        self.reset_year()

    person_id = _Column()
    unit = _Column()
    referred = _Column()
    started = _Column()
    n_sessions = _Column()
    done = _Column()
    next_day = _Column()
    state = _Column()
    ref_no = _Column()

    def open_rows(self) -> np.ndarray:
        """Rows of the open episodes (waiting or in support)."""
        return np.flatnonzero(self.state <= ACTIVE)

    def _append(self, **columns: np.ndarray) -> None:
        """Append rows (every column, one length), growing the buffers when full."""
        n = next(iter(columns.values())).size
        need = self.size + n
        capacity = self._buf["state"].size
        if need > capacity:
            capacity = max(2 * capacity, need)
            for name, old in self._buf.items():
                grown = np.empty(capacity, old.dtype)
                grown[: self.size] = old[: self.size]
                self._buf[name] = grown
        for name, values in columns.items():
            self._buf[name][self.size : need] = values
        self.size = need

    def _close(self, rows: np.ndarray, state: int) -> None:
        """Episodes ``rows`` end in ``state``: their people have no open episode now."""
        self.state[rows] = state
        self._referred.close(self.person_id[rows])

    # ---------------------------------------------------------------- staffing
    def fte_on(self, absolute_day: int, year: int) -> float:
        """Staff on duty on a day (ramp-up applied), for the whole population."""
        s = self.spec
        if absolute_day < s.start_day:
            return 0.0
        fte = s.fte_by_year[min(year, len(s.fte_by_year) - 1)]
        if s.ramp_up_days > 0:
            fte *= min(1.0, (absolute_day - s.start_day + 1) / s.ramp_up_days)
        return float(fte)

    # ---------------------------------------------------------------- referrals
    def refer(self, person_id: np.ndarray, unit: np.ndarray, absolute_day: int) -> int:
        """Add referrals; people already waiting or in support are not referred again.

        Returns the number of new referrals.
        """
        ids = np.asarray(person_id, dtype=np.int64)
        units = np.asarray(unit, dtype=np.int32)
        ids, first = np.unique(ids, return_index=True)
        units = units[first]
        # referral number of each person (0 for their first), from the people referred
        # before, their counts and whether an episode of theirs is open
        referred = self._referred
        status, ref_no = _lever_kernels.referred_again(
            ids, list(zip(referred.ids, referred.count, referred.open, strict=True))
        )
        new = status > 0
        ids, units, ref_no, fresh = ids[new], units[new], ref_no[new], status[new] == 2
        if not ids.size:
            return 0
        referred.add(ids[fresh])
        n = ids.size
        lo, hi = self.spec.sessions
        u = _u(self.key, ids, ref_no, 0)
        sessions = lo + np.minimum((u * (hi - lo + 1)).astype(np.int16), hi - lo)
        self._append(
            person_id=ids,
            unit=units,
            referred=np.full(n, absolute_day, np.int64),
            started=np.full(n, -1, np.int64),
            n_sessions=sessions.astype(np.int16),
            done=np.zeros(n, np.int16),
            next_day=np.full(n, -1, np.int64),
            state=np.full(n, WAITING, np.int8),
            ref_no=ref_no,
        )
        self.rec["referred"] += n
        return int(n)

    # ---------------------------------------------------------------- the day
    def day(self, absolute_day: int, year: int, dead: np.ndarray) -> None:
        """One day: deaths leave, sessions happen, free places take the longest waiting.

        ``dead`` is a boolean per episode row (``person_id``) telling who has died by today
        (``CaseloadService.dead_mask`` builds it from a world's death days).
        """
        s = self.spec
        #: person ids of today's sessions and of today's starts (for levers' records)
        self.today_sessions: list[np.ndarray] = []
        self.today_started = np.empty(0, np.int64)
        #: the rows of today's sessions, alongside ``today_sessions`` (rows keep their place
        #: until the year's end)
        self.today_session_rows: list[np.ndarray] = []
        self.today_started_rows = np.empty(0, np.int64)
        self.rec["staff_cost_gbp"] += self.fte_on(absolute_day, year) * s.cost_per_fte_year / 365
        self.rec["fte_days"] += self.fte_on(absolute_day, year)
        # deaths of open episodes, today's sessions (done or a keyed drop-out), waiting too
        # long: one compiled pass over the rows, in row order
        size = self.size
        cols = {name: buf[:size] for name, buf in self._buf.items()}
        step = round(s.days_between_sessions)
        due, finished, closed, n_waiting, dropped, left, died, active = _lever_kernels.caseload_day(
            cols,
            dead,
            absolute_day,
            self.key,
            s.dropout_per_session,
            s.max_wait_days,
            step,
            self.n_units,
        )
        if closed.size:
            self._referred.close(self.person_id[closed])
        self.rec["died"] += died
        if due.size:
            self.today_sessions.append(self.person_id[due])
            self.today_session_rows.append(due)
            self.rec["sessions"] += int(due.size)
            self.rec["completed"] += int(finished.size)
            self.rec["dropped_out"] += dropped
            if finished.size:
                self.completions.append((self.person_id[finished], absolute_day))
        self.rec["left_waiting"] += left
        # free places take the longest waiting, unit by unit (rows are in referral order)
        places = self.fte_on(absolute_day, year) * s.places_per_fte * self.unit_share
        free = np.maximum(np.floor(places + 1e-9).astype(np.int64) - active, 0)
        if n_waiting and free.any():
            take = _lever_kernels.waiting_take(self.state, self.unit, free)
            if self.n_units > 1:  # unit by unit, each in referral order
                take = take[np.argsort(self.unit[take], kind="stable")]
            self.state[take] = ACTIVE
            self.started[take] = absolute_day
            self.next_day[take] = absolute_day  # first session today
            self.rec["started"] += int(take.size)
            self.rec["wait_days_sum"] += float((absolute_day - self.referred[take]).sum())
            # the first session happens on the day of starting
            self.done[take] += 1
            self.rec["sessions"] += int(take.size)
            self.today_sessions.append(self.person_id[take])
            self.today_session_rows.append(take)
            self.today_started = self.person_id[take].copy()
            self.today_started_rows = take
            single = take[self.done[take] >= self.n_sessions[take]]
            self._close(single, COMPLETED)
            self.rec["completed"] += int(single.size)
            if single.size:
                self.completions.append((self.person_id[single].copy(), absolute_day))
            more = take[self.done[take] < self.n_sessions[take]]
            self.next_day[more] = absolute_day + step

    def dead_mask(self, world_person_id: np.ndarray, death_day: np.ndarray, day: int) -> np.ndarray:
        """Per episode row: has the person died by ``day`` (relative day of this year)?

        People no longer in ``world_person_id`` (died in an earlier year) count as dead.
        """
        pos = np.searchsorted(world_person_id, self.person_id)
        pos = np.minimum(pos, max(world_person_id.size - 1, 0))
        found = world_person_id[pos] == self.person_id if world_person_id.size else pos < 0
        dd = death_day[pos].astype(np.int64)
        return ~found | ((dd >= 0) & (dd <= day))

    # ---------------------------------------------------------------- the year
    def reset_year(self) -> None:
        """Start counting a new year (the list and the caseload carry over)."""
        self.rec: dict[str, float] = dict.fromkeys(
            (
                "referred",
                "started",
                "completed",
                "dropped_out",
                "died",
                "left_waiting",
                "sessions",
                "wait_days_sum",
                "staff_cost_gbp",
                "fte_days",
            ),
            0.0,
        )

    def year_record(self) -> dict[str, float]:
        """The year's throughput, then forget finished episodes (the open ones carry on)."""
        r = dict(self.rec)
        started = r.pop("wait_days_sum")
        r["mean_wait_days"] = started / r["started"] if r["started"] else float("nan")
        r["fte"] = r.pop("fte_days") / 365.0
        r["waiting_at_year_end"] = float((self.state == WAITING).sum())
        r["in_support_at_year_end"] = float((self.state == ACTIVE).sum())
        keep = self.open_rows()
        for buf in self._buf.values():
            buf[: keep.size] = buf[keep]
        self.size = int(keep.size)
        self.generation += 1
        self.reset_year()
        return r


def _u(
    key: np.uint64, person_id: np.ndarray, ref_no: np.ndarray, index: np.ndarray | int
) -> np.ndarray:
    """Keyed uniforms per (person, referral number, index)."""
    from model import crn

    return crn.uniforms(key, person_id, np.asarray(ref_no, dtype=np.int64) * 1024 + index)
