"""The workshop app in a real browser: `carescale workshop` serves notebook 02 with Voila on
localhost, and headless Chromium (Debian's `chromium`, driven by Playwright) changes a
control, sees the running indicator, the headline numbers and the chart change, resets,
downloads both exports and saves a screenshot (``test-artefacts/workshop_app.png``).

Without a browser (or without Voila or Playwright) the test skips with the reason, except
under ``CI=true``, where a missing piece fails it: `.ci/run` installs Chromium with apt-get.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from model.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
#: where the screenshot is kept for CI to collect (git ignores the folder)
ARTEFACTS = Path(os.environ.get("CARESCALE_TEST_ARTEFACTS", ROOT / "test-artefacts"))
#: people in the served workshop (small: the test runs the baseline and the scenario)
PEOPLE = 1500
#: Chromium as the probe of this machine starts it (no sandbox as root, no background
#: connections to Google's hosts, which this machine's closed network refuses)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: seconds to wait for the page's first run (kernel start, imports, baseline and scenario)
FIRST_RUN = 300
#: seconds to wait for a re-run after a control changes
RERUN = 120


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing() -> str | None:
    import importlib.util

    if _chromium() is None:
        return "no Chromium browser (install Debian's chromium and chromium-driver)"
    for module in ("playwright", "voila", "ipywidgets"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the browser test cannot run: {missing}")
        pytest.skip(missing)
    port = _free_port()
    log = ARTEFACTS / "workshop_server.log"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "model",
                "workshop",
                "--population",
                str(PEOPLE),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"carescale workshop stopped: {log.read_text()[-2000:]}")
                try:  # the server listens (a GET of the page would already run the notebook)
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("carescale workshop did not answer within 60 s")
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _headline(page: Any) -> dict[str, str]:
    rows = page.query_selector_all(".carescale-headline tbody tr")
    return {row.get_attribute("data-key"): row.inner_text() for row in rows}


def _wait_done(page: Any, timeout_s: float) -> None:
    page.wait_for_selector(
        ".carescale-status[data-state='done']", timeout=timeout_s * 1000, state="attached"
    )


def test_workshop_app_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def local_only(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
            page.route("**/*", local_only)
            page.goto(server, timeout=FIRST_RUN * 1000)
            _wait_done(page, FIRST_RUN)
            first = _headline(page)
            assert list(first) == [
                "lever_cost_gbp",
                "npv_gbp",
                "cashable_saving_gbp",
                "change_emergency_admissions",
                "change_gp_appointments",
            ]
            chart = page.get_attribute(".carescale-chart", "src")
            assert chart and chart.startswith("data:image/png;base64,")
            # readable on a projector: large text by default
            size = page.eval_on_selector(
                ".carescale-headline td", "e => parseFloat(getComputedStyle(e).fontSize)"
            )
            assert size >= 18
            # the notebook's widget-free examples are not part of the page
            assert "For notebook users" not in page.inner_text("body")

            # change a control: tailored access off (its staff and platform cost go)
            page.evaluate(
                """() => { window.carescaleStates = [];
                new MutationObserver(() => {
                  const s = document.querySelector('.carescale-status');
                  if (s) window.carescaleStates.push(s.dataset.state);
                }).observe(document.body, {subtree: true, childList: true,
                                           attributes: true, characterData: true}); }"""
            )
            box = page.get_by_role("checkbox", name="tailored access")
            assert box.is_checked()
            box.uncheck()
            page.wait_for_function(
                "window.carescaleStates.includes('running')", timeout=RERUN * 1000
            )
            page.wait_for_function(
                "window.carescaleStates.lastIndexOf('done') > "
                "window.carescaleStates.indexOf('running')",
                timeout=RERUN * 1000,
            )
            second = _headline(page)
            assert second["lever_cost_gbp"] != first["lever_cost_gbp"]
            assert second != first
            assert page.get_attribute(".carescale-chart", "src") != chart
            assert "tailored_access" not in page.inner_text(".carescale-status")

            # the exports are the settings shown and the numbers shown
            with page.expect_download() as info:
                page.click(".carescale-export-toml")
            scenario_file = tmp_path / "workshop.toml"
            info.value.save_as(scenario_file)
            with page.expect_download() as info:
                page.click(".carescale-export-csv")
            numbers_file = tmp_path / "numbers.csv"
            info.value.save_as(numbers_file)
            exported = tomllib.loads(scenario_file.read_text())
            assert "tailored_access" not in exported["levers"]
            assert {"link_workers", "phb", "health_coaching"} <= set(exported["levers"])
            shutil.copy(ROOT / "scenarios" / "baseline.toml", tmp_path / "baseline.toml")
            loaded = load_scenario(scenario_file)  # a scenario file carescale runs as it is
            assert set(loaded.levers) == {"link_workers", "phb", "health_coaching"}
            rows = list(csv.DictReader(io.StringIO(numbers_file.read_text())))
            assert [r["quantity"] for r in rows] == [
                "lever cost (GBP)",
                "net present value (GBP)",
                "cashable saving (GBP)",
                "change in emergency admissions",
                "change in GP appointments",
            ]
            assert len(rows) == 5 and rows[0]["people_simulated"] == str(PEOPLE)
            cost = float(rows[0]["mean"])
            assert f"£{cost / 1e6:,.2f} m" in second["lever_cost_gbp"]  # a cost is positive

            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "workshop_app.png"), full_page=True)

            # reset: the starting values and, with the same random numbers, the first numbers
            page.evaluate("() => { window.carescaleStates = []; }")
            page.click(".carescale-reset")
            page.wait_for_function(
                "window.carescaleStates.includes('running') && "
                "window.carescaleStates[window.carescaleStates.length - 1] === 'done'",
                timeout=RERUN * 1000,
            )
            assert box.is_checked()
            assert _headline(page) == first
        finally:
            browser.close()
    assert not outside, f"the page fetched from outside this computer: {outside[:3]}"
