"""concurrent.futures threads: one process, shared memory, one GIL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.backends.base import Backend, Batch, InProcessSharing, executor_batch


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
        return executor_batch(self._pool, task, inputs)

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
