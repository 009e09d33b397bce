"""Every repeat as a point, by round, beside its case's median and interval; outliers
circled by a stated rule (the modified z-score), never dropped.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from harness.analysis import summaries
from harness.measure.stats import level_text
from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    Page,
    _bottom_legend,
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
                    (table["machine"] == machine)
                    & (table["params"] == params)
                    & (table["backend"] == case.backend)
                    & (table["variant"] == case.variant)
                    & (table["workers"] == case.workers)
                ]
                far, level = _repeats_of_case(ax, x, points, row, rng, round_colors)
                outliers += far
                if level is not None:
                    levels.add(level)
                labels.append(_case_label(case.backend, case.variant, int(case.workers)))
            ax.set_xticks(
                range(len(labels)),
                labels,
                rotation=30 if len(labels) > 4 else 0,
                ha="right" if len(labels) > 4 else "center",
            )
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
            f"interval ({interval or 'none: too few processes or repeats for one'}). Outlier "
            "rule: "
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
        x - 0.18 + jitter,
        values,
        s=30,
        zorder=3,
        alpha=0.85,
        linewidths=0,
        c=[round_colors.get(int(r), "grey") for r in points["round"]],
    )
    far = np.abs(modified_z(values)) > OUTLIER_Z
    ax.scatter(
        x - 0.18 + jitter[far],
        values[far],
        s=70,
        facecolors="none",
        edgecolors="#d62728",
        linewidths=1.3,
        zorder=4,
    )
    if row.empty:
        return int(far.sum()), None
    r = row.iloc[0]
    low, high = r["ci_low"], r["ci_high"]
    level = None
    if pd.notna(low):
        ax.errorbar(
            x + 0.18,
            r["median"],
            yerr=[[r["median"] - low], [high - r["median"]]],
            fmt="none",
            ecolor="black",
            capsize=4,
            lw=1.4,
            zorder=3,
        )
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
        Line2D(
            [],
            [],
            color="black",
            marker="_",
            ms=12,
            mew=2,
            ls="-",
            lw=1.2,
            label="median and its interval",
        ),
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            ms=9,
            mfc="none",
            mec="#d62728",
            mew=1.3,
            label=f"outlier: |modified z| > {OUTLIER_Z} ({outliers} here)",
        ),
    ]
