"""The summary table of runs in the terminal, shared by `run` and `show`."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from harness.analysis.summaries import ONE_PROCESS
from harness.measure.stats import UNSTABLE_CV, level_text
from harness.protocol import Metric
from harness.units import (
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
    "skipped": "dim",
}


def _levels(table: pd.DataFrame, level: str, n: str, scope: str | None = None) -> str:
    """'95% (3 processes)', '93.7% (n=5 repeats, within 1 process)'; several when the cases
    differ."""
    if level not in table or n not in table:
        return ""
    rows = table[table[level].notna()]
    parts: list[str] = []
    for r in rows.to_dict("records"):
        where = str(r.get(scope, "")) if scope else ""
        if not where or where == ONE_PROCESS:
            where = f"n={r[n]} repeats" + (f", {where}" if where else "")
        text = f"{level_text(r[level])} ({where})"
        if text not in parts:
            parts.append(text)
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def interval_notes(table: pd.DataFrame) -> list[str]:
    """What the printed intervals cover: their real levels, n, and one process or rounds."""
    if table.empty or "ci_level" not in table:
        return []
    out = []
    wall = _levels(table, "ci_level", "n", "ci_scope")
    if wall:
        out.append(
            "wall intervals (median): from several processes, order statistics of the "
            "process medians (exact for any shape; 3 processes reach 75%, 6 reach 96.9%); "
            f"within 1 process, order statistics of its repeats: {wall}"
        )
    if "ci_scope" in table and (table["ci_scope"] == ONE_PROCESS).any():
        out.append(
            "within 1 process: repeats inside one process miss the variation between "
            "processes, so nothing is called from them (no superlinear mark, no claim "
            "verdict, no change); --rounds 3 or more runs each case in fresh processes"
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
        paired = (table.get("speedup_pairing", pd.Series(dtype=str)) == "in process").sum()
        how = (
            "paired in process: the sequential loop timed beside each repeat in the same "
            "process, one log ratio per process; Wilcoxon signed-rank (Hodges-Lehmann) from "
            "6 processes, t on the log ratios below"
            if paired
            else "sequential and case both varying; Hodges-Lehmann with exact Mann-Whitney "
            "on process medians (Welch's t at 3 a side)"
        )
        out.append(f"speedup intervals ({how}): {span}")
        half = _median_half_width(table)
        if half is not None:
            out.append(
                f"what these speedups can see: median half-width {half:.1%}, so two cases "
                f"whose speedups differ by about {math.sqrt(2) * half:.0%} or more are told "
                "apart (a normal approximation from the widths)"
            )
        rho = table.get("pairing_rho", pd.Series(dtype=float)).dropna()
        if len(rho):
            out.append(
                f"pairing: the reference and the case moved together (correlation of their "
                f"logs, median over cases {rho.median():.2f}): pairing removes that shared "
                "part of the machine's swings from every speedup"
            )
    if "round_cv" in table and table["round_cv"].notna().any():
        worst = table["round_cv"].max()
        out.append(f"between processes: the CV of process medians is up to {worst:.1%}")
    return out


def _median_half_width(table: pd.DataFrame) -> float | None:
    """The median over cases of a speedup interval's half-width, as a fraction."""
    low, high = table["speedup_ci_low"], table["speedup_ci_high"]
    ok = (low > 0) & (high > 0)
    if not ok.any():
        return None
    return float(math.expm1(((high[ok].map(math.log) - low[ok].map(math.log)) / 2).median()))


def summary_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and plain-text cells of the summary: the terminal and markdown print these.

    A narrower view of the cases table (`summaries.case_table`), which has a column for
    every metric measured: these few, that fit a terminal's width."""
    several_params = table["params"].nunique() > 1
    several_runs = table["run_id"].nunique() > 1
    several_scenarios = table["scenario"].nunique() > 1
    several_pythons = "python" in table and table["python"].nunique() > 1
    has_bytes = Metric.BYTES_PER_S in table and table[Metric.BYTES_PER_S].notna().any()
    headers = [
        *(["run"] if several_runs else []),
        *(["scenario"] if several_scenarios else []),
        *(["params"] if several_params else []),
        *(["python"] if several_pythons else []),
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
    ]
    rows = []
    for row in table.itertuples(index=False):
        unstable = getattr(row, "unstable", False) in (True, 1)  # NaN (no wall) is not unstable
        cv = f"{row.cv:.1%}" if math.isfinite(row.cv or math.nan) else "-"
        cells = [
            *([str(row.run_id)] if several_runs else []),
            *([str(row.scenario)] if several_scenarios else []),
            *([str(row.params)] if several_params else []),
            *([str(row.python)] if several_pythons else []),
            # swept backend options (start methods) show as processes[start_method=fork]
            f"{row.backend}[{row.variant}]" if row.variant else str(row.backend),
            str(row.workers),
            str(row.status),
            fmt_interval(row.median, row.ci_low, row.ci_high),
            f"{cv} !" if unstable else cv,
            fmt_number(_get(row, Metric.TASKS_PER_S)),
            *([fmt_bytes(_get(row, Metric.BYTES_PER_S)) + "/s"] if has_bytes else []),
            fmt_ratio(row.speedup, _get(row, "speedup_ci_low"), _get(row, "speedup_ci_high")),
            fmt_efficiency(row.efficiency, getattr(row, "efficiency_note", "")),
            fmt_seconds(_get(row, Metric.STARTUP_S)),
            _cpu_cell(row),
            fmt_bytes(_get(row, Metric.WORKER_USS_BYTES)),
        ]
        rows.append(cells)
    return headers, rows


def _cpu_cell(row) -> str:
    """The median repeat's cpu_util; where repeats are too short for clock ticks, the ratio
    over all of them together, marked `~` (see summary_notes)."""
    if math.isfinite(_get(row, Metric.CPU_UTIL)):
        return f"{_get(row, Metric.CPU_UTIL):.0%}"
    steady = _get(row, Metric.STEADY_CPU_UTIL)
    return f"~{steady:.0%}" if math.isfinite(steady) else "-"


#: Summary columns that hold words; the others are figures and align right.
TEXT_COLUMNS = ("run", "scenario", "params", "python", "backend", "status")


def summary_table(table: pd.DataFrame, title: str = "") -> Table:
    """Backend, workers, median wall with its interval, throughput, scaling, start-up, memory."""
    headers, rows = summary_cells(table)
    out = Table(title=title or None, header_style="bold", show_lines=False)
    for name in headers:
        left = name in TEXT_COLUMNS
        out.add_column(name, justify="left" if left else "right", no_wrap=name == "backend")
    status_at, cv_at = headers.index("status"), headers.index("cv")
    for cells in rows:
        styled = [escape(c) for c in cells]
        status = cells[status_at]
        styled[status_at] = f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"
        if cells[cv_at].endswith(" !"):
            styled[cv_at] = f"[yellow]{escape(cells[cv_at])}[/]"
        out.add_row(*styled)
    return out


def _get(row, name: str) -> float:
    value = getattr(row, name, math.nan)
    return math.nan if value is None or pd.isna(value) else float(value)


def summary_notes(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The lines under the summary, each with its kind (interval, mark, unstable, failed)."""
    out = [("interval", note) for note in interval_notes(table)]
    if "python" in table and table["python"].nunique() == 1:  # else a column says it
        out.append(("interval", f"every case ran on Python {table['python'].iloc[0]}"))
    notes = set(table["efficiency_note"].dropna()) if "efficiency_note" in table else set()
    for note, (mark, text) in EFFICIENCY_MARKS.items():
        if note in notes:
            out.append(("mark", f"{mark} {text}"))
    nothing = pd.Series(float("nan"), index=table.index)
    cpu, steady = (table.get(m, nothing) for m in (Metric.CPU_UTIL, Metric.STEADY_CPU_UTIL))
    if (cpu.isna() & steady.notna()).any():
        out.append(
            (
                "mark",
                "~ cpu over all repeats together: one repeat is too short for the clock ticks "
                "CPU time is counted in",
            )
        )
    unstable = table[table["unstable"].fillna(False).astype(bool)]
    if not unstable.empty:
        out.append(
            (
                "unstable",
                f"! {len(unstable)} case(s) unstable: the coefficient of variation of wall "
                f"time, within or between processes, is above {UNSTABLE_CV:.0%}. Use more "
                "rounds, or a quieter machine.",
            )
        )
    failed = table[table["status"] != "ok"]
    for row in failed.itertuples(index=False):
        kind = "skipped" if row.status == "skipped" else "failed"  # not run is not a failure
        out.append((kind, f"{row.case_id}: {row.status} {row.error}"))
    return out


NOTE_STYLE = {
    "interval": "dim",
    "mark": "yellow",
    "unstable": "yellow",
    "failed": "red",
    "skipped": "dim",
}


def terminal_summary(table: pd.DataFrame, title: str = "") -> list[RenderableType]:
    """The summary table and the notes under it, for a console to print."""
    if table.empty:
        return ["no measurements"]
    notes = [f"[{NOTE_STYLE[kind]}]{escape(note)}[/]" for kind, note in summary_notes(table)]
    return [summary_table(table, title), *notes]
