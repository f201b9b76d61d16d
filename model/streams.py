"""Named, independent random streams.

Every random draw in carescale comes from a ``numpy.random.Generator`` derived from
``(seed, replication, stream name[, period])`` through ``numpy.random.SeedSequence``. Streams
are keyed by *name*, not by the order in which they are created, so adding, removing or using
another stream never changes the draws of an existing one. There is no global seeding anywhere
in the package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from model.errors import ScenarioError

MAX_SEED = 2**63 - 1


def _name_words(name: str) -> tuple[int, ...]:
    """Map a stream name to four stable 32-bit words (sha-256, independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def check_seed(seed: object, what: str = "seed") -> int:
    """Return ``seed`` as an int if it is a non-negative integer, else raise one clear error."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ScenarioError(f"{what} must be a non-negative integer, got {seed!r}.")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ScenarioError(f"{what} must be an integer in [0, {MAX_SEED}], got {seed!r}.")
    return int(seed)


def seed_sequence(
    seed: int, replication: int, name: str, period: int | None = None
) -> np.random.SeedSequence:
    """The ``SeedSequence`` for one stream.

    ``period`` distinguishes e.g. one year's draws from the next without the caller
    having to consume a stream in order; ``None`` and ``0`` are different streams.
    """
    check_seed(seed)
    check_seed(replication, "replication")
    if not name:
        raise ScenarioError("a random stream needs a non-empty name.")
    key: tuple[int, ...] = (int(replication), *_name_words(name))
    key = key + ((0,) if period is None else (1, check_seed(period, "period")))
    return np.random.SeedSequence(entropy=int(seed), spawn_key=key)


def stream(
    seed: int, replication: int, name: str, period: int | None = None
) -> np.random.Generator:
    """An independent generator for ``(seed, replication, name[, period])``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, replication, name, period)))


@dataclass(frozen=True)
class Streams:
    """The random streams of one replication: ``Streams(seed, rep).get("population.age")``."""

    seed: int
    replication: int = 0

    def __post_init__(self) -> None:
        check_seed(self.seed)
        check_seed(self.replication, "replication")

    def get(self, name: str, period: int | None = None) -> np.random.Generator:
        """The generator for stream ``name`` (and ``period``) of this replication."""
        return stream(self.seed, self.replication, name, period)
