"""Targeting rules: parsed with one-line errors, applied as documented, from pre-lever rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.demand import DemandModel
from model.errors import ScenarioError
from model.population import SEGMENTS, Population, build_population
from model.register import Register
from model.services import names
from model.targeting import (
    Rule,
    emergency_admission_risk,
    parse_rule,
    predicted_cost,
    select,
    top_share,
)

WHERE = "scenarios/x.toml: [levers.link_workers]"


@pytest.fixture(scope="module")
def pop(register: Register) -> Population:
    return build_population(20_000, 11, register)


@pytest.fixture(scope="module")
def rates(pop: Population, register: Register) -> dict[str, np.ndarray]:
    demand = DemandModel.build(register, pop)
    return {s: demand.rates(s, pop) for s in names.DEMAND_STREAMS}


# ----------------------------------------------------------------------------- parsing


def test_a_full_rule_parses() -> None:
    rule = parse_rule(
        {
            "segments": ["vulnerable_concerned", "traditional_concerned"],
            "activation_levels": [1, 2],
            "ltc_count": "qof",
            "min_ltc": 2,
            "imd_quintiles": 1,
            "min_age": 18,
            "max_age": 90,
            "social_needs": ["isolation"],
            "conditions": ["diabetes", "copd"],
            "phb_eligible": False,
            "top_percent": 5,
            "rank_by": "cost",
        },
        WHERE,
    )
    assert rule.segments == ("vulnerable_concerned", "traditional_concerned")
    assert rule.imd_quintiles == (1,) and rule.top_percent == 5.0
    assert "2+ long-term conditions (qof count)" in rule.describe()
    assert parse_rule({}, WHERE) == Rule() and Rule().describe() == "everyone"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"segment": ["x"]}, "unknown key 'target.segment'; did you mean 'target.segments'?"),
        ({"segments": ["vulnerable_concernd"]}, "did you mean 'vulnerable_concerned'?"),
        ({"segments": []}, "'target.segments' = []"),
        ({"activation_levels": [0, 1]}, "whole numbers from 1 to 4"),
        ({"activation_levels": [1.5]}, "whole numbers from 1 to 4"),
        ({"min_ltc": 2}, "names its count: 'qof'"),
        ({"min_ltc": 2, "ltc_count": "all"}, "'target.ltc_count' = 'all'"),
        ({"min_ltc": 3, "max_ltc": 1, "ltc_count": "qof"}, "at least min_ltc (3)"),
        ({"min_ltc": -1, "ltc_count": "qof"}, "from 0 to 40"),
        ({"imd_quintiles": [6]}, "from 1 to 5"),
        ({"min_age": 70, "max_age": 60}, "at least min_age (70)"),
        ({"social_needs": ["loneliness"]}, "allowed isolation, financial, housing"),
        ({"conditions": ["diabetis"]}, "did you mean 'diabetes'?"),
        ({"phb_eligible": "yes"}, "give true or false"),
        ({"top_percent": 0, "rank_by": "cost"}, "above 0 and at most 100"),
        ({"top_percent": 130, "rank_by": "cost"}, "above 0 and at most 100"),
        ({"top_percent": 5}, "'target.rank_by' = None"),
        ({"rank_by": "cost"}, "'target.top_percent' = None"),
    ],
)
def test_a_bad_rule_is_refused_in_one_sentence(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_rule(raw, WHERE)
    message = str(info.value)
    assert message.startswith(WHERE) and fragment in message, message
    assert "\n" not in message


# ----------------------------------------------------------------------------- selection


def test_keys_combine_with_and_values_with_or(pop: Population, register: Register) -> None:
    rule = Rule(segments=("vulnerable_concerned", "worried_engaged"), activation_levels=(1, 2))
    mask = select(rule, pop, register)
    segs = [SEGMENTS.index("vulnerable_concerned"), SEGMENTS.index("worried_engaged")]
    expected = np.isin(pop.segment, segs) & (pop.pam_level <= 2)
    np.testing.assert_array_equal(mask, expected)
    assert 0 < mask.sum() < pop.size
    old = select(Rule(ltc_count="qof", min_ltc=2, min_age=65), pop, register)
    np.testing.assert_array_equal(old, (pop.ltc_count >= 2) & (pop.age >= 65))
    need = select(Rule(social_needs=("isolation", "housing")), pop, register)
    np.testing.assert_array_equal(need, pop.isolation.astype(bool) | pop.housing.astype(bool))
    phb = select(Rule(phb_eligible=True), pop, register)
    np.testing.assert_array_equal(phb, pop.chc | pop.s117 | pop.wheelchair)
    assert select(Rule(), pop, register).all()


def test_top_percent_takes_exactly_the_highest_scores() -> None:
    score = np.array([0.3, 0.9, 0.1, 0.9, 0.5, 0.0, 0.7])
    ids = np.array([10, 20, 30, 5, 40, 50, 60])
    top = top_share(score, ids, 30)  # ceil(2.1) = 3 people
    assert top.sum() == 3
    # the two 0.9s and the 0.7; ties broken by the lower id first
    assert set(ids[top].tolist()) == {20, 5, 60}
    assert top_share(score, ids, 100).all()


def test_top_percent_by_risk_ranks_the_whole_population(
    pop: Population, register: Register, rates: dict[str, np.ndarray]
) -> None:
    rule = parse_rule({"top_percent": 5, "rank_by": "emergency_admission_risk"}, WHERE)
    mask = select(rule, pop, register, rates)
    assert mask.sum() == math.ceil(pop.size * 0.05)
    risk = emergency_admission_risk(pop, rates, register)
    assert risk[mask].min() >= risk[~mask].max()
    # the highest-risk people are older and have more conditions than average
    assert pop.age[mask].mean() > pop.age.mean() + 15
    assert pop.ltc_count[mask].mean() > 2 * pop.ltc_count.mean()
    # combined with another key: the top 5 % of everyone, then only those aged under 65
    young = select(
        Rule(max_age=64, top_percent=5, rank_by="emergency_admission_risk"), pop, register, rates
    )
    np.testing.assert_array_equal(young, mask & (pop.age <= 64))
    with pytest.raises(ValueError, match="pre-lever base rates"):
        select(rule, pop, register)


def test_predicted_cost_follows_the_rates(
    pop: Population, register: Register, rates: dict[str, np.ndarray]
) -> None:
    cost = predicted_cost(register, rates)
    assert (cost > 0).all()
    # about the NHS and social care spend per head the rates imply: hundreds of pounds a year
    assert 300 < cost.mean() < 3000
    # doubling every rate doubles the cost
    doubled = predicted_cost(register, {s: 2 * r for s, r in rates.items()})
    np.testing.assert_allclose(doubled, 2 * cost)
    many = pop.ltc_count >= 3
    assert cost[many].mean() > 2 * cost[pop.ltc_count == 0].mean()


class _Doubling:
    """A lever doubling every demand rate (for the no-recursion check)."""

    name = "doubling"

    def on_year_start(self, world: object) -> None:
        return None

    def rate_multiplier(self, world: object, service: str) -> np.ndarray | None:
        return np.full(world.pop.size, 2.0)  # type: ignore[attr-defined]

    def capacity_multiplier(self, world: object, service: str) -> float:
        return 1.0

    def processes(self, world: object) -> list[object]:
        return []


def test_targeting_uses_pre_lever_rates(small_baseline) -> None:  # type: ignore[no-untyped-def]
    from model.engine import Engine
    from model.targeting import world_rates

    plain = Engine(small_baseline, 0)
    plain.prepare_first_year()
    levered = Engine(small_baseline, 0, levers=[_Doubling()])  # type: ignore[list-item]
    levered.prepare_first_year()
    for stream in names.DEMAND_STREAMS:
        np.testing.assert_array_equal(
            levered.world.base_rates(stream), plain.world.base_rates(stream)
        )
        np.testing.assert_allclose(
            levered.world.rates(stream), 2 * plain.world.rates(stream), rtol=1e-12
        )
    rule = Rule(top_percent=5, rank_by="cost")
    w = levered.world
    np.testing.assert_array_equal(
        select(rule, w.pop, w.register, world_rates(w)),
        select(rule, plain.world.pop, plain.world.register, world_rates(plain.world)),
    )


def test_the_broad_and_qof_counts_and_bridges_segments(pop: Population, register: Register) -> None:
    from model.population import BRIDGES_SEGMENTS, bridges_segment

    broad = select(Rule(ltc_count="broad", min_ltc=2), pop, register)
    qof = select(Rule(ltc_count="qof", min_ltc=2), pop, register)
    np.testing.assert_array_equal(broad, pop.broad_ltc_count >= 2)
    np.testing.assert_array_equal(qof, pop.ltc_count >= 2)
    assert broad.sum() > qof.sum()  # the broad list counts more people as multimorbid
    rule = parse_rule({"bridges_segments": ["frailty_and_dementia", "organ_failure"]}, WHERE)
    seg = bridges_segment(pop, register)
    wanted = [
        BRIDGES_SEGMENTS.index("frailty_and_dementia"),
        BRIDGES_SEGMENTS.index("organ_failure"),
    ]
    np.testing.assert_array_equal(select(rule, pop, register), np.isin(seg, wanted))
    assert parse_rule({"conditions": ["hearing_loss"]}, WHERE).conditions == ("hearing_loss",)
