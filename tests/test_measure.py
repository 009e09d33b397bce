"""Measurement: memory of a process tree, latency percentiles, statistics, fingerprint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from harness import fingerprint
from harness.backends.sequential import SequentialBackend
from harness.backends.threads import ThreadsBackend
from harness.measure import stats
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
    p50 = stats.percentile(batch.arrival_s, 50)
    assert p50 == pytest.approx(np.percentile(batch.arrival_s, 50))
    assert p50 >= 0.1


def test_thread_latencies_overlap():
    with ThreadsBackend(10) as backend:
        batch = backend.run(sleep_task, [0.2] * 10)
    assert min(batch.arrival_s) >= 0.2 - 1e-3
    # ten overlapping 0.2 s waits end long before the 2 s they take one after another
    assert stats.percentile(batch.arrival_s, 99) < 1.0


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


def test_a_case_process_imports_no_scipy_or_pandas():
    """Every case is a fresh interpreter: what its modules import at load is paid per case
    (scipy.stats alone took 1.3 s of each case's 1.9 s here)."""
    code = "import sys, harness.case_process; print(*sorted(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = {name.split(".")[0] for name in proc.stdout.split()}
    assert not loaded & {"scipy", "pandas", "matplotlib", "seaborn"}, loaded
