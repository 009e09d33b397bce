"""Shared fixtures. Engines are real: a run starts real pools, a Dask LocalCluster and Ray.

Tests about what is done with measurements (compare, report, claims, export) read stored
runs instead: real quick runs kept under tests/fixtures/runs/ (see make_fixtures.py there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent
HARNESS = str(BIN / "harness")
REPO = Path(__file__).resolve().parent.parent
#: Stored runs: one folder per run, named for what it holds (`make fixtures` remakes them).
STORED = REPO / "tests" / "fixtures" / "runs"


def stored_run(name: str) -> Path:
    """A stored run, read in place: tests that change a run copy it (`stored_copy`)."""
    path = STORED / name
    assert (path / "run.json").is_file(), f"no stored run {name!r}: run `make fixtures`"
    return path


def stored_copy(name: str, to: Path) -> Path:
    """A copy of a stored run at `to`, for a test that damages or extends it."""
    shutil.copytree(stored_run(name), to)
    return to


#: Every harness the tests start carries this in its environment, and so does every process
#: it starts: leftovers are found by it, without mistaking other runs on the machine for ours.
MARK = "HARNESS_TEST_MARK"
SESSION_MARK = uuid.uuid4().hex


def harness(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 900,
    mark: str = SESSION_MARK,
    env: dict[str, str] | None = None,
):
    """Run the CLI as a user would, `env` added to ours; returns the CompletedProcess."""
    return subprocess.run(
        [HARNESS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {}), MARK: mark},
    )


def marked(mark: str = SESSION_MARK) -> list[psutil.Process]:
    """Live processes started by a harness that carried this mark."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


@pytest.fixture(scope="session")
def cpu_run(tmp_path_factory) -> Path:
    """One quick run of the cpu scenario across all five backends, shared by many tests."""
    out = tmp_path_factory.mktemp("results")
    proc = harness("run", "cpu", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir
