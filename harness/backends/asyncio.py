"""asyncio: one event loop in the driver, at most `workers` coroutines in flight.

The article's "consider asyncio for many I/O operations". It runs a workload's coroutine
variant (`async_task`); a workload without one cannot run here, which the spec validator
says before anything starts. CPU work inside a coroutine blocks the loop: that is a finding
of the `mixed` scenario, not a fault of the backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, Batch, InProcessSharing
from harness.protocol import BackendDescription


class AsyncioBackend(InProcessSharing, Backend):
    name = "asyncio"
    strategy = "one event loop, asyncio.gather under a Semaphore(workers)"
    task_kind = "async"
    color = "#17becf"
    display_order = 30

    _loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        # Ready means the loop has run a coroutine: the same bar the other backends meet.
        self._loop.run_until_complete(asyncio.sleep(0))

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        assert self._loop is not None, "start() first"
        return self._loop.run_until_complete(self._gather(task, inputs))

    async def _gather(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        limit = asyncio.Semaphore(self.workers)
        arrival = [0.0] * len(inputs)
        t0 = time.perf_counter()

        async def one(i: int, item: Any) -> Any:
            async with limit:
                output = await task(item)
            arrival[i] = time.perf_counter() - t0
            return output

        outputs = await asyncio.gather(*(one(i, item) for i, item in enumerate(inputs)))
        return Batch(list(outputs), arrival, t0)

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        """The coroutine `fn(*args)` run alone on the loop, until it is done."""
        assert self._loop is not None, "start() first"
        return self._loop.run_until_complete(fn(*args))

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            self._loop = None

    def describe(self) -> BackendDescription:
        return BackendDescription(self.strategy, details={"concurrency": self.workers})
