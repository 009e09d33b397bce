"""Percentiles of the latency pass in plain Python, the same numbers as NumPy's.

The case process needs two or three percentiles of a few hundred timings; importing NumPy
for them cost every case ~0.1 s of wall and ~0.2 s of CPU (OpenBLAS starts its threads),
on a machine whose other core runs the workers. Standard library only: the case process
imports this before any engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """`float(numpy.percentile(values, q))` with its default method ("linear", Hyndman
    and Fan's 7th), to the last bit: the same index, weight and interpolation, whose
    rounding NumPy takes from the nearer neighbour; NaN when there are no values (or a NaN
    among them, as NumPy)."""
    if not 0 <= q <= 100:
        raise ValueError("Percentiles must be in the range [0, 100]")
    data = sorted(float(v) for v in values)
    if not data or any(math.isnan(v) for v in data):
        return math.nan
    index = (len(data) - 1) * (q / 100)
    if index >= len(data) - 1:
        return data[-1]
    low = math.floor(index)
    weight = index - low
    below, above = data[low], data[low + 1]
    step = above - below
    # numpy's _lerp: from the nearer end, so that weight 1 gives `above` exactly
    return above - step * (1 - weight) if weight >= 0.5 else below + step * weight
