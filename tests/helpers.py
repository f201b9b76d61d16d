"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

from typing import Any

from model.demand import Events
from model.engine import Engine


def assert_one_error_line(err: str, *fragments: str) -> None:
    """The command printed exactly one 'carescale: error: ...' line containing fragments."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carescale: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


class RecordingEngine(Engine):
    """The engine, keeping a copy of each year's people, death days, births and demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.years: list[dict[str, Any]] = []

    def _begin_year(self, year: int) -> None:
        super()._begin_year(year)
        w = self.world
        self.years.append(
            {
                "person_id": w.pop.person_id.copy(),
                "death_day": w.death_day.copy(),
                "births": self.births,
                "events": {
                    s: Events(e.person.copy(), e.k.copy(), e.day.copy(), e.ids.copy())
                    for s, e in w.events.items()
                },
            }
        )
