"""Memory of a whole process tree over time, sampled from outside the measured process.

The sampler runs in the harness's parent process, not beside the workload: a sampling
thread inside the driver would compete for the GIL with the threads backend it measures.
Unique set size (USS) counts each process's private pages once; RSS sums would count the
shared interpreter and library pages of every worker again.

USS is costly to read (the kernel walks every mapping: ~1.5 ms a Ray process), RSS is
cheap. So RSS is read every tick, USS only as often as keeps its cost under
`uss_budget` of one core, and once more when asked (at the start of a phase that is not
timed), so that the sampler does not itself slow the 2-core machine it measures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

from harness.measure.proctree import tree

#: Seconds between re-reading which processes belong to the tree (a /proc scan).
TREE_REFRESH_S = 0.5


@dataclass
class Sample:
    t: float  # perf_counter seconds (system-wide monotonic clock on Linux)
    phase: str
    rss_bytes: int
    processes: int
    uss_bytes: int | None = None  # None where this tick read RSS only
    per_pid_uss: dict[int, int] = field(default_factory=dict)
    #: Proportional set size: shared pages split among their sharers, so a forked child's
    #: copy-on-write pages count once across the tree instead of for nobody (as USS does).
    pss_bytes: int | None = None
    per_pid_pss: dict[int, int] = field(default_factory=dict)


@dataclass
class TreeSampler:
    root_pid: int
    interval_s: float = 0.05
    uss_budget: float = 0.02
    samples: list[Sample] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    phase: str = "spawn"

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-sampler", daemon=True)
        self._procs: list[psutil.Process] = []
        self._procs_read = 0.0

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def set_phase(self, phase: str, full_sample: bool = False) -> None:
        """Tag later samples; `full_sample` reads USS now, in the caller's thread."""
        self.phase = phase
        self._procs_read = 0.0  # phases start and stop processes: look again
        if full_sample:
            self.sample(full=True)

    def sample(self, full: bool) -> float:
        """Take one sample; returns the seconds it took."""
        started = time.perf_counter()
        if started - self._procs_read > TREE_REFRESH_S:
            self._procs = tree(self.root_pid)
            self._procs_read = started
        rss, uss, pss, per_pid, per_pid_pss = 0, 0, 0, {}, {}
        for proc in self._procs:
            try:
                if full:
                    info = proc.memory_full_info()
                    per_pid[proc.pid] = info.uss
                    per_pid_pss[proc.pid] = info.pss
                    uss += info.uss
                    pss += info.pss
                    rss += info.rss
                else:
                    rss += proc.memory_info().rss
                self.seen_pids.add(proc.pid)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        self.samples.append(
            Sample(
                started,
                self.phase,
                rss,
                len(self._procs),
                uss if full else None,
                per_pid,
                pss if full else None,
                per_pid_pss,
            )
        )
        return time.perf_counter() - started

    def _loop(self) -> None:
        next_full = 0.0
        while not self._stop.wait(self.interval_s):
            now = time.perf_counter()
            full = now >= next_full
            cost = self.sample(full)
            if full:
                next_full = now + max(self.interval_s, cost / self.uss_budget)
