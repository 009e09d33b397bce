"""The process tree of a case: who belongs to it, what it uses, and how to end it.

Every process a case starts carries a token in its environment, so that even a process
that left the tree (a daemonised Ray helper re-parented to init) is found and stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil

TOKEN_VAR = "HARNESS_CASE_TOKEN"


def tree(root_pid: int) -> list[psutil.Process]:
    """The root and all its descendants that are alive now."""
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def carrying_token(token: str) -> list[psutil.Process]:
    """Processes whose environment holds this case's token (ours to stop)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(TOKEN_VAR) == token:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def terminate(procs: Iterable[psutil.Process], grace_s: float = 3.0) -> list[int]:
    """SIGTERM, wait up to `grace_s`, then SIGKILL; returns the pids that were alive."""
    procs = [p for p in procs if _alive(p)]
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still_alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in still_alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(still_alive, timeout=grace_s)
    return [p.pid for p in procs]


def cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    """User plus system CPU seconds of the given processes (children already reaped count)."""
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return total


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by the cgroup v2 CPU quota.

    `taskset -c 0` or a container limit of one CPU makes a 2-core machine a 1-CPU one, and
    a verdict about parallelism must know that.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]  # noqa: SIM115
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus
