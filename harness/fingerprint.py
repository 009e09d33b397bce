"""What machine and software a run measured: kept apart from timing, like pyperf's metadata."""

from __future__ import annotations

import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from harness.measure.software import package_versions

#: Recorded with every run, besides each registered backend's own (`Backend.packages`).
PACKAGES = (
    "concurrency-harness",
    "numpy",
    "pandas",
    "pyarrow",
    "psutil",
    "pydantic",
    "scipy",
    "seaborn",
    "matplotlib",
    "typer",
    "rich",
    "cloudpickle",
    "msgpack",
    "tornado",
)
REPO = Path(__file__).resolve().parent.parent
#: Written into the venv by the set-up (`make`): the sha256 of the uv.lock it installed.
LOCK_MARK = "lock.sha256"


def machine() -> dict[str, Any]:
    freq = psutil.cpu_freq()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_mhz": round(freq.current, 1) if freq else None,
        "cpu_mhz_max": round(freq.max, 1) if freq and freq.max else None,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_affinity": sorted(psutil.Process().cpu_affinity()),
        "cgroup_cpu_max": _read("/sys/fs/cgroup/cpu.max"),
        "cgroup_memory_max": _read("/sys/fs/cgroup/memory.max"),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.system(),
        "os_release": platform.release(),
        "kernel": platform.version(),
        "machine": platform.machine(),
    }


def software() -> dict[str, Any]:
    from harness import backends

    versions = package_versions(tuple(dict.fromkeys((*PACKAGES, *backends.packages()))))
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_build": " ".join(platform.python_build()),
        "python_compiler": platform.python_compiler(),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "executable": sys.executable,
        "packages": versions,
        "lock_sha256": lock_sha256(),
        "git": git_state(),
    }


def lock_sha256(prefix: str | Path | None = None) -> str | None:
    """The sha256 of the uv.lock this environment was installed from, as the set-up wrote
    it into the venv; None when it was installed otherwise (a wheel, pip on the ranges).

    Read from the environment, not hashed from the checkout: the checkout's lock may have
    moved on since the environment was synced, and its packages are the old lock's.
    """
    try:
        text = (Path(prefix or sys.prefix) / LOCK_MARK).read_text().strip()
    except OSError:
        return None
    return text if re.fullmatch(r"[0-9a-f]{64}", text) else None


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def collect() -> dict[str, Any]:
    return {"machine": machine(), "software": software()}


def short(fp: dict[str, Any]) -> str:
    """One line: host, CPU, cores, memory, Python."""
    m, s = fp.get("machine", {}), fp.get("software", {})
    mem = (m.get("memory_bytes") or 0) / 2**30
    return (
        f"{m.get('hostname')}: {m.get('cpu_model')}, {m.get('physical_cores')} cores / "
        f"{m.get('logical_cores')} threads, {mem:.0f} GiB, Python {s.get('python')}"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
