"""The page graph scenarios add: what crossed the driver, and how long the tasks waited.

A task graph is about data: where it went (`driver_bytes`: through the driver, or worker to
worker) and, for a broadcast, how long placing it held the first task back
(`first_task_start_s`). Both against the swept size, a line per backend; a shared value
passed by reference dashed, by value solid.
"""

from __future__ import annotations

import json

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from harness.output.reports.data import ReportData
from harness.output.reports.figures import (
    A4_LANDSCAPE,
    LOG_SPREAD,
    _maybe_log,
    _suptitle,
    new_figure,
    sweep_axis,
)
from harness.output.reports.style import order, palette
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

Page = tuple[str, Figure]
PANELS = {
    Metric.DRIVER_BYTES: "bytes through the driver per run of the graph (median over rounds)",
    Metric.FIRST_START_S: "graph submitted until its first task began (median)",
}


def data_paths(data: ReportData, scenario: str) -> list[Page]:
    """One page for a scenario that measured `driver_bytes`; none for any other."""
    df = data.df[(data.df["scenario"] == scenario) & (data.df["status"] == "ok")]
    metrics = [m for m in PANELS if (df["metric"] == m).any()]
    if Metric.DRIVER_BYTES not in metrics:
        return []
    axis = sweep_axis(data, scenario)
    x = axis[0] if axis else _size_param(df)
    medians = (
        df[df["metric"].isin(metrics)]
        .groupby(["backend", "workers", "params", "metric"], observed=True)["value"]
        .median()
        .unstack("metric")
        .reset_index()
    )
    params = pd.json_normalize([json.loads(p) for p in medians["params"]])
    medians["x"] = params[x].to_numpy() if x else 0
    medians["pass_by"] = params["pass_by"].to_numpy() if "pass_by" in params else ""
    fig, axes = new_figure(
        1, len(metrics), figsize=A4_LANDSCAPE, squeeze=False, layout="constrained"
    )
    backends = order(medians["backend"])
    colors = palette(backends)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for (backend, pass_by), line in medians.groupby(["backend", "pass_by"], sort=False):
            line = line.sort_values("x")
            label = f"{backend}, by {pass_by}" if pass_by else str(backend)
            ax.plot(
                line["x"],
                line[metric],
                marker="o",
                color=colors[backend],
                label=label,
                ls="--" if pass_by == "reference" else "-",
            )
        values = medians[metric].dropna()
        if x and medians["x"].max() / max(medians["x"].min(), 1e-12) >= LOG_SPREAD:
            ax.set_xscale("log")
        if x:  # ticks at the sizes run, not between them
            ax.set_xticks(sorted(medians["x"].unique()))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(v)))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        if metric == Metric.DRIVER_BYTES:
            ax.set_yscale("symlog", linthresh=1024)  # 0: nothing crossed a process boundary
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(v)))
        else:
            _maybe_log(ax, values)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_seconds(v)))
        ax.set(xlabel=x or "", title=PANELS[metric])
        ax.legend(fontsize=7)
    _suptitle(
        fig,
        scenario,
        "where the data went",
        "driver_bytes: the pickled size of every value the driver sent to a worker "
        "process or received from one, in an untimed run of the graph (0 for threads "
        "and sequential: nothing crosses a process boundary; a value placed once by "
        "reference counts once). Dashed: the shared value passed by reference.",
    )
    return [(f"{scenario}-data", fig)]


def _size_param(df: pd.DataFrame) -> str | None:
    """Without a sweep, the parameter that sizes the data (`..._bytes`), for the x axis."""
    names = {k for p in df["params"].unique() for k in json.loads(p)}
    sizes = sorted(n for n in names if n.endswith("_bytes"))
    return sizes[0] if sizes else None
