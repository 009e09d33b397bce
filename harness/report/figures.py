"""The report's figures, one function each; every function takes result frames only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from harness.report.style import order, palette

A4_LANDSCAPE = (11.69, 8.27)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]


def throughput(df: pd.DataFrame, scenario: str) -> Figure | None:
    """tasks/s against workers per backend, with 95% bootstrap bands and ideal scaling."""
    data = _ok(df[(df["scenario"] == scenario) & (df["metric"] == "tasks_per_s")])
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=A4_LANDSCAPE)
    backends = order(data["backend"])
    colors = palette(backends)
    scalable = data[data["backend"] != "sequential"]
    sns.lineplot(
        data=scalable,
        x="workers",
        y="value",
        hue="backend",
        hue_order=[b for b in backends if b != "sequential"],
        palette=colors,
        marker="o",
        estimator="median",
        errorbar=("ci", 95),
        n_boot=1000,
        seed=0,
        ax=ax,
    )
    seq = data[data["backend"] == "sequential"]
    if not seq.empty:
        base = seq["value"].median()
        ws = np.array(sorted(data["workers"].unique()))
        ax.axhline(base, color=colors["sequential"], ls="--", lw=1, label="sequential")
        ax.plot(ws, base * ws, color="black", ls=":", lw=1, label="ideal (sequential x workers)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(data["workers"].unique()))
    ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
    ax.set_xlabel("workers")
    ax.set_ylabel("throughput [tasks/s] (median, 95% CI)")
    ax.set_title(f"{scenario}: throughput by backend and workers")
    ax.legend(title="backend")
    return fig


def startup(df: pd.DataFrame, scenario: str) -> Figure | None:
    """Start-up (until every worker ran a task) and teardown per backend, log scale."""
    data = _ok(df[(df["scenario"] == scenario) & df["metric"].isin(["startup_s", "teardown_s"])])
    data = data[data["backend"] != "sequential"]
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=A4_LANDSCAPE)
    backends = order(data["backend"])
    sns.barplot(
        data=data,
        x="backend",
        y="value",
        hue="metric",
        order=backends,
        ax=ax,
        estimator="median",
        errorbar=None,
    )
    for container in ax.containers:
        ax.bar_label(container, fmt=lambda v: _seconds(v), fontsize=8, padding=2)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median over worker counts, log scale)")
    ax.set_xlabel("")
    ax.set_title(f"{scenario}: start-up and teardown by backend")
    return fig


def speedup(table: pd.DataFrame, scenario: str) -> Figure | None:
    """Speedup and efficiency against workers, from the case table."""
    data = table[
        (table["scenario"] == scenario)
        & (table["status"] == "ok")
        & (table["backend"] != "sequential")
    ].dropna(subset=["speedup"])
    if data.empty:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=A4_LANDSCAPE)
    backends = order(data["backend"])
    colors = palette(backends)
    for backend in backends:
        sub = data[data["backend"] == backend].sort_values("workers")
        ax1.plot(sub["workers"], sub["speedup"], marker="o", color=colors[backend], label=backend)
        ax2.plot(
            sub["workers"], sub["efficiency"], marker="o", color=colors[backend], label=backend
        )
    ws = sorted(data["workers"].unique())
    ax1.plot(ws, ws, color="black", ls=":", lw=1, label="ideal")
    ax2.axhline(1.0, color="black", ls=":", lw=1)
    ax1.set(xlabel="workers", ylabel="speedup vs sequential", title="speedup")
    ax2.set(xlabel="workers", ylabel="efficiency = speedup / workers", title="efficiency")
    ax2.set_ylim(0, max(1.1, float(data["efficiency"].max()) * 1.1))
    for ax in (ax1, ax2):
        ax.set_xticks(ws)
    ax1.legend()
    fig.suptitle(f"{scenario}: scaling")
    return fig


def _seconds(v: float) -> str:
    if not np.isfinite(v):
        return ""
    return f"{v * 1e3:.0f} ms" if v < 1 else f"{v:.2f} s"
