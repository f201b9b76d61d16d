"""The what-if workshop as an app: controls, a running indicator, the five headline numbers,
the charts, reset and export, for a facilitator with no Python.

``Workshop.app()`` (``model/workshop.py``) returns this app's widget; notebook
``notebooks/02_what_if_workshop.ipynb`` shows it, and ``carescale workshop`` serves that
notebook with Voila as a web page on this computer (``serve_command``). Like the rest of the
workshop, this module lives outside the model core and imports ipywidgets and matplotlib only
here.

What a facilitator sees, top to bottom:

* the controls (link-worker FTE and targeting, PHB eligibility and uptake, coaching FTE,
  tailored access, evidence mode, horizon); every change re-runs the scenario against the
  cached baseline;
* a status line: "running ..." (on a yellow band, the controls greyed out) while a run is
  going, then what ran and how long it took, or why it could not run;
* the five headline numbers as a table (``carescale-headline``) and the two charts as one
  picture (``carescale-chart``);
* "Reset" (back to the starting values, one run), "Projector" (larger text, on by default)
  and two download links: the agreed settings as a scenario file (TOML) to run at full size,
  and the five numbers as CSV.

The page elements carry CSS classes and ``data-`` attributes (``data-state`` on the status,
``data-key`` on each headline row) so that the browser test can read them.
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.errors import CarescaleError

if TYPE_CHECKING:
    from model.workshop import Workshop

#: the folder holding carescale's Voila template (``voila/templates/carescale``): the lab
#: template without the two stylesheets it fetches from a CDN, so the page needs no internet
TEMPLATE_ROOT = Path(__file__).resolve().parent / "workshop_share"
TEMPLATE = "carescale"
#: the notebook ``carescale workshop`` serves (in a checkout of the repository)
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_what_if_workshop.ipynb"
#: set (to "1") in the kernel's environment by ``carescale workshop``: the notebook then shows
#: only the app, not its widget-free examples
APP_ENV = "CARESCALE_WORKSHOP_APP"
#: download names of the two exports
TOML_NAME = "workshop_scenario.toml"
CSV_NAME = "workshop_headline.csv"

_STYLE = """
<style>
.carescale-app { --jp-widgets-font-size: 15px; --jp-widgets-inline-height: 30px;
  --jp-widgets-inline-label-width: 15em; font-size: 15px; max-width: 1200px; }
.carescale-app.carescale-large { --jp-widgets-font-size: 20px; --jp-widgets-inline-height: 38px;
  font-size: 20px; }
.carescale-app .widget-label { font-size: var(--jp-widgets-font-size); }
.carescale-status { padding: 0.4em 0.8em; border-radius: 4px; margin: 0.4em 0; }
.carescale-status[data-state="running"] { background: #fff3b0; font-weight: bold; }
.carescale-status[data-state="done"] { background: #e6f4ea; }
.carescale-status[data-state="error"] { background: #fdecea; color: #8a1c1c; font-weight: bold; }
.carescale-headline { border-collapse: collapse; margin: 0.4em 0; }
.carescale-headline th, .carescale-headline td { padding: 0.25em 0.9em;
  border-bottom: 1px solid #ccc; text-align: right; }
.carescale-headline th:first-child, .carescale-headline td:first-child { text-align: left; }
.carescale-headline tbody td.mean { font-weight: bold; }
.carescale-chart { width: 100%; max-width: 1150px; }
.carescale-exports a { margin-right: 1.5em; color: #1a5fb4; text-decoration: underline; }
</style>
"""


def _money(value: float | None) -> str:
    if value is None or value != value:  # NaN: no interval with one replication
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}£{abs(value) / 1e6:,.2f} m"


def _count(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:+,.0f}"


def _data_link(text: str, name: str, mime: str, css: str, label: str) -> str:
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f'<a class="{css}" download="{name}" href="data:{mime};base64,{payload}">{label}</a>'


class WorkshopApp:
    """The app around one ``Workshop`` (its cached baselines are shared)."""

    def __init__(self, workshop: Workshop, large: bool = True) -> None:
        import ipywidgets as w

        self.workshop = workshop
        self.controls = workshop.controls()
        self.status = w.HTML(self._status("idle", "starting ..."))
        self.headline = w.HTML()
        self.chart = w.HTML()
        self.exports = w.HTML()
        self.reset_button = w.Button(description="Reset", icon="undo", tooltip="starting values")
        self.reset_button.add_class("carescale-reset")
        self.projector = w.ToggleButton(value=large, description="Projector", icon="desktop")
        self.projector.add_class("carescale-projector")
        self.runs = 0
        self.last_seconds = 0.0
        self._quiet = False
        buttons = w.HBox([self.reset_button, self.projector])
        self.widget = w.VBox(
            [
                w.HTML(_STYLE),
                *self.controls.values(),
                buttons,
                self.status,
                self.headline,
                self.chart,
                self.exports,
            ]
        )
        self.widget.add_class("carescale-app")
        self._projector(large)
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.reset_button.on_click(lambda _button: self.reset())
        self.projector.observe(lambda change: self._projector(bool(change["new"])), names="value")
        self.refresh()

    # ------------------------------------------------------------------ actions

    def settings(self) -> dict[str, Any]:
        """The settings the controls show now."""
        return {key: control.value for key, control in self.controls.items()}

    def set(self, settings: Mapping[str, Any]) -> None:
        """Set several controls at once and re-run once."""
        self._quiet = True
        try:
            for key, value in settings.items():
                self.controls[key].value = value
        finally:
            self._quiet = False
        self.refresh()

    def reset(self) -> None:
        """Every control back to its starting value, then one run."""
        self.set(self.workshop.defaults())

    def refresh(self) -> None:
        """Run the settings the controls show and update the numbers, charts and exports."""
        ws = self.workshop
        settings = self.settings()
        people, years = ws.population, int(settings["years"])
        self.status.value = self._status(
            "running", f"running ... {people:,} people x {years} years (baseline kept)"
        )
        self._enable(False)
        started = time.perf_counter()
        try:
            ws.run(settings)
            png = self._figure_png()
            toml_text = ws.scenario_toml(settings)
            csv_text = ws.headline_csv()
        except CarescaleError as exc:
            self.status.value = self._status("error", f"cannot run: {exc}")
            return
        except Exception as exc:  # shown to the facilitator rather than lost in a log
            self.status.value = self._status(
                "error", f"the run failed ({type(exc).__name__}: {exc})"
            )
            return
        finally:
            self._enable(True)
        self.last_seconds = time.perf_counter() - started
        self.runs += 1
        self.headline.value = self._headline_html()
        self.chart.value = (
            '<img class="carescale-chart" alt="change in activity by setting and year; lever '
            f'cost and cashable saving by year" src="data:image/png;base64,{png}">'
        )
        self.exports.value = (
            '<div class="carescale-exports">Export: '
            + _data_link(
                toml_text,
                TOML_NAME,
                "application/toml",
                "carescale-export-toml",
                "settings as a scenario file (TOML)",
            )
            + _data_link(
                csv_text,
                CSV_NAME,
                "text/csv",
                "carescale-export-csv",
                "the five numbers (CSV)",
            )
            + "</div>"
        )
        scenario = ws.last["scenario"]
        levers = ", ".join(scenario.levers) or "no levers"
        self.status.value = self._status(
            "done",
            f"run {self.runs}: {levers}; {people:,} people standing for "
            f"{scenario.run.represented:,}, {years} years, {scenario.run.replications} "
            f"replication(s), seed {scenario.run.seed}; {self.last_seconds:.1f} s",
        )

    # ------------------------------------------------------------------ pieces

    def _changed(self, _change: Any) -> None:
        if not self._quiet:
            self.refresh()

    def _enable(self, on: bool) -> None:
        for control in (*self.controls.values(), self.reset_button):
            control.disabled = not on

    def _projector(self, large: bool) -> None:
        if large:
            self.widget.add_class("carescale-large")
        else:
            self.widget.remove_class("carescale-large")

    @staticmethod
    def _status(state: str, text: str) -> str:
        return f'<div class="carescale-status" data-state="{state}">{html.escape(text)}</div>'

    def _headline_html(self) -> str:
        from model import business_case as bc

        numbers = bc.headline(self.workshop.last["summary"])
        rows = []
        for key, value in numbers.items():
            fmt = _money if key.endswith("_gbp") else _count
            cells = "".join(
                f'<td class="{c}">{fmt(value[c])}</td>' for c in ("mean", "low", "high")
            )
            rows.append(
                f'<tr data-key="{key}"><td>{html.escape(bc.HEADLINE[key])}</td>{cells}</tr>'
            )
        return (
            '<table class="carescale-headline"><thead><tr><th>headline (scenario - baseline, '
            "whole horizon)</th><th>estimate</th><th>95 % low</th><th>95 % high</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _figure_png(self) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        with plt.rc_context({"font.size": 12}):
            fig = self.workshop.figure()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100)
            plt.close(fig)
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def serve_command(notebook: Path, port: int, population: int) -> tuple[list[str], dict[str, str]]:
    """The Voila command line and environment that serve ``notebook`` on localhost only,
    with carescale's template (no assets from the internet) and the kernel sized by
    ``CARESCALE_NB_POPULATION``."""
    env = dict(os.environ)
    paths = [str(TEMPLATE_ROOT), *filter(None, env.get("JUPYTER_PATH", "").split(os.pathsep))]
    env.update(
        {
            "JUPYTER_PATH": os.pathsep.join(paths),
            "CARESCALE_NB_POPULATION": str(population),
            APP_ENV: "1",
            "MPLBACKEND": "Agg",
        }
    )
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--template={TEMPLATE}",
        "--theme=light",
        "--show_tracebacks=False",
    ]
    return command, env


__all__ = ["APP_ENV", "CSV_NAME", "NOTEBOOK", "TOML_NAME", "WorkshopApp", "serve_command"]
