"""CPU and I/O in one task: `cpu_fraction` of each task computes, the rest waits.

Where the crossover lies between "threads are enough" (mostly waiting) and "processes are
needed" (mostly computing) is what the article's decision tree leaves to intuition.
"""

from __future__ import annotations

from pydantic import Field

from harness.tasks import cpu_then_wait, cpu_then_wait_async  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams


class MixedParams(WorkloadParams):
    task_s: float = Field(gt=0, le=60, description="CPU plus waiting seconds of one task")
    cpu_fraction: float = Field(ge=0, le=1, description="share of task_s spent computing")


def _mixed_inputs(params: MixedParams, tasks: int) -> list[tuple[float, float]]:
    cpu_s = params.task_s * params.cpu_fraction
    return [(cpu_s, params.task_s - cpu_s)] * tasks


CPU_THEN_WAIT = Workload(
    name="cpu_then_wait",
    description="each task computes cpu_fraction of task_s, then waits the rest",
    task=cpu_then_wait,
    params=MixedParams,
    inputs=_mixed_inputs,
    expected=lambda params, inputs: list(inputs),
    async_task=cpu_then_wait_async,
)
