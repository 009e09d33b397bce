"""The rate figures: throughput and speedup against workers, and the scenario's rate against
the parameter it sweeps (payload size, task length, CPU fraction).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from harness.analysis import summaries
from harness.analysis.summaries import BASELINE
from harness.measure.stats import level_text
from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    A4_LANDSCAPE,
    LOG_SPREAD,
    MAX_PANELS,
    Page,
    _backend_legend,
    _chunks,
    _maybe_log,
    _ok,
    _one_worker_count,
    _page_name,
    _panel_pages,
    _panels,
    _suptitle,
    _title,
    _workers_axis,
    new_figure,
    sweep_axis,
)
from harness.output.reports.style import order, palette
from harness.protocol import Metric
from harness.units import fmt_bytes

# Throughput --------------------------------------------------------------------------------


def throughput(data: ReportData, scenario: str) -> list[Page]:
    """tasks/s against workers per backend: median with its exact band, ideal scaling."""
    if _one_worker_count(data, scenario) and sweep_axis(data, scenario):
        return []  # one point a line: the sweep page draws this scenario
    df = data.df
    frame = _ok(df[(df["scenario"] == scenario) & (df["metric"] == Metric.TASKS_PER_S)])
    if frame.empty:
        return []
    backends = order(frame["backend"])
    colors = palette(backends)
    pages = []
    panel_pages = _panel_pages(frame, data.machines, MAX_PANELS, sharey=False)
    for index, total, fig, cells in panel_pages:
        levels: set[tuple[float, str]] = set()
        for ax, machine, params, sub in cells:
            scalable = sub[sub["backend"] != BASELINE]
            for backend in [b for b in backends if b != BASELINE]:
                line = scalable[scalable["backend"] == backend]
                if not line.empty:
                    levels |= _median_band(ax, line, colors[backend])
            seq = sub[sub["backend"] == BASELINE]
            ws = np.array(sorted(sub["workers"].unique()))
            if not seq.empty:
                base = float(seq["value"].median())
                ax.axhline(base, color=colors[BASELINE], ls="--", lw=1.2)
                ax.plot(ws, base * ws, color="black", ls=":", lw=1.2)
            _workers_axis(ax, ws)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("tasks/s")
            ax.set_title(_title(machine, params, data, frame))
        extra = [
            Line2D([], [], color=colors.get(BASELINE, "grey"), ls="--", label=BASELINE),
            Line2D([], [], color="black", ls=":", label="ideal = sequential x workers"),
        ]
        _backend_legend(fig, [b for b in backends if b != BASELINE], extra)
        _suptitle(
            fig,
            scenario,
            "throughput by backend and workers",
            "median tasks/s; band: the median's interval, the process as the unit, "
            f"{_levels_text(levels)}; higher is better",
        )
        pages.append((_page_name(f"{scenario}-throughput", index, total), fig))
    return pages


def _median_band(ax: Axes, line: pd.DataFrame, color: str) -> set[tuple[float, str]]:
    """Median per worker count with its interval as a band, the process as the unit
    (`summaries.typical`); returns the (level, what it covers) pairs drawn, so the page can
    say what the band covers."""
    points = []
    for workers, group in line.groupby("workers"):
        found = summaries.typical(group)
        points.append((workers, found.median, found.ci, found.scope, len(group)))
    ws = [p[0] for p in points]
    ax.plot(ws, [p[1] for p in points], marker="o", color=color)
    lows = np.array([p[2].low for p in points])
    highs = np.array([p[2].high for p in points])
    ax.fill_between(ws, lows, highs, where=np.isfinite(lows), color=color, alpha=0.2, lw=0)
    return {
        (p[2].level, p[3] if p[3] != summaries.ONE_PROCESS else f"n={p[4]}, {p[3]}")
        for p in points
        if math.isfinite(p[2].level)
    }


def _speedup_levels(frame: pd.DataFrame) -> str:
    levels = frame["speedup_ci_level"].dropna() if "speedup_ci_level" in frame else pd.Series()
    if not len(levels):
        return "none drawn (too few repeats)"
    low, high = level_text(levels.min()), level_text(levels.max())
    return f"level {low}" if low == high else f"levels {low} to {high}"


def _levels_text(levels: set[tuple[float, str]]) -> str:
    """'95% from 3 processes' (or several): the band's real coverage, never a nominal 95%."""
    if not levels:
        return "none drawn (too few repeats)"
    parts = [f"{level_text(level)} from {where}" for level, where in sorted(levels, key=str)]
    return ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")


# Speedup and efficiency ---------------------------------------------------------------------


def speedup(data: ReportData, scenario: str) -> list[Page]:
    """Speedup over the sequential loop and efficiency (speedup / workers) against workers."""
    if _one_worker_count(data, scenario) and sweep_axis(data, scenario):
        return []
    table = data.table
    if table.empty:
        return []
    frame = table[
        (table["scenario"] == scenario) & (table["status"] == "ok") & (table["backend"] != BASELINE)
    ].dropna(subset=["speedup"])
    if frame.empty:
        return []
    backends = order(frame["backend"])
    colors = palette(backends)
    panels = _panels(frame, data.machines)
    chunks = list(_chunks(panels, 3))
    pages = []
    for index, chunk in chunks:
        fig, axes = new_figure(
            len(chunk), 2, figsize=A4_LANDSCAPE, squeeze=False, layout="constrained"
        )
        for (ax1, ax2), (machine, params) in zip(axes, chunk, strict=True):
            sub = frame[(frame["machine"] == machine) & (frame["params"] == params)]
            for backend in order(sub["backend"]):
                b = sub[sub["backend"] == backend].sort_values("workers")
                low = b["speedup_ci_low"].fillna(b["speedup"])  # no interval: no bar
                high = b["speedup_ci_high"].fillna(b["speedup"])
                yerr = np.vstack([b["speedup"] - low, high - b["speedup"]]).clip(min=0)
                ax1.errorbar(
                    b["workers"],
                    b["speedup"],
                    yerr=yerr,
                    marker="o",
                    capsize=3,
                    color=colors[backend],
                    label=backend,
                )
                ax2.errorbar(
                    b["workers"],
                    b["efficiency"],
                    yerr=yerr / b["workers"].to_numpy(),
                    marker="o",
                    capsize=3,
                    color=colors[backend],
                )
            ws = sorted(sub["workers"].unique())
            ax1.plot(ws, ws, color="black", ls=":", lw=1.2)
            ax1.axhline(1.0, color=colors.get(BASELINE, "grey"), ls="--", lw=1)
            ax2.axhline(1.0, color="black", ls=":", lw=1.2)
            title = _title(machine, params, data, frame)
            ax1.set(ylabel="speedup vs sequential", title=f"speedup {title}".strip())
            ax2.set(ylabel="efficiency", title=f"efficiency {title}".strip())
            top = float(sub["speedup_ci_high"].fillna(sub["speedup"]).max())
            ax1.set_ylim(0, max(float(max(ws)) * 1.1, top * 1.15))
            top = float(sub["efficiency_ci_high"].fillna(sub["efficiency"]).max())
            ax2.set_ylim(0, max(1.15, top * 1.15))
            ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
            for ax in (ax1, ax2):
                _workers_axis(ax, ws)
        extra = [
            Line2D([], [], color="black", ls=":", label="ideal"),
            Line2D([], [], color=colors.get(BASELINE, "grey"), ls="--", label=BASELINE),
        ]
        _backend_legend(fig, backends, extra)
        _suptitle(
            fig,
            scenario,
            "scaling",
            "speedup = sequential loop's wall time / the case's, paired in each process (the "
            "loop timed beside every repeat), the median of those ratios over processes "
            "(older runs: sequential median / median); bars: its interval over processes, "
            f"{_speedup_levels(frame)}; efficiency = speedup / workers",
        )
        pages.append((_page_name(f"{scenario}-speedup", index, len(chunks)), fig))
    return pages


# Parameter sweeps ------------------------------------------------------------------------


def sweep(data: ReportData, scenario: str) -> list[Page]:
    """The scenario's rate and efficiency against the swept parameter, a line per backend.

    For sweeps (payload size, task length, CPU fraction) this is the figure the scenario is
    about; with a single worker count, the figures against workers would show one point.
    """
    axis = sweep_axis(data, scenario)
    if axis is None:
        return []
    x, facets = axis
    table = data.table[(data.table["scenario"] == scenario) & (data.table["status"] == "ok")]
    if table.empty:
        return []
    parsed = pd.json_normalize([json.loads(p) for p in table["params"]]).set_index(table.index)
    table = table.assign(**{f"param_{k}": parsed[k] for k in parsed.columns})
    table["facet"] = [
        ", ".join(f"{f}={row[f'param_{f}']}" for f in facets) for _, row in table.iterrows()
    ]
    has_bytes = Metric.BYTES_PER_S in table and table[Metric.BYTES_PER_S].notna().any()
    rate = Metric.BYTES_PER_S if has_bytes else Metric.TASKS_PER_S
    right = "efficiency" if table["efficiency"].notna().any() else "median"
    backends = order(table["backend"])
    colors = palette(backends)
    several_workers = table.loc[table["backend"] != BASELINE, "workers"].nunique() > 1
    facet_values = sorted(table["facet"].unique())
    fig, axes = new_figure(
        len(facet_values), 2, figsize=A4_LANDSCAPE, squeeze=False, layout="constrained"
    )
    for row, facet in zip(axes, facet_values, strict=True):
        sub = table[table["facet"] == facet]
        for (backend, workers), line in sub.groupby(["backend", "workers"]):
            line = line.sort_values(f"param_{x}")
            style = "--" if several_workers and workers == sub["workers"].min() else "-"
            label = f"{backend} w{workers}" if several_workers else backend
            for ax, metric in zip(row, (rate, right), strict=True):
                if metric == "efficiency" and backend == BASELINE:
                    continue
                ax.plot(
                    line[f"param_{x}"],
                    line[metric],
                    marker="o",
                    ls=style,
                    color=colors[backend],
                    label=label,
                )
        for ax, metric in zip(row, (rate, right), strict=True):
            if sub[f"param_{x}"].max() / max(sub[f"param_{x}"].min(), 1e-12) >= LOG_SPREAD:
                ax.set_xscale("log")
            _maybe_log(ax, sub[metric].dropna())
            what = {
                Metric.BYTES_PER_S: "bytes/s (median)",
                Metric.TASKS_PER_S: "tasks/s (median)",
                "efficiency": "efficiency = speedup / workers",
                "median": "median wall per batch",
            }[metric]
            ax.set(xlabel=x, ylabel=what, title=f"{what} · {facet}" if facet else what)
            if metric == Metric.BYTES_PER_S:
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(v) + "/s"))
            if metric == "efficiency":
                ax.axhline(0.8, color="black", ls=":", lw=1)
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:g}%"))
        handles, labels = row[0].get_legend_handles_labels()
        rank = {b: i for i, b in enumerate(backends)}
        pairs = sorted(
            zip(labels, handles, strict=True), key=lambda p: rank.get(p[0].split()[0], 99)
        )
        row[0].legend([h for _, h in pairs], [lab for lab, _ in pairs], fontsize=8)
    _suptitle(
        fig,
        scenario,
        f"against {x}",
        "median over repeats; dotted line: 80% efficiency"
        if right == "efficiency"
        else "median over repeats",
    )
    return [(f"{scenario}-sweep", fig)]
