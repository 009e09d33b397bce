"""Recommendations, crossovers and claims as sentences: one wording for terminal and report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.units import fmt_seconds


def recommendation_sentences(recs: pd.DataFrame, params_label=None) -> list[str]:
    """One sentence per scenario question: the answer, the figure, the runner-up, the caveat."""
    out = []
    several = recs["params"].nunique() > 1
    for rec in recs.itertuples():
        where = f" ({params_label(rec.params) if params_label else rec.params})" if several else ""
        text = f"{rec.question[0].upper()}{rec.question[1:]}{where} {rec.answer}: {rec.figure}."
        if rec.runner_up:
            text += f" Next: {rec.runner_up}."
        if rec.note:
            text += f" Note: {rec.note}."
        out.append(text)
    return out


def crossover_sentences(cross: pd.DataFrame, target: float = 0.8) -> list[str]:
    out = []
    for row in cross.itertuples():
        who = f"{row.label} with {row.workers} workers"
        if pd.isna(row.crossover_s):
            out.append(
                f"{who} did not stay at {target:.0%} efficiency up to the longest task tried "
                f"(best {row.best_efficiency:.0%}): it needs longer tasks than tried."
            )
            continue
        text = (
            f"{who} keeps at least {target:.0%} efficiency from tasks of "
            f"{fmt_seconds(row.crossover_s)} up"
        )
        low, high = row.crossover_low_s, row.crossover_high_s
        if np.isfinite(low) and np.isfinite(high) and (low, high) != (row.crossover_s,) * 2:
            text += f" (with the efficiency intervals: {fmt_seconds(low)} to {fmt_seconds(high)})"
        elif np.isfinite(low) and not np.isfinite(high):
            text += (
                f" (with the efficiency intervals: from {fmt_seconds(low)}, or not within the "
                "sizes tried)"
            )
        out.append(text + ".")
    return out
