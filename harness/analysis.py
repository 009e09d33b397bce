"""From tidy measurements to per-case summaries: medians, intervals, spread, scaling.

Reports, `show` and `compare` all read these summaries, so a number means the same thing
wherever it is printed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.measure.stats import summarize

CASE_KEYS = ["run_id", "host", "scenario", "case_id", "backend", "workers", "params", "tasks"]


def case_status(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: its status and error."""
    return (
        df.groupby(CASE_KEYS, dropna=False, observed=True)[["status", "error"]]
        .first()
        .reset_index()
    )


def summarize_metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per case: n, median, 95% bootstrap interval, mean, stdev, CV and the unstable flag."""
    columns = [
        *CASE_KEYS,
        "status",
        "metric",
        "n",
        "median",
        "ci_low",
        "ci_high",
        "mean",
        "stdev",
        "cv",
        "unstable",
    ]
    rows = []
    sub = df[df["metric"] == metric]
    for keys, group in sub.groupby(CASE_KEYS + ["status"], dropna=False, observed=True):
        s = summarize(group["value"].to_numpy())
        rows.append(
            {
                **dict(zip(CASE_KEYS + ["status"], keys, strict=True)),
                "metric": metric,
                "n": s.n,
                "median": s.median,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "mean": s.mean,
                "stdev": s.stdev,
                "cv": s.cv,
                "unstable": s.unstable,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def case_table(df: pd.DataFrame) -> pd.DataFrame:
    """The summary table: one row per case, wall-time statistics, throughput and scaling."""
    if df.empty:
        return pd.DataFrame()
    cases = case_status(df)
    wall = summarize_metric(df, "wall_s")
    wide = cases.merge(wall.drop(columns=["metric", "status"]), on=CASE_KEYS, how="left")
    for metric in (
        "tasks_per_s",
        "startup_s",
        "teardown_s",
        "cpu_util",
        "engine_cpu_util",
        "rtt_p50_s",
        "service_p50_s",
        "overhead_p50_s",
        "batch_completion_p50_s",
        "batch_completion_p99_s",
        "peak_uss_bytes",
        "worker_uss_bytes",
        "fixed_uss_bytes",
        "peak_rss_bytes",
        "bytes_per_s",
    ):
        values = (
            df[df["metric"] == metric]
            .groupby(CASE_KEYS, observed=True)["value"]
            .median()
            .rename(metric)
        )
        wide = wide.merge(values, left_on=CASE_KEYS, right_index=True, how="left")
    wide = add_scaling(wide)
    return wide.sort_values(
        ["run_id", "scenario", "params", "backend", "workers"], key=_backend_order
    ).reset_index(drop=True)


def add_scaling(table: pd.DataFrame) -> pd.DataFrame:
    """speedup = sequential median wall / this median wall, same run, scenario and parameters."""
    seq = table[(table["backend"] == "sequential") & (table["status"] == "ok")]
    base = seq.set_index(["run_id", "scenario", "params"])["median"].rename("sequential_wall_s")
    base = base[~base.index.duplicated()]  # one baseline per run, scenario and parameters
    out = table.merge(base, left_on=["run_id", "scenario", "params"], right_index=True, how="left")
    out["speedup"] = out["sequential_wall_s"] / out["median"]
    out.loc[out["status"] != "ok", "speedup"] = np.nan
    out["efficiency"] = out["speedup"] / out["workers"]
    return out


BACKEND_ORDER = ["sequential", "threads", "processes", "asyncio", "dask", "ray"]


def _backend_order(col: pd.Series) -> pd.Series:
    if col.name == "backend":
        return col.map(lambda b: BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99)
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
