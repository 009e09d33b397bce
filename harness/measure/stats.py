"""Statistics for repeats: robust centre, a bootstrap interval, spread, and a stability flag.

Like pyperf, a result whose spread is too large to trust is flagged rather than hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Coefficient of variation above which a case is flagged unstable (pyperf warns near 10%).
UNSTABLE_CV = 0.10
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    ci_low: float
    ci_high: float
    mean: float
    stdev: float
    cv: float
    unstable: bool


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def bootstrap_ci(
    values: Sequence[float],
    statistic=np.median,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic`; seeded so reports are reproducible."""
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return float("nan"), float("nan")
    if len(data) == 1:
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    draws = rng.choice(data, size=(resamples, len(data)), replace=True)
    stats = statistic(draws, axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def summarize(values: Sequence[float], unstable_cv: float = UNSTABLE_CV) -> Summary:
    data = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    n = len(data)
    if n == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan, nan, False)
    mean = float(data.mean())
    stdev = float(data.std(ddof=1)) if n > 1 else 0.0
    cv = stdev / abs(mean) if mean else float("nan")
    low, high = bootstrap_ci(data)
    return Summary(
        n=n,
        median=float(np.median(data)),
        ci_low=low,
        ci_high=high,
        mean=mean,
        stdev=stdev,
        cv=cv,
        unstable=bool(n > 1 and cv > unstable_cv),
    )
