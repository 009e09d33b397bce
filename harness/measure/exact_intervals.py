"""Exact intervals that state their real coverage, rather than bootstrapped ones: a bootstrap
of a median from 3 to 5 repeats returns the sample's min and max and calls it "95%" (its real
coverage is 75% at n = 3, 94% at n = 5).

- the median's interval is a pair of order statistics; its coverage is a binomial sum,
  exact for any continuous distribution (ties only make it wider);
- the ratio of two medians (a speedup, a comparison) is the Hodges-Lehmann interval of
  the shift in log values, inverted from the Mann-Whitney distribution: exact when one
  side is the other scaled (same shape on a log scale), and it carries the variation of
  both sides, so a noisy baseline widens it.

Each picks the narrowest interval whose coverage is at least the level asked; when n is
too small for that, the widest there is, with its own, lower, level; below
`MIN_CI_LEVEL` no interval at all (NaN) and a note. `level_text` prints a level, never
overstated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import numpy as np

#: What the statistics take: a sequence of floats, or a NumPy array or pandas Series of them.
Sample: TypeAlias = Sequence[float] | np.ndarray

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


def level_text(level: float) -> str:
    """'93.7%' for 0.9375, '95%' for 0.95: rounded down, so a level is never overstated."""
    if not math.isfinite(level):
        return "-"
    tenths = math.floor(level * 1000 + 1e-9) / 10
    return f"{tenths:.1f}".removesuffix(".0") + "%"
