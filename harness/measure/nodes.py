"""What one node of a cluster is and what a case used there, for every engine alike.

Two halves, one job. The node side (`node_facts`, `start_sampling`, `stop_sampling`,
`NodeProbe`) runs on cluster workers (Dask `client.run`, a Ray actor pinned to a node), so
it needs only the standard library and psutil there. A node sampler is a process of its
own (`harness.measure.node_sampler`), started by a worker but outside what it measures: it
sums the resident memory of a set of process trees at each tick, keeps the peak, and
counts the CPU seconds those processes used while it ran. It ends when stopped, when the
worker that started it dies, or at the case's timeout, whichever comes first.

The driver side (`ClusterNodes`) is the mixin the cluster backends share: it turns what an
engine found on its nodes into the backend's description (nodes, version warnings) and the
per-node metrics, so an engine supplies only how to reach its nodes.
"""

from __future__ import annotations

import json
import os
import platform
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import psutil

from harness.protocol import BackendDescription, Metric, MetricEvent, metric_info

#: Packages recorded for every node, besides the engine's own (`Backend.packages`).
COMMON_PACKAGES = ("cloudpickle", "msgpack", "tornado", "pydantic", "psutil")
#: Of those, the ones that must match between driver and workers, like the engine's own:
#: a different pickle protocol or serializer changes what is measured.
COMMON_CHECKED = ("cloudpickle", "msgpack")


def node_facts(packages: Sequence[str] = ()) -> dict[str, Any]:
    """This node and the Python that runs here, with the versions of `packages` and the
    common ones (called on a worker: the caller names the engine's packages, because a
    worker that was shipped the harness has no registry of backends)."""
    import harness
    from harness.measure.software import package_versions

    versions = package_versions(tuple(dict.fromkeys((*packages, *COMMON_PACKAGES))))

    return {
        "hostname": socket.gethostname(),
        "cores": psutil.cpu_count(logical=True),
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "packages": versions,
        "harness": harness.__version__,
        # Where the worker imported harness from: an uploaded zip or runtime_env proves shipping.
        "harness_path": os.path.dirname(harness.__file__),
        "pid": os.getpid(),
    }


def version_warnings(
    driver: dict[str, Any], nodes: list[dict[str, Any]], checked: Sequence[str] = ()
) -> list[str]:
    """One line per node whose Python, `checked` or common serializer versions differ from
    the driver's."""
    names = dict.fromkeys(("python", *checked, *COMMON_CHECKED))
    lines = []
    for node in nodes:
        diffs = []
        for name in names:
            mine = driver.get("python") if name == "python" else driver["packages"].get(name)
            theirs = node.get("python") if name == "python" else node["packages"].get(name)
            if theirs is not None and mine != theirs:
                diffs.append(f"{name} {theirs} (driver {mine})")
        if diffs:
            lines.append(f"node {node['address']} differs from the driver: " + ", ".join(diffs))
    return lines


_SAMPLERS: dict[str, subprocess.Popen[str]] = {}
#: Seconds a sampler gets to start (Python and psutil imported, first tick) and to answer.
SAMPLER_START_S = 30.0
SAMPLER_STOP_S = 10.0


def start_sampling(
    token: str, pids: list[int] | None = None, interval_s: float = 0.1, max_s: float = 600.0
) -> int:
    """Start a sampler process (`harness.measure.node_sampler`) over the trees of `pids`
    (None: this node's Ray raylet and its workers) that ends by itself after `max_s`;
    returns its PID once it has taken its first sample."""
    import harness

    for old, proc in list(_SAMPLERS.items()):  # ended by itself (its case timed out): reap
        if proc.poll() is not None:
            del _SAMPLERS[old]
    roots = pids if pids is not None else [_raylet_pid()]
    config = json.dumps({"pids": roots, "interval_s": interval_s, "max_s": max_s})
    # Where this worker imported harness from (a shipped zip, a runtime_env folder).
    where = os.path.dirname(os.path.dirname(harness.__file__))
    path = os.pathsep.join(p for p in (where, os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.measure.node_sampler", config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path},
        text=True,
        start_new_session=True,  # signals to the worker's group are not for it
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], SAMPLER_START_S)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith('{"ready"'):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the node sampler did not start on {socket.gethostname()}")
    _SAMPLERS[token] = proc
    return proc.pid


def stop_sampling(token: str) -> dict[str, float]:
    """Peak summed RSS, CPU seconds and seconds sampled since `start_sampling`; the sampler
    process has exited when this returns ({} if it had to be killed, or never started)."""
    proc = _SAMPLERS.pop(token, None)
    if proc is None:
        return {}
    try:
        out, _ = proc.communicate("stop\n", timeout=SAMPLER_STOP_S)
    except (subprocess.TimeoutExpired, OSError):
        proc.kill()
        proc.wait()
        return {}
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def _raylet_pid() -> int:
    """The raylet that started this Ray worker: the nearest ancestor named raylet."""
    proc = psutil.Process()
    for parent in proc.parents():
        try:
            if "raylet" in parent.name():
                return parent.pid
        except psutil.NoSuchProcess:
            continue
    return os.getppid()


class NodeProbe:
    """A Ray actor (num_cpus=0) pinned to one node: its facts and its sampler."""

    def facts(self, packages: Sequence[str] = ()) -> dict[str, Any]:
        return node_facts(packages)

    def start(self, token: str, interval_s: float, max_s: float = 600.0) -> int:
        return start_sampling(token, None, interval_s, max_s)

    def stop(self, token: str) -> dict[str, float]:
        return stop_sampling(token)

    def clock(self) -> float:
        """This node's monotonic clock, the one task stamps read (`tasks.stamped`)."""
        return time.perf_counter()


# ---------------------------------------------------------------- driver side


def node_metric(metric: str, value: float, node: str) -> MetricEvent:
    """A per-node metric, its unit from the catalogue."""
    return MetricEvent(metric, float(value), metric_info(metric).unit, None, node)


class ClusterNodes:
    """Mixin for backends that run on a cluster by address: what each node is, whether its
    versions match the driver's, and what the case used on each node, alike for engines.

    An engine supplies how to reach its nodes:
    - `_connected()`: True between a successful start and stop;
    - `_node_records()`: one dict per node of the cluster, with its `address`, the facts
      `node_facts(self.packages)` found there, and the case's `workers` there;
    - `_workers_per_node()`: node address -> the case's workers there;
    - `_start_samplers(token, interval_s, max_s)`: one `start_sampling` on each node the
      case uses, its process ending by itself after `max_s`;
    - `_stop_samplers(token, timeout_s)`: node address -> what `stop_sampling` returned;
    - `_node_tasks()`: node address -> the case's tasks that ran there, or None when the
      engine cannot tell (then no `node_tasks` metric).
    Put it before `Backend` among the bases, so its sampling methods are the ones used.
    """

    packages: ClassVar[tuple[str, ...]]
    if TYPE_CHECKING:  # the engine's `remote` property, read here

        @property
        def remote(self) -> bool: ...

    _sampling_token: str | None = None

    def _connected(self) -> bool:
        raise NotImplementedError

    def _node_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _workers_per_node(self) -> dict[str, int]:
        raise NotImplementedError

    def _start_samplers(self, token: str, interval_s: float, max_s: float) -> None:
        raise NotImplementedError

    def _stop_samplers(self, token: str, timeout_s: float) -> dict[str, dict[str, float]]:
        raise NotImplementedError

    def _node_tasks(self) -> dict[str, int] | None:
        return None

    def _clock_readers(self) -> dict[str, Callable[[], float]]:
        """Node address -> a call that reads that node's clock, pinned to it."""
        raise NotImplementedError

    def clock_readings(self, rounds: int = 8) -> list[tuple[str, float, float, float]]:
        """Each node's clock read `rounds` times by a call pinned to it, each bracketed by
        the driver's clock: (node, its reading, driver before, driver after). One round
        trip wide, so a node's offset is bounded however the engine places tasks."""
        if not self.remote or not self._connected():
            return []
        readers = self._clock_readers()
        out = []
        for _ in range(rounds):
            for node, read in readers.items():
                before = time.perf_counter()
                reading = read()
                out.append((node, reading, before, time.perf_counter()))
        return out

    def describe_nodes(self, info: BackendDescription) -> BackendDescription:
        """`info` with every node, the nodes the case used, and version warnings."""
        nodes = self._node_records()
        info.remote = True
        info.details["nodes"] = nodes
        info.nodes_used = ",".join(n["address"] for n in nodes if n["workers"])
        info.warnings = version_warnings(node_facts(self.packages), nodes, self.packages)
        return info

    def start_node_sampling(self, interval_s: float = 0.1, max_s: float = 600.0) -> None:
        """Sample memory and CPU on every node the case uses (no-op off a cluster), for at
        most `max_s` (the case's timeout: a sampler nobody stops ends by itself)."""
        if not self.remote or not self._connected():
            return
        token = uuid.uuid4().hex
        self._sampling_token = token  # set first: a start that fails half-way is abandoned
        self._start_samplers(token, interval_s, max_s)

    def node_metrics(self) -> list[MetricEvent]:
        """Per node with the case's workers: peak RSS, CPU use per worker, tasks run."""
        if not self._sampling_token or not self._connected():
            return []
        tasks = self._node_tasks()
        token, self._sampling_token = self._sampling_token, None
        samples = self._stop_samplers(token, 60.0)
        workers = self._workers_per_node()
        rows = []
        for node, s in sorted(samples.items()):
            used = workers.get(node, 0)
            if not s or not used:
                continue  # nodes that ran none of this case's tasks (a CPU-less head)
            rows.append(node_metric(Metric.NODE_PEAK_RSS_BYTES, s[Metric.PEAK_RSS_BYTES], node))
            cpu = s["cpu_s"] / (s[Metric.WALL_S] * used) if s[Metric.WALL_S] > 0 else float("nan")
            rows.append(node_metric(Metric.NODE_CPU_UTIL, cpu, node))
            if tasks is not None:
                rows.append(node_metric(Metric.NODE_TASKS, tasks.get(node, 0), node))
        return rows

    def abandon_node_sampling(self) -> None:
        """For `stop`: a case that failed mid-way leaves samplers running; stop them,
        whatever state the cluster is in."""
        token, self._sampling_token = self._sampling_token, None
        if token:
            try:
                self._stop_samplers(token, 10.0)
            except Exception:  # noqa: BLE001 - the cluster may be gone; stopping goes on
                pass
