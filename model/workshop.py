"""What-if workshop: levers set from sliders, re-run against a cached baseline.

Used by ``notebooks/02_what_if_workshop.ipynb``. Like ``model/report/`` this module lives
outside the model core: the core never imports it, and it imports matplotlib and ipywidgets
only when a figure or the controls are asked for.

    ws = Workshop(population=20_000)
    ws.run(ws.defaults())      # the five headline numbers (a DataFrame)
    ws.figure()                # charts of the last run
    ws.app()                   # sliders and dropdowns; every change re-runs

A run is a paired comparison (common random numbers) of one scenario built from the settings
with the baseline, summarised with ``model.business_case`` exactly as ``carescale compare``
does. The baseline is run once per horizon and kept.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from model import business_case as bc
from model.errors import ScenarioError, show
from model.experiments import run_scenario
from model.interventions import parse_levers
from model.scenario import EVIDENCE_MODES, Scenario, load_scenario

#: the shipped scenario files (the workshop's starting values come from ``combined.toml``)
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAME = "workshop"
#: link-worker targeting rules offered in the dropdown (``target.*`` of docs/levers.md)
LINK_WORKER_RULES: Mapping[str, dict[str, Any]] = {
    "social needs": {"social_needs": ["isolation", "financial", "housing"]},
    "social needs, two most deprived IMD quintiles": {
        "social_needs": ["isolation", "financial", "housing"],
        "imd_quintiles": [1, 2],
    },
    "top 5 % by emergency-admission risk": {
        "top_percent": 5,
        "rank_by": "emergency_admission_risk",
    },
    "adults with 2+ long-term conditions": {"min_age": 18, "min_ltc": 2},
}
#: personal-health-budget eligibility rules offered in the dropdown
PHB_RULES: Mapping[str, dict[str, Any]] = {
    "everyone with a right to one": {"phb_eligible": True},
    "right to one, aged 65+": {"phb_eligible": True, "min_age": 65},
    "right to one, two most deprived IMD quintiles": {
        "phb_eligible": True,
        "imd_quintiles": [1, 2],
    },
}
#: the settings a workshop run takes (``Workshop.defaults`` gives a starting set)
SETTING_KEYS = (
    "link_worker_fte",
    "link_worker_rule",
    "phb_rule",
    "phb_uptake",
    "coaching_fte",
    "tailored_access",
    "evidence",
    "years",
)
#: the services the workshop's chart shows (activity names) and their labels
KEY_SERVICES: Mapping[str, str] = {
    "gp_appointment": "GP appointments",
    "ae_attendance": "A&E attendances",
    "emergency_admission": "emergency admissions",
    "outpatient_attendance": "outpatient attendances",
    "community_nursing_contact": "community nursing contacts",
    "community_mental_health_contact": "community mental health contacts",
    "social_care_new_request": "social care requests",
}
#: slider bounds (FTE for the represented population)
MAX_FTE = 60.0
MAX_YEARS = 10


def _levers_file(scenarios: Path) -> dict[str, Any]:
    with (scenarios / "combined.toml").open("rb") as f:
        levers: dict[str, Any] = tomllib.load(f)["levers"]
    return levers


def _target_name(rules: Mapping[str, dict[str, Any]], target: Mapping[str, Any]) -> str:
    for name, rule in rules.items():
        if dict(rule) == dict(target):
            return name
    return next(iter(rules))


def _check(settings: Mapping[str, Any]) -> None:
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise ScenarioError(
            f"workshop setting {show(unknown[0])} is not known; allowed settings are "
            f"{', '.join(SETTING_KEYS)}."
        )
    checks = {
        "link_worker_rule": tuple(LINK_WORKER_RULES),
        "phb_rule": tuple(PHB_RULES),
        "evidence": EVIDENCE_MODES,
    }
    for key, allowed in checks.items():
        if key in settings and settings[key] not in allowed:
            raise ScenarioError(
                f"workshop setting '{key}' = {show(settings[key])} is not allowed; allowed "
                f"values are {', '.join(allowed)}."
            )


@dataclass
class Workshop:
    """A workshop session: the baseline at a small size, cached per horizon."""

    population: int = 20_000
    seed: int | None = None
    replications: int = 1
    scenarios: Path = SCENARIOS
    _baselines: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    last: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.scenarios = Path(self.scenarios)
        self.baseline = load_scenario(self.scenarios / "baseline.toml")
        self.settings = bc.Settings.from_register(self.baseline.register)
        self._start = _levers_file(self.scenarios)

    # ------------------------------------------------------------------ settings

    def defaults(self) -> dict[str, Any]:
        """Starting values: the levers of ``scenarios/combined.toml`` and the baseline's
        horizon."""
        lw, phb, hc = (self._start[k] for k in ("link_workers", "phb", "health_coaching"))
        return {
            "link_worker_fte": float(lw["fte"]),
            "link_worker_rule": _target_name(LINK_WORKER_RULES, lw.get("target", {})),
            "phb_rule": _target_name(PHB_RULES, phb.get("target", {})),
            "phb_uptake": float(phb["uptake"]),
            "coaching_fte": float(hc["fte"]),
            "tailored_access": "tailored_access" in self._start,
            "evidence": str(self._start.get("evidence", EVIDENCE_MODES[-1])),
            "years": self.baseline.run.years,
        }

    def _run_base(self, years: int) -> Scenario:
        return self.baseline.with_run(
            population=self.population,
            years=years,
            seed=self.seed,
            replications=self.replications,
        )

    def settings_of(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The starting values with ``settings`` applied, checked."""
        settings = dict(settings or {})
        _check(settings)
        return {**self.defaults(), **settings}

    def levers_raw(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``[levers]`` table the settings describe, as a scenario file writes it (levers
        with zero FTE or uptake are left out)."""
        s = self.settings_of(settings)
        start = self.baseline.run.start_year
        raw: dict[str, Any] = {"evidence": s["evidence"]}
        if s["link_worker_fte"] > 0:
            raw["link_workers"] = {
                **self._start["link_workers"],
                "start_year": start,
                "fte": float(s["link_worker_fte"]),
                "target": dict(LINK_WORKER_RULES[s["link_worker_rule"]]),
            }
        if s["phb_uptake"] > 0:
            raw["phb"] = {
                **self._start["phb"],
                "start_year": start,
                "uptake": float(s["phb_uptake"]),
                "target": dict(PHB_RULES[s["phb_rule"]]),
            }
        if s["coaching_fte"] > 0:
            raw["health_coaching"] = {
                **self._start["health_coaching"],
                "start_year": start,
                "fte": float(s["coaching_fte"]),
            }
        if s["tailored_access"] and "tailored_access" in self._start:
            raw["tailored_access"] = {**self._start["tailored_access"], "start_year": start}
        return raw

    def scenario(self, settings: Mapping[str, Any] | None = None) -> Scenario:
        """The scenario the settings describe, at the workshop's size."""
        s = self.settings_of(settings)
        base = self._run_base(int(s["years"]))
        levers = parse_levers(
            self.levers_raw(s), "workshop settings", base.run.start_year, base.run.years
        )
        return replace(
            base, name=NAME, description="What-if workshop settings", path="", levers=levers
        )

    def scenario_toml(self, settings: Mapping[str, Any] | None = None) -> str:
        """The settings as a scenario file: save it in ``scenarios/`` beside ``baseline.toml``
        (which it extends) and run it at full size with ``carescale compare``."""
        import tomli_w

        s = self.settings_of(settings)
        document = {
            "scenario": {
                "name": NAME,
                "description": "Levers agreed in a carescale what-if workshop.",
                "extends": "baseline.toml",
            },
            "run": {"years": int(s["years"])},
            "levers": self.levers_raw(s),
        }
        rules = ", ".join(f"{k} = {s[k]!r}" for k in SETTING_KEYS)
        header = (
            "# Exported from the carescale what-if workshop. Save this file in scenarios/ beside\n"
            "# baseline.toml (which it extends) and run it at full size:\n"
            f"#   carescale compare scenarios/baseline.toml scenarios/{NAME}.toml\n"
            f"# The workshop ran it on {self.population:,} people"
            f" ({self.replications} replication(s)); its settings were:\n"
            f"#   {rules}\n"
        )
        return header + "\n" + tomli_w.dumps(document)

    # ------------------------------------------------------------------ running

    def _baseline_for(self, years: int) -> dict[str, Any]:
        if years not in self._baselines:
            base = self._run_base(years)
            scale = base.run.scale
            tables = dict(run_scenario(base).tables)
            py = tables["person_years"]
            person_years = py[["replication", "year", "imd_quintile", "segment", "person_years"]]
            person_years = person_years.assign(
                person_years=person_years["person_years"].astype("float64") * scale
            )
            self._baselines[years] = {
                "scenario": base,
                "activity": bc.aggregate_activity(tables["activity"], scale),
                "person_years": person_years,
                "levers": bc.scale_lever_activity(bc.lever_activity_of(tables), scale),
                "years": sorted(int(y) for y in py["year"].unique()),
                "tables": tables,
            }
        return self._baselines[years]

    def run(self, settings: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run the scenario of ``settings`` against the (cached) baseline and return the
        five headline numbers (rows) with mean, low and high (for the represented
        population, 2023/24 prices; no interval with one replication)."""
        s = self.settings_of(settings)
        scenario = self.scenario(s)
        base = self._baseline_for(int(s["years"]))
        scale = scenario.run.scale
        tables = dict(run_scenario(scenario).tables)
        diffs = bc.differences(
            base["activity"], bc.aggregate_activity(tables["activity"], scale), NAME
        )
        levers = bc.scale_lever_activity(bc.lever_activity_of(tables), scale)
        replications = list(range(scenario.run.replications))
        case = bc.scenario_summary(
            diffs,
            levers,
            base["person_years"],
            replications,
            base["years"],
            self.settings,
            base["levers"],
        )
        self.last = {
            "settings": s,
            "scenario": scenario,
            "summary": case,
            "differences": diffs,
            "tables": tables,
        }
        return self.headline()

    def headline(self) -> pd.DataFrame:
        """The five headline numbers of the last run."""
        if not self.last:
            raise ScenarioError("the workshop has not run yet; call run() first.")
        numbers = bc.headline(self.last["summary"])
        return (
            pd.DataFrame(
                [
                    {"quantity": bc.HEADLINE[k], **{c: v[c] for c in ("mean", "low", "high")}}
                    for k, v in numbers.items()
                ]
            )
            .set_index("quantity")
            .astype("float64")
        )

    def headline_csv(self) -> str:
        """The five headline numbers of the last run as CSV (quantity, mean, low, high; GBP
        at 2023/24 prices and counts for the represented population; low and high are empty
        with one replication), with the run's size and settings in the last columns."""
        table = self.headline().reset_index()
        scenario = self.last["scenario"]
        table["people_simulated"] = scenario.run.population
        table["people_represented"] = scenario.run.represented
        table["years"] = scenario.run.years
        table["replications"] = scenario.run.replications
        table["settings"] = "; ".join(f"{k}={v}" for k, v in self.last["settings"].items())
        text: str = table.to_csv(index=False, lineterminator="\n")
        return text

    def by_year(self) -> pd.DataFrame:
        """Lever cost, cashable saving and net change in cost by year of the last run
        (means across replications)."""
        rows = [
            {
                "year": row["year"],
                **{k: v["mean"] for k, v in row.items() if isinstance(v, dict)},
            }
            for row in self.last["summary"]["by_year"]
        ]
        return pd.DataFrame(rows).set_index("year")

    def change_by_service(self) -> pd.DataFrame:
        """For each of ``KEY_SERVICES``: the baseline's count over the horizon, the change
        (scenario - baseline) and the change in percent of the baseline, for the represented
        population, mean across replications, of the last run."""
        years = int(self.last["settings"]["years"])
        replications = self.last["scenario"].run.replications
        base = self._baseline_for(years)["activity"]
        diffs = self.last["differences"]
        services = list(KEY_SERVICES)
        baseline = (
            base[base["service"].isin(services)].groupby("service")["count"].sum() / replications
        )
        change = (
            diffs[diffs["service"].astype(str).isin(services)]
            .assign(service=lambda d: d["service"].astype(str))
            .groupby("service")["delta_count"]
            .sum()
            / replications
        )
        table = pd.DataFrame({"baseline": baseline, "change": change}).reindex(services)
        table = table.fillna(0.0)
        table["percent"] = (100 * table["change"] / table["baseline"]).where(
            table["baseline"] > 0, 0.0
        )
        table.index = pd.Index([KEY_SERVICES[s] for s in services], name="service")
        return table

    # ------------------------------------------------------------------ pictures

    def figure(self) -> Any:
        """Two panels of the last run: the change over the horizon in key services, in
        percent of the baseline with the count beside each bar; lever cost against cashable
        saving by year."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        change = self.change_by_service().iloc[::-1]  # first service at the top
        left.barh(change.index, change["percent"], color="#4c72b0")
        left.axvline(0, color="black", linewidth=0.8)
        reach = max(float(change["percent"].abs().max()), 0.5)
        left.set_xlim(-reach * 1.6, reach * 1.6)
        for y, (percent, count) in enumerate(zip(change["percent"], change["change"], strict=True)):
            left.annotate(
                f"{count:+,.0f}",
                (percent, y),
                xytext=(4 if percent >= 0 else -4, 0),
                textcoords="offset points",
                ha="left" if percent >= 0 else "right",
                va="center",
                fontsize="small",
            )
        left.set_title("Change over the horizon (scenario - baseline)")
        left.set_xlabel("% of the baseline (bar); events (label)")
        years = self.by_year()
        money = years[["lever_cost_gbp", "cashable_saving_gbp"]] / 1e6
        money.plot(kind="bar", ax=right, width=0.8, color=["#c0392b", "#27ae60"])
        right.legend(["lever cost", "cashable saving"], fontsize="small")
        right.axhline(0, color="black", linewidth=0.8)
        right.set_title("Lever cost and cashable saving by year")
        right.set_ylabel("GBP million (2023/24 prices)")
        right.set_xlabel("year")
        fig.tight_layout()
        return fig

    def controls(self) -> dict[str, Any]:
        """One ipywidgets control per setting, at the default values."""
        import ipywidgets as w

        d = self.defaults()
        style = {"description_width": "14em"}
        layout = w.Layout(width="32em")

        def opts(**kw: Any) -> dict[str, Any]:
            return {"style": style, "layout": layout, **kw}

        return {
            "link_worker_fte": w.FloatSlider(
                value=d["link_worker_fte"],
                min=0,
                max=MAX_FTE,
                step=1,
                **opts(description="link-worker FTE", continuous_update=False),
            ),
            "link_worker_rule": w.Dropdown(
                options=list(LINK_WORKER_RULES),
                value=d["link_worker_rule"],
                **opts(description="link-worker targeting"),
            ),
            "phb_rule": w.Dropdown(
                options=list(PHB_RULES), value=d["phb_rule"], **opts(description="PHB eligibility")
            ),
            "phb_uptake": w.FloatSlider(
                value=d["phb_uptake"],
                min=0,
                max=1,
                step=0.01,
                **opts(description="PHB uptake", continuous_update=False),
            ),
            "coaching_fte": w.FloatSlider(
                value=d["coaching_fte"],
                min=0,
                max=MAX_FTE,
                step=1,
                **opts(description="health-coaching FTE", continuous_update=False),
            ),
            "tailored_access": w.Checkbox(
                value=d["tailored_access"], **opts(description="tailored access")
            ),
            "evidence": w.Dropdown(
                options=list(EVIDENCE_MODES), value=d["evidence"], **opts(description="evidence")
            ),
            "years": w.IntSlider(
                value=d["years"],
                min=1,
                max=MAX_YEARS,
                **opts(description="horizon (years)", continuous_update=False),
            ),
        }

    def app(self) -> Any:
        """The workshop app (``model.workshop_app``): the controls, a running indicator,
        the five headline numbers, the charts, reset and export; every change re-runs."""
        from model.workshop_app import WorkshopApp

        return WorkshopApp(self).widget


__all__ = ["KEY_SERVICES", "LINK_WORKER_RULES", "PHB_RULES", "SETTING_KEYS", "Workshop"]
