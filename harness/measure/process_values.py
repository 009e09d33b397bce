"""One finished case process in two numbers: its median wall and its paired log speedup.

The process is the sampling unit of every interval the harness gives (a fresh process
draws a fresh memory layout, hash seed and core), so the budget, the race of `harness
tune` and its answer each reduce a process to these, the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.protocol import Metric


def process_values(measurements: pd.DataFrame) -> tuple[float | None, float | None]:
    """One finished case process's median wall and its paired log ratio (None if absent)."""
    ok = measurements[measurements["status"] == "ok"]
    walls = ok[ok["metric"] == Metric.WALL_S][["repeat", "value"]]
    if walls.empty:
        return None, None
    wall = float(walls["value"].median())
    refs = ok[ok["metric"] == Metric.REFERENCE_WALL_S][["repeat", "value"]]
    pairs = walls.merge(refs, on="repeat", suffixes=("", "_ref"))
    pairs = pairs[(pairs["value"] > 0) & (pairs["value_ref"] > 0)]
    if pairs.empty or len(pairs) < len(walls):
        return wall, None
    return wall, float(np.median(np.log(pairs["value_ref"]) - np.log(pairs["value"])))
