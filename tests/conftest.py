"""Shared fixtures: the package register and two synthetic populations built once per session.

The populations are read-only (their arrays are frozen here) so that no test can change what
another test sees.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.population import Population, build_population
from model.register import Register, default_register

#: the large population: enough people for statistical tests with tight tolerances
BIG_SIZE = 200_000
BIG_SEED = 20231  # the CLI's default seed
#: the small population: for structural tests that need no statistics
SMALL_SIZE = 5_000
SMALL_SEED = 7


def _freeze(pop: Population) -> Population:
    for arr in pop.arrays().values():
        arr.flags.writeable = False
    return pop


@pytest.fixture(scope="session")
def register() -> Register:
    """The package's evidence register."""
    return default_register()


@pytest.fixture(scope="session")
def big_population() -> Population:
    """200,000 people, default register, fixed seed (built once per session)."""
    return _freeze(build_population(BIG_SIZE, seed=BIG_SEED))


@pytest.fixture(scope="session")
def small_population() -> Population:
    """5,000 people, default register, fixed seed (built once per session)."""
    return _freeze(build_population(SMALL_SIZE, seed=SMALL_SEED))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed for tests that sample."""
    return np.random.default_rng(20240601)
