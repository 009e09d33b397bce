"""Task granularity: a fixed total of CPU work cut into tasks of a swept duration.

Each task burns `task_s` seconds of its own thread's CPU time (not wall time: under the GIL
two spinning threads would otherwise both "finish" in the same wall second while doing half
the work each). The batch size is `total_s / task_s`, so every case does the same work and
only the per-task overhead of the backend differs.
"""

from __future__ import annotations

from pydantic import Field

from harness.tasks import spin  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams


class SpinParams(WorkloadParams):
    task_s: float = Field(gt=0, le=60, description="CPU seconds of one task")
    total_s: float = Field(gt=0, le=3600, description="CPU seconds of the whole batch")


SPIN = Workload(
    name="spin",
    description="fixed total CPU work cut into tasks of task_s CPU seconds each",
    task=spin,
    params=SpinParams,
    inputs=lambda params, tasks: [params.task_s] * tasks,
    expected=lambda params, inputs: list(inputs),
    tasks_for=lambda params, tasks: max(1, round(params.total_s / params.task_s)),
)
