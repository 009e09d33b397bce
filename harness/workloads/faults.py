"""Workloads that fail on purpose: how the harness proves a hang or a crash costs nothing.

`lock_order_deadlock` is the article's deadlock: two threads take two locks in opposite
orders and wait for each other forever.
"""

from __future__ import annotations

from pydantic import Field

from harness.tasks import exit_process, lock_order_deadlock, raise_error  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams


class DeadlockParams(WorkloadParams):
    hold_s: float = Field(default=0.1, ge=0, le=10)


class ExitParams(WorkloadParams):
    code: int = Field(default=1, ge=0, le=255)


class RaiseParams(WorkloadParams):
    message: str = "raised on purpose by the raise_error workload"


LOCK_ORDER_DEADLOCK = Workload(
    name="lock_order_deadlock",
    description="the article's deadlock: two threads take two locks in opposite order",
    task=lock_order_deadlock,
    params=DeadlockParams,
    inputs=lambda params, tasks: [params.hold_s] * tasks,
    expected=lambda params, inputs: [0] * len(inputs),
)

EXIT_PROCESS = Workload(
    name="exit_process",
    description="the process running the task exits at once (a crashed worker)",
    task=exit_process,
    params=ExitParams,
    inputs=lambda params, tasks: [params.code] * tasks,
    expected=lambda params, inputs: [None] * len(inputs),
)

RAISE_ERROR = Workload(
    name="raise_error",
    description="every task raises ValueError (an error inside the workload)",
    task=raise_error,
    params=RaiseParams,
    inputs=lambda params, tasks: [params.message] * tasks,
    expected=lambda params, inputs: [None] * len(inputs),
)
