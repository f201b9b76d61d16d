"""Per-person spend: each person's cost by payer, this simulated year and the previous one.

Levers need to know what a person costs: a personal health budget is set from the holder's own
spend on the services it replaces over the previous 12 months, and targeting may rank people
by cost. The ledger feeds a ``PersonSpend`` with the same records it tallies by stratum, at the
same unit costs and payer shares, so each person's spend reconciles with the activity table.

It is allocated only when a lever asks for it (``Ledger.enable_person_spend``): two float32
buckets per payer (``len(PAYERS) * 2 * 4`` = 48 bytes per person), plus two float32 buckets
per service for the services whose detail was asked for (e.g. those a budget replaces).
"Previous 12 months" is the previous simulated year's bucket. Rows follow the positions of
``world.pop`` and are carried when the population changes at a year boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from model._lever_kernels import add_at_float32


class PersonSpend:
    """Cost (GBP, reporting prices) per person by payer: ``current`` and ``previous`` year."""

    def __init__(self, size: int, payers: Sequence[str], detail: Iterable[str] = ()) -> None:
        self.payers = tuple(payers)
        self.payer_row = {p: i for i, p in enumerate(self.payers)}
        self.current = np.zeros((len(self.payers), size), dtype=np.float32)
        self.previous = np.zeros((len(self.payers), size), dtype=np.float32)
        self.detail: dict[str, np.ndarray] = {}
        self.detail_previous: dict[str, np.ndarray] = {}
        self.want_detail(detail)

    @property
    def size(self) -> int:
        """Number of people (the current population)."""
        return int(self.current.shape[1])

    def want_detail(self, services: Iterable[str]) -> None:
        """Keep per-service spend (all payers together) for ``services`` from now on."""
        for s in services:
            if s not in self.detail:
                self.detail[s] = np.zeros(self.size, dtype=np.float32)
                self.detail_previous[s] = np.zeros(self.size, dtype=np.float32)

    def add(
        self,
        service: str,
        person: np.ndarray,
        cost: float | np.ndarray,
        shares: tuple[tuple[str, float], ...],
    ) -> None:
        """Add ``cost`` (one value per record, or one for all) to each record's person."""
        if not person.size:
            return
        amount = np.asarray(cost, dtype=np.float64)
        if amount.ndim == 0:
            if amount == 0.0:  # np.any of one value, without the call
                return
            amount = amount.reshape(1)  # one for all (the pass reads it for every record)
        elif not np.any(amount):
            return
        elif amount.shape != person.shape:
            amount = np.broadcast_to(amount, person.shape)
        # np.add.at of the float32 amounts, record by record (a compiled pass)
        for payer, share in shares:
            if share > 0:
                add_at_float32(self.current[self.payer_row[payer]], person, amount, share)
        extra = self.detail.get(service)
        if extra is not None:
            add_at_float32(extra, person, amount, 1.0)

    def start_year(self) -> None:
        """The current bucket becomes the previous one; the new current starts at zero."""
        self.previous, self.current = self.current, self.previous
        self.current[:] = 0.0
        for s in self.detail:
            self.detail_previous[s], self.detail[s] = self.detail[s], self.detail_previous[s]
            self.detail[s][:] = 0.0

    def carry(self, kept: np.ndarray | None, added: int) -> None:
        """Follow a population change: keep the rows ``kept`` (in order), append ``added``."""

        # the kept rows as positions, found once: a gather along the last axis by positions
        # is several times faster than a boolean mask over a 2-D array, and the copy is made
        # once (no padding to join when nobody is added)
        rows = None
        if kept is not None:
            rows = np.flatnonzero(kept) if kept.dtype == np.bool_ else np.asarray(kept)

        def move(a: np.ndarray) -> np.ndarray:
            part = a if rows is None else np.take(a, rows, axis=-1)
            if not added:
                return part if rows is not None else a.copy()
            pad = np.zeros((*a.shape[:-1], added), dtype=a.dtype)
            return np.concatenate([part, pad], axis=-1)

        self.current = move(self.current)
        self.previous = move(self.previous)
        self.detail = {s: move(v) for s, v in self.detail.items()}
        self.detail_previous = {s: move(v) for s, v in self.detail_previous.items()}

    def total(self, previous: bool = False) -> np.ndarray:
        """Each person's spend over every payer (float64)."""
        bucket = self.previous if previous else self.current
        return np.asarray(bucket.sum(axis=0, dtype=np.float64))

    def of_services(self, services: Iterable[str], previous: bool = True) -> np.ndarray:
        """Each person's spend on ``services`` (which must have detail), previous year by
        default."""
        source = self.detail_previous if previous else self.detail
        out = np.zeros(self.size, dtype=np.float64)
        for s in services:
            out += source[s]
        return out


__all__ = ["PersonSpend"]
