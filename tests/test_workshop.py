"""The what-if workshop module (model/workshop.py) at a tiny size."""

from __future__ import annotations

import math

import pytest

from model.errors import ScenarioError
from model.workshop import LINK_WORKER_RULES, SETTING_KEYS, Workshop

PEOPLE = 1500


@pytest.fixture(scope="module")
def workshop() -> Workshop:
    return Workshop(population=PEOPLE, seed=3)


def test_defaults_cover_every_setting(workshop: Workshop) -> None:
    assert set(workshop.defaults()) == set(SETTING_KEYS)


def test_changing_a_control_changes_the_headline(workshop: Workshop) -> None:
    first = workshop.run({"years": 2})
    assert list(first.columns) == ["mean", "low", "high"]
    assert len(first) == 5
    cost = first.loc["lever cost (GBP)", "mean"]
    assert cost > 0
    # the baseline is cached: a second run of the same horizon reuses it
    assert list(workshop._baselines) == [2]
    more = workshop.run({"years": 2, "link_worker_fte": 50.0, "coaching_fte": 20.0})
    assert list(workshop._baselines) == [2]
    assert more.loc["lever cost (GBP)", "mean"] > cost * 1.5
    assert (
        more.loc["net present value (GBP)", "mean"] != first.loc["net present value (GBP)", "mean"]
    )


def test_no_levers_costs_nothing(workshop: Workshop) -> None:
    none = workshop.run(
        {
            "years": 2,
            "link_worker_fte": 0.0,
            "phb_uptake": 0.0,
            "coaching_fte": 0.0,
            "tailored_access": False,
        }
    )
    assert none.loc["lever cost (GBP)", "mean"] == 0
    # same random numbers and no lever: no change in activity
    assert none.loc["change in GP appointments", "mean"] == 0
    assert math.isnan(none.loc["lever cost (GBP)", "low"])  # one replication: no interval


def test_rules_reach_the_scenario(workshop: Workshop) -> None:
    rule = "top 5 % by emergency-admission risk"
    scenario = workshop.scenario({"years": 2, "link_worker_rule": rule})
    target = scenario.levers["link_workers"].target
    assert target.top_percent == LINK_WORKER_RULES[rule]["top_percent"]
    assert target.rank_by == "emergency_admission_risk" and target.social_needs is None
    assert scenario.run.population == PEOPLE and scenario.run.years == 2


def test_bad_setting_is_one_sentence(workshop: Workshop) -> None:
    with pytest.raises(ScenarioError, match=r"'evidence' = .* is not allowed"):
        workshop.scenario({"evidence": "anecdote"})
    with pytest.raises(ScenarioError, match="not known"):
        workshop.scenario({"fte": 3})


def test_figure_and_controls(workshop: Workshop) -> None:
    workshop.run({"years": 2})
    fig = workshop.figure()
    assert len(fig.axes) == 2
    controls = workshop.controls()
    assert set(controls) == set(SETTING_KEYS)
    assert controls["link_worker_fte"].value == workshop.defaults()["link_worker_fte"]
