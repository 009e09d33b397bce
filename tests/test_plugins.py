"""A backend from another installed package works like a built-in one.

The package is real as importlib.metadata sees it: a module plus a `<name>.dist-info` with
METADATA and entry_points.txt in a folder on PYTHONPATH, no mock of the registry. The CLI
runs as a user's would, and its case processes inherit PYTHONPATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import harness

from harness import backends, results, spec
from harness.analysis import summaries
from harness.output.reports import style

PLUGIN = "thread_per_task"
DIST = "harness-thread-per-task"

MODULE = '''
"""One new thread per task, at most `workers` alive at once: no pool to reuse."""

import threading
import time

from harness.backends.base import Backend, Batch, InProcessSharing


class ThreadPerTaskBackend(InProcessSharing, Backend):
    name = "thread_per_task"
    strategy = "one threading.Thread per task under a BoundedSemaphore(workers)"
    engine_module = "threading"
    color = "#000000"
    display_order = 15  # between threads (10) and processes (20)

    def start(self):
        self._limit = threading.BoundedSemaphore(self.workers)
        done = threading.Event()
        threading.Thread(target=done.set).start()
        done.wait(10)

    def run(self, task, inputs):
        outputs, arrival, errors = [None] * len(inputs), [0.0] * len(inputs), []
        t0 = time.perf_counter()

        def one(i, item):
            try:
                outputs[i] = task(item)
            except BaseException as exc:
                errors.append(exc)
            finally:
                arrival[i] = time.perf_counter() - t0
                self._limit.release()

        threads = []
        for i, item in enumerate(inputs):
            self._limit.acquire()
            threads.append(threading.Thread(target=one, args=(i, item)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return Batch(outputs, arrival)

    def stop(self):
        pass


class MyPoolBackend(ThreadPerTaskBackend):
    name = "my-pool"
    color = "#444444"
'''


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[harness.backends]\n{entry_points}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding four installed distributions: a working backend, one named with a
    hyphen as package names are, one whose module does not exist, and one that claims a
    built-in's name."""
    site = tmp_path_factory.mktemp("site")
    (site / "harness_thread_per_task.py").write_text(MODULE)
    _dist(site, DIST, f"{PLUGIN} = harness_thread_per_task:ThreadPerTaskBackend")
    _dist(site, "harness-my-pool", "my-pool = harness_thread_per_task:MyPoolBackend")
    _dist(site, "harness-broken", "broken = harness_no_such_module:Nope")
    _dist(site, "harness-clash", "threads = harness_thread_per_task:ThreadPerTaskBackend")
    return site


@pytest.fixture
def installed(site, monkeypatch):
    """The plugin folder on this process's path, the registry read again; undone after."""
    monkeypatch.syspath_prepend(str(site))
    backends.reload()
    yield
    monkeypatch.undo()
    backends.reload()


def test_registry_loads_plugins_and_reports_broken_ones(installed):
    assert PLUGIN in backends.NAMES and PLUGIN in backends.DEFAULT
    assert "broken" not in backends.NAMES
    assert backends.origin(PLUGIN) == f"{DIST} 0.1"
    # the built-in keeps its name; the clash and the broken module are one line each
    assert backends.get("threads").strategy == "ThreadPoolExecutor.map"
    problems = backends.problems()
    assert len(problems) == 2, problems
    broken, clash = sorted(problems)
    assert "'broken'" in broken and "cannot be loaded" in broken and "ModuleNotFound" in broken
    assert "'threads'" in clash and "harness-clash" in clash
    with pytest.raises(KeyError, match="cannot be loaded"):
        backends.get("broken")


def test_a_backend_named_with_a_hyphen_is_accepted_by_specs(installed):
    assert "my-pool" in backends.NAMES
    data = {
        "name": "hyphen",
        "description": "d",
        "workload": "sleep",
        "tasks": 2,
        "backends": ["my-pool"],
        "workers": [1],
        "params": {"seconds": 0.001},
    }
    (case,) = spec.expand(spec.validate(data, "spec", []))
    assert case.backend == "my-pool" and case.case_id.startswith("hyphen/my-pool/w1")
    # a scenario of "all" backends takes a new one by its entry point alone
    assert "my-pool" in spec.validate({**data, "backends": "all"}, "spec", []).backends


def test_plugin_colour_and_place_come_from_its_class(installed):
    names = ["ray", PLUGIN, "sequential", "processes", "threads"]
    assert style.order(names) == ["sequential", "threads", PLUGIN, "processes", "ray"]
    assert style.palette([PLUGIN])[PLUGIN] == "#000000"
    # The case table sorts by the same order.
    rows = [
        {"run_id": "r", "scenario": "s", "params": "{}", "backend": b, "workers": 1} for b in names
    ]
    table = pd.DataFrame(rows)
    ordered = table.sort_values(
        ["run_id", "scenario", "params", "backend", "workers"], key=summaries._backend_order
    )
    assert list(ordered["backend"]) == style.order(names)


def test_backends_not_installed_here_keep_one_colour_in_every_figure():
    """A run from a machine with a plugin this one lacks: its colour does not depend on
    which other backends share a figure."""
    alone = style.palette(["not_installed"])["not_installed"]
    assert style.palette(["x_other", "not_installed", "threads"])["not_installed"] == alone
    assert style.order(["not_installed", "ray", "sequential"])[-1] == "not_installed"


def test_listing_backends_never_imports_an_engine():
    code = (
        "import sys; sys.argv = ['harness', 'list']\n"
        "from harness.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('ray', 'distributed', 'dask') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_a_plugin_backend_lists_runs_shows_reports_and_compares_like_a_builtin(site, tmp_path):
    env = {"PYTHONPATH": str(site)}
    listed = harness("list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{PLUGIN} ({DIST} 0.1)" in listed.stdout
    warnings = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(warnings) == 2 and any("'broken'" in w for w in warnings), listed.stderr

    bad = harness("run", "cpu", "--quick", "--backends", "broken", env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "cannot be loaded" in bad.stderr

    out = tmp_path / "results"
    ran = harness(
        "run",
        "cpu",
        "--quick",
        "--backends",
        f"sequential,{PLUGIN}",
        "--out",
        str(out),
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    df = results.load(run_dir)
    cases = summaries.case_status(df)
    assert set(cases["backend"]) == {"sequential", PLUGIN}
    assert set(cases["status"]) == {"ok"}, cases[["case_id", "status", "error"]]
    assert sorted(cases.loc[cases["backend"] == PLUGIN, "workers"]) == [1, 2]
    info = json.loads((run_dir / results.RUN_JSON).read_text())
    assert info["engines"][PLUGIN]["strategy"].startswith("one threading.Thread per task")
    table = summaries.case_table(df)
    assert (table.loc[table["backend"] == PLUGIN, "speedup"] > 0).all()

    shown = harness("show", str(run_dir), env=env)
    assert shown.returncode == 0 and PLUGIN in shown.stdout, shown.stderr
    # Where the plugin is not installed the run still reads.
    elsewhere = harness("show", str(run_dir))
    assert elsewhere.returncode == 0 and PLUGIN in elsewhere.stdout, elsewhere.stderr

    pdf = tmp_path / "report.pdf"
    reported = harness("report", str(run_dir), "-o", str(pdf), env=env, timeout=300)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000

    compared = harness("compare", str(run_dir), str(run_dir), "--format", "json", env=env)
    assert compared.returncode == 0, compared.stderr
    compared_cases = json.loads(compared.stdout)["cases"]
    assert {r["backend"] for r in compared_cases} == {"sequential", PLUGIN}
