"""The process tree of a case: who belongs to it, what it uses, and how to end it.

Every process a case starts carries a token in its environment, so that even a process
that left the tree (a daemonised Ray helper re-parented to init) is found and stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
#: Where Linux keeps each task's scheduler statistics (`schedstat`: ns on a CPU, ns runnable
#: but waiting on a run queue, timeslices). `/proc/PID/schedstat` is the thread group
#: leader's own line, not the process's sum: on 6.18 a process whose two threads hashed for
#: 0.7 s read 0.05 s there (psutil: 0.74 s), so a process is the sum of
#: `/proc/PID/task/*/schedstat`. Those lines die with their threads: a thread that ended
#: between two readings is lost, as a process that ended is.
PROC = "/proc"


@dataclass(frozen=True)
class CpuReading:
    """A process's CPU time so far: from schedstat, each live thread's (ns on a CPU, ns
    waiting for one); without it (`threads` None), user plus system seconds in clock ticks."""

    cpu_s: float
    threads: dict[int, tuple[int, int]] | None = None


@dataclass(frozen=True)
class CpuUse:
    """What the kept processes used between two readings."""

    cpu_s: float
    #: Seconds their threads were runnable but waiting for a CPU; None when any of them was
    #: read without schedstat.
    wait_s: float | None
    processes: int
    #: Of those, how many were read in clock ticks (what `cpu_ratio`'s guard is about).
    ticked: int


def thread_schedstats(pid: int, proc: str = PROC) -> dict[int, tuple[int, int]] | None:
    """(ns on a CPU, ns waiting on a run queue) of each live thread of `pid`, or None where
    the process is gone or the system gives no schedstat (`proc` a path without it)."""
    try:
        tids = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return None
    out = {}
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/schedstat", "rb") as f:
                on_cpu, waiting = f.read().split()[:2]
            out[int(tid)] = (int(on_cpu), int(waiting))
        except (OSError, ValueError):
            continue  # a thread that ended after the listing, or no schedstat at all
    return out or None


def cpu_by_pid(procs: Iterable[psutil.Process], proc: str = PROC) -> dict[int, CpuReading]:
    """CPU time of each live process: per thread in ns from schedstat where `proc` has it,
    else user plus system from psutil, in clock ticks.

    Children a process has reaped are left out: a pool worker that died would otherwise
    count its whole life again in its parent.
    """
    out = {}
    for p in procs:
        threads = thread_schedstats(p.pid, proc)
        if threads is not None:
            out[p.pid] = CpuReading(sum(c for c, _ in threads.values()) / 1e9, threads)
            continue
        try:
            t = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        out[p.pid] = CpuReading(t.user + t.system)
    return out


def cpu_between(
    before: dict[int, CpuReading], after: dict[int, CpuReading], keep: Callable[[int], bool]
) -> CpuUse:
    """CPU the kept processes used between two readings.

    A process (or thread) that started in between counts whole; one that ended in between
    is lost with its CPU times (the kernel keeps them only for the parent that reaps it), so
    neither can make a figure negative or count twice. A process read one way before and the
    other after (schedstat lost as it exited) is left out: the two do not subtract.
    """
    cpu_ns = wait_ns = 0
    ticks_s, counted, ticked, waits = 0.0, 0, 0, True
    for pid, now in after.items():
        if not keep(pid):
            continue
        then = before.get(pid)
        if now.threads is None:
            if then is not None and then.threads is not None:
                continue
            ticks_s += now.cpu_s - (then.cpu_s if then is not None else 0.0)
            ticked += 1
            waits = False
        else:
            if then is not None and then.threads is None:
                continue
            earlier = then.threads if then is not None and then.threads is not None else {}
            for tid, (c1, w1) in now.threads.items():
                c0, w0 = earlier.get(tid, (0, 0))
                if c0 > c1:  # the tid is a new thread's: all of its time is since
                    c0, w0 = 0, 0
                cpu_ns += c1 - c0
                wait_ns += max(0, w1 - w0)
        counted += 1
    return CpuUse(ticks_s + cpu_ns / 1e9, wait_ns / 1e9 if waits else None, counted, ticked)


def cpu_ratio(cpu_s: float, ticked: int, wall_s: float, capacity: float = 1.0) -> float | None:
    """`cpu_s / (wall_s x capacity)`, or None where clock ticks are too coarse to carry it.

    `ticked` is how many processes were read in clock ticks (psutil's user and system times,
    where schedstat is missing); schedstat's nanoseconds need no guard. Each ticked
    process's times advance in ticks (10 ms at 100 Hz), so each reading of a difference may
    be off by up to a tick, two per process. A ratio whose worst case error exceeds
    MAX_TICK_ERROR is not reported: 8 ms repeats would otherwise read 177%.
    """
    span = wall_s * capacity
    if span <= 0 or 2 * ticked * TICK_S > MAX_TICK_ERROR * span:
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
