"""Ray: a local Ray started with `ray.init`, or an existing cluster by address.

With an address the harness connects a driver (`ray.init(address=...)` must run on a node
of the cluster, usually the head, or use a `ray://` client address) and never starts or
stops the cluster. The harness package travels as a `runtime_env` py_module, so nodes need
only Ray and pydantic. `workers` CPUs are reserved in a SPREAD placement group, so a case
uses exactly that many of the cluster's CPUs, spread over its nodes; one zero-CPU probe
actor per node records what the node is and samples its memory and CPU (`_ray_nodes`).
`launch_cluster` runs `ray start --head --block` for `harness cluster up ray`; that launch,
counting a cluster's CPUs, the auth token and keeping Ray on 127.0.0.1 are in `_ray_cluster`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from harness.backends import _ray_cluster
from harness.backends._ray_cluster import LOOPBACK_SWITCH as LOOPBACK_SWITCH  # as before
from harness.backends._ray_cluster import ensure_auth_token as ensure_auth_token  # as before
from harness.backends._ray_cluster import ray_node_on_loopback, use_token_auth_if_available
from harness.backends._ray_nodes import RayNodes
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
from harness.tasks import apply_node, ray_where_after

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


#: Ray's setting for its workers' niceness (its default: 15), read from the environment.
WORKER_NICENESS = "RAY_worker_niceness"


class RayOptions(BackendOptions):
    #: host:port of an existing cluster; empty starts a local Ray bound to 127.0.0.1.
    address: str = ""
    dashboard: bool = False
    #: Poll interval while collecting results as they arrive.
    poll_s: float = 0.002
    #: How long to wait for the cluster to grant the CPUs a case asks for.
    connect_timeout_s: float = 60.0
    #: Seconds from the start of `start` (ray.init included) until every requested worker
    #: has run a task; falling short is an error, never a case run on fewer workers.
    startup_timeout_s: float = 120.0
    #: A local Ray the runner keeps warm for a budget's processes (host:port on loopback,
    #: exactly `workers` CPUs): this driver joins it as a new job, whose workers are new
    #: processes. Set by the runner, not by specs.
    warm_address: str = ""
    #: On a cluster by address: reserve the case's CPUs on exactly this many nodes,
    #: `workers / nodes` on each (a node sweep, `--nodes`); 0 spreads them over any.
    #: Set by the runner, not by specs.
    nodes: int = Field(default=0, ge=0)

    @field_validator("warm_address")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        from harness.backends.launch import address_is_loopback

        if value and not address_is_loopback(value):
            raise ValueError("warm_address: only a Ray on this host's loopback")
        return value


class RayBackend(RayNodes, Backend):
    name = "ray"
    strategy = "remote tasks, one ray.get on the list"
    graph_strategy = (
        "object refs passed to .remote: inputs move through the object store between "
        "workers; shared values put once (ray.put)"
    )
    options_model = RayOptions
    options: RayOptions
    engine_module = "ray"
    packages = ("ray",)
    color = "#2ca02c"
    display_order = 50
    address_flag = "--ray-address"
    address_help = "host:port of an existing Ray cluster"
    cluster_unit = "CPUs"
    warm_option = "warm_address"
    exposure = (
        "token authentication on (token in ~/.ray/auth_token or $RAY_AUTH_TOKEN), but traffic "
        "is not encrypted: whoever reads the token off the network can run code on it"
    )

    _started = False
    _pg: Any = None
    _strategy: Any = None

    @property
    def remote(self) -> bool:
        return bool(self.options.address)

    def start(self) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        if self.remote:
            use_token_auth_if_available()
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # Ray starts its workers at niceness 15, so any other work on the machine (another
        # engine's workers, a test, a browser) takes their CPU first; every other engine's
        # workers run at the driver's. Fair comparisons need the same: 0 unless the user set it.
        os.environ.setdefault(WORKER_NICENESS, "0")
        from harness.backends._ship import bundle_dir, package_dir, user_code_dirs
        from harness.backends.launch import address_is_loopback

        user = user_code_dirs()  # the user's own modules, for local Ray too
        if self.remote:
            with ray_node_on_loopback(address_is_loopback(self.options.address)):
                ray.init(
                    address=self.options.address,
                    runtime_env={"py_modules": [str(package_dir()), *user]},
                    log_to_driver=False,
                    configure_logging=False,
                    logging_level=logging.ERROR,
                )
        elif self.options.warm_address:
            # A new job on the runner's warm Ray: new worker processes, the same raylet.
            use_token_auth_if_available()
            with _cwd(bundle_dir()), ray_node_on_loopback(True):
                ray.init(
                    address=self.options.warm_address,
                    runtime_env={"py_modules": user} if user else None,
                    log_to_driver=False,
                    configure_logging=False,
                    logging_level=logging.ERROR,
                )
        else:
            # Ray puts the driver's working directory on every worker's sys.path; started
            # from an empty private folder, local workers import the user's module from the
            # shipped copy, as a cluster's would, not from the folder the driver sits in.
            with _cwd(bundle_dir()), ray_node_on_loopback(True):
                ray.init(
                    # "local": never join a cluster that some `ray start` here left.
                    address="local",
                    num_cpus=self.workers,
                    include_dashboard=self.options.dashboard,
                    _node_ip_address="127.0.0.1",
                    runtime_env={"py_modules": user} if user else None,
                    log_to_driver=False,
                    configure_logging=False,
                )
        self._started = True
        self._remote: dict[Callable[..., Any], Any] = {}
        if self.remote:
            self._reserve_cpus()
        probe = self._remote_fn(ray_where_after)
        seen: set[tuple[str, int]] = set()
        # Ray starts workers lazily; short overlapping probes land on distinct workers.
        while len(seen) < self.workers and time.monotonic() < deadline:
            seen |= {tuple(x) for x in ray.get([probe.remote(0.01) for _ in range(self.workers)])}
        if len(seen) < self.workers:
            raise RuntimeError(
                f"Ray started {len(seen)} of the {self.workers} workers the case asks for "
                f"within its start-up timeout of {self.options.startup_timeout_s:g} s"
            )
        self._pids = sorted(pid for _, pid in seen)

    def _reserve_cpus(self) -> None:
        """A SPREAD placement group of `workers` one-CPU bundles: the case's share of it.
        In a node sweep (`nodes`), a STRICT_SPREAD one of `nodes` bundles of
        `workers / nodes` CPUs: one bundle on each of that many distinct nodes."""
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        have = int(ray.cluster_resources().get("CPU", 0))
        if have < self.workers:
            raise RuntimeError(
                f"the Ray cluster at {self.options.address} has {have} CPUs, "
                f"the case asks for {self.workers} workers"
            )
        if self.options.nodes:
            per = self.workers // self.options.nodes
            self._pg = placement_group([{"CPU": per}] * self.options.nodes, "STRICT_SPREAD")
        else:
            self._pg = placement_group([{"CPU": 1}] * self.workers, strategy="SPREAD")
        if not self._pg.wait(timeout_seconds=self.options.connect_timeout_s):
            raise RuntimeError(
                f"the Ray cluster at {self.options.address} did not grant {self.workers} free "
                f"CPUs within {self.options.connect_timeout_s:g} s (busy with other jobs?)"
            )
        self._strategy = PlacementGroupSchedulingStrategy(self._pg)

    def _remote_fn(self, task: Callable[[Any], Any]) -> Any:
        import ray

        if task not in self._remote:
            # No retries: a task whose worker died fails the case instead of being re-run.
            fn = ray.remote(max_retries=0)(task)
            if self._strategy is not None:
                fn = fn.options(scheduling_strategy=self._strategy)
            self._remote[task] = fn
        return self._remote[task]

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        remote = self._remote_fn(task)
        t0 = time.perf_counter()
        refs, submit = [], []
        for item in inputs:
            submit.append(time.perf_counter() - t0)
            refs.append(remote.remote(item))
        index = {ref: i for i, ref in enumerate(refs)}
        arrival = [0.0] * len(inputs)
        pending = refs
        try:
            while pending:
                ready, pending = ray.wait(
                    pending, num_returns=len(pending), timeout=self.options.poll_s
                )
                now = time.perf_counter() - t0
                for ref in ready:
                    arrival[index[ref]] = now
            outputs = ray.get(refs)
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None
        return Batch(list(outputs), arrival, t0, submit)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        remote = self._remote_fn(task)
        try:
            return ray.get([remote.remote(item) for item in inputs])
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None

    def submit_one(self, fn: Callable[..., Any], *args: Any) -> Any:
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        try:
            return ray.get(self._remote_fn(fn).remote(*args))
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None

    def run_graph(self, graph: Graph, count_bytes: bool = False) -> GraphRun:
        """Object refs passed to `.remote`: a node's inputs move through the object store
        from the node that made them, never through the driver; a multi-output node returns
        one ref per output (`num_returns`). Shared values by reference go in once
        (`ray.put`). With barriers, each level is waited for before the next is submitted."""
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        remote = self._remote_fn(apply_node)
        placed: dict[str, Any] = {}
        moved = 0
        if graph.by_reference:
            for key, value in graph.shared_values().items():
                placed[key] = ray.put(value)
                moved += pickled_size(value) if count_bytes else 0
        refs: dict[tuple[int, int | None], Any] = {}

        def made(ref: Ref) -> Any:
            return refs[(ref.key, ref.index)]

        try:
            for level in graph.levels() if graph.barriers else [graph.nodes]:
                for node in level:
                    args = [bound(a, made, placed) for a in node.args]
                    if count_bytes:
                        moved += pickled_size([a for a in args if not _is_ref(a)])
                    out = remote.options(num_returns=node.returns).remote(node.fn, *args)
                    refs[(node.key, None)] = out
                    for i, ref in enumerate(out if node.returns > 1 else []):
                        refs[(node.key, i)] = ref
                if graph.barriers:
                    level_refs = [r for n in level for r in _as_list(refs[(n.key, None)])]
                    ray.wait(level_refs, num_returns=len(level_refs))
            outputs = ray.get([refs[(r.key, r.index)] for r in graph.outputs])
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None
        finally:
            refs.clear()
            placed.clear()
        moved += sum(map(pickled_size, outputs)) if count_bytes else 0
        return GraphRun(list(outputs), moved if count_bytes else None)

    def counter(self, locked: bool) -> SharedCounter:
        import ray

        actor: Any = ray.remote(num_cpus=0)(CounterActor).remote()
        ray.get(actor.get.remote())  # ready: the actor process exists
        return RayCounter(actor, locked)

    def queue(self) -> Any:
        """`ray.util.queue.Queue`: an actor holding the items; puts and gets are calls to it."""
        from ray.util.queue import Queue

        return Queue(actor_options={"num_cpus": 0})

    def lock(self) -> RayLock:
        """An actor that hands out one turn at a time (Ray has no lock of its own)."""
        import ray

        actor: Any = ray.remote(num_cpus=0)(LockActor).remote()
        ray.get(actor.locked.remote())  # ready: the actor process exists
        return RayLock(actor)

    def stop(self) -> None:
        if self._started:
            import ray

            self.abandon_node_sampling()
            if self._pg is not None:
                from ray.util.placement_group import remove_placement_group

                remove_placement_group(self._pg)
                self._pg = None
            # Disconnects this driver; a cluster reached by address keeps running.
            ray.shutdown()
            self._started = False

    def worker_pids(self) -> list[int]:
        return list(getattr(self, "_pids", [])) if not self.remote else []

    def outside_pids(self) -> list[int]:
        """A warm Ray's workers are the raylet's children, not this driver's."""
        return self.worker_pids() if self.options.warm_address else []

    def worker_identities(self) -> dict[str, str] | None:
        """The local Ray's worker processes by PID (Ray replaces a dead worker with a new
        process); None on a cluster, whose workers this host cannot see."""
        if self.remote or not self._started:
            return None
        import psutil

        alive = set()
        for pid in self._pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.Error:
                continue
        return {str(pid): f"Ray worker pid {pid}" for pid in alive}

    def describe(self) -> BackendDescription:
        import ray

        info = BackendDescription(
            self.strategy,
            details={
                "ray": ray.__version__,
                "worker_niceness": os.environ.get(WORKER_NICENESS, "15"),
            },
        )
        if not self._started:
            return info
        if not self.remote:
            info.details["nodes"] = len(ray.nodes())
            return info
        info.details["address"] = self.options.address
        return self.describe_nodes(info)

    # ---- clusters: counting an existing one, launching a local one (`_ray_cluster`)

    @classmethod
    def cluster_size(cls, address: str, timeout_s: float) -> int:
        """The cluster's CPUs, from a driver in a child process that gets `2 x timeout_s`
        to connect once Ray is imported (`ray.init` itself has no timeout), then is killed."""
        return _ray_cluster.cluster_size(address, timeout_s)

    @classmethod
    def cluster_nodes(cls, address: str, timeout_s: float) -> dict[str, int]:
        """The CPUs of each alive node, asked the same way."""
        return _ray_cluster.cluster_nodes(address, timeout_s)

    @classmethod
    def launch_cluster(cls, launch: LocalLaunch) -> None:
        """`ray start --head --block` with `workers` CPUs and every port of its own, so other
        Ray instances on this machine keep theirs."""
        _ray_cluster.launch_cluster(launch)


@contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    """Work in `folder` for the duration of the block (contextlib.chdir is 3.11+)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


class CounterActor:
    """Ray's way to share state: one actor owns it and runs its method calls one at a time."""

    def __init__(self) -> None:
        self.n = 0

    def get(self) -> int:
        return self.n

    def set(self, n: int) -> None:
        self.n = n

    def add(self, k: int) -> int:
        self.n += k
        return self.n


class RayCounter(SharedCounter):
    """Unlocked: `get` then `set`, two actor calls another task can slip between; locked:
    one `add` call, serialised by the actor (Ray has no lock; the actor is the lock)."""

    def __init__(self, actor: Any, locked: bool) -> None:
        self.actor, self.locked = actor, locked

    def increment(self) -> None:
        import ray

        if self.locked:
            ray.get(self.actor.add.remote(1))
        else:
            ray.get(self.actor.set.remote(ray.get(self.actor.get.remote()) + 1))

    def value(self) -> int:
        import ray

        return int(ray.get(self.actor.get.remote()))


class LockActor:
    """Ray's way to a lock: an async actor whose calls share one event loop, where an
    `asyncio.Lock` is taken by `acquire` and given back by `release`; callers waiting to
    acquire queue in the actor, in the order their calls arrived."""

    def __init__(self) -> None:
        import asyncio

        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        await self._lock.acquire()

    async def release(self) -> None:
        self._lock.release()

    async def locked(self) -> bool:
        return self._lock.locked()


class RayLock:
    """`with lock:` in a task: one actor call to acquire, one to release."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def __enter__(self) -> RayLock:
        import ray

        ray.get(self.actor.acquire.remote())
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.get(self.actor.release.remote())


def _is_ref(arg: Any) -> bool:
    return type(arg).__name__ == "ObjectRef"


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, list) else [out]


def _user_error(exc: Exception) -> Exception:
    """The task's own exception, so its status reads like any backend's (ValueError: ...)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else exc
