"""What the process-pool backends (processes, loky, any Executor) share: Pool.map's chunking
and a multiprocessing Manager for the state their tasks share (counter, queue, lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from harness.backends.base import BackendOptions, SharedCounter, chunksize_for
from harness.tasks import SharedArray


class PoolOptions(BackendOptions):
    #: Tasks per message to a worker; 0 picks Pool.map's heuristic (about 4 chunks a worker).
    chunksize: int = 0


class PoolOfProcesses:
    """Mixin for a Backend whose workers are processes on this host.

    A pool's tasks cannot inherit a `Value` or `Queue` (they are pickled), but Manager
    proxies travel with the task; the Manager starts on first use, so cases that share
    nothing never pay for its process.
    """

    workers: int
    options: PoolOptions
    _manager: Any = None
    #: Shared-memory segments `share` created, by name, until `unshare` removes them.
    _segments: dict[str, Any] | None = None
    worker_pids: Callable[[], list[int]]

    def manager_start_method(self) -> str:
        """How the Manager's process is started; spawn unless the backend says otherwise."""
        return "spawn"

    def _chunksize(self, n_tasks: int) -> int:
        if self.options.batching == "per_task":
            return 1
        return self.options.chunksize or chunksize_for(n_tasks, self.workers)

    def share(self, value: Any) -> Any:
        """A NumPy array goes into shared memory once and tasks receive its name (what a
        pool user does instead of pickling it into every task); anything else, and every
        value for a pool of threads, is passed as it is."""
        if not self.worker_pids() or type(value).__module__ != "numpy":
            return value
        from multiprocessing import shared_memory

        import numpy as np

        segment = shared_memory.SharedMemory(create=True, size=max(1, value.nbytes))
        np.ndarray(value.shape, dtype=value.dtype, buffer=segment.buf)[...] = value
        if self._segments is None:
            self._segments = {}
        self._segments[segment.name] = segment
        return SharedArray(segment.name, value.shape, value.dtype.str)

    def unshare(self, handles: list[Any]) -> None:
        for handle in handles:
            segment = (self._segments or {}).pop(getattr(handle, "name", ""), None)
            if segment is not None:
                segment.close()
                segment.unlink()

    def _shared(self) -> Any:
        if self._manager is None:
            import multiprocessing

            self._manager = multiprocessing.get_context(self.manager_start_method()).Manager()
        return self._manager

    def lock(self) -> AbstractContextManager[Any]:
        """A Manager `Lock`, whose proxy travels with the task; a `threading.Lock` when the
        pool's workers are threads of this process (an Executor of threads)."""
        if not self.worker_pids():
            return threading.Lock()
        lock: AbstractContextManager[Any] = self._shared().Lock()
        return lock

    def _manager_counter(self, locked: bool) -> SharedCounter:
        manager = self._shared()
        return ManagerCounter(manager.Value("q", 0), manager.Lock() if locked else None)

    def _stop_manager(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None


class ManagerCounter(SharedCounter):
    """A Manager `Value`: unlocked, `get` then `set` are two round trips another process can
    slip between; locked, both happen under a Manager `Lock`."""

    def __init__(self, value: Any, lock: Any) -> None:
        self._value, self._lock = value, lock

    def increment(self) -> None:
        if self._lock is None:
            self._value.value = self._value.value + 1
        else:
            with self._lock:
                self._value.value = self._value.value + 1

    def value(self) -> int:
        return int(self._value.value)
