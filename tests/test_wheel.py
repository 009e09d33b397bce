"""The built wheel, installed in a fresh venv, works from an empty folder.

To keep the test to seconds, the fresh venv does not download or rebuild the dependencies
(Ray alone is hundreds of MB): a .pth file appends this venv's site-packages after the
fresh one's, the way `--system-site-packages` would. A .pth line adds a folder but runs
none of that folder's own .pth files, so the editable install of the checkout stays out:
the `harness` the fresh venv imports is the wheel's (asserted below).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import MARK, REPO, SESSION_MARK


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, MARK: SESSION_MARK},
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A venv with only the wheel installed (dependencies borrowed, see the module doc)."""
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy without the checkout's `build/`: setuptools adds what an earlier
    # build left there, so a module since moved would ship twice (a stale `analysis.py`
    # beside the `analysis/` package shadowed it).
    source = base / "source"
    shutil.copytree(
        REPO,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "results", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "-w",
            str(base / "w"),
            "--no-deps",
            "-q",
        ],
        cwd=base,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "w").glob("concurrency_harness-*.whl")
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base
    ).stdout.strip()
    (Path(site) / "zz-borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], base)
    assert installed.returncode == 0, installed.stderr
    return venv


def test_wheel_holds_the_scenarios_and_is_what_runs(fresh: Path, tmp_path: Path) -> None:
    where = _run(
        [str(fresh / "bin" / "python"), "-c", "import harness; print(harness.__file__)"],
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(fresh), where.stdout + where.stderr
    # PEP 561: without the marker, checkers ignore the annotations of an installed harness
    assert (Path(where.stdout.strip()).parent / "py.typed").is_file()
    listed = _run([str(fresh / "bin" / "harness"), "list"], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    shipped = sorted(p.stem for p in (REPO / "harness" / "scenarios").glob("*.toml"))
    assert len(shipped) >= 10
    for name in shipped:
        assert f"│ {name} " in listed.stdout, name


def test_wheel_runs_cpu_quick_from_an_empty_folder(fresh: Path, tmp_path: Path) -> None:
    proc = _run(
        [
            str(fresh / "bin" / "harness"),
            "run",
            "cpu",
            "--quick",
            "--backends",
            "sequential,threads",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    import pandas as pd

    frame = pd.read_parquet(run_dir / "measurements.parquet")
    assert set(frame["backend"]) == {"sequential", "threads"}
    assert set(frame["status"]) == {"ok"}
    # installed from the wheel, not set up from uv.lock: no lock to record
    info = json.loads((run_dir / "run.json").read_text())
    assert info["fingerprint"]["software"]["lock_sha256"] is None
