"""Ray: a local Ray started with `ray.init`, or an existing cluster by address.

With an address the harness connects a driver (`ray.init(address=...)` must run on a node
of the cluster, usually the head, or use a `ray://` client address) and never starts or
stops the cluster. The harness package travels as a `runtime_env` py_module, so nodes need
only Ray and pydantic. `workers` CPUs are reserved in a SPREAD placement group, so a case
uses exactly that many of the cluster's CPUs, spread over its nodes; one zero-CPU probe
actor per node records what the node is and samples its memory and CPU. `launch_cluster`
runs `ray start --head --block` for `harness cluster up ray`.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from harness.measure.nodes import ClusterNodes
from harness.protocol import BackendDescription
from harness.tasks import apply_node, ray_where_after

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


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


class RayBackend(ClusterNodes, Backend):
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
    exposure = (
        "token authentication on (token in ~/.ray/auth_token or $RAY_AUTH_TOKEN), but traffic "
        "is not encrypted: whoever reads the token off the network can run code on it"
    )

    _started = False
    _pg: Any = None
    _strategy: Any = None
    _probes: dict[str, Any] | None = None

    @property
    def remote(self) -> bool:
        return bool(self.options.address)

    def start(self) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        if self.remote:
            use_token_auth_if_available()
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
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
        """A SPREAD placement group of `workers` one-CPU bundles: the case's share of it."""
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        have = int(ray.cluster_resources().get("CPU", 0))
        if have < self.workers:
            raise RuntimeError(
                f"the Ray cluster at {self.options.address} has {have} CPUs, "
                f"the case asks for {self.workers} workers"
            )
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

        info = BackendDescription(self.strategy, details={"ray": ray.__version__})
        if not self._started:
            return info
        if not self.remote:
            info.details["nodes"] = len(ray.nodes())
            return info
        info.details["address"] = self.options.address
        return self.describe_nodes(info)

    # ---- what ClusterNodes needs: one zero-CPU probe actor pinned to each node

    def _connected(self) -> bool:
        return self._started

    def _node_records(self) -> list[dict[str, Any]]:
        """Every alive node: Ray's view (address, CPUs, memory) plus its probe actor's facts."""
        import ray

        alive = self._probe_nodes()
        probes = self._probes or {}
        ids = list(probes)
        answers = ray.get([probes[i].facts.remote(self.packages) for i in ids], timeout=120)
        facts = dict(zip(ids, answers, strict=True))
        used = self._bundles_per_node()
        return [
            {
                "address": n["NodeManagerAddress"],
                "node_id": n["NodeID"],
                **{k: v for k, v in facts.get(n["NodeID"], {}).items() if k != "pid"},
                "cluster_cpus": n["Resources"].get("CPU", 0.0),
                "workers": used.get(n["NodeID"], 0),
                "head": "node:__internal_head__" in n["Resources"],
            }
            for n in sorted(alive, key=lambda n: n["NodeManagerAddress"])
        ]

    def _probe_nodes(self) -> list[dict[str, Any]]:
        """The alive nodes; starts one probe actor on each, once."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from harness.measure.nodes import NodeProbe

        alive = [n for n in ray.nodes() if n.get("Alive")]
        if self._probes is None:
            actor = ray.remote(num_cpus=0)(NodeProbe)
            self._probes = {
                n["NodeID"]: actor.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                ).remote()
                for n in alive
            }
        self._address_of = {n["NodeID"]: n["NodeManagerAddress"] for n in alive}
        return alive

    def _bundles_per_node(self) -> Counter[str]:
        """The case's one-CPU bundles per node id."""
        from ray.util.placement_group import placement_group_table

        bundles = placement_group_table(self._pg)["bundles_to_node_id"] if self._pg else {}
        return Counter(bundles.values())

    def _workers_per_node(self) -> dict[str, int]:
        return {self._address_of.get(i, i): n for i, n in self._bundles_per_node().items()}

    def _start_samplers(self, token: str, interval_s: float, max_s: float) -> None:
        """Each node's probe actor starts a sampler process over that node's raylet and its
        worker processes (the actor dies with this driver, and its sampler with it)."""
        import ray

        self._probe_nodes()
        assert self._probes is not None
        ray.get([p.start.remote(token, interval_s, max_s) for p in self._probes.values()])

    def _clock_readers(self) -> dict[str, Callable[[], float]]:
        """The probe actor pinned to each node of the case's workers reads its clock."""
        import ray

        self._probe_nodes()
        assert self._probes is not None
        used = self._bundles_per_node()
        return {
            self._address_of[i]: functools.partial(lambda actor: ray.get(actor.clock.remote()),
                                                   actor)  # fmt: skip
            for i, actor in self._probes.items()
            if used.get(i)
        }

    def _stop_samplers(self, token: str, timeout_s: float) -> dict[str, dict[str, float]]:
        import ray

        probes = self._probes or {}
        ids = list(probes)
        samples = ray.get([probes[i].stop.remote(token) for i in ids], timeout=timeout_s)
        return {self._address_of[i]: s for i, s in zip(ids, samples, strict=True)}

    # ---- clusters: counting an existing one, launching a local one

    @classmethod
    def cluster_size(cls, address: str, timeout_s: float) -> int:
        """The cluster's CPUs, from a driver in a child process that gets `2 x timeout_s`
        to connect once Ray is imported (`ray.init` itself has no timeout), then is killed."""
        import json
        import queue
        import signal
        import subprocess
        import threading

        from harness.backends.launch import ClusterError, address_is_loopback

        use_token_auth_if_available()  # before importing Ray; inherited by the cases
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        env = dict(os.environ)
        if address_is_loopback(address):
            env[LOOPBACK_SWITCH] = "0"
        proc = subprocess.Popen(
            [sys.executable, "-c", _COUNT_CPUS, address], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True, env=env,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line.strip())
            lines.put("")

        threading.Thread(target=read, daemon=True).start()

        def next_json(deadline: float) -> dict[str, Any] | None:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    line = lines.get(timeout=left)
                except queue.Empty:
                    return None
                if not line:
                    return {"error": "the connecting process exited"}
                if line.startswith("{"):
                    return json.loads(line)
            return None

        try:
            # Importing Ray is not connecting: it gets its own, generous, allowance.
            ready = next_json(time.monotonic() + 60)
            answer = next_json(time.monotonic() + 2 * timeout_s) if ready == {"ready": 1} else ready
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        if answer is None:
            why = f"no answer within {2 * timeout_s:g} s"
        elif "error" in answer:
            why = answer["error"]
        else:
            return int(answer["cpus"])
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {why}")

    @classmethod
    def launch_cluster(cls, launch: LocalLaunch) -> None:
        """`ray start --head --block` with `workers` CPUs and every port of its own, so other
        Ray instances on this machine keep theirs.

        Ray 2.60 binds port 0 itself for the GCS (`--port 0`, its address read back from
        `<temp dir>/ray_current_cluster`), the raylet, object manager, agents, metrics and
        workers (`--min-worker-port 0`): nothing is picked ahead and raced for. The one
        exception is Ray's client server (started only when `ray[client]` is installed),
        whose port must be 1024-65535: that one is picked just before `ray start`.
        """
        from harness.backends.launch import ClusterError, is_loopback

        host = launch.host
        launch.env["RAY_USAGE_STATS_ENABLED"] = "0"
        if is_loopback(host):
            launch.env[LOOPBACK_SWITCH] = "0"  # else `ray start` swaps 127.0.0.1 for eth0's
        # Always token authentication: without it, anyone who reaches a port runs code.
        launch.env["RAY_AUTH_MODE"] = "token"
        launch.info["auth_token"] = ensure_auth_token(launch.env)
        ports = {
            "--port": 0,
            "--node-manager-port": 0,
            "--object-manager-port": 0,
            "--metrics-export-port": 0,
            "--dashboard-agent-listen-port": 0,  # else Ray's fixed 52365
            "--dashboard-agent-grpc-port": 0,
            "--runtime-env-agent-port": 0,
            "--min-worker-port": 0,  # else 10002-19999, shared with every Ray on the host
            "--max-worker-port": 0,
        }
        if _ray_client_installed():
            # The client server refuses port 0 (Ray checks 1024-65535) and would take a
            # fixed 10001: picked here, the race window is the few ms until `ray start`.
            ports["--ray-client-server-port"] = launch.free_port()
        cmd = [
            *launch.tool("ray", "ray.scripts.scripts"), "start", "--head", "--block",
            "--node-ip-address", host, "--num-cpus", str(launch.workers),
            "--include-dashboard=false", "--disable-usage-stats",
            "--temp-dir", str(launch.temp_dir),
            *[str(x) for item in ports.items() for x in item],
        ]  # fmt: skip
        log = launch.spawn(cmd, "ray-start.log")
        # `ray start --head` writes the GCS address it bound once the head is up.
        launch.address = launch.wait_file_text(
            launch.temp_dir / "ray_current_cluster", 90, "ray-start.log"
        )
        deadline = time.monotonic() + 60
        while not launch.running("raylet"):
            if time.monotonic() > deadline:
                raise ClusterError(f"no raylet started (log: {log})")
            time.sleep(0.2)


def _ray_client_installed() -> bool:
    """Whether `ray start --head` would start Ray's client server (it needs grpc)."""
    try:
        from ray._private.utils import get_ray_client_dependency_error
    except ImportError:  # a Ray that moved it: assume the server starts, pick its port
        return True
    return get_ray_client_dependency_error() is None


#: Run in a child process by `cluster_size`: JSON lines on stdout, {"ready": 1} once Ray is
#: imported, then {"cpus": N} or {"error": "..."}.
_COUNT_CPUS = """
import json, logging, sys
import ray
print(json.dumps({"ready": 1}), flush=True)
try:
    ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False,
             logging_level=logging.ERROR)
    print(json.dumps({"cpus": ray.cluster_resources().get("CPU", 0)}), flush=True)
except Exception as exc:
    text = str(exc).strip().splitlines()
    print(json.dumps({"error": text[0] if text else type(exc).__name__}), flush=True)
finally:
    ray.shutdown()
"""


#: Ray's switch for "clusters of several hosts" (read at import into
#: `ray_constants.ENABLE_RAY_CLUSTER`). On, `ray.init` and `ray start` replace a node address
#: of 127.0.0.1 with the host's reachable one, and Ray's GCS, raylet and workers then listen
#: on every interface. Off, the node address stays 127.0.0.1 and every server binds to it.
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextmanager
def ray_node_on_loopback(on: bool) -> Iterator[None]:
    """Keep a Ray this block starts or joins on 127.0.0.1 (`on`), or leave Ray's default.

    The processes Ray starts in the block (GCS, raylet, and through it the workers) inherit
    the environment; the driver reads the constant, which is restored afterwards, so a
    process that later joins a cluster of several hosts is not held to loopback."""
    if not on:
        yield
        return
    from ray._private import ray_constants

    before_env = os.environ.get(LOOPBACK_SWITCH)
    before_constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before_constant
        if before_env is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = before_env


@contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    """Work in `folder` for the duration of the block (contextlib.chdir is 3.11+)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def ensure_auth_token(env: dict[str, str]) -> str:
    """Where the token of a cluster the harness starts comes from: $RAY_AUTH_TOKEN or
    $RAY_AUTH_TOKEN_PATH when set, else Ray's default file `~/.ray/auth_token`, created
    (mode 600, a random 256-bit token) when missing, made mode 600 when others can read it.
    Drivers on this host find it there (`use_token_auth_if_available`); other hosts need a
    copy."""
    import secrets

    if env.get("RAY_AUTH_TOKEN"):
        return "$RAY_AUTH_TOKEN"
    path = Path(env.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    elif path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a token others on this host can read protects nothing
    return str(path)


def use_token_auth_if_available() -> None:
    """Send Ray's auth token when one exists and the user did not choose a mode.

    Ray 2.5x+ clusters started where a token exists (`~/.ray/auth_token`, $RAY_AUTH_TOKEN)
    require it, but a driver joining by address only sends it in `RAY_AUTH_MODE=token`.
    """
    if os.environ.get("RAY_AUTH_MODE"):
        return
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token_file):
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:  # Ray read its config at import: make it read it again
            from ray._raylet import Config  # type: ignore[attr-defined]  # not in its stub

            Config.initialize("")


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


def _is_ref(arg: Any) -> bool:
    return type(arg).__name__ == "ObjectRef"


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, list) else [out]


def _user_error(exc: Exception) -> Exception:
    """The task's own exception, so its status reads like any backend's (ValueError: ...)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else exc
