"""Shared fixtures. Engines are real: a run starts real pools, a Dask LocalCluster and Ray."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent
HARNESS = str(BIN / "harness")
REPO = Path(__file__).resolve().parent.parent


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
