"""What a backend costs besides the work: start-up and teardown, memory per worker and
fixed, the peak, and memory over one case's life.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.analysis.summaries import BASELINE
from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    A4_LANDSCAPE,
    Page,
    _backend_legend,
    _bars,
    _bottom_legend,
    _grid,
    _maybe_log,
    _mib_axis,
    _ok,
    _seconds_axis,
    _suptitle,
    _workers_axis,
    new_figure,
)
from harness.output.reports.style import PHASE_COLORS, machine_styles, order, palette
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

# Start-up and teardown ----------------------------------------------------------------------


def startup(data: ReportData, scenario: str) -> list[Page]:
    """Start-up (until every worker ran a task) and teardown per backend and workers."""
    df = data.df
    frame = _ok(
        df[(df["scenario"] == scenario) & df["metric"].isin([Metric.STARTUP_S, Metric.TEARDOWN_S])]
    )
    frame = frame[frame["backend"] != BASELINE]  # nothing to start: nanoseconds
    if frame.empty:
        return []
    several = frame["machine"].nunique() > 1
    hue = "machine" if several else "workers"
    frame = frame.assign(workers=frame["workers"].astype(str))
    fig, axes = new_figure(1, 2, figsize=A4_LANDSCAPE, layout="constrained")
    backends = order(frame["backend"])
    for ax, metric, label in zip(
        axes, (Metric.STARTUP_S, Metric.TEARDOWN_S), ("start-up", "teardown"), strict=True
    ):
        sub = frame[frame["metric"] == metric]
        if sub.empty:
            ax.set_visible(False)
            continue
        _bars(ax, sub, hue, backends, data.machines, several, fmt_seconds)
        log = _maybe_log(ax, sub["value"])
        if log:
            ax.set_ylim(top=ax.get_ylim()[1] * 4)
        else:
            ax.set_ylim(0, float(sub.groupby(["backend", hue])["value"].median().max()) * 1.25)
        _seconds_axis(ax)
        for patch, backend in zip(ax.get_xticklabels(), backends, strict=False):
            patch.set_color(palette(backends)[backend])
        ax.set(xlabel="", ylabel=f"{label} (median){' log scale' if log else ''}", title=label)
        ax.legend(title="machine" if several else "workers", fontsize=8)
    _suptitle(
        fig,
        scenario,
        "start-up and teardown by backend",
        "start-up: from starting the backend until every worker has finished a trivial task; "
        "the sequential loop starts nothing and is left out",
    )
    return [(f"{scenario}-startup", fig)]


# Memory -------------------------------------------------------------------------------------


def memory(data: ReportData, scenario: str) -> list[Page]:
    """Unique memory per worker, fixed cost of the backend, and the peak against workers."""
    df = data.df
    metrics = [
        Metric.WORKER_USS_BYTES,
        Metric.FIXED_USS_BYTES,
        Metric.PEAK_USS_BYTES,
        Metric.PEAK_RSS_BYTES,
    ]
    frame = _ok(df[(df["scenario"] == scenario) & df["metric"].isin(metrics)])
    if frame.empty:
        return []
    several = frame["machine"].nunique() > 1
    backends = order(frame["backend"])
    colors = palette(backends)
    fig, axes = new_figure(1, 3, figsize=A4_LANDSCAPE, layout="constrained")
    hue = "machine" if several else "workers"
    frame = frame.assign(workers=frame["workers"].astype(str))
    for ax, metric, title in zip(
        axes[:2],
        (Metric.WORKER_USS_BYTES, Metric.FIXED_USS_BYTES),
        ("memory per worker (USS)", "fixed cost of the backend (USS)"),
        strict=True,
    ):
        sub = frame[frame["metric"] == metric]
        if sub.empty:
            ax.set_visible(False)
            continue
        _bars(ax, sub, hue, backends, data.machines, several, fmt_bytes, rotate=True)
        ax.set_ylim(0, max(float(sub["value"].max()), 1.0) * 1.3)
        _mib_axis(ax)
        ax.set(xlabel="", ylabel="", title=title)
        ax.tick_params(axis="x", rotation=30)
        ax.legend(title=hue, fontsize=8)
    ax = axes[2]
    styles = machine_styles(data.machines)
    peaks = frame[frame["metric"].isin([Metric.PEAK_USS_BYTES, Metric.PEAK_RSS_BYTES])]
    for (machine, backend, metric), sub in peaks.groupby(
        ["machine", "backend", "metric"], observed=True
    ):
        med = sub.groupby("workers")["value"].median()
        med.index = med.index.astype(int)
        med = med.sort_index()
        ax.plot(
            med.index,
            med.to_numpy(),
            color=colors[backend],
            marker="o",
            ls=styles[machine] if metric == Metric.PEAK_USS_BYTES else ":",
            alpha=1.0 if metric == Metric.PEAK_USS_BYTES else 0.6,
        )
    if not peaks.empty:
        _workers_axis(ax, peaks["workers"].astype(int))
        ax.set_ylim(bottom=0)
    _mib_axis(ax)
    ax.set(ylabel="", title="peak of the process tree")
    extra = [
        Line2D([], [], color="black", ls="-", label="peak USS (import baseline subtracted)"),
        Line2D([], [], color="black", ls=":", label="peak RSS"),
    ]
    if several:
        extra += [Line2D([], [], color="grey", ls=styles[m], label=m) for m in data.machines]
    _backend_legend(fig, backends, extra)
    _suptitle(
        fig,
        scenario,
        "memory",
        "unique set size (USS) of the whole process tree, shared pages counted once; "
        "per worker = mean over workers, fixed = what the backend costs besides its workers",
    )
    return [(f"{scenario}-memory", fig)]


# Memory over time ---------------------------------------------------------------------------


def pick_cases(data: ReportData, scenario: str) -> pd.DataFrame:
    """One ok case per machine and backend: the most workers, the first parameter set."""
    table = data.table
    ok = table[(table["scenario"] == scenario) & (table["status"] == "ok")]
    if ok.empty or data.timeseries.empty:
        return ok.iloc[0:0]
    have = data.timeseries[["run_id", "case_id"]].drop_duplicates()
    ok = ok.merge(have, on=["run_id", "case_id"])
    first_params = ok.groupby("machine")["params"].transform("min")
    ok = ok[ok["params"] == first_params]
    return ok.sort_values("workers").groupby(["machine", "backend"]).tail(1)


def memory_over_time(data: ReportData, scenario: str) -> list[Page]:
    """USS and RSS of the process tree over one case's life, phases shaded."""
    cases = pick_cases(data, scenario)
    if cases.empty:
        return []
    ts = data.timeseries.merge(cases[["run_id", "case_id"]], on=["run_id", "case_id"])
    backends = order(cases["backend"])
    colors = palette(backends)
    styles = machine_styles(data.machines)
    several = cases["machine"].nunique() > 1
    rows, cols = _grid(len(backends))
    fig, axes = new_figure(rows, cols, figsize=A4_LANDSCAPE, squeeze=False, layout="constrained")
    seen_phases: list[str] = []
    for ax, backend in zip(axes.flat, backends, strict=False):
        for i, machine in enumerate(data.machines):
            case = cases[(cases["backend"] == backend) & (cases["machine"] == machine)]
            if case.empty:
                continue
            c = case.iloc[0]
            sub = ts[(ts["run_id"] == c["run_id"]) & (ts["case_id"] == c["case_id"])]
            sub = sub.sort_values("t_s")
            workers = f"{c['workers']} worker{'s' if c['workers'] != 1 else ''}"
            label = f"{machine}, {workers}" if several else workers
            uss = sub.dropna(subset=["uss_bytes"])  # USS is sampled within a CPU budget
            ax.plot(
                uss["t_s"],
                uss["uss_bytes"],
                color=colors[backend],
                ls=styles[machine],
                marker=".",
                markersize=4,
                label=label,
            )
            if not several:
                ax.plot(sub["t_s"], sub["rss_bytes"], color=colors[backend], ls=":", alpha=0.6)
            if i == 0 or not several:
                seen_phases += _shade_phases(ax, sub)
        ax.set_ylim(bottom=0)
        _mib_axis(ax)
        ax.set(xlabel="seconds since the case process started", ylabel="")
        ax.set_title(backend, color=colors[backend], weight="bold")
        ax.legend(fontsize=8, loc="best")
    for ax in list(axes.flat)[len(backends) :]:
        ax.set_visible(False)
    phases = [p for p in PHASE_COLORS if p in set(seen_phases)]
    handles: list[Artist] = [Patch(color=PHASE_COLORS[p], label=p) for p in phases]
    handles += [
        Line2D([], [], color="black", label="USS (unique memory)"),
        *([Line2D([], [], color="black", ls=":", label="RSS")] if not several else []),
    ]
    _bottom_legend(fig, handles)
    _suptitle(
        fig,
        scenario,
        "memory over time, one case per backend",
        "the whole process tree, sampled from outside (USS: dots, sampled less often, within a "
        "CPU budget); the case with the most workers",
    )
    return [(f"{scenario}-memory-time", fig)]


def _shade_phases(ax: Axes, sub: pd.DataFrame) -> list[str]:
    if sub.empty:
        return []
    t = sub["t_s"].to_numpy()
    phase = sub["phase"].astype(str).to_numpy()
    starts = [0] + [i for i in range(1, len(phase)) if phase[i] != phase[i - 1]]
    for j, s in enumerate(starts):
        end = starts[j + 1] if j + 1 < len(starts) else len(t) - 1
        ax.axvspan(t[s], t[end], color=PHASE_COLORS.get(phase[s], "#eeeeee"), lw=0, zorder=0)
    return list(dict.fromkeys(phase))
