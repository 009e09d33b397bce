"""Reading `tasks.parquet`: one representative process per case, where its time went, and
how busy each worker was.

Frames in, frames out, for the report's Gantt page, `harness timeline` and the trace export.
A case ran its timeline pass once per round (each round a fresh process); the figures show
one of them, the round whose makespan is the median, and say which.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from harness.measure import timeline
from harness.protocol import Metric

#: The phases of a task, in the order they happen, and what each one is.
PHASES: dict[str, str] = {
    "dispatch_s": "dispatch: handed to the engine until it began in the worker",
    "service_s": "service: the task itself, inside the worker",
    "return_s": "return: its end until the result was in the driver",
}
CASE_KEYS = ["run_id", "case_id"]
#: What a run without `tasks.parquet` (or with no rows in it) is.
NO_TASKS = "no task records (runs before the timeline pass, or program workloads)"


def representative(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per case, the tasks of its median-makespan round (of an even count, the lower one)."""
    if tasks.empty:
        return tasks
    grouped = tasks.groupby([*CASE_KEYS, "round"], observed=True)
    span = (grouped["arrival_s"].max() - grouped["submit_s"].min()).rename("span_s")
    span = span.reset_index().sort_values([*CASE_KEYS, "span_s", "round"])
    middle = span.groupby(CASE_KEYS, observed=True)["round"].transform(
        lambda rounds: rounds.iloc[(len(rounds) - 1) // 2]
    )
    picked = span.loc[span["round"] == middle, [*CASE_KEYS, "round"]]
    return tasks.merge(picked, on=[*CASE_KEYS, "round"])


def phase_means(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per case (and round), the mean of each phase per task, which add up to the mean
    time from submit to result; with the case's clock uncertainty beside them."""
    keys = [*CASE_KEYS, "scenario", "backend", "variant", "workers", "params", "round"]
    return (
        tasks.groupby(keys, observed=True)
        .agg(
            tasks=("task", "size"),
            **{name: (name, "mean") for name in PHASES},
            **{Metric.CLOCK_UNCERTAINTY_S: (Metric.CLOCK_UNCERTAINTY_S, "max")},
        )
        .reset_index()
    )


def workers(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per case, round and worker: its tasks, its time in them and its busy fraction of the
    makespan (`measure.timeline.busy_fractions`)."""
    rows = []
    for (run_id, case_id, round_no), group in tasks.groupby([*CASE_KEYS, "round"], observed=True):
        makespan = group["arrival_s"].max() - group["submit_s"].min()
        busy = timeline.busy_fractions(group.to_dict("list"), makespan)
        counts = group.groupby("worker", observed=True)["service_s"].agg(["size", "sum"])
        for worker, (n, service) in counts.iterrows():
            rows.append(
                {
                    "run_id": run_id,
                    "case_id": case_id,
                    "round": round_no,
                    "worker": worker,
                    "tasks": int(n),
                    "service_s": float(service),
                    "busy_fraction": busy[str(worker)],
                }
            )
    return pd.DataFrame(rows)


def shapes(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per case and round: what its tasks add up to (`measure.timeline.Shape`, one column per
    field: makespan, ideal makespan, schedule efficiency, straggler ratio, ...), its task
    count and the mean of each phase (`PHASES`), for tables of several cases."""
    if tasks.empty:
        return pd.DataFrame()
    means = phase_means(tasks)
    rows = []
    for _, group in tasks.groupby([*CASE_KEYS, "round"], observed=True, sort=False):
        figures = timeline.shape(group.to_dict("list"), int(group["workers"].iloc[0]))
        keys = {k: group[k].iloc[0] for k in [*CASE_KEYS, "round"]}
        rows.append({**keys, **(asdict(figures) if figures is not None else {})})
    out = means.merge(pd.DataFrame(rows), on=[*CASE_KEYS, "round"], suffixes=("", "_max"))
    return out.drop(columns=[c for c in out.columns if c.endswith("_max")])
