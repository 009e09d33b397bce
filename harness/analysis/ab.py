"""An A/B run's comparison: side A as the baseline, side B as the contender, paired by slot.

Both sides of a pair ran in the same slot (the `round` of their rows), in one process with
their repeats alternating or in two processes back to back, so the comparison is paired:
one log ratio per slot (`compare.compare(..., paired=True)`). B's rows take the keys of
their A case, so each pair is one row of the table, whatever differed between the specs
(parameters, workload, interpreter).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analysis import compare

#: The columns that say which case a row is: B's become its A case's.
KEYS = ["scenario", "case_id", "backend", "variant", "workers", "params", "tasks", "python"]


def sides(df: pd.DataFrame, pairs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Side A's rows and side B's, B's keyed as the A case it was paired with."""
    a = df[df["side"] == "a"]
    b = df[df["side"] == "b"].copy()
    firsts = a.drop_duplicates("case_id").set_index("case_id")[KEYS[:1] + KEYS[2:]]
    for pair in pairs:
        if pair["a"] not in firsts.index:
            continue
        rows = b["case_id"] == pair["b"]
        for key in KEYS:
            value = pair["a"] if key == "case_id" else firsts.loc[pair["a"], key]
            b.loc[rows, key] = value
    return a, b


def compare_sides(
    df: pd.DataFrame,
    pairs: list[dict[str, Any]],
    metric: str,
    threshold: float,
    alpha: float,
) -> compare.Comparison:
    """compare's table for an A/B run: A the baseline, B the contender, paired by slot."""
    a, b = sides(df, pairs)
    return compare.compare(a, b, metric=metric, threshold=threshold, alpha=alpha, paired=True)
