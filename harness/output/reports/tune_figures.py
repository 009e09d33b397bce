"""The pages of a `harness tune` run: the race over time, and the final intervals.

A tune run is stored like any run (each candidate a case, the `round` column its block),
and read back here as `harness tune` reads it (`analysis.tune.answer`, `racing.scores_of`),
so the pages and the command's answer cannot disagree:

- **the race over time**: each candidate's score per block, the speed `measure.racing`
  races on (its speedup over the sequential loop timed in the same process, else the
  sequential candidate's mean wall over its own), the looks where it could eliminate, and
  where each candidate left the race;
- **the final intervals**: every candidate that ran, its speedup over the sequential loop
  with its interval (95% or more) over its processes, coloured by how it ended, the winner's
  indifference zone shaded, and the answer in words below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from harness.analysis import tune as tuned
from harness.measure import racing
from harness.measure.stats import DEFAULT_LEVEL
from harness.output.reports import textfit
from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    _TEXT_WIDTH,
    A4_LANDSCAPE,
    Page,
    _bottom_legend,
    _page_name,
    _suptitle,
    new_figure,
)
from harness.output.reports.style import palette
from harness.output.tune import TuneView, ratio_text
from harness.units import fmt_seconds

#: How a candidate ended, as the intervals page colours it (`kind` of its status).
STATUS_COLORS = {
    "winner": "#1b9e3a",
    "runner-up": "#1f77b4",
    "tie": "#17becf",
    "not separated": "#9467bd",
    "eliminated": "#555555",
    "pruned": "#b0b0b0",
    "in the race": "#ff7f0e",
    "failed": "#d62728",
}
#: Where a candidate left the race, on the race page.
LEFT_MARKERS = {"eliminated": "X", "pruned": "v", "failed": "P"}
LOOK_COLOR = "#7a5195"
_MARKERS = ["o", "s", "^", "D", "v", "P", "*", "h", "<", ">"]
_STYLES = ["-", "--", "-.", ":"]


def kind(status: str) -> str:
    """'eliminated at block 5' -> 'eliminated'; 'runner-up (tie)' -> 'runner-up'; a
    process's failure ('timeout', 'error', 'crashed', ...) -> 'failed'."""
    for known in ("winner", "runner-up", "tie", "not separated", "eliminated", "pruned"):
        if status.startswith(known):
            return known
    return "in the race" if status == "survivor" else "failed"


def pages(data: ReportData, scenario: str) -> list[Page]:
    """Both pages of every tune run of `scenario` (none for a scenario never raced)."""
    return [*race(data, scenario), *intervals(data, scenario)]


def _raced(data: ReportData, scenario: str) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Each tune run of the scenario with its own measurements (as `results.load` gives
    them: the report's `machine` column left out)."""
    found = []
    for info in data.tune_runs(scenario):
        frame = data.df[data.df["run_id"].astype(str) == str(info.get("run_id"))]
        found.append((info, frame.drop(columns=["machine"], errors="ignore")))
    return found


def _what(info: dict[str, Any], several: bool) -> str:
    """'tunedemo:tiny, 5000 tasks a batch': what every candidate timed."""
    tune = info.get("tune", {})
    tasks = tune.get("probe", {}).get("tasks") or info.get("spec", {}).get("tasks")
    text = str(tune.get("workload") or info.get("spec", {}).get("workload") or "the workload")
    if tasks:
        text += f", {tasks} tasks a batch"
    return text + (f" (run {info.get('run_id')})" if several else "")


# The race over time ------------------------------------------------------------------------


def block_speeds(frame: pd.DataFrame, info: dict[str, Any]) -> pd.DataFrame:
    """One row per candidate process: case_id, block and its speed (the race's score as a
    speedup over the sequential loop, `racing.speed` of that one block)."""
    candidates = info.get("tune", {}).get("candidates", [])
    base = next((c["case_id"] for c in candidates if c["backend"] == "sequential"), "")
    scores = racing.scores_of(frame, base) if not frame.empty else {}
    walls = [s.log_wall for s in scores.get(base, {}).values()]
    if not walls:  # as the race did: every process's mean wall
        walls = [s.log_wall for per in scores.values() for s in per.values()]
    base_log = float(np.mean(walls)) if walls else 0.0
    rows = [
        {"case_id": case_id, "block": block, "speed": math.exp(racing.speed({block: s}, base_log))}
        for case_id, per in scores.items()
        for block, s in sorted(per.items())
    ]
    return pd.DataFrame(rows, columns=["case_id", "block", "speed"])


def _styles(candidates: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str, Any]]:
    """case_id -> colour (its backend's), marker and line style (its place among its
    backend's candidates), so candidates of one backend stay apart."""
    colors = palette(dict.fromkeys(c["backend"] for c in candidates))
    seen: dict[str, int] = {}
    found = {}
    for c in candidates:
        i = seen[c["backend"]] = seen.get(c["backend"], -1) + 1
        found[c["case_id"]] = (
            colors[c["backend"]],
            _MARKERS[i % len(_MARKERS)],
            _STYLES[(i // len(_MARKERS)) % len(_STYLES)],
        )
    return found


def _ratio_axis(ax: Axes, which: str, values: Sequence[float]) -> None:
    """A log axis of speedups (`which`: "x" or "y"), ticked at round ratios ('0.5x', '2x')."""
    v = np.asarray([x for x in values if math.isfinite(x) and x > 0], dtype=float)
    low, high = (float(v.min()), float(v.max())) if len(v) else (0.5, 2.0)
    low, high = min(low, 1.0) / 1.15, max(high, 1.0) * 1.15
    ticks = [
        t
        for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 20, 50, 100)
        if low <= t <= high
    ]
    if which == "x":
        ax.set_xscale("log")
        ax.set_xlim(low, high)
    else:
        ax.set_yscale("log")
        ax.set_ylim(low, high)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
    axis.set_minor_formatter(NullFormatter())


def race(data: ReportData, scenario: str) -> list[Page]:
    """Each candidate's speed per block, the looks, and where candidates left."""
    runs = _raced(data, scenario)
    pages = []
    for index, (info, frame) in enumerate(runs):
        tune = info.get("tune", {})
        candidates = tune.get("candidates", [])
        speeds = block_speeds(frame, info)
        if speeds.empty:
            continue
        fig, ax = new_figure(figsize=A4_LANDSCAPE, layout="constrained")
        winner = (tune.get("winner") or {}).get("case_id")
        handles = _race_lines(ax, speeds, candidates, winner)
        unplaced, left = _race_exits(ax, speeds, tune.get("decisions", {}), candidates)
        _looks(ax, tune.get("looks") or [])
        ax.axhline(1, color="#333333", lw=0.8, ls="--", zorder=0)
        _ratio_axis(ax, "y", speeds["speed"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.7, max(int(speeds["block"].max()), 2) + 0.3)
        ax.set(
            xlabel="block (every candidate still in the race: one fresh process a block)",
            ylabel="speedup over the sequential loop in that process",
        )
        _bottom_legend(fig, [*handles, *_race_keys(bool(tune.get("looks")), left)])
        title = f"the race over time: {_what(info, len(runs) > 1)}"
        _suptitle(fig, scenario, title, _race_note(tune, speeds, unplaced))
        pages.append((_page_name(f"{scenario}-race", index, len(runs)), fig))
    return pages


def _looks(ax: Axes, looks: Sequence[dict[str, Any]]) -> None:
    """A vertical line at each look's block, named."""
    for look in looks:
        ax.axvline(look["block"], color=LOOK_COLOR, ls=(0, (4, 3)), lw=1.3, zorder=2)
        ax.annotate(
            f"look {look['look']}",
            (look["block"], 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=LOOK_COLOR,
        )


def _race_keys(looks: bool, left: set[str]) -> list[Line2D]:
    """The legend's keys besides the candidates: the looks, and each kind of exit drawn."""
    keys = []
    if looks:
        line = Line2D([], [], color=LOOK_COLOR, ls=(0, (4, 3)), lw=1.3)
        line.set_label("a look: the race may eliminate")
        keys.append(line)
    for how, marker in LEFT_MARKERS.items():
        if how in left:
            color = STATUS_COLORS["failed"] if how == "failed" else "#222222"
            face = "none" if how == "pruned" else color
            keys.append(Line2D([], [], ls="", marker=marker, color=color, mfc=face, ms=8))
            keys[-1].set_label(how)
    return keys


def _race_note(tune: dict[str, Any], speeds: pd.DataFrame, unplaced: list[str]) -> str:
    """What each point is, who never shows, and why the race stopped."""
    note = (
        "each point: one fresh process of a candidate, its speedup over the sequential "
        "loop (the loop timed beside each repeat in the same process; the sequential "
        "candidate's mean wall over its own where it had none): the score the race "
        "compares. Block 1 ran every pass (start-up, memory, per-task overhead); later "
        "blocks only the warm-up and repeats, in a random order. Thick line: the winner; "
        "markers: where a candidate left the race."
    )
    if unplaced:
        note += f" Pruned before they ran: {', '.join(unplaced)}."
    ran = set(speeds["case_id"]) | set(tune.get("decisions", {}))
    never = [c["label"] for c in tune.get("candidates", []) if c["case_id"] not in ran]
    if never:
        note += f" Never ran (the race stopped first): {', '.join(never)}."
    stopped = str(tune.get("stopped") or "?")
    if tune.get("error"):
        stopped += f" ({tune['error']})"
    return note + f" Stopped after block {tune.get('blocks', '?')}: {stopped}."


def _race_lines(
    ax: Axes, speeds: pd.DataFrame, candidates: Sequence[dict[str, Any]], winner: str | None
) -> list[Line2D]:
    styles = _styles(candidates)
    handles = []
    for c in candidates:
        mine = speeds[speeds["case_id"] == c["case_id"]]
        if mine.empty:
            continue
        color, marker, style = styles[c["case_id"]]
        first = c["case_id"] == winner
        (line,) = ax.plot(
            mine["block"],
            mine["speed"],
            color=color,
            marker=marker,
            ls=style,
            lw=3.2 if first else 1.2,
            ms=7 if first else 4.5,
            alpha=1.0 if first else 0.7,
            zorder=5 if first else 3,
            label=f"{c['label']} (winner)" if first else c["label"],
        )
        handles.append(line)
    if winner is not None:  # the winner first in the legend
        handles.sort(key=lambda h: not str(h.get_label()).endswith("(winner)"))
    return handles


def _race_exits(
    ax: Axes,
    speeds: pd.DataFrame,
    decisions: dict[str, dict[str, Any]],
    candidates: Sequence[dict[str, Any]],
) -> tuple[list[str], set[str]]:
    """A marker where each candidate left (its score in that block, else its last one);
    returns the labels of those pruned before they ran (no score to place), and the kinds
    of exit drawn."""
    labels = {c["case_id"]: c["label"] for c in candidates}
    unplaced, drawn = [], set()
    for case_id, decision in decisions.items():
        how = kind(str(decision.get("status", "")))
        mine = speeds[speeds["case_id"] == case_id]
        if mine.empty:
            unplaced.append(labels.get(case_id, case_id))
            continue
        block = int(decision.get("block", 0))
        drawn.add(how if how in LEFT_MARKERS else "failed")
        at = mine[mine["block"] == block]
        y = float((at if len(at) else mine.tail(1))["speed"].iloc[0])
        ax.plot(
            [block],
            [y],
            ls="",
            marker=LEFT_MARKERS.get(how, "P"),
            ms=10,
            zorder=6,
            color=STATUS_COLORS["failed"] if how == "failed" else "#222222",
            mfc="none" if how == "pruned" else None,
            mew=1.5,
        )
    return unplaced, drawn


# The final intervals -----------------------------------------------------------------------


def intervals(data: ReportData, scenario: str) -> list[Page]:
    """A forest plot of the candidates that ran, and the answer in words."""
    runs = _raced(data, scenario)
    pages = []
    for index, (info, frame) in enumerate(runs):
        found = tuned.answer(frame, info)
        rows = found.rows[np.isfinite(found.rows["speedup"].astype(float))]
        if rows.empty:
            continue
        rows = rows.sort_values("speedup", ascending=True)  # the fastest on top
        fig, ax = new_figure(figsize=A4_LANDSCAPE, layout="constrained")
        kinds = _forest(ax, rows, found)
        handles = [Patch(color=STATUS_COLORS[k], label=k) for k in STATUS_COLORS if k in kinds]
        if found.winner is not None:
            handles.append(
                Patch(
                    color=STATUS_COLORS["winner"],
                    alpha=0.15,
                    label=f"within {found.indifference:.0%} of the winner: a tie",
                )
            )
        ax.legend(handles=handles, loc="best", framealpha=0.92, fontsize=8)  # the foot: text
        _suptitle(
            fig,
            scenario,
            f"the final intervals: {_what(info, len(runs) > 1)}",
            "each row: a candidate that ran, its speedup over the sequential loop (the "
            "Hodges-Lehmann centre of its processes' paired speedups, the loop timed beside "
            "each repeat; its walls against the loop's processes where it had no such "
            f"pairs) with its interval over those processes at {DEFAULT_LEVEL:.0%} or more "
            "(signed-rank; none from one process); right: how it ended, its processes and "
            "its time over the winner's. The race decides on those ratios to the leader, "
            "block by block at the stricter level of its looks (the text below): two "
            "speedup intervals may overlap and the race still tell the two apart.",
        )
        _text_below(fig, _answer_lines(found, info))
        pages.append((_page_name(f"{scenario}-intervals", index, len(runs)), fig))
    return pages


def _text_below(fig: Figure, paragraphs: Sequence[str], size: float = 9) -> None:
    """Paragraphs at the foot of the page, wrapped to the narrowest paper; the layout keeps
    the band free (above it: the panels and the legend)."""
    lines = [w for p in paragraphs for w in textfit.wrap(p, size, _TEXT_WIDTH)]
    height = fig.get_size_inches()[1]
    band = (len(lines) * size * 1.35 / 72 + 0.25) / height
    fig.text(
        0.01,
        band,
        "\n".join(lines),
        fontsize=size,
        va="top",
        ha="left",
        linespacing=1.35,
        color="#222222",
    )
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        left, bottom, width, tall = engine.get()["rect"]  # constrained: a width and height
        engine.set(rect=(left, bottom + band, width, tall - band))


def _forest(ax: Axes, rows: pd.DataFrame, found: tuned.TuneAnswer) -> set[str]:
    """The rows as points with their intervals; returns the kinds drawn."""
    kinds = [kind(str(s)) for s in rows["status"]]
    y = np.arange(len(rows))
    values = rows["speedup"].astype(float).to_numpy()
    low = rows["speedup_ci_low"].astype(float).to_numpy()
    high = rows["speedup_ci_high"].astype(float).to_numpy()
    for i, (k, v, lo, hi) in enumerate(zip(kinds, values, low, high, strict=True)):
        color = STATUS_COLORS[k]
        if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
            ax.plot([lo, hi], [i, i], color=color, lw=2.2, solid_capstyle="butt")
        big = k == "winner"
        ax.plot(
            [v],
            [i],
            "o",
            color=color,
            ms=9 if big else 6.5,
            zorder=4,
            mec="black" if big else color,
        )
    if found.winner is not None and math.isfinite(float(found.winner["speedup"])):
        w, zone = float(found.winner["speedup"]), 1 + found.indifference
        ax.axvspan(w / zone, w * zone, color=STATUS_COLORS["winner"], alpha=0.15, lw=0, zorder=0)
    ax.axvline(1, color="#333333", lw=0.8, ls="--", zorder=1)
    ax.set_yticks(y, list(rows["candidate"].astype(str)))
    right = ax.secondary_yaxis("right")
    right.set_yticks(y, [_row_note(r) for r in rows.to_dict("records")])
    right.tick_params(length=0, labelsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    _ratio_axis(ax, "x", [*values, *low, *high])
    ax.set_xlabel("speedup over the sequential loop (log scale; dashed: 1x, the loop itself)")
    ax.grid(axis="y", visible=False)
    return set(kinds)


def _row_note(r: dict[str, Any]) -> str:
    """'1.23x (0.95-1.43) · winner · 6 processes'."""
    text = ratio_text(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"])
    blocks = int(r["blocks"])
    text += f" · {r['status']} · {blocks} process{'es' if blocks != 1 else ''}"
    ratio = float(r["ratio_to_winner"])
    if math.isfinite(ratio) and ratio != 1.0:
        text += f"\n{ratio_text(ratio, r['ratio_ci_low'], r['ratio_ci_high'])} the winner's time"
    return text


def _answer_lines(found: tuned.TuneAnswer, info: dict[str, Any]) -> list[str]:
    """The answer as `harness tune` words it, with the probe, and what happened to the
    candidates that are not on the plot or left it."""
    lines = TuneView(found).summary()
    if found.error:
        lines.append(
            f"{found.blocks} block(s) in {found.spent_s:.0f} s of a {found.budget_s:.0f} s budget."
        )
    probe = found.probe
    if probe:
        wanted = probe.get("cpu_wanted", probe.get("cpu_use", 1.0))
        waits = wanted < 0.5
        lines.append(
            f"probe: a batch took {fmt_seconds(probe['sequential_batch_s'])} sequentially, "
            f"{fmt_seconds(probe['task_s'])} a task, CPU wanted {wanted:.0%}: the task "
            f"{'waits' if waits else 'computes'}; {len(found.rows)} candidates."
        )
    left = [line.strip() for line in TuneView(found).reasons()]
    if left:
        lines.append("why candidates left: " + "; ".join(left))
    never = [
        str(r["candidate"])
        for r in found.rows.to_dict("records")
        if int(r["blocks"]) == 0 and not r["reason"]
    ]
    if never:
        lines.append(f"never ran (the race stopped first): {', '.join(never)}.")
    return lines


# The title page ----------------------------------------------------------------------------


def headline(data: ReportData, scenario: str) -> str:
    """The race's answer in one sentence per tune run."""
    runs = _raced(data, scenario)
    found = []
    for info, frame in runs:
        a = tuned.answer(frame, info)
        where = f"{scenario} (run {info.get('run_id')})" if len(runs) > 1 else scenario
        if a.winner is None:
            found.append(f"{where}: the race gave no answer ({a.error or a.stopped or '?'}).")
            continue
        w = a.winner
        interval = ""
        if math.isfinite(float(w["speedup_ci_low"])):
            interval = f" (interval {w['speedup_ci_low']:.2f}-{w['speedup_ci_high']:.2f})"
        decided = "decided" if a.stopped in (racing.ONE_LEFT, racing.TIE) else "not decided"
        found.append(
            f"{where}: the race picked {w['candidate']}, {float(w['speedup']):.2f}x the "
            f"sequential loop{interval}; {decided}: {a.stopped}, after {a.blocks} blocks."
        )
    return " ".join(found)
