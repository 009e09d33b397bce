"""Measurement: memory of a process tree, latency percentiles, statistics, fingerprint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import fingerprint
from harness.backends.sequential import SequentialBackend
from harness.backends.threads import ThreadsBackend
from harness.case import Case
from harness.measure import quantiles
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
    case = Case(scenario="t", workload="sleep", backend="threads", workers=2, tasks=4,
                params={"seconds": 0.001}, repeat=2, warmup=1, timeout_s=60)  # fmt: skip
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
        [sys.executable, "-c",
         "import os, sys; from harness.measure.nodes import start_sampling; "
         "print(start_sampling('t', [os.getpid()], 0.05, 600), flush=True); os._exit(0)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    orphan = int(json.loads(owner.stdout.strip().splitlines()[-1]))
    assert _gone(orphan, 10), "a sampler outlived the worker that started it"
