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


def test_scenario_toml_is_a_scenario_file_carescale_runs(workshop: Workshop, tmp_path) -> None:
    import shutil
    from pathlib import Path

    from model.scenario import load_scenario

    settings = {"link_worker_fte": 25.0, "phb_uptake": 0.0, "tailored_access": False, "years": 3}
    text = workshop.scenario_toml(settings)
    assert text.startswith("# Exported from the carescale what-if workshop")
    shutil.copy(Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml", tmp_path)
    (tmp_path / "workshop.toml").write_text(text, encoding="utf-8")
    loaded = load_scenario(tmp_path / "workshop.toml")
    expected = workshop.scenario(settings)
    assert loaded.run.years == 3
    assert set(loaded.levers) == set(expected.levers) == {"link_workers", "health_coaching"}
    for name, spec in expected.levers.items():
        assert loaded.levers[name].as_dict() == spec.as_dict()
    # the full-size run keeps the baseline's population; only the levers and horizon change
    assert loaded.run.population == workshop.baseline.run.population


def test_headline_csv_holds_the_five_numbers(workshop: Workshop) -> None:
    import csv
    import io

    headline = workshop.run({"years": 2})
    rows = list(csv.DictReader(io.StringIO(workshop.headline_csv())))
    assert [r["quantity"] for r in rows] == list(headline.index)
    assert float(rows[0]["mean"]) == pytest.approx(headline.iloc[0]["mean"])
    assert rows[0]["low"] == ""  # one replication: no interval
    assert {r["people_simulated"] for r in rows} == {str(PEOPLE)}
    assert "years=2" in rows[0]["settings"]


def test_the_app_runs_resets_and_reports_without_a_browser(workshop: Workshop) -> None:
    from model.workshop_app import WorkshopApp

    app = WorkshopApp(workshop)
    app.set({"years": 2})
    assert 'data-state="done"' in app.status.value
    first, runs = app.headline.value, app.runs
    assert 'data-key="lever_cost_gbp"' in first and "carescale-chart" in app.chart.value
    assert "carescale-export-toml" in app.exports.value
    assert not any(c.disabled for c in app.controls.values())  # enabled again after the run
    app.controls["coaching_fte"].value = 30.0  # one change, one run
    assert app.runs == runs + 1 and app.headline.value != first
    app.set({"years": 2, "coaching_fte": workshop.defaults()["coaching_fte"]})
    assert app.headline.value == first  # same settings, same random numbers, same numbers
    app.reset()
    assert app.settings() == workshop.defaults()
    app.projector.value = False
    assert "carescale-large" not in app.widget._dom_classes


def test_the_app_shows_why_a_run_failed(workshop: Workshop, monkeypatch) -> None:
    from model.workshop_app import WorkshopApp

    app = WorkshopApp(workshop)

    def refuse(settings: object) -> None:
        raise ScenarioError("the workshop could not run: a test said so.")

    monkeypatch.setattr(workshop, "run", refuse)
    app.controls["link_worker_fte"].value = 3.0
    assert 'data-state="error"' in app.status.value and "a test said so" in app.status.value
    assert not any(c.disabled for c in app.controls.values())


def test_workshop_command_refuses_a_port_in_use(capsys) -> None:
    import socket

    from model.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["workshop", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--port {port} is in use" in err and "Traceback" not in err


def test_the_chart_shows_key_services_by_their_activity_names(workshop: Workshop) -> None:
    from model.services import names
    from model.workshop import KEY_SERVICES

    for service in KEY_SERVICES:
        names.check_activity(service)  # an unknown name raises
    workshop.run({"years": 2})
    table = workshop.change_by_service()
    assert list(table.index) == list(KEY_SERVICES.values())
    assert (table["baseline"] > 0).all()
    gp = table.loc["GP appointments"]
    headline = workshop.headline().loc["change in GP appointments", "mean"]
    assert gp["change"] == pytest.approx(headline)
    assert gp["percent"] == pytest.approx(100 * gp["change"] / gp["baseline"])
