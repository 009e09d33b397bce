"""Latency: one task alone (round trip = service + overhead), then a whole batch's
completion times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    Page,
    _bottom_legend,
    _hue_colors,
    _maybe_log,
    _ok,
    _page_name,
    _panel_pages,
    _seconds_axis,
    _suptitle,
    _title,
)
from harness.output.reports.style import order, palette
from harness.protocol import Metric
from harness.units import fmt_seconds

# Latency ------------------------------------------------------------------------------------


def latency(data: ReportData, scenario: str) -> list[Page]:
    """Round trips of one task alone (rtt = service + overhead), then batch completion times."""
    return round_trips(data, scenario) + batch_completion(data, scenario)


RTT_METRICS = [Metric.RTT_P50_S, Metric.RTT_P99_S, Metric.SERVICE_P50_S, Metric.OVERHEAD_P50_S]


def round_trips(data: ReportData, scenario: str) -> list[Page]:
    """Per backend and workers: rtt p50 as a bar, the service time inside it, rtt p99 above."""
    df = data.df
    frame = _ok(df[(df["scenario"] == scenario) & df["metric"].isin(RTT_METRICS)])
    if frame.empty:
        return []
    # One value per case and round: the median over rounds is the bar.
    wide = frame.pivot_table(
        index=["machine", "params", "backend", "workers"],
        columns="metric",
        values="value",
        aggfunc="median",
        observed=True,
    ).reset_index()
    wide = wide.reindex(columns=[*wide.columns, *(m for m in RTT_METRICS if m not in wide)])
    backends = order(wide["backend"])
    colors = palette(backends)
    pages = []
    for index, total, fig, cells in _panel_pages(wide, data.machines, 4):
        for ax, machine, params, sub in cells:
            _rtt_panel(ax, sub, [b for b in backends if b in set(sub["backend"])], colors)
            ax.set_title(_title(machine, params, data, wide))
        _bottom_legend(
            fig,
            [
                Patch(
                    facecolor="grey",
                    alpha=0.35,
                    label="rtt p50: submit until the result is in the driver, one task in flight",
                ),
                Patch(
                    facecolor="grey",
                    alpha=0.9,
                    label="service p50: the task alone, timed inside the worker",
                ),
                Line2D([], [], color="black", marker="D", ls="", ms=4, label="rtt p99"),
            ],
        )
        _suptitle(
            fig,
            scenario,
            "one task alone: round trip = service + overhead",
            "tasks submitted one at a time, each waited for (up to 200 in a row, after one "
            "untimed); label: workers and the median overhead (rtt minus service per task); "
            "p99 only from 100 round trips or more",
        )
        pages.append((_page_name(f"{scenario}-rtt", index, total), fig))
    return pages


def _rtt_panel(ax: Axes, sub: pd.DataFrame, backends: list[str], colors: dict[str, str]) -> None:
    levels = sorted(int(w) for w in sub["workers"].unique())
    width = 0.8 / len(levels)
    tops = []
    for i, backend in enumerate(backends):
        for j, workers in enumerate(levels):
            row = sub[(sub["backend"] == backend) & (sub["workers"] == workers)]
            if row.empty:
                continue
            r = row.iloc[0]
            x = i - 0.4 + width * (j + 0.5)
            rtt, service, p99 = r[Metric.RTT_P50_S], r[Metric.SERVICE_P50_S], r[Metric.RTT_P99_S]
            ax.bar(x, rtt, width * 0.9, color=colors[backend], alpha=0.35)
            ax.bar(x, min(service, rtt), width * 0.9, color=colors[backend], alpha=0.9)
            top = rtt
            if np.isfinite(p99):
                ax.plot(x, p99, marker="D", color="black", ms=4)
                top = max(top, p99)
            tops.append(top)
            label = f"w{workers} +{fmt_seconds(r['overhead_p50_s'])}"
            ax.annotate(
                label,
                (x, top),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                rotation=90,
                fontsize=7,
            )
    ax.set_xticks(range(len(backends)), backends)
    for tick in ax.get_xticklabels():
        tick.set_color(colors.get(tick.get_text(), "black"))
    values = pd.concat([sub[Metric.RTT_P50_S], sub[Metric.SERVICE_P50_S], sub[Metric.RTT_P99_S]])
    log = _maybe_log(ax, values)
    if tops:  # room for the labels above the bars
        ax.set_ylim(top=max(tops) * (6 if log else 1.35))
    _seconds_axis(ax)
    ax.set(xlabel="", ylabel="one task, submit to result" + (" (log scale)" if log else ""))


def batch_completion(data: ReportData, scenario: str) -> list[Page]:
    """Distribution of batch completion times (whole batch submitted -> each result)."""
    lat = data.latency
    if lat.empty:
        return []
    ok_cases = data.table[data.table["status"] == "ok"][["run_id", "case_id"]]
    frame = lat[lat["scenario"] == scenario].merge(ok_cases, on=["run_id", "case_id"])
    if frame.empty:
        return []
    frame = frame.assign(workers=frame["workers"].astype(str))
    backends = order(frame["backend"])
    pages = []
    for index, total, fig, cells in _panel_pages(frame, data.machines, 4):
        for ax, machine, params, sub in cells:
            hue_order = sorted(sub["workers"].unique(), key=int)
            sns.boxplot(
                data=sub,
                x="backend",
                y="completion_s",
                hue="workers",
                order=backends,
                hue_order=hue_order,
                palette=_hue_colors(hue_order, False),
                ax=ax,
                fliersize=2,
                linewidth=0.8,
            )
            log = _maybe_log(ax, sub["completion_s"])
            _seconds_axis(ax)
            ax.set(xlabel="", ylabel="completion time" + (" (log scale)" if log else ""))
            ax.set_title(_title(machine, params, data, frame))
            ax.legend(title="workers", fontsize=8)
            for label in ax.get_xticklabels():
                label.set_color(palette(backends).get(label.get_text(), "black"))
        _suptitle(
            fig,
            scenario,
            "batch completion time: whole batch submitted → each result",
            "all tasks submitted at once, in a pass of its own after the timed repeats; grows "
            "with the batch, so not one task's latency (see the round-trip page); collected "
            "each engine's way (as completed; Pool.map in order; Ray polls every 2 ms); box: "
            "quartiles, whiskers: 1.5 IQR",
        )
        pages.append((_page_name(f"{scenario}-latency", index, total), fig))
    return pages
