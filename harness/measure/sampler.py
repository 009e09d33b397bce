"""Memory of a whole process tree over time, sampled from outside the measured process.

The sampler runs in the harness's parent process, not beside the workload: a sampling
thread inside the driver would compete for the GIL with the threads backend it measures.
Unique set size (USS) counts each process's private pages once; RSS sums would count the
shared interpreter and library pages of every worker again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

from harness.measure.proctree import tree


@dataclass
class Sample:
    t: float  # perf_counter seconds (system-wide monotonic clock on Linux)
    phase: str
    rss_bytes: int
    uss_bytes: int
    per_pid_uss: dict[int, int]
    processes: int


@dataclass
class TreeSampler:
    root_pid: int
    interval_s: float = 0.05
    samples: list[Sample] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    phase: str = "spawn"

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-sampler", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def set_phase(self, phase: str) -> None:
        """Tag later samples, and take one now so short phases are seen at least once."""
        self.phase = phase
        self.sample()

    def sample(self) -> None:
        rss = uss = 0
        per_pid: dict[int, int] = {}
        procs = tree(self.root_pid)
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            rss += info.rss
            per_pid[proc.pid] = info.uss
            uss += info.uss
        with self._lock:
            self.seen_pids.update(per_pid)
            self.samples.append(
                Sample(time.perf_counter(), self.phase, rss, uss, per_pid, len(per_pid))
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
