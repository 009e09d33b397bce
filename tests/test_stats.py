"""Intervals state their real coverage: simulated from known distributions, an interval said
to cover the true value with probability L must do so in about L of the trials. Seeded, so
the numbers are the same on every run; no engine, no timing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.measure import stats

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

TRIALS = 20000


def _tolerance(level: float, trials: int) -> float:
    """Four standard errors of a proportion: a wrong level (95% claimed for 93.75%) fails."""
    return 4 * math.sqrt(level * (1 - level) / trials)


def _draw(rng: np.random.Generator, dist: str, size: int) -> np.ndarray:
    """Samples whose true median is 1: symmetric (normal) or skewed (exponential)."""
    if dist == "normal":
        return 1.0 + 0.1 * rng.standard_normal(size)
    return rng.exponential(1 / math.log(2), size)


def _median_coverage(dist: str, n: int, seed: int, trials: int = TRIALS) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    hits, levels = 0, set()
    for _ in range(trials):
        ci = stats.median_interval(_draw(rng, dist, n))
        hits += ci.low <= 1.0 <= ci.high
        levels.add(ci.level)
    (level,) = levels  # the level follows from n alone
    return hits / trials, level


@pytest.mark.parametrize("dist", ["normal", "exponential"])
@pytest.mark.parametrize("n", [3, 4, 5, 9, 15, 40])
def test_median_interval_covers_its_stated_level(dist, n):
    coverage, level = _median_coverage(dist, n, seed=n + len(dist))
    assert abs(coverage - level) < _tolerance(level, TRIALS), (coverage, level)


def test_median_interval_levels_at_small_n():
    # the widest interval, [min, max], is all 3 to 5 repeats can give, at its own level
    assert stats.median_interval([3.0, 1.0, 2.0]).level == pytest.approx(0.75)
    five = stats.median_interval([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (five.low, five.high, five.level) == (1.0, 5.0, pytest.approx(0.9375))
    assert "93.7%" in five.note  # below the level asked, and says so
    six = stats.median_interval(range(1, 7))
    assert six.level == pytest.approx(1 - 2 / 64) and six.note == ""
    # the narrowest interval still covering 95%: at n = 9 that drops one value a side
    nine = stats.median_interval(range(1, 10))
    assert (nine.low, nine.high) == (2.0, 8.0) and nine.level >= 0.95


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_values_give_no_interval_and_say_why(n):
    ci = stats.median_interval([1.0, 2.0][:n])
    assert math.isnan(ci.low) and math.isnan(ci.high) and math.isnan(ci.level)
    assert ci.note


def _ratio_coverage(m, n, sigma_num, sigma_den, seed, trials=TRIALS // 4, dist="lognormal"):
    """Coverage of the interval of median(num) / median(den) when the true ratio is 2."""
    rng = np.random.default_rng(seed)
    hits, levels = 0, set()
    for _ in range(trials):
        if dist == "lognormal":
            num = 2.0 * np.exp(sigma_num * rng.standard_normal(m))
            den = np.exp(sigma_den * rng.standard_normal(n))
        else:  # skewed: exponential times a scale, median 1 before scaling
            num = 2.0 * rng.exponential(1 / math.log(2), m)
            den = rng.exponential(1 / math.log(2), n)
        ci = stats.ratio_interval(num, den)
        hits += ci.low <= 2.0 <= ci.high
        levels.add(ci.level)
    (level,) = levels
    return hits / trials, level


@pytest.mark.parametrize("dist", ["lognormal", "exponential"])
@pytest.mark.parametrize(("m", "n"), [(3, 3), (4, 4), (5, 5), (8, 8), (5, 10), (20, 20)])
def test_ratio_interval_covers_its_stated_level(m, n, dist):
    """One side the other scaled (same shape on a log scale): the level is exact."""
    coverage, level = _ratio_coverage(m, n, 0.1, 0.1, seed=m * 100 + n, dist=dist)
    assert abs(coverage - level) < _tolerance(level, TRIALS // 4), (coverage, level)


def test_ratio_interval_with_unequal_spread_stays_near_its_level():
    """One side four times as noisy breaks the equal-shape assumption: the interval then
    covers a little less than it states (measured: 92.9% for 95% at n = 8), never far."""
    coverage, level = _ratio_coverage(8, 8, 0.05, 0.2, seed=7)
    assert level - 0.04 < coverage < level, (coverage, level)


def test_ratio_interval_uses_the_normal_approximation_for_large_samples():
    coverage, level = _ratio_coverage(60, 60, 0.1, 0.1, seed=60, trials=2000)
    assert level == pytest.approx(0.95, abs=0.002)
    assert abs(coverage - level) < _tolerance(level, 2000)


def test_ratio_interval_carries_both_sides_variation():
    rng = np.random.default_rng(3)
    quiet = 1.0 + 0.001 * rng.standard_normal(8)
    noisy = 1.0 * np.exp(0.2 * rng.standard_normal(8))
    contender = 0.5 * np.exp(0.01 * rng.standard_normal(8))
    narrow = stats.ratio_interval(quiet, contender)
    wide = stats.ratio_interval(noisy, contender)
    assert wide.high - wide.low > 5 * (narrow.high - narrow.low)
    assert narrow.low <= 2.0 <= narrow.high or abs(narrow.low - 2) < 0.05


def test_ratio_interval_of_too_few_or_nonpositive_values_is_nan():
    assert math.isnan(stats.ratio_interval([1.0, 2.0], [1.0, 2.0]).level)
    assert stats.ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).level == pytest.approx(0.9)
    assert "<= 0" in stats.ratio_interval([0.0, 1.0, 2.0], [1.0, 2.0, 3.0]).note


def test_what_mann_whitney_can_reach():
    assert not stats.can_reach(3, 3, 0.05)  # smallest p = 2/20
    assert stats.can_reach(4, 4, 0.05)  # 2/70
    assert stats.can_reach(3, 10, 0.05)  # unequal sides can make up for each other
    assert stats.needed_each(0.05) == 4 and stats.needed_each(0.01) == 5


def test_level_text_never_overstates():
    assert stats.level_text(0.9375) == "93.7%"
    assert stats.level_text(0.95) == "95%"
    assert stats.level_text(0.9499) == "94.9%"
    assert stats.level_text(math.nan) == "-"


def test_summary_of_known_samples():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.n == 5 and s.median == 3.0 and s.mean == 22.0
    assert s.stdev == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1))
    assert (s.ci_low, s.ci_high, s.ci_level) == (1.0, 100.0, pytest.approx(0.9375))
    assert s.unstable  # cv ~ 2: far beyond what can be trusted
    steady = stats.summarize([1.0, 1.01, 0.99, 1.0])
    assert not steady.unstable and steady.cv < 0.01


def test_degenerate_samples():
    assert stats.summarize([]).n == 0
    one = stats.summarize([2.5])
    assert (one.median, one.unstable) == (2.5, False)
    assert math.isnan(one.ci_low) and math.isnan(one.ci_level) and one.ci_note
    assert stats.summarize([1.0, float("nan"), 3.0]).n == 2


# The process as the sampling unit ----------------------------------------------------------
#
# A two-level noise model: each process has its own offset (memory layout, hash seed, core;
# log-normal, spread `between`) and its repeats scatter around it (spread `within`). A
# process is summarised by the median of its repeats, as the harness does. Stated levels
# must hold within 2 points at the default settings (3 processes of 5 repeats), whether
# processes differ by nothing, as much as repeats do, or three times that.

WITHIN = 0.02
DEFAULT_PROCESSES, DEFAULT_REPEATS = 3, 5


def _process_values(rng, n, between, within=WITHIN, repeats=DEFAULT_REPEATS, median=1.0):
    offsets = between * rng.standard_normal((n, 1))
    logs = offsets + within * rng.standard_normal((n, repeats))
    return median * np.exp(np.median(logs, axis=1))


@pytest.mark.parametrize("between", [0.0, WITHIN, 3 * WITHIN])
def test_process_interval_holds_its_level_whatever_processes_share(between):
    rng = np.random.default_rng(11 + int(between * 1000))
    trials, hits = 4000, 0
    for _ in range(trials):
        ci = stats.process_interval(_process_values(rng, DEFAULT_PROCESSES, between))
        hits += ci.low <= 1.0 <= ci.high
    assert ci.level == 0.95 and abs(hits / trials - 0.95) <= 0.02, hits / trials


@pytest.mark.parametrize("between", [0.0, WITHIN, 3 * WITHIN])
def test_speedup_interval_holds_its_level_when_the_sides_spread_differently(between):
    """A straggling backend (three times the spread) against a steady baseline: Welch's
    interval does not assume the two sides spread alike, as Hodges-Lehmann did."""
    rng = np.random.default_rng(21 + int(between * 1000))
    trials, hits = 4000, 0
    for _ in range(trials):
        base = _process_values(rng, DEFAULT_PROCESSES, between)
        case = _process_values(rng, DEFAULT_PROCESSES, 3 * between, 3 * WITHIN, median=0.5)
        ci = stats.process_ratio_interval(base, case)
        hits += ci.low <= 2.0 <= ci.high
    assert abs(hits / trials - 0.95) <= 0.02, hits / trials


@pytest.mark.parametrize("between", [0.0, WITHIN, 3 * WITHIN])
def test_a_a_of_twenty_cases_calls_a_false_change_in_at_most_alpha_of_comparisons(between):
    """Twenty cases the same on both sides, Holm over them, --threshold 0 (any change at all
    may be called): the chance of any false call is at most alpha = 5%."""
    rng = np.random.default_rng(31 + int(between * 1000))
    comparisons, any_false = 800, 0
    for _ in range(comparisons):
        p = []
        for _ in range(20):
            a = _process_values(rng, DEFAULT_PROCESSES, between)
            b = _process_values(rng, DEFAULT_PROCESSES, between)
            p.append(stats.beyond_threshold_p(stats.log_difference(b, a), 0.0))
        any_false += (stats.holm(p) < 0.05).any()
    rate = any_false / comparisons
    assert rate <= 0.05 + _tolerance(0.05, comparisons) / 2, rate


def test_pooled_repeats_would_fail_that_a_a():
    """Why the process is the unit: the same A/A, one process a side, its repeats taken as
    independent, calls a change far more often than alpha (the old gate's failure)."""
    rng = np.random.default_rng(41)
    trials, called = 400, 0
    for _ in range(trials):
        a = np.exp(3 * WITHIN * rng.standard_normal() + WITHIN * rng.standard_normal(5))
        b = np.exp(3 * WITHIN * rng.standard_normal() + WITHIN * rng.standard_normal(5))
        called += stats.beyond_threshold_p(stats.log_difference(b, a), 0.0) < 0.05
    assert called / trials > 0.3


def test_a_change_is_called_only_when_its_interval_lies_beyond_the_threshold():
    rng = np.random.default_rng(51)
    for _ in range(300):
        a = _process_values(rng, 3, WITHIN)
        b = _process_values(rng, 3, WITHIN, median=float(rng.uniform(0.9, 1.2)))
        ci = stats.process_ratio_interval(b, a, level=0.95)
        p = stats.beyond_threshold_p(stats.log_difference(b, a), 0.05)
        beyond = ci.low > 1.05 or ci.high < 1 / 1.05
        assert (p < 0.05) == beyond, (ci, p)


def test_holm_matches_its_definition():
    adjusted = stats.holm([0.01, 0.04, 0.03, np.nan, 0.2])
    assert adjusted[0] == pytest.approx(0.04)  # 4 tests: 4 x 0.01
    assert adjusted[2] == pytest.approx(0.09)  # 3 x 0.03
    assert adjusted[1] == pytest.approx(0.09)  # max(2 x 0.04, 0.09): never below an earlier one
    assert np.isnan(adjusted[3]) and adjusted[4] == pytest.approx(0.2)


def test_one_process_gives_no_process_interval():
    assert math.isnan(stats.process_interval([1.0]).low)
    assert math.isnan(stats.process_ratio_interval([1.0, 1.1], [1.0]).low)
    assert stats.log_difference([1.0, 1.1], [1.0]) is None
