"""Dask distributed: a LocalCluster of worker processes, or an existing cluster by address.

With an address the harness only connects a client: it never starts or stops the cluster.
It ships its own package to the workers (a zip through a worker plugin, so workers need only
Dask and pydantic), uses `workers` of the cluster's workers spread over its hosts, records
every node, and samples memory and CPU on each node while the case runs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, BackendOptions, Batch, SharedCounter, WorkerCrashed
from harness.protocol import BackendDescription, MetricEvent
from harness.tasks import identity


class DaskOptions(BackendOptions):
    #: tcp://host:port of an existing scheduler; empty starts a LocalCluster on 127.0.0.1.
    address: str = ""
    threads_per_worker: int = 1
    dashboard: bool = False
    connect_timeout_s: float = 10.0


class ClusterTooSmall(RuntimeError):
    """The cluster at the address has fewer workers than the case asks for."""


class DaskBackend(Backend):
    name = "dask"
    strategy = "client.map(pure=False) then client.gather"
    options_model = DaskOptions
    options: DaskOptions

    _cluster: Any = None
    _client: Any = None
    _sampling: dict[str, str] | None = None

    @property
    def remote(self) -> bool:
        return bool(self.options.address)

    def start(self) -> None:
        from distributed import Client, LocalCluster

        if self.remote:
            self._client = Client(
                self.options.address, timeout=self.options.connect_timeout_s, set_as_default=False
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
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=self.options.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0" if self.options.dashboard else None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster, set_as_default=False)
            self._client.wait_for_workers(self.workers, timeout=120)
        self._workers_info = self._client.scheduler_info()["workers"]
        addresses = spread_over_hosts(
            {a: w["host"] for a, w in self._workers_info.items()}, self.workers
        )
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
        subset = len(addresses) < len(self._workers_info)
        self._restrict = addresses if self.remote and subset else None
        self._task_names: set[str] = set()

    def _ship_code(self) -> None:
        """Make `harness` importable on every worker, present and future, without installing it."""
        from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

        from harness.backends._ship import package_zip

        zipped = str(package_zip())
        # The scheduler unpickles task graphs too, so it needs the package as well. Fixed
        # plugin names replace the previous upload instead of piling up one per case.
        self._client.register_plugin(SchedulerUploadFile(zipped, load=True), name="harness-code")
        self._client.register_plugin(UploadFile(zipped, load=True), name="harness-code")

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
        return Batch(outputs, arrival)

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

    def stop(self) -> None:
        if self._client is not None:
            if self._sampling:  # a case that failed mid-way: stop the remote samplers
                try:
                    self._stop_samplers()
                except Exception:  # noqa: BLE001 - the cluster may be gone; stopping goes on
                    pass
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def worker_pids(self) -> list[int]:
        if self._client is None or self.remote:
            return []
        import os

        return sorted(self._client.run(os.getpid, workers=self._addresses).values())

    def describe(self) -> BackendDescription:
        import distributed

        info = BackendDescription(self.strategy, details={"distributed": distributed.__version__})
        if self._client is None:
            return info
        info.details["scheduler"] = self._client.scheduler.address
        info.remote = self.remote
        if self.remote:
            from harness.measure.nodes import node_facts, version_warnings

            nodes = self._nodes()
            info.details["nodes"] = nodes
            info.nodes_used = ",".join(n["address"] for n in nodes if n["workers"])
            info.warnings = version_warnings(node_facts(), nodes)
        return info

    def _nodes(self) -> list[dict[str, Any]]:
        """Every host of the cluster: its facts (from one of its workers) and worker counts."""
        from harness.measure.nodes import node_facts

        facts = self._client.run(node_facts, workers=list(self._workers_info))
        by_host: dict[str, list[str]] = defaultdict(list)
        for addr, w in self._workers_info.items():
            by_host[w["host"]].append(addr)
        used = Counter(self._workers_info[a]["host"] for a in self._addresses)
        nodes = []
        for host in sorted(by_host):
            first = facts[sorted(by_host[host])[0]]
            nodes.append(
                {
                    "address": host,
                    **{k: v for k, v in first.items() if k != "pid"},
                    "cluster_workers": len(by_host[host]),
                    "workers": used.get(host, 0),
                    "worker_pids": sorted(facts[a]["pid"] for a in by_host[host] if a in facts),
                }
            )
        self._worker_pid = {a: f["pid"] for a, f in facts.items()}
        return nodes

    def start_node_sampling(self, interval_s: float = 0.1) -> None:
        """One sampler per host, in one of the case's workers, over the case's workers there."""
        if not self.remote or self._client is None:
            return
        from harness.measure.nodes import start_sampling

        if not hasattr(self, "_worker_pid"):
            self._nodes()
        token = uuid.uuid4().hex
        per_host: dict[str, list[str]] = defaultdict(list)
        for addr in self._addresses:
            per_host[self._workers_info[addr]["host"]].append(addr)
        self._sampling = {"token": token}
        self._sampler_at: dict[str, str] = {}
        for host, addrs in per_host.items():
            pids = [self._worker_pid[a] for a in addrs]
            self._client.run(start_sampling, token, pids, interval_s, workers=[addrs[0]])
            self._sampler_at[host] = addrs[0]
        self._stream_start = self._client.sync(self._client.scheduler.get_task_stream_index)

    def _stop_samplers(self) -> dict[str, dict[str, float]]:
        from harness.measure.nodes import stop_sampling

        token = self._sampling["token"] if self._sampling else ""
        self._sampling = None
        out = {}
        for host, addr in self._sampler_at.items():
            out[host] = self._client.run(stop_sampling, token, workers=[addr])[addr]
        return out

    def node_metrics(self) -> list[MetricEvent]:
        if not self._sampling or self._client is None:
            return []
        stream = self._client.sync(
            self._client.scheduler.get_task_stream, start_index=self._stream_start
        )
        samples = self._stop_samplers()
        host_of = {a: w["host"] for a, w in self._workers_info.items()}
        tasks = Counter(
            host_of.get(t.get("worker"), "")
            for t in stream
            if str(t.get("key", "")).split("-")[0] in self._task_names
        )
        used = Counter(host_of[a] for a in self._addresses)
        rows = []
        for host, s in sorted(samples.items()):
            rows.append(_metric("node_peak_rss_bytes", s["peak_rss_bytes"], "B", host))
            cpu = s["cpu_s"] / (s["wall_s"] * used[host]) if s["wall_s"] > 0 else float("nan")
            rows.append(_metric("node_cpu_util", cpu, "ratio", host))
            rows.append(_metric("node_tasks", tasks.get(host, 0), "count", host))
        return rows


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


def _metric(metric: str, value: float, unit: str, node: str) -> MetricEvent:
    return MetricEvent(metric, float(value), unit, None, node)


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
