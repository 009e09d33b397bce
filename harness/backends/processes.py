"""multiprocessing through concurrent.futures: one interpreter (and GIL) per worker."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from harness.backends._pools import PoolOfProcesses, PoolOptions
from harness.backends.base import Backend, Batch, SharedCounter, WorkerCrashed
from harness.protocol import BackendDescription
from harness.tasks import install_ready_barrier, ready_probe


class ProcessesOptions(PoolOptions):
    start_method: Literal["fork", "spawn", "forkserver"] = "spawn"


class ProcessesBackend(PoolOfProcesses, Backend):
    name = "processes"
    strategy = "ProcessPoolExecutor.map with chunking"
    options_model = ProcessesOptions
    options: ProcessesOptions
    color = "#d62728"
    display_order = 20

    _pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        context = multiprocessing.get_context(self.options.start_method)
        # Each worker passes a barrier in its first task, so start() returns only once all
        # `workers` processes exist and have run that task.
        barrier = context.Barrier(self.workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=install_ready_barrier,
            initargs=(barrier,),
        )
        probes = [self._pool.submit(ready_probe) for _ in range(self.workers)]
        try:
            self._pids = sorted({probe.result() for probe in probes})
        except BrokenProcessPool as exc:
            raise WorkerCrashed(str(exc)) from exc

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        assert self._pool is not None, "start() first"
        chunksize = self._chunksize(len(inputs))
        t0 = time.perf_counter()
        outputs, arrival = [], []
        try:
            for output in self._pool.map(task, inputs, chunksize=chunksize):
                outputs.append(output)
                arrival.append(time.perf_counter() - t0)
        except BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died: {exc}") from exc
        return Batch(outputs, arrival, t0)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        assert self._pool is not None, "start() first"
        chunksize = self._chunksize(len(inputs))
        try:
            return list(self._pool.map(task, inputs, chunksize=chunksize))
        except BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died: {exc}") from exc

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._pool is not None, "start() first"
        try:
            return self._pool.submit(fn, *args).result()
        except BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died: {exc}") from exc

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._stop_manager()

    def manager_start_method(self) -> str:
        return self.options.start_method

    def counter(self, locked: bool) -> SharedCounter:
        return self._manager_counter(locked)

    def queue(self) -> Any:
        return self._shared().Queue()

    def worker_pids(self) -> list[int]:
        return list(getattr(self, "_pids", []))

    def describe(self) -> BackendDescription:
        return BackendDescription(
            self.strategy, details={"start_method": self.options.start_method}
        )
