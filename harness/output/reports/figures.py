"""The report's figures, one function per kind; each reads only result frames.

Every function takes the report data and one scenario and returns a list of pages
(name, figure): empty when there is nothing to draw, several when a parameter sweep or
several machines need more panels than fit on one page. Panels are faceted by machine
(columns) and by parameter set (rows), so runs of several machines sit side by side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MultipleLocator, ScalarFormatter

from harness.analysis import summaries
from harness.analysis.summaries import BASELINE
from harness.measure.stats import level_text
from harness.output.reports import textfit
from harness.output.reports.data import ReportData, params_label
from harness.output.reports.style import PAPER_SIZES, PHASE_COLORS, machine_styles, order, palette
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

A4_LANDSCAPE = PAPER_SIZES["a4"]
#: The narrowest paper's width: text placed by hand is wrapped to fit on every paper.
_TEXT_WIDTH = min(w for w, _ in PAPER_SIZES.values()) - 0.3
MAX_PANELS = 6  # per page: more would print too small to read
LOG_SPREAD = 30  # use a log axis when the largest value is this many times the smallest
MiB = 2**20


def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
    layout: Literal["constrained", "compressed", "tight"] | None = None, **subplots: Any,
) -> tuple[Figure, Any]:
    """`plt.subplots` without pyplot: a report's figures are not kept by pyplot's figure
    manager, so each is freed once written ("More than 20 figures have been opened", and a
    long report grew in memory with every figure it had drawn)."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)  # the canvas pyplot gave them: text is measured as before
    return fig, fig.subplots(nrows, ncols, **subplots)

Page = tuple[str, Figure]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if "status" in df else df


def _panels(frame: pd.DataFrame, machines: Sequence[str]) -> list[tuple[str, str]]:
    present = frame[["machine", "params"]].drop_duplicates()
    rank = {m: i for i, m in enumerate(machines)}
    return sorted(map(tuple, present.to_numpy()), key=lambda mp: (str(mp[1]), rank.get(mp[0], 99)))


def _title(machine: str, params: str, data: ReportData, frame: pd.DataFrame) -> str:
    parts = []
    if frame["machine"].nunique() > 1 or len(data.machines) > 1:
        parts.append(machine)
    if frame["params"].nunique() > 1:
        parts.append(params_label(params))
    return " · ".join(parts)


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    return math.ceil(n / cols), cols


def _chunks(items: Sequence, size: int) -> Iterable[tuple[int, Sequence]]:
    for i in range(0, len(items), size):
        yield i // size, items[i : i + size]


def _panel_pages(
    frame: pd.DataFrame, machines: Sequence[str], per_page: int, **figure: Any
) -> Iterator[tuple[int, int, Figure, list[tuple[Axes, str, str, pd.DataFrame]]]]:
    """A grid of panels per page, one panel per (machine, params) present in `frame`: per
    page its index, the page count, its figure, and each panel's axes, machine, params and
    rows. Axes past the last panel are hidden."""
    chunks = list(_chunks(_panels(frame, machines), per_page))
    for index, chunk in chunks:
        rows, cols = _grid(len(chunk))
        fig, axes = new_figure(rows, cols, figsize=A4_LANDSCAPE, squeeze=False,
                               layout="constrained", **figure)  # fmt: skip
        for ax in list(axes.flat)[len(chunk) :]:
            ax.set_visible(False)
        cells = [
            (ax, machine, params,
             frame[(frame["machine"] == machine) & (frame["params"] == params)])
            for ax, (machine, params) in zip(axes.flat, chunk, strict=False)
        ]  # fmt: skip
        yield index, len(chunks), fig, cells


def _page_name(base: str, index: int, total: int) -> str:
    return base if total <= 1 else f"{base}-{index + 1}"


def _workers_axis(ax: Axes, workers: Iterable[int]) -> None:
    ws = sorted(set(int(w) for w in workers))
    if len(ws) > 1 and ws[-1] / ws[0] >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(ws)
    ax.get_xaxis().set_major_formatter(ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("workers")


def _maybe_log(ax: Axes, values: pd.Series | np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and v.max() / v.min() > LOG_SPREAD:
        ax.set_yscale("log")
        return True
    return False


def _seconds_axis(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_seconds(v) if v > 0 else "0"))


def _mib_axis(ax: Axes) -> None:
    """Bytes on the axis, ticks at round MiB values."""
    top = max(ax.get_ylim()[1] / MiB, 1.0)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if top / s <= 8)
    ax.yaxis.set_major_locator(MultipleLocator(step * MiB))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / MiB:.0f} MiB"))


def _legend_columns(handles: Sequence) -> int:
    """As many columns as fit across the narrowest paper: a legend below the panels is
    never laid out narrower, so one too wide runs off the page."""
    size = FontProperties(size=mpl.rcParams["legend.fontsize"]).get_size_in_points()
    widest = max(textfit.width(h.get_label(), size) for h in handles) + 0.9  # marker, gap
    return max(1, min(len(handles), int(_TEXT_WIDTH // widest)))


def _bottom_legend(fig: Figure, handles: Sequence) -> None:
    fig.legend(
        handles=list(handles), loc="outside lower center", ncol=_legend_columns(handles),
        frameon=False,
    )  # fmt: skip


def _backend_legend(fig: Figure, backends: Sequence[str], extra: Sequence = ()) -> None:
    colors = palette(backends)
    handles = [Line2D([], [], color=colors[b], marker="o", lw=2, label=b) for b in backends]
    _bottom_legend(fig, [*handles, *extra])


def _suptitle(fig: Figure, scenario: str, what: str, note: str = "") -> None:
    """Title and a note above the panels, wrapped to fit the narrowest paper; the layout
    keeps the top band free for them. The title is the figure's label too (the HTML
    report's table of contents reads it)."""
    title = f"{scenario}: {what}"
    fig.set_label(title)
    height = fig.get_size_inches()[1]
    titles = textfit.wrap(title, 15, _TEXT_WIDTH, "bold")
    notes = textfit.wrap(note, 9, _TEXT_WIDTH) if note else []
    y = 0.12  # inches from the top
    for line in titles:
        fig.text(0.01, 1 - y / height, line, fontsize=15, weight="bold", va="top")
        y += 15 * 1.3 / 72
    for line in notes:
        fig.text(0.01, 1 - y / height, line, fontsize=9, color="#444444", va="top")
        y += 9 * 1.3 / 72
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):  # every figure here is constrained
        engine.set(rect=(0, 0, 1, 1 - (y + 0.08) / height))


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
        (table["scenario"] == scenario)
        & (table["status"] == "ok")
        & (table["backend"] != BASELINE)
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
                    b["workers"], b["speedup"], yerr=yerr, marker="o", capsize=3,
                    color=colors[backend], label=backend,
                )  # fmt: skip
                ax2.errorbar(
                    b["workers"], b["efficiency"], yerr=yerr / b["workers"].to_numpy(),
                    marker="o", capsize=3, color=colors[backend],
                )  # fmt: skip
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
            "speedup = sequential median wall time / median wall time; bars: its interval "
            "with both cases' variation (Hodges-Lehmann), "
            f"{_speedup_levels(frame)}; efficiency = speedup / workers",
        )
        pages.append((_page_name(f"{scenario}-speedup", index, len(chunks)), fig))
    return pages


# Every repeat -------------------------------------------------------------------------------

#: Outlier rule (Iglewicz and Hoaglin, as hyperfine uses it): |modified z-score| above this.
OUTLIER_Z = 3.5


def modified_z(values: np.ndarray) -> np.ndarray:
    """0.6745 (x - median) / MAD per value: a z-score that outliers cannot inflate; zeros
    when the MAD is 0 (half the values or more are equal: no spread to judge by)."""
    values = np.asarray(values, dtype=float)
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    if not mad > 0:
        return np.zeros_like(values)
    return 0.6745 * (values - median) / mad


def _case_label(backend: str, variant: str, workers: int) -> str:
    return f"{backend}{f'[{variant}]' if variant else ''} w{workers}"


def distribution(data: ReportData, scenario: str) -> list[Page]:
    """Every repeat's wall time as a point, coloured by round, beside the case's median and
    its interval; outliers circled by a stated rule. The spread and any drift across rounds
    are seen, not only summarised."""
    df = data.df
    frame = _ok(df[(df["scenario"] == scenario) & (df["metric"] == Metric.WALL_S)])
    if frame.empty:
        return []
    frame = frame.assign(variant=frame["variant"].fillna("").astype(str))
    rounds = sorted(int(r) for r in frame["round"].dropna().unique())
    cmap = plt.get_cmap("viridis")
    round_colors = {r: cmap(0.15 + 0.7 * i / max(1, len(rounds) - 1)) for i, r in enumerate(rounds)}
    table = data.table.assign(variant=data.table["variant"].fillna("").astype(str))
    backends = order(frame["backend"])
    colors = palette(backends)
    rng = np.random.default_rng(0)  # the jitter only: the same figure every time
    pages = []
    for index, total, fig, cells in _panel_pages(frame, data.machines, 4):
        levels: set[tuple[str, str]] = set()
        outliers = 0
        for ax, machine, params, sub in cells:
            cases = sub[["backend", "variant", "workers"]].drop_duplicates()
            cases = cases.assign(rank=cases["backend"].map({b: i for i, b in enumerate(backends)}))
            cases = cases.sort_values(["rank", "variant", "workers"])
            labels = []
            for x, case in enumerate(cases.itertuples()):
                points = sub[
                    (sub["backend"] == case.backend)
                    & (sub["variant"] == case.variant)
                    & (sub["workers"] == case.workers)
                ]
                row = table[
                    (table["machine"] == machine) & (table["params"] == params)
                    & (table["backend"] == case.backend) & (table["variant"] == case.variant)
                    & (table["workers"] == case.workers)
                ]  # fmt: skip
                far, level = _repeats_of_case(ax, x, points, row, rng, round_colors)
                outliers += far
                if level is not None:
                    levels.add(level)
                labels.append(_case_label(case.backend, case.variant, int(case.workers)))
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0,
                          ha="right" if len(labels) > 4 else "center")  # fmt: skip
            for label, case in zip(ax.get_xticklabels(), cases.itertuples(), strict=True):
                label.set_color(colors[case.backend])
            log = _maybe_log(ax, sub["value"])
            _seconds_axis(ax)
            ax.set(xlabel="", ylabel="wall time per batch" + (" (log scale)" if log else ""))
            ax.set_xlim(-0.6, len(labels) - 0.4)
            ax.grid(axis="x", visible=False)
            ax.set_title(_title(machine, params, data, frame))
        handles = _repeats_legend(round_colors, outliers)
        _bottom_legend(fig, handles)
        interval = "; ".join(f"{level} from {scope}" for level, scope in sorted(levels))
        _suptitle(
            fig,
            scenario,
            "every repeat, by round",
            "each point one timed repeat (wall time per batch), coloured by the round it ran "
            "in, spread sideways so none hides another; black: the case's median with its "
            f"interval ({interval or 'none: too few repeats'}). Outlier rule: "
            f"|modified z-score| > {OUTLIER_Z}, where z = 0.6745 (x - median) / MAD within "
            "the case (Iglewicz and Hoaglin, as hyperfine flags outliers); outliers are "
            "drawn, never dropped.",
        )
        pages.append((_page_name(f"{scenario}-repeats", index, total), fig))
    return pages


def _repeats_of_case(
    ax: Axes,
    x: int,
    points: pd.DataFrame,
    row: pd.DataFrame,
    rng: np.random.Generator,
    round_colors: dict[int, Any],
) -> tuple[int, tuple[str, str] | None]:
    """One case of the "every repeat" page: its repeats as points (outliers circled), its
    median with the interval beside them. Returns the outliers and (level, scope) drawn."""
    values = points["value"].to_numpy(float)
    jitter = rng.uniform(-0.12, 0.12, len(values))
    ax.scatter(
        x - 0.18 + jitter, values, s=30, zorder=3, alpha=0.85, linewidths=0,
        c=[round_colors.get(int(r), "grey") for r in points["round"]],
    )  # fmt: skip
    far = np.abs(modified_z(values)) > OUTLIER_Z
    ax.scatter(
        x - 0.18 + jitter[far], values[far], s=70, facecolors="none",
        edgecolors="#d62728", linewidths=1.3, zorder=4,
    )  # fmt: skip
    if row.empty:
        return int(far.sum()), None
    r = row.iloc[0]
    low, high = r["ci_low"], r["ci_high"]
    level = None
    if pd.notna(low):
        ax.errorbar(
            x + 0.18, r["median"], yerr=[[r["median"] - low], [high - r["median"]]],
            fmt="none", ecolor="black", capsize=4, lw=1.4, zorder=3,
        )  # fmt: skip
        scope = r["ci_scope"] or ""
        if scope in ("", summaries.ONE_PROCESS):
            scope = f"n={int(r['n'])} repeats" + (f", {scope}" if scope else "")
        level = (level_text(r["ci_level"]), scope)
    ax.plot(x + 0.18, r["median"], marker="_", ms=14, mew=2.2, color="black")
    return int(far.sum()), level


def _repeats_legend(round_colors: dict[int, Any], outliers: int) -> list[Line2D]:
    handles = [
        Line2D([], [], color=color, marker="o", ls="", label=f"round {r}")
        for r, color in round_colors.items()
    ]
    return handles + [
        Line2D([], [], color="black", marker="_", ms=12, mew=2, ls="-", lw=1.2,
               label="median and its interval"),
        Line2D([], [], marker="o", ls="", ms=9, mfc="none", mec="#d62728", mew=1.3,
               label=f"outlier: |modified z| > {OUTLIER_Z} ({outliers} here)"),
    ]  # fmt: skip


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


def _hue_colors(levels: Sequence[str], machines: bool) -> dict[str, str]:
    cmap = sns.color_palette("Greys" if not machines else "Set2", len(levels) + 1)
    colors = cmap[1:] if not machines else cmap
    return dict(zip(levels, colors, strict=False))


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
            med.index, med.to_numpy(), color=colors[backend], marker="o",
            ls=styles[machine] if metric == Metric.PEAK_USS_BYTES else ":",
            alpha=1.0 if metric == Metric.PEAK_USS_BYTES else 0.6,
        )  # fmt: skip
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
        _bottom_legend(fig, [
            Patch(facecolor="grey", alpha=0.35, label="rtt p50: submit until the result is "
                  "in the driver, one task in flight"),
            Patch(facecolor="grey", alpha=0.9, label="service p50: the task alone, timed "
                  "inside the worker"),
            Line2D([], [], color="black", marker="D", ls="", ms=4, label="rtt p99"),
        ])  # fmt: skip
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
            ax.annotate(label, (x, top), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", rotation=90, fontsize=7)  # fmt: skip
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
                data=sub, x="backend", y="completion_s", hue="workers", order=backends,
                hue_order=hue_order, palette=_hue_colors(hue_order, False), ax=ax,
                fliersize=2, linewidth=0.8,
            )  # fmt: skip
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
                uss["t_s"], uss["uss_bytes"], color=colors[backend], ls=styles[machine],
                marker=".", markersize=4, label=label,
            )  # fmt: skip
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


def _bars(
    ax,
    sub: pd.DataFrame,
    hue: str,
    backends: list[str],
    machines: list[str],
    several: bool,
    fmt,
    rotate: bool = False,
) -> None:
    """Median bars per backend, one per worker count (or machine), each labelled by value."""
    hue_order = machines if several else sorted(sub["workers"].unique(), key=int)
    hue_order = [h for h in hue_order if h in set(sub[hue])]
    sns.barplot(
        data=sub, x="backend", y="value", hue=hue, order=backends, hue_order=hue_order,
        estimator="median", errorbar=None, ax=ax, palette=_hue_colors(hue_order, several),
        edgecolor="white",
    )  # fmt: skip
    for group in ax.containers:
        ax.bar_label(
            group, labels=[fmt(b.get_height()) for b in group], fontsize=7, padding=2,
            rotation=90 if rotate or len(hue_order) > 2 else 0,
        )  # fmt: skip


# Parameter sweeps ------------------------------------------------------------------------


def sweep_axis(data: ReportData, scenario: str) -> tuple[str, list[str]] | None:
    """The numeric parameter a scenario sweeps (the x axis) and the other swept ones (facets).

    None when no numeric parameter takes several values: then workers are the x axis.
    """
    params = data.df.loc[data.df["scenario"] == scenario, "params"].drop_duplicates()
    parsed = pd.json_normalize([json.loads(p) for p in params])
    varying = [c for c in parsed.columns if parsed[c].nunique() > 1]
    numeric = [c for c in varying if pd.api.types.is_numeric_dtype(parsed[c])]
    if not numeric:
        return None
    x = sorted(numeric)[0]
    return x, [c for c in varying if c != x]


def _one_worker_count(data: ReportData, scenario: str) -> bool:
    df = data.df[(data.df["scenario"] == scenario) & (data.df["backend"] != BASELINE)]
    return df["workers"].nunique() <= 1


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
    rate = Metric.BYTES_PER_S if table[Metric.BYTES_PER_S].notna().any() else Metric.TASKS_PER_S
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
                ax.plot(line[f"param_{x}"], line[metric], marker="o", ls=style,
                        color=colors[backend], label=label)  # fmt: skip
        for ax, metric in zip(row, (rate, right), strict=True):
            if sub[f"param_{x}"].max() / max(sub[f"param_{x}"].min(), 1e-12) >= LOG_SPREAD:
                ax.set_xscale("log")
            _maybe_log(ax, sub[metric].dropna())
            what = {Metric.BYTES_PER_S: "bytes/s (median)", Metric.TASKS_PER_S: "tasks/s (median)",
                    "efficiency": "efficiency = speedup / workers",
                    "median": "median wall per batch"}[metric]  # fmt: skip
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
        fig, scenario, f"against {x}",
        "median over repeats; dotted line: 80% efficiency"
        if right == "efficiency" else "median over repeats",
    )  # fmt: skip
    return [(f"{scenario}-sweep", fig)]
