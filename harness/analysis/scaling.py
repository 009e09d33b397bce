"""Where adding workers stops paying: Amdahl's law and the Universal Scalability Law fitted
to every swept case family, with intervals from the processes.

A family is the cases of one scenario, backend, variant, parameters, interpreter and side
that differ only in the axis (``workers``, or ``nodes``: how many cluster nodes a case's
workers spanned, the ``node_count`` column), and hold the same things fixed (``held``: along
nodes, the workers per node and whether tasks grew with the nodes, weak scaling, or stayed,
strong; along workers in a node sweep, the node count).
Each of its levels (one value of the axis) holds one value per case process (a run and
round): the median of its repeats of the metric, throughput (``tasks_per_s``, higher is
better) by default. The models, with N the axis (`analysis/scaling_fit.py` fits them and says
how, and why that way):

    USL      X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1))
    Amdahl   the same with beta = 0

alpha is contention (the serial share), beta coherency (a cost that grows with every pair of
workers); where beta > 0 throughput peaks at N* = sqrt((1 - alpha) / beta).

Here: the families, and each family's fit as a row:

- **No peak within reach** where the model is Amdahl or beta's interval reaches 0:
  ``peak_workers`` is None then, never a number read off noise.
- **Amdahl's own alpha** (``amdahl_alpha`` and its interval) whichever model is chosen: the
  serial share Amdahl's law needs to draw the measured curve, from Amdahl's fit and its
  resamples alone. The claims read it (a share of the cores is a statement about alpha).
  It is identified where the USL's alpha is not: from 2 levels, 1 and N, it is
  (N / S(N) - 1) / (N - 1) with S(N) the measured speedup of N workers over 1, while the
  USL's alpha can trade with beta down to 0 (the row's ``alpha`` interval, a union with the
  USL's, then reaches 0).
- **Flags**: a point estimate on a bound; superlinear data (Amdahl with alpha allowed below
  0 fits alpha < 0, its interval wholly below); too few levels (under `MIN_LEVELS`); a peak
  or knee beyond `REACH` times the largest N measured.

Frames in, frames out: `fit_scaling` (one row per family), `scaling_curve` (the fitted
curves over N, for plots; the part beyond `REACH` times the largest N marked). The model's
names (`throughput`, `peak`, `knee`, `fit_levels`, `Fits`, `AMDAHL`, `USL`) are importable
from here too, where the readers of the rows import them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.scaling_fit import (
    AMDAHL,
    KNEE_GAIN,
    RESAMPLES,
    SELECT_P,
    USL,
    Bounds,
    Fits,
    bounds,
    fit_levels,
    knee,
    peak,
    throughput,
)
from harness.errors import InputError
from harness.measure.stats import DEFAULT_LEVEL, MIN_PROCESSES
from harness.protocol import METRICS, Metric

__all__ = [
    "AMDAHL",
    "AXES",
    "AXIS",
    "BEYOND_REACH",
    "COLUMNS",
    "FAMILY_KEYS",
    "FEW_LEVELS",
    "FEW_PROCESSES",
    "KNEE_GAIN",
    "METRIC",
    "MIN_LEVELS",
    "REACH",
    "RESAMPLES",
    "SELECT_P",
    "SUPERLINEAR",
    "SURE_PROCESSES",
    "USL",
    "WITHIN_PROCESS",
    "Fits",
    "ScalingError",
    "check",
    "families",
    "fit_levels",
    "fit_scaling",
    "knee",
    "peak",
    "scaling_curve",
    "throughput",
    "verdict",
]

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
    "amdahl_alpha",
    "amdahl_alpha_ci_low",
    "amdahl_alpha_ci_high",
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

_BOUND_TOL = 1e-7


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
    own_alpha = float(fits.theta[AMDAHL][r, 0])
    amdahl_low, amdahl_high = fits.interval(fits.boot[AMDAHL][r, :, 0])
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
    flags += _on_bound(np.array([alpha, beta]), bounds(max_n)[model], model)
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
        "amdahl_alpha": own_alpha,
        "amdahl_alpha_ci_low": float(amdahl_low),
        "amdahl_alpha_ci_high": float(amdahl_high),
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
