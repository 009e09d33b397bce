"""Measurement: memory of a process tree, latency percentiles, statistics, fingerprint."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import fingerprint
from harness.backends.sequential import SequentialBackend
from harness.backends.threads import ThreadsBackend
from harness.case import Case
from harness.execute.case_runner import run_case
from harness.measure import quantiles
from harness.measure.proctree import (
    PROC,
    TICK_S,
    CpuUse,
    cpu_between,
    cpu_by_pid,
    cpu_ratio,
    thread_schedstats,
    tree,
)
from harness.measure.sampler import TreeSampler
from harness.workloads.io import sleep_task

ALLOCATE = 200 * 2**20

CHILD = f"""
import sys
print("ready", flush=True)
sys.stdin.readline()
block = b"x" * {ALLOCATE}   # written, so every page is really there
print("allocated", flush=True)
sys.stdin.readline()
"""


def test_sampler_sees_memory_a_child_allocates():
    # The sampler watches a parent whose child allocates: the tree, not just the root.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}])",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        sampler = TreeSampler(parent.pid)
        sampler.sample(full=True)
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "allocated"
        sampler.sample(full=True)
        before, after = sampler.samples
        assert before.processes == after.processes == 2
        assert after.uss_bytes - before.uss_bytes == pytest.approx(ALLOCATE, rel=0.10)
        assert after.rss_bytes - before.rss_bytes == pytest.approx(ALLOCATE, rel=0.10)
    finally:
        parent.stdin.write("\n")
        parent.stdin.close()
        parent.wait(timeout=10)


def test_rss_only_ticks_leave_uss_unknown():
    sampler = TreeSampler(subprocess.os.getpid())
    sampler.sample(full=False)
    (tick,) = sampler.samples
    assert tick.uss_bytes is None and tick.rss_bytes > 0


def test_sequential_latencies_add_up_the_sleeps():
    backend = SequentialBackend(1)
    batch = backend.run(sleep_task, [0.02] * 10)
    # the i-th result cannot arrive before i+1 sleeps have passed
    for i, arrival in enumerate(batch.arrival_s):
        assert arrival >= 0.02 * (i + 1) - 1e-3
    p50 = quantiles.percentile(batch.arrival_s, 50)
    assert p50 == pytest.approx(np.percentile(batch.arrival_s, 50))
    assert p50 >= 0.1


def test_thread_latencies_overlap():
    with ThreadsBackend(10) as backend:
        batch = backend.run(sleep_task, [0.2] * 10)
    assert min(batch.arrival_s) >= 0.2 - 1e-3
    # ten overlapping 0.2 s waits end long before the 2 s they take one after another
    assert quantiles.percentile(batch.arrival_s, 99) < 1.0


def test_fingerprint_has_every_field():
    fp = fingerprint.collect()
    machine, software = fp["machine"], fp["software"]
    for key in (
        "hostname",
        "cpu_model",
        "cpu_mhz",
        "logical_cores",
        "physical_cores",
        "cpu_affinity",
        "cgroup_cpu_max",
        "cgroup_memory_max",
        "memory_bytes",
        "os",
        "os_release",
        "kernel",
        "machine",
    ):
        assert key in machine, key
    assert machine["logical_cores"] >= 1 and machine["memory_bytes"] > 2**28
    assert machine["cpu_affinity"]
    for key in ("python", "python_implementation", "python_build", "packages", "git"):
        assert software[key], key
    for pkg in ("ray", "dask", "distributed", "numpy", "pandas", "pyarrow", "psutil"):
        assert software["packages"][pkg], pkg
    assert set(software["git"]) == {"commit", "dirty"}


timings = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(
    values=st.lists(timings | st.sampled_from([0.0, 1e-6, 0.001]), min_size=1, max_size=60),
    q=st.integers(0, 100) | st.floats(0, 100),
)
def test_the_case_process_percentile_is_numpys_to_the_last_bit(values, q):
    """The latency pass's percentiles, without NumPy in the case process: the same numbers
    as numpy.percentile's default (linear) method, not merely close ones."""
    expected = float(np.percentile(np.asarray(values, dtype=float), q))
    assert quantiles.percentile(values, q) == expected


def test_the_case_process_percentile_edges_are_numpys():
    assert np.isnan(quantiles.percentile([], 50))
    assert np.isnan(quantiles.percentile([1.0, float("nan"), 2.0], 50))
    assert np.isnan(np.percentile([1.0, float("nan"), 2.0], 50))
    assert quantiles.percentile([3], 99) == 3.0
    with pytest.raises(ValueError):
        quantiles.percentile([1.0], 101)


#: Runs `python -m harness.execute.case_main` as the runner does (the case on stdin, events to an
#: fd), then reports what the process had imported once the case was over.
CASE_MAIN = """
import atexit, os, runpy, sys

def report():
    from harness import backends
    print(backends._entries is None, *sorted(sys.modules), flush=True)

atexit.register(report)
sys.argv = ["case_main", str(os.open(os.devnull, os.O_WRONLY))]
runpy.run_module("harness.execute.case_main", run_name="__main__", alter_sys=True)
"""


def test_a_case_process_imports_only_what_its_case_uses():
    """Every case is a fresh interpreter: what it imports is paid by every case (scipy.stats
    took 1.3 s of each case's 1.9 s here; NumPy, the eight workload modules and the scan of
    every distribution's entry points ~0.2 s more), so a real case process of the threads
    backend and the sleep workload loads none of them."""
    case = Case(
        scenario="t",
        workload="sleep",
        backend="threads",
        workers=2,
        tasks=4,
        params={"seconds": 0.001},
        repeat=2,
        warmup=1,
        timeout_s=60,
    )
    proc = subprocess.run(
        [sys.executable, "-c", CASE_MAIN],
        input=case.to_json(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # 0: the case ran to `done`
    not_scanned, *modules = proc.stdout.split()
    assert not_scanned == "True", "a built-in backend was looked up in every distribution"
    heavy = {"numpy", "scipy", "pandas", "pyarrow", "matplotlib", "seaborn"}
    assert not {m.split(".")[0] for m in modules} & heavy, modules
    assert "harness.measure.stats" not in modules
    own = {m for m in modules if m.startswith("harness.workloads.")}
    assert own == {"harness.workloads.registry", "harness.workloads.io"}, own


def test_a_workload_that_needs_numpy_has_it_before_the_baseline():
    """The echo workload makes NumPy payloads: its module no longer imports NumPy, so its
    `imports` bring it in beside the engine, before the memory baseline is read."""
    code = (
        "import sys\n"
        "from harness import workloads\nfrom harness.execute import case_process\n"
        "from harness.backends.threads import ThreadsBackend\n"
        "echo = workloads.get('echo')\n"
        "before = 'numpy' in sys.modules\n"
        "case_process._import_engine(ThreadsBackend, echo)\n"
        "print(before, 'numpy' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


def _gone(pid: int, within_s: float) -> bool:
    """Whether process `pid` has ended (a zombie counts: it runs nothing) within the time."""
    import time

    import psutil

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_node_sampler_is_a_process_of_its_own_that_always_ends():
    """Stopped, it reports the sampled tree; never stopped, it ends at its `max_s`; and it
    ends when the process that started it (a worker) dies."""
    import json
    import os

    from harness.measure import nodes

    hold = "import sys, time; x = b'x' * 2**26; print(1, flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        child.stdout.readline()  # 64 MiB written
        pid = nodes.start_sampling("stopped", [child.pid], 0.02, 600)
        assert pid not in (os.getpid(), child.pid) and not _gone(pid, 0.2)
        sample = nodes.stop_sampling("stopped")
        assert _gone(pid, 1)
        assert sample["peak_rss_bytes"] > 64 * 2**20 and sample["wall_s"] > 0
        assert nodes.stop_sampling("stopped") == {}  # once only
    finally:
        child.kill()
        child.wait()

    pid = nodes.start_sampling("forgotten", [os.getpid()], 0.02, 0.5)
    assert _gone(pid, 10), "a sampler nobody stopped outlived its max_s"
    assert nodes.stop_sampling("forgotten")["wall_s"] < 5  # what it saw until its end

    owner = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from harness.measure.nodes import start_sampling; "
            "print(start_sampling('t', [os.getpid()], 0.05, 600), flush=True); os._exit(0)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    orphan = int(json.loads(owner.stdout.strip().splitlines()[-1]))
    assert _gone(orphan, 10), "a sampler outlived the worker that started it"


# --- CPU time: schedstat's nanoseconds, and clock ticks where it is missing -----------------

#: Waits for a line, burns argv[1] seconds of CPU by its own clock (on CPU argv[2] alone when
#: given), says so, and waits for another line: read while alive, its times are still there.
BURN = """
import os, sys, time
if len(sys.argv) > 2:
    os.sched_setaffinity(0, {int(sys.argv[2])})
print("ready", flush=True)
sys.stdin.readline()
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    pass
print("done", flush=True)
sys.stdin.readline()
"""

needs_schedstat = pytest.mark.skipif(
    thread_schedstats(os.getpid()) is None, reason="this system gives no schedstat"
)


def _burners(seconds: float, cpus: list[int | None], proc: str = PROC) -> tuple[CpuUse, float]:
    """One child per entry of `cpus` burning `seconds` of CPU (pinned there unless None),
    all at once: what they used between a reading before the go and one after the last
    said done, and the wall time between the two."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", BURN, str(seconds), *([] if cpu is None else [str(cpu)])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for cpu in cpus
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == b"ready"
        ours = {child.pid for child in children}
        before = cpu_by_pid(tree(os.getpid()), proc)
        t0 = time.perf_counter()
        for child in children:
            child.stdin.write(b"\n")
            child.stdin.flush()
        for child in children:
            assert child.stdout.readline().strip() == b"done"
        wall = time.perf_counter() - t0
        after = cpu_by_pid(tree(os.getpid()), proc)
    finally:
        for child in children:
            child.communicate(b"\n", timeout=30)
    return cpu_between(before, after, lambda pid: pid in ours), wall


def _idlest_cpu() -> int:
    """The usable CPU that was idle longest over 0.2 s (someone else's benchmark may hold
    the other one)."""

    def idle() -> dict[int, int]:
        lines = Path("/proc/stat").read_text().splitlines()
        return {
            int(f[0][3:]): int(f[4])
            for f in (line.split() for line in lines)
            if f[0].startswith("cpu") and f[0] != "cpu"
        }

    first = idle()
    time.sleep(0.2)
    then = idle()
    return max(os.sched_getaffinity(0), key=lambda cpu: then[cpu] - first[cpu])


@needs_schedstat
def test_cpu_of_a_short_burst_is_read_in_nanoseconds():
    """20 ms of CPU, two ticks: schedstat reads it to the nanosecond, and the ratio the tick
    guard would withhold for so short a span is carried."""
    use, wall = _burners(0.02, [None])
    assert (use.processes, use.ticked) == (1, 0) and use.wait_s is not None
    assert 0.015 <= use.cpu_s <= 0.06, use
    ticks = use.cpu_s / TICK_S
    assert abs(ticks - round(ticks)) > 1e-6, f"{use.cpu_s} s is a whole number of ticks"
    assert cpu_ratio(use.cpu_s, 1, wall) is None  # the same span, read in ticks
    assert cpu_ratio(use.cpu_s, use.ticked, wall) == pytest.approx(use.cpu_s / wall)


@needs_schedstat
def test_two_busy_processes_on_one_core_wait_for_it_and_one_alone_does_not():
    """What cpu_wait_ratio reads: two processes pinned to one core each wait about as long
    as the other runs, about a second of wait per second of CPU; one alone there waits only
    for whatever else runs on the core (nothing, on an idle machine).

    Another load on the core makes both wait longer, by about the same time per CPU second
    (fair shares: w / r for one alone, 1 + w / r for each of two), so the pair is compared
    with the one alone, both read in turn three times."""
    cpu = _idlest_cpu()
    pairs, solos = [], []
    for _ in range(3):
        pairs.append(_burners(0.2, [cpu, cpu])[0])
        solos.append(_burners(0.2, [cpu])[0])
    pair = sum(u.wait_s for u in pairs) / sum(u.cpu_s for u in pairs)
    solo = sum(u.wait_s for u in solos) / sum(u.cpu_s for u in solos)
    assert pair > 0.5, pairs
    # On an idle core the pair waits about a second more per CPU second than the one alone;
    # a loaded machine (a parallel test run) narrows the gap but never closes it.
    assert solo < pair, (solos, pairs)


def test_cpu_falls_back_to_clock_ticks_where_schedstat_is_missing(tmp_path):
    """Pointed at a /proc without schedstat, readings are psutil's user plus system times:
    within two ticks of what was burned, no wait figure, and a ratio the ticks cannot carry
    withheld."""
    missing = str(tmp_path / "no-proc")
    readings = cpu_by_pid(tree(os.getpid()), missing)
    assert readings and all(r.threads is None for r in readings.values())
    use, _ = _burners(0.2, [None], proc=missing)
    assert (use.processes, use.ticked, use.wait_s) == (1, 1, None)
    assert 0.2 - 2 * TICK_S <= use.cpu_s <= 0.2 + 0.05, use
    # two ticks are more than 5% of a 0.2 s span: withheld, not guessed; of 1 s, carried
    assert cpu_ratio(use.cpu_s, use.ticked, 0.2) is None
    assert cpu_ratio(use.cpu_s, use.ticked, 1.0) == pytest.approx(use.cpu_s)


def test_a_thread_or_process_that_ended_between_readings_is_lost_not_negative():
    """A thread that burned CPU and ended, or a process that did, takes its time with it:
    the process's sum of threads drops, but the difference per thread never goes below 0,
    and the ended process is not counted."""
    me = os.getpid()
    halfway = threading.Event()
    read = threading.Event()

    tids: list[int] = []

    def burn() -> None:
        tids.append(threading.get_native_id())
        # burn until the first reading has seen this thread (on a loaded machine the
        # reader may not run for a while), then a little more, then end
        while not read.is_set() or time.thread_time() < 0.1:
            if time.thread_time() > 0.05:
                halfway.set()
        halfway.set()

    worker = threading.Thread(target=burn)
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
    )
    worker.start()
    halfway.wait(10)
    before = cpu_by_pid(tree(me))
    read.set()
    worker.join()
    child.communicate(b"\n", timeout=30)
    # join() returns before the OS thread is gone; its schedstat line goes with it
    for _ in range(200):
        if not os.path.exists(f"/proc/{me}/task/{tids[0]}"):
            break
        time.sleep(0.01)
    after = cpu_by_pid(tree(me))
    own = cpu_between(before, after, lambda pid: pid == me)
    assert own.processes == 1 and own.cpu_s >= 0 and (own.wait_s or 0) >= 0
    if after[me].threads is not None:  # the sum of live threads fell with the thread
        assert tids[0] in before[me].threads and tids[0] not in after[me].threads
        assert after[me].cpu_s < before[me].cpu_s + own.cpu_s
    assert child.pid in before and child.pid not in after
    gone = cpu_between(before, after, lambda pid: pid == child.pid)
    assert (gone.processes, gone.cpu_s) == (0, 0.0)


@needs_schedstat
def test_every_repeat_of_a_short_processes_case_has_cpu_util_and_cpu_wait():
    """Repeats of ~0.1 s on two processes: too short for clock ticks (three processes x two
    ticks > 5% of 0.2 s), every one of them has cpu_util, and cpu_wait_ratio beside it."""
    case = Case(
        scenario="cpu-test",
        workload="spin",
        backend="processes",
        workers=2,
        tasks=10,
        params={"task_s": 0.01, "total_s": 0.1},
        repeat=3,
        warmup=1,
        timeout_s=120,
    )
    outcome = run_case(case, run_id="cpu-test")
    assert outcome.status == "ok", outcome.error
    m = outcome.measurements
    for name in ("cpu_util", "cpu_wait_ratio"):
        values = m[m["metric"] == name].set_index("repeat")["value"]
        assert sorted(values.index) == [1, 2, 3], (name, m)
        assert ((values >= 0) & (values < 1.5)).all(), values
