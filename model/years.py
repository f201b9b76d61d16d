"""The simulated calendar: the day a simulated year starts, and how years are labelled.

A simulated year has 365 days. ``[run] year_starts`` in a scenario file says where it
starts:

* ``"january"`` (the default when absent): year t runs from 1 January of
  ``start_year`` + t for 365 days (a leap year's 31 December is not simulated);
* ``"april"``: year t is NHS financial year ``start_year`` + t, from 1 April for 365 days
  (to 31 March; a financial year holding 29 February ends on 30 March).

The ``year`` column of every table is the integer year a simulated year starts in. With
``"april"`` every table with a ``year`` column also gets ``financial_year`` beside it (e.g.
``"2024/25"``, an ordered categorical); with ``"january"`` there is no such column, so
calendar-year runs give exactly the tables they always did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

#: the allowed values of ``[run] year_starts`` and the month each year starts in
YEAR_STARTS: Mapping[str, int] = {"january": 1, "april": 4}
DEFAULT_YEAR_STARTS = "january"
#: the label column tables get beside ``year`` when years are financial years
FINANCIAL_YEAR = "financial_year"


def first_day(year: int, year_starts: str = DEFAULT_YEAR_STARTS) -> dt.date:
    """The first day of the simulated year that starts in ``year``."""
    return dt.date(year, YEAR_STARTS[year_starts], 1)


def financial_year(year: int) -> str:
    """The NHS financial year starting on 1 April of ``year``: ``2024`` -> ``"2024/25"``."""
    return f"{year}/{(year + 1) % 100:02d}"


def year_label(year: int, year_starts: str = DEFAULT_YEAR_STARTS) -> str:
    """How a year is shown to people: ``"2024"``, or ``"2024/25"`` for financial years."""
    return financial_year(year) if year_starts == "april" else str(year)


def with_financial_year(
    tables: Mapping[str, pd.DataFrame], year_starts: str, start_year: int, years: int
) -> dict[str, pd.DataFrame]:
    """The tables, each with a ``year`` column given ``financial_year`` beside it (april).

    With ``"january"`` the tables are returned unchanged. The labels are an ordered
    categorical over the run's years (``start_year`` to ``start_year + years - 1``), so
    replications concatenate without turning them into text.
    """
    if year_starts != "april":
        return dict(tables)
    run_years = range(start_year, start_year + years)
    categories = pd.Index([financial_year(y) for y in run_years])
    out: dict[str, pd.DataFrame] = {}
    for name, table in tables.items():
        if "year" in table.columns and FINANCIAL_YEAR not in table.columns:
            table = table.copy(deep=False)
            codes = table["year"].to_numpy(dtype="int64") - start_year
            table.insert(
                list(table.columns).index("year") + 1,
                FINANCIAL_YEAR,
                pd.Series(
                    pd.Categorical.from_codes(codes, categories, ordered=True), index=table.index
                ),
            )
        out[name] = table
    return out


__all__ = [
    "DEFAULT_YEAR_STARTS",
    "FINANCIAL_YEAR",
    "YEAR_STARTS",
    "financial_year",
    "first_day",
    "with_financial_year",
    "year_label",
]
