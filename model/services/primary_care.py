"""General practice as it is: practices with their own diaries, same-day and pre-booked demand,
clinician time by role, and what people do when the wait offered is too long.

Every practice (``model.practices``) keeps a diary of clinician minutes by role (GP, nurse,
other) for each working day up to ``HORIZON_DAYS`` ahead. A GP request is one of two kinds:

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
ahead the appointment was booked and on activation. Attended appointments are counted as
``gp_appointment`` on the day they happen; requests that end without an appointment as
``gp_request_abandoned`` or ``gp_spill_to_ae``. The diary starts seeded with the pre-booked
appointments of the weeks before the first simulated day (the same people's demand, drawn
from its own keyed stream), so the first year has no empty-diary bias.

The booking of a day's requests is vectorised over all practices and roles at once: for
requests sorted by (diary, earliest day), first-come greedy booking into the earliest free
time gives start positions ``s_j = max(f_j, s_{j-1} + d_{j-1})`` in each diary's cumulative
free minutes (``f_j`` the first free minute on the earliest acceptable day, ``d`` durations),
which is a running maximum: ``s = cummax(f - D) + D`` with ``D`` the durations booked before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model import crn
from model.demand import draw_events
from model.population import SEGMENTS
from model.practices import Practices
from model.services.protocol import ServiceYear
from model.world import DAYS_PER_YEAR, World

KINDS = ("same_day", "pre_booked")
MODES = ("face_to_face", "telephone", "online")
ROLES = ("gp", "nurse", "other")
#: (role, mode) of each code mode * len(ROLES) + role
LABELS = tuple((r, m) for m in MODES for r in ROLES)
#: days from booking to appointment, as in Appointments in General Practice
WAIT_BANDS = ("0", "1", "2-7", "8-14", "15-28", "29+")
_BAND_EDGES = np.array([1, 2, 8, 15, 29])
#: how far ahead diaries are kept (a request that cannot be booked within it gives up)
HORIZON_DAYS = 182
#: pre-booked lead bands (days after the booking day), as in ``gp.prebook_lead_shares``
LEAD_BANDS = ((1, 7), (8, 14), (15, 28), (29, 56))
#: at most this many same-day attempts per need (the last failure cannot retry)
MAX_ATTEMPTS = 3
CAPACITY_KEYS = tuple(f"capacity.gp.{r}_minutes_per_1000_per_working_day" for r in ROLES)
SERVICE = "gp_appointment"


def wait_band(wait_days: np.ndarray) -> np.ndarray:
    """Index into ``WAIT_BANDS`` of each wait in days."""
    return np.searchsorted(_BAND_EDGES, wait_days, side="right").astype(np.int8)


def greedy_book(
    diary: np.ndarray, earliest: np.ndarray, minutes: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """First-come booking of requests into the earliest free time of their diaries.

    ``free`` is (diaries, days) of free minutes; request ``j`` wants diary ``diary[j]`` on
    day ``earliest[j]`` or later and takes ``minutes[j]``; requests are served in the order
    given within each diary after a stable sort by earliest day. Returns each request's day
    (column of ``free``), or -1 when its diary has no free time left within the horizon.
    A booking that starts in a day's last free minutes may run over it (a slot squeezed in).
    """
    n = diary.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_diaries, n_days = free.shape
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
    big = start[-1] + m.sum() + 1.0
    s = np.maximum.accumulate(first - before + d * big) - d * big + before
    end_of_diary = start[(d + 1) * n_days]
    cell = np.searchsorted(start, s, side="right") - 1
    ok = (s < end_of_diary) & (cell // n_days == d)
    out = np.full(n, -1, dtype=np.int64)
    out[order[ok]] = cell[ok] % n_days
    return out


@dataclass
class _Booked:
    """Appointments booked for one future day (struct of arrays, appended as they come)."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(self, cols: dict[str, np.ndarray]) -> None:
        self.parts.append(cols)

    def take(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


class PrimaryCareService:
    """The practices of the place: diaries, booking, attendance, give-ups and spill to A&E."""

    name = "gp"

    def __init__(self, world: World) -> None:
        reg = world.register
        pop = world.pop
        run = world.scenario.run
        imd_shares = np.bincount(pop.imd, minlength=6)[1:] / pop.size
        self.practices = Practices.build(reg, run.population, run.seed, imd_shares)
        n_p = self.practices.n
        self.n_diaries = n_p * len(ROLES)
        # share of each role's minutes held by each practice: list share x GP time factor
        share = self.practices.list_size / self.practices.list_size.sum()
        gp_share = share * self.practices.gp_capacity_factor
        self.diary_share = np.stack([gp_share, share, share], axis=1).reshape(-1)  # (p, role)
        self.minutes = reg.array("gp.minutes_by_role_mode").reshape(len(ROLES), len(MODES))
        role_minutes = np.array([reg.scalar(k) for k in CAPACITY_KEYS])
        # requests go to roles in proportion to the appointments each role's time allows
        self.preference = np.vstack([reg.array(f"gp.mode_preference.{s}") for s in SEGMENTS])
        mean_pref = self.preference.mean(axis=0)
        per_appt = self.minutes @ mean_pref  # mean minutes of an appointment by role
        role_appts = role_minutes / per_appt
        self.cum_role = np.cumsum(role_appts / role_appts.sum())[:-1]
        self.same_day_share = reg.scalar("gp.same_day_share")
        self.cum_lead = np.cumsum(reg.array("gp.prebook_lead_shares"))
        self.advance_share = 1.0 - reg.scalar("gp.same_day_reserve_share")
        self.tolerance_days = reg.scalar("gp.same_day_tolerance_days") * reg.array(
            "gp.tolerance_relative_by_segment"
        )
        self.prebook_tolerance_days = reg.scalar("gp.prebook_tolerance_days") * reg.array(
            "gp.tolerance_relative_by_segment"
        )
        self.retry_share = reg.array("gp.retry_share_by_segment")
        self.spill_share = reg.array("gp.spill_to_ae_by_segment")
        self.dna_rate = reg.scalar("gp.dna_rate")
        self.dna_rr = reg.array("gp.dna_rr_by_pam_level")
        self.dna_rr_wait = reg.array("gp.dna_rr_by_wait_band")
        # normalised once on the base population (see the old GP service): changes in
        # activation change the overall DNA rate, not only who misses appointments
        self.dna_rr_mean = float(self.dna_rr[pop.pam_level - 1].mean())
        self.horizon = HORIZON_DAYS
        self.booked_minutes = np.zeros((self.n_diaries, self.horizon))  # ring by absolute day
        self.diary: dict[int, _Booked] = {}
        self.waiting: dict[str, np.ndarray] = _empty_requests()
        self.retries: dict[int, dict[str, np.ndarray]] = {}
        self.seeded = False
        self._reset(world)

    # ---------------------------------------------------------------- yearly
    def _reset(self, world: World) -> None:
        self.offered = 0.0
        self.used = 0.0
        n_p = self.practices.n
        self.by_practice = np.zeros((n_p, len(MODES)), dtype=np.int64)  # attended
        self.dna_by_practice = np.zeros((n_p, len(MODES)), dtype=np.int64)
        self.cost_code_by_practice = np.zeros((n_p, len(LABELS)), dtype=np.int64)
        self.wait_hist = np.zeros((n_p, self.horizon + 1), dtype=np.int64)
        self.wait_cells = np.zeros(
            (len(KINDS), len(SEGMENTS), 5, len(WAIT_BANDS)), dtype=np.int64
        )
        self.offered_by_practice = np.zeros(n_p)
        self.attempts = 0
        self.failed = 0

    def start_year(self, world: World) -> None:
        """Decide each of the year's requests' kind, role, mode and lead up front."""
        pop = world.pop
        self.practice_of = self.practices.of(pop.person_id, pop.imd)
        self.list_size = np.bincount(self.practice_of, minlength=self.practices.n)
        events = world.events["gp"]
        self.new = self._requests(world, events.person, events.k, events.day, "gp.decisions")
        self.new_day_starts = np.searchsorted(
            self.new["day"], world.day0 + np.arange(DAYS_PER_YEAR + 1)
        )
        if not self.seeded:
            self._seed_diary(world)
            self.seeded = True
        self._reset(world)

    def _requests(
        self,
        world: World,
        person: np.ndarray,
        k: np.ndarray,
        day: np.ndarray,
        purpose: str,
    ) -> dict[str, np.ndarray]:
        pop = world.pop
        ids = pop.person_id
        u_kind, u_mode, u_role, u_lead = crn.event_uniforms16(world.key(purpose), ids, person, k)
        seg = pop.segment[person]
        cut = np.cumsum(self.preference, axis=1)
        mode = (u_mode > cut[seg, 0]).astype(np.int8) + (u_mode > cut[seg, 1]).astype(np.int8)
        role = np.searchsorted(self.cum_role, u_role, side="right").astype(np.int8)
        same_day = u_kind < self.same_day_share
        # lead of a pre-booked request: a band by its shares, then uniform within the band
        u_band = np.minimum(u_lead * 0.999999, 0.999999)
        band = np.minimum(np.searchsorted(self.cum_lead, u_band, side="right"), len(LEAD_BANDS) - 1)
        lo = np.array([b[0] for b in LEAD_BANDS])[band]
        hi = np.array([b[1] for b in LEAD_BANDS])[band]
        prev = np.where(band > 0, self.cum_lead[np.maximum(band - 1, 0)], 0.0)
        within = (u_band - prev) / (self.cum_lead[band] - prev)
        lead = lo + np.minimum((within * (hi - lo + 1)).astype(np.int64), hi - lo)
        practice = self.practice_of[person]
        return {
            "id": ids[person],
            "k": k.astype(np.int64),
            "day": (world.day0 + day.astype(np.int64)),
            "kind": np.where(same_day, 0, 1).astype(np.int8),
            "lead": np.where(same_day, 0, lead).astype(np.int16),
            "diary": (practice * len(ROLES) + role).astype(np.int64),
            "mode": mode,
            "attempt": np.zeros(person.shape[0], dtype=np.int8),
        }

    def _seed_diary(self, world: World) -> None:
        """Book the pre-booked appointments made in the weeks before the first day."""
        weeks = LEAD_BANDS[-1][1]
        rate = world.rates("gp")
        exposure = np.full(world.pop.size, weeks, dtype=np.int64)
        ev = draw_events(
            rate * weeks / DAYS_PER_YEAR,
            exposure,
            world.pop.person_id,
            world.key("gp.warmup.count"),
            world.key("gp.warmup.day"),
            days_per_year=weeks,
        )
        req = self._requests(world, ev.person, ev.k, ev.day, "gp.warmup.decisions")
        req["day"] = req["day"] - weeks  # made on days -weeks .. -1
        want = req["day"] + req["lead"].astype(np.int64)
        keep = (req["kind"] == 1) & (want >= world.day0)
        req, want = _select(req, keep), want[keep]
        self._minutes_today = self._day_minutes(world)
        offered = self._offer(world, req, world.day0 - 1, want)
        ok = offered >= 0
        self._commit(_select(req, ok), offered[ok], req["day"][ok])

    def end_year(self, world: World) -> ServiceYear:
        """Backlog (appointments booked for next year) and capacity; practice tables."""
        booked_ahead = sum(
            len(b.take().get("id", ())) for d, b in self.diary.items() if d >= world.day0
        )
        tables = {"practice_gp": self._practice_table(world), "gp_waits": self._wait_table()}
        return ServiceYear(
            backlogs={SERVICE: booked_ahead},
            capacity={SERVICE: (self.offered, self.used)},
            tables=tables,
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Nothing to re-index: diaries and retries hold person ids, not positions."""

    # ---------------------------------------------------------------- capacity
    def _day_minutes(self, world: World) -> np.ndarray:
        """Clinician minutes of one working day by diary (practice x role), after levers."""
        role = np.array([world.capacity_today(SERVICE, key) for key in CAPACITY_KEYS])
        return np.asarray(self.diary_share * np.tile(role, self.practices.n))

    # ---------------------------------------------------------------- booking
    def _durations(self, req: dict[str, np.ndarray]) -> np.ndarray:
        role = req["diary"] % len(ROLES)
        return np.asarray(self.minutes[role, req["mode"]])

    def _commit(
        self, req: dict[str, np.ndarray], absolute_day: np.ndarray, booked_on: np.ndarray
    ) -> None:
        """Put requests into the diary on their appointment days."""
        if absolute_day.size == 0:
            return
        np.add.at(
            self.booked_minutes,
            (req["diary"], absolute_day % self.horizon),
            self._durations(req),
        )
        order = np.argsort(absolute_day, kind="stable")
        days = absolute_day[order]
        cols = {**{k: v[order] for k, v in req.items()}, "booked_on": booked_on[order]}
        cuts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
        ends = np.r_[cuts[1:], days.size]
        for a, b in zip(cuts, ends, strict=True):
            self.diary.setdefault(int(days[a]), _Booked()).add(
                {k: v[a:b] for k, v in cols.items()}
            )

    def _offer(
        self, world: World, req: dict[str, np.ndarray], today: int, earliest: np.ndarray
    ) -> np.ndarray:
        """The first free advance time on or after ``earliest`` (absolute day), or -1.

        Advance time is the part of each future working day's diary open to booking ahead
        (``1 - gp.same_day_reserve_share``), less what is already booked.
        """
        first_day = today + 1
        days = first_day + np.arange(self.horizon - 1)
        working = np.array([world.is_working_day(int(d)) for d in days])
        cap = np.outer(self._minutes_today * self.advance_share, working)
        free = np.maximum(cap - self.booked_minutes[:, days % self.horizon], 0.0)
        col = greedy_book(
            req["diary"], np.maximum(earliest - first_day, 0), self._durations(req), free
        )
        return np.where(col >= 0, first_day + col, -1)

    # ---------------------------------------------------------------- daily
    def day(self, world: World, day: int) -> None:
        """One day of every practice."""
        absolute = world.day0 + day
        arrivals = _slice(self.new, self.new_day_starts[day], self.new_day_starts[day + 1])
        self.waiting = _concat(self.waiting, arrivals)
        if not world.is_working_day(absolute):
            return
        self._minutes_today = self._day_minutes(world)
        ring = absolute % self.horizon
        self.offered += float(self._minutes_today.sum())
        self.offered_by_practice += self._minutes_today.reshape(-1, len(ROLES)).sum(axis=1)
        # 1. the appointments booked for today happen
        self._attend(world, absolute)
        # 2. the day's requests (weekend ones are made today) and same-day retries due today
        req = _concat(self.waiting, self.retries.pop(absolute, _empty_requests()))
        self.waiting = _empty_requests()
        if req["id"].size:
            req["day"] = np.full(req["id"].size, absolute, dtype=np.int64)
            same = req["kind"] == 0
            self._same_day(world, _select(req, same), absolute, ring)
            self._pre_booked(world, _select(req, ~same), absolute)
        self.booked_minutes[:, ring] = 0.0  # the day is over: its column serves day + horizon

    def _segments(self, world: World, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = world.index_of(ids)
        return idx, np.where(idx >= 0, world.pop.segment[np.maximum(idx, 0)], 0)

    def _same_day(self, world: World, req: dict[str, np.ndarray], today: int, ring: int) -> None:
        n = req["id"].size
        if not n:
            return
        self.attempts += n
        free_today = np.maximum(self._minutes_today - self.booked_minutes[:, ring], 0.0)
        col = greedy_book(
            req["diary"], np.zeros(n, dtype=np.int64), self._durations(req), free_today[:, None]
        )
        got = col == 0
        served = _select(req, got)
        self._commit(served, np.full(served["id"].size, today, dtype=np.int64), served["day"])
        self._attend(world, today)  # seen today
        failed = _select(req, ~got)
        if not failed["id"].size:
            return
        # the earliest time offered from tomorrow on, taken within the person's tolerance
        offered = self._offer(world, failed, today, np.full(failed["id"].size, today + 1))
        idx, seg = self._segments(world, failed["id"])
        u_tol, u_retry, u_spill = self._attempt_uniforms(world, failed)
        tolerance = -np.log(u_tol) * self.tolerance_days[seg]
        accept = (idx >= 0) & (offered >= 0) & (offered - today <= tolerance)
        self._commit(_select(failed, accept), offered[accept], failed["day"][accept])
        rest = (idx >= 0) & ~accept
        self.failed += int(rest.sum())
        retry = rest & (u_retry < self.retry_share[seg]) & (failed["attempt"] < MAX_ATTEMPTS - 1)
        left = rest & ~retry
        spill = left & (u_spill < self.spill_share[seg])
        self._give_up(world, failed, idx, left & ~spill, spill)
        if retry.any():
            again = _select(failed, retry)
            again["attempt"] = (again["attempt"] + 1).astype(np.int8)
            nxt = _next_working_day(world, today)
            self.retries[nxt] = _concat(self.retries.get(nxt, _empty_requests()), again)

    def _pre_booked(self, world: World, req: dict[str, np.ndarray], today: int) -> None:
        """Book ahead; a person offered a time later than they tolerate gives up."""
        n = req["id"].size
        if not n:
            return
        self.attempts += n
        want = today + req["lead"].astype(np.int64)
        offered = self._offer(world, req, today, want)
        idx, seg = self._segments(world, req["id"])
        u_tol, _, _ = self._attempt_uniforms(world, req)
        tolerance = -np.log(u_tol) * self.prebook_tolerance_days[seg]
        accept = (idx >= 0) & (offered >= 0) & (offered - want <= tolerance)
        self._commit(_select(req, accept), offered[accept], req["day"][accept])
        unmet = (idx >= 0) & ~accept
        self.failed += int(unmet.sum())
        self._give_up(world, req, idx, unmet, np.zeros(n, dtype=bool))

    def _attempt_uniforms(
        self, world: World, req: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Three uniforms per (request, attempt): tolerance, retry and A&E."""
        key = world.key("gp.attempt")
        index = (req["k"] * MAX_ATTEMPTS + req["attempt"]) * 3
        return (
            crn.uniforms(key, req["id"], index),
            crn.uniforms(key, req["id"], index + 1),
            crn.uniforms(key, req["id"], index + 2),
        )

    def _give_up(
        self,
        world: World,
        req: dict[str, np.ndarray],
        idx: np.ndarray,
        unmet: np.ndarray,
        spill: np.ndarray,
    ) -> None:
        strata = world.strata
        world.ledger.count("gp_request_abandoned", strata[idx[unmet]])
        world.ledger.count("gp_spill_to_ae", strata[idx[spill]])
        if spill.any():
            world.ae_inbox.append((idx[spill], req["k"][spill], "gp_spill"))

    def _attend(self, world: World, today: int) -> None:
        """Appointments booked for today happen (or are missed)."""
        booked = self.diary.pop(today, None)
        if booked is None:
            return
        req = booked.take()
        idx = world.index_of(req["id"])
        alive = idx >= 0  # people who died before their appointment leave the diary
        req = _select(req, alive)
        idx = idx[alive]
        if not idx.size:
            return
        pop = world.pop
        wait = (today - req["booked_on"]).astype(np.int64)
        band = wait_band(wait)
        level = pop.pam_level[idx]
        u_dna = crn.uniforms(world.key("gp.dna"), req["id"], req["k"] * MAX_ATTEMPTS + req["attempt"])
        p_dna = self.dna_rate * self.dna_rr_wait[band] * self.dna_rr[level - 1] / self.dna_rr_mean
        dna = u_dna < p_dna
        role = req["diary"] % len(ROLES)
        mode = req["mode"].astype(np.int64)
        code = mode * len(ROLES) + role
        strata = world.strata[idx]
        ledger = world.ledger
        ledger.count_coded(SERVICE, strata[~dna], code[~dna], LABELS)
        ledger.count_coded("gp_appointment_dna", strata[dna], code[dna], LABELS)
        ledger.waits(SERVICE, wait.astype(float))
        self.used += float(self._durations(req).sum())
        practice = req["diary"] // len(ROLES)
        n_modes = len(MODES)
        self.by_practice += np.bincount(
            practice[~dna] * n_modes + mode[~dna], minlength=self.by_practice.size
        ).reshape(self.by_practice.shape)
        self.dna_by_practice += np.bincount(
            practice[dna] * n_modes + mode[dna], minlength=self.dna_by_practice.size
        ).reshape(self.dna_by_practice.shape)
        self.wait_hist += np.bincount(
            practice * (self.horizon + 1) + np.minimum(wait, self.horizon),
            minlength=self.wait_hist.size,
        ).reshape(self.wait_hist.shape)
        cell = np.ravel_multi_index(
            (req["kind"], pop.segment[idx], pop.imd[idx] - 1, band), self.wait_cells.shape
        )
        self.wait_cells += np.bincount(cell, minlength=self.wait_cells.size).reshape(
            self.wait_cells.shape
        )

    # ---------------------------------------------------------------- tables
    def _practice_table(self, world: World) -> pd.DataFrame:
        p = self.practices
        waits = np.arange(self.horizon + 1)
        n = self.wait_hist.sum(axis=1)
        mean = np.where(n > 0, self.wait_hist @ waits / np.maximum(n, 1), np.nan)
        cum = np.cumsum(self.wait_hist, axis=1)
        p90 = np.where(n > 0, (cum < 0.9 * n[:, None]).sum(axis=1), np.nan)
        days = max(world.working_days_in_year(), 1)
        per_1000 = 1000 * self.offered_by_practice / days / np.maximum(self.list_size, 1)
        rows = []
        for service, counts in (("gp_appointment", self.by_practice), ("gp_appointment_dna", self.dna_by_practice)):
            for m, mode in enumerate(MODES):
                rows.append(
                    pd.DataFrame(
                        {
                            "practice": np.arange(p.n),
                            "pcn": p.pcn,
                            "list_size": self.list_size,
                            "service": service,
                            "mode": mode,
                            "count": counts[:, m].astype(float),
                            "mean_wait_days": mean,
                            "p90_wait_days": p90,
                            "capacity_minutes_per_1000_per_working_day": per_1000,
                        }
                    )
                )
        return pd.concat(rows, ignore_index=True)

    def _wait_table(self) -> pd.DataFrame:
        k, s, q, b = np.nonzero(self.wait_cells)
        return pd.DataFrame(
            {
                "service": SERVICE,
                "booking": np.array(KINDS)[k],
                "segment": np.array(SEGMENTS)[s],
                "imd_quintile": q + 1,
                "wait_band": np.array(WAIT_BANDS)[b],
                "count": self.wait_cells[k, s, q, b].astype(float),
            }
        )


# ----------------------------------------------------------------------------- helpers


def _empty_requests() -> dict[str, np.ndarray]:
    return {
        "id": np.empty(0, np.int64),
        "k": np.empty(0, np.int64),
        "day": np.empty(0, np.int64),
        "kind": np.empty(0, np.int8),
        "lead": np.empty(0, np.int16),
        "diary": np.empty(0, np.int64),
        "mode": np.empty(0, np.int8),
        "attempt": np.empty(0, np.int8),
    }


def _select(req: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in req.items()}


def _slice(req: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    return {k: v[a:b] for k, v in req.items()}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not b["id"].size:
        return a
    if not a["id"].size:
        return b
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _next_working_day(world: World, absolute: int) -> int:
    day = absolute + 1
    while not world.is_working_day(day):
        day += 1
    return day


__all__ = ["PrimaryCareService", "greedy_book", "wait_band"]
