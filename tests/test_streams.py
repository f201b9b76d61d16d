"""Named random streams: reproducible, independent, and keyed by name rather than order."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from model.errors import ScenarioError
from model.streams import Streams, seed_sequence, stream

N = 1_000


def draws(
    seed: int = 1, replication: int = 0, name: str = "population.age_sex", period: int | None = None
) -> np.ndarray:
    return stream(seed, replication, name, period).random(N)


def test_same_key_gives_identical_draws() -> None:
    np.testing.assert_array_equal(draws(), draws())
    np.testing.assert_array_equal(Streams(1).get("population.age_sex").random(N), draws())
    np.testing.assert_array_equal(Streams(5, 3).get("x", period=2).random(N), draws(5, 3, "x", 2))


@pytest.mark.parametrize(
    "other",
    [
        {"seed": 2},
        {"replication": 1},
        {"name": "population.imd"},
        {"name": "population.age_se"},  # names differing by one character
        {"period": 0},
        {"period": 1},
    ],
    ids=["seed", "replication", "name", "similar name", "period 0", "period 1"],
)
def test_any_change_of_key_gives_different_draws(other: dict[str, object]) -> None:
    base = draws()
    changed = draws(**other)  # type: ignore[arg-type]
    assert not np.array_equal(base, changed)
    # and not merely shifted copies of each other: the two streams look independent
    # (|r| of two independent samples of 1,000 exceeds 0.15 with probability ~1e-6)
    assert abs(np.corrcoef(base, changed)[0, 1]) < 0.15


def test_period_none_differs_from_every_small_period() -> None:
    base = draws(period=None)
    for period in range(5):
        assert not np.array_equal(base, draws(period=period)), period


def test_seed_and_replication_are_not_interchangeable() -> None:
    # (seed 1, replication 2) must not equal (seed 2, replication 1)
    assert not np.array_equal(draws(seed=1, replication=2), draws(seed=2, replication=1))


def test_a_stream_is_unaffected_by_other_streams_created_or_used_first() -> None:
    """The key property: draws depend on the stream's name, never on creation order."""
    alone = Streams(11).get("population.pam").standard_normal(N)

    s = Streams(11)
    for name in ("population.age_sex", "population.imd", "a.new.stream"):
        s.get(name).standard_normal(50_000)  # use other streams heavily
    s.get("population.pam").standard_normal(10)  # and even this stream itself
    after = s.get("population.pam").standard_normal(N)

    np.testing.assert_array_equal(alone, after)


def test_streams_of_one_replication_are_independent() -> None:
    s = Streams(3)
    names = [f"population.propensity.{k}" for k in ("gp", "ae", "elective", "digital")]
    matrix = np.array([s.get(n).standard_normal(20_000) for n in names])
    corr = np.corrcoef(matrix)
    off_diagonal = corr[~np.eye(len(names), dtype=bool)]
    # SE of a correlation between independent samples of 20,000 is 0.007; 0.035 is 5 SE
    assert np.abs(off_diagonal).max() < 0.035


def test_numpy_integer_seeds_are_accepted() -> None:
    np.testing.assert_array_equal(draws(seed=np.int64(1)), draws(seed=1))  # type: ignore[arg-type]


def test_seed_sequence_carries_the_seed_as_entropy() -> None:
    ss = seed_sequence(42, 0, "x")
    assert ss.entropy == 42


def test_draws_do_not_depend_on_python_hash_seed() -> None:
    """Stream names are hashed with sha-256, not hash(), so runs agree across processes."""
    code = (
        "from model.streams import stream; "
        "print(repr(stream(9, 1, 'population.frailty', 3).random(3).tolist()))"
    )
    expected = repr(stream(9, 1, "population.frailty", 3).random(3).tolist())
    for hash_seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert out.stdout.strip() == expected, hash_seed


# ----------------------------------------------------------------------------- bad input

BAD_SEEDS = {
    "negative": (-1, "seed must be an integer in [0, 9223372036854775807], got -1."),
    "too large": (
        2**63,
        "seed must be an integer in [0, 9223372036854775807], got 9223372036854775808.",
    ),
    "float": (1.5, "seed must be a non-negative integer, got 1.5."),
    "whole float": (2.0, "seed must be a non-negative integer, got 2.0."),
    "bool": (True, "seed must be a non-negative integer, got True."),
    "text": ("1", "seed must be a non-negative integer, got '1'."),
}


@pytest.mark.parametrize("seed, message", BAD_SEEDS.values(), ids=BAD_SEEDS.keys())
def test_bad_seed_is_refused(seed: object, message: str) -> None:
    pattern = "^" + re.escape(message) + "$"
    with pytest.raises(ScenarioError, match=pattern):
        stream(seed, 0, "x")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=pattern):
        Streams(seed)  # type: ignore[arg-type]


def test_bad_replication_and_period_are_refused() -> None:
    with pytest.raises(ScenarioError, match=r"^replication must be an integer in \[0, "):
        Streams(1, -1)
    with pytest.raises(ScenarioError, match=r"^replication must be a non-negative integer"):
        stream(1, 0.5, "x")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^period must be an integer in \[0, "):
        stream(1, 0, "x", period=-1)


def test_empty_stream_name_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"^a random stream needs a non-empty name\.$"):
        Streams(1).get("")
