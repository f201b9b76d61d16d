"""Shared machinery for services: a per-year request table and a FIFO waiting list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model import crn
from model.demand import Events, draw_events
from model.services.queue import FifoQueue
from model.world import DAYS_PER_YEAR, DailyCapacity, World


@dataclass
class RequestTable:
    """Requests known to a service (carried-over backlog first, then this year's events).

    ``person`` indexes ``world.pop`` for the current year (``person_ids`` gives the ids);
    ``arrival`` is the absolute day; ``k`` is the event number used to key per-request
    uniforms.
    """

    person: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    k: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    arrival: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self.arrival.shape[0])

    def person_ids(self, world: World, rows: np.ndarray) -> np.ndarray:
        """Person ids of ``rows`` (valid during the year the table was built for)."""
        return world.pop.person_id[self.person[rows]]

    def take(self, rows: np.ndarray) -> RequestTable:
        """Rows ``rows`` as a new table."""
        return RequestTable(
            self.person[rows],
            self.k[rows],
            self.arrival[rows],
            {name: col[rows] for name, col in self.extra.items()},
        )

    def append(self, other: RequestTable) -> RequestTable:
        """This table followed by ``other``."""
        names = set(self.extra) | set(other.extra)
        extra = {}
        for n in names:
            a = self.extra.get(n)
            b = other.extra.get(n)
            if a is None:
                assert b is not None
                a = np.zeros(self.size, dtype=b.dtype)
            if b is None:
                b = np.zeros(other.size, dtype=a.dtype)
            extra[n] = np.concatenate([a, b])
        return RequestTable(
            np.concatenate([self.person, other.person]),
            np.concatenate([self.k, other.k]),
            np.concatenate([self.arrival, other.arrival]),
            extra,
        )


def table_from_events(world: World, events: Events) -> RequestTable:
    """A request table for this year's demand events (arrival = absolute day)."""
    return RequestTable(
        person=events.person,
        k=events.k,
        arrival=events.day.astype(np.int32) + np.int32(world.day0),
    )


#: event numbers of the starting RTT list are offset by this (apart from the year's events)
RTT_K_OFFSET = 1_000_000


def rtt_backlog(world: World, stream: str, share: float = 1.0) -> RequestTable:
    """The referral-to-treatment list a stream's service starts with (oldest first).

    Each person has a keyed number of waiting requests: their base-year demand of
    ``acute.rtt.list_years`` years (times ``share``, e.g. first outpatient attendances), so
    the list is that many years of demand; each request has waited a keyed number of weeks
    drawn from the published distribution of the list (``acute.rtt.waited_share``). Drawn
    before any lever acts, from the lever-free rates, so it is the same in every scenario.
    """
    reg = world.register
    pop = world.pop
    years = reg.scalar("acute.rtt.list_years")
    rate = world.base_rates(stream) * (years * share)
    ev = draw_events(
        rate,
        np.full(pop.size, DAYS_PER_YEAR, dtype=np.int64),
        pop.person_id,
        world.key(f"rtt.{stream}.count", 0),
        world.key(f"rtt.{stream}.day", 0),
        per_user=world.demand.per_user[stream],
    )
    waited = reg["acute.rtt.waited_share"]
    weeks = np.array([0.0, *(float(w) for w in waited.index)])
    shares = np.array([0.0, *(float(v) for v in waited.value)])
    k = ev.k.astype(np.int64) + RTT_K_OFFSET
    u = crn.uniforms(world.key(f"rtt.{stream}.waited", 0), pop.person_id[ev.person], k)
    days = np.maximum(np.ceil(np.interp(u, shares, weeks) * 7), 1).astype(np.int64)
    arrival = (world.day0 - days).astype(np.int32)
    order = np.argsort(arrival, kind="stable")
    return RequestTable(ev.person[order], k[order].astype(np.int32), arrival[order])


def mark_urgent(world: World, table: RequestTable, stream: str) -> RequestTable:
    """Flag a keyed share ``acute.rtt.urgent_share`` of new RTT requests as urgent."""
    share = world.register.scalar("acute.rtt.urgent_share")
    u = crn.uniforms(
        world.key(f"rtt.{stream}.urgent"), table.person_ids(world, np.arange(table.size)), table.k
    )
    table.extra["urgent"] = u < share
    return table


class WaitingList:
    """A FIFO waiting list whose rows live in a yearly request table.

    ``start_year`` keeps the backlog (renumbered, people who left removed) and appends the
    year's new requests, which must be sorted by arrival day; ``arrivals(day)`` returns the
    rows arriving on a relative day of the year.
    """

    def __init__(self) -> None:
        self.table = RequestTable()
        self.queue = FifoQueue()
        self._day_starts = np.zeros(366, dtype=np.int64)
        self._offset = 0
        #: the demand streams whose events join this list (``extra["stream"]`` indexes them;
        #: without it every row is the first's), for levers' effects from a day on
        self.streams: tuple[str, ...] = ()
        #: fills a service's extra columns (e.g. length of stay) of top-up requests
        self.fill_extra: Callable[[World, RequestTable], None] | None = None
        self._carry_ids = np.empty(0, dtype=np.int64)

    def capture(self, world: World) -> None:
        """At the end of a year, before people leave or join: note who is still waiting."""
        self._carry_ids = self.table.person_ids(world, self.queue.pending)

    def start_year(self, world: World, new: RequestTable) -> None:
        """Carry the backlog into this year's table and add the new requests.

        The backlog's people are found again by the ids noted by ``capture``; requests of
        people who died are dropped. The backlog is renumbered 0..n-1 in queue order.
        """
        old = self.table.take(self.queue.pending)
        old.person = world.index_of(self._carry_ids).astype(np.int32)
        old = old.take(np.flatnonzero(old.person >= 0))
        self.queue.pending = np.arange(old.size, dtype=np.int64)
        self.table = new if old.size == 0 else old.append(new)
        self._offset = old.size
        rel = new.arrival - world.day0
        self._day_starts = np.searchsorted(rel, np.arange(366)).astype(np.int64)

    def arrivals(self, day: int) -> np.ndarray:
        """Rows (in the table) of this year's requests arriving on relative ``day``."""
        lo, hi = self._day_starts[day], self._day_starts[day + 1]
        return np.arange(self._offset + lo, self._offset + hi, dtype=np.int64)

    def arriving(self, world: World, day: int) -> np.ndarray:
        """``arrivals(day)`` after levers' effects: thinned requests leave, top-up requests
        of the list's first stream join (``model.effects``); the same rows without effects."""
        rows = self.arrivals(day)
        if not any(world.effects.active(s) for s in self.streams):
            return rows
        which = self.table.extra.get("stream")
        keep = np.ones(rows.size, dtype=bool)
        for code, stream in enumerate(self.streams):
            if not world.effects.active(stream):
                continue  # no effect on this stream: all its rows stay
            mine = np.ones(rows.size, bool) if which is None else which[rows] == code
            at = np.flatnonzero(mine)
            tab = self.table
            mask = world.keep_events(stream, tab.person[rows[at]], tab.k[rows[at]], day)
            if mask is not None:
                keep[at[~mask]] = False
        rows = rows[keep]
        extra = world.extra_events(self.streams[0], day)
        if extra is not None:
            person, k = extra
            new = RequestTable(
                person.astype(np.int32),
                k.astype(np.int32),
                np.full(person.size, world.day0 + day, dtype=np.int32),
            )
            if self.fill_extra is not None:
                self.fill_extra(world, new)
            rows = np.concatenate([rows, self.add_rows(new)])
        return rows

    def join(self, rows: np.ndarray) -> None:
        """Add arriving ``rows`` to the queue: urgent ones (``extra["urgent"]``, if the
        table has it) ahead of everyone waiting, the rest at the back."""
        urgent = self.table.extra.get("urgent")
        if urgent is None or not rows.size:
            self.queue.add(rows)
            return
        now = urgent[rows]
        if now.any():
            self.queue.add_front(rows[now])
        self.queue.add(rows[~now])

    def seed(self, rows: RequestTable) -> None:
        """Put ``rows`` (already waiting, oldest first) at the head of an empty list."""
        assert not len(self.queue), "a list is seeded before anything joins it"
        self.queue.add(self.add_rows(rows))

    def add_rows(self, new: RequestTable) -> np.ndarray:
        """Append ad-hoc rows (e.g. transfers from another service) and return their rows."""
        start = self.table.size
        self.table = self.table.append(new)
        return np.arange(start, self.table.size, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.queue)


class ServedList(WaitingList):
    """A waiting list served first come, first served by a daily capacity.

    ``capacity_key`` names the register entry (per 1,000 people per day); ``label`` is the
    service name used for lever capacity multipliers, waits and capacity records.
    """

    def __init__(
        self,
        capacity_key: str,
        label: str,
        working_days_only: bool,
        capacity_share: float = 1.0,
    ) -> None:
        super().__init__()
        self.capacity_key = capacity_key
        self.label = label
        self.working_days_only = working_days_only
        #: share of the capacity key's slots this list gets (lists sharing one capacity)
        self.capacity_share = capacity_share
        self.capacity = DailyCapacity()
        self.offered = 0.0
        self.used = 0.0

    def reset_counters(self) -> None:
        """Start counting capacity offered and used afresh (each year)."""
        self.offered = 0.0
        self.used = 0.0

    def serve_day(self, world: World, day: int) -> np.ndarray:
        """Add the day's arrivals, serve up to the day's capacity; return the rows served."""
        absolute = world.day0 + day
        self.join(self.arriving(world, day))
        if self.working_days_only and not world.is_working_day(absolute):
            return np.empty(0, dtype=np.int64)
        slots = self.capacity.take(
            world.capacity_today(self.label, self.capacity_key) * self.capacity_share
        )
        self.offered += slots
        rows = self.queue.serve(slots)
        self.used += rows.size
        world.ledger.waits(
            self.label,
            (absolute - self.table.arrival[rows]).astype(float),
            world.strata[self.table.person[rows]],
        )
        return rows
