"""Amdahl's law and the Universal Scalability Law fitted to one family's levels: the
model, the bounded least squares, the bootstrap over processes and the F-test between them.

`analysis/scaling.py` gathers the families from result frames and turns these fits into
rows, flags and verdicts; here is the maths alone, arrays in, arrays out. With N the axis
(workers), each level one value per case process:

    USL      X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1))
    Amdahl   the same with beta = 0

alpha is contention (the serial share), beta coherency (a cost that grows with every pair of
workers); where beta > 0 throughput peaks at N* = sqrt((1 - alpha) / beta).

How it is fitted, and why:

- **On the log of throughput**, every process one point: this machine's noise multiplies
  (`measure/noise.py`: regimes, per-process offsets), so on the log scale it has one spread
  at every level, and least squares there weighs a level at 1 worker like one at 32 (on
  throughput itself the fast levels' larger absolute scatter would decide the fit).
- **Bounded**, 0 <= alpha, beta <= 1: `scipy.optimize.least_squares` with bounds gives the
  estimate, started from the best point of a coarse grid (the sum of squares has flat
  valleys where alpha and beta trade off).
- **gamma is always fitted**, also where N = 1 was measured: anchoring it on the one-worker
  level would put that level's noise into every point of the curve; free, the level counts
  like any other. On the log scale it drops out of the fit in closed form (the weighted mean
  residual), so the search is over alpha and beta alone.
- **The model**: the USL where its coherency term is significant, by the F-test of the two
  nested fits (`SELECT_P`, on per-process points); else Amdahl. beta = 0 lies on its bound,
  where the F statistic is 0 half the time: the test is conservative, so a coherency cost is
  claimed only where the data show one.
- **Intervals**: a bootstrap over processes, stratified by level: a resample keeps every
  level's mean and number of processes and draws that many processes' deviations (each
  process's log value less its level's mean) from all the family's processes. Pooled, as
  the fit itself assumes one spread on the log scale: a level of 3 processes alone gives a
  resampled mean of a handful of values, and its intervals covered 87-91% for a stated 95%
  in the simulations, against 92-96% pooled (`pool=False` resamples each level's own
  values). The deviations are widened by sqrt(P / (P - K)) (P processes, K levels: the
  fit's residual degrees of freedom) and by t/z at those degrees of freedom, so a few
  processes give a wider interval, as a t interval would. The interval is the percentile
  one over the resamples, each refitted by a vectorised bounded Gauss-Newton (`_solve`: the
  same sum of squares, checked against `least_squares` in the tests; `least_squares` per
  resample would cost seconds a family). alpha and beta and their intervals are the USL's
  where it is chosen. Under Amdahl, alpha is Amdahl's, and its interval is the union of
  Amdahl's and the USL's: Amdahl's alone misses the truth where a coherency cost is there
  but too small for the test (its alpha takes it up: 71% for a stated 95%, simulated), the
  USL's alone falls short where beta is truly 0 (on its bound: 88-92%); beta is 0 and its
  interval the USL's (how much coherency the data leave room for). N* and the peak
  throughput come from the USL's resamples, the knee from the chosen model's.
  `ci_level` is the level asked for; `tests/test_scaling.py` holds the simulated coverage
  to within 3 points of it under this machine's noise, from 4 processes a level (at 3,
  beta's covered 91-92% for a stated 95%: a flag says so). Where a
  level has a single process there is nothing to resample between processes: the
  intervals then come from the repeats and cover those processes alone (`ci_scope`, and a
  flag says so).
- **The knee**: the first N from which one more worker adds less than `KNEE_GAIN` (10%) of
  what one worker alone gives (gamma): a share of the first worker, not of the throughput
  so far, so that perfectly linear scaling has no knee (it would have one at 10 workers by
  the other reading, however well it scaled).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.measure.stats import DEFAULT_LEVEL

#: The knee: one more worker adds less than this share of one worker's throughput.
KNEE_GAIN = 0.10
#: The F-test's level for adding the coherency term.
SELECT_P = 0.05
RESAMPLES = 1000
AMDAHL, USL = "amdahl", "usl"

_KNEE_CAP = 1_000_000


# --- the model --------------------------------------------------------------------------------


def throughput(n: Any, alpha: Any, beta: Any, gamma: Any) -> Any:
    """X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1)), broadcast over arrays."""
    n = np.asarray(n, dtype=float)
    return gamma * n / (1 + alpha * (n - 1) + beta * n * (n - 1))


def peak(alpha: Any, beta: Any) -> Any:
    """N* = sqrt((1 - alpha) / beta), at least 1 (below, one worker is the best there is);
    inf where beta = 0."""
    alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        star = np.sqrt(np.clip(1 - alpha, 0, None) / beta)
        return np.where(beta > 0, np.maximum(star, 1.0), np.inf)


def knee(alpha: Any, beta: Any, gain: float = KNEE_GAIN) -> np.ndarray:
    """The first integer N from which X(N + 1) - X(N) < gain * X(1); inf where none (up to a
    million). The gain falls with N until it turns negative past the peak, so the first N
    is found by bisection, vectorised."""
    alpha = np.atleast_1d(np.asarray(alpha, float))
    beta = np.broadcast_to(np.asarray(beta, float), alpha.shape)

    def small(n: np.ndarray) -> np.ndarray:
        return throughput(n + 1, alpha, beta, 1.0) - throughput(n, alpha, beta, 1.0) < gain

    lo = np.ones(alpha.shape)
    hi = np.full(alpha.shape, float(_KNEE_CAP))
    found = small(hi)
    first = small(lo)
    for _ in range(int(math.ceil(math.log2(_KNEE_CAP))) + 1):
        mid = np.floor((lo + hi) / 2)
        ok = small(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(first, 1.0, np.where(found, hi, np.inf))


# --- fitting ----------------------------------------------------------------------------------


def _sse(theta: np.ndarray, n: np.ndarray, ybar: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Between-level sum of squares of log throughput at (alpha, beta) = theta (..., 2), log
    gamma profiled out; ybar (..., K) level means of the logs, w (K,) or (..., K) points per
    level. The within-level sum, constant in theta, is left out."""
    z = _z(theta, n, ybar)
    c = (w * z).sum(-1, keepdims=True) / w.sum(-1, keepdims=True)
    out: np.ndarray = (w * (z - c) ** 2).sum(-1)
    return out


def _z(theta: np.ndarray, n: np.ndarray, ybar: np.ndarray) -> np.ndarray:
    a, b = theta[..., 0:1], theta[..., 1:2]
    d = 1 + a * (n - 1) + b * n * (n - 1)
    return ybar - np.log(n) + np.log(np.maximum(d, 1e-300))


def _log_gamma(theta: np.ndarray, n: np.ndarray, ybar: np.ndarray, w: np.ndarray) -> np.ndarray:
    z = _z(theta, n, ybar)
    out: np.ndarray = (w * z).sum(-1) / w.sum(-1)
    return out


def _grid(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Starting points over the box: 0, log-spaced values and the negative side if allowed."""
    axes = []
    for lo, hi, smallest in ((lower[0], upper[0], 1e-4), (lower[1], upper[1], 1e-6)):
        if hi <= lo:
            axes.append(np.array([lo]))
            continue
        values = np.r_[0.0, np.geomspace(smallest, hi, 24)]
        if lo < 0:
            values = np.r_[np.linspace(lo, 0, 8, endpoint=False), values]
        axes.append(values[(values >= lo) & (values <= hi)])
    a, b = np.meshgrid(*axes, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


def _solve(
    n: np.ndarray,
    ybar: np.ndarray,
    w: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    start: np.ndarray,
    iterations: int = 80,
) -> np.ndarray:
    """(alpha, beta) minimising `_sse` within the box, for every row of ybar (M, K) at once.

    Damped Gauss-Newton on the profiled residuals (variable projection: log gamma solved in
    closed form, the Jacobian centred accordingly). Each step tries four moves, each clipped
    to the box: both parameters, alpha alone, beta alone (the active-set moves when one sits
    on a bound) and none; the best is taken if it lowers the sum, and the damping eases,
    else the damping grows. Monotone, so it never leaves the basin it starts in.
    """
    theta = np.clip(start.astype(float).copy(), lower, upper)
    w_rows = np.broadcast_to(np.asarray(w, dtype=float), ybar.shape)
    lam = np.full(len(ybar), 1e-3)
    fails = np.zeros(len(ybar), dtype=int)
    current = _sse(theta, n, ybar, w_rows)
    live = np.arange(len(ybar))  # rows still moving: only they are computed
    for _ in range(iterations):
        if not len(live):
            break
        th, yb, wr, cur, lm = theta[live], ybar[live], w_rows[live], current[live], lam[live]
        m = len(live)
        wsum = wr.sum(-1, keepdims=True)
        a, b = th[:, 0:1], th[:, 1:2]
        d = 1 + a * (n - 1) + b * n * (n - 1)
        z = yb - np.log(n) + np.log(d)
        c = (wr * z).sum(-1, keepdims=True) / wsum
        sw = np.sqrt(wr)
        e = sw * (z - c)  # (m, K)
        dz = np.stack([(n - 1) / d, n * (n - 1) / d], axis=-1)  # (m, K, 2)
        dz = dz - (wr[..., None] * dz).sum(1, keepdims=True) / wsum[..., None]
        jac = sw[..., None] * dz
        h = np.einsum("mki,mkj->mij", jac, jac)
        g = np.einsum("mki,mk->mi", jac, e)
        h00 = h[:, 0, 0] * (1 + lm) + 1e-300
        h11 = h[:, 1, 1] * (1 + lm) + 1e-300
        h01 = h[:, 0, 1]
        det = h00 * h11 - h01 * h01
        safe = np.where(det > 0, det, np.inf)
        full = -np.stack(
            [(h11 * g[:, 0] - h01 * g[:, 1]) / safe, (h00 * g[:, 1] - h01 * g[:, 0]) / safe],
            axis=-1,
        )
        zero = np.zeros(m)
        only_a = np.stack([-g[:, 0] / h00, zero], axis=-1)
        only_b = np.stack([zero, -g[:, 1] / h11], axis=-1)
        candidates = np.stack(
            [np.clip(th + s, lower, upper) for s in (full, only_a, only_b)], axis=1
        )  # (m, 3, 2)
        sums = _sse(candidates, n, yb[:, None, :], wr[:, None, :])
        sums = np.where(np.isfinite(sums), sums, np.inf)
        best = sums.argmin(1)
        rows = np.arange(m)
        best_sum = sums[rows, best]
        better = best_sum < cur - 1e-15 * (1 + cur)
        step = candidates[rows, best]
        moved = np.abs(step - th).max(-1)
        theta[live] = np.where(better[:, None], step, th)
        current[live] = np.where(better, best_sum, cur)
        lam[live] = np.where(better, np.maximum(lm / 4, 1e-12), lm * 8)
        fails[live] = np.where(better, 0, fails[live] + 1)
        small = better & (cur - best_sum <= 1e-13 * (1 + best_sum)) & (moved < 1e-9)
        done = small | (fails[live] >= 5)
        live = live[~done]
    return theta


def _least_squares(
    n: np.ndarray, logs: np.ndarray, lower: np.ndarray, upper: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """The estimate: `scipy.optimize.least_squares` with bounds on the log of every point
    (n: each point's N), parameters (log gamma, alpha, beta); beta fixed where its bounds
    meet (Amdahl). Returns (alpha, beta)."""
    from scipy.optimize import least_squares

    free_beta = upper[1] > lower[1]

    def parts(x: np.ndarray) -> tuple[float, float, float]:
        return x[0], x[1], (x[2] if free_beta else lower[1])

    def residuals(x: np.ndarray) -> np.ndarray:
        lg, a, b = parts(x)
        out: np.ndarray = logs - (lg + np.log(n) - np.log(1 + a * (n - 1) + b * n * (n - 1)))
        return out

    def jacobian(x: np.ndarray) -> np.ndarray:
        _, a, b = parts(x)
        d = 1 + a * (n - 1) + b * n * (n - 1)
        cols = [-np.ones_like(n), (n - 1) / d]
        if free_beta:
            cols.append(n * (n - 1) / d)
        return np.stack(cols, axis=1)

    theta0 = np.clip(start, lower, upper)
    lg0 = float(
        np.mean(logs - np.log(n) + np.log(1 + theta0[0] * (n - 1) + theta0[1] * n * (n - 1)))
    )
    x0 = [lg0, theta0[0]] + ([theta0[1]] if free_beta else [])
    lo = [-np.inf, lower[0]] + ([lower[1]] if free_beta else [])
    hi = [np.inf, upper[0]] + ([upper[1]] if free_beta else [])
    fit = least_squares(
        residuals,
        x0,
        jac=jacobian,
        bounds=(lo, hi),
        method="trf",
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
        x_scale="jac",
    )
    _, a, b = parts(fit.x)
    # on a bound to rounding: on it (a flag and the verdict read bounds exactly)
    theta = np.array([a, b])
    for bound in (lower, upper):
        theta = np.where(np.abs(theta - bound) <= 1e-9, bound, theta)
    return theta


@dataclass(frozen=True)
class Bounds:
    lower: np.ndarray
    upper: np.ndarray


def bounds(max_n: float) -> dict[str, Bounds]:
    """USL, Amdahl and Amdahl with alpha below 0 (as far as the curve stays finite)."""
    negative = -0.95 / max(max_n - 1, 1.0)
    return {
        USL: Bounds(np.array([0.0, 0.0]), np.array([1.0, 1.0])),
        AMDAHL: Bounds(np.array([0.0, 0.0]), np.array([1.0, 0.0])),
        "signed": Bounds(np.array([negative, 0.0]), np.array([1.0, 0.0])),
    }


@dataclass(frozen=True)
class Fits:
    """Fits of R data sets (replicates) of one design, each with its bootstrap: arrays of
    shape (R,) and, for the resamples, (R, B)."""

    n: np.ndarray  # (K,) the levels
    points: np.ndarray  # (K,) points (processes, or repeats) per level
    theta: dict[str, np.ndarray]  # model -> (R, 2)
    log_gamma: dict[str, np.ndarray]  # model -> (R,)
    boot: dict[str, np.ndarray]  # model -> (R, B, 2)
    boot_log_gamma: dict[str, np.ndarray]  # model -> (R, B)
    coherency_p: np.ndarray  # (R,)
    level: float

    @property
    def usl_chosen(self) -> np.ndarray:
        return self.coherency_p < SELECT_P

    def chosen(self) -> tuple[np.ndarray, np.ndarray]:
        """The chosen model's (R, 2) estimate and (R, B, 2) resamples."""
        pick = self.usl_chosen
        return (
            np.where(pick[:, None], self.theta[USL], self.theta[AMDAHL]),
            np.where(pick[:, None, None], self.boot[USL], self.boot[AMDAHL]),
        )

    def interval(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval over the resamples (last axis), at `level`."""
        tail = (1 - self.level) / 2
        low = np.quantile(values, tail, axis=-1, method="inverted_cdf")
        high = np.quantile(values, 1 - tail, axis=-1, method="inverted_cdf")
        return low, high


def fit_levels(
    n: Sequence[float] | np.ndarray,
    values: Sequence[np.ndarray],
    *,
    level: float = DEFAULT_LEVEL,
    resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
    widen: bool = True,
    scipy_estimate: bool = True,
    pool: bool = True,
    superlinear: bool = True,
) -> Fits:
    """Fit Amdahl, the USL and Amdahl with alpha allowed below 0 to R data sets at once.

    `n`: the K levels; `values[k]`: (R, P_k) positive throughputs at level k (one per process,
    P_k of them), or (P_k,) for one data set. The bootstrap (see the module) draws every
    level's deviations from all levels' (`pool`) or from its own, widened (`widen`) or not.
    `superlinear`: fit Amdahl with alpha below 0 too (the flag). `scipy_estimate`: the
    estimate by `least_squares` (one call a data set and model; off, `_solve` gives it too,
    which simulations of many data sets use for speed).
    """
    n = np.asarray(n, dtype=float)
    logs = [np.log(np.atleast_2d(np.asarray(v, dtype=float))) for v in values]
    reps = logs[0].shape[0]
    points = np.array([v.shape[1] for v in logs], dtype=float)
    ybar = np.stack([v.mean(1) for v in logs], axis=1)  # (R, K)
    within = sum(((v - v.mean(1, keepdims=True)) ** 2).sum(1) for v in logs)  # (R,)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # the resamples' level means, (R, B, K)
    boot_means = np.empty((reps, resamples, len(n)))
    if pool:
        dev = np.concatenate([v - v.mean(1, keepdims=True) for v in logs], axis=1)
        total = dev.shape[1]
        if widen and total > len(n):
            from scipy.stats import norm, t

            df = total - len(n)
            q = (1 + level) / 2
            dev = dev * math.sqrt(total / df) * float(t.ppf(q, df) / norm.ppf(q))
    for k, v in enumerate(logs):
        p = v.shape[1]
        centre = v.mean(1, keepdims=True)
        if pool:
            idx = gen.integers(0, dev.shape[1], size=(reps, resamples, p))
            boot_means[:, :, k] = centre + np.take_along_axis(dev[:, None, :], idx, axis=2).mean(2)
            continue
        spread = math.sqrt(p / (p - 1)) if widen and p > 1 else 1.0
        wide = centre + spread * (v - centre)
        idx = gen.integers(0, p, size=(reps, resamples, p))
        boot_means[:, :, k] = np.take_along_axis(wide[:, None, :], idx, axis=2).mean(2)
    flat = boot_means.reshape(reps * resamples, len(n))
    theta, log_gamma, boot, boot_lg, sse = {}, {}, {}, {}, {}
    for model, box in bounds(float(n.max())).items():
        if model == "signed" and not superlinear:
            continue
        grid = _grid(box.lower, box.upper)
        sums = _sse(grid[None, :, :], n, ybar[:, None, :], points)  # (R, G)
        start = grid[sums.argmin(1)]
        if scipy_estimate:
            every = np.repeat(n, points.astype(int))
            est = np.stack(
                [
                    _least_squares(
                        every, np.concatenate([v[r] for v in logs]), box.lower, box.upper, start[r]
                    )
                    for r in range(reps)
                ]
            )
        else:
            est = _solve(n, ybar, points, box.lower, box.upper, start)
        theta[model] = est
        log_gamma[model] = _log_gamma(est, n, ybar, points)
        sse[model] = _sse(est, n, ybar, points) + within
        b = _solve(n, flat, points, box.lower, box.upper, np.repeat(est, resamples, axis=0))
        boot[model] = b.reshape(reps, resamples, 2)
        boot_lg[model] = _log_gamma(b, n, flat, points).reshape(reps, resamples)
    total = points.sum()
    p = _f_test(sse[AMDAHL], sse[USL], total, len(n))
    return Fits(n, points, theta, log_gamma, boot, boot_lg, p, level)


def _f_test(sse_small: np.ndarray, sse_big: np.ndarray, points: float, levels: int) -> np.ndarray:
    """p of the F-test for the USL's one extra parameter over Amdahl's two (gamma, alpha);
    1 where it cannot be tested (fewer than 4 levels, or no residual degrees of freedom)."""
    from scipy.stats import f as f_dist

    df = points - 3
    if levels < 4 or df < 1:
        return np.ones_like(sse_small)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.clip(sse_small - sse_big, 0, None) / (sse_big / df)
    stat = np.where(np.isfinite(stat), stat, 0.0)
    out: np.ndarray = f_dist.sf(stat, 1, df)
    return np.where(sse_big <= 0, np.where(sse_small > 0, 0.0, 1.0), out)
