"""What one node of a cluster is and what it used, measured on the node itself.

These functions run on cluster workers (Dask `client.run`, a Ray actor pinned to a node),
so they need only the standard library and psutil there. A node sampler is a thread in a
worker process; it sums the resident memory of a set of process trees at each tick, keeps
the peak, and counts the CPU seconds those processes used while it ran.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from typing import Any

import psutil

#: Packages recorded for every node.
PACKAGES = ("dask", "distributed", "ray", "cloudpickle", "msgpack", "tornado", "pydantic", "psutil")
#: Versions that must match between driver and workers, else the run carries a warning:
#: a different pickle protocol, serializer or engine version changes what is measured.
CHECKED = ("python", "dask", "distributed", "ray", "cloudpickle", "msgpack")


def node_facts() -> dict[str, Any]:
    """This node and the Python that runs here (called on a worker)."""
    import harness
    from harness.fingerprint import package_versions

    versions = package_versions(PACKAGES)

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


def version_warnings(driver: dict[str, Any], nodes: list[dict[str, Any]]) -> list[str]:
    """One line per node whose checked versions differ from the driver's."""
    lines = []
    for node in nodes:
        diffs = []
        for name in CHECKED:
            mine = driver.get("python") if name == "python" else driver["packages"].get(name)
            theirs = node.get("python") if name == "python" else node["packages"].get(name)
            if theirs is not None and mine != theirs:
                diffs.append(f"{name} {theirs} (driver {mine})")
        if diffs:
            lines.append(f"node {node['address']} differs from the driver: " + ", ".join(diffs))
    return lines


class _Sampler(threading.Thread):
    def __init__(self, pids: list[int] | None, interval_s: float) -> None:
        super().__init__(daemon=True, name="harness-node-sampler")
        self.roots = pids
        self.interval_s = interval_s
        self.halt = threading.Event()
        self.peak_rss = 0
        self.cpu_first: dict[int, float] = {}
        self.cpu_last: dict[int, float] = {}
        self.t0 = time.monotonic()
        self.wall_s = 0.0
        self.first_tick = True

    def _procs(self) -> list[psutil.Process]:
        roots = self.roots if self.roots is not None else [_raylet_pid()]
        found: dict[int, psutil.Process] = {}
        for pid in roots:
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    found[proc.pid] = proc
            except psutil.NoSuchProcess:
                continue
        return list(found.values())

    def tick(self) -> None:
        rss = 0
        for proc in self._procs():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    t = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            cpu = t.user + t.system
            # A process first seen after the first tick started during the sampling.
            self.cpu_first.setdefault(proc.pid, cpu if self.first_tick else 0.0)
            self.cpu_last[proc.pid] = cpu
        self.first_tick = False
        self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self.halt.is_set():
            self.tick()
            self.halt.wait(self.interval_s)

    def finish(self) -> dict[str, float]:
        self.halt.set()
        self.join(timeout=5)
        self.tick()
        return {
            "peak_rss_bytes": float(self.peak_rss),
            "cpu_s": sum(self.cpu_last[p] - self.cpu_first[p] for p in self.cpu_last),
            "wall_s": time.monotonic() - self.t0,
        }


_SAMPLERS: dict[str, _Sampler] = {}


def start_sampling(token: str, pids: list[int] | None = None, interval_s: float = 0.1) -> int:
    """Start sampling the trees of `pids` (None: this node's Ray raylet and its workers)."""
    sampler = _Sampler(pids, interval_s)
    sampler.tick()
    _SAMPLERS[token] = sampler
    sampler.start()
    return os.getpid()


def stop_sampling(token: str) -> dict[str, float]:
    """Peak summed RSS, CPU seconds and seconds sampled since `start_sampling`."""
    sampler = _SAMPLERS.pop(token, None)
    if sampler is None:
        return {}
    return sampler.finish()


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

    def facts(self) -> dict[str, Any]:
        return node_facts()

    def start(self, token: str, interval_s: float) -> int:
        return start_sampling(token, None, interval_s)

    def stop(self, token: str) -> dict[str, float]:
        return stop_sampling(token)
