"""The article's shared counter: many tasks increment one number.

This does not fit "map a task over inputs": the counter must exist before the tasks and be
read after them. The `program` asks the backend for its own kind of shared counter
(`backend.counter(locked=...)`: a plain attribute and `threading.Lock` in-process, a
multiprocessing Manager `Value` and `Lock`, a Dask `Variable` and `Lock`, a Ray actor), maps
the increment task over the backend, then reads the total.

Unlocked, updates may be lost: that is the finding (`lost_updates`), not an error, so the
check is only that the total is possible. Locked, any lost update is an error.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from harness.backends.base import Backend
from harness.protocol import Metric
from harness.tasks import increment_task  # noqa: F401 (the worker side)
from harness.workloads.registry import ProgramResult, Workload, WorkloadParams


class CounterParams(WorkloadParams):
    increments: int = Field(default=100_000, ge=1, description="increments per task at most")
    max_s: float = Field(default=2.0, gt=0, le=600, description="time cap per task")
    locked: bool = Field(default=False, description="increment under the backend's lock")


def counter_program(
    backend: Backend, params: CounterParams, tasks: int, inputs: list[Any]
) -> ProgramResult:
    counter = backend.counter(locked=params.locked)
    t0 = time.perf_counter()
    done_per_task = backend.map(
        increment_task, [(counter, params.increments, params.max_s)] * tasks
    )
    wall = time.perf_counter() - t0
    done = sum(done_per_task)
    final = counter.value()
    lost = done - final
    metrics = {
        Metric.INCREMENTS_PER_S: (done / wall, "1/s"),
        Metric.LOST_UPDATES: (float(lost), "count"),
        Metric.LOST_UPDATE_RATIO: (lost / done if done else 0.0, "ratio"),
    }
    if params.locked:
        outputs, expected = [final], [done]  # under a lock nothing may be lost
    else:
        # Lost updates are the finding; a total above the increments made, or none at all,
        # would be a broken counter.
        outputs, expected = [1 <= final <= done], [True]
    every_task_ran = [n > 0 for n in done_per_task]
    return ProgramResult(
        outputs=outputs + every_task_ran,
        expected=expected + [True] * tasks,
        metrics=metrics,
    )


SHARED_COUNTER = Workload(
    name="shared_counter",
    description="tasks increment one shared counter, unlocked or under a lock",
    task=increment_task,
    params=CounterParams,
    inputs=lambda params, tasks: [],
    program=counter_program,
)
