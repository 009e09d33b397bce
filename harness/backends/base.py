"""The one small interface every backend implements.

A backend is handed a number of workers and its own options; it knows nothing of specs,
cases or reports. The runner calls `start`, then `run` for warm-ups and repeats, then
`stop`. Everything else the harness needs to know about an engine is a class attribute
here (the module to import before the memory baseline, packages to record, colour and
place in reports, the cluster address flag, the local cluster launcher), so adding an
engine is one module with one subclass plus one entry point in the group
`harness.backends` (see `harness.backends`).
"""

from __future__ import annotations

import functools
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from harness.graph import Graph, Ref, bound, pick
from harness.protocol import BackendDescription, MetricEvent

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


class _Launcher(Protocol):
    # `Backend.launch_cluster`'s type: a Callable in a ClassVar would be read as a method
    # whose first argument is the class, so a classmethod taking a LocalLaunch would not fit
    def __call__(self, launch: LocalLaunch) -> None: ...


class BackendOptions(BaseModel):
    """Options a backend accepts; unknown keys are errors.

    Schemas are built on first use (`defer_build`): a case process imports a module of
    several models and validates one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    #: How a batch becomes engine tasks. "idiom": the engine's own way (a process pool
    #: chunks, Dask and Ray submit one task per input); "per_task": one task per input
    #: everywhere; "grouped": the inputs cut into about four groups per worker, one task
    #: each. Sweeping it (`batching = ["per_task", "grouped"]`) compares like with like.
    batching: Literal["idiom", "per_task", "grouped"] = "idiom"
    #: Inputs per group with `batching = "grouped"`; 0: about four groups per worker.
    group_size: int = Field(default=0, ge=0)

    def group_of(self, n_tasks: int, workers: int) -> int:
        """Inputs per group of a grouped batch."""
        return self.group_size or chunksize_for(n_tasks, workers)


@dataclass
class Batch:
    """Outputs of one run of a batch of tasks, in input order.

    `arrival_s` holds, per task, the seconds from submitting the batch until the driver held
    that task's result: the submit-to-result latency the user of the engine would see.
    `t0` is that start on the driver's `time.perf_counter` clock (0.0: the backend did not
    say), and `submit_s` when each task was handed to the engine, in seconds since `t0`
    (None: the whole batch in one call at `t0`, as `client.map` or `pool.map` take it).
    """

    outputs: list[Any]
    arrival_s: list[float]
    t0: float = 0.0
    submit_s: list[float] | None = None


def executor_batch(pool: Any, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
    """One future per input on a `concurrent.futures.Executor`, collected as they finish:
    the outputs in input order and each one's arrival time since the batch was submitted."""
    from concurrent.futures import as_completed
    from time import perf_counter

    t0 = perf_counter()
    futures, submit = {}, []
    for i, item in enumerate(inputs):
        submit.append(perf_counter() - t0)
        futures[pool.submit(task, item)] = i
    outputs: list[Any] = [None] * len(inputs)
    arrival = [0.0] * len(inputs)
    for future in as_completed(futures):
        i = futures[future]
        outputs[i] = future.result()
        arrival[i] = perf_counter() - t0
    return Batch(outputs, arrival, t0, submit)


@dataclass
class GraphRun:
    """A graph's outputs (in `Graph.outputs` order), and the bytes that crossed the driver:
    the pickled size of every value it sent to a worker process or received from one
    (0 when workers are threads of the driver; None when not counted)."""

    outputs: list[Any]
    driver_bytes: int | None = None


def pickled_size(value: Any) -> int:
    """Bytes `value` takes pickled: what crosses a process boundary for it."""
    import pickle

    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class WorkerCrashed(RuntimeError):
    """A worker process died while running the case (killed, segfault, out of memory)."""


class Backend(ABC):
    name: ClassVar[str]
    #: How this backend runs a batch, recorded with every case so comparisons stay honest.
    strategy: ClassVar[str]
    #: How this backend runs a task graph (`run_graph`), recorded with graph cases.
    graph_strategy: ClassVar[str] = (
        "level by level through the driver: one map per level, each level's inputs sent from "
        "the driver; shared values by reference placed once where workers can read them"
    )
    options_model: ClassVar[type[BackendOptions]] = BackendOptions
    #: False for backends whose degree of parallelism is fixed (sequential).
    scalable: ClassVar[bool] = True
    #: "sync" backends run a workload's `task`; "async" ones its coroutine `async_task`.
    #: A spec that names no backends runs every registered "sync" backend.
    task_kind: ClassVar[str] = "sync"
    #: False keeps a backend out of the default set (a spec naming no backends): for
    #: adapters whose engine the spec must choose, such as `executor`.
    default_member: ClassVar[bool] = True

    #: Module the case process imports before it takes the memory baseline, so the baseline
    #: is "driver with the engine imported" and start-up memory is the workers, not code.
    #: Import the engine itself lazily (in `start`): `harness list` imports every class.
    engine_module: ClassVar[str | None] = None
    #: Distributions whose versions every run records; on a cluster, each node's must match
    #: the driver's, else the run carries a warning.
    packages: ClassVar[tuple[str, ...]] = ()
    #: Colour of this backend in every figure (None: a spare colour picked by name).
    color: ClassVar[str | None] = None
    #: Place in tables and legends, lower first; equal places sort by name.
    display_order: ClassVar[int] = 100
    #: Speedups and efficiencies are measured against the backend that declares itself the
    #: baseline: one task after another in the driver, no engine (`sequential`).
    baseline: ClassVar[bool] = False

    #: The command-line flag that runs this backend's cases on an existing cluster, e.g.
    #: "--dask-address"; its value becomes the option `address`. None: this machine only.
    address_flag: ClassVar[str | None] = None
    #: The scheme addresses are written with ("tcp://"), for messages; "" takes any.
    address_scheme: ClassVar[str] = ""
    #: The flag's help text.
    address_help: ClassVar[str] = "HOST:PORT of an existing cluster"
    #: What a cluster's size counts, in messages: "workers", "CPUs".
    cluster_unit: ClassVar[str] = "workers"
    #: Starts a local multi-process cluster for `harness cluster up NAME` (a classmethod
    #: taking a `harness.backends.launch.LocalLaunch`); None: this backend has no launcher.
    launch_cluster: ClassVar[_Launcher | None] = None
    #: What a launched cluster bound to a non-loopback address exposes to anyone who can
    #: reach it: the warning `harness cluster up --allow-remote` prints.
    exposure: ClassVar[str] = "anyone who can connect can send it work to run"
    #: Whether `launch_cluster` can secure its cluster with TLS (`cluster up --tls`), and
    #: what such a cluster then exposes (the warning instead of `exposure`).
    launch_tls: ClassVar[bool] = False
    tls_exposure: ClassVar[str] = ""
    #: The option that points a case at a local engine the runner keeps warm (its
    #: `launch_cluster` on loopback, `workers` in size) while a budget buys processes: the
    #: case connects as a fresh driver and gets fresh workers, so its process costs no
    #: engine start. None: every process starts its own engine.
    warm_option: ClassVar[str | None] = None

    @property
    def warm(self) -> bool:
        """Whether this case joined a warm engine: its start and stop are a connection's,
        not the engine's, and are not reported as start-up or teardown."""
        return bool(self.warm_option and getattr(self.options, self.warm_option, ""))

    def outside_pids(self) -> list[int]:
        """Worker processes on this host that are not descendants of the driver (a warm
        engine's): their CPU counts as the case's."""
        return []

    def __init__(self, workers: int, options: BackendOptions | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.options = options if options is not None else self.options_model()

    @classmethod
    def check_address(cls, address: str) -> str:
        """The address if it is HOST:PORT (with `address_scheme`), else ValueError."""
        scheme = cls.address_scheme
        rest = address.removeprefix(scheme) if scheme else address.split("://")[-1]
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected {scheme}HOST:PORT, got {address!r}")
        return address

    @classmethod
    def cluster_size(cls, address: str, timeout_s: float) -> int:
        """How many workers the cluster at `address` offers (counted in `cluster_unit`).

        Called before any case runs, once the address answers TCP; raises
        `harness.backends.launch.ClusterError` with one line when it is no such cluster. Backends
        with an `address_flag` implement it.
        """
        raise NotImplementedError(f"the {cls.name} backend cannot run on a cluster")

    @classmethod
    def cluster_nodes(cls, address: str, timeout_s: float) -> dict[str, int]:
        """The workers (in `cluster_unit`) of each node of the cluster at `address`, for a
        node sweep (`--nodes`): backends that implement it also take an option `nodes`, the
        number of nodes to spread a case's workers over, `workers / nodes` on each."""
        raise NotImplementedError(f"the {cls.name} backend cannot place workers by node")

    @abstractmethod
    def start(self) -> None:
        """Start the engine and return only once every worker has finished a trivial task."""

    @abstractmethod
    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        """Run `task` on every input, noting when each result reached the driver."""

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        """Run `task` on every input the engine's idiomatic fastest way, outputs in order.

        Throughput repeats use this path, free of per-task timestamps, so the harness
        measures what a hand-written loop would get; override it where the engine has a
        faster bulk call than `run`.
        """
        return self.run(task, inputs).outputs

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` as one task alone and wait for its result.

        One task in flight, submitted the engine's ordinary way (`executor.submit().result()`,
        `client.submit().result()`, `ray.get(f.remote())`): the round trip the latency pass
        times. This fallback runs a batch of one; engines override it with their own call.
        """
        *first, last = args
        return self.map(functools.partial(fn, *first), [last])[0]

    def run_graph(self, graph: Graph, count_bytes: bool = False) -> GraphRun:
        """Run a task graph (`harness.graph`); `count_bytes` also counts `driver_bytes`.

        This is the pool user's way: level by level through the driver, one `map` per level,
        each level's inputs the outputs earlier levels returned to the driver. Engines with
        futures (Dask, Ray) override it to let data stay on the workers."""
        from harness.tasks import apply_call

        crosses = count_bytes and self.moves_data()
        handles = self._placed(graph)
        values: dict[int, Any] = {}

        def made(ref: Ref) -> Any:
            return pick(values[ref.key], ref.index)

        # Placing a shared value once (shared memory) moves its bytes once, as ray.put does.
        moved = 0
        if crosses and graph.by_reference:
            moved = sum(map(pickled_size, graph.shared_values().values()))
        try:
            for level in graph.levels():
                calls = [(n.fn, tuple(bound(a, made, handles) for a in n.args)) for n in level]
                outputs = self.map(apply_call, calls)
                if crosses:
                    moved += sum(map(pickled_size, calls)) + sum(map(pickled_size, outputs))
                values.update((n.key, out) for n, out in zip(level, outputs, strict=True))
        finally:
            self.unshare(list(handles.values()))
        result = [made(r) for r in graph.outputs]
        return GraphRun(result, moved if count_bytes else None)

    def _placed(self, graph: Graph) -> dict[str, Any]:
        """The graph's shared values as its tasks receive them: each placed once through
        `share` when the graph passes them by reference, else the values themselves."""
        shared = graph.shared_values()
        if not graph.by_reference:
            return shared
        placed: dict[str, Any] = {}
        try:
            for key, value in shared.items():
                placed[key] = self.share(value)
        except BaseException:
            self.unshare(list(placed.values()))
            raise
        return placed

    def share(self, value: Any) -> Any:
        """Place `value` once where every worker can read it; tasks receive what this returns.

        Workers that are threads of the driver already share it: the object itself."""
        return value

    def unshare(self, handles: list[Any]) -> None:
        """Release what `share` placed, once the graph has run."""
        return None

    def moves_data(self) -> bool:
        """Whether a task's arguments and results cross a process boundary."""
        return bool(self.worker_pids()) or self.remote

    @abstractmethod
    def stop(self) -> None:
        """Stop everything `start` started; safe to call twice."""

    def counter(self, locked: bool) -> SharedCounter:
        """A counter that tasks of this backend can all increment, shared its own way.

        `locked=False` is a bare read-modify-write (updates may be lost, which is what the
        shared-state scenario counts); `locked=True` uses the engine's own lock or
        serialising owner. Resources it needs live until `stop`.
        """
        raise NotImplementedError(f"the {self.name} backend has no shared counter")

    def queue(self) -> Any:
        """An unbounded FIFO queue (`put`, `get`) that tasks of this backend can share."""
        raise NotImplementedError(f"the {self.name} backend has no shared queue")

    def lock(self) -> AbstractContextManager[Any]:
        """A mutual-exclusion lock that tasks of this backend can all hold, one at a time
        (`with lock:` inside a task), the engine's own kind: a `threading.Lock` in-process,
        a multiprocessing Manager `Lock` for a pool of processes, a `distributed.Lock`, a
        Ray actor. Resources it needs live until `stop`."""
        raise NotImplementedError(f"the {self.name} backend has no shared lock")

    def worker_pids(self) -> list[int]:
        """Process ids of the workers on this host (empty for in-process workers)."""
        return []

    def worker_identities(self) -> dict[str, str] | None:
        """The case's workers as `{identity: description}`, where an identity changes when a
        worker dies or is restarted (a PID, a Dask worker's address and PID). The case
        process compares them before and after each repeat; None: this backend cannot tell
        (in-process workers, or a cluster it cannot see into)."""
        return None

    def service_pids(self) -> list[int]:
        """Process ids of the engine's own services on this host (raylet, gcs, trackers).

        Every process the driver started that is not a worker: what `engine_cpu_util` counts.
        Services that live inside the driver (a LocalCluster's Dask scheduler and nannies)
        have no pid of their own. Empty on a remote cluster, whose services are elsewhere.
        """
        if self.remote:
            return []
        from harness.measure.proctree import services_beside

        return services_beside(self.worker_pids())

    def describe(self) -> BackendDescription:
        """What the engine is, as run: versions, addresses, nodes."""
        return BackendDescription(self.strategy)

    @property
    def remote(self) -> bool:
        """True when the workers belong to an existing cluster reached by address."""
        return False

    def start_node_sampling(self, interval_s: float = 0.1, max_s: float = 600.0) -> None:
        """Start sampling memory and CPU on every node of a remote cluster (no-op locally),
        for at most `max_s` seconds (the case's timeout)."""
        return None

    def node_metrics(self) -> list[MetricEvent]:
        """Per-node metrics since `start_node_sampling`, each naming its node."""
        return []

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def chunksize_for(n_tasks: int, workers: int) -> int:
    """multiprocessing.Pool.map's own heuristic: about four chunks per worker."""
    chunks, extra = divmod(n_tasks, workers * 4)
    return max(1, chunks + (1 if extra else 0))


class SharedCounter(ABC):
    """A counter handle that is shipped to tasks; `increment` runs where the task runs."""

    @abstractmethod
    def increment(self) -> None: ...

    @abstractmethod
    def value(self) -> int: ...


class LocalCounter(SharedCounter):
    """For in-process backends: a plain attribute, like the article's global `counter`.

    Unlocked, `self.n += 1` is the article's racy read-modify-write; locked, it runs under
    a `threading.Lock` as in the article's fix.
    """

    def __init__(self, locked: bool) -> None:
        self.n = 0
        self._lock = threading.Lock() if locked else None

    def increment(self) -> None:
        if self._lock is None:
            self.n += 1
        else:
            with self._lock:
                self.n += 1

    def value(self) -> int:
        return self.n


class InProcessSharing:
    """Mixin for backends whose tasks run in the driver process: memory is simply shared."""

    def counter(self, locked: bool) -> SharedCounter:
        return LocalCounter(locked)

    def queue(self) -> Any:
        return queue.Queue()

    def lock(self) -> AbstractContextManager[Any]:
        return threading.Lock()
