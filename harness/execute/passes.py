"""What a case process checks of its outputs, and its untimed passes after the repeats:
one task at a time (round trips), the whole batch with every task stamped (the timeline),
and each node's clock bounded. `case_process` runs them; none of it is in a timed repeat."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import workloads
from harness.backends.base import Backend
from harness.execute.emitter import Emitter
from harness.measure import timeline
from harness.measure.quantiles import percentile
from harness.protocol import Metric
from harness.tasks import Stamp, clock_probe, stamped, stamped_async, stamped_group

#: How many batch completion times of the latency pass are kept for distribution plots.
COMPLETION_SAMPLE = 500
#: Most tasks the round-trip loop submits one at a time (fewer when the batch is smaller).
RTT_TASKS = 200
#: Fewest round trips behind a 99th percentile: below it p99 would only be the maximum.
RTT_P99_MIN = 100


class OutputMismatch(RuntimeError):
    """A case's outputs are not the sequential result (or fail the spec's check)."""


def check_outputs(outputs: list[Any], expected: list[Any], where: str) -> None:
    if outputs != expected:
        wrong = sum(1 for a, b in zip(outputs, expected, strict=False) if a != b)
        wrong += abs(len(outputs) - len(expected))
        raise OutputMismatch(
            f"{where}: {wrong} of {len(expected)} outputs differ from the sequential result"
        )


def verify_outputs(verify: Any, inputs: list[Any], outputs: list[Any], where: str) -> None:
    """The user's `check(input, output)` on every output; False for any is a mismatch."""
    wrong = abs(len(outputs) - len(inputs))
    wrong += sum(1 for i, o in zip(inputs, outputs, strict=False) if not verify(i, o))
    if wrong:
        raise OutputMismatch(f"{where}: {wrong} of {len(inputs)} outputs fail the spec's check")


def digested(workload: workloads.Workload, outputs: list[Any]) -> list[Any]:
    return [workload.digest(o) for o in outputs] if workload.digest is not None else outputs


def round_trips(
    emit: Emitter,
    backend: Backend,
    wrapper: Callable[..., Any],
    task: Callable[[Any], Any],
    inputs: list[Any],
    expected: list[Any],
    workload: workloads.Workload,
) -> None:
    """Tasks submitted one at a time, each waited for: rtt, service time and overhead.

    The round trip is timed in the driver from submit to result; the service time inside
    the worker by `timed`, around the task alone. The same loop on every backend, after
    one untimed round trip (the first call ships the function and warms the path).
    """
    n = min(len(inputs), RTT_TASKS)
    if n == 0:
        return
    backend.submit_one(wrapper, task, inputs[0])
    rtt, service, outputs = [], [], []
    for item in inputs[:n]:
        t0 = time.perf_counter()
        output, seconds = backend.submit_one(wrapper, task, item)
        rtt.append(time.perf_counter() - t0)
        service.append(seconds)
        # Summarised as they arrive: n large payloads need not all stay in memory.
        outputs.append(workload.digest(output) if workload.digest is not None else output)
        del output
    if workload.verify is not None:
        verify_outputs(workload.verify, inputs[:n], outputs, "round-trip pass")
    else:
        check_outputs(outputs, expected[:n], "round-trip pass")
    emit.metric(Metric.RTT_TASKS, n)
    emit.metric(Metric.RTT_P50_S, percentile(rtt, 50))
    if n >= RTT_P99_MIN:
        emit.metric(Metric.RTT_P99_S, percentile(rtt, 99))
    emit.metric(Metric.SERVICE_P50_S, percentile(service, 50))
    overhead = [r - s for r, s in zip(rtt, service, strict=True)]
    emit.metric(Metric.OVERHEAD_P50_S, percentile(overhead, 50))


#: Batches of one trivial probe per worker that bound each node's clock offset: each
#: brackets a probe by one round trip, and the tightest bracket of a node wins.
PROBES_PER_WORKER = 8


@dataclass(frozen=True)
class StampedBatch:
    """The batch run with every task stamped, as `stamped_batch` gives it back.

    `arrival_s` and `submit_s` hold one entry per task: seconds since `t0`, the batch's
    start on the driver's clock."""

    outputs: list[Any]
    stamps: list[Stamp]
    arrival_s: list[float]
    submit_s: list[float]
    t0: float


def stamped_batch(backend: Backend, task: Callable[[Any], Any], inputs: list[Any]) -> StampedBatch:
    """Run the batch with every task stamped: its outputs, stamps, and per task its arrival
    and submit times.

    With `batching = "grouped"` the groups are the engine's tasks, as in the repeats; each
    input in a group is stamped, and shares its group's submit and arrival."""
    t_before = time.perf_counter()
    if backend.options.batching == "grouped":
        size = backend.options.group_of(len(inputs), backend.workers)
        groups = [(task, list(inputs[i : i + size])) for i in range(0, len(inputs), size)]
        batch = backend.run(stamped_group, groups)
        sizes = [len(items) for _, items in groups]
        pairs = [pair for group in batch.outputs for pair in group]
        arrival = [a for a, k in zip(batch.arrival_s, sizes, strict=True) for _ in range(k)]
        sent = batch.submit_s or [0.0] * len(groups)
        submit = [s for s, k in zip(sent, sizes, strict=True) for _ in range(k)]
    else:
        wrapper = stamped_async if backend.task_kind == "async" else stamped
        batch = backend.run(wrapper, [(task, item) for item in inputs])
        pairs, arrival = batch.outputs, batch.arrival_s
        submit = batch.submit_s or [0.0] * len(pairs)
    return StampedBatch(
        outputs=[output for output, _ in pairs],
        stamps=[stamp for _, stamp in pairs],
        arrival_s=list(arrival),
        submit_s=list(submit),
        # A backend that does not say when it started the batch: the moment before it was asked.
        t0=batch.t0 or t_before,
    )


def probe_clocks(backend: Backend) -> list[timeline.Bracket]:
    """Each node's clock read by a call pinned to it (where the engine can), and batches of
    one trivial probe per worker: each reading bracketed by the driver's clock, about one
    round trip wide."""
    pinned = getattr(backend, "clock_readings", None)
    brackets = [
        timeline.Bracket(node, clock, clock, before, after)
        for node, clock, before, after in (pinned() if pinned else [])
    ]
    for _ in range(PROBES_PER_WORKER):
        batch = backend.run(clock_probe, [None] * backend.workers)
        submit = batch.submit_s or [0.0] * len(batch.outputs)
        for (node, clock), sent, back in zip(batch.outputs, submit, batch.arrival_s, strict=True):
            brackets.append(timeline.Bracket(node, clock, clock, batch.t0 + sent, batch.t0 + back))
    return brackets
