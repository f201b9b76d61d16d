"""General practice as it is: practices with their own diaries, same-day and pre-booked demand,
clinician time by role, and what people do when the wait offered is too long.

Every practice (``model.practices``) keeps a diary of clinician minutes by role (GP, nurse,
other) for each working day up to ``gp.diary_horizon_days`` ahead. A GP request is one of two kinds:

* **same-day** (an urgent need): on the day it is made (weekend requests are made on the
  next working day) it takes the earliest free minutes of today's diary; if today is full the
  practice offers the earliest free time from tomorrow on, and the person accepts when the
  offered wait is within their tolerance (exponential, by segment); otherwise they try again
  the next working day, go to A&E, or give up (shares by segment);
* **pre-booked** (reviews, follow-ups, routine): booked for a day some weeks ahead (a lead
  drawn from published booking-lead shares), taking the first free time on or after that day
  in the part of the diary open to advance booking; when the first free time is later than
  the person tolerates, they give up.

Appointments are face to face, by telephone or online as people prefer (by segment); each
mode takes its own clinician time (minutes by role and mode), so the mix of modes follows
preferences and what capacity is offered rather than fixed shares. DNA depends on how far
ahead the appointment was booked and on activation (the level at entry sets the cross-sectional
ratio; a later change of level carries ``gp.dna_pam_causal_share`` of the association, as
for demand: ``model.demand.causal_rr``). Attended appointments are counted as
``gp_appointment`` on the day they happen; requests that end without an appointment as
``gp_request_abandoned`` or ``gp_spill_to_ae``. The diary starts seeded with the pre-booked
appointments of the weeks before the first simulated day (the same people's demand, drawn
from its own keyed stream), so the first year has no empty-diary bias.

The booking of a day's requests covers all practices and roles at once: for requests sorted
by (diary, earliest day), first-come greedy booking into the earliest free time gives start
positions ``s_j = max(f_j, s_{j-1} + d_{j-1})`` in each diary's cumulative free minutes
(``f_j`` the first free minute on the earliest acceptable day, ``d`` durations), which is a
running maximum: ``s = cummax(f - D) + D`` with ``D`` the durations booked before. It is
computed in one compiled sequential pass (``_gp_kernels``) with the floating-point operations
of the vectorised numpy version (``greedy_book_vectorised``), so both book alike.

The diary is a ring of chunked record lists, one slot per day ahead (``gp_diary``). A day
runs as a few compiled passes (``_gp_kernels``: the day's attendance, same-day booking, the
offers with their uniforms, the settling of offers), each tested against the numpy
expressions it replaces (``tests/test_gp_kernels.py``), with the boundaries ``_attend``,
``_same_day``, ``_pre_booked`` and ``_give_up`` kept. Where levers' per-person modifiers go
(arrays aligned with the population; None in the baseline): the DNA probability
(``attend_day``'s ``dna_multiplier``), the retry and A&E shares of same-day give-ups
(``settle``'s ``retry_multiplier`` and ``spill_multiplier``), the tolerance (the numpy
``tolerance`` line in ``_same_day`` and ``_pre_booked``), and the choice of mode (the mode
tables of ``_decide``). ``attend_day`` returns who attended and who missed (positions,
aligned with the ledger keys) for per-person spend and for subscribers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.demand import Events, causal_rr, draw_events
from model.ledger import WAIT_BAND_EDGES, unit_cost
from model.population import SEGMENTS
from model.practices import Practices
from model.services import _gp_kernels, _mode_kernels
from model.services.gp_diary import Diary
from model.services.protocol import ServiceYear
from model.strata import N_CODES
from model.world import DAYS_PER_YEAR, World

MODES = ("face_to_face", "telephone", "online")
ROLES = ("gp", "nurse", "other")
#: (role, mode) of each code mode * len(ROLES) + role
LABELS = tuple((r, m) for m in MODES for r in ROLES)
#: how far ahead diaries are kept (a request that cannot be booked within it gives up)
#: (the diary horizon is the register's ``gp.diary_horizon_days``)
#: pre-booked lead bands (days after the booking day), as in ``gp.prebook_lead_shares``
LEAD_BANDS = ((1, 7), (8, 14), (15, 28), (29, 56))
#: at most this many same-day attempts per need (the last failure cannot retry)
#: (the register's ``gp.max_same_day_attempts``); per-attempt keyed uniforms are indexed
#: ``k * ATTEMPT_STRIDE + attempt``, so at most this many attempts per need
ATTEMPT_STRIDE = 16
CAPACITY_KEYS = tuple(f"capacity.gp.{r}_minutes_per_1000_per_working_day" for r in ROLES)
SERVICE = "gp_appointment"


def greedy_book(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """First-come booking of requests into the earliest free time of their diaries.

    ``free`` is (diaries, days) of free minutes; request ``j`` wants diary ``diary[j]`` on
    day ``earliest[j]`` (0 or more) or later and takes ``minutes[j]``; requests are served in
    the order given within each diary after a stable sort by earliest day. Returns each
    request's day (column of ``free``), or -1 when its diary has no free time left within
    the horizon. A booking that starts in a day's last free minutes may run over it (a slot
    squeezed in).

    A compiled sequential pass (``_gp_kernels.book``) with the same floating-point
    operations as ``greedy_book_vectorised``, so the two give identical bookings.
    """
    return _gp_kernels.book(diary, earliest, minutes, free)


def greedy_book_vectorised(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """First-come booking of requests into the earliest free time of their diaries (numpy).

    ``free`` is (diaries, days) of free minutes; request ``j`` wants diary ``diary[j]`` on
    day ``earliest[j]`` or later and takes ``minutes[j]``; requests are served in the order
    given within each diary after a stable sort by earliest day. Returns each request's day
    (column of ``free``), or -1 when its diary has no free time left within the horizon.
    A booking that starts in a day's last free minutes may run over it (a slot squeezed in).
    """
    n = diary.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_days = free.shape[1]
    flat = free.reshape(-1).astype(np.float64)
    start = np.concatenate([[0.0], np.cumsum(flat)])  # start of each (diary, day) in minutes
    order = np.lexsort((earliest, diary))
    d, e, m = diary[order], earliest[order], minutes[order].astype(np.float64)
    first = start[d * n_days + np.minimum(e, n_days - 1)]
    first = np.where(e >= n_days, start[(d + 1) * n_days], first)  # beyond the horizon
    # durations booked before each request within its diary
    csum = np.cumsum(m) - m
    group_start = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    before = csum - np.repeat(csum[group_start], np.diff(np.r_[group_start, n]))
    # s_j = max over earlier i of the same diary of (first_i - before_i) + before_j; the
    # running maximum is taken over integer ranks (diaries kept apart by offsets of n) so
    # that s_j is first_i plus the durations in between, with no cancellation error
    key = first - before
    by_key = np.argsort(key, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_key] = np.arange(n)
    run = np.maximum.accumulate(rank + d * n) - d * n
    best = by_key[run]
    s = first[best] + (before - before[best])
    end_of_diary = start[(d + 1) * n_days]
    cell = np.searchsorted(start, s, side="right") - 1
    ok = (s < end_of_diary) & (cell // n_days == d)
    out = np.full(n, -1, dtype=np.int64)
    out[order[ok]] = cell[ok] % n_days
    return out


class PrimaryCareService:
    """The practices of the place: diaries, booking, attendance, give-ups and spill to A&E.

    Requests, retries and booked appointments are held as columns (``_empty_requests``):
    ``idx`` (position in this year's population, re-indexed when the population changes),
    ``id`` (person id, so that keyed uniforms need not look it up), ``k`` (event number, for
    keyed uniforms), ``kind`` (0 same-day, 1 pre-booked), ``lead``
    (days ahead wanted), ``diary`` (practice x role), ``mode`` and ``attempt``; booked
    appointments also ``booked_on`` (absolute day).
    """

    name = "gp"

    def __init__(self, world: World) -> None:
        reg = world.register
        pop = world.pop
        run = world.scenario.run
        # IMD quintiles split England's small areas into fifths: a fifth of practices' lists
        # each (the same for every replication)
        self.practices = Practices.build(reg, run.population, run.seed, np.full(5, 0.2))
        world.practices = self.practices
        n_p = self.practices.n
        self.n_diaries = n_p * len(ROLES)
        # share of each role's minutes held by each practice: list share x GP time factor
        share = self.practices.list_size / self.practices.list_size.sum()
        gp_share = share * self.practices.gp_capacity_factor
        self.diary_share = np.stack([gp_share, share, share], axis=1).reshape(-1)  # (p, role)
        self.minutes = reg.array("gp.minutes_by_role_mode").reshape(len(ROLES), len(MODES))
        role_minutes = np.array([reg.scalar(k) for k in CAPACITY_KEYS])
        self.preference = np.vstack([reg.array(f"gp.mode_preference.{s}") for s in SEGMENTS])
        self.cum_preference = np.cumsum(self.preference, axis=1)
        # requests go to roles in proportion to the appointments each role's time allows
        per_appt = self.minutes @ self.preference.mean(axis=0)  # mean minutes by role
        role_appts = role_minutes / per_appt
        self.cum_role = np.cumsum(role_appts / max(role_appts.sum(), 1e-12))[:-1]
        self.same_day_share = reg.scalar("gp.same_day_share")
        self.cum_lead = np.cumsum(reg.array("gp.prebook_lead_shares"))
        self.advance_share = 1.0 - reg.scalar("gp.same_day_reserve_share")
        relative = reg.array("gp.tolerance_relative_by_segment")
        self.tolerance_days = reg.scalar("gp.same_day_tolerance_days") * relative
        self.prebook_tolerance_days = reg.scalar("gp.prebook_tolerance_days") * relative
        self.retry_share = reg.array("gp.retry_share_by_segment")
        self.spill_share = reg.array("gp.spill_to_ae_by_segment")
        self.dna_rate = reg.scalar("gp.dna_rate")
        self.dna_rr = reg.array("gp.dna_rr_by_pam_level")
        # by (level at entry, current level): a change of level carries only the causal
        # share of the cross-sectional association
        self.dna_rr_pair = causal_rr(self.dna_rr, reg.scalar("gp.dna_pam_causal_share"))
        self.dna_rr_wait = reg.array("gp.dna_rr_by_wait_band")
        # normalised once on the base population: changes in activation (e.g. coaching)
        # change the overall DNA rate, not only who misses appointments
        self.dna_rr_mean = float(self.dna_rr[pop.pam_level - 1].mean())
        self.horizon = int(reg.scalar("gp.diary_horizon_days"))
        self.max_attempts = int(reg.scalar("gp.max_same_day_attempts"))
        # working days of the whole run and one horizon beyond, by absolute day
        last = world.day0 + (run.years + 1) * DAYS_PER_YEAR + self.horizon
        self.working = np.array([world.is_working_day(d) for d in range(last)], dtype=bool)
        # the first working day on or after each absolute day
        days = np.arange(last)
        marks = np.where(self.working, days, last)
        self.next_working = np.minimum.accumulate(marks[::-1])[::-1]
        self.booked_minutes = np.zeros((self.n_diaries, self.horizon))  # ring by absolute day
        self.diary = Diary(self.horizon)
        # requests not yet handled: those carried from last year (``waiting``), then this
        # year's made on the days since the last working day (rows ``_handled`` to
        # ``_made`` of ``new``, in the order of the year's events)
        self.waiting: dict[str, np.ndarray] = _empty_requests()
        self.new: dict[str, np.ndarray] = _empty_requests()
        self.new_day_starts = np.zeros(DAYS_PER_YEAR + 1, dtype=np.int64)
        self._handled = 0
        self._made = 0
        self.retries: dict[int, dict[str, np.ndarray]] = {}
        self.seeded = False
        #: the person codes of the day's request columns, read as they were split (the
        #: ``idx`` column they belong to, and the codes)
        self._coded: list[tuple[np.ndarray, np.ndarray]] = []
        self._minutes_today = np.zeros(self.n_diaries)
        self._reset()

    # ---------------------------------------------------------------- yearly
    def _reset(self) -> None:
        self.offered = 0.0
        self.used = 0.0
        n_p = self.practices.n
        # appointments by practice and (role, mode) code: attended, not attended
        self.by_practice = np.zeros((2, n_p, len(LABELS)), dtype=np.int64)
        self.wait_hist = np.zeros((n_p, self.horizon + 1), dtype=np.int64)
        self.offered_by_practice = np.zeros(n_p)
        self.attempts = 0
        self.failed = 0

    def start_year(self, world: World) -> None:
        """Decide each of the year's requests' kind, role, mode and lead up front."""
        pop = world.pop
        self.practice_of = self.practices.of(pop.person_id, pop.imd)
        self.list_size = np.bincount(self.practice_of, minlength=self.practices.n)
        events = world.events["gp"]
        self.new = self._requests(
            world, events.person, events.k, "gp.decisions", _drawn_order(events)
        )
        # the days searched in the events' own dtype: no widened copy of millions of days
        days = np.arange(DAYS_PER_YEAR + 1, dtype=events.day.dtype)
        self.new_day_starts = np.searchsorted(events.day, days)
        self._handled = self._made = 0
        self._reset()
        if not self.seeded:
            self._seed_diary(world)
            self.seeded = True

    def _requests(
        self,
        world: World,
        person: np.ndarray,
        k: np.ndarray,
        purpose: str,
        by_person: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Requests of ``person`` (positions) with their kind, lead, diary and mode.

        The four decisions use the four 16-bit uniforms of one hash per request
        (``crn.event_uniforms16``), looked up in tables of every uniform's decision
        (``_decision_tables``) in one compiled pass; with ``by_person`` (the events'
        ``counts`` and ``slot``) walking the requests person by person, as drawn.
        """
        pop = world.pop
        kind, lead, diary, mode, pid = _gp_kernels.decide(
            world.key(purpose),
            pop.person_id,
            person,
            k,
            pop.segment,
            self.practice_of,
            len(ROLES),
            self._decision_tables(),
            by_person,
        )
        shift = world.modifier("gp_online_preference")
        if shift is not None:  # levers move people's channel (model.world.MODIFIERS)
            mode = self._shift_modes(world, person, pid, k, mode, shift)
        return {
            # person and event number share the events' buffers (never written in place)
            "idx": person.astype(np.int32, copy=False),
            "id": pid,
            "k": k.astype(np.int32, copy=False),
            "kind": kind,
            "lead": lead,
            "diary": diary,
            "mode": mode,
            "attempt": np.zeros(person.shape[0], dtype=np.int8),
        }

    def _decision_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Same-day, mode (by segment), role and lead for every 16-bit uniform.

        The expressions are those applied to each request's uniforms (float32, compared with
        the register's float64 cut points), so a lookup gives the same decision. Computed
        once (from what ``__init__`` sets): levers' top-up requests ask for them every day.
        """
        tables = self.__dict__.get("_tables")
        if tables is None:
            tables = self._tables = self._make_decision_tables()
        return tables

    def _make_decision_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        u = _gp_kernels.U16
        cut = self.cum_preference
        mode = (u[None, :] > cut[:, 0][:, None]).astype(np.int8) + (
            u[None, :] > cut[:, 1][:, None]
        ).astype(np.int8)
        role = np.searchsorted(self.cum_role, u, side="right").astype(np.int32)
        same_day = u < self.same_day_share
        # lead of a pre-booked request: a band by its shares, then uniform within the band
        band = np.minimum(np.searchsorted(self.cum_lead, u, side="right"), len(LEAD_BANDS) - 1)
        lo = np.array([b[0] for b in LEAD_BANDS], dtype=np.float32)
        width = np.array([b[1] - b[0] + 1 for b in LEAD_BANDS], dtype=np.float32)
        prev = np.r_[0.0, self.cum_lead[:-1]].astype(np.float32)
        within = (u - prev[band]) / (self.cum_lead.astype(np.float32)[band] - prev[band])
        lead = lo[band] + np.minimum(np.floor(within * width[band]), width[band] - 1)
        return same_day, mode, role, lead.astype(np.int16)

    def _seed_diary(self, world: World) -> None:
        """Book the pre-booked appointments made in the weeks before the first day."""
        weeks = LEAD_BANDS[-1][1]
        exposure = np.full(world.pop.size, weeks, dtype=np.int64)
        ev = draw_events(
            world.rates("gp") * weeks / DAYS_PER_YEAR,
            exposure,
            world.pop.person_id,
            world.key("gp.warmup.count"),
            world.key("gp.warmup.day"),
            days_per_year=weeks,
        )
        req = self._requests(world, ev.person, ev.k, "gp.warmup.decisions", _drawn_order(ev))
        made = world.day0 - weeks + ev.day.astype(np.int64)  # days -weeks .. -1
        want = made + req["lead"]
        keep = (req["kind"] == 1) & (want >= world.day0)
        req, want, made = _select(req, keep), self.next_working[want[keep]], made[keep]
        self._minutes_today = self._day_minutes(world)
        offered = self._offer(req, world.day0 - 1, want)
        ok = np.flatnonzero(offered >= 0)
        self._book(req, ok, offered[ok], made[ok])

    def end_year(self, world: World) -> ServiceYear:
        """Appointments booked for next year, capacity (minutes), the practice table."""
        booked_ahead = self.diary.size
        return ServiceYear(
            backlogs={SERVICE: booked_ahead},
            capacity={SERVICE: (self.offered, self.used)},
            tables={"practice_gp": self._practice_table(world)},
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Re-index the people in diaries, retries and weekend requests; the dead leave."""
        self._hold_unhandled(world)
        self.diary.remap(world.index_of(old_ids[self.diary.records("idx")]))
        for day, part in list(self.retries.items()):
            self.retries[day] = _carried(world, old_ids, part)
        self.waiting = _carried(world, old_ids, self.waiting)

    def _hold_unhandled(self, world: World) -> None:
        """Move this year's requests not yet handled (made at a weekend) to ``waiting``,
        less those levers' effects withdraw (``model.effects``)."""
        a, b = self._handled, self._made
        if b > a:
            part = {k: v[a:b] for k, v in self.new.items()}
            if world.effects.active("gp"):
                day = world.events["gp"].day[a:b]
                keep = world.keep_events("gp", part["idx"], part["k"], day)
                if keep is not None:
                    part = _select(part, keep)
            self.waiting = _concat(self.waiting, part)
        self._handled = self._made

    # ---------------------------------------------------------------- capacity
    def _day_minutes(self, world: World) -> np.ndarray:
        """Clinician minutes of one working day by diary (practice x role), after levers."""
        role = np.array([world.capacity_today(SERVICE, key) for key in CAPACITY_KEYS])
        minutes = np.asarray(self.diary_share * np.tile(role, self.practices.n))
        # levers deployed by practice (or by PCN, through the practices of each PCN)
        by_practice = world.unit_multipliers(SERVICE, self.practices.n)
        if by_practice is not None:
            minutes = minutes * np.repeat(by_practice, len(ROLES))
        return minutes

    # ---------------------------------------------------------------- booking
    def _durations(self, req: dict[str, np.ndarray]) -> np.ndarray:
        return _gp_kernels.durations(req["diary"], req["mode"], self.minutes, len(ROLES))

    def _commit(
        self, req: dict[str, np.ndarray], absolute_day: np.ndarray, booked_on: np.ndarray
    ) -> None:
        """Put requests into the diary on their appointment days."""
        self._book(req, np.arange(absolute_day.size), absolute_day, booked_on)

    def _book(
        self,
        req: dict[str, np.ndarray],
        rows: np.ndarray,
        absolute_day: np.ndarray,
        booked_on: np.ndarray,
    ) -> None:
        """Put requests ``rows`` into the diary on their appointment days (in this order),
        and their minutes into the booked minutes of those days."""
        self.diary.append(req, rows, absolute_day, booked_on, self.minutes, self.booked_minutes)

    def _offer(self, req: dict[str, np.ndarray], today: int, earliest: np.ndarray) -> np.ndarray:
        """The first free advance time on or after ``earliest`` (absolute day), or -1.

        Advance time is the part of each future working day's diary open to booking ahead
        (``1 - gp.same_day_reserve_share``), less what is already booked.
        """
        if not req["idx"].size:
            return np.empty(0, dtype=np.int64)
        first_day = today + 1
        # greedy_book into the free minutes max(outer(advance minutes, working) - booked,
        # 0) of the days ahead, which the compiled pass builds as it goes
        col = _gp_kernels.book_ahead(
            req["diary"],
            np.maximum(earliest - first_day, 0),
            self._durations(req),
            self._minutes_today * self.advance_share,
            self.working[first_day : first_day + self.horizon - 1],
            self.booked_minutes,
            first_day % self.horizon,
        )
        return np.where(col >= 0, first_day + col, -1)

    # ---------------------------------------------------------------- daily
    def day(self, world: World, day: int) -> None:
        """One day of every practice."""
        absolute = world.day0 + day
        self.today = day  # relative day (for what the service publishes)
        self._made = int(self.new_day_starts[day + 1])  # today's requests wait with the rest
        if world.effects.active("gp"):  # levers' top-up requests (model.effects)
            extra = world.extra_events("gp", day)
            if extra is not None:
                person, k = extra
                top_up = self._requests(world, person, k, "gp.decisions")
                self.waiting = _concat(self.waiting, top_up)
        if not self.working[absolute]:
            return
        self._minutes_today = self._day_minutes(world)
        ring = absolute % self.horizon
        self.offered += float(self._minutes_today.sum())
        self.offered_by_practice += self._minutes_today.reshape(-1, len(ROLES)).sum(axis=1)
        # 1. the appointments booked for today happen
        self._attend(world, absolute)
        # 2. the day's requests (weekend ones are made today) and same-day retries due today,
        # of the people still alive
        self._hold_unhandled(world)
        # the waiting requests followed by the retries, split in one pass without
        # concatenating them first (the same columns as splitting their concatenation)
        waiting = self.waiting
        retried = self.retries.pop(absolute, None)
        self.waiting = _empty_requests()
        if waiting["idx"].size or (retried is not None and retried["idx"].size):
            same, pre, same_codes, pre_codes = _gp_kernels.split_coded(
                waiting, world.death_day, world.day0, absolute, world.strata, retried
            )
            self._coded = [(same["idx"], same_codes), (pre["idx"], pre_codes)]
            self._same_day(world, same, absolute, ring)
            self._pre_booked(world, pre, absolute)
            self._coded = []
        self.booked_minutes[:, ring] = 0.0  # the day is over: its column serves day + horizon

    def _shift_modes(
        self,
        world: World,
        person: np.ndarray,
        pid: np.ndarray,
        k: np.ndarray,
        mode: np.ndarray,
        shift: np.ndarray,
    ) -> np.ndarray:
        """Requests' modes with the online share of each person's segment times the
        person's factor ``shift`` (per person in the population).

        More online (factor > 1): a request not made online turns online with probability
        ``(factor - 1) p / (1 - p)`` (``p`` the segment's online preference), so the online
        share becomes ``p x factor`` (at most 1). Less online: an online request turns face to
        face or telephone (in their preferred proportions) with probability ``1 - factor``.
        Keyed uniforms per request, so the shift is paired across scenarios. One compiled
        pass (``_mode_kernels.shift_modes``; its numpy reference ``shift_modes_numpy``).
        """
        return _mode_kernels.shift_modes(
            world.key("gp.mode_shift"),
            world.key("gp.mode_shift_to"),
            person,
            pid,
            k,
            mode,
            shift,
            world.pop.segment,
            self.preference,
            MODES.index("online"),
        )

    def _codes(self, world: World, idx: np.ndarray) -> np.ndarray:
        """``world.strata[idx]``: the person codes of request positions ``idx``, as read
        when the day's requests were split if ``idx`` is one of those columns."""
        for known, codes in self._coded:
            if known is idx:
                return codes
        return world.strata.take(idx)

    def _same_day(self, world: World, req: dict[str, np.ndarray], today: int, ring: int) -> None:
        n = req["idx"].size
        if not n:
            return
        self.attempts += n
        codes = self._codes(world, req["idx"])
        world.ledger.count("gp_booking_attempt", codes, mode="same_day")
        # today's free minutes, first come first served; those booked are seen today
        booked, failed_rows = _gp_kernels.book_today(
            req, self._minutes_today, self.booked_minutes, ring, self.minutes
        )
        self._attend(world, today, (req, booked))  # seen today, straight from the requests
        if not failed_rows.size:
            return
        failed = _take(req, failed_rows)
        failed_codes = codes.take(failed_rows)
        self._coded.append((failed["idx"], failed_codes))
        # the earliest time offered from tomorrow on, taken within the person's tolerance;
        # otherwise retry, A&E or give up
        offered, _, seg, (u_tol, u_retry, u_spill) = self._offer_and_draw(
            world, failed, today, False, 3
        )
        tolerance = -np.log(u_tol) * self.tolerance_days[seg]
        patience = world.modifier("gp_patience")
        if patience is not None:  # levers' per-person multipliers on the time tolerated
            tolerance = tolerance * patience[failed["idx"]]
        outcome = _gp_kernels.settle(
            self.diary,
            failed,
            offered,
            np.full(offered.size, today),
            tolerance,
            today,
            self.minutes,
            self.booked_minutes,
            (u_retry, u_spill, seg, self.retry_share, self.spill_share, self.max_attempts),
        )
        rest = outcome != _gp_kernels.BOOKED
        self.failed += int(rest.sum())
        world.ledger.count(
            "gp_booking_attempt_unsuccessful", _pick(failed_codes, rest), mode="same_day"
        )
        self._give_up(world, failed, outcome == _gp_kernels.GAVE_UP, outcome == _gp_kernels.TO_AE)
        retry = outcome == _gp_kernels.RETRY
        if retry.any():
            again = _select(failed, retry)
            again["attempt"] = (again["attempt"] + 1).astype(np.int8)
            nxt = int(self.next_working[today + 1])
            self.retries[nxt] = _concat(self.retries.get(nxt, _empty_requests()), again)

    def _pre_booked(self, world: World, req: dict[str, np.ndarray], today: int) -> None:
        """Book ahead; a person offered a time later than they tolerate gives up."""
        n = req["idx"].size
        if not n:
            return
        self.attempts += n
        idx = req["idx"]
        codes = self._codes(world, idx)
        world.ledger.count("gp_booking_attempt", codes, mode="pre_booked")
        # the day wanted, or the first working day after it if it falls on a weekend, and
        # the first free advance time on or after it
        offered, want, seg, (u_tol,) = self._offer_and_draw(world, req, today, True, 1)
        tolerance = -np.log(u_tol) * self.prebook_tolerance_days[seg]
        patience = world.modifier("gp_patience")
        if patience is not None:
            tolerance = tolerance * patience[idx]
        booked = self.booked_minutes
        outcome = _gp_kernels.settle(
            self.diary, req, offered, want, tolerance, today, self.minutes, booked, None
        )
        unmet = outcome != _gp_kernels.BOOKED
        self.failed += int(unmet.sum())
        world.ledger.count(
            "gp_booking_attempt_unsuccessful", _pick(codes, unmet), mode="pre_booked"
        )
        self._give_up(world, req, unmet, np.zeros(n, dtype=bool))

    def _offer_and_draw(
        self, world: World, req: dict[str, np.ndarray], today: int, from_lead: bool, draws: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The advance time offered to each request (from the day it wants, or tomorrow),
        the day wanted, the person's segment, and ``draws`` uniforms per (request, attempt):
        tolerance, retry and A&E (``_gp_kernels.offer_and_draw``, one compiled pass)."""
        first_day = today + 1
        # crn.uniforms(key, person id, (k * ATTEMPT_STRIDE + attempt) * 3 + j), j < draws
        return _gp_kernels.offer_and_draw(
            req,
            from_lead,
            today,
            self.next_working,
            world.pop.segment,
            world.key("gp.attempt"),
            ATTEMPT_STRIDE,
            3,
            draws,
            self.minutes,
            self._minutes_today * self.advance_share,
            self.working[first_day : first_day + self.horizon - 1],
            self.booked_minutes,
        )

    def _give_up(
        self, world: World, req: dict[str, np.ndarray], unmet: np.ndarray, spill: np.ndarray
    ) -> None:
        idx = req["idx"]
        codes = self._codes(world, idx)
        world.ledger.count("gp_request_abandoned", _pick(codes, unmet))
        spilled = np.flatnonzero(spill)
        world.ledger.count("gp_spill_to_ae", codes.take(spilled))
        if spilled.size:  # the hospital subscribes: they attend A&E the same day
            world.publish(
                "gp_unmet_to_ae",
                idx.take(spilled).astype(np.int64),
                self.today,
                req["k"].take(spilled),
                "gp_spill",
            )

    def _attend(
        self,
        world: World,
        today: int,
        booked_today: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Appointments booked for today happen (or are missed); people who died before
        their appointment leave the diary uncounted. With ``booked_today`` (requests and the
        rows of those just booked for today) those appointments happen instead, without
        passing through the diary."""
        if booked_today is None and self.diary.slot(today) < 0:
            return
        if booked_today is not None and not booked_today[1].size:
            return
        pop = world.pop
        # alive, wait, its band, DNA, the tallies by practice and the ledger's keys in one
        # compiled pass over the day's appointments (the expressions of the docstring of
        # ``_gp_kernels.attend_day``: the same decisions as numpy's)
        day = _gp_kernels.attend_day(
            self.diary,
            today,
            world.day0,
            world.death_day,
            world.key("gp.dna"),
            ATTEMPT_STRIDE,
            WAIT_BAND_EDGES,
            pop.pam_level_at_entry,
            pop.pam_level,
            self.dna_rr_pair,
            self.dna_rr_wait,
            self.dna_rate,
            self.dna_rr_mean,
            world.modifier("gp_dna"),  # levers' per-person multipliers (None: none)
            world.strata,
            N_CODES,
            self.horizon,
            self.minutes,
            self.by_practice,
            self.wait_hist,
            world.modifier_bits("gp_dna"),
            booked_today,
        )
        if day.wait.size == 0:
            return
        ledger = world.ledger
        if ledger.spend is None and not world.listened("gp_consultation"):
            ledger.count_keys(SERVICE, day.seen_keys, LABELS)
            ledger.count_keys("gp_appointment_dna", day.missed_keys, LABELS)
        else:  # levers: whose the appointments are (per-person spend, referrals)
            ledger.count_keys(SERVICE, day.seen_keys, LABELS, day.seen)
            ledger.count_keys("gp_appointment_dna", day.missed_keys, LABELS, day.missed)
            world.publish("gp_consultation", day.seen, today - world.day0)
        ledger.waits(SERVICE, day.wait, day.strata, day.booking, band=day.band)
        self.used += day.used

    # ---------------------------------------------------------------- tables
    def _practice_table(self, world: World) -> pd.DataFrame:
        """Appointments, cost and waits by practice and mode (``practice_gp``)."""
        p = self.practices
        waits = np.arange(self.horizon + 1)
        n = self.wait_hist.sum(axis=1)
        mean = np.where(n > 0, self.wait_hist @ waits / np.maximum(n, 1), np.nan)
        cum = np.cumsum(self.wait_hist, axis=1)
        p90 = np.where(n > 0, (cum < 0.9 * n[:, None]).sum(axis=1), np.nan)
        days = max(world.working_days_in_year(), 1)
        per_1000 = 1000 * self.offered_by_practice / days / np.maximum(self.list_size, 1)
        rows = []
        for k, service in enumerate(("gp_appointment", "gp_appointment_dna")):
            counts = self.by_practice[k]  # (practice, code)
            costs = np.array([unit_cost(world.register, service, r, m) for r, m in LABELS])
            for m, mode in enumerate(MODES):
                codes = slice(m * len(ROLES), (m + 1) * len(ROLES))
                count = counts[:, codes].sum(axis=1)
                rows.append(
                    pd.DataFrame(
                        {
                            "practice": np.arange(p.n, dtype=np.int32),
                            "pcn": p.pcn,
                            "list_size": self.list_size,
                            "service": service,
                            "mode": mode,
                            "count": count.astype(float),
                            "cost_gbp": counts[:, codes] @ costs[codes],
                            "mean_wait_days": mean,
                            "p90_wait_days": p90,
                            "capacity_per_1000": per_1000,
                        }
                    )
                )
        return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- helpers


def _empty_requests() -> dict[str, np.ndarray]:
    return {
        "idx": np.empty(0, np.int32),
        "id": np.empty(0, np.int64),
        "k": np.empty(0, np.int32),
        "kind": np.empty(0, np.int8),
        "lead": np.empty(0, np.int16),
        "diary": np.empty(0, np.int32),
        "mode": np.empty(0, np.int8),
        "attempt": np.empty(0, np.int8),
    }


def _select(req: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    # positions then ``take``: several times faster than a boolean mask per column
    rows = np.flatnonzero(mask)
    return {k: v.take(rows) for k, v in req.items()}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not b["idx"].size:
        return a
    if not a["idx"].size:
        return b
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _pick(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values[mask]`` by positions (faster than a boolean mask)."""
    return values.take(np.flatnonzero(mask))


def _drawn_order(events: Events) -> tuple[np.ndarray, np.ndarray] | None:
    """The events' order as drawn (``counts``, ``slot``), if they still have it."""
    if events.counts is None or events.slot is None:
        return None
    return events.counts, events.slot


def _take(req: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v.take(rows) for k, v in req.items()}


def _carried(
    world: World, old_ids: np.ndarray, req: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Requests re-indexed into the new population, those of people who left dropped."""
    if not req["idx"].size:
        return req
    new = world.index_of(old_ids[req["idx"]])
    kept = _take(req, np.flatnonzero(new >= 0))
    kept["idx"] = new[new >= 0].astype(np.int32)
    return kept


__all__ = ["PrimaryCareService", "greedy_book", "greedy_book_vectorised"]
