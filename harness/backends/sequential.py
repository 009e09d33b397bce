"""The baseline: every task in the driver, one after another."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, Batch, InProcessSharing


class SequentialBackend(InProcessSharing, Backend):
    name = "sequential"
    strategy = "for loop in the driver"
    graph_strategy = "in order in the driver"
    scalable = False
    color = "#6c6c6c"
    display_order = 0
    baseline = True

    def start(self) -> None:
        pass

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        t0 = time.perf_counter()
        outputs, arrival, submit = [], [], []
        for item in inputs:
            submit.append(time.perf_counter() - t0)  # the driver reaches the task
            outputs.append(task(item))
            arrival.append(time.perf_counter() - t0)
        return Batch(outputs, arrival, t0, submit)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        return [task(item) for item in inputs]

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def stop(self) -> None:
        pass
