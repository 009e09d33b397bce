"""Dask distributed: a LocalCluster of worker processes, or an existing cluster by address.

With an address the harness only connects a client: it never starts or stops the cluster.
It ships its own package to the workers (a zip through a worker plugin, so workers need only
Dask and pydantic), uses `workers` of the cluster's workers spread over its hosts, records
every node, and samples memory and CPU on each node while the case runs (`_dask_nodes`).
`launch_cluster` starts `dask scheduler` + `dask worker` for `harness cluster up dask`,
with `--tls` over mutual TLS; a `tls://` address finds its certificates in Dask's config or
in the state of the cluster `harness cluster up` started there (both in `_dask_cluster`).
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.backends import _dask_cluster
from harness.backends._dask_cluster import TLS_SCHEME, security_for
from harness.backends._dask_cluster import (  # where callers have always found it
    write_certificates as write_certificates,
)
from harness.backends._dask_nodes import DaskNodes
from harness.backends.base import (
    Backend,
    BackendOptions,
    Batch,
    GraphRun,
    SharedCounter,
    WorkerCrashed,
    pickled_size,
)
from harness.graph import Graph, Ref, bound
from harness.protocol import BackendDescription
from harness.tasks import apply_node, identity, pick

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


class DaskOptions(BackendOptions):
    #: tcp://host:port of an existing scheduler; empty starts a LocalCluster on 127.0.0.1.
    address: str = ""
    threads_per_worker: int = 1
    dashboard: bool = False
    connect_timeout_s: float = 10.0
    #: On a cluster by address: spread the case's workers over exactly this many hosts,
    #: `workers / nodes` on each (a node sweep, `--nodes`); 0 spreads them round-robin
    #: over every host. Set by the runner, not by specs.
    nodes: int = Field(default=0, ge=0)


def _is_future(arg: Any) -> bool:
    return type(arg).__name__ == "Future"


class ClusterTooSmall(RuntimeError):
    """The cluster at the address has fewer workers than the case asks for."""


class DaskBackend(DaskNodes, Backend):
    name = "dask"
    strategy = "client.map(pure=False) then client.gather"
    graph_strategy = (
        "futures passed to client.submit: workers fetch their inputs from each other; "
        "shared values scattered to every worker (broadcast=True)"
    )
    options_model = DaskOptions
    options: DaskOptions
    engine_module = "distributed"
    packages = ("dask", "distributed")
    color = "#ff7f0e"
    display_order = 40
    address_flag = "--dask-address"
    address_scheme = "tcp://"
    address_help = "tcp://host:port (or tls://host:port) of an existing Dask scheduler"
    cluster_unit = "workers"
    launch_tls = True
    exposure = (
        "no TLS, no authentication: anyone who can connect can make the scheduler and "
        "workers run the pickled code they send (--tls requires a certificate)"
    )
    tls_exposure = (
        "mutual TLS: only holders of the certificate and key in the cluster's private folder "
        "can connect, and they can make the scheduler and workers run any pickled code"
    )

    _cluster: Any = None
    _client: Any = None
    _scratch = ""

    def __init__(self, workers: int, options: BackendOptions | None = None) -> None:
        super().__init__(workers, options)
        #: ("worker" | "scheduler", name) of each plugin registered, to remove at `stop`.
        self._plugins: list[tuple[str, str]] = []

    @property
    def remote(self) -> bool:
        return bool(self.options.address)

    @classmethod
    def check_address(cls, address: str) -> str:
        """tcp://HOST:PORT or tls://HOST:PORT (a scheduler that requires TLS)."""
        tls = address.startswith(TLS_SCHEME)
        try:
            super().check_address("tcp://" + address.removeprefix(TLS_SCHEME) if tls else address)
        except ValueError:
            raise ValueError(
                f"expected tcp://HOST:PORT or tls://HOST:PORT, got {address!r}"
            ) from None
        return address

    def start(self) -> None:
        from distributed import Client, LocalCluster

        if self.remote:
            self._client = Client(
                self.options.address,
                timeout=self.options.connect_timeout_s,
                set_as_default=False,
                security=security_for(self.options.address),
            )
            self._ship_code()
            try:
                self._client.wait_for_workers(self.workers, timeout=self.options.connect_timeout_s)
            except TimeoutError:
                have = len(self._client.scheduler_info()["workers"])
                raise ClusterTooSmall(
                    f"the Dask cluster at {self.options.address} has {have} workers, "
                    f"the case asks for {self.workers}"
                ) from None
        else:
            import dask

            # A task whose worker dies is not quietly re-run elsewhere: the case is crashed.
            dask.config.set({"distributed.scheduler.allowed-failures": 0})
            # Workers keep their files (uploads, spill) in a folder of this user's, mode 700,
            # not in the shared `<tmp>/dask-scratch-space` another user could have made.
            self._scratch = tempfile.mkdtemp(prefix="harness-dask-")
            self._cluster = LocalCluster(
                local_directory=self._scratch,
                n_workers=self.workers,
                threads_per_worker=self.options.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0" if self.options.dashboard else None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster, set_as_default=False)
            self._client.wait_for_workers(self.workers, timeout=120)
        self._ship_user_code()
        self._workers_info = self._client.scheduler_info(n_workers=-1)["workers"]
        host_of = {a: w["host"] for a, w in self._workers_info.items()}
        if self.options.nodes:
            addresses = on_hosts(host_of, self.options.nodes, self.workers // self.options.nodes)
            if len(addresses) < self.workers:
                raise ClusterTooSmall(
                    f"the Dask cluster at {self.options.address} has fewer than "
                    f"{self.options.nodes} hosts with {self.workers // self.options.nodes} "
                    "workers each"
                )
        else:
            addresses = spread_over_hosts(host_of, self.workers)
        # One trivial task pinned to each worker: ready means it has run one.
        probes = [
            self._client.submit(
                identity, addr, workers=[addr], allow_other_workers=False, pure=False
            )
            for addr in addresses
        ]
        self._client.gather(probes)
        self._addresses = addresses
        # Restrict tasks to our workers only on a shared cluster: restrictions bypass the
        # scheduler's queuing (worker-saturation), which changes what is measured (3x on
        # tiny tasks here), and users of a LocalCluster do not write them.
        # Using all of a cluster's workers needs no restriction either.
        # A node sweep restricts at every node count, all of the cluster's too, so that
        # its levels differ in the nodes alone.
        subset = len(addresses) < len(self._workers_info) or bool(self.options.nodes)
        self._restrict = addresses if self.remote and subset else None
        self._task_names: set[str] = set()

    def _ship_code(self) -> None:
        """Make `harness` importable on every worker, present and future, without installing it."""
        from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

        from harness.backends._ship import package_zip

        zipped = str(package_zip())
        # The scheduler unpickles task graphs too, so it needs the package as well. Fixed
        # plugin names replace the previous upload instead of piling up one per case.
        self._plugins.append(("scheduler", "harness-code"))
        self._client.register_plugin(SchedulerUploadFile(zipped, load=True), name="harness-code")
        self._plugins.append(("worker", "harness-code"))
        self._client.register_plugin(UploadFile(zipped, load=True), name="harness-code")

    def _ship_user_code(self) -> None:
        """The user's own modules to the scheduler and every worker (local ones too: their
        sys.path may differ)."""
        from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

        from harness.backends._ship import user_code_zip

        zipped = user_code_zip()
        if zipped is not None:
            if self.remote:
                # The scheduler unpickles the task graph, which names the user's function: a
                # scheduler started elsewhere (`harness cluster up`, a real cluster) needs it
                # too. A LocalCluster's runs in this process, which imports it already (and
                # loading the copy here would replace the module the case checks with).
                self._plugins.append(("scheduler", "harness-user"))
                self._client.register_plugin(
                    SchedulerUploadFile(str(zipped), load=True), name="harness-user"
                )
            self._plugins.append(("worker", "harness-user"))
            self._client.register_plugin(UploadFile(str(zipped), load=True), name="harness-user")

    def _remove_plugins(self) -> None:
        """Unregister the upload plugins this case registered, so a cluster the harness did
        not start keeps none of them (the files already uploaded stay in each worker's
        folder). Best effort: a cluster that is gone has nothing left to remove."""
        plugins, self._plugins = self._plugins, []
        for kind, name in reversed(plugins):
            try:
                if kind == "scheduler":
                    self._client.unregister_scheduler_plugin(name)
                else:
                    self._client.unregister_worker_plugin(name)
            except Exception:  # noqa: BLE001 - not registered after all, or no cluster left
                pass

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self._client
        self._task_names.add(getattr(task, "__name__", ""))
        t0 = time.perf_counter()
        # pure=False: equal inputs must not be deduplicated into one computation.
        futures = client.map(task, inputs, pure=False, workers=self._restrict)
        index = {future.key: i for i, future in enumerate(futures)}
        outputs: list[Any] = [None] * len(inputs)
        arrival = [0.0] * len(inputs)
        try:
            for future, output in as_completed(futures, with_results=True, loop=client.loop):
                i = index[future.key]
                outputs[i] = output
                arrival[i] = time.perf_counter() - t0
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc
        finally:
            del futures
        return Batch(outputs, arrival, t0)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        from distributed.scheduler import KilledWorker

        self._task_names.add(getattr(task, "__name__", ""))
        futures = self._client.map(task, inputs, pure=False, workers=self._restrict)
        try:
            return self._client.gather(futures)
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        from distributed.scheduler import KilledWorker

        self._task_names.add(getattr(fn, "__name__", ""))
        future = self._client.submit(fn, *args, pure=False, workers=self._restrict)
        try:
            return future.result()
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc

    def run_graph(self, graph: Graph, count_bytes: bool = False) -> GraphRun:
        """Futures passed to `client.submit`: a node's inputs go from the worker that made
        them to the one that needs them, never through the driver. Shared values by
        reference are scattered to every worker once (`broadcast=True`). With barriers, each
        level is waited for before the next is submitted."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self._client
        self._task_names.update({"apply_node", "pick"})
        placed: dict[str, Any] = {}
        moved = 0
        if graph.by_reference:
            for key, value in graph.shared_values().items():
                placed[key] = client.scatter(value, broadcast=True, hash=False)
                moved += pickled_size(value) if count_bytes else 0
        futures: dict[tuple[int, int | None], Any] = {}

        def made(ref: Ref) -> Any:
            return futures[(ref.key, ref.index)]

        submit = functools.partial(client.submit, pure=False, workers=self._restrict)
        try:
            for level in graph.levels() if graph.barriers else [graph.nodes]:
                for node in level:
                    args = [bound(a, made, placed) for a in node.args]
                    if count_bytes:
                        moved += pickled_size([a for a in args if not _is_future(a)])
                    futures[(node.key, None)] = submit(apply_node, node.fn, *args)
                    for i in range(node.returns if node.returns > 1 else 0):
                        futures[(node.key, i)] = submit(pick, futures[(node.key, None)], i)
                if graph.barriers:  # every future of the level done; its data stays put
                    level_futures = [futures[(n.key, None)] for n in level]
                    for _ in as_completed(level_futures, loop=client.loop):
                        pass
            outputs = client.gather([futures[(r.key, r.index)] for r in graph.outputs])
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc
        finally:  # the futures go, so the cluster may release what they hold
            futures.clear()
            placed.clear()
        moved += sum(map(pickled_size, outputs)) if count_bytes else 0
        return GraphRun(list(outputs), moved if count_bytes else None)

    def counter(self, locked: bool) -> SharedCounter:
        import uuid

        from distributed import Variable

        name = f"harness-counter-{uuid.uuid4().hex}"
        Variable(name, client=self._client).set(0)
        return DaskCounter(name, locked, self._client)

    def queue(self) -> Any:
        """A `distributed.Queue`: items travel through the scheduler."""
        from distributed import Queue

        return Queue(client=self._client)

    def lock(self) -> DaskLock:
        """A `distributed.Lock`: a semaphore of one lease on the scheduler, taken by name."""
        import uuid

        return DaskLock(f"harness-lock-{uuid.uuid4().hex}")

    def stop(self) -> None:
        if self._client is not None:
            self.abandon_node_sampling()
            self._remove_plugins()
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = ""

    def worker_pids(self) -> list[int]:
        if self._client is None or self.remote:
            return []
        import os

        return sorted(self._client.run(os.getpid, workers=self._addresses).values())

    def worker_identities(self) -> dict[str, str] | None:
        """Each of the case's workers by address and PID: a restarted worker (the nanny
        restarts a killed one) comes back with another address and PID."""
        if self._client is None:
            return None
        info = self._client.scheduler_info(n_workers=-1)["workers"]
        return {
            f"{a} pid {w.get('pid')}": f"Dask worker {w.get('name')} ({a}, pid {w.get('pid')})"
            for a, w in info.items()
            if a in self._addresses
        }

    def describe(self) -> BackendDescription:
        import distributed

        info = BackendDescription(self.strategy, details={"distributed": distributed.__version__})
        if self._client is None:
            return info
        info.details["scheduler"] = self._client.scheduler.address
        return self.describe_nodes(info) if self.remote else info

    # ---- clusters: counting an existing one, launching a local one (`_dask_cluster`)

    @classmethod
    def cluster_size(cls, address: str, timeout_s: float) -> int:
        """The scheduler's workers, asked over one comm (a Client would linger on failure)."""
        return _dask_cluster.cluster_size(address, timeout_s)

    @classmethod
    def cluster_nodes(cls, address: str, timeout_s: float) -> dict[str, int]:
        """The scheduler's workers per host."""
        return _dask_cluster.cluster_nodes(address, timeout_s)

    @classmethod
    def launch_cluster(cls, launch: LocalLaunch) -> None:
        """`dask scheduler` and `dask worker --nworkers N --nthreads 1`, dashboards off;
        with `launch.tls`, every connection mutual TLS with certificates made for it."""
        _dask_cluster.launch_cluster(launch)


def spread_over_hosts(host_of: dict[str, str], n: int) -> list[str]:
    """`n` worker addresses taken round-robin over hosts, so two workers use two hosts."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for addr in sorted(host_of):
        by_host[host_of[addr]].append(addr)
    queues = [by_host[h] for h in sorted(by_host)]
    chosen: list[str] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return chosen


def on_hosts(host_of: dict[str, str], nodes: int, per_host: int) -> list[str]:
    """`per_host` worker addresses on each of the first `nodes` hosts (by address) that have
    that many: a node sweep's workers. Fewer when fewer hosts have them."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for addr in sorted(host_of):
        by_host[host_of[addr]].append(addr)
    able = [h for h in sorted(by_host) if len(by_host[h]) >= per_host][:nodes]
    return [addr for host in able for addr in by_host[host][:per_host]]


class DaskCounter(SharedCounter):
    """A `distributed.Variable` on the scheduler: unlocked, `get` then `set` from each task
    (two scheduler round trips another task can slip between); locked, under a
    `distributed.Lock` of the same name."""

    def __init__(self, name: str, locked: bool, client: Any = None) -> None:
        self.name, self.locked, self._client = name, locked, client
        self._var: Any = None
        self._lock: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return DaskCounter, (self.name, self.locked)

    def increment(self) -> None:
        from distributed import Lock, Variable

        if self._var is None:
            self._var = Variable(self.name, client=self._client)
            self._lock = Lock(f"{self.name}-lock") if self.locked else None
        if self._lock is None:
            self._var.set(self._var.get() + 1)
        else:
            with self._lock:
                self._var.set(self._var.get() + 1)

    def value(self) -> int:
        from distributed import Variable

        return int(Variable(self.name, client=self._client).get())


class DaskLock:
    """A `distributed.Lock` by name, made where a task first holds it: the driver's client is
    not the default one (`set_as_default=False`), so a Lock made in the driver would find no
    scheduler, and one unpickled in a worker finds its worker's. One Lock per name and
    process: each would otherwise start its own lease-refresh callback."""

    _made: dict[str, Any] = {}

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return DaskLock, (self.name,)

    def _lock(self) -> Any:
        if self.name not in DaskLock._made:
            from distributed import Lock

            DaskLock._made[self.name] = Lock(self.name)
        return DaskLock._made[self.name]

    def __enter__(self) -> DaskLock:
        self._lock().acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock().release()
