"""Shared state: the article's race (updates lost without a lock) and its lock."""

from __future__ import annotations

import pandas as pd

from harness.analysis import advice
from harness.analysis.claims.rules import (
    DIFFERS,
    SUPPORTS,
    Finding,
)
from harness.protocol import Metric


def _race(df: pd.DataFrame) -> Finding | None:
    lost = _counter_metric(df, locked=False)
    if lost is None or "threads" not in lost.index:
        return None
    parts = ", ".join(f"{label} {ratio:.1%}" for label, ratio in lost.items())
    return Finding(
        f"updates lost unlocked: {parts}",
        SUPPORTS if lost["threads"] > 0.01 else DIFFERS,
        f"threads lost {lost['threads']:.1%} (median over repeats)",
        "the article's ~25% lost: supports when threads lose more than 1%",
    )


def _lock_fixes(df: pd.DataFrame) -> Finding | None:
    """Every repeat of every process must lose nothing: a lock that failed in two repeats
    of five is not a lock that works, whatever the median says."""
    locked = _counter_metric(df, locked=True, how="max")
    if locked is None:
        return None
    return Finding(
        "updates lost locked, worst repeat: "
        + ", ".join(f"{k} {v:.0%}" for k, v in locked.items()),
        SUPPORTS if (locked == 0).all() else DIFFERS,
        f"largest loss in any repeat {locked.max():.1%}",
        "every backend loses no update under its lock, in every repeat",
    )


def _counter_metric(df: pd.DataFrame, locked: bool, how: str = "median") -> pd.Series | None:
    sub = df[(df["metric"] == Metric.LOST_UPDATE_RATIO) & (df["status"] == "ok")]
    if sub.empty or "param_locked" not in sub:
        return None
    sub = sub[sub["param_locked"].astype(bool) == locked]
    if sub.empty:
        return None
    return advice.labelled(sub).groupby("label")["value"].agg(how)
