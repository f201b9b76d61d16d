"""Acute hospital beds: A&E, emergency admissions and elective ordinary admissions.

* A&E takes the day's self-presenting attendances and the GP overspill; a share are type 1
  (major) attendances, of which an age-sex-specific share are admitted.
* Emergency admissions (via A&E, or direct from GP and other routes) join a queue for a bed;
  same-day (zero-night) stays need no overnight bed. Each admitted patient holds a bed for
  their length of stay; a full hospital delays admissions (the wait is recorded), and after
  the longest tolerated delay the patient goes into an escalation bed over capacity (so
  occupancy above 100 % shows a hospital under pressure).
* Elective ordinary admissions come off a waiting list up to the theatre capacity of the
  day and only into beds left free after emergencies. An operation cancelled for want of a
  bed keeps its place at the head of the list, and a share of the theatre time lost that
  way (``acute.cancelled_elective_rebook_share``) is made up on the next working day.

Emergency and elective ordinary admissions share the beds (a ring-fenced share on working
days, escalation over capacity), so they are one service. Day cases and outpatient
attendances need no bed and run as their own service (``model.services.ambulatory``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model import crn, tables
from model.register import Register
from model.services.base import (
    RequestTable,
    WaitingList,
    mark_urgent,
    rtt_backlog,
    table_from_events,
)
from model.services.protocol import ServiceYear
from model.world import DAYS_PER_YEAR, DailyCapacity, Served, World

BEDS_KEY = "capacity.acute.beds_per_1000"
ELECTIVE_KEY = "capacity.acute.elective_ordinary_per_1000_per_working_day"
#: the day-case unit's and outpatient clinics' capacities (``model.services.ambulatory``)
DAYCASE_KEY = "capacity.acute.daycase_per_1000_per_working_day"
OUTPATIENT_KEY = "capacity.acute.outpatient_per_1000_per_working_day"
_MAX_LOS_DAYS = 400  # geometric tails are cut here (far beyond any planning horizon effect)


def geometric_los(mean_overnight: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Length of stay (nights >= 1) with the given mean, geometric, by inversion of ``u``."""
    p = 1.0 / np.maximum(mean_overnight, 1.0)
    los = np.ceil(np.log(u) / np.log1p(-np.minimum(p, 1 - 1e-12)))
    return np.minimum(np.maximum(los, 1), _MAX_LOS_DAYS).astype(np.int64)


#: LOS table rows (model/data) for each kind of admission
LOS_TABLES = {
    "emergency": "emergency (unplanned)",
    "elective": "elective ordinary (excl. daycase)",
}


def mean_los_table(register: Register, kind: str) -> np.ndarray:
    """Mean stay (days) by (sex, age): the derived SUS table for adults, the register below 18."""
    mean = np.array(tables.mean_los_days(LOS_TABLES[kind]), dtype=float)
    mean[:, :18] = register.scalar(f"acute.los.{kind}.child_mean_days")
    return mean


def type1_conversion(register: Register) -> np.ndarray:
    """P(admitted | type 1 A&E attendance) by (sex, age), shape (2, 101).

    Adults: (1 - direct share) x SUS emergency admissions / SUS type 1 attendances; children
    take the register's value.
    """
    t1 = sum(tables.hospital_rates(g) for g in ("walkin", "amb"))
    ea = tables.hospital_rates("emer_n")
    via_ae = 1.0 - register.scalar("acute.emergency_direct_share")
    conv = np.asarray(via_ae * ea / t1, dtype=float)
    conv[:, :18] = register.scalar("acute.child_type1_conversion")
    return np.clip(conv, 0.0, 1.0)


class LengthOfStay:
    """Nights in hospital by age and sex: a zero-night share and a geometric overnight part.

    Mean LOS by age and sex comes from the derived SUS table (adults; children from the
    register); the zero-night share by age from the register, and the overnight mean is
    ``mean / (1 - zero share)`` so the overall mean is kept.
    """

    def __init__(self, world: World, kind: str) -> None:
        reg = world.register
        mean = mean_los_table(reg, kind)
        zero = np.interp(
            np.arange(tables.N_AGES),
            [float(a) for a in reg[f"acute.los.{kind}.zero_night_share"].index],
            reg.array(f"acute.los.{kind}.zero_night_share"),
        )
        self.zero_share = zero
        self.overnight_mean = mean / (1.0 - zero[None, :])
        self.kind = kind

    def draw(
        self, world: World, person: np.ndarray, person_id: np.ndarray, k: np.ndarray, route: str
    ) -> np.ndarray:
        """Nights for each admission (0 = same-day), from keyed uniforms."""
        pop = world.pop
        age = np.minimum(pop.age[person], tables.MAX_AGE)
        sex = pop.sex[person]
        u0 = crn.uniforms(world.key(f"los.{self.kind}.{route}.zero"), person_id, k)
        u1 = crn.uniforms(world.key(f"los.{self.kind}.{route}.nights"), person_id, k)
        nights = geometric_los(self.overnight_mean[sex, age], u1)
        return np.where(u0 < self.zero_share[age], 0, nights)


class AcuteService:
    """A&E, emergency and elective ordinary admissions and the beds of the acute provider."""

    name = "acute"

    def __init__(self, world: World) -> None:
        reg = world.register
        self.type1_share = reg.scalar("acute.ae_type1_share")
        self.conversion = type1_conversion(reg)  # P(admit | type 1 attendance), (2, 101)
        self.ringfence_share = reg.scalar("acute.elective_ringfenced_bed_share")
        self.max_emergency_wait = reg.scalar("acute.max_emergency_wait_days")
        self.los_emergency = LengthOfStay(world, "emergency")
        self.los_elective = LengthOfStay(world, "elective")
        self.emergency = WaitingList()
        self.emergency_spill = WaitingList()  # admissions of GP overspill attendances
        self.elective = WaitingList()
        self.emergency.streams = ("emergency_direct", "ae")
        self.elective.streams = ("elective_ordinary",)
        self.emergency.fill_extra = self._los_filler(self.los_emergency, "top_up")
        self.elective.fill_extra = self._los_filler(self.los_elective, "top_up")
        #: person ids by discharge day, kept only while someone subscribes to discharges
        self.discharged: dict[int, list[np.ndarray]] = {}
        #: same-day A&E attendances handed over by other services: (positions, event
        #: numbers, route); general practice publishes unmet requests that turn to A&E
        self.inbox: list[tuple[np.ndarray, np.ndarray, str]] = []
        #: (person id, event number) of A&E admissions a lever's conversion multiplier undid
        self.not_admitted: set[tuple[int, int]] = set()
        self.today = 0
        world.subscribe("gp_unmet_to_ae", self._hand_over)
        horizon = (world.scenario.run.years + 2) * DAYS_PER_YEAR + _MAX_LOS_DAYS
        self.discharges = np.zeros(horizon, dtype=np.int64)
        self.occupied = 0
        self.beds = DailyCapacity()
        self.theatre = DailyCapacity()
        self.rebook_share = reg.scalar("acute.cancelled_elective_rebook_share")
        #: theatre slots owed for operations cancelled for want of a bed (fractional)
        self.owed = 0.0
        self.seeded = False
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.occupied_sum = 0.0
        self.days = 0
        self.offered: dict[str, float] = {"bed_day": 0.0, "elective_ordinary": 0.0}
        self.used: dict[str, float] = dict.fromkeys(self.offered, 0.0)

    def _undo_admissions(self, world: World, wl: WaitingList, rows: np.ndarray) -> np.ndarray:
        """Arriving ``rows`` less the A&E admissions a conversion multiplier undid today."""
        tab = wl.table
        via_ae = tab.extra["stream"][rows] == 1
        pid = world.pop.person_id[tab.person[rows]]
        gone = np.array(
            [
                bool(a) and (int(p), int(k)) in self.not_admitted
                for a, p, k in zip(via_ae, pid, tab.k[rows], strict=True)
            ],
            dtype=bool,
        )
        self.not_admitted = set()
        return rows[~gone]

    @staticmethod
    def _stay_modified(world: World, wl: WaitingList, rows: np.ndarray) -> np.ndarray:
        """Arriving ``rows`` with levers' length-of-stay multipliers applied (whole nights)."""
        modifier = world.modifier("length_of_stay")
        if modifier is not None and rows.size:
            los = wl.table.extra["los"]
            m = modifier[wl.table.person[rows]]
            los[rows] = np.rint(los[rows] * m).astype(los.dtype)
        return rows

    def _converted(
        self, world: World, person: np.ndarray, k: np.ndarray, type1: np.ndarray, admit: np.ndarray
    ) -> np.ndarray:
        """Admissions of today's A&E attendances after levers' conversion multipliers: the
        same keyed uniform against the modified chance, so the change is paired."""
        modifier = world.modifier("ae_conversion")
        if modifier is None or not person.size:
            return admit
        pid = world.pop.person_id[person]
        p = self.conversion[world.pop.sex[person], np.minimum(world.pop.age[person], 100)]
        u = crn.uniforms(world.key("ae.direct.admit"), pid, k)
        new = type1 & (u < np.minimum(p * modifier[person], 1.0))
        dropped = admit & ~new
        if dropped.any():  # their admissions wait on the emergency list: they leave it
            self.not_admitted.update(zip(pid[dropped].tolist(), k[dropped].tolist(), strict=True))
        added = new & ~admit
        if added.any():  # admitted after all: they join today, as overspill admissions do
            rows = RequestTable(
                person[added],
                k[added],
                np.full(int(added.sum()), world.day0 + self.today, dtype=np.int32),
                {
                    "los": self.los_emergency.draw(
                        world, person[added], pid[added], k[added], "ae_direct"
                    )
                },
            )
            spill = self.emergency_spill
            spill.queue.add(spill.add_rows(rows))
        return new

    def _hand_over(self, world: World, served: Served) -> None:
        assert served.k is not None
        self.inbox.append((served.person, served.k, served.route))

    @staticmethod
    def _los_filler(los: LengthOfStay, route: str) -> Callable[[World, RequestTable], None]:
        def fill(world: World, table: RequestTable) -> None:
            ids = world.pop.person_id[table.person]
            table.extra["los"] = los.draw(world, table.person, ids, table.k, route)

        return fill

    # ---------------------------------------------------------------- yearly
    def _ae_decisions(
        self,
        world: World,
        person: np.ndarray,
        pid: np.ndarray,
        k: np.ndarray,
        route: str,
        modified: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(type 1 attendance, admitted) for A&E attendances, from keyed uniforms
        (``modified``: with levers' conversion multipliers, for attendances decided today)."""
        type1 = crn.uniforms(world.key(f"ae.{route}.type"), pid, k) < self.type1_share
        p_adm = self.conversion[world.pop.sex[person], np.minimum(world.pop.age[person], 100)]
        modifier = world.modifier("ae_conversion") if modified else None
        if modifier is not None:
            p_adm = np.minimum(p_adm * modifier[person], 1.0)
        admit = type1 & (crn.uniforms(world.key(f"ae.{route}.admit"), pid, k) < p_adm)
        return type1, admit

    def start_year(self, world: World) -> None:
        """New year's waiting lists (backlogs carried, people who left removed).

        Self-presented A&E attendances are known for the whole year, so their type and
        admission are decided up front and their admissions join the emergency list with
        the direct admissions; only the GP overspill is decided day by day.
        """
        ev = world.events
        ae = ev["ae"]
        ae_ids = ae.person_id
        self.ae_type1, self.ae_admit = self._ae_decisions(world, ae.person, ae_ids, ae.k, "direct")
        days = np.arange(366, dtype=ae.day.dtype)  # no widened copy of the events' days
        self.ae_day_starts = np.searchsorted(ae.day, days).astype(np.int64)
        direct = table_from_events(world, ev["emergency_direct"])
        direct.extra["los"] = self.los_emergency.draw(
            world, direct.person, ev["emergency_direct"].person_id, direct.k, "direct"
        )
        via = np.flatnonzero(self.ae_admit)
        converted = RequestTable(
            ae.person[via],
            ae.k[via],
            (world.day0 + ae.day[via].astype(np.int32)).astype(np.int32),
            {
                "los": self.los_emergency.draw(
                    world, ae.person[via], ae_ids[via], ae.k[via], "ae_direct"
                )
            },
        )
        if world.levers:  # which stream each admission came from, for levers' effects
            direct.extra["stream"] = np.zeros(direct.size, dtype=np.int8)
            converted.extra["stream"] = np.ones(converted.size, dtype=np.int8)
        both = direct.append(converted)
        self.emergency.start_year(world, both.take(np.argsort(both.arrival, kind="stable")))
        self.emergency_spill.start_year(world, RequestTable(extra={"los": np.empty(0, np.int64)}))
        elective = ev["elective_ordinary"]
        new = table_from_events(world, elective)
        new.extra["los"] = self.los_elective.draw(
            world, new.person, elective.person_id, new.k, "elective"
        )
        self.elective.start_year(world, mark_urgent(world, new, "elective_ordinary"))
        if not self.seeded:
            # the referral-to-treatment list the hospital starts with (waits from referral)
            backlog = rtt_backlog(world, "elective_ordinary")
            backlog.extra["los"] = self.los_elective.draw(
                world, backlog.person, world.pop.person_id[backlog.person], backlog.k, "seed"
            )
            self.elective.seed(backlog)
            self.seeded = True
        self._reset_counters()

    def end_year(self, world: World) -> ServiceYear:
        """Backlogs, capacity (offered, used) and mean occupied beds for the year."""
        for wl in (self.emergency, self.emergency_spill, self.elective):
            wl.capture(world)
        return ServiceYear(
            backlogs={
                "emergency_admission": len(self.emergency) + len(self.emergency_spill),
                "elective_ordinary": len(self.elective),
            },
            capacity={k: (self.offered[k], self.used[k]) for k in self.offered},
            mean_occupied_beds=self.occupied_sum / max(self.days, 1),
        )

    def carry_people(self, world: World, old_ids: np.ndarray) -> None:
        """Nothing to do: waiting lists find their people again by id (``capture``), and
        beds are held by discharge day, not by person."""

    # ---------------------------------------------------------------- daily
    def _ae(self, world: World, day: int) -> None:
        lo, hi = self.ae_day_starts[day], self.ae_day_starts[day + 1]
        self.today = day
        events = world.events["ae"]
        person = events.person[lo:hi]
        k = events.k[lo:hi]
        type1, admit = self.ae_type1[lo:hi], self.ae_admit[lo:hi]
        if world.effects.active("ae"):  # levers' effects from a day on (model.effects)
            keep = world.keep_events("ae", person, k, day)
            if keep is not None:
                person, k, type1, admit = person[keep], k[keep], type1[keep], admit[keep]
            extra = world.extra_events("ae", day)
            if extra is not None:
                self.inbox.append((extra[0], extra[1], "top_up"))
        admit = self._converted(world, person, k, type1, admit)
        if world.listened("ae_attendance"):
            world.publish("ae_attendance", person, day)
            for inbox_person, _, _ in self.inbox:
                world.publish("ae_attendance", inbox_person, day)
        self._count_ae(world, person, type1, admit)
        for person, k, route in self.inbox:
            pid = world.pop.person_id[person]
            type1, admit = self._ae_decisions(world, person, pid, k, route, modified=True)
            self._count_ae(world, person, type1, admit)
            if admit.any():
                rows = RequestTable(
                    person[admit],
                    k[admit],
                    np.full(int(admit.sum()), world.day0 + day, dtype=np.int32),
                    {
                        "los": self.los_emergency.draw(
                            world, person[admit], pid[admit], k[admit], f"ae_{route}"
                        )
                    },
                )
                spill = self.emergency_spill
                spill.queue.add(spill.add_rows(rows))
        self.inbox = []

    @staticmethod
    def _count_ae(world: World, person: np.ndarray, type1: np.ndarray, admit: np.ndarray) -> None:
        strata = world.strata[person]
        ledger = world.ledger
        if ledger.spend is None:
            ledger.count("ae_attendance", strata[type1], mode="type_1_2")
            ledger.count("ae_attendance", strata[~type1], mode="type_3_4")
        else:
            ledger.count("ae_attendance", strata[type1], mode="type_1_2", person=person[type1])
            ledger.count("ae_attendance", strata[~type1], mode="type_3_4", person=person[~type1])
        ledger.count("ae_to_admission", strata[admit])

    def _admit(
        self,
        world: World,
        wl: WaitingList,
        rows: np.ndarray,
        absolute: int,
        service: str,
        waits_as: str,
    ) -> None:
        """Admit ``rows`` of ``wl``: beds, activity ``service`` and waits ``waits_as``."""
        tab = wl.table
        los = tab.extra["los"][rows]
        overnight = los > 0
        self.occupied += int(overnight.sum())
        np.add.at(self.discharges, absolute + los[overnight], 1)
        if world.listened("discharge"):
            ids = world.pop.person_id[tab.person[rows]]
            for d in np.unique(los):
                self.discharged.setdefault(absolute + int(d), []).append(ids[los == d])
        person = tab.person[rows]
        strata = world.strata[person]
        ledger = world.ledger
        if service == "emergency_admission":
            # NCC currencies: short stay = 0-1 nights, long stay = 2 nights or more
            for mode, which in (("same_day", los == 0), ("short_stay", los == 1)):
                ledger.count(service, strata[which], mode=mode, person=person[which])
            ledger.count(service, strata[los >= 2], mode="long_stay", person=person[los >= 2])
        else:
            ledger.count(service, strata, mode="ordinary", person=person)
        kind = service.split("_")[0]
        ledger.count("overnight_stay", strata[overnight], mode=kind)
        ledger.count(
            "bed_day",
            strata[overnight],
            mode=kind,
            weight=los[overnight],
            person=person[overnight],
        )
        ledger.waits(waits_as, (absolute - tab.arrival[rows]).astype(float), strata)

    def _beds(self, world: World, day: int) -> None:
        absolute = world.day0 + day
        self.occupied -= int(self.discharges[absolute])
        if self.discharged:
            leaving = self.discharged.pop(absolute, None)
            if leaving:
                where = world.index_of(np.concatenate(leaving))
                world.publish("discharge", where[where >= 0], day)
        beds_today = self.beds.take(world.capacity_today("bed_day", BEDS_KEY))
        self.offered["bed_day"] += beds_today
        working = world.is_working_day(absolute)
        # on working days a share of beds is kept for planned admissions (ring-fenced)
        ringfenced = round(beds_today * self.ringfence_share) if working else 0
        for wl in (self.emergency, self.emergency_spill):
            rows = wl.arriving(world, day)
            if self.not_admitted and wl is self.emergency:
                rows = self._undo_admissions(world, wl, rows)
            wl.queue.add(self._stay_modified(world, wl, rows))
            pending = wl.queue.pending
            if not pending.size:
                continue
            # same-day stays need no overnight bed; the rest wait for a free bed, in order
            same_day = wl.table.extra["los"][pending] == 0
            free = max(beds_today - ringfenced - self.occupied, 0)
            overnight_rank = np.cumsum(~same_day) - 1
            # after the longest tolerated delay, escalation (over-capacity) beds open
            escalate = (absolute - wl.table.arrival[pending]) >= self.max_emergency_wait
            admit = same_day | (overnight_rank < free) | escalate
            rows = wl.queue.drop(admit)
            self._admit(world, wl, rows, absolute, "emergency_admission", "emergency_admission")
        el = self.elective
        el.join(self._stay_modified(world, el, el.arriving(world, day)))
        if working:
            theatre = self.theatre.take(world.capacity_today("elective_ordinary", ELECTIVE_KEY))
            # make-up sessions for operations cancelled for want of a bed
            made_up = int(self.owed)
            self.owed -= made_up
            regular = theatre
            theatre += made_up
            # offered: the regular sessions (planned capacity, the same whatever levers do);
            # make-up sessions show as use above it
            self.offered["elective_ordinary"] += regular
            free = max(beds_today - self.occupied, 0)
            pending = el.queue.pending[:theatre]
            if pending.size:
                needs_bed = el.table.extra["los"][pending] > 0
                rank = np.cumsum(needs_bed) - 1
                ok = ~needs_bed | (rank < free)
                # electives that cannot get a bed stay at the head of the list (cancelled)
                take = np.zeros(el.queue.pending.size, dtype=bool)
                take[: pending.size] = ok
                rows = el.queue.drop(take)
                self.owed += float((~ok).sum()) * self.rebook_share
                self.used["elective_ordinary"] += rows.size
                self._admit(world, el, rows, absolute, "elective_admission", "elective_ordinary")
        self.occupied_sum += self.occupied
        self.used["bed_day"] += self.occupied
        self.days += 1

    def day(self, world: World, day: int) -> None:
        """One day of the hospital: A&E, then admissions into beds."""
        self._ae(world, day)
        self._beds(world, day)
