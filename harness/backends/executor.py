"""Any `concurrent.futures.Executor`, named by import path in the spec's backend options.

    [backend_options.executor]
    executor = "concurrent.futures:ProcessPoolExecutor"
    kwargs = '{"max_tasks_per_child": 100}'   # optional: JSON object of constructor arguments

The class is built as `cls(max_workers=workers, **kwargs)` and runs batches with its own
`map` (with a chunk size, as `Pool.map` chunks), one task alone with `submit().result()`.

A spec is data, so naming a class is no more enough to import it than naming a workload
function is (see `harness.user_code`). Allowed without asking: the standard library's
`concurrent.futures`, loky (`loky`, and joblib's copy `joblib.externals.loky`), and the
packages of installed harness plugins (entry points of `harness.backends` and
`harness.workloads`). Any other module needs `--import MODULE` on the command line, e.g.
`--import mpi4py` for `mpi4py.futures:MPIPoolExecutor`. Whatever is named must then be a
subclass of `concurrent.futures.Executor`, or the spec is refused before anything runs.

Start-up ends when every worker is running a task: `workers` probes meet at a rendezvous
in a private folder (mode 700), which works for threads and for processes of any executor
on this host without knowing how the executor starts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor
from typing import Any, ClassVar

import psutil
from pydantic import ValidationInfo, field_validator

from harness import user_code
from harness.backends._pools import PoolOfProcesses, PoolOptions
from harness.backends.base import (
    Backend,
    Batch,
    LocalCounter,
    SharedCounter,
    WorkerCrashed,
    executor_batch,
)
from harness.protocol import BackendDescription

#: Modules whose executors a spec may name without --import (and their submodules).
ALLOWED_BY_DEFAULT = ("concurrent.futures", "loky", "joblib.externals.loky")
DEFAULT_EXECUTOR = "concurrent.futures:ProcessPoolExecutor"
#: Seconds the start-up rendezvous waits for every worker before it gives up.
READY_TIMEOUT_S = 60.0


def rendezvous(folder: str, parties: int, timeout_s: float = READY_TIMEOUT_S) -> tuple[int, int]:
    """Readiness probe: check in, then wait until `parties` probes have checked in.

    A probe holds its worker until all have arrived, so `parties` probes can only finish on
    `parties` distinct workers: the barrier of the process pool backend, without needing a
    synchronisation object the executor would have to hand to its workers.
    """
    me = (os.getpid(), threading.get_ident())
    open(os.path.join(folder, f"{me[0]}-{me[1]}"), "x").close()  # noqa: SIM115
    deadline = time.monotonic() + timeout_s
    while (arrived := len(os.listdir(folder))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {arrived} of {parties} workers started in {timeout_s:g} s")
        time.sleep(0.001)
    return me


def _plugin_packages() -> set[str]:
    """Top-level packages of installed harness plugins: installing one is trusting it."""
    from importlib import metadata  # a scan of every distribution: only when asked

    found = set()
    for group in ("harness.backends", "harness.workloads"):
        for ep in metadata.entry_points(group=group):
            found.add(ep.value.split(":")[0].strip().split(".")[0])
    return found


def allowed(module: str, imports: Iterable[str]) -> bool:
    """May a spec name an executor of `module`? See the module docstring for the rule."""
    trusted = (*ALLOWED_BY_DEFAULT, *imports)
    if any(module == t or module.startswith(t + ".") for t in trusted):
        return True
    return module.split(".")[0] in _plugin_packages()


def executor_class(path: str, imports: Iterable[str] | None) -> type[Executor]:
    """The Executor subclass `path` ("module:Class") names; ValueError (one line) otherwise.

    `imports=None` skips the --import rule: the case process runs what its driver allowed.
    """
    try:
        ref = user_code.parse(path)
    except ValueError:
        raise ValueError(f"{path!r} is not module:Class, e.g. {DEFAULT_EXECUTOR}") from None
    if imports is not None and not allowed(ref.module, imports):
        top = ref.module.split(".")[0]
        raise ValueError(
            f"{path!r} is outside concurrent.futures and loky, and a spec alone never imports "
            f"other modules: add --import {top}"
        )
    cls = user_code.resolve(path, None)
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ValueError(f"{path!r} is not a concurrent.futures.Executor subclass")
    return cls


class ExecutorOptions(PoolOptions):
    #: "module:Class" of a concurrent.futures.Executor; built with max_workers=workers.
    executor: str = DEFAULT_EXECUTOR
    #: More constructor arguments, as a JSON object (TOML options hold no tables).
    kwargs: str = ""

    @field_validator("executor")
    @classmethod
    def _importable(cls, value: str, info: ValidationInfo) -> str:
        executor_class(value, (info.context or {}).get("imports"))
        return value

    @field_validator("kwargs")
    @classmethod
    def _json_object(cls, value: str) -> str:
        if value:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
            if not isinstance(parsed, dict) or "max_workers" in parsed:
                raise ValueError("a JSON object of constructor arguments, without max_workers")
        return value

    def constructor_kwargs(self) -> dict[str, Any]:
        return json.loads(self.kwargs) if self.kwargs else {}


class ExecutorBackend(PoolOfProcesses, Backend):
    """A pool behind the Executor interface; subclasses change only how it is built."""

    name = "executor"
    strategy = "Executor.map with chunking (the class named in backend_options)"
    # PoolOptions: a subclass that builds its own pool (loky) takes no executor option
    options_model: ClassVar[type[PoolOptions]] = ExecutorOptions
    options: ExecutorOptions
    color = "#bcbd22"
    display_order = 60
    #: Opt-in: which Executor to run is the spec's choice, so a spec naming no backends
    #: does not get a second ProcessPoolExecutor beside `processes`.
    default_member = False

    _pool: Executor | None = None
    _ready_dir: str | None = None

    def make_executor(self) -> Executor:
        """The executor with `workers` workers, not yet started."""
        # Executor itself takes no arguments: the class named must take max_workers (the doc)
        cls: Callable[..., Executor] = executor_class(self.options.executor, None)
        return cls(max_workers=self.workers, **self.options.constructor_kwargs())

    def shutdown(self, pool: Executor) -> None:
        """Wait for the workers to exit, dropping queued tasks where the class can."""
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except TypeError:  # an Executor from before Python 3.9's cancel_futures
            pool.shutdown(wait=True)

    def start(self) -> None:
        self._pool = self.make_executor()
        self._ready_dir = tempfile.mkdtemp(prefix="harness-ready-")  # mode 700
        probes = [
            self._pool.submit(rendezvous, self._ready_dir, self.workers)
            for _ in range(self.workers)
        ]
        try:
            self._workers = sorted({probe.result() for probe in probes})
        except BrokenExecutor as exc:
            raise WorkerCrashed(f"a worker died during start-up: {exc}") from exc
        finally:
            shutil.rmtree(self._ready_dir, ignore_errors=True)
        me = os.getpid()
        self._pids = sorted({pid for pid, _ in self._workers if pid != me})

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        assert self._pool is not None, "start() first"
        with _crashes_named():
            return executor_batch(self._pool, task, inputs)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        assert self._pool is not None, "start() first"
        with _crashes_named():
            return list(self._pool.map(task, inputs, chunksize=self._chunksize(len(inputs))))

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._pool is not None, "start() first"
        with _crashes_named():
            return self._pool.submit(fn, *args).result()

    def stop(self) -> None:
        if self._pool is not None:
            self.shutdown(self._pool)
            self._pool = None
        self._stop_manager()

    def worker_pids(self) -> list[int]:
        return list(getattr(self, "_pids", []))

    def worker_identities(self) -> dict[str, str] | None:
        """Worker processes alive now, by pid: a pid missing after a repeat is a worker that
        died (a pool that replaces it gets a new pid). Threads: None, they cannot be told."""
        if not self.worker_pids():
            return None
        return {
            str(pid): f"{self.name} worker (pid {pid})" for pid in self.worker_pids() if _alive(pid)
        }

    def counter(self, locked: bool) -> SharedCounter:
        if not self.worker_pids():  # threads of this process
            return LocalCounter(locked)
        return self._manager_counter(locked)

    def queue(self) -> Any:
        if not self.worker_pids():
            import queue

            return queue.Queue()
        return self._shared().Queue()

    def describe(self) -> BackendDescription:
        details: dict[str, Any] = {"executor": self.options.executor}
        if self.options.kwargs:
            details["kwargs"] = self.options.constructor_kwargs()
        # Executor.map itself submits every input alone and ignores chunksize (so does
        # ThreadPoolExecutor, which inherits it); process pools override it to send chunks.
        chunked = executor_class(self.options.executor, None).map is not Executor.map
        how = "map with chunking" if chunked else "map, one task per input"
        return BackendDescription(f"{self.options.executor}.{how}", details=details)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def _crashes_named() -> Iterator[None]:
    """A broken pool (a worker killed, out of memory) is the case's crash, not an error."""
    try:
        yield
    except BrokenExecutor as exc:
        raise WorkerCrashed(f"a worker died: {exc}") from exc
