"""A first-come-first-served waiting list with a daily capacity, vectorised.

Requests are rows of a per-service table (struct of arrays); the queue holds row indices in
arrival order. Each day the service appends the day's arrivals, optionally drops requests
whose patience has run out, and serves the first ``capacity`` of the rest.
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


class FifoQueue:
    """Row indices waiting for service, in arrival order."""

    def __init__(self) -> None:
        self.pending: np.ndarray = _EMPTY

    def __len__(self) -> int:
        return int(self.pending.shape[0])

    def add(self, rows: np.ndarray) -> None:
        """Append arriving rows (already in arrival order)."""
        if rows.size:
            self.pending = np.concatenate([self.pending, rows.astype(np.int64, copy=False)])

    def add_front(self, rows: np.ndarray) -> None:
        """Put rows back at the head of the queue (e.g. cancelled electives)."""
        if rows.size:
            self.pending = np.concatenate([rows.astype(np.int64, copy=False), self.pending])

    def serve(self, capacity: int) -> np.ndarray:
        """Remove and return the first ``capacity`` rows."""
        n = max(0, min(int(capacity), len(self)))
        served = self.pending[:n]
        self.pending = self.pending[n:]
        return served

    def drop(self, mask: np.ndarray) -> np.ndarray:
        """Remove rows where ``mask`` (aligned with ``pending``) is true; return them."""
        if not mask.any():
            return _EMPTY
        dropped = self.pending[mask]
        self.pending = self.pending[~mask]
        return dropped
