"""CPU and I/O in one task: `cpu_fraction` of each task computes, the rest waits.

Where the crossover lies between "threads are enough" (mostly waiting) and "processes are
needed" (mostly computing) is what the article's decision tree leaves to intuition.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import Field

from harness.workloads.granularity import spin
from harness.workloads.registry import Workload, WorkloadParams, register


def cpu_then_wait(item: tuple[float, float]) -> tuple[float, float]:
    """Burn `cpu_s` of CPU time, then wait `io_s` (a request whose answer is slow)."""
    cpu_s, io_s = item
    spin(cpu_s)
    time.sleep(io_s)
    return item


async def cpu_then_wait_async(item: tuple[float, float]) -> tuple[float, float]:
    """The CPU part blocks the event loop: asyncio overlaps only the waiting."""
    cpu_s, io_s = item
    spin(cpu_s)
    await asyncio.sleep(io_s)
    return item


class MixedParams(WorkloadParams):
    task_s: float = Field(gt=0, le=60, description="CPU plus waiting seconds of one task")
    cpu_fraction: float = Field(ge=0, le=1, description="share of task_s spent computing")


def _mixed_inputs(params: MixedParams, tasks: int) -> list[tuple[float, float]]:
    cpu_s = params.task_s * params.cpu_fraction
    return [(cpu_s, params.task_s - cpu_s)] * tasks


register(
    Workload(
        name="cpu_then_wait",
        description="each task computes cpu_fraction of task_s, then waits the rest",
        task=cpu_then_wait,
        params=MixedParams,
        inputs=_mixed_inputs,
        expected=lambda params, inputs: list(inputs),
        async_task=cpu_then_wait_async,
    )
)
