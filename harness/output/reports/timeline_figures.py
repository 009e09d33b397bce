"""The timeline pass drawn: where each task of a case's batch ran, and where its time went.

Two pages per scenario, both read from `ReportData.tasks` (`tasks.parquet`) through
`analysis.timelines`: a Gantt chart (one panel per backend and worker count, one row per
worker, every panel on one time axis) of each case's median-makespan round, and the mean
dispatch, service and return per task as stacked bars. A scenario whose runs hold no tasks
(runs from before the timeline pass, program workloads such as counters or queues) gets
neither page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from harness.analysis import timelines
from harness.analysis.summaries import BASELINE
from harness.measure import timeline
from harness.output.reports.data import ReportData, params_label
from harness.output.reports.figures import (
    A4_LANDSCAPE,
    _bottom_legend,
    _page_name,
    _panel_pages,
    _suptitle,
    _title,
    new_figure,
)
from harness.output.reports.style import order, palette
from harness.protocol import Metric
from harness.units import fmt_seconds

Page = tuple[str, Figure]
UNCERTAINTY = Metric.CLOCK_UNCERTAINTY_S

#: One colour per phase of a task, the same on both pages; none is a backend's colour.
PHASE_COLORS = {"dispatch_s": "#e8a33d", "service_s": "#3b4f63", "return_s": "#c95ea8"}
#: The legend's words for each phase (`timelines.PHASES` says the same at more length).
PHASE_LABELS = {
    "dispatch_s": "dispatch: submitted, not yet begun in the worker",
    "service_s": "service: the task inside the worker",
    "return_s": "return: ended, result not yet in the driver",
}
MAX_COLUMNS = 3  # worker counts side by side on a Gantt page: the largest ones
MAX_ROWS = 16  # workers drawn per panel; the rest are counted in the panel's note
PAGE_ROWS = 64  # worker rows per Gantt page (panels add PANEL_PAD each); more go on the next
PANEL_PAD = 1.6
MAX_PARAM_PAGES = 6  # parameter sets drawn as Gantt pages per scenario
SEPARATED = 40  # up to this many tasks a row, each service bar has a white edge


def _tasks(data: ReportData, scenario: str) -> pd.DataFrame:
    """The scenario's tasks of cases that succeeded, with `rounds`: how many rounds the
    case ran its timeline pass in."""
    tasks = data.tasks
    if tasks.empty or "scenario" not in tasks or data.table.empty:
        return pd.DataFrame()
    table = data.table
    ok = table[(table["scenario"] == scenario) & (table["status"] == "ok")]
    frame = tasks[tasks["scenario"] == scenario].merge(ok[["run_id", "case_id"]])
    if frame.empty:
        return frame
    rounds = frame.groupby(timelines.CASE_KEYS, observed=True)["round"].transform("nunique")
    variant = frame["variant"].astype("string").fillna("")
    return frame.assign(rounds=rounds.astype(int), variant=variant)


def _lanes(tasks: pd.DataFrame) -> pd.Series:
    """Per task, its lane within its worker's row (`measure.timeline.slots`): 0, unless the
    worker ran tasks at once (runs before worker names carried their slot), so no bar hides
    another."""
    keys = [*timelines.CASE_KEYS, "round", "worker"]
    workers = list(tasks[keys].itertuples(index=False, name=None))
    lane = timeline.slots(workers, tasks["start_s"].tolist(), tasks["end_s"].tolist())
    return pd.Series(lane, index=tasks.index, dtype=int)


def _rows(case: pd.DataFrame) -> list[tuple[str, int]]:
    """A case's workers, the earliest to start first, each with its lanes drawn; at most
    `MAX_ROWS` lanes in all (the workers after are left out, and a first worker with more
    lanes keeps its first `MAX_ROWS`)."""
    first = case.groupby("worker", observed=True)["start_s"].min().sort_values()
    lanes = case.groupby("worker", observed=True)["lane"].max() + 1
    rows, total = [], 0
    for worker in first.index:
        n = min(int(lanes[worker]), MAX_ROWS)
        if total + n > MAX_ROWS:
            break
        rows.append((str(worker), n))
        total += n
    return rows


def _label(backend: str, variant: str) -> str:
    return f"{backend}[{variant}]" if variant else backend


def _seconds_ticks(ax: Axes, axis: str = "x") -> None:
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: fmt_seconds(v) if v > 0 else "0"))
    target.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=3))


def _uncertain(frame: pd.DataFrame) -> str:
    """'' when every clock is the driver's; else which cases' clocks were uncertain, by how
    much, as a sentence for a page's note."""
    if UNCERTAINTY not in frame or not (frame[UNCERTAINTY] > 0).any():
        return ""
    worst = (
        frame[frame[UNCERTAINTY] > 0]
        .groupby(["backend", "variant", "workers"], observed=True)[UNCERTAINTY]
        .max()
    )
    cases = ", ".join(f"{_label(b, v)} w{w} ±{fmt_seconds(u)}" for (b, v, w), u in worst.items())
    return (
        f" Clocks of other hosts are known only within an uncertainty ({cases}): a remote "
        "worker's bars may sit that much earlier or later against the driver's submit and "
        "arrival, so dispatch and return shorter than it are not measured facts."
    )


# The Gantt page ------------------------------------------------------------------------------


def gantt(data: ReportData, scenario: str) -> list[Page]:
    """Each case's median-makespan round: a panel per backend (rows) and worker count
    (columns, the largest few), a row per worker, a bar per task; one time axis for all."""
    frame = _tasks(data, scenario)
    if frame.empty:
        return []
    shown = timelines.representative(frame)
    busy = timelines.workers(shown)
    shown = shown.sort_values([*timelines.CASE_KEYS, "worker", "start_s"])
    shown = shown.assign(lane=_lanes(shown))
    param_sets = sorted(shown["params"].unique())
    several = len(param_sets) > 1
    if several:  # a sweep: its first and last sets, and evenly between
        picks = np.linspace(0, len(param_sets) - 1, min(len(param_sets), MAX_PARAM_PAGES))
        param_sets = [param_sets[int(round(i))] for i in picks]
    pages: list[Page] = []
    for params in param_sets:
        sub = shown[shown["params"] == params]
        base = f"{scenario}-gantt" + (f"-{len(pages) + 1}" if several else "")
        what = "where each task ran" + (f" · {params_label(params)}" if several else "")
        pages += _gantt_pages(data, sub, busy, base, scenario, what)
    return pages


def _columns(sub: pd.DataFrame) -> list[int]:
    """The worker counts drawn side by side: the largest few (the sequential loop's one
    worker only when nothing else ran it)."""
    scaled = sub.loc[sub["backend"] != BASELINE, "workers"]
    counts = sorted(int(w) for w in (scaled if len(scaled) else sub["workers"]).unique())
    return counts[-MAX_COLUMNS:]


def _gantt_pages(
    data: ReportData, sub: pd.DataFrame, busy: pd.DataFrame, base: str, scenario: str, what: str
) -> list[Page]:
    """One parameter set's Gantt pages: panel rows split over pages by how many workers
    they draw, every page on the same time axis."""
    columns = _columns(sub)
    sub = sub[sub["workers"].isin(columns)]
    rank = {b: i for i, b in enumerate(order(sub["backend"]))}
    machines = {m: i for i, m in enumerate(data.machines)}
    keys = sub[["backend", "variant", "machine"]].drop_duplicates()
    keys = sorted(
        map(tuple, keys.to_numpy()), key=lambda k: (rank[k[0]], k[1], machines.get(k[2], 99))
    )
    heights = [
        max(
            sum(n for _, n in _rows(case))
            for _, case in sub[
                (sub["backend"] == b) & (sub["variant"] == v) & (sub["machine"] == m)
            ].groupby("workers")
        )
        for b, v, m in keys
    ]
    chunk: list[tuple[tuple[str, str, str], int]]
    pages, chunk, rows = [], [], 0.0
    for key, height in zip(keys, heights, strict=True):
        if chunk and rows + height + PANEL_PAD > PAGE_ROWS:
            pages.append(chunk)
            chunk, rows = [], 0.0
        chunk.append((key, height))
        rows += height + PANEL_PAD
    pages.append(chunk)
    span = float(sub["arrival_s"].max())
    several_machines = sub["machine"].nunique() > 1
    out = []
    for index, chunk in enumerate(pages):
        fig = _gantt_figure(sub, busy, chunk, columns, span, several_machines)
        _suptitle(fig, scenario, f"{what}: {_round_text(sub)}", _gantt_note(sub))
        out.append((_page_name(base, index, len(pages)), fig))
    return out


def _round_text(sub: pd.DataFrame) -> str:
    """'round 2 of 3, the median makespan' when every case drew the same round, else
    each case's own (said in each panel)."""
    pairs = sub[["round", "rounds"]].drop_duplicates()
    if len(pairs) == 1:
        r, n = (int(x) for x in pairs.iloc[0])
        return f"round {r} of {n}, the median makespan" if n > 1 else "each case's one round"
    return "each case's median-makespan round"


def _gantt_note(sub: pd.DataFrame) -> str:
    return (
        "One case per panel: its timeline pass (the latency pass's batch, every task stamped "
        "where it ran), in the round whose makespan is the median of its rounds. A row per "
        "worker (process or thread), ordered by its first task, with a lane for each task it "
        f"ran at once (at most {MAX_ROWS} lanes a panel); a bar per task, service solid; "
        "dispatch and return as thin strips behind it, so they show where a worker waited on "
        "the engine. Dashed: the last result in the driver. "
        "busy: the workers' mean share of the makespan spent in tasks. Every panel shares "
        "the time axis." + _uncertain(sub)
    )


def _gantt_figure(
    sub: pd.DataFrame,
    busy: pd.DataFrame,
    chunk: Sequence[tuple[tuple[str, str, str], int]],
    columns: list[int],
    span: float,
    several_machines: bool,
) -> Figure:
    """One page of Gantt panels: `chunk` is its panel rows, (backend, variant, machine) and
    the worker rows the tallest of them draws."""
    ratios = [height + PANEL_PAD for _, height in chunk]
    fig, axes = new_figure(
        len(chunk),
        len(columns),
        figsize=A4_LANDSCAPE,
        layout="constrained",
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": ratios, "hspace": 0.0},
    )
    colors = palette(sub["backend"].unique())
    for row, ((backend, variant, machine), _) in enumerate(chunk):
        for col, workers in enumerate(columns):
            ax = axes[row, col]
            case = sub[
                (sub["backend"] == backend)
                & (sub["variant"] == variant)
                & (sub["machine"] == machine)
                & (sub["workers"] == workers)
            ]
            if case.empty:
                ax.set_visible(False)
                continue
            _gantt_panel(ax, case, busy, colors[backend])
            name = _label(backend, variant) + (f" on {machine}" if several_machines else "")
            name += f", {workers} worker{'s' if workers != 1 else ''}"
            ax.set_title(
                name, loc="left", fontsize=8.5, weight="bold", color=colors[backend], pad=2
            )
    for col in range(len(columns)):
        visible = [ax for ax in axes[:, col] if ax.get_visible()]
        if visible:
            visible[-1].tick_params(labelbottom=True)
            visible[-1].set_xlabel("seconds since the batch was submitted (driver clock)")
    axes[0, 0].set_xlim(0, span * 1.02)  # shared: every panel of every page alike
    _seconds_ticks(axes[0, 0])
    _bottom_legend(
        fig, [Patch(color=PHASE_COLORS[p], label=PHASE_LABELS[p]) for p in timelines.PHASES]
    )
    return fig


def case_figure(case: pd.DataFrame, title: str) -> Figure:
    """One case's round as a Gantt chart of its own (`harness timeline --output`): the same
    panel, colours and legend as the report's Gantt page."""
    case = case.assign(
        lane=_lanes(case),
        rounds=case["round"].nunique(),
        variant=case["variant"].astype("string").fillna(""),
    )
    rows = sum(n for _, n in _rows(case))
    fig, axes = new_figure(
        1, 1, figsize=(10, 1.8 + 0.35 * rows), layout="constrained", squeeze=False
    )
    ax = axes[0, 0]
    backend = str(case["backend"].iloc[0])
    _gantt_panel(ax, case, timelines.workers(case), palette([backend])[backend])
    ax.set_title(title, loc="left", fontsize=9, pad=14)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the batch was submitted (driver clock)")
    _seconds_ticks(ax)
    _bottom_legend(
        fig, [Patch(color=PHASE_COLORS[p], label=PHASE_LABELS[p]) for p in timelines.PHASES]
    )
    return fig


def _bars(
    ax: Axes,
    y: np.ndarray,
    left: np.ndarray,
    width: np.ndarray,
    height: float,
    color: str,
    edge: str,
    zorder: float,
) -> None:
    """Horizontal bars as one collection (hundreds of tasks draw as fast as one)."""
    x0, x1 = left, left + np.maximum(width, 0)
    verts = np.stack(
        [
            np.column_stack([x0, y - height / 2]),
            np.column_stack([x0, y + height / 2]),
            np.column_stack([x1, y + height / 2]),
            np.column_stack([x1, y - height / 2]),
        ],
        axis=1,
    )
    # an (N, 4, 2) array of vertices: matplotlib takes it, its stub lists only sequences
    ax.add_collection(
        PolyCollection(
            verts,  # type: ignore[arg-type]
            facecolors=color,
            edgecolors=edge,
            linewidths=0.3,
            zorder=zorder,
        )
    )


def _gantt_panel(ax: Axes, case: pd.DataFrame, busy: pd.DataFrame, color: str) -> None:
    """One case: a row per worker (the earliest first; a lane per task it ran at once),
    each task's service as a bar, its dispatch (below the middle) and return (above it) as
    strips behind the bars."""
    rows = _rows(case)
    base = dict(zip([w for w, _ in rows], np.cumsum([0] + [n for _, n in rows])[:-1], strict=True))
    drawn = case["worker"].astype(str).map(dict(rows))
    t = case[drawn.notna() & (case["lane"] < drawn)]
    y = (t["worker"].astype(str).map(base) + t["lane"]).to_numpy(float)
    lanes = sum(n for _, n in rows)
    edge = "white" if len(t) / lanes <= SEPARATED else PHASE_COLORS["service_s"]
    _bars(
        ax,
        y + 0.14,
        t["submit_s"].to_numpy(),
        t["dispatch_s"].to_numpy(),
        0.16,
        PHASE_COLORS["dispatch_s"],
        PHASE_COLORS["dispatch_s"],
        1,
    )
    _bars(
        ax,
        y - 0.14,
        t["end_s"].to_numpy(),
        t["return_s"].to_numpy(),
        0.16,
        PHASE_COLORS["return_s"],
        PHASE_COLORS["return_s"],
        1,
    )
    _bars(
        ax,
        y,
        t["start_s"].to_numpy(),
        t["service_s"].to_numpy(),
        0.62,
        PHASE_COLORS["service_s"],
        edge,
        2,
    )
    ax.axvline(float(case["arrival_s"].max()), color=color, ls="--", lw=1)
    for worker, _ in rows[1:]:  # a worker's lanes apart from the next worker's
        ax.axhline(base[worker] - 0.5, color="#bbbbbb", lw=0.6)
    ax.set_ylim(lanes - 0.5, -0.5)  # the first worker on top
    ax.set_yticks([base[w] + (n - 1) / 2 for w, n in rows], [w for w, _ in rows])
    ax.tick_params(axis="y", labelsize=6.5 if lanes > 4 else 7.5, length=0, pad=2)
    ax.grid(axis="y", visible=False)
    ax.set_title(_panel_note(case, busy, rows), loc="right", fontsize=7, pad=2, color="#333333")


def _panel_note(case: pd.DataFrame, busy: pd.DataFrame, rows: list[tuple[str, int]]) -> str:
    """'400 tasks · round 2 of 3 · busy 91% · up to 2 at once in one worker · 8 of 24
    workers, 132 tasks not drawn'"""
    r, n = int(case["round"].iloc[0]), int(case["rounds"].iloc[0])
    mine = busy[
        (busy["run_id"] == case["run_id"].iloc[0]) & (busy["case_id"] == case["case_id"].iloc[0])
    ]
    workers = case["worker"].nunique()
    most = int(case["lane"].max()) + 1
    lanes = case["worker"].astype(str).map(dict(rows)).fillna(0)
    unseen = int((case["lane"] >= lanes).sum())
    left_out = f"{workers - len(rows)} of {workers} workers, " if workers > len(rows) else ""
    parts = [
        f"{len(case)} tasks",
        f"round {r} of {n}" if n > 1 else "",
        f"busy {mine['busy_fraction'].mean():.0%}" if not mine.empty else "",
        f"up to {most} at once in one worker" if most > 1 else "",
        f"{left_out}{unseen} tasks not drawn" if unseen else "",
    ]
    return " · ".join(p for p in parts if p)


# Mean phases ---------------------------------------------------------------------------------


def phases(data: ReportData, scenario: str) -> list[Page]:
    """Per case, the mean dispatch, service and return of a task over every round, stacked:
    the mean time from submit to result, split where it went."""
    frame = _tasks(data, scenario)
    if frame.empty:
        return []
    means = _case_means(frame)
    pages = []
    for index, total, fig, cells in _panel_pages(means, data.machines, 4):
        for ax, machine, params, sub in cells:
            _phase_panel(ax, sub)
            ax.set_title(_title(machine, params, data, means))
        _bottom_legend(
            fig, [Patch(color=PHASE_COLORS[p], label=PHASE_LABELS[p]) for p in timelines.PHASES]
        )
        rounds = sorted(int(r) for r in means["rounds"].unique())
        over = f"each case's {rounds[0]} rounds" if rounds != [1] else "each case's one round"
        if len(rounds) > 1:
            over = f"every round of each case ({' to '.join(map(str, rounds[:: len(rounds) - 1]))})"
        _suptitle(
            fig,
            scenario,
            "where a task's time went: dispatch, service, return",
            "mean per task of the timeline pass (the latency pass's batch, all tasks submitted "
            f"at once), over {over}; the three add "
            "up to the mean time from submit to result (the label). Dispatch includes the "
            "time a task queued behind others, so it grows with the batch per worker."
            + _phase_uncertainty(means),
        )
        pages.append((_page_name(f"{scenario}-phases", index, total), fig))
    return pages


def _case_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per case: the mean of each phase over its rounds (each round's batch is the same
    size, so the mean of the rounds' means is the mean per task), the clock uncertainty's
    maximum and the machine it ran on."""
    per_round = timelines.phase_means(frame)
    keys = [
        k for k in per_round.columns if k not in (*timelines.PHASES, UNCERTAINTY, "tasks", "round")
    ]
    means = (
        per_round.groupby(keys, observed=True, dropna=False)
        .agg(
            rounds=("round", "nunique"),
            **{p: (p, "mean") for p in timelines.PHASES},
            **{UNCERTAINTY: (UNCERTAINTY, "max")},
        )
        .reset_index()
    )
    machine = frame[["run_id", "case_id", "machine"]].drop_duplicates()
    means = means.merge(machine, on=["run_id", "case_id"])
    return means.assign(variant=means["variant"].astype("string").fillna(""))


def _phase_panel(ax: Axes, sub: pd.DataFrame) -> None:
    """A stacked bar per case (backend, then workers), its total at its end."""
    rank = {b: i for i, b in enumerate(order(sub["backend"]))}
    sub = sub.assign(rank=sub["backend"].map(rank)).sort_values(["rank", "variant", "workers"])
    colors = palette(sub["backend"].unique())
    y = np.arange(len(sub))
    left = np.zeros(len(sub))
    for phase in timelines.PHASES:
        values = sub[phase].to_numpy(float)
        ax.barh(y, values, left=left, height=0.7, color=PHASE_COLORS[phase], lw=0)
        left += values
    for yi, total in zip(y, left, strict=True):
        ax.annotate(
            fmt_seconds(total),
            (total, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    flagged = (sub[UNCERTAINTY] > sub[["dispatch_s", "return_s"]].min(axis=1)).to_numpy()
    cases = zip(sub["backend"], sub["variant"], sub["workers"], flagged, strict=True)
    labels = [f"{_label(b, v)} w{w}{' *' if f else ''}" for b, v, w, f in cases]
    ax.set_yticks(y, labels)
    for label, backend in zip(ax.get_yticklabels(), sub["backend"], strict=True):
        label.set_color(colors[backend])
    ax.set_ylim(len(sub) - 0.5, -0.5)
    ax.set_xlim(0, float(left.max()) * 1.18 if len(left) and left.max() > 0 else 1)
    _seconds_ticks(ax)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("mean per task, submit to result")


def _phase_uncertainty(means: pd.DataFrame) -> str:
    """The note's sentence on cases whose clock uncertainty exceeds a segment, if any."""
    smaller = means[UNCERTAINTY] > means[["dispatch_s", "return_s"]].min(axis=1)
    over = means[(means[UNCERTAINTY] > 0) & smaller]
    if over.empty:
        return ""
    cases = ", ".join(
        f"{_label(r.backend, r.variant)} w{r.workers} ±{fmt_seconds(r[UNCERTAINTY])}"
        for _, r in over.iterrows()
    )
    return (
        f" *: the clock uncertainty of a remote node exceeds a segment of the bar ({cases}): "
        "how its time splits between dispatch and return is not a measured fact there, only "
        "their sum with the service is."
    )
