"""A scenario's scaling fits (`analysis.scaling`): measured throughput with its interval
against workers, the fitted Amdahl or USL curve, the peak N* marked, and the part of the
curve beyond twice the largest N measured dashed (a prediction, not a measurement)."""

from __future__ import annotations

import math

import numpy as np

from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    A4_LANDSCAPE,
    Page,
    _backend_legend,
    _page_name,
    _suptitle,
    new_figure,
)
from harness.output.reports.scaling_figures import _median_band
from harness.output.reports.style import order, palette
from harness.protocol import Metric

#: A family needs this many worker counts before a page draws its fit (fewer: the flag).
MIN_DRAWN_LEVELS = 3


def fits(data: ReportData, scenario: str) -> list[Page]:
    """One page per scenario with a sweep of at least `MIN_DRAWN_LEVELS` worker counts."""
    from harness.analysis import scaling

    df = data.df[(data.df["scenario"] == scenario) & (data.df["status"] == "ok")]
    frame = df[df["metric"] == Metric.TASKS_PER_S]
    if frame.empty or frame["workers"].nunique() < MIN_DRAWN_LEVELS:
        return []
    found = scaling.fit_scaling(df, resamples=200)
    found = found[found["levels"] >= MIN_DRAWN_LEVELS]
    if found.empty:
        return []
    curves = scaling.scaling_curve(found)
    backends = order(found["backend"])
    colors = palette(backends)
    params = list(dict.fromkeys(found["params"]))
    fig, grid = new_figure(
        1, len(params), figsize=A4_LANDSCAPE, layout="constrained", squeeze=False
    )
    axes = grid[0]
    for ax, param in zip(axes, params, strict=True):
        for backend in backends:
            rows = found[(found["backend"] == backend) & (found["params"] == param)]
            if rows.empty:
                continue
            row = rows.iloc[0]
            measured = frame[(frame["backend"] == backend) & (frame["params"] == param)]
            _median_band(ax, measured, colors[backend])
            curve = curves[(curves["backend"] == backend) & (curves["params"] == param)]
            near, far = curve[~curve["extrapolated"]], curve[curve["extrapolated"]]
            ax.plot(near["n"], near["throughput"], color=colors[backend], lw=1, alpha=0.8)
            ax.plot(far["n"], far["throughput"], color=colors[backend], lw=1, ls="--", alpha=0.8)
            peak = row["peak_workers"]
            if peak is not None and isinstance(peak, float | int) and math.isfinite(peak):
                top = float(row["peak_throughput"])
                ax.plot([peak], [top], marker="*", ms=12, color=colors[backend])
                ax.annotate(
                    f"N* {peak:.0f}",
                    (peak, top),
                    textcoords="offset points",
                    xytext=(4, 6),
                    fontsize=7,
                )
        ws = np.array(sorted(frame["workers"].unique()))
        beyond = 2.0 ** np.arange(np.ceil(np.log2(ws.max())) + 1, np.log2(3 * ws.max()) + 1)
        ticks = np.unique(np.concatenate([ws, beyond]))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_ylim(bottom=0)
        ax.set(xlabel="workers", ylabel="tasks/s", title=str(param))
    _backend_legend(fig, backends, [])
    verdicts = "; ".join(str(v) for v in found["verdict"])
    _suptitle(
        fig,
        scenario,
        "where adding workers stops paying",
        "points and band: median tasks/s and its interval over processes; line: the fitted "
        "model (Amdahl or the Universal Scalability Law, chosen by the test in "
        "`harness scaling`), dashed beyond twice the largest N measured; star: the peak "
        f"N*. {verdicts}",
    )
    return [(_page_name(f"{scenario}-fits", 0, 1), fig)]
