"""A first-come-first-served waiting list with a daily capacity, vectorised.

Requests are rows of a per-service table (struct of arrays); the queue holds row indices in
arrival order. Each day the service appends the day's arrivals, optionally drops requests
whose patience has run out, and serves the first ``capacity`` of the rest.
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


class FifoQueue:
    """Row indices waiting for service, in arrival order.

    Held in a buffer with room at both ends, so that joining at the back or the front
    costs the rows that join, not a copy of the whole list (lists of a million people wait
    for outpatients); ``pending`` is a view of the rows waiting.
    """

    def __init__(self) -> None:
        self._buf: np.ndarray = _EMPTY
        self._head = 0
        self._tail = 0

    @property
    def pending(self) -> np.ndarray:
        """The rows waiting, head first (a view: copy it to keep it)."""
        return self._buf[self._head : self._tail]

    @pending.setter
    def pending(self, rows: np.ndarray) -> None:
        self._buf = np.asarray(rows, dtype=np.int64).copy()
        self._head = 0
        self._tail = self._buf.shape[0]

    def __len__(self) -> int:
        return self._tail - self._head

    def _room(self, front: int, back: int) -> None:
        """Make room for ``front`` rows before the head and ``back`` after the tail."""
        if self._head >= front and self._buf.shape[0] - self._tail >= back:
            return
        n = len(self)
        spare = max(n, 1024)
        buf = np.empty(front + n + back + 2 * spare, dtype=np.int64)
        head = front + spare
        buf[head : head + n] = self.pending
        self._buf, self._head, self._tail = buf, head, head + n

    def add(self, rows: np.ndarray) -> None:
        """Append arriving rows (already in arrival order)."""
        n = rows.shape[0]
        if n:
            self._room(0, n)
            self._buf[self._tail : self._tail + n] = rows
            self._tail += n

    def add_front(self, rows: np.ndarray) -> None:
        """Put rows back at the head of the queue (e.g. cancelled electives)."""
        n = rows.shape[0]
        if n:
            self._room(n, 0)
            self._buf[self._head - n : self._head] = rows
            self._head -= n

    def serve(self, capacity: int) -> np.ndarray:
        """Remove and return the first ``capacity`` rows."""
        n = max(0, min(int(capacity), len(self)))
        served = self._buf[self._head : self._head + n].copy()
        self._head += n
        return served

    def drop(self, mask: np.ndarray) -> np.ndarray:
        """Remove rows where ``mask`` (aligned with ``pending``) is true; return them."""
        if not mask.any():
            return _EMPTY
        pending = self.pending
        dropped = pending[mask]
        self.pending = pending[~mask]
        return dropped
