"""Statistics for repeats: the median, an interval that states its real coverage, spread.

The one place callers import statistics from (`stats.X`); the estimators live by what they
assume:

- `exact_intervals`: the median's order-statistic interval and the Mann-Whitney ratio of
  medians, each with its exact coverage (no bootstrap: from 3 to 5 repeats it calls the
  min and max "95%");
- `log_means`: the process as the sampling unit, t on the logs of per-process values
  (Welch for a ratio), tests against a threshold, Holm's correction;
- `rank_ratios`: ratios that hold under this machine's noise, Hodges-Lehmann with exact
  rank intervals, unpaired and paired.

Here: a case's summary (median, interval, spread). Like pyperf, a result whose spread is
too large to trust is flagged rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.measure.exact_intervals import (
    DEFAULT_LEVEL,
    EXACT_PAIRS,
    MIN_CI_LEVEL,
    Interval,
    Sample,
    _finite,
    can_reach,
    level_text,
    median_interval,
    needed_each,
    ratio_interval,
    smallest_p,
)
from harness.measure.log_means import (
    MIN_PROCESSES,
    LogDifference,
    beyond_threshold_p,
    detectable_change,
    holm,
    log_difference,
    mean_interval,
    process_interval,
    process_ratio_interval,
    processes_needed,
)
from harness.measure.rank_ratios import (
    EXACT_SIGNED_RANK,
    PAIRED_METHOD,
    PAIRED_T_METHOD,
    UNPAIRED_METHOD,
    WELCH_METHOD,
    RatioEstimate,
    case_interval,
    paired_ratio,
    pairing_gain,
    unpaired_ratio,
)

__all__ = [
    "DEFAULT_LEVEL",
    "EXACT_PAIRS",
    "EXACT_SIGNED_RANK",
    "MIN_CI_LEVEL",
    "MIN_PROCESSES",
    "PAIRED_METHOD",
    "PAIRED_T_METHOD",
    "UNPAIRED_METHOD",
    "UNSTABLE_CV",
    "WELCH_METHOD",
    "Interval",
    "LogDifference",
    "RatioEstimate",
    "Sample",
    "Summary",
    "beyond_threshold_p",
    "can_reach",
    "case_interval",
    "detectable_change",
    "holm",
    "level_text",
    "log_difference",
    "mean_interval",
    "median_interval",
    "needed_each",
    "paired_ratio",
    "pairing_gain",
    "process_interval",
    "process_ratio_interval",
    "processes_needed",
    "ratio_interval",
    "smallest_p",
    "summarize",
    "unpaired_ratio",
]

#: Coefficient of variation above which a case is flagged unstable (pyperf warns near 10%).
UNSTABLE_CV = 0.10


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    ci_low: float
    ci_high: float
    ci_level: float
    ci_note: str
    mean: float
    stdev: float
    cv: float
    unstable: bool


def summarize(values: Sample, unstable_cv: float = UNSTABLE_CV) -> Summary:
    data = _finite(values)
    n = len(data)
    if n == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, "no values", nan, nan, nan, False)
    mean = float(data.mean())
    stdev = float(data.std(ddof=1)) if n > 1 else 0.0
    cv = stdev / abs(mean) if mean else float("nan")
    ci = median_interval(data)
    return Summary(
        n=n,
        median=float(np.median(data)),
        ci_low=ci.low,
        ci_high=ci.high,
        ci_level=ci.level,
        ci_note=ci.note,
        mean=mean,
        stdev=stdev,
        cv=cv,
        unstable=bool(n > 1 and cv > unstable_cv),
    )
