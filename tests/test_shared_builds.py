"""A comparison builds each base population once (``population.shared_builds``) and the C
allocator keeps freed memory during a run (``model.allocator``): neither changes a result."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from model import allocator, population
from model.population import Population, build_population, shared_builds
from model.register import default_register


def _arrays(pop: Population) -> dict[str, np.ndarray]:
    return {
        f.name: getattr(pop, f.name)
        for f in fields(pop)
        if isinstance(getattr(pop, f.name), np.ndarray)
    }


def _assert_same_people(a: Population, b: Population) -> None:
    for name, x in _arrays(a).items():
        np.testing.assert_array_equal(x, getattr(b, name), err_msg=name)


def _shares_memory(a: Population, b: Population) -> bool:
    return any(np.shares_memory(x, getattr(b, n)) for n, x in _arrays(a).items())


def test_each_use_gets_the_population_it_would_have_built_in_arrays_of_its_own() -> None:
    reference = build_population(2_000, seed=3, replication=1)
    with shared_builds(uses=3):
        first = build_population(2_000, seed=3, replication=1)
        second = build_population(2_000, seed=3, replication=1)
        third = build_population(2_000, seed=3, replication=1)
        assert population._shared[-1].entries == {}  # the last use took the kept arrays
    for pop in (first, second, third):
        _assert_same_people(reference, pop)
    assert not _shares_memory(first, second)
    assert not _shares_memory(second, third)
    assert not _shares_memory(first, third)


def test_one_run_changing_its_people_does_not_reach_the_next() -> None:
    reference = build_population(2_000, seed=3)
    with shared_builds(uses=2):
        first = build_population(2_000, seed=3)
        first.pam_level[:] = 4
        first.ltc[:] = True
        second = build_population(2_000, seed=3)
    _assert_same_people(reference, second)


@pytest.mark.parametrize(
    "other",
    [
        {"size": 2_001},
        {"seed": 4},
        {"replication": 1},
        {"base_year": 2022},
        {"register": default_register().with_values({"ltc.broad.frailty_loading": 0.41})},
    ],
    ids=["size", "seed", "replication", "base_year", "register value"],
)
def test_a_different_build_is_not_shared(other: dict[str, object]) -> None:
    args: dict[str, object] = {"size": 2_000, "seed": 3, "replication": 0, "base_year": 2023}
    with shared_builds(uses=2):
        kept = build_population(**args)  # type: ignore[arg-type]
        changed = build_population(**{**args, **other})  # type: ignore[arg-type]
        assert len(population._shared[-1].entries) == 2  # neither took the other's
    expected = build_population(**{**args, **other})  # type: ignore[arg-type]
    _assert_same_people(expected, changed)
    assert not _shares_memory(kept, changed)


def test_registers_differing_only_in_where_a_value_came_from_share() -> None:
    reg = default_register()
    moved = reg.with_values(
        {"ltc.broad.frailty_loading": reg.scalar("ltc.broad.frailty_loading")},
        origin="elsewhere.toml",
    )
    assert population.register_digest(reg) == population.register_digest(moved)
    assert population.register_digest(reg) != population.register_digest(
        reg.with_values({"ltc.broad.frailty_loading": 0.41})
    )


def test_nothing_is_kept_outside_the_block_or_beyond_the_budget() -> None:
    build_population(2_000, seed=3)
    assert population._shared == []
    with shared_builds(uses=2, budget=1_000):  # smaller than any population
        build_population(2_000, seed=3)
        assert population._shared[-1].entries == {}
    with shared_builds(uses=1):  # one use: nothing to share
        build_population(2_000, seed=3)
        assert population._shared[-1].entries == {}
    assert population._shared == []


def test_the_allocator_setting_nests_and_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int]] = []

    class FakeLibc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad: int) -> int:
            calls.append(("trim", pad, 0))
            return 1

    monkeypatch.setattr(allocator, "_libc", lambda: FakeLibc())
    with allocator.reuse_freed_memory():
        with allocator.reuse_freed_memory():  # inner block: no change, no trim
            pass
        assert calls == [
            ("mallopt", allocator.M_MMAP_MAX, 0),
            ("mallopt", allocator.M_TRIM_THRESHOLD, allocator.KEEP),
        ]
    assert calls[2:] == [
        ("mallopt", allocator.M_MMAP_MAX, allocator.DEFAULT_MMAP_MAX),
        ("mallopt", allocator.M_TRIM_THRESHOLD, allocator.DEFAULT_TRIM_THRESHOLD),
        ("trim", 0, 0),
    ]
    assert allocator._depth == 0


def test_without_glibc_the_allocator_block_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_libc", lambda: None)
    with allocator.reuse_freed_memory():
        assert allocator._depth == 1
    assert allocator._depth == 0
