"""From tidy measurements to per-case summaries: medians, intervals, spread, scaling.

Reports, `show` and `compare` all read these summaries, so a number means the same thing
wherever it is printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness import backends
from harness.measure import stats
from harness.measure.stats import (
    MIN_PROCESSES,
    UNSTABLE_CV,
    Interval,
    median_interval,
    ratio_interval,
    summarize,
)
from harness.protocol import METRICS, Metric

CASE_KEYS = [
    "run_id",
    "host",
    "scenario",
    "case_id",
    "backend",
    "variant",
    "workers",
    "params",
    "tasks",
    "python",
    "side",
]


def case_status(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: its status and error."""
    return (
        df.groupby(CASE_KEYS, dropna=False, observed=True)[["status", "error"]]
        .first()
        .reset_index()
    )


#: What an interval from the repeats of a single process covers: that process alone.
ONE_PROCESS = "within 1 process"


def processes_scope(processes: int) -> str:
    """What an interval covers: 'within 1 process', or '3 processes' (fresh, independent)."""
    return ONE_PROCESS if processes <= 1 else f"{processes} processes"


def process_values(group: pd.DataFrame) -> np.ndarray:
    """One value per case process (round): the median of its repeats' finite values."""
    finite = group[np.isfinite(group["value"].astype(float))]
    if "round" not in finite:
        return finite["value"].to_numpy(float)[:1] if len(finite) else np.array([])
    return finite.groupby("round", observed=True)["value"].median().to_numpy(float)


@dataclass(frozen=True)
class Typical:
    """A case's typical value and its interval, from what varies independently."""

    median: float
    ci: Interval
    processes: int

    @property
    def scope(self) -> str:
        return processes_scope(self.processes)


def typical(group: pd.DataFrame) -> Typical:
    """The median and its interval, with the process as the sampling unit.

    Several processes: the median of their per-process medians and its order-statistic
    interval over the processes (`stats.case_interval`: exact whatever the shape, so two
    speeds cannot fool it; at 3 processes it covers 75% and says so). One process: the median of
    its repeats and their order-statistic interval, which covers that process alone
    (`processes` says so, and nothing is called from it).
    """
    per_process = process_values(group)
    if len(per_process) >= MIN_PROCESSES:
        return Typical(
            float(np.median(per_process)), stats.case_interval(per_process), len(per_process)
        )
    values = group["value"].to_numpy(float)
    values = values[np.isfinite(values)]
    median = float(np.median(values)) if len(values) else float("nan")
    return Typical(median, median_interval(values), len(per_process))


def round_cv(group: pd.DataFrame) -> float:
    """CV of the per-round medians: the spread between processes, NaN with one round."""
    medians = process_values(group)
    if len(medians) < 2 or not medians.mean():
        return float("nan")
    return float(medians.std(ddof=1) / abs(medians.mean()))


#: False-alarm rate of the "processes differ" note (one-way ANOVA across processes).
DIFFER_ALPHA = 0.01


def rounds_differ(group: pd.DataFrame) -> bool:
    """Whether the processes differ more than their repeats inside each can explain.

    One-way analysis of variance of the log values with the process as the factor: the
    spread between process means set against the spread of repeats within their own
    process (not the pooled spread, which already holds the difference between processes).
    Called at p < DIFFER_ALPHA, and only for a spread between processes above 1%.
    """
    if "round" not in group:
        return False
    values = group[np.isfinite(group["value"].astype(float)) & (group["value"] > 0)]
    samples = [np.log(g.to_numpy(float)) for _, g in values.groupby("round")["value"]]
    samples = [x for x in samples if len(x)]
    if len(samples) < 2 or sum(len(x) for x in samples) - len(samples) < 2:
        return False
    if all(np.ptp(x) == 0 for x in samples):  # no spread within: any difference is one
        return bool(np.ptp([x[0] for x in samples]) > 0.01)
    from scipy.stats import f_oneway

    p = float(f_oneway(*samples).pvalue)
    return bool(p < DIFFER_ALPHA and round_cv(group) > 0.01)


SUMMARY_COLUMNS = [
    "n",
    "rounds",
    "median",
    "ci_low",
    "ci_high",
    "ci_level",
    "ci_scope",
    "ci_note",
    "mean",
    "stdev",
    "cv",
    "round_cv",
    "unstable",
]


def summarize_metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per case: n (values), rounds (processes), the median with its interval from the
    processes (`typical`), the interval's real level (`ci_level`) and what it covers
    (`ci_scope`), mean, stdev and CV of every value, the CV between process medians, and
    the unstable flag (either CV above `UNSTABLE_CV`)."""
    columns = [*CASE_KEYS, "status", "metric", *SUMMARY_COLUMNS]
    rows = []
    sub = df[df["metric"] == metric]
    for keys, group in sub.groupby(CASE_KEYS + ["status"], dropna=False, observed=True):
        s = summarize(group["value"].to_numpy())
        found = typical(group)
        rounds = int(group["round"].nunique()) if "round" in group else 1
        spread = round_cv(group) if "round" in group else float("nan")
        note = found.ci.note
        if rounds_differ(group):
            note = (note + "; " if note else "") + (
                f"processes differ (CV between them {spread:.1%}): one process's repeats "
                "understate the spread"
            )
        unstable = s.unstable or bool(np.isfinite(spread) and spread > UNSTABLE_CV)
        rows.append(
            {
                **dict(zip(CASE_KEYS + ["status"], keys, strict=True)),
                "metric": metric,
                "n": s.n,
                "rounds": rounds,
                "median": found.median,
                "ci_low": found.ci.low,
                "ci_high": found.ci.high,
                "ci_level": found.ci.level,
                "ci_scope": found.scope,
                "ci_note": note,
                "mean": s.mean,
                "stdev": s.stdev,
                "cv": s.cv,
                "round_cv": spread,
                "unstable": unstable,
            }
        )
    return pd.DataFrame(rows, columns=columns)


#: The backend speedups are over (`Backend.baseline`): the sequential loop.
BASELINE = backends.baseline()

#: The catalogue's kinds of metric the case table gives a column each: one value per repeat
#: or per round, summarised as each case process's value (the median of its repeats), then
#: the median over the processes. Per-node metrics stay one row per node in the
#: measurements (a cluster's nodes have no one number that means the same for each of
#: them); per-case ones (speedup, efficiency) are derived here, from the walls.
CASE_TABLE_PER = ("repeat", "round")


def case_metrics(measured: Iterable[str] | None = None) -> list[str]:
    """The metrics the case table gives a column each, in the catalogue's order: every
    per-repeat and per-round metric of `protocol.METRICS` (a registered plugin's too), or
    those of them in `measured`."""
    names = [name for name, info in METRICS.items() if info.per in CASE_TABLE_PER]
    if measured is None:
        return names
    present = set(measured)
    return [name for name in names if name in present]


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The case table's metric columns, in the catalogue's order."""
    return case_metrics(table.columns)


def case_medians(df: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per case (indexed by `CASE_KEYS`), one column per metric: the median over the case's
    processes of each process's value (the median of its repeats' finite values)."""
    sub = df[df["metric"].isin(metrics)]
    sub = sub[np.isfinite(sub["value"].astype(float))]
    if "round" not in sub:
        sub = sub.assign(round=1)
    per_process = sub.groupby([*CASE_KEYS, "metric", "round"], dropna=False, observed=True)[
        "value"
    ].median()
    medians = (
        per_process.groupby(level=[*CASE_KEYS, "metric"], dropna=False, observed=True)
        .median()
        .unstack("metric")
        .reindex(columns=metrics)
    )
    medians.columns.name = None
    return medians


def memory_metric(df: pd.DataFrame) -> str:
    """The tree's added memory to compare: PSS where the run has it (it counts the pages a
    fork shares once), else USS."""
    has_pss = (df["metric"] == Metric.PEAK_PSS_BYTES).any()
    return Metric.PEAK_PSS_BYTES if has_pss else Metric.PEAK_USS_BYTES


#: Memory added over the baseline: at least 0 (see the catalogue's peak_uss_bytes).
ADDED_MEMORY = [
    Metric.PEAK_USS_BYTES,
    Metric.PEAK_PSS_BYTES,
    Metric.FIXED_USS_BYTES,
    Metric.WORKER_USS_BYTES,
    Metric.WORKER_PSS_BYTES,
]


def case_table(df: pd.DataFrame) -> pd.DataFrame:
    """The cases table: one row per case. Its keys and status; wall time's median with its
    interval and spread (`SUMMARY_COLUMNS`); a column for every metric of the catalogue the
    cases measured (`case_metrics`), in the catalogue's order, `wall_s` being `median`;
    then speedup and efficiency (`SCALING_COLUMNS`)."""
    if df.empty:
        return pd.DataFrame()
    cases = case_status(df)
    wall = summarize_metric(df, Metric.WALL_S)
    wide = cases.merge(wall.drop(columns=["metric", "status"]), on=CASE_KEYS, how="left")
    # One pass for every metric (a merge per metric cost a third of a second a table, and
    # claims, advice and the report ask for several tables).
    medians = case_medians(df, case_metrics(df["metric"].dropna().unique()))
    # Runs stored before 0.4 may hold added memory below 0 (USS after fork): never shown.
    added = [m for m in ADDED_MEMORY if m in medians]
    medians[added] = medians[added].clip(lower=0)
    wide = wide.merge(medians, left_on=CASE_KEYS, right_index=True, how="left")
    if Metric.WALL_S in wide:  # one wall per case: the median its interval is about
        wide[Metric.WALL_S] = wide["median"]
    wide = add_scaling(wide, df)
    return wide.sort_values(
        ["run_id", "scenario", "params", "backend", "workers", "python"], key=_backend_order
    ).reset_index(drop=True)


#: A speedup is over the sequential case of the same run, parameters and interpreter.
BASELINE_KEYS = ["run_id", "scenario", "params", "python", "side"]
SUPERLINEAR = "superlinear"
ABOVE_ONE = "above 1: noise or an effect to explain"
#: Efficiency above 1 from a single process a side: nothing can be called from it.
ABOVE_ONE_IN_ONE_PROCESS = "above 1 within one process: run --rounds 3 to call it"
SCALING_COLUMNS = [
    "sequential_wall_s",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "speedup_ci_level",
    "speedup_ci_scope",
    "efficiency",
    "efficiency_ci_low",
    "efficiency_ci_high",
    "efficiency_note",
    "speedup_pairing",
    "pairing_rho",
]
#: How a speedup's two sides were matched (`speedup_pairing`).
PAIRED_IN_PROCESS = "in process"
UNPAIRED = "unpaired"


@dataclass(frozen=True)
class _Walls:
    """A case's wall times: every repeat, one median per process, and (where the case
    timed the sequential loop beside its repeats) per process the median over its repeats
    of log(reference / wall), with every pair's two logs for the correlation."""

    repeats: np.ndarray
    processes: np.ndarray
    paired: np.ndarray = field(default_factory=lambda: np.array([]))
    pair_logs: tuple[np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.array([]), np.array([]))
    )


def _walls(group: pd.DataFrame, references: pd.DataFrame | None) -> _Walls:
    """A case's walls, paired with its reference loop's where every process timed one."""
    repeats, processes = group["value"].to_numpy(float), process_values(group)
    if references is None or references.empty:
        return _Walls(repeats, processes)
    pairs = group.merge(references, on=["round", "repeat"], suffixes=("", "_ref"))
    pairs = pairs[(pairs["value"] > 0) & (pairs["value_ref"] > 0)]
    if pairs["round"].nunique() < group["round"].nunique():
        return _Walls(repeats, processes)  # some process dropped its reference: unpaired
    logs = np.log(pairs["value_ref"].to_numpy(float)), np.log(pairs["value"].to_numpy(float))
    paired = (
        pairs.assign(log_ratio=logs[0] - logs[1])
        .groupby("round")["log_ratio"]
        .median()
        .to_numpy(float)
    )
    return _Walls(repeats, processes, paired, logs)


def add_scaling(table: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """speedup = sequential median wall / this median wall, same run, scenario, parameters
    and interpreter; efficiency = speedup / workers.

    Where the case timed the sequential loop beside its repeats (`reference_wall_s`), the
    speedup is paired in process: one log ratio per process, its interval the Wilcoxon
    signed-rank one (`stats.paired_ratio`), and no sequential case is needed. Else the
    interval carries both cases' variation: with several processes a side the
    Hodges-Lehmann one of exact Mann-Whitney (`stats.unpaired_ratio`); with one process a
    side it is the Hodges-Lehmann
    interval of the repeats, `speedup_ci_scope` says "within 1 process", and an
    efficiency above 1 is then only noted, never marked superlinear.
    """
    ok = df[df["status"] == "ok"]
    walls = ok[ok["metric"] == Metric.WALL_S]
    refs = {
        key: group[["round", "repeat", "value"]]
        for key, group in ok[ok["metric"] == Metric.REFERENCE_WALL_S].groupby(
            CASE_KEYS, observed=True
        )
    }
    values = {
        key: _walls(group[["round", "repeat", "value"]], refs.get(key))
        for key, group in walls.groupby(CASE_KEYS, observed=True)
    }
    seq = table[(table["backend"] == BASELINE) & (table["status"] == "ok")]
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


def speedup_interval(base: _Walls, own: _Walls) -> tuple[Interval, int]:
    """The speedup's interval and the processes behind its thinner side (1: within one)."""
    processes = min(len(base.processes), len(own.processes))
    if processes >= MIN_PROCESSES:
        return stats.unpaired_ratio(base.processes, own.processes).ci, processes
    return ratio_interval(base.repeats, own.repeats), processes


def pairing_rho(own: _Walls) -> float:
    """Correlation of log reference and log wall over a case's pairs: how much of the
    machine's swing both sides of a pair shared, which the paired speedup cancels."""
    ref, wall = own.pair_logs
    if len(ref) < 3 or np.ptp(ref) == 0 or np.ptp(wall) == 0:
        return float("nan")
    return float(np.corrcoef(ref, wall)[0, 1])


def _scaling(row: dict, base_median: float, base: _Walls | None, own: _Walls | None):
    out: dict[str, Any] = dict.fromkeys(SCALING_COLUMNS, np.nan)
    out["efficiency_note"] = ""
    out["speedup_ci_scope"] = ""
    out["speedup_pairing"] = ""
    out["sequential_wall_s"] = base_median
    if row["status"] != "ok" or own is None or not len(own.repeats):
        return out
    if row["backend"] == BASELINE:
        out.update(speedup=1.0, efficiency=1.0)
        return out  # 1 by definition: the baseline against itself has no interval
    workers = row["workers"] or 1
    if len(own.paired):
        # Each process timed the sequential loop beside its own repeats: one paired log
        # ratio per process, so the machine's swings between processes cancel.
        found = stats.paired_ratio(own.paired, within_process=True)
        ci, processes = found.ci, found.n
        out.update(
            speedup=found.ratio, speedup_pairing=PAIRED_IN_PROCESS, pairing_rho=pairing_rho(own)
        )
        if len(own.paired) < MIN_PROCESSES:  # one process: its pairs, within it
            logs = own.pair_logs[0] - own.pair_logs[1]
            ci = median_interval(np.exp(logs))
    elif base is None:
        return out
    else:
        ci, processes = speedup_interval(base, own)
        out.update(speedup=base_median / row["median"], speedup_pairing=UNPAIRED)
    out["efficiency"] = out["speedup"] / workers
    out.update(
        speedup_ci_low=ci.low,
        speedup_ci_high=ci.high,
        speedup_ci_level=ci.level,
        speedup_ci_scope=processes_scope(processes),
        efficiency_ci_low=ci.low / workers,
        efficiency_ci_high=ci.high / workers,
    )
    if out["efficiency"] > 1:
        if processes < MIN_PROCESSES:
            out["efficiency_note"] = ABOVE_ONE_IN_ONE_PROCESS
        else:
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
