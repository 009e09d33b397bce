"""Each backend against its real engine: correct outputs, every worker ready, clean stop."""

from __future__ import annotations

import os

import psutil
import pytest
from conftest import listening, not_on_loopback

from harness import backends, workloads


def children() -> set[int]:
    """Our descendants, less multiprocessing's resource tracker (it lives as long as we do)."""
    return {
        p.pid
        for p in psutil.Process(os.getpid()).children(recursive=True)
        if "resource_tracker" not in " ".join(p.cmdline())
    }


# asyncio runs coroutines (tests/test_scenarios.py); every other backend runs plain tasks.
@pytest.mark.parametrize("name", backends.DEFAULT)
def test_backend_runs_tasks_correctly_and_stops_clean(name):
    before = children()
    workload = workloads.get("sum_of_squares")
    params = workload.params(n=20_000)
    inputs = workload.inputs(params, 6)
    cls = backends.get(name)
    backend = cls(1 if not cls.scalable else 2)
    with backend:
        batch = backend.run(workload.task, inputs)
        assert batch.outputs == workload.expected(params, inputs)
        assert len(batch.arrival_s) == 6 and all(a >= 0 for a in batch.arrival_s)
        pids = backend.worker_pids()
        if name in ("processes", "loky", "dask", "ray"):
            # start() returned only once every worker had run a task
            assert len(set(pids)) == 2 and os.getpid() not in pids
        # a local engine's servers (scheduler, GCS, raylet, workers) bind to 127.0.0.1 only
        assert not_on_loopback(listening(children())) == set()
        # identical inputs are not deduplicated: the tiny identity tasks all come back
        ids = backend.run(workloads.get("identity").task, list(range(50)))
        assert ids.outputs == list(range(50))
    leftover = psutil.wait_procs(
        [psutil.Process(p) for p in children() - before if psutil.pid_exists(p)], timeout=10
    )[1]
    assert leftover == []


def test_registry_rejects_unknown_names():
    with pytest.raises(KeyError, match="unknown backend 'gpu'"):
        backends.get("gpu")
    with pytest.raises(KeyError, match="unknown workload"):
        workloads.get("eval")
