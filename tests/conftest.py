"""Shared fixtures. Engines are real: a run starts real pools, a Dask LocalCluster and Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent
HARNESS = str(BIN / "harness")
REPO = Path(__file__).resolve().parent.parent


def harness(*args: str, cwd: Path | None = None, timeout: float = 900):
    """Run the CLI as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [HARNESS, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO
    )


def engine_processes() -> list[psutil.Process]:
    """Ray and Dask processes alive on this machine (none should outlive a run)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(
            k in cmd
            for k in (
                "raylet",
                "gcs_server",
                "distributed.cli",
                "dask-worker",
                "dask worker",
                "harness.case_process",
                "default_worker.py",
            )
        ):
            found.append(proc)
    return found


@pytest.fixture(scope="session")
def cpu_run(tmp_path_factory) -> Path:
    """One quick run of the cpu scenario across all five backends, shared by many tests."""
    out = tmp_path_factory.mktemp("results")
    proc = harness("run", "cpu", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir
