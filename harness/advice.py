"""Measured answers to "which backend for this work?", from result frames only.

- `crossover`: per backend, the smallest task duration at which it still reaches a target
  parallel efficiency (80% by default) in the `granularity` scenario.
- `per_worker`: the cost of one more worker (start-up seconds, unique memory), as the
  least-squares slope over worker counts, per backend and start method.
- `recommendations`: per scenario and parameter set, the fastest backend and the one that
  needs the least memory, with the numbers behind them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from harness import analysis

_VARIANT = re.compile(r"^[^/]+/[^/\[]+\[([^\]]*)\]/")


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """Add `variant` (swept backend options, e.g. "start_method=fork") and `label`."""
    out = table.copy()
    out["variant"] = [
        m.group(1) if (m := _VARIANT.match(str(c))) else "" for c in out["case_id"].astype(str)
    ]
    out["label"] = [
        f"{b}[{v}]" if v else str(b) for b, v in zip(out["backend"], out["variant"], strict=True)
    ]
    return out


def ok_cases(df: pd.DataFrame, scenario: str | None = None) -> pd.DataFrame:
    """The case table of the ok cases (of one scenario), with variants labelled."""
    if scenario is not None:
        df = df[df["scenario"] == scenario]
    if df.empty:
        return pd.DataFrame()
    table = analysis.case_table(df)
    return labelled(table[table["status"] == "ok"]).reset_index(drop=True)


def crossover(
    df: pd.DataFrame, scenario: str = "granularity", target: float = 0.8, param: str = "task_s"
) -> pd.DataFrame:
    """Per run, backend and workers: the smallest `param` reaching `target` efficiency.

    `crossover_s` is NaN when no measured duration reached the target (the backend needs
    longer tasks than were tried); `best_efficiency` says how close it came.
    """
    table = ok_cases(df, scenario)
    columns = ["run_id", "label", "workers", "crossover_s", "best_efficiency", "tried"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    table = table[table["backend"] != "sequential"].copy()
    table[param] = [json.loads(p).get(param) for p in table["params"]]
    rows = []
    for (run_id, label, workers), group in table.groupby(["run_id", "label", "workers"]):
        reached = group[group["efficiency"] >= target]
        rows.append(
            {
                "run_id": run_id,
                "label": label,
                "workers": int(workers),
                "crossover_s": float(reached[param].min()) if not reached.empty else np.nan,
                "best_efficiency": float(group["efficiency"].max()),
                "tried": ", ".join(_seconds(v) for v in sorted(group[param].dropna())),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def per_worker(df: pd.DataFrame, scenario: str | None, metric: str) -> pd.DataFrame:
    """Per backend (and start method): the slope of `metric` over worker counts.

    The slope is what one more worker costs; with a single worker count it falls back to
    value / workers. Sequential has no workers to add and is left out.
    """
    table = ok_cases(df, scenario)
    columns = ["label", "per_worker", "workers", "values"]
    if table.empty or metric not in table:
        return pd.DataFrame(columns=columns)
    table = table[(table["backend"] != "sequential") & table[metric].notna()]
    rows = []
    for label, group in table.groupby("label"):
        by_w = group.groupby("workers")[metric].median()
        x, y = by_w.index.to_numpy(dtype=float), by_w.to_numpy(dtype=float)
        slope = float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else float(y[0] / x[0])
        rows.append(
            {
                "label": label,
                "per_worker": slope,
                "workers": ",".join(str(int(w)) for w in x),
                "values": list(y),
            }
        )
    return pd.DataFrame(rows, columns=columns)


#: Program workloads run for a fixed time or move data: their speed is a rate, not a wall.
RATE_METRICS = ("increments_per_s", "messages_per_s")


def recommendations(df: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and parameter set: fastest backend, least memory, with the numbers.

    Fastest is the least median wall time, or the highest median rate for scenarios that
    record one of `RATE_METRICS` (a shared counter runs for a fixed time).
    """
    table = ok_cases(df)
    columns = ["scenario", "params", "fastest", "by", "value", "speedup", "least_memory",
               "least_memory_bytes"]  # fmt: skip
    if table.empty:
        return pd.DataFrame(columns=columns)
    rates = df[df["metric"].isin(RATE_METRICS) & (df["status"] == "ok")]
    rates = rates.groupby(["run_id", "case_id", "metric"])["value"].median().unstack()
    rows = []
    for (scenario, params), group in table.groupby(["scenario", "params"], sort=True):
        by, value = "wall_s", group["median"]
        for metric in RATE_METRICS:
            if metric in rates:
                keyed = group.set_index(["run_id", "case_id"]).index
                found = rates[metric].reindex(keyed)
                if found.notna().any():
                    by, value = metric, -pd.Series(found.to_numpy(), index=group.index)
        fastest = group.loc[value.idxmin()]
        # The sequential loop costs nothing by construction: least memory among the others.
        mem = group[group["backend"] != "sequential"].dropna(subset=["peak_uss_bytes"])
        lean = mem.loc[mem["peak_uss_bytes"].idxmin()] if not mem.empty else None
        rows.append(
            {
                "scenario": scenario,
                "params": params,
                "fastest": f"{fastest['label']} w{int(fastest['workers'])}",
                "by": by,
                "value": float(abs(value[fastest.name])),
                "speedup": float(fastest["speedup"]),
                "least_memory": (
                    f"{lean['label']} w{int(lean['workers'])}" if lean is not None else "-"
                ),
                "least_memory_bytes": (
                    float(lean["peak_uss_bytes"]) if lean is not None else np.nan
                ),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:g} s"
    if value >= 1e-3:
        return f"{value * 1e3:g} ms"
    return f"{value * 1e6:g} µs"
