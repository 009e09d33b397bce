"""Workloads that fail on purpose: how the harness proves a hang or a crash costs nothing.

`lock_order_deadlock` is the article's deadlock: two threads take two locks in opposite
orders and wait for each other forever.
"""

from __future__ import annotations

import os
import threading
import time

from pydantic import Field

from harness.workloads.registry import Workload, WorkloadParams, register


def lock_order_deadlock(hold_s: float) -> int:
    """Never returns: thread one holds A and wants B, thread two holds B and wants A."""
    lock_a, lock_b = threading.Lock(), threading.Lock()

    def one() -> None:
        with lock_a:
            time.sleep(hold_s)
            with lock_b:
                pass

    def two() -> None:
        with lock_b:
            time.sleep(hold_s)
            with lock_a:
                pass

    threads = [threading.Thread(target=one, daemon=True), threading.Thread(target=two, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


class DeadlockParams(WorkloadParams):
    hold_s: float = Field(default=0.1, ge=0, le=10)


def exit_process(code: int) -> int:
    """Ends the process running the task at once, as a segfault or the OOM killer would."""
    os._exit(code)


class ExitParams(WorkloadParams):
    code: int = Field(default=1, ge=0, le=255)


def raise_error(message: str) -> None:
    raise ValueError(message)


class RaiseParams(WorkloadParams):
    message: str = "raised on purpose by the raise_error workload"


register(
    Workload(
        name="lock_order_deadlock",
        description="the article's deadlock: two threads take two locks in opposite order",
        task=lock_order_deadlock,
        params=DeadlockParams,
        inputs=lambda params, tasks: [params.hold_s] * tasks,
        expected=lambda params, inputs: [0] * len(inputs),
    )
)
register(
    Workload(
        name="exit_process",
        description="the process running the task exits at once (a crashed worker)",
        task=exit_process,
        params=ExitParams,
        inputs=lambda params, tasks: [params.code] * tasks,
        expected=lambda params, inputs: [None] * len(inputs),
    )
)
register(
    Workload(
        name="raise_error",
        description="every task raises ValueError (an error inside the workload)",
        task=raise_error,
        params=RaiseParams,
        inputs=lambda params, tasks: [params.message] * tasks,
        expected=lambda params, inputs: [None] * len(inputs),
    )
)
