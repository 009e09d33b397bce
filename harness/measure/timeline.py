"""Where each task's time went: per-task records of the timeline pass, and what they add up to.

A stamped task reports the node, process and thread it ran in and its start and end on that
node's clock; the driver knows when it handed the task over and when the result arrived.
One host's processes share one monotonic clock. A node of a cluster has its own: its offset
from the driver's clock is bounded by every task and probe it ran (a worker's time lies
between the driver's submit and arrival), and the bound's half-width is the offset's
uncertainty. Cross-host gaps smaller than it are not facts, and are never emitted as such.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.protocol import Metric

#: The columns of one task record, in the order of `tasks.parquet` (after the case keys).
#: Times are seconds since the batch was submitted, on the driver's clock.
COLUMNS: dict[str, str] = {
    "task": "int64",  # position in the batch
    "node": "string",  # "local", or the cluster node (Dask worker host, Ray node IP)
    "pid": "int64",  # the worker process
    "thread": "int64",  # the OS thread id inside it
    "worker": "string",  # one Gantt row: "pid 4242", "thread 4250", "10.0.0.2 pid 77"
    "submit_s": "float64",  # handed to the engine (a one-call batch: all at 0)
    "start_s": "float64",  # the task began inside the worker
    "end_s": "float64",  # it ended there
    "arrival_s": "float64",  # its result was in the driver
    "dispatch_s": "float64",  # start - submit: queueing, serialization, scheduling
    "service_s": "float64",  # end - start: the task itself
    "return_s": "float64",  # arrival - end: the result's way back, and waiting to be read
    Metric.CLOCK_UNCERTAINTY_S: "float64",  # 0 on the driver's host; else its node's
}


@dataclass(frozen=True)
class ClockOffset:
    """A node's clock minus the driver's, and the half-width of the interval bounding it."""

    node: str
    offset_s: float
    uncertainty_s: float


@dataclass(frozen=True)
class Bracket:
    """A worker's clock read at `worker_first` and `worker_last` (one probe: both the
    same), known to lie between the driver's `driver_before` and `driver_after`."""

    node: str
    worker_first: float
    worker_last: float
    driver_before: float
    driver_after: float


def clock_offsets(brackets: Iterable[Bracket]) -> dict[str, ClockOffset]:
    """Each node's offset, from the intersection of what every bracket allows.

    A bracket says `worker_first - offset >= driver_before` and `worker_last - offset <=
    driver_after`, so `worker_last - driver_after <= offset <= worker_first - driver_before`.
    Should the bounds cross (a clock that drifted or stepped), the midpoint is kept and the
    uncertainty widened to cover both."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for b in brackets:
        lo, hi = b.worker_last - b.driver_after, b.worker_first - b.driver_before
        low[b.node] = max(low.get(b.node, lo), lo)
        high[b.node] = min(high.get(b.node, hi), hi)
    return {
        node: ClockOffset(node, (low[node] + high[node]) / 2, abs(high[node] - low[node]) / 2)
        for node in low
    }


def records(
    stamps: Sequence[tuple[str, int, int, float, float]],
    arrival_s: Sequence[float],
    submit_s: Sequence[float] | None,
    t0: float,
    offsets: dict[str, ClockOffset] | None,
    driver_pid: int = 0,
) -> dict[str, list[Any]]:
    """The task records, column by column (`COLUMNS`), from the workers' stamps and the
    driver's batch. `offsets` None: every worker shares the driver's clock (this host).

    A worker is named by its process, or by its thread where one process holds several
    workers, or where the workers are threads of the driver (`driver_pid`)."""
    submit = list(submit_s) if submit_s is not None else [0.0] * len(stamps)
    threads_of: dict[tuple[str, int], set[int]] = {}
    for node, pid, thread, _, _ in stamps:
        threads_of.setdefault((node, pid), set()).add(thread)
    out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for i, (node, pid, thread, start_w, end_w) in enumerate(stamps):
        clock = offsets.get(node) if offsets is not None else None
        shift = clock.offset_s if clock is not None else 0.0
        start, end = start_w - shift - t0, end_w - shift - t0
        threads = len(threads_of[(node, pid)]) > 1 or (offsets is None and pid == driver_pid)
        label = f"thread {thread}" if threads else f"pid {pid}"
        row = {
            "task": i,
            "node": node if offsets is not None else "local",
            "pid": pid,
            "thread": thread,
            "worker": f"{node} {label}" if offsets is not None else label,
            "submit_s": submit[i],
            "start_s": start,
            "end_s": end,
            "arrival_s": arrival_s[i],
            "dispatch_s": start - submit[i],
            "service_s": end - start,
            "return_s": arrival_s[i] - end,
            Metric.CLOCK_UNCERTAINTY_S: clock.uncertainty_s if clock is not None else 0.0,
        }
        for name, value in row.items():
            out[name].append(value)
    out["worker"] = _slots(out["worker"], out["start_s"], out["end_s"])
    return out


def _slots(workers: list[str], starts: list[float], ends: list[float]) -> list[str]:
    """Worker names with a slot where one worker ran tasks at once (coroutines on an event
    loop's thread): "thread 7 #2", so a Gantt row never overlaps."""
    slot = slots(workers, starts, ends)
    most: dict[str, int] = {}
    for w, k in zip(workers, slot, strict=True):
        most[w] = max(most.get(w, 0), k)
    return [f"{w} #{k + 1}" if most[w] else w for w, k in zip(workers, slot, strict=True)]


def slots(workers: Sequence[Any], starts: Sequence[float], ends: Sequence[float]) -> list[int]:
    """Per task, its slot within its worker: each task takes the first slot free at its
    start, so a worker gets as many slots as it had tasks in flight at once."""
    free_at: dict[Any, list[float]] = {}
    slot = [0] * len(workers)
    for i in sorted(range(len(workers)), key=lambda i: starts[i]):
        ends_of = free_at.setdefault(workers[i], [])
        k = next((k for k, end in enumerate(ends_of) if end <= starts[i]), len(ends_of))
        if k == len(ends_of):
            ends_of.append(ends[i])
        ends_of[k] = ends[i]
        slot[i] = k
    return slot


@dataclass(frozen=True)
class Shape:
    """What a case's task records add up to (see the metric catalogue for each)."""

    makespan_s: float
    ideal_makespan_s: float
    schedule_efficiency: float
    worker_busy_min: float
    straggler_ratio: float
    dispatch_p50_s: float
    service_p50_s: float
    return_p50_s: float
    #: The largest clock uncertainty of any task: gaps (dispatch, return) below it are not
    #: facts. 0 on one host.
    clock_uncertainty_s: float


def shape(columns: Mapping[str, Sequence[Any]], workers: int) -> Shape | None:
    """The case's makespan, how well its workers were kept busy, and its medians; None for
    an empty batch."""
    n = len(columns["task"])
    if n == 0:
        return None
    makespan = max(columns["arrival_s"]) - min(columns["submit_s"])
    service = list(columns["service_s"])
    ideal = sum(service) / workers
    busy = busy_fractions(columns, makespan)
    # A worker that ran nothing was idle the whole time.
    least = min(busy.values()) if len(busy) >= workers else 0.0
    median_service = statistics.median(service)
    return Shape(
        makespan_s=makespan,
        ideal_makespan_s=ideal,
        schedule_efficiency=ideal / makespan if makespan > 0 else float("nan"),
        worker_busy_min=least,
        straggler_ratio=max(service) / median_service if median_service > 0 else float("nan"),
        dispatch_p50_s=statistics.median(columns["dispatch_s"]),
        service_p50_s=median_service,
        return_p50_s=statistics.median(columns["return_s"]),
        clock_uncertainty_s=max(columns[Metric.CLOCK_UNCERTAINTY_S]),
    )


def busy_fractions(columns: Mapping[str, Sequence[Any]], makespan_s: float) -> dict[str, float]:
    """Per worker, the share of the makespan in which it was running a task of the batch.

    Intervals are merged first: coroutines on one event loop thread overlap, and their
    thread is busy once, not twice."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for worker, start, end in zip(
        columns["worker"], columns["start_s"], columns["end_s"], strict=True
    ):
        spans.setdefault(worker, []).append((start, end))
    out = {}
    for worker, intervals in spans.items():
        busy, reach = 0.0, float("-inf")
        for start, end in sorted(intervals):
            if end > reach:
                busy += end - max(start, reach)
                reach = end
        out[worker] = busy / makespan_s if makespan_s > 0 else float("nan")
    return out
