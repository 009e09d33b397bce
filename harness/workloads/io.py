"""Waiting workloads: the article's I/O-bound case, where threads should scale with workers."""

from __future__ import annotations

import time

from pydantic import Field

from harness.workloads.registry import Workload, WorkloadParams, register


def sleep_task(seconds: float) -> float:
    """Wait without using the CPU, like a network or disk request; returns what it waited."""
    time.sleep(seconds)
    return seconds


class SleepParams(WorkloadParams):
    seconds: float = Field(ge=0, le=3600, description="how long one task waits")


register(
    Workload(
        name="sleep",
        description="time.sleep: a task that waits for I/O and releases the GIL",
        task=sleep_task,
        params=SleepParams,
        inputs=lambda params, tasks: [params.seconds] * tasks,
        expected=lambda params, inputs: list(inputs),
    )
)
