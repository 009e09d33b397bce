"""Each backend against its real engine: correct outputs, every worker ready, clean stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import listening, not_on_loopback

from harness import backends, workloads
from harness.spec import tomllib  # tomli before 3.11
from harness.workloads import registry

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


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


def test_builtin_backends_resolve_from_a_table_that_says_what_pyproject_registers():
    """A case process finds its built-in backend in `BUILTINS`, reading no metadata: the
    table must name exactly the entry points pyproject.toml (so the metadata) declares."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][backends.GROUP]
    assert backends.BUILTINS == declared
    assert {n: r.value for n, r in backends._scan().items() if r.builtin} == declared
    for name in declared:
        assert backends.get(name).name == name


IMPORT_EVERY_MODULE = """
import json, pkgutil
from importlib import import_module
import harness.workloads as package
from harness.workloads import registry
for info in pkgutil.iter_modules(package.__path__):
    import_module(f"harness.workloads.{info.name}")
print(json.dumps(sorted(registry.WORKLOADS)))
"""


def test_builtin_workloads_are_named_like_entry_points_and_imports_register_nothing():
    """Each built-in is "module:OBJECT" (`BUILTINS`), resolved to a Workload of that name;
    importing every workload module in a fresh interpreter registers nothing by itself."""
    for name, ref in registry.BUILTINS.items():
        module, attr = ref.split(":")
        assert registry.get(name).name == name and attr == name.upper(), ref
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    # and nothing a module defines is left out of the table
    import pkgutil
    from importlib import import_module

    import harness.workloads as package
    from harness.workloads import Workload

    defined = {
        obj.name
        for info in pkgutil.iter_modules(package.__path__)
        for obj in vars(import_module(f"harness.workloads.{info.name}")).values()
        if isinstance(obj, Workload)
    }
    assert defined == set(registry.BUILTINS)
