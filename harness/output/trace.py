"""Task records as a Chrome Trace Event file, for Perfetto (ui.perfetto.dev) and chrome://tracing.

`harness export RUN --table tasks --format trace` writes the JSON Object Format:
`{"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}`.

The layout, chosen for how Perfetto reads:

- One trace *process* per case and round (its own group, which folds), named
  "cpu/processes/w2/n=200000 · round 1" (and its run id when several runs are in one trace),
  sorted in case order. Its *threads* are the case's
  Gantt rows: a "driver" track first, then one track per worker (the `worker` column), named
  where it ran: "pid 4242 (local)", "thread 4250 in pid 4242 (local)", "10.0.0.2 pid 77". A
  case's workers sit together under it, which is what one compares; the real pid and thread
  ids are in the names and in every slice's args, since trace ids must be unique and two
  cases' processes may share a pid.
- Every case starts at 0: times are seconds since its batch was submitted, on its driver's
  clock, and cases ran at different times in different processes with nothing to line them
  up by. Stacked groups that share the axis make the makespans comparable at a glance.
- A task's service is an "X" slice on its worker's track (ts = start, dur = service, in
  microseconds); a worker's row never holds two at once, so they never overlap. Its dispatch
  (submit to start) and return (end to arrival) overlap other tasks' on any one track (tasks
  wait in a queue together), so they are async slices ("b"/"e", one id per task and phase),
  which Perfetto stacks under the case as "dispatch" and "return" tracks. The driver track
  holds one "X" slice "batch" from the first submit to the last arrival: the makespan, with
  the case's figures in its args.

Each slice's args: the task's index, node, pid and thread, its three phases in ms and the
clock uncertainty in ms (0 on one host; gaps below it between nodes are not facts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pandas as pd

from harness.analysis import timelines
from harness.measure import timeline
from harness.output.formats import plain
from harness.protocol import Metric

US = 1e6
#: The case's identity, as the driver slice's args and the process labels carry it.
IDENTITY = ["run_id", "scenario", "case_id", "backend", "variant", "workers", "params", "round"]
DRIVER_TID = 0


def _us(seconds: float) -> float:
    """Microseconds, kept to the nanosecond (the clocks read no finer)."""
    return round(float(seconds) * US, 3)


def _ms(seconds: float) -> float:
    return round(float(seconds) * 1e3, 6)


def track_name(row: dict[str, Any]) -> str:
    """Where a worker row ran: its label, with the process and node it does not say."""
    name = str(row["worker"])
    if "pid" not in name:
        name += f" in pid {row['pid']}"
    if str(row["node"]) not in name:
        name += f" ({row['node']})"
    return name


def _meta(kind: str, pid: int, tid: int, **args: Any) -> dict[str, Any]:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": args}


def _task_args(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": int(row["task"]),
        "node": str(row["node"]),
        "pid": int(row["pid"]),
        "thread": int(row["thread"]),
        "worker": str(row["worker"]),
        **{f"{phase[:-2]}_ms": _ms(row[phase]) for phase in timelines.PHASES},
        "clock_uncertainty_ms": _ms(row[Metric.CLOCK_UNCERTAINTY_S]),
    }


def _phase_slices(row: dict[str, Any], pid: int, ids: Iterator[int]) -> list[dict[str, Any]]:
    """The task's dispatch and return as async slices (they overlap other tasks')."""
    events = []
    for name, begin, end in (("dispatch", "submit_s", "start_s"), ("return", "end_s", "arrival_s")):
        ts, args, slice_id = _us(row[begin]), _task_args(row), next(ids)
        end_ts = max(ts, _us(row[end]))  # a gap across clocks may read negative: drawn as 0
        common = {"cat": name, "name": name, "pid": pid, "tid": DRIVER_TID, "id": slice_id}
        events.append({**common, "ph": "b", "ts": ts, "args": args})
        events.append({**common, "ph": "e", "ts": end_ts})
    return events


def _case_events(
    group: pd.DataFrame, pid: int, ids: Iterator[int], with_run: bool
) -> list[dict[str, Any]]:
    """One case and round: its process and tracks, the batch, and every task's three phases
    (`with_run`: its process name says which run, as several runs are in the trace)."""
    first = group.iloc[0]
    identity = {key: plain(first[key]) for key in IDENTITY}
    label = f"{first['case_id']} · round {first['round']}"
    label += f" · {first['run_id']}" if with_run else ""
    figures = timeline.shape(group.to_dict("list"), int(first["workers"]))
    labels = ", ".join(f"{k}={v}" for k, v in identity.items() if k != "case_id" and v != "")
    events = [
        _meta("process_name", pid, DRIVER_TID, name=label),
        _meta("process_sort_index", pid, DRIVER_TID, sort_index=pid),
        _meta("process_labels", pid, DRIVER_TID, labels=labels),
        _meta("thread_name", pid, DRIVER_TID, name="driver (submit → arrival)"),
        _meta("thread_sort_index", pid, DRIVER_TID, sort_index=DRIVER_TID),
    ]
    rows = group.sort_values(["start_s", "task"]).to_dict("records")
    first_of: dict[str, dict[str, Any]] = {}
    for row in rows:
        first_of.setdefault(row["worker"], row)
    tids = {worker: tid for tid, worker in enumerate(sorted(first_of, key=natural), 1)}
    for worker, tid in tids.items():
        events.append(_meta("thread_name", pid, tid, name=track_name(first_of[worker])))
        events.append(_meta("thread_sort_index", pid, tid, sort_index=tid))
    start, end = group["submit_s"].min(), group["arrival_s"].max()
    shape = {k: plain(v) for k, v in (asdict(figures) if figures else {}).items()}
    events.append(
        {
            "ph": "X",
            "cat": "batch",
            "name": "batch",
            "pid": pid,
            "tid": DRIVER_TID,
            "ts": _us(start),
            "dur": _us(end - start),
            "args": {**identity, "tasks": len(rows), **shape},
        }
    )
    for row in rows:
        events.append(
            {
                "ph": "X",
                "cat": "service",
                "name": f"task {row['task']}",
                "pid": pid,
                "tid": tids[row["worker"]],
                "ts": _us(row["start_s"]),
                "dur": _us(row["service_s"]),
                "args": _task_args(row),
            }
        )
        events += _phase_slices(row, pid, ids)
    return events


def natural(label: str) -> tuple:
    """'thread 7 #2' before 'thread 7 #10': numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in str(label).replace("#", " ").split())


def document(tasks: pd.DataFrame) -> dict[str, Any]:
    """The trace of every case and round in `tasks` (rows of `tasks.parquet`)."""
    keys = ["run_id", "case_id", "round"]
    ids = iter(range(1, 1 << 62))
    events: list[dict[str, Any]] = []
    cases = []
    for pid, (_, group) in enumerate(tasks.groupby(keys, observed=True, sort=True), 1):
        events += _case_events(group, pid, ids, tasks["run_id"].nunique() > 1)
        cases.append({k: plain(group[k].iloc[0]) for k in IDENTITY} | {"trace_pid": pid})
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "harness export --table tasks --format trace",
            "runs": sorted({str(r) for r in tasks["run_id"]}),
            "time": "microseconds since each case's batch was submitted, on its driver's "
            "clock; every case starts at 0",
            "cases": cases,
        },
    }


def encode(tasks: pd.DataFrame) -> bytes:
    return (json.dumps(document(tasks), allow_nan=False, separators=(",", ":")) + "\n").encode()
