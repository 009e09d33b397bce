"""The process tree of a case: who belongs to it, what it uses, and how to end it.

Every process a case starts carries a token in its environment, so that even a process
that left the tree (a daemonised Ray helper re-parented to init) is found and stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

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


#: Seconds per clock tick: the resolution of a process's user and system CPU times.
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
#: The most that tick rounding may move a reported CPU ratio (0.05 = 5 percentage points).
MAX_TICK_ERROR = 0.05


def cpu_by_pid(procs: Iterable[psutil.Process]) -> dict[int, float]:
    """User plus system CPU seconds of each live process.

    Children a process has reaped are left out: a pool worker that died would otherwise
    count its whole life again in its parent.
    """
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        out[proc.pid] = t.user + t.system
    return out


def cpu_between(
    before: dict[int, float], after: dict[int, float], keep: Callable[[int], bool]
) -> tuple[float, int]:
    """CPU seconds the kept processes used between two readings, and how many were counted.

    A process that started in between counts whole; one that ended in between is lost with
    its CPU times (the kernel keeps them only for the parent that reaps it).
    """
    seconds, counted = 0.0, 0
    for pid, now in after.items():
        if keep(pid):
            seconds += now - before.get(pid, 0.0)
            counted += 1
    return seconds, counted


def cpu_ratio(cpu_s: float, processes: int, wall_s: float, capacity: float = 1.0) -> float | None:
    """`cpu_s / (wall_s x capacity)`, or None where clock ticks are too coarse to carry it.

    Each process's user and system times advance in ticks (10 ms at 100 Hz), so each reading
    of a difference may be off by up to a tick, two per process. A ratio whose worst case
    error exceeds MAX_TICK_ERROR is not reported: 8 ms repeats would otherwise read 177%.
    """
    span = wall_s * capacity
    if span <= 0 or 2 * processes * TICK_S > MAX_TICK_ERROR * span:
        return None
    return cpu_s / span


def services_beside(workers: Iterable[int], root: int | None = None) -> list[int]:
    """Processes under `root` (this process) that are neither it nor one of the workers:
    the engine's own services (Ray's gcs_server, raylet and agents; multiprocessing's
    resource tracker and manager)."""
    root = os.getpid() if root is None else root
    own = {root, *workers}
    return sorted(p.pid for p in tree(root) if p.pid not in own)


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
