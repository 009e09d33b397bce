"""The process as the sampling unit: Student's t on the logs of per-process values (a
geometric mean), Welch's t for a ratio, a change tested against its threshold, Holm's
correction, and how many processes a change needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.measure.exact_intervals import (
    DEFAULT_LEVEL,
    Interval,
    Sample,
    _finite,
)

# --- the process as the sampling unit -----------------------------------------------------
#
# Repeats inside one process share its memory layout, hash seed and core: they miss the
# variation between processes, so an interval or a test that pools them as independent
# values is too sure of itself. What varies independently is the process. Each case
# process is summarised by one value (the median of its repeats, or its one value of a
# per-process metric), and intervals and tests are built from those values:
#
# - the interval of a case's typical value is Student's t on the log of its per-process
#   values (a geometric mean: times and rates are positive and skewed);
# - a ratio (a speedup, a comparison) is Welch's t on the difference of those log means,
#   which does not assume both sides spread alike (a straggling backend beside a steady
#   baseline);
# - a change is tested against the threshold itself: the null is "|log ratio| <= log(1 +
#   threshold)", so it is called only when its interval lies wholly beyond the threshold.
#
# Order statistics and Mann-Whitney (above) cannot serve here: three to five processes
# are the budget, and 5 against 5 can never reach a p below 0.008, let alone a level
# corrected for twenty cases. Per-process values are medians of repeats, near normal on
# a log scale; tests/test_stats.py simulates the stated levels under a two-level noise
# model (between-process spread 0, equal to and three times the spread within).

#: Fewest processes a side for an interval or a test: one process says nothing of the rest.
MIN_PROCESSES = 2


def _logs(values: Sample) -> np.ndarray | None:
    data = _finite(values)
    return np.log(data) if len(data) and (data > 0).all() else None


def _t_quantile(q: float, df: float) -> float:
    from scipy.stats import t  # here, not at import: every case process imports this module

    return float(t.ppf(q, df))


def process_interval(values: Sample, level: float = DEFAULT_LEVEL) -> Interval:
    """Interval of the typical per-process value: t on logs, n - 1 degrees of freedom.

    `values` hold one value per process. Fewer than two, or values <= 0, give no interval.
    """
    logs = _logs(values)
    n = 0 if logs is None else len(logs)
    if logs is None:
        return Interval.none("values <= 0: no interval on a log scale")
    if n < MIN_PROCESSES:
        return Interval.none("one process: nothing varies between processes yet")
    mean, se = float(logs.mean()), float(logs.std(ddof=1) / math.sqrt(n))
    half = _t_quantile((1 + level) / 2, n - 1) * se
    return Interval(math.exp(mean - half), math.exp(mean + half), level)


@dataclass(frozen=True)
class LogDifference:
    """mean(log a) - mean(log b) with Welch's standard error and degrees of freedom."""

    estimate: float
    se: float
    df: float
    sd_a: float
    sd_b: float


def log_difference(a: Sample, b: Sample) -> LogDifference | None:
    """Welch's view of log(a) against log(b); None when a side has fewer than two values
    or any value is <= 0."""
    la, lb = _logs(a), _logs(b)
    if la is None or lb is None or len(la) < MIN_PROCESSES or len(lb) < MIN_PROCESSES:
        return None
    va, vb = float(la.var(ddof=1)), float(lb.var(ddof=1))
    qa, qb = va / len(la), vb / len(lb)
    se = math.sqrt(qa + qb)
    if se == 0:
        df = float(len(la) + len(lb) - 2)
    else:
        df = (qa + qb) ** 2 / (qa**2 / (len(la) - 1) + qb**2 / (len(lb) - 1))
    return LogDifference(float(la.mean() - lb.mean()), se, df, math.sqrt(va), math.sqrt(vb))


def process_ratio_interval(
    numerator: Sample, denominator: Sample, level: float = DEFAULT_LEVEL
) -> Interval:
    """Welch interval of the ratio of typical per-process values, numerator / denominator."""
    diff = log_difference(numerator, denominator)
    if diff is None:
        return Interval.none("fewer than two processes on a side, or values <= 0")
    half = _t_quantile((1 + level) / 2, diff.df) * diff.se if diff.se else 0.0
    return Interval(math.exp(diff.estimate - half), math.exp(diff.estimate + half), level)


def beyond_threshold_p(diff: LogDifference, threshold: float) -> float:
    """p-value of "the ratio lies within 1 +- threshold" (on a log scale, both ways).

    Small when the ratio's interval lies wholly beyond the threshold: p < alpha exactly
    when the two-sided 1 - alpha interval excludes [1 / (1 + t), 1 + t]. Twice the
    smaller one-sided p, as a two-sided test of two directions must be.
    """
    from scipy.stats import t

    bound = math.log1p(threshold)
    excess = abs(diff.estimate) - bound
    if diff.se == 0:
        return 0.0 if excess > 0 else 1.0
    one_sided = float(t.sf(excess / diff.se, diff.df))
    return min(1.0, 2 * one_sided)


def holm(pvalues: Sample) -> np.ndarray:
    """Holm's step-down adjustment: family-wise error at most alpha over all the tests,
    whatever their dependence, and never less power than Bonferroni. NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def detectable_change(diff: LogDifference, threshold: float, alpha: float) -> float:
    """The smallest change (as a fraction, 0.12 for 12%) these processes could call at
    level alpha: the threshold plus the interval's half width."""
    half = _t_quantile(1 - alpha / 2, diff.df) * diff.se
    return math.expm1(math.log1p(threshold) + half)


def processes_needed(
    diff: LogDifference, threshold: float, change: float, alpha: float, power: float = 0.8
) -> int | None:
    """Processes a side (equal sides) with which a true `change` (a fraction, beyond the
    threshold) is called with probability `power`, from the spreads seen. None when the
    change is not beyond the threshold."""
    from scipy.stats import norm

    gap = math.log1p(change) - math.log1p(threshold)
    if gap <= 0:
        return None
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    need = (z / gap) ** 2 * (diff.sd_a**2 + diff.sd_b**2)
    # a normal quantile understates t at few processes: add the usual two
    return max(MIN_PROCESSES + 1, math.ceil(need) + 2)


def mean_interval(values: Sample, level: float = DEFAULT_LEVEL) -> Interval:
    """Student's t interval of the mean of per-process values that may be 0 or negative
    (a slope, a difference): for those a log scale cannot serve."""
    data = _finite(values)
    n = len(data)
    if n < MIN_PROCESSES:
        return Interval.none("one process: nothing varies between processes yet")
    mean, se = float(data.mean()), float(data.std(ddof=1) / math.sqrt(n))
    half = _t_quantile((1 + level) / 2, n - 1) * se
    return Interval(mean - half, mean + half, level)
