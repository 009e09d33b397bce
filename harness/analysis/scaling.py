"""Where adding workers stops paying: Amdahl's law and the Universal Scalability Law fitted
to every swept case family, with intervals from the processes.

A family is the cases of one scenario, backend, variant, parameters, interpreter and side
that differ only in the axis (``workers``, or ``nodes``: how many cluster nodes a case's
workers spanned, the ``node_count`` column), and hold the same things fixed (``held``: along
nodes, the workers per node and whether tasks grew with the nodes, weak scaling, or stayed,
strong; along workers in a node sweep, the node count).
Each of its levels (one value of the axis) holds one value per case process (a run and
round): the median of its repeats of the metric, throughput (``tasks_per_s``, higher is
better) by default. The models, with N the axis:

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
- **No peak within reach** where the model is Amdahl or beta's interval reaches 0:
  ``peak_workers`` is None then, never a number read off noise.
- **Flags**: a point estimate on a bound; superlinear data (Amdahl with alpha allowed below
  0 fits alpha < 0, its interval wholly below); too few levels (under `MIN_LEVELS`); a peak
  or knee beyond `REACH` times the largest N measured.
- **The knee**: the first N from which one more worker adds less than `KNEE_GAIN` (10%) of
  what one worker alone gives (gamma): a share of the first worker, not of the throughput
  so far, so that perfectly linear scaling has no knee (it would have one at 10 workers by
  the other reading, however well it scaled).

Frames in, frames out: `fit_scaling` (one row per family), `scaling_curve` (the fitted
curves over N, for plots; the part beyond `REACH` times the largest N marked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.measure.stats import DEFAULT_LEVEL, MIN_PROCESSES
from harness.protocol import METRICS, Metric

#: The axis: the number of workers of a case, or with `--axis nodes` of its cluster nodes.
AXIS = "workers"
#: An axis by name -> the tidy frame's column that holds it, where the two differ.
AXES = {"nodes": "node_count"}
METRIC = Metric.TASKS_PER_S
#: What a family shares: every case key but the axis (and the run: runs pool), and what it
#: holds fixed along the axis (`held`, derived in `families`).
FAMILY_KEYS = ["scenario", "backend", "variant", "params", "python", "side", "held"]
#: Fewest levels a fit is trusted with; fewer are fitted and flagged.
MIN_LEVELS = 5
#: Predictions beyond this many times the largest N measured are flagged, and the curve's
#: part there marked.
REACH = 2.0
#: The knee: one more worker adds less than this share of one worker's throughput.
KNEE_GAIN = 0.10
#: The F-test's level for adding the coherency term.
SELECT_P = 0.05
RESAMPLES = 1000
AMDAHL, USL = "amdahl", "usl"

#: Flags (the `flags` column lists those that apply).
FEW_LEVELS = "too few levels"
SUPERLINEAR = "superlinear: alpha < 0 would fit"
BEYOND_REACH = "prediction beyond twice the largest N measured"
WITHIN_PROCESS = "one process at some level: intervals from its repeats"
#: Fewest processes a level for the stated level to hold (simulated: 3 a level covered
#: 91-92% for beta at a stated 95%, 4 and more within 3 points).
SURE_PROCESSES = 4
FEW_PROCESSES = "under 4 processes at some level: intervals cover a few points less than stated"

COLUMNS = [
    *FAMILY_KEYS,
    "metric",
    "axis",
    "levels",
    "max_n",
    "processes",
    "model",
    "coherency_p",
    "gamma",
    "alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "beta",
    "beta_ci_low",
    "beta_ci_high",
    "peak_workers",
    "peak_ci_low",
    "peak_ci_high",
    "peak_throughput",
    "peak_throughput_ci_low",
    "peak_throughput_ci_high",
    "knee_workers",
    "knee_ci_low",
    "knee_ci_high",
    "ci_level",
    "ci_scope",
    "flags",
    "verdict",
]

_KNEE_CAP = 1_000_000
_BOUND_TOL = 1e-7


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


def _bounds(max_n: float) -> dict[str, Bounds]:
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
    for model, box in _bounds(float(n.max())).items():
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


# --- one family --------------------------------------------------------------------------------


def _on_bound(theta: np.ndarray, box: Bounds, model: str) -> list[str]:
    names = ["alpha", "beta"] if model == USL else ["alpha"]
    out = []
    for i, name in enumerate(names):
        for bound in (box.lower[i], box.upper[i]):
            if abs(theta[i] - bound) <= _BOUND_TOL:
                out.append(f"{name} on its bound {bound:g}")
    return out


def _none_if(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _pct(x: float) -> str:
    """A share in percent, two figures at most: 0.043 -> '4.3', 0.5 -> '50', 0 -> '0'."""
    value = 100 * x
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _summarise(fits: Fits, r: int = 0) -> dict[str, Any]:
    """One data set's row (the family's keys aside)."""
    n, max_n = fits.n, float(fits.n.max())
    chosen, chosen_boot = fits.chosen()
    model = USL if fits.usl_chosen[r] else AMDAHL
    alpha, beta = (float(x) for x in chosen[r])
    lg = fits.log_gamma[model][r]
    usl_boot = fits.boot[USL][r]
    a_low, a_high = fits.interval(usl_boot[:, 0])
    if model == AMDAHL:  # see the module: the union holds whether or not beta is 0
        own_low, own_high = fits.interval(chosen_boot[r, :, 0])
        a_low, a_high = min(a_low, own_low), max(a_high, own_high)
    b_low, b_high = fits.interval(usl_boot[:, 1])
    # N* and the peak: the USL's resamples; no peak within reach where beta's reaches 0
    peaks = peak(usl_boot[:, 0], usl_boot[:, 1])
    gammas = np.exp(fits.boot_log_gamma[USL][r])
    with np.errstate(invalid="ignore", divide="ignore"):
        tops = np.where(
            np.isfinite(peaks),
            throughput(
                np.where(np.isfinite(peaks), peaks, 1.0), usl_boot[:, 0], usl_boot[:, 1], gammas
            ),
            np.where(usl_boot[:, 0] > 0, gammas / usl_boot[:, 0], np.inf),
        )
    reachable = model == USL and b_low > 0
    p_low, p_high = fits.interval(peaks)
    t_low, t_high = fits.interval(tops)
    if reachable:
        star = float(peak(alpha, beta))
        top = float(throughput(star, alpha, beta, math.exp(lg)))
    else:
        star, top = math.nan, math.nan
    knees = knee(chosen_boot[r, :, 0], chosen_boot[r, :, 1])
    k_point = float(knee(alpha, beta)[0])
    k_low, k_high = fits.interval(knees)
    flags = []
    if len(n) < MIN_LEVELS:
        flags.append(f"{FEW_LEVELS}: {len(n)} (under {MIN_LEVELS})")
    flags += _on_bound(np.array([alpha, beta]), _bounds(max_n)[model], model)
    if "signed" in fits.boot:
        signed = fits.boot["signed"][r, :, 0]
        if fits.theta["signed"][r, 0] < 0 and fits.interval(signed)[1] < 0:
            flags.append(SUPERLINEAR)
    if (reachable and star > REACH * max_n) or k_point > REACH * max_n:
        what = "peak" if reachable and star > REACH * max_n else "knee"
        flags.append(f"{BEYOND_REACH} ({what})")
    return {
        "levels": len(n),
        "max_n": max_n,
        "processes": int(fits.points.sum()),
        "model": model,
        "coherency_p": float(fits.coherency_p[r]),
        "gamma": math.exp(lg),
        "alpha": alpha,
        "alpha_ci_low": float(a_low),
        "alpha_ci_high": float(a_high),
        "beta": beta,
        "beta_ci_low": float(b_low),
        "beta_ci_high": float(b_high),
        "peak_workers": star if reachable else None,
        "peak_ci_low": float(p_low) if reachable else math.nan,
        "peak_ci_high": _none_if(float(p_high)) if reachable else math.nan,
        "peak_throughput": top,
        "peak_throughput_ci_low": float(t_low) if reachable else math.nan,
        "peak_throughput_ci_high": float(t_high) if reachable else math.nan,
        "knee_workers": _none_if(k_point),
        "knee_ci_low": _none_if(float(k_low)),
        "knee_ci_high": _none_if(float(k_high)),
        "ci_level": fits.level,
        "flags": flags,
    }


def verdict(row: dict[str, Any], axis: str = AXIS) -> str:
    """The row in plain words: "threads: contention 4% (2-6%), no coherency cost
    measurable; keeps scaling past 32 workers"."""
    who = str(row.get("backend", ""))
    if row.get("variant"):
        who += f" ({row['variant']})"
    words = [
        f"contention {_pct(row['alpha'])}% "
        f"({_pct(row['alpha_ci_low'])}-{_pct(row['alpha_ci_high'])}%)"
    ]
    if not row["beta_ci_low"] > 0 or row["model"] == AMDAHL:
        words.append("no coherency cost measurable")
    else:
        words.append(
            f"coherency {_pct(row['beta'])}% "
            f"({_pct(row['beta_ci_low'])}-{_pct(row['beta_ci_high'])}%)"
        )
    max_n = f"{row['max_n']:g}"
    knee_at = row["knee_workers"]
    if row["peak_workers"] is None or not np.isfinite(row["peak_workers"]):
        if knee_at is not None and knee_at <= row["max_n"]:
            reach = (
                f"no peak within reach; past {knee_at:.0f} {axis} each adds under "
                f"{KNEE_GAIN:.0%} of one"
            )
        else:
            reach = f"keeps scaling past {max_n} {axis}"
            if knee_at is not None:
                reach += f", knee at {knee_at:.0f}"
    else:
        high = row["peak_ci_high"]
        high_text = "no bound" if high is None or not np.isfinite(high) else f"{high:.0f}"
        reach = f"peaks at {row['peak_workers']:.0f} {axis} ({row['peak_ci_low']:.0f}-{high_text})"
        if row["peak_workers"] > REACH * row["max_n"]:
            reach += f", beyond twice the {max_n} measured"
        if knee_at is not None:
            reach += f", knee at {knee_at:.0f}"
    text = f"{who}: {', '.join(words)}; {reach}"
    if row["levels"] < MIN_LEVELS:
        text += f" ({row['levels']} levels: too few to trust)"
    return text


# --- frames -------------------------------------------------------------------------------------


class ScalingError(InputError):
    """Runs that cannot be fitted as asked: one line naming the flag."""


def check(df: pd.DataFrame, metric: str, axis: str) -> None:
    """The metric must be a measured throughput (higher is better) and the axis a column."""
    if metric not in set(df["metric"]):
        known = ", ".join(
            sorted(m for m in set(df["metric"]) if METRICS.get(m) and METRICS[m].better == "higher")
        )
        raise ScalingError(f"--metric: these runs have no {metric!r} (throughputs: {known})")
    info = METRICS.get(metric)
    if info is not None and info.better != "higher":
        raise ScalingError(f"--metric: {metric} is not a throughput (higher is not better)")
    if AXES.get(axis, axis) not in df.columns:
        raise ScalingError(f"--axis: no column {axis!r} (workers, or nodes on a cluster)")


def held(df: pd.DataFrame, axis: str = AXIS) -> pd.Series:
    """What each row's family holds fixed along `axis`, in words: along nodes, the workers
    per node and the node sweep's kind (weak: tasks grow with the nodes; strong: they stay);
    along another axis, a node sweep's node count; "" where nothing more is held."""
    count = df["node_count"] if "node_count" in df else pd.Series(1, index=df.index)
    kind = df["node_scaling"].astype(str) if "node_scaling" in df else pd.Series("", df.index)
    words = kind.map({"weak": ", weak: tasks grow with nodes", "strong": ", strong: fixed tasks"})
    words = words.fillna("")
    if AXES.get(axis, axis) == "node_count":
        per = (pd.to_numeric(df["workers"], errors="coerce") / count.where(count > 0)).map(
            lambda w: f"{w:g} per node" if np.isfinite(w) else "?"
        )
        return per + words
    on = count.map(lambda n: f"on {n} node{'s' if n != 1 else ''}")
    return (on + words).where(kind != "", "")


def families(
    df: pd.DataFrame,
    metric: str = METRIC,
    axis: str = AXIS,
    keys: Sequence[str] = FAMILY_KEYS,
) -> dict[tuple, dict[float, pd.DataFrame]]:
    """Each swept family's levels: {family keys: {N: its rows of `metric`}}, status ok and
    finite positive values only; families with one level (nothing swept) left out."""
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    sub = sub[np.isfinite(sub["value"].astype(float)) & (sub["value"].astype(float) > 0)]
    sub = sub.assign(_n=pd.to_numeric(sub[AXES.get(axis, axis)], errors="coerce"))
    if "held" in keys and "held" not in sub:
        sub = sub.assign(held=held(sub, axis))
    sub = sub[np.isfinite(sub["_n"].astype(float)) & (sub["_n"] >= 1)]
    out: dict[tuple, dict[float, pd.DataFrame]] = {}
    for family, group in sub.groupby(list(keys), dropna=False, observed=True, sort=True):
        levels = {float(k): g for k, g in group.groupby("_n", sort=True)}
        if len(levels) >= 2:
            out[family if isinstance(family, tuple) else (family,)] = levels
    return out


def _level_values(rows: pd.DataFrame) -> np.ndarray:
    """One value per case process (run and round): the median of its repeats."""
    by = [c for c in ("run_id", "round") if c in rows]
    if not by:
        return rows["value"].to_numpy(float)
    return rows.groupby(by, observed=True, dropna=False)["value"].median().to_numpy(float)


def fit_scaling(
    df: pd.DataFrame,
    metric: str = METRIC,
    *,
    axis: str = AXIS,
    keys: Sequence[str] = FAMILY_KEYS,
    level: float = DEFAULT_LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per swept family of `df` (a tidy frame of one or more runs, `results.load`):
    the chosen model, alpha, beta, the peak N* and its throughput, the knee, each with its
    interval, the flags and a verdict (`COLUMNS`). The metric must be a throughput (higher is
    better, proportional to the work done per second). Seeded: the same frame gives the same
    intervals."""
    check(df, metric, axis)
    rows = []
    for family, levels in families(df, metric, axis, keys).items():
        n = np.array(sorted(levels))
        per_process = [_level_values(levels[k]) for k in n]
        scope = f"{int(sum(len(v) for v in per_process))} processes"
        flags = []
        if MIN_PROCESSES <= min(len(v) for v in per_process) < SURE_PROCESSES:
            flags.append(FEW_PROCESSES)
        if min(len(v) for v in per_process) < MIN_PROCESSES:
            per_process = [levels[k]["value"].to_numpy(float) for k in n]
            scope = "within 1 process"
            flags.append(WITHIN_PROCESS)
        if min(len(v) for v in per_process) < 1:
            continue
        fits = fit_levels(n, per_process, level=level, resamples=resamples, rng=seed)
        row = {
            **dict(zip(keys, family, strict=True)),
            "metric": metric,
            "axis": axis,
            **_summarise(fits),
        }
        row["flags"] = flags + row["flags"]
        row["processes"] = int(sum(len(_level_values(levels[k])) for k in n))
        row["ci_scope"] = scope
        row["verdict"] = verdict(row, axis)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *[c for c in COLUMNS if c not in keys]])


def scaling_curve(
    fits: pd.DataFrame, n: Sequence[float] | None = None, points: int = 200
) -> pd.DataFrame:
    """The fitted curves of `fit_scaling`'s rows over N, for plots: one row per family and N,
    with the family's keys, ``model``, ``n`` and ``throughput``; ``extrapolated`` marks N
    beyond `REACH` times the largest N measured (draw it dashed). Default N: from 1 to
    3 times the largest measured (past the peak too, where there is one within that)."""
    out = []
    keys = [c for c in fits.columns if c in FAMILY_KEYS or c in ("metric", "axis")]
    for row in fits.to_dict("records"):
        if n is None:
            grid = np.linspace(1, 3 * row["max_n"], points)
        else:
            grid = np.asarray(n, dtype=float)
        x = throughput(grid, row["alpha"], row["beta"], row["gamma"])
        frame = pd.DataFrame(
            {"n": grid, "throughput": x, "extrapolated": grid > REACH * row["max_n"]}
        )
        for key in [*keys, "model"]:
            frame.insert(0, key, [row[key]] * len(frame))
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=[*keys, "model", "n", "throughput", "extrapolated"])
    return pd.concat(out, ignore_index=True)
