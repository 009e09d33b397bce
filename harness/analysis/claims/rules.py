"""What a claim's verdict can be, and how an interval decides it.

A check holds when the whole interval lies on the claim's side of its threshold, fails
when it lies wholly on the other, and decides nothing when it straddles it; `decide` turns
a claim's checks into its verdict. Here too: the figures a verdict shows (a speedup or a
ratio with its interval over processes) and the cases a check reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis import summaries
from harness.measure import stats
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

SUPPORTS, PARTLY, DIFFERS, UNDECIDED, NO_BASIS, NO_DATA, NOT_MEASURED = (
    "supports",
    "partly",
    "differs",
    "not decided",
    "no basis",
    "no data",
    "not measured",
)


@dataclass
class Finding:
    """What one claim's measurement found, and why the verdict is what it is."""

    measured: str  # this machine's numbers, in words
    verdict: str
    figure: str  # the figure (with its interval) that decided the verdict
    basis: str  # the rule, in the claim's own words


# --- deciding with intervals ----------------------------------------------------------------

Check = bool | None  # True: holds, False: fails, None: the interval straddles the threshold


def at_least(low: float, high: float, threshold: float) -> Check:
    """Holds when the whole interval is at or above the threshold, fails when below it."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return True if low >= threshold else False if high < threshold else None


def at_most(low: float, high: float, threshold: float) -> Check:
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return True if high <= threshold else False if low > threshold else None


def decide(checks: list[Check]) -> str:
    """All hold: supports; all fail: differs; some of each: partly; otherwise not decided."""
    known = [c for c in checks if c is not None]
    if len(known) == len(checks) and all(known):
        return SUPPORTS
    if known and not any(known) and len(known) == len(checks):
        return DIFFERS
    if any(known) and not all(known):
        return PARTLY
    return UNDECIDED


def usable_cpus(df: pd.DataFrame) -> int | None:
    """The fewest CPUs any case of these runs could use (affinity, cgroup quota)."""
    values = df.loc[df["metric"] == Metric.USABLE_CPUS, "value"]
    return int(values.min()) if not values.empty else None


def _no_parallelism(df: pd.DataFrame) -> Finding | None:
    cpus = usable_cpus(df)
    if cpus is not None and cpus < 2:
        return Finding(
            f"{cpus} usable CPU (affinity or cgroup quota)",
            NO_BASIS,
            f"usable_cpus = {cpus}",
            "parallel speed-up needs at least 2 usable CPUs; this run had one",
        )
    return None


def within(low: float, high: float, bounds: tuple[float, float]) -> Check:
    """Holds when the whole interval lies within the bounds, fails when wholly outside."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    if low >= bounds[0] and high <= bounds[1]:
        return True
    return False if high < bounds[0] or low > bounds[1] else None


#: Why a claim has no verdict when a side has one process.
ONE_PROCESS_BASIS = "one process a case: its repeats cannot decide; run --rounds 3 or more"


def _one_process(row: pd.Series) -> bool:
    return str(row.get("speedup_ci_scope", "")) == summaries.ONE_PROCESS


def _speedup(row: pd.Series) -> str:
    """'processes w2 speedup 1.90x (1.85-1.95, 95%, 3 processes)': the figure, its interval."""
    low, high = row.get("speedup_ci_low", np.nan), row.get("speedup_ci_high", np.nan)
    level = row.get("speedup_ci_level", row.get("ci_level", np.nan))
    text = f"{row['label']} w{int(row['workers'])} speedup {row['speedup']:.2f}x"
    if np.isfinite(low) and np.isfinite(high):
        text += f" ({low:.2f}-{high:.2f}"
        text += f", {stats.level_text(level)}" if np.isfinite(level) else ""
        scope = str(row.get("speedup_ci_scope", "") or "")
        text += f", {scope})" if scope else ")"
    else:
        text += " (no interval: too few repeats)"
    return text


def _speedup_bounds(row: pd.Series, scale: float = 1.0) -> tuple[float, float]:
    """The speedup interval, scaled; none (NaN) from one process, so no verdict is made."""
    if _one_process(row):
        return np.nan, np.nan
    low = row.get("speedup_ci_low", np.nan)
    high = row.get("speedup_ci_high", np.nan)
    return float(low) / scale, float(high) / scale


def _ratio_figure(text: str, ci: stats.Interval, n: int, fmt: str) -> str:
    """`text` with the ratio's interval over processes, or why it has none."""
    if not np.isfinite(ci.low):
        return f"{text} (no interval: {n} process a side)"
    return f"{text} ({ci.low:{fmt}}-{ci.high:{fmt}}, {stats.level_text(ci.level)}, {n} processes)"


def _values(df: pd.DataFrame, row: pd.Series, metric: str) -> np.ndarray:
    """One value of `metric` per process of the case `row` is."""
    sub = df[
        (df["metric"] == metric)
        & (df["status"] == "ok")
        & (df["case_id"] == row["case_id"])
        & (df["run_id"] == row["run_id"])
    ]
    return summaries.process_values(sub)


def _interval_text(ci: stats.Interval, fmt: Callable[[float], str], n: int) -> str:
    if not np.isfinite(ci.low):
        return f"no interval ({n} process{'es' if n != 1 else ''})"
    return f"{fmt(ci.low)} to {fmt(ci.high)}, {stats.level_text(ci.level)}, {n} processes"


# --- helpers -----------------------------------------------------------------------------


def _row(fit: pd.DataFrame, label: str) -> pd.Series | None:
    hit = fit[fit["label"] == label]
    return hit.iloc[0] if not hit.empty else None


def _at_max_workers(table: pd.DataFrame, backend: str) -> pd.Series | None:
    if table.empty:
        return None
    sub = table[(table["backend"] == backend) & (table["variant"] == "")]
    if sub.empty:
        return None
    top = sub[sub["workers"] == sub["workers"].max()]
    return top.loc[top["median"].idxmin()]


def _per_worker_text(value: float, fmt: Callable[[float], str]) -> str:
    """A cost per added worker; one that fell as workers were added is noise, not a cost."""
    return fmt(value) if value > 0 else "no measurable growth"


def _bytes(value: float) -> str:
    return fmt_bytes(value)


def _seconds(value: float) -> str:
    return fmt_seconds(value)
