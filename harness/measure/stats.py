"""Statistics for repeats: the median, an interval that states its real coverage, spread.

Intervals are exact rather than bootstrapped, because a bootstrap of a median from 3 to 5
repeats returns the sample's min and max and calls it "95%" (its real coverage is 75% at
n = 3, 94% at n = 5):

- the median's interval is a pair of order statistics; its coverage is a binomial sum,
  exact for any continuous distribution (ties only make it wider);
- the ratio of two medians (a speedup, a comparison) is the Hodges-Lehmann interval of
  the shift in log values, inverted from the Mann-Whitney distribution: exact when one
  side is the other scaled (same shape on a log scale), and it carries the variation of
  both sides, so a noisy baseline widens it.

Each picks the narrowest interval whose coverage is at least the level asked; when n is
too small for that, the widest there is, with its own, lower, level; below
`MIN_CI_LEVEL` no interval at all (NaN) and a note. Like pyperf, a result whose spread is
too large to trust is flagged rather than hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TypeAlias

import numpy as np

#: What the functions below take: a sequence of floats, a NumPy array or a pandas Series
#: (each goes through `np.asarray`).
Sample: TypeAlias = Sequence[float] | np.ndarray

#: Coefficient of variation above which a case is flagged unstable (pyperf warns near 10%).
UNSTABLE_CV = 0.10
#: The coverage asked of every interval; the one given may be higher, or lower at small n.
DEFAULT_LEVEL = 0.95
#: Below this coverage an interval says too little to print: n = 2 would give 50%.
MIN_CI_LEVEL = 0.75
#: Above this many pairs the Mann-Whitney distribution is taken as normal (exact below).
EXACT_PAIRS = 2500


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    #: The interval's real coverage (not the level asked for); NaN when there is no interval.
    level: float
    #: Why there is no interval, or why its level is below the one asked; "" otherwise.
    note: str = ""

    @classmethod
    def none(cls, note: str) -> Interval:
        return cls(math.nan, math.nan, math.nan, note)


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


def _finite(values: Sample) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    result: np.ndarray = data[np.isfinite(data)]
    return result


def _pick(coverages: np.ndarray, level: float) -> int:
    """Index of the narrowest choice still covering `level`; 0 (the widest) if none does.

    `coverages` runs from the widest interval (highest coverage) to the narrowest.
    """
    enough = np.nonzero(coverages >= level - 1e-12)[0]
    return int(enough[-1]) if len(enough) else 0


def _level_note(level: float, asked: float, n_text: str) -> str:
    if level >= asked - 1e-12:
        return ""
    return f"{n_text}: the widest interval covers {level_text(level)}"


@lru_cache(maxsize=512)
def _median_coverages(n: int) -> np.ndarray:
    """Coverage of [x_(j), x_(n+1-j)] for j = 1..n//2: P(j <= B <= n - j)."""
    from scipy.stats import binom  # here, not at import: every case process imports this module

    j = np.arange(1, n // 2 + 1)
    result: np.ndarray = binom.cdf(n - j, n, 0.5) - binom.cdf(j - 1, n, 0.5)
    return result


def median_interval(values: Sample, level: float = DEFAULT_LEVEL) -> Interval:
    """Order-statistic interval of the median with its exact (binomial) coverage.

    [x_(j), x_(n+1-j)] holds the true median unless fewer than j of n values fall below
    it or fewer than j above: coverage = P(j <= B <= n - j), B ~ Binomial(n, 1/2).
    """
    data = np.sort(_finite(values))
    n = len(data)
    if n == 0:
        return Interval.none("no values")
    j = np.arange(1, n // 2 + 1)  # 1-based lower rank, widest first
    coverages = _median_coverages(n)
    if not len(coverages) or coverages[0] < MIN_CI_LEVEL:
        widest = float(coverages[0]) if len(coverages) else 0.0
        return Interval.none(f"n={n}: too few for an interval (the widest covers {widest:.0%})")
    i = _pick(coverages, level)
    got = float(coverages[i])
    return Interval(
        float(data[j[i] - 1]), float(data[n - j[i]]), got, _level_note(got, level, f"n={n}")
    )


@lru_cache(maxsize=256)
def _u_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) for u = 0..m*n under no difference: exact counts for small samples."""
    if m * n > EXACT_PAIRS:
        from scipy.stats import norm

        u = np.arange(m * n + 1)
        sd = math.sqrt(m * n * (m + n + 1) / 12)
        result: np.ndarray = norm.cdf((u + 0.5 - m * n / 2) / sd)
        return result
    # counts[j][u]: arrangements of i values of one side and j of the other with U = u
    prev = [np.ones(1) for _ in range(n + 1)]
    for i in range(1, m + 1):
        cur = [np.ones(1)]
        for j in range(1, n + 1):
            out = np.zeros(i * j + 1)
            out[j : j + len(prev[j])] += prev[j]
            out[: len(cur[j - 1])] += cur[j - 1]
            cur.append(out)
        prev = cur
    counts = prev[n]
    result = np.cumsum(counts) / counts.sum()
    return result


def ratio_interval(
    numerator: Sample, denominator: Sample, level: float = DEFAULT_LEVEL
) -> Interval:
    """Interval of median(numerator) / median(denominator) from both samples' variation.

    The Hodges-Lehmann interval of the shift between log values: order statistics k and
    m*n + 1 - k of the m*n pairwise log ratios, with coverage 1 - 2 P(U <= k - 1) from the
    Mann-Whitney distribution. Values must be positive (times, rates, bytes).
    """
    a, b = _finite(numerator), _finite(denominator)
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return Interval.none("no values on one side")
    if (a <= 0).any() or (b <= 0).any():
        return Interval.none("values <= 0: no ratio interval")
    logs = np.sort((np.log(a)[:, None] - np.log(b)[None, :]).ravel())
    cdf = _u_cdf(m, n)
    half = (m * n + 1) // 2  # k runs 1..half (k = half is the narrowest, the middle)
    coverages = 1 - 2 * cdf[:half]
    if not len(coverages) or coverages[0] < MIN_CI_LEVEL:
        widest = float(max(coverages[0], 0.0)) if len(coverages) else 0.0
        return Interval.none(
            f"n={m} vs {n}: too few for an interval (the widest covers {widest:.0%})"
        )
    k = _pick(coverages, level) + 1
    got = float(coverages[k - 1])
    return Interval(
        math.exp(logs[k - 1]),
        math.exp(logs[m * n - k]),
        got,
        _level_note(got, level, f"n={m} vs {n}"),
    )


def smallest_p(m: int, n: int) -> float:
    """The smallest two-sided Mann-Whitney p-value m against n values can give."""
    return 2 / math.comb(m + n, m) if m and n else 1.0


def can_reach(m: int, n: int, alpha: float) -> bool:
    """Whether m against n values can show a difference at level alpha at all."""
    return smallest_p(m, n) < alpha


def needed_each(alpha: float) -> int:
    """The fewest values per side (equal sides) with which Mann-Whitney can reach alpha."""
    k = 1
    while not can_reach(k, k, alpha):
        k += 1
    return k


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


def level_text(level: float) -> str:
    """'93.7%' for 0.9375, '95%' for 0.95: rounded down, so a level is never overstated."""
    if not math.isfinite(level):
        return "-"
    tenths = math.floor(level * 1000 + 1e-9) / 10
    return f"{tenths:.1f}".removesuffix(".0") + "%"


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


# --- ratios that hold under this machine's noise ------------------------------------------
#
# Chosen by simulating experiments against the noise model fitted to this VM
# (`measure/noise.py`: two speeds in regimes shared in time, per-process offsets, jitter;
# tests/test_coverage.py holds the checks). What the simulations showed:
#
# - process values are bimodal (fast or slow regime) and skewed: an interval whose level
#   rests on a shape (normal logs) is right only where the shape happens to fit. Welch on
#   3 a side covers 96-97% for its "95%" with processes spread in time, 89% with them back to
#   back; 5 paired t covers 97%. Rank intervals need no shape, only a shift or a symmetry
#   the design provides, and state exact levels; they are the estimators here:
# - **independent processes** (two runs): the Hodges-Lehmann shift of the log values with
#   its interval inverted from the exact Mann-Whitney distribution. Exact whenever one
#   side's log values are the other's shifted, as a speed change is here; at 3 a side the
#   widest interval covers 90% and says so; 4 a side reach 97.1%;
# - **paired processes** (A and B back to back in random order, or alternated inside one
#   process): the Hodges-Lehmann centre of the per-pair log ratios (Walsh averages) with its
#   interval from the exact Wilcoxon signed-rank distribution. Exact when the pair
#   differences are symmetric about the true log ratio: random A/B order per pair makes
#   them so, and the regime chain is reversible, so "fast then slow" is as likely as
#   "slow then fast" inside one process too. 5 pairs reach 93.75%, 6 pairs 96.9%;
# - **too few for ranks**: where the exact Mann-Whitney cannot reach the level asked at all
#   (3 a side at 95%: its widest interval covers 90%), Welch's t on the logs instead; with
#   processes spread in time its "95%" covered 95-97% in the simulations at 3 a side. Three
#   processes a side still cannot see a 1.2x change here; they can a 2x one. Pairs keep the
#   signed-rank interval at its own, lower, level (5 pairs: 93.75%);
# - a typical per-process value: the median's order-statistic interval (exact for any
#   continuous distribution), not t on logs.
#
# Both rank intervals are discrete: each takes the narrowest whose exact coverage is at
# least the level asked, and states that coverage (e.g. 96.8% at 5 processes a side,
# 96.1% at 8 pairs). Their guarantees need independent units: processes of one case run
# back to back share regimes (lag-1 autocorrelation 0.4 at 26 ms calls), and the unpaired
# "95%" then covers only 85-88%; with other cases' processes in between (0.7 s or more,
# as rounds in random order give) it holds. Pairs cancel the shared regime, so the paired
# estimate holds back to back too.

#: Above this many pairs the signed-rank distribution is taken as normal (exact below).
EXACT_SIGNED_RANK = 300


@lru_cache(maxsize=256)
def _w_cdf(n: int) -> np.ndarray:
    """P(W+ <= w) for w = 0..n(n+1)/2 under symmetry about zero (exact below the bound)."""
    top = n * (n + 1) // 2
    if n > EXACT_SIGNED_RANK:
        from scipy.stats import norm

        w = np.arange(top + 1)
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        result: np.ndarray = norm.cdf((w + 0.5 - top / 2) / sd)
        return result
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    result = np.cumsum(counts) / counts.sum()
    return result


def _upper_p(cdf: np.ndarray, observed: float) -> float:
    """P(S >= observed) for a statistic with this cdf over 0..len-1 (half-counts of ties
    rounded down, so the p is never understated)."""
    s = math.floor(observed + 1e-9)
    if s <= 0:
        return 1.0
    if s >= len(cdf):
        return 0.0
    return float(1 - cdf[s - 1])


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio numerator / denominator of typical values, its interval and its test."""

    ratio: float
    ci: Interval
    n: int
    method: str
    #: "unpaired" or "paired"; the log values behind it (numerator's and denominator's, or
    #: the per-pair log ratios and an empty tuple).
    kind: str = "unpaired"
    logs: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    @property
    def log_ratio(self) -> float:
        return math.log(self.ratio) if self.ratio > 0 else math.nan

    def _sides(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.logs[0], float), np.asarray(self.logs[1], float)

    def _one_sided(self, bound: float) -> tuple[float, float]:
        """(p of "log ratio <= bound" against ">", p of "log ratio >= -bound" against "<")."""
        x, y = self._sides()
        if self.kind in ("welch", "paired-t"):
            from scipy.stats import t

            est, se, df = self._t_view()
            if se == 0:
                return float(est <= bound), float(est >= -bound)
            return float(t.sf((est - bound) / se, df)), float(t.sf((-bound - est) / se, df))
        if self.kind == "paired":
            n = len(x)
            cdf = _w_cdf(n)
            out = []
            for shifted in (x - bound, -(x + bound)):
                ranks = _ranks(np.abs(shifted))
                w = float(ranks[shifted > 0].sum() + 0.5 * ranks[shifted == 0].sum())
                out.append(_upper_p(cdf, w))
            return out[0], out[1]
        cdf = _u_cdf(len(x), len(y))
        up = (x[:, None] - bound) - y[None, :]
        down = y[None, :] - (x[:, None] + bound)
        u_up = float((up > 0).sum() + 0.5 * (up == 0).sum())
        u_down = float((down > 0).sum() + 0.5 * (down == 0).sum())
        return _upper_p(cdf, u_up), _upper_p(cdf, u_down)

    def _t_view(self) -> tuple[float, float, float]:
        """(estimate, standard error, degrees of freedom) of the log ratio, for the t kinds."""
        x, y = self._sides()
        if self.kind == "paired-t":
            return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))), len(x) - 1.0
        diff = log_difference(np.exp(x), np.exp(y))
        assert diff is not None
        return diff.estimate, diff.se, diff.df

    def beyond_threshold_p(self, threshold: float) -> float:
        """p of "|log ratio| <= log1p(threshold)": small only when the ratio lies beyond
        1 + threshold (or below 1 / (1 + threshold)); twice the smaller one-sided p."""
        if self.n < 1 or not np.isfinite(self.ratio):
            return math.nan
        up, down = self._one_sided(math.log1p(threshold))
        return min(1.0, 2 * min(up, down))

    def interval_at(self, level: float) -> Interval:
        """The same estimator's interval at another level."""
        x, y = self._sides()
        if self.kind in ("welch", "paired-t"):
            est, se, df = self._t_view()
            half = _t_quantile((1 + level) / 2, df) * se
            return Interval(math.exp(est - half), math.exp(est + half), level)
        if self.kind == "paired":
            return _signed_rank_interval(x, level)
        return _shift_interval(x, y, level)

    def detectable_change(self, threshold: float, alpha: float) -> float:
        """The smallest change (a fraction: 0.12 for 12%) these data could call at level
        alpha: the threshold plus the half width of the 1 - alpha interval; infinite when
        the data cannot reach that level at all."""
        ci = self.interval_at(1 - alpha)
        if not np.isfinite(ci.level) or ci.level < 1 - alpha - 1e-12:
            return math.inf
        half = (math.log(ci.high) - math.log(ci.low)) / 2
        return math.expm1(math.log1p(threshold) + half)

    def processes_needed(
        self, threshold: float, change: float, alpha: float, power: float = 0.8
    ) -> int | None:
        """Processes a side (or pairs) with which a true `change` beyond the threshold is
        called with probability `power`, from the spread seen (the normal approximation,
        at the rank tests' efficiency 3/pi, and never below what the exact test needs to
        reach alpha). None when the change is not beyond the threshold or no spread is
        known yet."""
        from scipy.stats import norm

        gap = math.log1p(change) - math.log1p(threshold)
        if gap <= 0:
            return None
        x, y = self._sides()
        if self.kind in ("paired", "paired-t"):
            var = float(x.var(ddof=1)) if len(x) > 1 else math.nan
            floor = next(k for k in range(1, 64) if 2 / 2**k < alpha)
        else:
            if len(x) < 2 or len(y) < 2:
                return None
            var = float(x.var(ddof=1) + y.var(ddof=1))
            floor = needed_each(alpha)
        if not math.isfinite(var):
            return None
        z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
        need = (z / gap) ** 2 * var / (3 / math.pi)
        return max(floor, math.ceil(need) + 2)


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    result: np.ndarray = rankdata(values)
    return result


def _shift_interval(x: np.ndarray, y: np.ndarray, level: float) -> Interval:
    """Hodges-Lehmann interval of the shift x - y (logs), exact Mann-Whitney coverage."""
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return Interval.none("no values on one side")
    diffs = np.sort((x[:, None] - y[None, :]).ravel())
    cdf = _u_cdf(m, n)
    coverages = 1 - 2 * cdf[: (m * n + 1) // 2]
    if not len(coverages) or coverages[0] < MIN_CI_LEVEL:
        widest = float(max(coverages[0], 0.0)) if len(coverages) else 0.0
        return Interval.none(
            f"{m} vs {n} processes: too few for an interval (the widest covers {widest:.0%})"
        )
    k = _pick(coverages, level) + 1
    got = float(coverages[k - 1])
    note = _level_note(got, level, f"{m} vs {n} processes")
    return Interval(math.exp(diffs[k - 1]), math.exp(diffs[m * n - k]), got, note)


def _signed_rank_interval(d: np.ndarray, level: float) -> Interval:
    """Hodges-Lehmann interval of the centre of d (log ratios), exact signed-rank coverage."""
    n = len(d)
    if n == 0:
        return Interval.none("no pairs")
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    top = len(walsh)
    cdf = _w_cdf(n)
    coverages = 1 - 2 * cdf[: (top + 1) // 2]
    if not len(coverages) or coverages[0] < MIN_CI_LEVEL - 1e-12:
        widest = float(max(coverages[0], 0.0)) if len(coverages) else 0.0
        return Interval.none(f"{n} pairs: too few for an interval (the widest covers {widest:.0%})")
    k = _pick(coverages, level) + 1
    got = float(coverages[k - 1])
    note = _level_note(got, level, f"{n} pairs")
    return Interval(math.exp(walsh[k - 1]), math.exp(walsh[top - k]), got, note)


def case_interval(process_values: Sample, level: float = DEFAULT_LEVEL) -> Interval:
    """Interval of a case's typical per-process value (the median process): order
    statistics, with their exact binomial coverage whatever the values' shape."""
    return median_interval(process_values, level)


UNPAIRED_METHOD = "unpaired, Mann-Whitney (Hodges-Lehmann)"
PAIRED_METHOD = "paired, Wilcoxon signed-rank (Hodges-Lehmann)"
WELCH_METHOD = "unpaired, Welch t on logs (too few for ranks)"
PAIRED_T_METHOD = "paired, t on log ratios (too few for ranks)"


def unpaired_ratio(
    numerator_values: Sample,
    denominator_values: Sample,
    level: float = DEFAULT_LEVEL,
) -> RatioEstimate:
    """Ratio of typical values of two sets of independent processes (one value each)."""
    la, lb = _logs(numerator_values), _logs(denominator_values)
    if la is None or lb is None:
        return RatioEstimate(
            math.nan, Interval.none("no values, or values <= 0"), 0, UNPAIRED_METHOD
        )
    logs = (tuple(map(float, la)), tuple(map(float, lb)))
    widest = _u_cdf(len(la), len(lb))[0] if len(la) and len(lb) else 1.0
    if 1 - 2 * widest < level - 1e-12 and min(len(la), len(lb)) >= MIN_PROCESSES:
        # too few for a rank interval at this level: Welch on the logs
        diff = log_difference(np.exp(la), np.exp(lb))
        assert diff is not None
        est = RatioEstimate(math.exp(diff.estimate), Interval.none(""), min(len(la), len(lb)),
                            WELCH_METHOD, "welch", logs)  # fmt: skip
        return replace(est, ci=est.interval_at(level))
    shift = float(np.median((la[:, None] - lb[None, :]).ravel()))
    return RatioEstimate(
        ratio=math.exp(shift),
        ci=_shift_interval(la, lb, level),
        n=min(len(la), len(lb)),
        method=UNPAIRED_METHOD,
        kind="unpaired",
        logs=logs,
    )


def paired_ratio(log_ratios: Sample, level: float = DEFAULT_LEVEL) -> RatioEstimate:
    """Ratio from one log(numerator / denominator) per pair (a slot, or one process that
    alternated both): the Hodges-Lehmann centre and its signed-rank interval."""
    d = _finite(log_ratios)
    if not len(d):
        return RatioEstimate(math.nan, Interval.none("no pairs"), 0, PAIRED_METHOD, "paired")
    i, j = np.triu_indices(len(d))
    centre = float(np.median((d[i] + d[j]) / 2))
    return RatioEstimate(
        ratio=math.exp(centre),
        ci=_signed_rank_interval(d, level),
        n=len(d),
        method=PAIRED_METHOD,
        kind="paired",
        logs=(tuple(map(float, d)), ()),
    )


def pairing_gain(num_logs: Sample, den_logs: Sample) -> tuple[float, float]:
    """(rho between paired logs, variance of the paired difference / variance if unpaired).

    The second is 1 - rho when both sides spread alike: what pairing saved (0.58 at
    rho 0.42). NaNs below three pairs or with no spread."""
    a, b = np.asarray(num_logs, float), np.asarray(den_logs, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        return math.nan, math.nan
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    if va == 0 or vb == 0:
        return math.nan, math.nan
    rho = float(np.corrcoef(a, b)[0, 1])
    return rho, float((a - b).var(ddof=1) / (va + vb))
