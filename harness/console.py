"""Terminal tables for run summaries, shared by `run` and `show`."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.measure.stats import UNSTABLE_CV

STATUS_STYLE = {
    "ok": "green",
    "error": "red",
    "crashed": "red",
    "timeout": "yellow",
    "interrupted": "yellow",
}


def fmt_seconds(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def fmt_bytes(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def fmt_number(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def fmt_interval(median: float, low: float, high: float) -> str:
    """'47.2 ms (42.1-49.7)': the interval in the median's unit, so it reads at a glance."""
    if median is None or not math.isfinite(median):
        return "-"
    text = fmt_seconds(median)
    unit = text.split()[-1]
    scale = {"s": 1, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}[unit]
    if math.isfinite(low) and math.isfinite(high):
        text += f" ({low / scale:.3g}-{high / scale:.3g})"
    return text


def summary_table(table: pd.DataFrame, title: str = "") -> Table:
    """Backend, workers, median wall with its interval, throughput, scaling, start-up, memory."""
    several_params = table["params"].nunique() > 1
    several_runs = table["run_id"].nunique() > 1
    out = Table(title=title or None, header_style="bold", show_lines=False)
    if several_runs:
        out.add_column("run")
    several_scenarios = table["scenario"].nunique() > 1
    if several_scenarios:
        out.add_column("scenario")
    if several_params:
        out.add_column("params")
    has_bytes = "bytes_per_s" in table and table["bytes_per_s"].notna().any()
    for name in (
        "backend",
        "workers",
        "status",
        "wall (95% CI)",
        "cv",
        "tasks/s",
        *(["bytes/s"] if has_bytes else []),
        "speedup",
        "efficiency",
        "startup",
        "cpu",
        "mem/worker",
    ):
        left = name in ("backend", "status")
        out.add_column(name, justify="left" if left else "right", no_wrap=name == "backend")
    for row in table.itertuples(index=False):
        unstable = getattr(row, "unstable", False) in (True, 1)  # NaN (no wall) is not unstable
        status = f"[{STATUS_STYLE.get(row.status, 'white')}]{row.status}[/]"
        ci = fmt_interval(row.median, row.ci_low, row.ci_high)
        cv = f"{row.cv:.1%}" if math.isfinite(row.cv or math.nan) else "-"
        if unstable:
            cv = f"[yellow]{cv} ![/]"
        cells = []
        if several_runs:
            cells.append(str(row.run_id))
        if several_scenarios:
            cells.append(str(row.scenario))
        if several_params:
            cells.append(str(row.params))
        cells += [
            # swept backend options (start methods) show as processes[start_method=fork]
            escape(str(row.case_id).split("/")[1]) if "[" in str(row.case_id) else str(row.backend),
            str(row.workers),
            status,
            ci,
            cv,
            fmt_number(row.tasks_per_s),
            *([fmt_bytes(row.bytes_per_s) + "/s"] if has_bytes else []),
            fmt_number(row.speedup, 2) + ("x" if math.isfinite(row.speedup) else ""),
            f"{row.efficiency:.0%}" if math.isfinite(row.efficiency) else "-",
            fmt_seconds(row.startup_s),
            f"{row.cpu_util:.0%}" if math.isfinite(row.cpu_util) else "-",
            fmt_bytes(row.worker_uss_bytes),
        ]
        out.add_row(*cells)
    return out


def print_summary(console: Console, table: pd.DataFrame, title: str = "") -> None:
    if table.empty:
        console.print("no measurements")
        return
    console.print(summary_table(table, title))
    unstable = table[table["unstable"].fillna(False).astype(bool)]
    if not unstable.empty:
        console.print(
            f"[yellow]! {len(unstable)} case(s) unstable: the coefficient of variation of wall "
            f"time is above {UNSTABLE_CV:.0%}. Use more repeats, or a quieter machine.[/]"
        )
    failed = table[table["status"] != "ok"]
    for row in failed.itertuples(index=False):
        console.print(f"[red]{row.case_id}: {row.status}[/] {row.error}")
