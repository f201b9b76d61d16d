"""Plots for notebooks and reports (matplotlib). Core modules never import this one.

Each function takes run tables (as returned by ``run_one`` / ``read_results``) and returns
the matplotlib ``Figure`` so callers can save or show it.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import pandas as pd

from model import kpi


def cost_by_payer(tables: dict[str, pd.DataFrame], title: str = "") -> Any:
    """Stacked bars: cost per year by payer (GBP millions, 2023/24 prices)."""
    data = kpi.cost_by_payer(tables).drop(index="total") / 1e6
    fig, ax = plt.subplots(figsize=(7, 4))
    data.T.plot(kind="bar", stacked=True, ax=ax, width=0.7)
    ax.set_ylabel("GBP million (2023/24 prices)")
    ax.set_xlabel("year")
    ax.set_title(title or "Cost by payer")
    ax.legend(title="payer", fontsize="small")
    fig.tight_layout()
    return fig


def activity_trend(
    tables: dict[str, pd.DataFrame], services: list[str] | None = None, title: str = ""
) -> Any:
    """Lines: activity per year relative to the first year (first year = 100)."""
    data = kpi.activity_by_year(tables)
    if services is not None:
        data = data.loc[[s for s in data.index if s in services]]
    index = data.div(data.iloc[:, 0], axis=0) * 100
    fig, ax = plt.subplots(figsize=(7, 4))
    index.T.plot(ax=ax, marker="o")
    ax.set_ylabel("index (first year = 100)")
    ax.set_xlabel("year")
    ax.set_title(title or "Activity relative to the first year")
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def rate_by_group(
    tables: dict[str, pd.DataFrame], service: str, group: str, title: str = ""
) -> Any:
    """Bars: events per 1,000 person-years of one service by a stratum column."""
    act = tables["activity"]
    act = act[act["service"] == service]
    py = tables["person_years"].groupby(group, observed=True)["person_years"].sum()
    counts = act.groupby(group, observed=True)["count"].sum()
    rate = (counts / py * 1000).fillna(0.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    rate.plot(kind="bar", ax=ax, color="tab:blue")
    ax.set_ylabel(f"{service} per 1,000 person-years")
    ax.set_xlabel(group)
    ax.set_title(title or f"{service} by {group}")
    fig.tight_layout()
    return fig
