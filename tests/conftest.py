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


# ----------------------------------------------------------------------------- engine runs
# Shared runs of the baseline engine, built once per session. Tests must treat the tables as
# read-only (copy before changing anything).

#: people and years of the shared small baseline run (about 2 s)
RUN_SIZE = 20_000
RUN_YEARS = 2


@pytest.fixture(scope="session")
def repo_root():
    """The repository root (holds ``scenarios/``)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def baseline_scenario(repo_root):
    """``scenarios/baseline.toml`` as loaded by the library (run settings as in the file)."""
    from model.scenario import load_scenario

    return load_scenario(repo_root / "scenarios" / "baseline.toml")


@pytest.fixture(scope="session")
def small_baseline(baseline_scenario):
    """The baseline scenario with 20,000 people and 2 years (seed as in the file)."""
    return baseline_scenario.with_run(population=RUN_SIZE, years=RUN_YEARS, replications=1)


@pytest.fixture(scope="session")
def small_baseline_tables(small_baseline):
    """Tables of replication 0 of ``small_baseline`` (read-only by convention)."""
    from model.engine import run_one

    return run_one(small_baseline, 0)
