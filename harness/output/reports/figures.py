"""What every figure kind draws with; each reads only result frames.

The kinds live in modules of their own, one function per kind: `scaling_figures`
(throughput, speedup, parameter sweeps), `repeat_figures` (every repeat), `cost_figures`
(start-up, teardown, memory), `latency_figures` (round trips, batch completion),
`graph_figures` (a graph's data paths) and `timeline_figures` (the timeline pass). Every
function takes the report data and one scenario and returns a list of pages (name, figure):
empty when there is nothing to draw, several when a parameter sweep or several machines need
more panels than fit on one page. Here: a figure outside pyplot, panels faceted by machine
(columns) and by parameter set (rows), so runs of several machines sit side by side, axes,
legends and titles that fit the narrowest paper, and which x axis a scenario's rates take.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MultipleLocator, ScalarFormatter

from harness.analysis.summaries import BASELINE
from harness.output.reports import textfit
from harness.output.reports.data import ReportData, params_label
from harness.output.reports.style import PAPER_SIZES, palette
from harness.units import fmt_seconds

A4_LANDSCAPE = PAPER_SIZES["a4"]
#: The narrowest paper's width: text placed by hand is wrapped to fit on every paper.
_TEXT_WIDTH = min(w for w, _ in PAPER_SIZES.values()) - 0.3
MAX_PANELS = 6  # per page: more would print too small to read
LOG_SPREAD = 30  # use a log axis when the largest value is this many times the smallest
MiB = 2**20


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float],
    layout: Literal["constrained", "compressed", "tight"] | None = None,
    **subplots: Any,
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
        fig, axes = new_figure(
            rows, cols, figsize=A4_LANDSCAPE, squeeze=False, layout="constrained", **figure
        )
        for ax in list(axes.flat)[len(chunk) :]:
            ax.set_visible(False)
        cells = [
            (
                ax,
                machine,
                params,
                frame[(frame["machine"] == machine) & (frame["params"] == params)],
            )
            for ax, (machine, params) in zip(axes.flat, chunk, strict=False)
        ]
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
        handles=list(handles),
        loc="outside lower center",
        ncol=_legend_columns(handles),
        frameon=False,
    )


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


# Bars ---------------------------------------------------------------------------------------


def _hue_colors(levels: Sequence[str], machines: bool) -> dict[str, str]:
    cmap = sns.color_palette("Greys" if not machines else "Set2", len(levels) + 1)
    colors = cmap[1:] if not machines else cmap
    return dict(zip(levels, colors, strict=False))


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
        data=sub,
        x="backend",
        y="value",
        hue=hue,
        order=backends,
        hue_order=hue_order,
        estimator="median",
        errorbar=None,
        ax=ax,
        palette=_hue_colors(hue_order, several),
        edgecolor="white",
    )
    for group in ax.containers:
        ax.bar_label(
            group,
            labels=[fmt(b.get_height()) for b in group],
            fontsize=7,
            padding=2,
            rotation=90 if rotate or len(hue_order) > 2 else 0,
        )


# The x axis: workers, or the parameter a scenario sweeps -------------------------------------


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
