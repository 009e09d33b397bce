"""What a worker costs: the memory each added worker takes and how long creating workers
takes, threads against processes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis import advice, summaries
from harness.analysis.claims.rules import (
    Check,
    Finding,
    _bytes,
    _interval_text,
    _per_worker_text,
    _seconds,
    _values,
    at_most,
    decide,
    within,
)
from harness.analysis.summaries import BASELINE
from harness.measure import stats
from harness.protocol import Metric

#: "threads ~8 KB": a thread's cost is kilobytes, not megabytes.
THREAD_MEMORY_MAX = 256 * 1024
#: "processes ~30-50 MB": within a factor of two of the article's range.
PROCESS_MEMORY = (15e6, 100e6)


def _memory(df: pd.DataFrame) -> Finding | None:
    metric = summaries.memory_metric(df)
    slopes = _slopes_per_process(df, metric)
    if "threads" not in slopes or not any(k.startswith("processes") for k in slopes):
        return None
    checks: list[Check] = []
    parts, figures = [], []
    for label, values in slopes.items():
        if label != "threads" and not label.startswith("processes"):
            continue
        ci = stats.mean_interval(values)
        centre = float(np.mean(values))
        if label == "threads":
            checks.append(at_most(ci.low, ci.high, THREAD_MEMORY_MAX))
        elif centre <= 0:  # never shown as a measurement: it cannot be one
            parts.append(f"{label} not measurable ({metric} fell as workers were added)")
            checks.append(None)
            continue
        else:
            checks.append(within(ci.low, ci.high, PROCESS_MEMORY))
        parts.append(f"{label} {_per_worker_text(centre, _bytes)}")
        figures.append(f"{label} {_interval_text(ci, _bytes, len(values))}")
    kind = "PSS: shared pages split among sharers" if metric == Metric.PEAK_PSS_BYTES else "USS"
    return Finding(
        "per added worker: " + ", ".join(parts),
        decide(checks),
        f"slope of {metric} over worker counts ({kind}), one per process: " + "; ".join(figures),
        f"threads' interval below {_bytes(THREAD_MEMORY_MAX)}; processes' within "
        f"{_bytes(PROCESS_MEMORY[0])}-{_bytes(PROCESS_MEMORY[1])} (the article's 30-50 MB, x2)",
    )


def _slopes_per_process(df: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    """Per backend label: the slope of `metric` over worker counts, once per round (the
    cases of one round are paired: each slope comes from fresh processes of its own)."""
    table = advice.ok_cases(df)
    if table.empty:
        return {}
    table = table[table["backend"] != BASELINE]
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    per = sub.groupby(["run_id", "case_id", "round"], observed=True)["value"].median()
    out: dict[str, list[float]] = {}
    for label, group in table.groupby("label"):
        if group["workers"].nunique() < 2:
            continue
        by_round: dict[tuple, list[tuple[float, float]]] = {}
        for r in group.itertuples():
            if (r.run_id, r.case_id) not in per.index.droplevel("round"):
                continue
            for rnd, value in per.loc[(r.run_id, r.case_id)].items():
                by_round.setdefault((r.run_id, rnd), []).append((float(r.workers), value))
        slopes = [
            float(np.polyfit([w for w, _ in points], [v for _, v in points], 1)[0])
            for points in by_round.values()
            if len({w for w, _ in points}) >= 2
        ]
        if slopes:
            out[str(label)] = slopes
    return out


#: "threads fast (ms)": start-up of a few milliseconds at most.
THREAD_START_MAX = 0.010
#: "processes slow (100s of ms)": from 100 ms up to a second.
PROCESS_START = (0.100, 1.0)


def _creation(df: pd.DataFrame) -> Finding | None:
    """Start-up of the smallest pool (the cost of creating workers at all), its interval
    over processes, and the slope per added worker."""
    fit = advice.per_worker(df, None, Metric.STARTUP_S)
    table = advice.ok_cases(df)
    threads = _smallest(table, "threads")
    procs = [
        r
        for label in sorted(set(table.get("label", [])))
        if label.startswith("processes")
        if (r := _smallest(table, label, by_label=True)) is not None
    ]
    if threads is None or not procs or fit.empty:
        return None
    checks: list[Check] = []
    figures = []
    for row in [threads, *procs]:
        values = _values(df, row, Metric.STARTUP_S)
        ci = stats.process_interval(values)
        bounds = (0.0, THREAD_START_MAX) if row["backend"] == "threads" else PROCESS_START
        checks.append(within(ci.low, ci.high, bounds))
        figures.append(f"{row['label']} {_interval_text(ci, _seconds, len(values))}")
    first = ", ".join(f"{r['label']} {_seconds(r['startup_s'])}" for r in [threads, *procs])
    added = ", ".join(
        f"{r['label']} {_per_worker_text(r['per_worker'], _seconds)}" for _, r in fit.iterrows()
    )
    first_w = int(threads["workers"])
    return Finding(
        f"start-up with {first_w} worker(s): {first}; each added worker: {added}",
        decide(checks),
        f"start-up with the fewest workers, median over processes: {'; '.join(figures)}",
        f"threads' interval at most {_seconds(THREAD_START_MAX)}; processes' within "
        f'{_seconds(PROCESS_START[0])} to {_seconds(PROCESS_START[1])} ("100s of ms")',
    )


def _smallest(table: pd.DataFrame, name: str, by_label: bool = False) -> pd.Series | None:
    """The case of a backend (or a label) with the fewest workers."""
    if table.empty:
        return None
    sub = (
        table[table["label"] == name]
        if by_label
        else table[(table["backend"] == name) & (table["variant"] == "")]
    )
    if sub.empty:
        return None
    return sub.loc[sub["workers"].idxmin()]
