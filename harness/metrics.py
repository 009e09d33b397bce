"""The metric catalogue: every built-in metric's name, unit, better direction, what one
value is and what was timed or counted, and the registry a plugin adds its own to.

Every other module reads a metric's unit, direction and meaning from here (reports,
compare, exports) and names a metric by its `Metric` constant, never by its string.
`harness.protocol` hands these names out too, as the contracts between the parts. Standard
library only, because the case process imports it before any engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["lower", "higher", "none"]
#: repeat: one value per timed repeat; round: one per case process (so per round);
#: node: one per cluster node per round; case: derived once per case from the others.
Per = Literal["repeat", "round", "node", "case"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str  # s, 1/s, B/s, B, ratio, count
    better: Better
    per: Per
    label: str  # short, for table headers and axes
    description: str  # one line: what was timed or counted, from where to where

    @property
    def compare_words(self) -> tuple[str, str]:
        """How a change reads: (better, worse), after the metric's own direction."""
        if self.unit == "s":
            return ("faster", "slower")
        if self.unit == "B":
            return ("less memory", "more memory")
        if self.better == "higher":
            return ("higher", "lower")
        if self.better == "lower":
            return ("lower", "higher")
        return ("changed", "changed")


class Metric:
    """The names of the built-in metrics: use these, not the strings (a typo is then an
    AttributeError, and a rename is one line). Each has its entry in `METRICS`."""

    STARTUP_S = "startup_s"
    TEARDOWN_S = "teardown_s"
    WALL_S = "wall_s"
    REFERENCE_WALL_S = "reference_wall_s"
    TASKS_PER_S = "tasks_per_s"
    BYTES_PER_S = "bytes_per_s"
    CPU_UTIL = "cpu_util"
    STEADY_CPU_UTIL = "steady_cpu_util"
    ENGINE_CPU_UTIL = "engine_cpu_util"
    CPU_WAIT_RATIO = "cpu_wait_ratio"
    RTT_P50_S = "rtt_p50_s"
    RTT_P99_S = "rtt_p99_s"
    SERVICE_P50_S = "service_p50_s"
    OVERHEAD_P50_S = "overhead_p50_s"
    RTT_TASKS = "rtt_tasks"
    BATCH_COMPLETION_P50_S = "batch_completion_p50_s"
    BATCH_COMPLETION_P99_S = "batch_completion_p99_s"
    BATCH_COMPLETION_P95_S = "batch_completion_p95_s"  # format-1 runs only
    PEAK_RSS_BYTES = "peak_rss_bytes"
    PEAK_USS_BYTES = "peak_uss_bytes"
    WORKER_USS_BYTES = "worker_uss_bytes"
    FIXED_USS_BYTES = "fixed_uss_bytes"
    PEAK_PSS_BYTES = "peak_pss_bytes"
    WORKER_PSS_BYTES = "worker_pss_bytes"
    USABLE_CPUS = "usable_cpus"
    BASELINE_USS_BYTES = "baseline_uss_bytes"
    PROCESSES = "processes"
    ELAPSED_S = "elapsed_s"
    NODE_PEAK_RSS_BYTES = "node_peak_rss_bytes"
    NODE_CPU_UTIL = "node_cpu_util"
    NODE_TASKS = "node_tasks"
    LOST_UPDATES = "lost_updates"
    LOST_UPDATE_RATIO = "lost_update_ratio"
    INCREMENTS_PER_S = "increments_per_s"
    MESSAGES_PER_S = "messages_per_s"
    IN_FLIGHT = "in_flight"
    SPEEDUP = "speedup"
    EFFICIENCY = "efficiency"
    MAKESPAN_S = "makespan_s"
    IDEAL_MAKESPAN_S = "ideal_makespan_s"
    SCHEDULE_EFFICIENCY = "schedule_efficiency"
    WORKER_BUSY_MIN = "worker_busy_min"
    STRAGGLER_RATIO = "straggler_ratio"
    DISPATCH_P50_S = "dispatch_p50_s"
    BATCH_SERVICE_P50_S = "batch_service_p50_s"
    RETURN_P50_S = "return_p50_s"
    CLOCK_OFFSET_S = "clock_offset_s"
    CLOCK_UNCERTAINTY_S = "clock_uncertainty_s"
    DRIVER_BYTES = "driver_bytes"
    FIRST_START_S = "first_task_start_s"


def _m(name: str, unit: str, better: Better, per: Per, label: str, description: str) -> MetricInfo:
    return MetricInfo(name, unit, better, per, label, description)


_BUILTIN = [
    _m(
        Metric.STARTUP_S,
        "s",
        "lower",
        "round",
        "start-up",
        "backend start until every worker has finished one trivial task",
    ),
    _m(Metric.TEARDOWN_S, "s", "lower", "round", "teardown", "backend stop until it returned"),
    _m(
        Metric.WALL_S,
        "s",
        "lower",
        "repeat",
        "wall",
        "one repeat: the batch submitted until the driver held every output",
    ),
    _m(
        Metric.REFERENCE_WALL_S,
        "s",
        "lower",
        "repeat",
        "reference wall",
        "the same batch in the baseline's sequential loop, timed in the same case process "
        "right before or after repeat N (the order alternates): each repeat's partner in a "
        "paired speedup",
    ),
    _m(
        Metric.TASKS_PER_S, "1/s", "higher", "repeat", "tasks/s", "tasks of one repeat / its wall_s"
    ),
    _m(
        Metric.BYTES_PER_S,
        "B/s",
        "higher",
        "repeat",
        "bytes/s",
        "payload bytes of one repeat / its wall_s",
    ),
    _m(
        Metric.CPU_UTIL,
        "ratio",
        "none",
        "repeat",
        "cpu",
        "CPU seconds of the driver and worker processes over a repeat / (wall x workers); "
        "engine service processes excluded (a Dask LocalCluster's scheduler and nannies are "
        "threads of the driver and count here); read in ns from schedstat, else in clock ticks, "
        "and none where those are too coarse",
    ),
    _m(
        Metric.STEADY_CPU_UTIL,
        "ratio",
        "none",
        "round",
        "steady cpu",
        "CPU seconds of the driver and worker processes from the first repeat's start to the "
        "last one's end (the checks between repeats included) / (that time x workers): one "
        "value per round, long enough for clock ticks where a single repeat is not",
    ),
    _m(
        Metric.ENGINE_CPU_UTIL,
        "ratio",
        "none",
        "round",
        "engine cpu",
        "CPU seconds of the engine's service processes (Ray gcs_server, raylet, agents; "
        "multiprocessing's resource tracker, manager) from the first repeat's start to the "
        "last one's end / that time",
    ),
    _m(
        Metric.CPU_WAIT_RATIO,
        "ratio",
        "lower",
        "repeat",
        "cpu wait",
        "seconds the driver's and the workers' threads (summed, so it may pass 1) were "
        "runnable but waiting on a run queue for a CPU (the kernel's schedstat) over a "
        "repeat / (wall x workers), the same processes and span as cpu_util: cpu_util plus "
        "this is the CPU they wanted; near 0 when none waited; none without schedstat",
    ),
    _m(
        Metric.RTT_P50_S,
        "s",
        "lower",
        "round",
        "rtt p50",
        "one task alone in flight: submit until its result is in the driver, median",
    ),
    _m(
        Metric.RTT_P99_S,
        "s",
        "lower",
        "round",
        "rtt p99",
        "one task alone in flight: submit until its result is in the driver, 99th percentile",
    ),
    _m(
        Metric.SERVICE_P50_S,
        "s",
        "lower",
        "round",
        "service p50",
        "the task's own run time, timed inside the worker, median",
    ),
    _m(
        Metric.OVERHEAD_P50_S,
        "s",
        "lower",
        "round",
        "overhead p50",
        "rtt minus service time per task, median: what the engine adds to one task",
    ),
    _m(
        Metric.RTT_TASKS,
        "count",
        "none",
        "round",
        "rtt tasks",
        "tasks in the one-in-flight loop behind rtt, service and overhead (rtt_p99_s needs 100)",
    ),
    _m(
        Metric.BATCH_COMPLETION_P50_S,
        "s",
        "lower",
        "round",
        "batch completion p50",
        "whole batch submitted until each result reached the driver, median over tasks",
    ),
    _m(
        Metric.BATCH_COMPLETION_P99_S,
        "s",
        "lower",
        "round",
        "batch completion p99",
        "whole batch submitted until each result reached the driver, 99th percentile",
    ),
    _m(
        Metric.BATCH_COMPLETION_P95_S,
        "s",
        "lower",
        "round",
        "batch completion p95",
        "whole batch submitted until each result reached the driver, 95th percentile "
        "(runs of format 1, as latency_p95_s, only)",
    ),
    _m(
        Metric.PEAK_RSS_BYTES,
        "B",
        "lower",
        "round",
        "peak RSS",
        "peak of the summed RSS of the case's process tree",
    ),
    _m(
        Metric.PEAK_USS_BYTES,
        "B",
        "lower",
        "round",
        "peak USS",
        "peak unique memory of the process tree minus the driver's import-only baseline, at "
        "least 0 (after fork, pages the driver shares with its workers leave every "
        "process's USS, so the tree can fall below the baseline: peak_pss_bytes counts them)",
    ),
    _m(
        Metric.WORKER_USS_BYTES,
        "B",
        "lower",
        "round",
        "memory/worker",
        "unique memory per worker process (threads: driver growth per thread)",
    ),
    _m(
        Metric.FIXED_USS_BYTES,
        "B",
        "lower",
        "round",
        "fixed memory",
        "peak_uss_bytes minus workers x worker_uss_bytes: the engine's own services, at "
        "least 0 (after fork, USS undercounts what the workers share)",
    ),
    _m(
        Metric.PEAK_PSS_BYTES,
        "B",
        "lower",
        "round",
        "peak PSS",
        "peak proportional memory of the process tree (shared pages split among sharers) "
        "minus the driver's import-only baseline; counts fork's copy-on-write pages once",
    ),
    _m(
        Metric.WORKER_PSS_BYTES,
        "B",
        "lower",
        "round",
        "PSS/worker",
        "proportional memory per worker process (threads: driver growth per thread)",
    ),
    _m(
        Metric.USABLE_CPUS,
        "count",
        "none",
        "round",
        "usable CPUs",
        "CPUs the case could use: its affinity, capped by the cgroup's CPU quota",
    ),
    _m(
        Metric.BASELINE_USS_BYTES,
        "B",
        "none",
        "round",
        "baseline USS",
        "the driver's unique memory after imports, before the backend started",
    ),
    _m(
        Metric.PROCESSES, "count", "none", "round", "processes", "processes in the tree at peak USS"
    ),
    _m(Metric.ELAPSED_S, "s", "none", "round", "elapsed", "the whole case process, start to end"),
    _m(
        Metric.NODE_PEAK_RSS_BYTES,
        "B",
        "lower",
        "node",
        "node peak RSS",
        "peak summed RSS of the case's processes on one cluster node",
    ),
    _m(
        Metric.NODE_CPU_UTIL,
        "ratio",
        "none",
        "node",
        "node cpu",
        "CPU seconds on one node / (seconds sampled x the case's workers there)",
    ),
    _m(
        Metric.NODE_TASKS,
        "count",
        "none",
        "node",
        "node tasks",
        "the case's tasks that ran on a node",
    ),
    _m(
        Metric.LOST_UPDATES,
        "count",
        "lower",
        "repeat",
        "lost updates",
        "increments of a shared counter that a race lost in one repeat",
    ),
    _m(
        Metric.LOST_UPDATE_RATIO,
        "ratio",
        "lower",
        "repeat",
        "lost ratio",
        "lost_updates / increments attempted",
    ),
    _m(
        Metric.INCREMENTS_PER_S,
        "1/s",
        "higher",
        "repeat",
        "increments/s",
        "counter increments of one repeat / its wall_s",
    ),
    _m(
        Metric.MESSAGES_PER_S,
        "1/s",
        "higher",
        "repeat",
        "messages/s",
        "queue messages of one repeat / its wall_s",
    ),
    _m(
        Metric.IN_FLIGHT,
        "count",
        "none",
        "repeat",
        "in flight",
        "contention with a coherency cost: the tasks of its round a task counted as begun "
        "(the N its coherency cost grows with), mean over one repeat's tasks; below the "
        "workers when some tasks began only after others had done their own part (a busy "
        "machine started them late)",
    ),
    _m(
        Metric.SPEEDUP,
        "ratio",
        "higher",
        "case",
        "speedup",
        "median wall of the sequential case / median wall of this case",
    ),
    _m(Metric.EFFICIENCY, "ratio", "higher", "case", "efficiency", "speedup / workers"),
    # The timeline pass: the latency pass's batch, each task stamped inside its worker.
    _m(
        Metric.MAKESPAN_S,
        "s",
        "lower",
        "round",
        "makespan",
        "timeline pass: the first task handed to the engine until the last result was in "
        "the driver",
    ),
    _m(
        Metric.IDEAL_MAKESPAN_S,
        "s",
        "none",
        "round",
        "ideal makespan",
        "timeline pass: the tasks' service times summed / workers, the makespan of a "
        "schedule with no gaps and no engine cost",
    ),
    _m(
        Metric.SCHEDULE_EFFICIENCY,
        "ratio",
        "higher",
        "round",
        "schedule efficiency",
        "ideal_makespan_s / makespan_s: 1 when the workers never wait",
    ),
    _m(
        Metric.WORKER_BUSY_MIN,
        "ratio",
        "higher",
        "round",
        "least busy worker",
        "timeline pass: the least busy worker's time in tasks / makespan_s (0 when a worker "
        "ran none)",
    ),
    _m(
        Metric.STRAGGLER_RATIO,
        "ratio",
        "lower",
        "round",
        "straggler ratio",
        "timeline pass: the longest task's service time / the median task's",
    ),
    _m(
        Metric.DISPATCH_P50_S,
        "s",
        "lower",
        "round",
        "dispatch p50",
        "timeline pass: handed to the engine until the task began in its worker (queueing, "
        "serialization, scheduling), median; withheld on a cluster when below the clock "
        "uncertainty",
    ),
    _m(
        Metric.BATCH_SERVICE_P50_S,
        "s",
        "lower",
        "round",
        "batch service p50",
        "timeline pass: the task's start to its end inside the worker, with the whole batch "
        "in flight, median",
    ),
    _m(
        Metric.RETURN_P50_S,
        "s",
        "lower",
        "round",
        "return p50",
        "timeline pass: the task's end in the worker until its result was in the driver, "
        "median; withheld on a cluster when below the clock uncertainty",
    ),
    _m(
        Metric.CLOCK_OFFSET_S,
        "s",
        "none",
        "node",
        "clock offset",
        "a cluster node's monotonic clock minus the driver's, from the tasks and probes it ran",
    ),
    _m(
        Metric.CLOCK_UNCERTAINTY_S,
        "s",
        "lower",
        "node",
        "clock uncertainty",
        "half-width of the interval the node's tasks and probes bound its clock offset to",
    ),
    # Graph workloads (harness.graph): their wall_s is the graph's makespan.
    _m(
        Metric.DRIVER_BYTES,
        "B",
        "lower",
        "round",
        "driver bytes",
        "graph workloads, untimed pass: pickled size of every value the driver sent to a "
        "worker process or received from one (0 when the workers are its threads)",
    ),
    _m(
        Metric.FIRST_START_S,
        "s",
        "lower",
        "repeat",
        "first task start",
        "graph workloads on this host: the graph submitted until its first task began in a "
        "worker (for broadcast: how long placing the shared value held the tasks back)",
    ),
]

METRICS: dict[str, MetricInfo] = {m.name: m for m in _BUILTIN}


def register_metric(info: MetricInfo) -> None:
    """Add a metric of a plugin's own (a workload's counter, a backend's figure)."""
    known = METRICS.get(info.name)
    if known is not None and known != info:
        raise ValueError(f"metric {info.name!r} is already registered differently")
    METRICS[info.name] = info


def metric_info(name: str, unit: str = "") -> MetricInfo:
    """The catalogue's entry; an unknown metric gets one that claims no direction."""
    known = METRICS.get(name)
    if known is not None:
        return known
    return MetricInfo(name, unit, "none", "repeat", name, "not in the metric catalogue")
