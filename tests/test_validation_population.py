"""Population validation (EVIDENCE §12 items 1, 8, 9, 10) at 200,000 people.

Each target is its own test, so a failure names the target, the simulated value and the
accepted range. The session population has a fixed seed; the tolerances in the register are
wide compared with the sampling error at 200,000 people (e.g. SE 0.0002 for dementia
prevalence against a tolerance of 0.0012), so a pass here is not luck of the seed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from model.population import CONDITIONS, MIN_SIZE, Population, build_population
from model.register import Register, default_register
from model.validation import Check, checks_frame, population_checks, population_summary


def _check_names() -> list[str]:
    # Names only: they do not depend on the draws, so the smallest population lists them.
    pop = build_population(MIN_SIZE, seed=0)
    return [c.name for c in population_checks(pop, default_register())]


CHECK_NAMES = _check_names()


@pytest.fixture(scope="module")
def checks_200k(big_population: Population, register: Register) -> dict[str, Check]:
    return {c.name: c for c in population_checks(big_population, register)}


def describe(c: Check) -> str:
    return (
        f"{c.group} / {c.name}: simulated {c.simulated:.5g}, target {c.target:.5g} "
        f"± {c.tolerance:.3g} (accepted {c.low:.5g} to {c.high:.5g}; register key "
        f"{c.source_key})"
    )


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_population_target_passes_at_200k(checks_200k: dict[str, Check], name: str) -> None:
    check = checks_200k[name]
    assert check.passed, describe(check)


def test_every_target_group_is_checked(checks_200k: dict[str, Check]) -> None:
    assert len(checks_200k) == len(CHECK_NAMES)  # names are unique
    groups = [c.group for c in checks_200k.values()]
    assert groups.count("QOF prevalence") == len(CONDITIONS)
    assert groups.count("activation") == 4  # one per PAM level
    assert groups.count("multimorbidity") == 4
    assert groups.count("age/sex") == 3
    assert groups.count("mortality") == 2
    # every QOF condition is checked against its own register entry
    qof_keys = {c.source_key for c in checks_200k.values() if c.group == "QOF prevalence"}
    assert qof_keys == {f"ltc.{name}.prevalence" for name in CONDITIONS}


def test_wrong_register_makes_the_hypertension_check_fail(
    register: Register, big_population: Population
) -> None:
    """The check can fail: a population built with hypertension at 25 % is refused when
    judged against the published 14.08 %."""
    wrong = register.with_values({"ltc.hypertension.prevalence": 0.25})
    pop = build_population(50_000, seed=big_population.seed, register=wrong)
    by_key = {c.source_key: c for c in population_checks(pop, register)}
    hypertension = by_key["ltc.hypertension.prevalence"]
    assert not hypertension.passed, describe(hypertension)
    # ~50,000 people: SE of a share near 0.25 is 0.002
    assert hypertension.simulated == pytest.approx(0.25, abs=0.01)
    # judged against the register that built it, the same population passes this check
    own = {c.source_key: c for c in population_checks(pop, wrong)}
    assert own["ltc.hypertension.prevalence"].passed


def test_wrong_age_structure_fails_the_age_checks(
    register: Register, big_population: Population
) -> None:
    # dropping everyone aged 80+ (about 5 % of people) takes the 65+ share far below target
    pop = big_population
    checks = population_checks(pop, register)
    share_65 = next(c for c in checks if c.name == "share aged 65+")
    assert share_65.passed
    keep = pop.age < 80
    trimmed = dataclasses.replace(pop, **{k: v[keep] for k, v in pop.arrays().items()})
    trimmed_65 = next(c for c in population_checks(trimmed, register) if c.name == "share aged 65+")
    assert not trimmed_65.passed, describe(trimmed_65)


def make_check(simulated: float, target: float = 0.5, tolerance: float = 0.05) -> Check:
    return Check("g", "n", target, simulated, tolerance, "proportion", "k")


@pytest.mark.parametrize(
    "simulated, passed",
    [
        (0.5, True),
        (0.45, True),
        (0.55, True),
        (0.4499, False),
        (0.5501, False),
        (math.nan, False),
        (math.inf, False),
    ],
)
def test_check_passes_only_within_its_tolerance(simulated: float, passed: bool) -> None:
    assert make_check(simulated).passed is passed


def test_checks_frame_has_one_row_per_check(checks_200k: dict[str, Check]) -> None:
    checks = list(checks_200k.values())
    df = checks_frame(checks)
    assert len(df) == len(checks)
    assert {"target", "simulated", "tolerance", "low", "high", "result"} <= set(df.columns)
    np.testing.assert_allclose(df["high"] - df["low"], 2 * df["tolerance"])
    assert list(df["result"]) == ["pass" if c.passed else "FAIL" for c in checks]


def test_population_summary_segments_sum_to_one(big_population: Population) -> None:
    summary = population_summary(big_population)
    people = summary.loc[summary["group"] == "people", "value"].item()
    assert people == big_population.size
    seg = summary.loc[summary["group"] == "segment", "value"]
    assert len(seg) == 4 and seg.sum() == pytest.approx(1.0, abs=1e-12)
