"""concurrent.futures threads: one process, shared memory, one GIL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from harness.backends.base import Backend, Batch, InProcessSharing


class ThreadsBackend(InProcessSharing, Backend):
    name = "threads"
    strategy = "ThreadPoolExecutor.map"
    color = "#1f77b4"
    display_order = 10

    _pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="harness")
        # Threads are created lazily; a barrier of `workers` parties only opens once every
        # thread exists and is running a task.
        barrier = threading.Barrier(self.workers)
        probes = [self._pool.submit(barrier.wait, 60) for _ in range(self.workers)]
        for probe in probes:
            probe.result()

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        assert self._pool is not None, "start() first"
        t0 = time.perf_counter()
        futures = {self._pool.submit(task, item): i for i, item in enumerate(inputs)}
        outputs: list[Any] = [None] * len(inputs)
        arrival = [0.0] * len(inputs)
        for future in as_completed(futures):
            i = futures[future]
            outputs[i] = future.result()
            arrival[i] = time.perf_counter() - t0
        return Batch(outputs, arrival)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        assert self._pool is not None, "start() first"
        return list(self._pool.map(task, inputs))

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._pool is not None, "start() first"
        return self._pool.submit(fn, *args).result()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
