"""The report's figures (matplotlib). Each function returns a ``Figure`` or None when the
results hold nothing to draw (a run without levers has no lever figure).

Bands and error bars are 95 % intervals of the mean across replications (stochastic
uncertainty only), as in the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from model import business_case as bc
from model.report.content import (
    DEMAND_SERVICES,
    Results,
    RunFolder,
    estimate,
    net_saving_by_replication,
)

#: colours: baseline grey, scenarios in order
BASELINE_COLOUR = "#555555"
SCENARIO_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
RISE, FALL, TOTAL = "#c0392b", "#2e8b57", "#34495e"
#: wait bands of the wait_distribution table, in order (days)
WAIT_BANDS = ("0", "1", "2-7", "8-14", "15-28", "29+")


def _colour(i: int) -> str:
    return SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)]


def _style(results: Results, i: int) -> tuple[str, str]:
    """Colour and line style of run ``i``: a comparison's baseline grey and dashed, its
    scenarios in colour; a single run in colour."""
    if results.kind == "compare" and i == 0:
        return BASELINE_COLOUR, "--"
    return _colour(i - 1 if results.kind == "compare" else 0), "-"


def _year_ticks(ax: Any, years: list[int], labels: Mapping[int, str]) -> None:
    ax.set_xticks(years)
    ax.set_xticklabels([labels.get(y, str(y)) for y in years], fontsize="small")
    if len(years) == 1:
        ax.set_xlim(years[0] - 0.6, years[0] + 0.6)


def _millions(values: Any) -> Any:
    return np.asarray(values, dtype=float) / 1e6


def _service_by_year(run: RunFolder, service: str) -> tuple[list[int], np.ndarray]:
    """Counts of one service per year (rows) and replication (columns), represented."""
    act = run.tables["activity"]
    rows = act[act["service"].astype(str) == service]
    table = (
        rows.groupby(["year", "replication"], observed=True)["count"]
        .sum()
        .unstack("replication")
        .reindex(index=run.years, columns=run.replications, fill_value=0.0)
        .fillna(0.0)
    )
    return run.years, table.to_numpy() * run.scale


def demand_by_setting(results: Results) -> Any:
    """One panel per setting's main activity: the count per year, baseline against each
    scenario, with the 95 % interval as a band (error bars for a single year)."""
    labels = results.year_labels()
    services = list(DEMAND_SERVICES)
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.2), squeeze=False)
    for ax, service in zip(axes.flat, services, strict=True):
        label, setting = DEMAND_SERVICES[service]
        for i, (name, run) in enumerate(results.runs.items()):
            years, values = _service_by_year(run, service)
            est = [estimate(row) for row in values]
            mean = np.array([e["mean"] for e in est], dtype=float)
            low = np.array([np.nan if e["low"] is None else e["low"] for e in est], dtype=float)
            high = np.array([np.nan if e["high"] is None else e["high"] for e in est], dtype=float)
            colour, style = _style(results, i)
            x = np.asarray(years, dtype=float) + (0.04 * i if len(years) == 1 else 0.0)
            ax.plot(x, mean, style, marker="o", color=colour, label=name, markersize=4)
            if len(years) > 1:
                ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
            elif not np.isnan(low).all():
                ax.errorbar(x, mean, yerr=[mean - low, high - mean], color=colour, capsize=3)
        ax.set_title(f"{label}\n({setting})", fontsize="small")
        _year_ticks(ax, results.baseline.years, labels)
        ax.tick_params(labelsize="small")
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    axes.flat[0].legend(fontsize="x-small")
    represents = results.baseline.manifest.get("represents", "")
    fig.suptitle(
        f"Demand by setting per year for {represents:,} people (mean and 95 % interval)"
        if isinstance(represents, int)
        else "Demand by setting per year (mean and 95 % interval)",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


def cost_shift_waterfall(results: Results) -> Any:
    """Per scenario: lever cost, then the change in care cost of each payer, ending at the
    net change in total cost (GBP, totals over all years, means)."""
    names = results.scenarios
    fig, axes = plt.subplots(
        1, len(names), figsize=(max(6.5, 5.5 * len(names)), 4.4), squeeze=False
    )
    for ax, name in zip(axes.flat, names, strict=True):
        case = results.summary["scenarios"][name]
        steps = [("lever cost", float(case["measures"]["lever_cost_gbp"]["mean"] or 0.0))]
        for payer, est in case["change_in_cost_by_payer_gbp"].items():
            steps.append((payer.replace("_", " "), float(est["mean"] or 0.0)))
        total = sum(v for _, v in steps)
        start = 0.0
        for i, (_label, value) in enumerate(steps):
            ax.bar(i, _millions(value), bottom=_millions(start), color=RISE if value > 0 else FALL)
            start += value
        ax.bar(len(steps), _millions(total), color=TOTAL)
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_xticks(range(len(steps) + 1))
        ax.set_xticklabels(
            [s for s, _ in steps] + ["net change"], rotation=30, ha="right", fontsize="small"
        )
        ax.set_ylabel("GBP million")
        ax.set_title(f"{name}: who pays (red) and who saves (green)", fontsize="small")
    fig.tight_layout()
    return fig


def equity_compare(results: Results) -> Any:
    """Change in cost per 1,000 person-years by IMD quintile and by segment (lever cost and
    change in care cost, with 95 % intervals)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), squeeze=False)
    names = results.scenarios
    width = 0.8 / max(2 * len(names), 1)
    for ax, (dim, title) in zip(
        axes.flat,
        (("imd_quintile", "IMD quintile (1 = most deprived)"), ("segment", "segment")),
        strict=True,
    ):
        groups: list[str] = []
        for j, name in enumerate(names):
            entries = results.summary["scenarios"][name].get("equity", {}).get(dim, {})
            groups = list(entries)
            x = np.arange(len(groups), dtype=float)
            for k, (key, label) in enumerate(
                (("lever_cost_gbp", "lever cost"), ("care_cost_change_gbp", "change in care cost"))
            ):
                py = np.array(
                    [entries[g]["person_years"]["mean"] or np.nan for g in groups], dtype=float
                )
                mean = np.array([entries[g][key]["mean"] or 0.0 for g in groups], dtype=float)
                low = np.array(
                    [
                        np.nan if entries[g][key]["low"] is None else entries[g][key]["low"]
                        for g in groups
                    ],
                    dtype=float,
                )
                high = np.array(
                    [
                        np.nan if entries[g][key]["high"] is None else entries[g][key]["high"]
                        for g in groups
                    ],
                    dtype=float,
                )
                per = 1000.0 / py
                offset = (2 * j + k - (2 * len(names) - 1) / 2) * width
                err = None if np.isnan(low).all() else [(mean - low) * per, (high - mean) * per]
                ax.bar(
                    x + offset,
                    mean * per,
                    width,
                    yerr=err,
                    capsize=2,
                    color=_colour(j),
                    alpha=1.0 if k == 0 else 0.5,
                    label=f"{name}: {label}",
                )
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(
            [g.replace("_", " ") for g in groups], rotation=20, ha="right", fontsize="small"
        )
        ax.axhline(0, color="black", linewidth=0.7)
        ax.set_title(f"by {title}", fontsize="small")
        ax.set_ylabel("GBP per 1,000 person-years")
    axes.flat[0].legend(fontsize="x-small")
    fig.suptitle(
        "Change in cost by deprivation and segment, totals over all years", fontsize="medium"
    )
    fig.tight_layout()
    return fig


def equity_run(results: Results) -> Any:
    """Cost per person-year and GP appointments per 1,000 person-years, by IMD quintile and
    by segment (mean and 95 % interval)."""
    run = results.baseline
    act, py = run.tables["activity"], run.tables["person_years"]
    reps = run.replications
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), squeeze=False)
    for col, (dim, title) in enumerate(
        (("imd_quintile", "IMD quintile (1 = most deprived)"), ("segment", "segment"))
    ):
        years = (
            py.assign(g=py[dim].astype(str))
            .groupby(["g", "replication"])["person_years"]
            .sum()
            .unstack()
        ).reindex(columns=reps, fill_value=0.0)
        groups = list(years.index)
        for row, (what, label) in enumerate(
            (
                ("cost", "cost of care per person-year (GBP)"),
                ("gp", "GP appointments per 1,000 person-years"),
            )
        ):
            rows = act if what == "cost" else act[act["service"].astype(str) == "gp_appointment"]
            value = "cost_gbp" if what == "cost" else "count"
            num = (
                (
                    rows.assign(g=rows[dim].astype(str))
                    .groupby(["g", "replication"])[value]
                    .sum()
                    .unstack()
                )
                .reindex(index=groups, columns=reps, fill_value=0.0)
                .fillna(0.0)
            )
            factor = 1.0 if what == "cost" else 1000.0
            est = [
                estimate(num.loc[g].to_numpy() / years.loc[g].to_numpy() * factor) for g in groups
            ]
            mean = np.array([e["mean"] for e in est], dtype=float)
            low = np.array([np.nan if e["low"] is None else e["low"] for e in est], dtype=float)
            high = np.array([np.nan if e["high"] is None else e["high"] for e in est], dtype=float)
            err = None if np.isnan(low).all() else [mean - low, high - mean]
            ax = axes[row, col]
            ax.bar(range(len(groups)), mean, yerr=err, capsize=3, color=_colour(row))
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels(
                [g.replace("_", " ") for g in groups], rotation=20, ha="right", fontsize="small"
            )
            ax.set_ylabel(label, fontsize="small")
            ax.set_title(f"by {title}", fontsize="small")
    fig.tight_layout()
    return fig


def cost_by_payer(results: Results) -> Any:
    """Stacked bars: cost of care per year by payer (GBP million, represented)."""
    run = results.baseline
    labels = results.year_labels()
    act = run.tables["activity"]
    reps = max(len(run.replications), 1)
    table = (
        act.assign(payer=act["payer"].astype(str))
        .groupby(["year", "payer"])["cost_gbp"]
        .sum()
        .unstack("payer")
        .fillna(0.0)
        / reps
        * run.scale
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bottom = np.zeros(len(table))
    for i, payer in enumerate(table.columns):
        values = _millions(table[payer].to_numpy())
        ax.bar(table.index, values, bottom=bottom, color=_colour(i), label=payer.replace("_", " "))
        bottom += values
    _year_ticks(ax, list(table.index), labels)
    ax.set_ylabel(f"GBP million ({run.manifest.get('price_year', '2023/24')} prices)")
    ax.set_title("Cost of care by payer per year (mean across replications)", fontsize="medium")
    ax.legend(fontsize="x-small", title="payer", title_fontsize="x-small")
    fig.tight_layout()
    return fig


def _lever_frames(results: Results) -> dict[str, pd.DataFrame]:
    if results.kind == "compare":
        assert results.levers is not None
        lv = results.levers
        return {name: lv[lv["scenario"].astype(str) == name] for name in results.scenarios}
    run = results.baseline
    table = run.tables.get("lever_activity")
    if table is None or not len(table):
        return {}
    scaled = bc.scale_lever_activity(table, run.scale)
    return {run.name: scaled}


def lever_throughput(results: Results) -> Any:
    """Per lever: people referred, started and completed per year (bars) and the lever's
    waiting list at each year's end (line)."""
    frames = {k: v for k, v in _lever_frames(results).items() if len(v)}
    pairs = [
        (name, lever, frame[frame["lever"].astype(str) == lever])
        for name, frame in frames.items()
        for lever in sorted(frame["lever"].astype(str).unique())
    ]
    if not pairs:
        return None
    labels = results.year_labels()
    fig, axes = plt.subplots(
        1, len(pairs), figsize=(max(6.5, 5.5 * len(pairs)), 4.2), squeeze=False
    )
    for ax, (name, lever, rows) in zip(axes.flat, pairs, strict=True):
        reps = max(rows["replication"].nunique(), 1)
        by_year = (
            rows.groupby("year")[["referred", "started", "completed", "waiting_at_year_end"]].sum()
            / reps
        )
        years = list(by_year.index)
        x = np.asarray(years, dtype=float)
        for k, col in enumerate(("referred", "started", "completed")):
            ax.bar(x + (k - 1) * 0.25, by_year[col], 0.25, label=col, color=_colour(k))
        ax2 = ax.twinx()
        ax2.plot(x, by_year["waiting_at_year_end"], "k-", marker="s", label="waiting at year end")
        ax2.set_ylabel("waiting at year end (people)", fontsize="small")
        ax2.set_ylim(0, max(1.0, float(by_year["waiting_at_year_end"].max()) * 1.2))
        _year_ticks(ax, [int(y) for y in years], labels)
        ax.set_ylabel("people per year")
        ax.set_title(f"{name}: {lever.replace('_', ' ')}", fontsize="small")
        handles = ax.get_legend_handles_labels()
        extra = ax2.get_legend_handles_labels()
        ax.legend(
            handles[0] + extra[0], handles[1] + extra[1], fontsize="x-small", loc="upper left"
        )
    fig.suptitle("Lever throughput and waiting list (mean across replications)", fontsize="medium")
    fig.tight_layout()
    return fig


def waiting_list(results: Results) -> Any:
    """People waiting at each year's end by service, baseline against each scenario."""
    labels = results.year_labels()
    services = sorted(
        str(s) for s in results.baseline.tables["waits"]["service"].astype(str).unique()
    )
    n = len(services)
    cols = 3
    rows_n = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(11, 2.6 * rows_n + 0.6), squeeze=False)
    for ax, service in zip(axes.flat, services, strict=False):
        top = 0.0
        for i, (name, run) in enumerate(results.runs.items()):
            w = run.tables["waits"]
            w = w[w["service"].astype(str) == service]
            reps = max(len(run.replications), 1)
            by_year = w.groupby("year")["backlog_end"].sum() / reps * run.scale
            colour, style = _style(results, i)
            top = max(top, float(by_year.max()) if len(by_year) else 0.0)
            ax.plot(
                by_year.index,
                by_year.to_numpy(),
                style,
                marker="o",
                color=colour,
                label=name,
                markersize=4,
            )
        ax.set_title(service.replace("_", " "), fontsize="small")
        _year_ticks(ax, results.baseline.years, labels)
        ax.tick_params(labelsize="x-small")
        ax.set_ylim(0, max(top * 1.12, 1.0))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small")
    fig.suptitle("Waiting at each year's end (people, represented)", fontsize="medium")
    fig.tight_layout()
    return fig


def _band_shares(frame: pd.DataFrame) -> pd.Series:
    counts = frame.groupby(frame["wait_band"].astype(str))["count"].sum()
    counts = counts.reindex(list(WAIT_BANDS), fill_value=0.0)
    total = counts.sum()
    return counts / total if total > 0 else counts


def wait_distribution(results: Results) -> Any:
    """Share of people served within each wait band, per service: baseline against each
    scenario (comparison), or the first against the last year (run)."""
    base = results.baseline.tables["wait_distribution"]
    volume = base.groupby(base["service"].astype(str))["count"].sum().sort_values(ascending=False)
    services = list(volume.index[:6])
    if not services:
        return None
    # (label, the wait_distribution rows it stands for, colour)
    series: list[tuple[str, pd.DataFrame, str]] = []
    if results.kind == "compare":
        for i, (name, run) in enumerate(results.runs.items()):
            series.append((name, run.tables["wait_distribution"], _style(results, i)[0]))
    else:
        labels = results.year_labels()
        years = results.baseline.years
        for i, year in enumerate(sorted({years[0], years[-1]})):
            colour = BASELINE_COLOUR if i == 0 else _colour(0)
            series.append((labels.get(year, str(year)), base[base["year"] == year], colour))
    cols = 3
    rows_n = int(np.ceil(len(services) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(11, 2.8 * rows_n + 0.6), squeeze=False)
    width = 0.8 / len(series)
    x = np.arange(len(WAIT_BANDS), dtype=float)
    for ax, service in zip(axes.flat, services, strict=False):
        for k, (label, rows, colour) in enumerate(series):
            shares = _band_shares(rows[rows["service"].astype(str) == service])
            ax.bar(
                x + (k - (len(series) - 1) / 2) * width,
                shares * 100,
                width,
                color=colour,
                label=label,
            )
        ax.set_xticks(x)
        ax.set_xticklabels(WAIT_BANDS, fontsize="x-small")
        ax.set_title(service.replace("_", " "), fontsize="small")
        ax.set_ylabel("% of people served", fontsize="x-small")
        ax.set_xlabel("wait (days)", fontsize="x-small")
    for ax in list(axes.flat)[len(services) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small")
    what = "baseline against scenario" if results.kind == "compare" else "first against last year"
    fig.suptitle(f"Wait distribution, {what}", fontsize="medium")
    fig.tight_layout()
    return fig


def net_saving_distribution(results: Results) -> Any:
    """Per scenario: the net present value (cashable saving - lever cost, discounted) of every
    replication, with its mean and 95 % interval."""
    table = net_saving_by_replication(results)
    names = results.scenarios
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 1.0 * len(names) + 1.2))
    rng = np.random.default_rng(0)  # jitter only: no model randomness
    for i, name in enumerate(names):
        values = table.loc[table["scenario"] == name, "npv_gbp"].to_numpy()
        y = i + rng.uniform(-0.15, 0.15, len(values))
        ax.scatter(_millions(values), y, color=_colour(i), alpha=0.7, s=18)
        est = estimate(values)
        mean = float(est["mean"] or 0.0)
        ax.plot([_millions(mean)] * 2, [i - 0.3, i + 0.3], color="black", linewidth=2)
        if est["low"] is not None and est["high"] is not None:
            ax.plot(_millions([est["low"], est["high"]]), [i, i], color="black", linewidth=1)
    ax.axvline(0, color=RISE, linewidth=0.8, linestyle=":")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize="small")
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("net present value, GBP million (cashable saving - lever cost)")
    ax.set_title(
        "Net saving across replications (dots), mean (bar) and 95 % interval (line)",
        fontsize="small",
    )
    fig.tight_layout()
    return fig


#: figure name -> (function, caption); the order figures are drawn in
COMPARE_FIGURES: Mapping[str, tuple[Callable[[Results], Any], str]] = {
    "net_saving_distribution": (
        net_saving_distribution,
        "Net present value of every replication: how sure the sign of the result is.",
    ),
    "cost_shift_waterfall": (
        cost_shift_waterfall,
        "Cost shift by payer: the levers' cost, then each payer's change in care cost, ending "
        "at the net change in total cost (totals over all years, means).",
    ),
    "demand_by_setting": (
        demand_by_setting,
        "Demand by setting per year, baseline (dashed) against scenario, with 95 % intervals.",
    ),
    "equity": (
        equity_compare,
        "Change in cost per 1,000 person-years by IMD quintile and segment.",
    ),
    "lever_throughput": (
        lever_throughput,
        "Lever throughput per year (bars) and the lever's waiting list at year end (line).",
    ),
    "waiting_list": (waiting_list, "People waiting at each year's end, by service."),
    "wait_distribution": (
        wait_distribution,
        "Distribution of waits before (baseline) and after (scenario), by service.",
    ),
}
RUN_FIGURES: Mapping[str, tuple[Callable[[Results], Any], str]] = {
    "demand_by_setting": (
        demand_by_setting,
        "Demand by setting per year, with 95 % intervals across replications.",
    ),
    "cost_by_payer": (cost_by_payer, "Cost of care by payer per year."),
    "equity": (
        equity_run,
        "Cost per person-year and GP appointments per 1,000 person-years by IMD quintile and "
        "segment.",
    ),
    "lever_throughput": (
        lever_throughput,
        "Lever throughput per year (bars) and the lever's waiting list at year end (line).",
    ),
    "waiting_list": (waiting_list, "People waiting at each year's end, by service."),
    "wait_distribution": (
        wait_distribution,
        "Distribution of waits in the first and the last year, by service.",
    ),
}


def draw(results: Results) -> dict[str, tuple[Any, str]]:
    """Every figure that makes sense for these results: name -> (Figure, caption)."""
    recipes = COMPARE_FIGURES if results.kind == "compare" else RUN_FIGURES
    out: dict[str, tuple[Any, str]] = {}
    for name, (fn, caption) in recipes.items():
        fig = fn(results)
        if fig is not None:
            out[name] = (fig, caption)
    return out


def close(fig: Any) -> None:
    plt.close(fig)


__all__ = ["COMPARE_FIGURES", "RUN_FIGURES", "close", "draw"]
