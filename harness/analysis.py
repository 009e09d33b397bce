"""From tidy measurements to per-case summaries: medians, intervals, spread, scaling.

Reports, `show` and `compare` all read these summaries, so a number means the same thing
wherever it is printed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness import backends
from harness.measure.stats import ratio_interval, summarize

CASE_KEYS = [
    "run_id", "host", "scenario", "case_id", "backend", "variant", "workers", "params", "tasks",
    "python",
]  # fmt: skip


def case_status(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: its status and error."""
    return (
        df.groupby(CASE_KEYS, dropna=False, observed=True)[["status", "error"]]
        .first()
        .reset_index()
    )


def _scope(rounds: int) -> str:
    return "1 process" if rounds <= 1 else f"{rounds} rounds pooled"


def round_cv(group: pd.DataFrame) -> float:
    """CV of the per-round medians: the spread between processes, NaN with one round."""
    medians = group.groupby("round", observed=True)["value"].median()
    if len(medians) < 2 or not medians.mean():
        return float("nan")
    return float(medians.std(ddof=1) / abs(medians.mean()))


def rounds_differ(round_spread: float, cv: float, per_round: float) -> bool:
    """Whether round medians spread more than repeats inside a round can explain.

    Medians of r independent repeats spread about 1.25 cv / sqrt(r); more than twice that
    (and above 1%) means the processes differ, and an interval that pools their repeats as
    if independent is too narrow.
    """
    if not (np.isfinite(round_spread) and np.isfinite(cv)) or per_round < 1:
        return False
    return bool(round_spread > 0.01 and round_spread * np.sqrt(per_round) > 2.5 * cv)


SUMMARY_COLUMNS = [
    "n", "rounds", "median", "ci_low", "ci_high", "ci_level", "ci_scope", "ci_note", "mean",
    "stdev", "cv", "round_cv", "unstable",
]  # fmt: skip


def summarize_metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per case, repeats of every round pooled: n, median, its interval with the interval's
    real level (`ci_level`), what the interval covers (`ci_scope`: one process or several
    rounds), mean, stdev, CV, the CV between round medians, and the unstable flag."""
    columns = [*CASE_KEYS, "status", "metric", *SUMMARY_COLUMNS]
    rows = []
    sub = df[df["metric"] == metric]
    for keys, group in sub.groupby(CASE_KEYS + ["status"], dropna=False, observed=True):
        s = summarize(group["value"].to_numpy())
        rounds = int(group["round"].nunique()) if "round" in group else 1
        spread = round_cv(group) if "round" in group else float("nan")
        note = s.ci_note
        if rounds_differ(spread, s.cv, s.n / rounds):
            note = (note + "; " if note else "") + (
                f"rounds differ (round CV {spread:.1%}): the pooled interval is too narrow"
            )
        rows.append(
            {
                **dict(zip(CASE_KEYS + ["status"], keys, strict=True)),
                "metric": metric,
                "n": s.n,
                "rounds": rounds,
                "median": s.median,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "ci_level": s.ci_level,
                "ci_scope": _scope(rounds),
                "ci_note": note,
                "mean": s.mean,
                "stdev": s.stdev,
                "cv": s.cv,
                "round_cv": spread,
                "unstable": s.unstable,
            }
        )
    return pd.DataFrame(rows, columns=columns)


#: Metrics the case table carries as the median over a case's repeats, one column each.
MEDIAN_METRICS = [
    "tasks_per_s", "startup_s", "teardown_s", "cpu_util", "steady_cpu_util", "engine_cpu_util",
    "rtt_p50_s", "rtt_p99_s", "service_p50_s", "overhead_p50_s", "batch_completion_p50_s",
    "batch_completion_p99_s", "peak_uss_bytes", "peak_pss_bytes", "worker_pss_bytes",
    "worker_uss_bytes", "fixed_uss_bytes", "peak_rss_bytes", "bytes_per_s",
]  # fmt: skip


def case_table(df: pd.DataFrame) -> pd.DataFrame:
    """The summary table: one row per case, wall-time statistics, throughput and scaling."""
    if df.empty:
        return pd.DataFrame()
    cases = case_status(df)
    wall = summarize_metric(df, "wall_s")
    wide = cases.merge(wall.drop(columns=["metric", "status"]), on=CASE_KEYS, how="left")
    # One pass for every per-case median (a merge per metric cost a third of a second a
    # table, and claims, advice and the report ask for several tables).
    medians = (
        df[df["metric"].isin(MEDIAN_METRICS)]
        .groupby([*CASE_KEYS, "metric"], dropna=False, observed=True)["value"]
        .median()
        .unstack("metric")
        .reindex(columns=MEDIAN_METRICS)
    )
    medians.columns.name = None
    wide = wide.merge(medians, left_on=CASE_KEYS, right_index=True, how="left")
    wide = add_scaling(wide, df)
    return wide.sort_values(
        ["run_id", "scenario", "params", "backend", "workers", "python"], key=_backend_order
    ).reset_index(drop=True)


#: A speedup is over the sequential case of the same run, parameters and interpreter.
BASELINE_KEYS = ["run_id", "scenario", "params", "python"]
SUPERLINEAR = "superlinear"
ABOVE_ONE = "above 1: noise or an effect to explain"
SCALING_COLUMNS = [
    "sequential_wall_s", "speedup", "speedup_ci_low", "speedup_ci_high", "speedup_ci_level",
    "efficiency", "efficiency_ci_low", "efficiency_ci_high", "efficiency_note",
]  # fmt: skip


def add_scaling(table: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """speedup = sequential median wall / this median wall, same run, scenario, parameters
    and interpreter, with an interval that carries both cases' variation
    (`stats.ratio_interval`) and its level; efficiency = speedup / workers, marked when
    above 1 rather than shown as fact."""
    walls = df[(df["metric"] == "wall_s") & (df["status"] == "ok")]
    values = {
        key: group["value"].to_numpy(float)
        for key, group in walls.groupby(CASE_KEYS, observed=True)
    }
    seq = table[(table["backend"] == "sequential") & (table["status"] == "ok")]
    seq = seq.drop_duplicates(BASELINE_KEYS)  # one baseline per run, scenario and parameters
    baselines = {
        _key(r, BASELINE_KEYS): (r["median"], values.get(_key(r, CASE_KEYS)))
        for r in seq.to_dict("records")
    }
    rows = []
    for r in table.to_dict("records"):
        base_median, base_values = baselines.get(_key(r, BASELINE_KEYS), (np.nan, None))
        rows.append(_scaling(r, base_median, base_values, values.get(_key(r, CASE_KEYS))))
    scaling = pd.DataFrame(rows, columns=SCALING_COLUMNS, index=table.index)
    return pd.concat([table.drop(columns=SCALING_COLUMNS, errors="ignore"), scaling], axis=1)


def _key(row: dict, keys: list[str]) -> tuple:
    return tuple(row[k] for k in keys)


def _scaling(row: dict, base_median: float, base: np.ndarray | None, own: np.ndarray | None):
    out = dict.fromkeys(SCALING_COLUMNS, np.nan)
    out["efficiency_note"] = ""
    out["sequential_wall_s"] = base_median
    if row["status"] != "ok" or base is None or own is None or not len(own):
        return out
    workers = row["workers"] or 1
    out["speedup"] = base_median / row["median"]
    out["efficiency"] = out["speedup"] / workers
    if row["backend"] == "sequential":
        return out  # 1 by definition: the baseline against itself has no interval
    ci = ratio_interval(base, own)
    out.update(
        speedup_ci_low=ci.low,
        speedup_ci_high=ci.high,
        speedup_ci_level=ci.level,
        efficiency_ci_low=ci.low / workers,
        efficiency_ci_high=ci.high / workers,
    )
    if out["efficiency"] > 1:
        whole = np.isfinite(ci.low) and ci.low / workers > 1
        out["efficiency_note"] = SUPERLINEAR if whole else ABOVE_ONE
    return out


def _backend_order(col: pd.Series) -> pd.Series:
    if col.name == "backend":  # each backend class's display_order, then the name
        rank = {b: i for i, b in enumerate(sorted(set(col), key=backends.display_rank))}
        return col.map(rank)
    if col.name == "params":  # by value, so 65536 comes before 1048576
        unique = sorted({str(p) for p in col}, key=_params_key)
        rank = {p: i for i, p in enumerate(unique)}
        return pd.Series([rank[str(p)] for p in col], index=col.index, dtype="int64")
    return col


def _params_key(params: str) -> tuple:
    try:
        parsed = json.loads(params)
    except (TypeError, json.JSONDecodeError):
        return ((1, str(params)),)
    return tuple(
        (0, float(v), "") if isinstance(v, int | float) else (1, 0.0, str(v))
        for _, v in sorted(parsed.items())
    )
