"""The ledger: compact records appended during a run, turned into tidy tables at the end.

Services append arrays of person codes (``model.strata.person_code``: the stratum with the
QOF count band and the Bridges to Health segment; one per event, or with a weight such as bed
days) under a (service, role, mode) combination; whole counts go into histograms by stratum
and by Bridges segment as they come (compiled passes, ``model._ledger_kernels``), weighted
records are counted with one ``bincount`` at the end of each year, and both are costed as
count x unit cost. The activity table sums the counts
over the QOF band and the Bridges segment, ``bridges_to_health`` over everything but the
segment, so the two reconcile by construction. Costs are conserved by construction too, and
a test checks it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model import _ledger_kernels, threads
from model.errors import CarescaleError
from model.population import BRIDGES_SEGMENTS, SEGMENTS
from model.register import Register
from model.services import names
from model.spend import PersonSpend
from model.strata import (
    LTC_BANDS,
    N_BRIDGES,
    N_CODES,
    N_EXTRA,
    N_IMD,
    N_SEGMENTS,
    N_STRATA,
    decode,
)

#: activity-table service -> (setting, payer), from the vocabulary
#: (``model.services.names.ACTIVITIES``, which the ledger reads)
SERVICES: Mapping[str, tuple[str, str]] = {
    name: (a.setting, a.payer) for name, a in names.ACTIVITIES.items()
}
PAYERS = (
    "nhs_acute",
    "primary_care",
    "community_health",
    "la_social_care",
    "voluntary_sector",
    "person",
)

#: the tables every run returns (services may add their own, see ``Ledger.end_year``)
TABLES = (
    "person_years",
    "activity",
    "waits",
    "capacity",
    "wait_distribution",
    "bridges_to_health",
)
BRIDGES_COLUMNS = (
    "replication",
    "year",
    "segment",
    "person_years",
    "service",
    "count",
    "cost_gbp",
)
#: bands of days from request (or booking) to appointment, as in Appointments in General Practice
WAIT_BANDS: tuple[str, ...] = ("0", "1", "2-7", "8-14", "15-28", "29+")
#: the first day of each band after the first (``wait_band`` is a ``searchsorted`` on them)
WAIT_BAND_EDGES = np.array([1, 2, 8, 15, 29])
_WAIT_BAND_EDGES = WAIT_BAND_EDGES
#: the booking column of wait_distribution: GP request kinds; other services have ""
BOOKINGS: tuple[str, ...] = ("", "same_day", "pre_booked")


def wait_band(wait_days: np.ndarray) -> np.ndarray:
    """Index into ``WAIT_BANDS`` of each wait (days)."""
    return np.searchsorted(_WAIT_BAND_EDGES, wait_days, side="right").astype(np.int64)


ACTIVITY_COLUMNS = (
    "replication",
    "year",
    "setting",
    "service",
    "role",
    "mode",
    "payer",
    "sex",
    "age_band",
    "imd_quintile",
    "ltc_band",
    "activation_level",
    "segment",
    "count",
    "cost_gbp",
    "cashable_gbp",
)


#: the price year results are reported in; unit costs are uprated with the NHSCII
REPORTING_PRICE_YEAR = "2023/24"
#: services costed like another (a missed GP appointment uses the same staff time)
COST_ALIAS: Mapping[str, str] = {"gp_appointment_dna": "gp_appointment"}
#: services whose cost is shared with the people supported (client contributions)
CLIENT_CONTRIBUTION_SERVICES = frozenset({"social_care_support_day"})
#: (service, mode) costed as another mode (NCC short stay covers 0-1 nights)
MODE_ALIAS: Mapping[tuple[str, str], str] = {("emergency_admission", "same_day"): "short_stay"}


#: price indices by register key (under ``costs.``)
INDEX_NAMES: Mapping[str, str] = {
    "nhscii": "NHS Cost Inflation Index",
    "pss_index": "PSS pay and prices index",
}


def price_index(register: Register, index: str = "nhscii") -> dict[str, float]:
    """Price year -> index value of ``costs.nhscii`` or ``costs.pss_index``.

    The PSS pay and prices index (adult social care) is extended one year past its last
    published value by ``costs.pss_index_change_2024_25`` (an assumption).
    """
    p = register[f"costs.{index}"]
    values = dict(zip(p.index, (float(v) for v in p.value), strict=True))
    if index == "pss_index" and "2024/25" not in values:
        values["2024/25"] = values["2023/24"] * (
            1.0 + register.scalar("costs.pss_index_change_2024_25")
        )
    return values


def uprate(
    register: Register,
    value: float,
    price_year: str,
    to_year: str = REPORTING_PRICE_YEAR,
    index: str = "nhscii",
) -> float:
    """Convert a cost from ``price_year`` to ``to_year`` with a price index.

    ``index`` is ``"nhscii"`` (NHS Cost Inflation Index, the default) or ``"pss_index"``
    (PSS pay and prices index, for adult social care).
    """
    values = price_index(register, index)
    years = list(values)
    for y in (price_year, to_year):
        if y not in values:
            raise CarescaleError(
                f"price year '{y}' is outside the {INDEX_NAMES[index]} (costs.{index}, "
                f"{years[0]} to {years[-1]}); allowed years are {', '.join(years)}."
            )
    return value * values[to_year] / values[price_year]


def index_for(service: str) -> str:
    """The price index a service's costs are uprated with: PSS for adult social care."""
    return "pss_index" if names.activity(service).setting == "social_care" else "nhscii"


def unit_cost(register: Register, service: str, role: str, mode: str) -> float:
    """Cost per counted unit (GBP, reporting price year) of a (service, role, mode).

    Looked up as ``costs.<service>.<role>.<mode>``, then ``.<role>``, ``.<mode>``, then
    ``costs.<service>``; services with no entry carry no cost (e.g. counts of people).
    """
    mode = MODE_ALIAS.get((service, mode), mode)
    service = COST_ALIAS.get(service, service)
    candidates = [
        f"costs.{service}.{role}.{mode}" if role and mode else "",
        f"costs.{service}.{role}" if role else "",
        f"costs.{service}.{mode}" if mode else "",
        f"costs.{service}",
    ]
    for key in candidates:
        if key and key in register:
            p = register[key]
            return uprate(register, p.scalar, p.price_year, index=index_for(service))
    return 0.0


def cashable_share(register: Register, service: str) -> float:
    """Share of a service's cost a commissioner could release (``cashable.<service>``).

    Services costed like another use its share; services with no cost have none (0).
    """
    for key in (f"cashable.{service}", f"cashable.{COST_ALIAS.get(service, service)}"):
        if key in register:
            return register.scalar(key)
    return 0.0


def payer_shares(register: Register, service: str) -> tuple[tuple[str, float], ...]:
    """Who pays for a service, and what share each pays (shares sum to 1).

    Long-term social care support is shared between the local authority and the people
    supported (``costs.social_care_client_contribution_share``, payer ``person``); every
    other service has one payer, from the vocabulary.
    """
    main = names.activity(service).payer
    if service in CLIENT_CONTRIBUTION_SERVICES:
        share = register.scalar("costs.social_care_client_contribution_share")
        return ((main, 1.0 - share), ("person", share))
    return ((main, 1.0),)


#: the activity table's categorical label columns
_LABELS = ("setting", "service", "role", "mode", "payer")


def _repeated(value: str, n: int) -> pd.Categorical[str]:
    """``pd.Categorical([value] * n)`` (one category, int8 codes), from its codes."""
    if not n:
        return pd.Categorical([value] * n)
    return pd.Categorical.from_codes(np.zeros(n, np.int8), categories=pd.Index([value]))


def _concat_categorical(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)`` when the categorical ``columns`` have other
    categories in some frames (levers' cost rows): those columns are first recoded to the
    sorted categories their rows use, which is what concatenating them (as strings) and
    converting back to categories gives, without pandas falling back to strings."""
    recode: dict[str, pd.CategoricalDtype] = {}
    for col in columns:
        kinds = [f[col].dtype for f in frames]
        if any(k != kinds[0] for k in kinds) and all(
            isinstance(k, pd.CategoricalDtype) and (f[col].array.codes >= 0).all()
            for k, f in zip(kinds, frames, strict=True)
        ):
            used: set[Any] = set()
            for f in frames:
                values = f[col].array
                present = np.bincount(values.codes, minlength=len(values.categories)) > 0
                used.update(values.categories[present])
            recode[col] = pd.CategoricalDtype(pd.Index(sorted(used)))
    if recode:
        recoded = []
        for f in frames:
            f = f.copy(deep=False)
            for col, dtype in recode.items():
                values = f[col].array
                codes = dtype.categories.get_indexer(values.categories)[values.codes]
                f[col] = pd.Categorical.from_codes(codes, dtype=dtype)
            recoded.append(f)
        frames = recoded
    return pd.concat(frames, ignore_index=True)


class _Tally:
    """Counts of integer cells (a histogram)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.counts = np.zeros(size, dtype=np.int64)

    def add_counts(self, counts: np.ndarray) -> None:
        self.counts += counts

    def total(self) -> np.ndarray:
        return self.counts


#: records held per batch before they are counted: person codes (histograms of N_STRATA
#: and N_BRIDGES cells), keys (several times larger histograms, which a batch must be large
#: enough to reuse from the cache)
_BATCH = 1 << 15
_KEY_BATCH = 1 << 18


class _Batch:
    """Records (person codes or ledger keys) held until a batch is full, then counted into
    their histograms in one compiled pass (``model._ledger_kernels``): the histograms stay
    in the processor's cache for the whole pass, and memory stays a few megabytes whatever
    the records.

    A full batch is counted on the process's background thread (``threads.serial``, one
    batch at a time, in order) while the simulation goes on in a new buffer; ``wait``
    returns when every batch given is counted. The counts are whole numbers, so they are
    the same whichever thread adds them and when."""

    def __init__(self, count: Callable[[np.ndarray], None], size: int | None = None) -> None:
        self.buffer = np.empty(_BATCH if size is None else size, dtype=np.int64)
        self.pending = 0
        self.count = count
        #: batches given to the background thread and their buffers, oldest first
        self.counting: list[tuple[Future[None], np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        n = values.shape[0]
        size = self.buffer.shape[0]
        if self.pending + n > size:
            self.flush()
        if n > size:
            self.wait()  # the same histograms: after the batches given before
            self.count(values)
            return
        self.buffer[self.pending : self.pending + n] = values
        self.pending += n

    def flush(self) -> None:
        if self.pending:
            full = self.buffer
            self.counting.append((threads.serial(self.count, full[: self.pending]), full))
            self.pending = 0
            # the oldest buffer already counted, or a new one
            if self.counting[0][0].done():
                done, self.buffer = self.counting.pop(0)
                done.result()
            else:
                self.buffer = np.empty(full.shape[0], dtype=np.int64)

    def wait(self) -> None:
        """Every batch given counted (a counting error raised here)."""
        while self.counting:
            self.counting.pop(0)[0].result()


class _WaitDays:
    """The waits of one service, counted by whole day: what the year's mean and 90th
    centile need, in a few kilobytes instead of one number per request."""

    def __init__(self) -> None:
        self.counts = np.zeros(64, dtype=np.int64)

    def add(self, wait_days: np.ndarray) -> None:
        if not wait_days.size:
            return
        # checked, counted and the largest found in one compiled pass; a wait beyond the
        # counts grows them (to twice their size or the wait, whichever is more) first
        ok, top = _ledger_kernels.add_days_growing(wait_days, self.counts)
        if ok and top >= 0:
            grown = np.zeros(max(2 * self.counts.size, top + 1), dtype=np.int64)
            grown[: self.counts.size] = self.counts
            self.counts = grown
            ok = _ledger_kernels.add_days(wait_days, self.counts)
        if not ok:
            raise ValueError("waits must be whole numbers of days, 0 or more")

    def summary(self) -> tuple[int, float, float]:
        """(served, mean wait, 90th centile): the numbers ``np.mean`` and ``np.quantile``
        give for the waits themselves (``quantile_of_counts``)."""
        n = int(self.counts.sum())
        if n == 0:
            return 0, float("nan"), float("nan")
        days = np.flatnonzero(self.counts)
        # whole days: the sum is exact in any order, as numpy's is, so the mean is the same
        total = int((days * self.counts[days]).sum())
        return n, total / n, quantile_of_counts(days, self.counts[days], 0.9)


def quantile_of_counts(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``np.quantile`` (method "linear") of ``values`` (increasing) each repeated
    ``counts`` times, without making them: numpy's virtual index ``(n - 1) * q``, its two
    neighbouring order statistics and its interpolation, operation for operation."""
    n = int(counts.sum())
    cum = np.cumsum(counts)

    def order_statistic(k: int) -> float:  # the k-th smallest, from 0
        return float(values[int(np.searchsorted(cum, k, side="right"))])

    index = (n - 1) * q
    below = math.floor(index)
    if index >= n - 1:  # numpy takes the largest value (and a weight that does not matter)
        return order_statistic(n - 1)
    a, b = order_statistic(below), order_statistic(below + 1)
    t = index - below
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


@dataclass
class _Year:
    #: (service, role, mode) in the order of their first record: whole counts by stratum
    #: (``_Tally``) and weighted records (stratum codes and weights)
    combos: dict[tuple[str, str, str], _Tally]
    keys: defaultdict[tuple[str, str, str], list[np.ndarray]]
    weights: defaultdict[tuple[str, str, str], list[np.ndarray]]
    waits: dict[str, _WaitDays]
    #: (service, labels) -> counts of code * N_STRATA + stratum and of code * N_BRIDGES +
    #: Bridges segment, see ``count_coded``
    coded: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[_Tally, _Tally]]
    #: service -> counts of ((booking * N_SEGMENTS + segment) * N_IMD + imd) * bands + band
    wait_cells: dict[str, _Tally]
    #: (service, role, mode) -> whole counts by Bridges to Health segment
    segments: dict[tuple[str, str, str], _Tally]
    #: records not yet counted: person codes by (service, role, mode), keys by
    #: (service, labels)
    batches: dict[Any, _Batch] = field(default_factory=dict)

    def combo(self, key: tuple[str, str, str]) -> _Tally:
        tally = self.combos.get(key)
        if tally is None:
            tally = self.combos[key] = _Tally(N_STRATA)
            self.segments[key] = _Tally(N_BRIDGES)
        return tally

    def bridges(self, key: tuple[str, str, str]) -> _Tally:
        self.combo(key)
        return self.segments[key]

    def codes(self, key: tuple[str, str, str]) -> _Batch:
        """The batch of person codes of one (service, role, mode)."""
        batch = self.batches.get(key)
        if batch is None:
            by_stratum, by_bridges = self.combo(key).counts, self.segments[key].counts
            batch = self.batches[key] = _Batch(
                lambda codes: _ledger_kernels.add_codes(codes, by_stratum, by_bridges)
            )
        return batch

    def flush(self) -> None:
        """Count every record still held."""
        for batch in self.batches.values():
            batch.flush()
        for batch in self.batches.values():
            batch.wait()


class Ledger:
    """Collects one replication's records, year by year."""

    def __init__(self, register: Register, replication: int, start_year: int):
        self.register = register
        self.replication = replication
        self.start_year = start_year
        self._year: _Year | None = None
        self._year_index = -1
        self.activity_frames: list[pd.DataFrame] = []
        self.person_year_frames: list[pd.DataFrame] = []
        self.wait_rows: list[dict[str, object]] = []
        self.wait_distribution_frames: list[pd.DataFrame] = []
        self.bridges_frames: list[pd.DataFrame] = []
        #: person-years by Bridges to Health segment of the current year
        self._bridges_py = np.zeros(N_BRIDGES)
        self.capacity_rows: list[dict[str, object]] = []
        #: service-specific tables (``ServiceYear.tables``) by name, one frame per year
        self.service_frames: dict[str, list[pd.DataFrame]] = {}
        #: each person's spend by payer (``model.spend.PersonSpend``), when a lever asks
        self.spend: PersonSpend | None = None
        #: (service, role, mode) -> unit cost, cached for per-person spend
        self._unit_costs: dict[tuple[str, str, str], float] = {}
        #: payer shares by service, looked up once per ledger (for per-person spend)
        self._payer_shares: dict[str, tuple[tuple[str, float], ...]] = {}
        #: per (service, labels): the unit cost of each label and the service's payer shares
        self._label_costs: dict[
            tuple[str, tuple[tuple[str, str], ...]],
            tuple[np.ndarray, tuple[tuple[str, float], ...]],
        ] = {}
        #: lever cost records of the year: service -> (person codes, counts, costs)
        self._lever_costs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._lever_cashable: dict[str, float] = {}

    # ---------------------------------------------------------------- per-person spend
    def enable_person_spend(self, size: int, detail: tuple[str, ...] = ()) -> PersonSpend:
        """Keep each person's spend from now on (``model.spend.PersonSpend``), with per-service
        detail for ``detail``; asked for by levers and targeting rules, never by the baseline.

        Every ``count`` that names its people (``person=``) adds its cost to them.
        """
        for service in detail:
            names.check_activity(service)
        if self.spend is None:
            self.spend = PersonSpend(size, PAYERS, detail)
        else:
            self.spend.want_detail(detail)
        return self.spend

    def _unit_cost(self, service: str, role: str, mode: str) -> float:
        """``unit_cost`` of a (service, role, mode), looked up once per ledger."""
        combo = (service, role, mode)
        cost = self._unit_costs.get(combo)
        if cost is None:
            cost = self._unit_costs[combo] = unit_cost(self.register, service, role, mode)
        return cost

    def _spend(
        self,
        service: str,
        role: str,
        mode: str,
        person: np.ndarray | None,
        weight: np.ndarray | None = None,
    ) -> None:
        if self.spend is None or person is None:
            return
        cost = self._unit_cost(service, role, mode)
        if cost == 0.0:
            return
        amount: float | np.ndarray = cost if weight is None else cost * np.asarray(weight, float)
        shares = self._payer_shares.get(service)
        if shares is None:
            shares = self._payer_shares[service] = payer_shares(self.register, service)
        self.spend.add(service, np.asarray(person), amount, shares)

    def lever_cost(
        self,
        service: str,
        strata: np.ndarray,
        count: np.ndarray,
        cost_gbp: np.ndarray,
        cashable: float = 0.0,
    ) -> None:
        """Record costs a lever sets itself (staff, voluntary-sector activity, admin,
        personal purchases from a budget), attributed to people.

        ``service`` is one of ``names.EXPLICITLY_COSTED``; ``strata`` are the person codes of
        the people the cost is attributed to, with their ``count`` (sessions, holder-years,
        ...) and ``cost_gbp``. Rows join the activity table at the year end with this cost
        (the register's unit costs do not apply) and ``cashable`` as their cashable share.
        Records that cost nothing are dropped: the activity table carries what a lever
        costs (its throughput is in ``lever_activity``), so a lever that costs nothing adds
        no row.
        """
        if service not in names.EXPLICITLY_COSTED:
            raise ValueError(f"{service!r} is not an explicitly costed activity")
        self._lever_cashable[service] = cashable
        keep = np.asarray(cost_gbp) != 0
        if keep.any():
            self._lever_costs.setdefault(service, []).append(
                (
                    np.asarray(strata)[keep].astype(np.int64),
                    np.asarray(count, float)[keep],
                    np.asarray(cost_gbp, float)[keep],
                )
            )

    # ---------------------------------------------------------------- recording
    def start_year_(self, year_index: int) -> None:
        """Begin collecting records for ``year_index`` (0 = first simulated year)."""
        self._year_index = year_index
        if self.spend is not None and year_index > 0:
            self.spend.start_year()
        self._year = _Year({}, defaultdict(list), defaultdict(list), {}, {}, {}, {})

    @property
    def calendar_year(self) -> int:
        """Calendar year being recorded."""
        return self.start_year + self._year_index

    def count(
        self,
        service: str,
        strata: np.ndarray,
        role: str = "",
        mode: str = "",
        weight: np.ndarray | None = None,
        person: np.ndarray | None = None,
    ) -> None:
        """Record one event per element of ``strata`` (or ``weight`` units each).

        ``service`` is an activity-table name (``model.services.names.ACTIVITIES``); any
        other name raises ``UnknownServiceError``, even with nothing to record. ``person``
        (positions in ``world.pop``, one per record) names whose the events are, for the
        per-person spend when it is kept.
        """
        if service not in names.ACTIVITIES:
            names.check_activity(service)
        if strata.size == 0:
            return
        assert self._year is not None
        if self.spend is not None:
            self._spend(service, role, mode, person, weight)
        combo = (service, role, mode)
        self._year.combo(combo)  # combinations keep the order of their first record
        if weight is None:
            # person codes: the stratum for activity, the Bridges segment for its own table
            self._year.codes(combo).add(strata)
        else:
            self._year.keys[combo].append(strata.astype(np.int64, copy=False))
            self._year.weights[combo].append(np.asarray(weight, dtype=float))

    def count_coded(
        self,
        service: str,
        strata: np.ndarray,
        codes: np.ndarray,
        labels: tuple[tuple[str, str], ...],
        person: np.ndarray | None = None,
    ) -> None:
        """Record one event per element, with its (role, mode) given as ``labels[code]``.

        Equivalent to one ``count`` call per label with a mask, in a single pass.
        """
        if service not in names.ACTIVITIES:
            names.check_activity(service)
        if strata.size == 0:
            return
        assert self._year is not None
        self.count_keys(service, codes.astype(np.int64) * N_CODES + strata, labels, person)

    def count_keys(
        self,
        service: str,
        keys: np.ndarray,
        labels: tuple[tuple[str, str], ...],
        person: np.ndarray | None = None,
    ) -> None:
        """``count_coded`` with the keys ``code * N_CODES + person code`` already made.

        ``person`` (one position per key) names whose the events are, for per-person spend.
        """
        if service not in names.ACTIVITIES:
            names.check_activity(service)
        if keys.size == 0:
            return
        assert self._year is not None
        if self.spend is not None and person is not None:
            cached = self._label_costs.get((service, labels))
            if cached is None:
                cached = self._label_costs[(service, labels)] = (
                    np.array([self._unit_cost(service, r, m) for r, m in labels]),
                    payer_shares(self.register, service),
                )
            costs, shares = cached
            amount = costs[keys // N_CODES]
            self.spend.add(service, np.asarray(person), amount, shares)
        batch = self._year.batches.get((service, labels))
        if batch is None:
            by_stratum, by_bridges = self._year.coded[(service, labels)] = (
                _Tally(len(labels) * N_STRATA),
                _Tally(len(labels) * N_BRIDGES),
            )
            n, cells, segs = len(labels), by_stratum.counts, by_bridges.counts
            batch = self._year.batches[(service, labels)] = _Batch(
                lambda keys: _ledger_kernels.add_keys(keys, n, cells, segs), _KEY_BATCH
            )
        batch.add(keys)

    def waits(
        self,
        service: str,
        wait_days: np.ndarray,
        strata: np.ndarray,
        booking: np.ndarray | None = None,
        band: np.ndarray | None = None,
    ) -> None:
        """Record waits (whole days) of requests served or admitted, under a waits-table
        name; a wait that is not a whole number of days, 0 or more, raises ``ValueError``.

        ``strata`` are the people's stratum codes (for the wait distribution by segment and
        IMD quintile); ``booking`` indexes ``BOOKINGS`` (GP request kinds), "" if None;
        ``band`` may pass ``wait_band(wait_days)`` already computed.
        """
        if service not in names.WAITING_LISTS:
            names.check_waiting_list(service)
        if wait_days.size:
            assert self._year is not None
            days = self._year.waits.get(service)
            if days is None:
                days = self._year.waits[service] = _WaitDays()
            days.add(np.asarray(wait_days))
            tally = self._year.wait_cells.get(service)
            if tally is None:
                size = len(BOOKINGS) * N_SEGMENTS * N_IMD * len(WAIT_BANDS)
                tally = self._year.wait_cells[service] = _Tally(size)
            if band is None:
                band = wait_band(np.asarray(wait_days))
            # the cell ((booking * N_SEGMENTS + segment) * N_IMD + imd) * bands + band of
            # each wait, from the person codes (``imd_and_segment``)
            _ledger_kernels.add_waits(strata, booking, band, len(WAIT_BANDS), tally.counts)

    def person_years(
        self, strata: np.ndarray, exposure_years: np.ndarray, died: np.ndarray
    ) -> None:
        """Person-years and deaths by stratum and QOF count band for the current year
        (``strata`` are person codes), and person-years by Bridges to Health segment."""
        shape = (N_STRATA * len(LTC_BANDS), N_BRIDGES)
        py_all = np.bincount(strata, weights=exposure_years, minlength=N_CODES).reshape(shape)
        self._bridges_py = py_all.sum(axis=0)
        py = py_all.sum(axis=1)
        deaths = (
            np.bincount(strata, weights=died.astype(float), minlength=N_CODES)
            .reshape(shape)
            .sum(axis=1)
        )
        # a death on the first day adds no person-time but must still be counted
        nz = np.flatnonzero((py > 0) | (deaths > 0))
        frame = decode(nz // len(LTC_BANDS))
        frame.insert(0, "year", np.int16(self.calendar_year))
        frame.insert(0, "replication", np.int32(self.replication))
        frame["qof_ltc_band"] = pd.Categorical.from_codes(
            nz % len(LTC_BANDS), pd.Index(LTC_BANDS), ordered=True
        )
        frame["person_years"] = py[nz]
        frame["deaths"] = deaths[nz].astype(np.int64)
        self.person_year_frames.append(frame)

    def end_year(
        self,
        backlogs: Mapping[str, int],
        capacity: Mapping[str, tuple[float, float]],
        mean_occupied_beds: float | None = None,
        service_tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> None:
        """Count, cost and store the year's activity, waits and capacity use.

        ``backlogs`` and ``capacity`` are every service's, merged (keys: waits-table and
        capacity-table names); ``mean_occupied_beds`` goes on the ``bed_day`` capacity row;
        ``service_tables`` are rows of service-specific tables, to which the replication and
        year columns are added.
        """
        assert self._year is not None
        self._year.flush()
        for name in backlogs:
            names.check_waiting_list(name)
        for name in capacity:
            names.check_capacity(name)
        for name, rows in (service_tables or {}).items():
            if name in TABLES:
                raise ValueError(f"a service table may not be called {name!r}")
            head = pd.DataFrame(
                {
                    "replication": np.full(len(rows), self.replication, dtype=np.int32),
                    "year": np.full(len(rows), self.calendar_year, dtype=np.int16),
                }
            )
            frame = pd.concat([head, rows.reset_index(drop=True)], axis=1)
            self.service_frames.setdefault(name, []).append(frame)
        for (service, labels), (coded, coded_bridges) in self._year.coded.items():
            counts = coded.total()
            by_seg = coded_bridges.total()
            for code, (role, mode) in enumerate(labels):
                part = counts[code * N_STRATA : (code + 1) * N_STRATA]
                if part.any():
                    self._year.combo((service, role, mode)).add_counts(part)
                    self._year.bridges((service, role, mode)).add_counts(
                        by_seg[code * N_BRIDGES : (code + 1) * N_BRIDGES]
                    )
        # one row per (service, role, mode, payer) and stratum: a service paid by several
        # payers (``payer_shares``) is split between them, count and cost alike
        combos: list[tuple[str, str, str, str]] = []
        codes, counts_nz, combo_index = [], [], []
        sources: list[tuple[str, str, str]] = []
        by_bridges: list[np.ndarray] = []
        for combo, tally in self._year.combos.items():
            # whole counts and weighted records (weights are whole numbers: bed days, days
            # of support), so the sums are exact in any order
            counts = tally.total().astype(np.float64)
            segs = self._year.bridges(combo).total().astype(np.float64)
            chunks = self._year.keys.get(combo)
            if chunks:
                keys = np.concatenate(chunks)
                w = np.concatenate(self._year.weights[combo])
                counts += np.bincount(keys // N_EXTRA, weights=w, minlength=N_STRATA)
                segs += np.bincount(keys % N_BRIDGES, weights=w, minlength=N_BRIDGES)
            sources.append(combo)
            by_bridges.append(segs)
            (service, role, mode) = combo
            nz = np.flatnonzero(counts)
            for payer, share in payer_shares(self.register, service):
                if share <= 0:
                    continue
                combo_index.append(np.full(nz.size, len(combos), dtype=np.int32))
                combos.append((service, role, mode, payer))
                codes.append(nz)
                counts_nz.append(counts[nz] if share == 1.0 else counts[nz] * share)
        if combos:
            # decode every stratum code once, then label rows by their combination
            which = np.concatenate(combo_index)
            frame = decode(np.concatenate(codes))
            count = np.concatenate(counts_nz)
            costs = np.array([unit_cost(self.register, *c[:3]) for c in combos])
            cashable = np.array([cashable_share(self.register, c[0]) for c in combos])

            def label(values: list[str]) -> Any:
                cats = pd.Index(sorted(set(values)))
                return pd.Categorical.from_codes(cats.get_indexer(pd.Index(values))[which], cats)

            head = pd.DataFrame(
                {
                    "replication": np.full(which.size, self.replication, dtype=np.int32),
                    "year": np.full(which.size, self.calendar_year, dtype=np.int16),
                    "setting": label([names.activity(c[0]).setting for c in combos]),
                    "service": label([c[0] for c in combos]),
                    "role": label([c[1] for c in combos]),
                    "mode": label([c[2] for c in combos]),
                    "payer": label([c[3] for c in combos]),
                }
            )
            frame = pd.concat([head, frame], axis=1)
            frame["count"] = count
            frame["cost_gbp"] = count * costs[which]
            frame["cashable_gbp"] = frame["cost_gbp"].to_numpy() * cashable[which]
            self.activity_frames.append(frame)
            # bridges_to_health: by (service, role, mode), payers together
            self._bridges_rows(
                sources,
                np.stack(by_bridges),
                np.array([unit_cost(self.register, *c) for c in sources]),
            )
        self._lever_frames()
        services = set(self._year.waits) | set(backlogs)
        for service in sorted(services):
            days = self._year.waits.get(service)
            served, mean, p90 = days.summary() if days is not None else (0, np.nan, np.nan)
            self.wait_rows.append(
                {
                    "replication": self.replication,
                    "year": self.calendar_year,
                    "service": service,
                    "served": served,
                    "mean_wait_days": mean,
                    "p90_wait_days": p90,
                    "backlog_end": int(backlogs.get(service, 0)),
                }
            )
        shape = (len(BOOKINGS), N_SEGMENTS, N_IMD, len(WAIT_BANDS))
        for service, cells in sorted(self._year.wait_cells.items()):
            counts = cells.total()
            nz = np.flatnonzero(counts)
            kind, seg, imd, band = np.unravel_index(nz, shape)
            self.wait_distribution_frames.append(
                pd.DataFrame(
                    {
                        "replication": np.full(nz.size, self.replication, dtype=np.int32),
                        "year": np.full(nz.size, self.calendar_year, dtype=np.int16),
                        "service": service,
                        "booking": np.array(BOOKINGS)[kind],
                        "segment": np.array(SEGMENTS)[seg],
                        "imd_quintile": (imd + 1).astype(np.int8),
                        "wait_band": np.array(WAIT_BANDS)[band],
                        "count": counts[nz].astype(float),
                    }
                )
            )
        for service, (offered, used) in sorted(capacity.items()):
            self.capacity_rows.append(
                {
                    "replication": self.replication,
                    "year": self.calendar_year,
                    "service": service,
                    "capacity_offered": float(offered),
                    "capacity_used": float(used),
                    "utilisation": float(used / offered) if offered > 0 else np.nan,
                    "mean_occupied_beds": float(mean_occupied_beds)
                    if service == "bed_day" and mean_occupied_beds is not None
                    else np.nan,
                }
            )
        self._year = None

    def _lever_frames(self) -> None:
        """The year's lever cost records (``lever_cost``) as activity rows, by stratum."""
        for service, parts in self._lever_costs.items():
            strata = np.concatenate([p[0] for p in parts]) // N_EXTRA
            count = np.bincount(strata, np.concatenate([p[1] for p in parts]), N_STRATA)
            cost = np.bincount(strata, np.concatenate([p[2] for p in parts]), N_STRATA)
            nz = np.flatnonzero((count != 0) | (cost != 0))
            activity = names.activity(service)
            frame = decode(nz)
            n = nz.size
            head = pd.DataFrame(
                {
                    "replication": np.full(n, self.replication, dtype=np.int32),
                    "year": np.full(n, self.calendar_year, dtype=np.int16),
                    "setting": _repeated(activity.setting, n),
                    "service": _repeated(service, n),
                    "role": _repeated("", n),
                    "mode": _repeated("", n),
                    "payer": _repeated(activity.payer, n),
                }
            )
            frame = pd.concat([head, frame], axis=1)
            frame["count"] = count[nz]
            frame["cost_gbp"] = cost[nz]
            frame["cashable_gbp"] = cost[nz] * self._lever_cashable.get(service, 0.0)
            self.activity_frames.append(frame)
        self._lever_costs = {}

    def _bridges_rows(
        self, combos: list[tuple[str, str, str]], counts: np.ndarray, costs: np.ndarray
    ) -> None:
        """Rows of bridges_to_health for the year: segment x service, summed over roles and
        modes (``counts``: combination x segment)."""
        services = sorted({c[0] for c in combos})
        which = np.array([services.index(c[0]) for c in combos])
        count = np.zeros((len(services), N_BRIDGES))
        cost = np.zeros((len(services), N_BRIDGES))
        np.add.at(count, which, counts)
        np.add.at(cost, which, counts * costs[:, None])
        seg = np.repeat(np.arange(N_BRIDGES), len(services))
        svc = np.tile(np.arange(len(services)), N_BRIDGES)
        self.bridges_frames.append(
            pd.DataFrame(
                {
                    "replication": np.full(seg.size, self.replication, dtype=np.int32),
                    "year": np.full(seg.size, self.calendar_year, dtype=np.int16),
                    "segment": np.array(BRIDGES_SEGMENTS)[seg],
                    "person_years": self._bridges_py[seg],
                    "service": np.array(services)[svc],
                    "count": count[svc, seg],
                    "cost_gbp": cost[svc, seg],
                }
            )
        )

    # ---------------------------------------------------------------- tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """The replication's tidy tables."""
        activity = (
            _concat_categorical(self.activity_frames, _LABELS)
            if self.activity_frames
            else pd.DataFrame(columns=list(ACTIVITY_COLUMNS))
        )
        activity = activity[list(ACTIVITY_COLUMNS)]
        for col in _LABELS:
            activity[col] = activity[col].astype("category")
        waits = pd.DataFrame(self.wait_rows)
        capacity = pd.DataFrame(self.capacity_rows)
        for frame in (waits, capacity):
            if not frame.empty:
                frame["replication"] = frame["replication"].astype(np.int32)
                frame["year"] = frame["year"].astype(np.int16)
                frame["service"] = frame["service"].astype("category")
        columns = ["replication", "year", "service", "booking", "segment", "imd_quintile"]
        wait_distribution = (
            pd.concat(self.wait_distribution_frames, ignore_index=True)
            if self.wait_distribution_frames
            else pd.DataFrame(columns=[*columns, "wait_band", "count"])
        )
        for col in ("service", "booking", "segment"):
            wait_distribution[col] = wait_distribution[col].astype("category")
        wait_distribution["wait_band"] = pd.Categorical(
            wait_distribution["wait_band"], categories=list(WAIT_BANDS), ordered=True
        )
        bridges = (
            pd.concat(self.bridges_frames, ignore_index=True)
            if self.bridges_frames
            else pd.DataFrame(columns=list(BRIDGES_COLUMNS))
        )
        bridges["segment"] = pd.Categorical(bridges["segment"], categories=list(BRIDGES_SEGMENTS))
        bridges["service"] = bridges["service"].astype("category")
        return {
            "person_years": pd.concat(self.person_year_frames, ignore_index=True),
            "bridges_to_health": bridges,
            "activity": activity,
            "waits": waits,
            "capacity": capacity,
            "wait_distribution": wait_distribution,
            **{
                name: pd.concat(frames, ignore_index=True)
                for name, frames in self.service_frames.items()
            },
        }
