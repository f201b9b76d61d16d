"""A small regression snapshot of the baseline: a few totals, compared exactly.

The baseline scenario (``scenarios/baseline.toml``) with 5,000 people for 2 years and a
fixed seed gives the same tables on every machine and every run, so its totals must equal
the snapshot in ``tests/data/baseline_snapshot.json`` *exactly*: person-years and deaths
per year, activity counts per year and service, served requests and year-end backlogs per
year and service, capacity offered and used per year and service. The baseline runs NHS
financial years (``year_starts = "april"``); the same run in calendar years
(``year_starts = "january"``, the default of a scenario that does not say) has its own
snapshot, ``tests/data/baseline_snapshot_january.json``, so both calendars stay checked.

A change that moves any of them fails here. When the change is intended (a mechanism or
a register value changed on purpose), refresh the snapshot and review its diff::

    python tests/test_regression_snapshot.py

(run from the repository root, with the project's environment active).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "baseline_snapshot.json"
#: the same run in calendar years
SNAPSHOT_JANUARY = ROOT / "tests" / "data" / "baseline_snapshot_january.json"
SCENARIO = ROOT / "scenarios" / "baseline.toml"
RUN = {"population": 5_000, "years": 2, "replications": 1, "seed": 20240601}
REFRESH = "python tests/test_regression_snapshot.py"


def totals(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The snapshot's totals of one replication's tables (plain JSON values)."""

    def by(frame: pd.DataFrame, keys: list[str], column: str) -> dict[str, float]:
        sums = frame.groupby(keys, observed=True)[column].sum()
        out: dict[str, float] = {}
        for key, value in sums.items():
            parts = key if isinstance(key, tuple) else (key,)
            out["/".join(str(p) for p in parts)] = float(value)
        return dict(sorted(out.items()))

    py, act, waits, cap = (tables[n] for n in ("person_years", "activity", "waits", "capacity"))
    return {
        "person_years": by(py, ["year"], "person_years"),
        "deaths": by(py, ["year"], "deaths"),
        "activity": by(act, ["year", "service"], "count"),
        "served": by(waits, ["year", "service"], "served"),
        "backlog_end": by(waits, ["year", "service"], "backlog_end"),
        "capacity_offered": by(cap, ["year", "service"], "capacity_offered"),
        "capacity_used": by(cap, ["year", "service"], "capacity_used"),
    }


def current(year_starts: str | None = None) -> dict[str, Any]:
    """The totals of the snapshot's run with the code and register as they are now
    (``year_starts``: the baseline's, or the one given)."""
    from model.engine import run_one
    from model.scenario import load_scenario

    run: dict[str, Any] = RUN if year_starts is None else {**RUN, "year_starts": year_starts}
    scenario = load_scenario(SCENARIO).with_run(**run)
    return {"run": run, "totals": totals(run_one(scenario, 0))}


@pytest.mark.parametrize(
    ("snapshot", "year_starts"), [(SNAPSHOT, None), (SNAPSHOT_JANUARY, "january")]
)
def test_baseline_totals_match_the_snapshot(snapshot: Path, year_starts: str | None) -> None:
    assert snapshot.is_file(), f"no snapshot; create it with `{REFRESH}`"
    expected = json.loads(snapshot.read_text(encoding="utf-8"))
    actual = current(year_starts)
    assert actual["run"] == expected["run"]
    changed = []
    for table, values in expected["totals"].items():
        got = actual["totals"].get(table, {})
        for key in sorted(set(values) | set(got)):
            if values.get(key) != got.get(key):  # exact: same seed, same tables
                changed.append(f"{table}[{key}]: {values.get(key)} -> {got.get(key)}")
    assert not changed, (
        f"{len(changed)} baseline totals changed (first: {changed[:8]}); if intended, "
        f"refresh the snapshot with `{REFRESH}` and review its diff"
    )


def test_the_same_seed_gives_identical_totals() -> None:
    assert current() == current()


def main() -> int:
    """Rewrite the snapshots from the current code and register."""
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    for path, year_starts in ((SNAPSHOT, None), (SNAPSHOT_JANUARY, "january")):
        text = json.dumps(current(year_starts), indent=1, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
