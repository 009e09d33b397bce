"""The summary table of runs in the terminal, shared by `run` and `show`."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.measure.stats import UNSTABLE_CV, level_text
from harness.render.units import (
    EFFICIENCY_MARKS,
    fmt_bytes,
    fmt_efficiency,
    fmt_interval,
    fmt_number,
    fmt_ratio,
    fmt_seconds,
)

STATUS_STYLE = {
    "ok": "green",
    "error": "red",
    "crashed": "red",
    "timeout": "yellow",
    "interrupted": "yellow",
}


def _levels(table: pd.DataFrame, level: str, n: str, scope: str | None = None) -> str:
    """'93.7% (n=5, 1 process)'; several when the cases differ."""
    if level not in table or n not in table:
        return ""
    rows = table[table[level].notna()]
    cols = [level, n] + ([scope] if scope and scope in table else [])
    parts = []
    for values in rows[cols].drop_duplicates().itertuples(index=False):
        where = [f"n={values[1]}", *([values[2]] if len(values) > 2 else [])]
        parts.append(f"{level_text(values[0])} ({', '.join(map(str, where))})")
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def interval_notes(table: pd.DataFrame) -> list[str]:
    """What the printed intervals cover: their real levels, n, and one process or rounds."""
    if table.empty or "ci_level" not in table:
        return []
    out = []
    wall = _levels(table, "ci_level", "n", "ci_scope")
    if wall:
        out.append(f"wall intervals (median, exact order statistics): {wall}")
    if "ci_scope" in table and (table["ci_scope"] == "1 process").any():
        out.append(
            "1 process: repeats inside one process miss the variation between processes; "
            "--rounds 3 or more runs each case in fresh processes and pools them"
        )
    missing = table[(table["status"] == "ok") & table["ci_level"].isna()]
    if not missing.empty:
        out.append(
            f"{len(missing)} case(s) show no interval: "
            + str(missing["ci_note"].dropna().iloc[0] if missing["ci_note"].notna().any() else "")
        )
    if "speedup_ci_level" in table and table["speedup_ci_level"].notna().any():
        levels = table["speedup_ci_level"].dropna()
        low, high = levels.min(), levels.max()
        span = level_text(low) if low == high else f"{level_text(low)} to {level_text(high)}"
        out.append(f"speedup intervals (sequential and case both varying, Hodges-Lehmann): {span}")
    if "round_cv" in table and table["round_cv"].notna().any():
        worst = table["round_cv"].max()
        out.append(f"between rounds: the CV of round medians is up to {worst:.1%}")
    return out


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
        "wall (CI)",
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
            escape(f"{row.backend}[{row.variant}]" if row.variant else str(row.backend)),
            str(row.workers),
            status,
            ci,
            cv,
            fmt_number(row.tasks_per_s),
            *([fmt_bytes(row.bytes_per_s) + "/s"] if has_bytes else []),
            fmt_ratio(row.speedup, _get(row, "speedup_ci_low"), _get(row, "speedup_ci_high")),
            fmt_efficiency(row.efficiency, getattr(row, "efficiency_note", "")),
            fmt_seconds(row.startup_s),
            f"{row.cpu_util:.0%}" if math.isfinite(row.cpu_util) else "-",
            fmt_bytes(row.worker_uss_bytes),
        ]
        out.add_row(*cells)
    return out


def _get(row, name: str) -> float:
    value = getattr(row, name, math.nan)
    return math.nan if value is None or pd.isna(value) else float(value)


def print_summary(console: Console, table: pd.DataFrame, title: str = "") -> None:
    if table.empty:
        console.print("no measurements")
        return
    console.print(summary_table(table, title))
    for note in interval_notes(table):
        console.print(f"[dim]{note}[/]")
    notes = set(table["efficiency_note"].dropna()) if "efficiency_note" in table else set()
    for note, (mark, text) in EFFICIENCY_MARKS.items():
        if note in notes:
            console.print(f"[yellow]{mark} {text}[/]")
    unstable = table[table["unstable"].fillna(False).astype(bool)]
    if not unstable.empty:
        console.print(
            f"[yellow]! {len(unstable)} case(s) unstable: the coefficient of variation of wall "
            f"time is above {UNSTABLE_CV:.0%}. Use more repeats, or a quieter machine.[/]"
        )
    failed = table[table["status"] != "ok"]
    for row in failed.itertuples(index=False):
        console.print(f"[red]{escape(str(row.case_id))}: {row.status}[/] {escape(str(row.error))}")
