"""The node sampler: a process of its own on a cluster node, outside the measured workers.

A sampler thread inside a measured worker would take that worker's GIL and count its own
CPU as the worker's. So each node runs this program (`python -m harness.measure.node_sampler
CONFIG`), started by `harness.measure.nodes.start_sampling` for one case. At each tick it sums
the resident memory of the process trees of `pids` (the case's workers there, or the node's
raylet and everything it started), keeps the peak, and counts the CPU seconds they used;
itself it leaves out, though it is a child of a worker.

It stops, prints one JSON line (`peak_rss_bytes`, `cpu_s`, `wall_s`) and exits when told
(`stop` on stdin), and by itself when its stdin closes (the worker or actor that started it
died) or when `max_s` has passed (the case it measures timed out and nobody stopped it), so
it never outlives its case by more than the case's timeout. Standard library and psutil
only: it runs wherever the harness was shipped, and starts in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

import psutil


class Totals:
    """Peak summed RSS and CPU seconds of the sampled trees since the first tick."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.me = os.getpid()
        self.peak_rss = 0
        self.cpu_first: dict[int, float] = {}
        self.cpu_last: dict[int, float] = {}
        self.first_tick = True
        self.t0 = time.monotonic()

    def procs(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    found[proc.pid] = proc
            except psutil.Error:
                continue
        found.pop(self.me, None)  # a child of a sampled worker, but not the workload
        return list(found.values())

    def tick(self) -> None:
        rss = 0
        for proc in self.procs():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    t = proc.cpu_times()
            except psutil.Error:
                continue
            cpu = t.user + t.system
            # A process first seen after the first tick started during the sampling.
            self.cpu_first.setdefault(proc.pid, cpu if self.first_tick else 0.0)
            self.cpu_last[proc.pid] = cpu
        self.first_tick = False
        self.peak_rss = max(self.peak_rss, rss)

    def result(self) -> dict[str, float]:
        return {
            "peak_rss_bytes": float(self.peak_rss),
            "cpu_s": sum(self.cpu_last[p] - self.cpu_first[p] for p in self.cpu_last),
            "wall_s": time.monotonic() - self.t0,
        }


def sample(roots: list[int], interval_s: float, max_s: float) -> dict[str, float]:
    """Tick every `interval_s` until stdin says stop or closes, or `max_s` has passed."""
    totals = Totals(roots)
    totals.tick()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sys.stdin], [], [], interval_s)
        if readable:
            break  # "stop", or end of file: the process that started us is gone
        totals.tick()
    totals.tick()
    return totals.result()


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    result = sample(config["pids"], config["interval_s"], config["max_s"])
    try:
        print(json.dumps(result), flush=True)
    except BrokenPipeError:  # nobody left to read it
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
