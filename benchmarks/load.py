"""Load: a sweep of 150 cases and a case of 100,000 tiny tasks, through the real CLI.

Watches the harness's own process (not the case processes it starts) and reports its
peak RSS: a harness that runs for hours must not grow with the number of cases or tasks.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness import results

HARNESS = str(Path(sys.executable).parent / "harness")

SWEEP = """
name = "load-sweep"
description = "150 small cases: 50 parameter values x (sequential, threads at 1 and 2)"
workload = "sleep"
tasks = 4
backends = ["sequential", "threads"]
workers = [1, 2]
repeat = 2
warmup = 0
rounds = 1
timeout_s = 60
[sweep]
seconds = [{values}]
"""

TINY = """
name = "load-tiny"
description = "one case of 100,000 identity tasks per backend"
workload = "identity"
tasks = 100000
backends = ["threads", "processes"]
workers = [2]
repeat = 3
warmup = 1
rounds = 1
timeout_s = 600
"""


def watch(args: list[str]) -> tuple[float, int, float]:
    """Run the CLI; returns (seconds, peak RSS of the harness process itself, exit code)."""
    started = time.perf_counter()
    proc = subprocess.Popen([HARNESS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    me = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, me.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"harness {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return time.perf_counter() - started, peak, proc.returncode


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        values = ", ".join(f"{0.0001 * (i + 1):.4f}" for i in range(50))
        (folder / "sweep.toml").write_text(SWEEP.format(values=values))
        (folder / "tiny.toml").write_text(TINY)
        for name in ("sweep", "tiny"):
            out = folder / f"out-{name}"
            seconds, peak, _ = watch(["run", str(folder / f"{name}.toml"), "--out", str(out)])
            df = results.load(str(out / "*"))
            cases = df.groupby("case_id")["status"].first()
            processes = df[df["metric"] == "elapsed_s"].shape[0]
            print(
                f"{name}: {len(cases)} cases ({(cases == 'ok').sum()} ok), {processes} case "
                f"processes, in {seconds:.0f} s ({seconds / processes:.2f} s a process); "
                f"harness peak RSS {peak / 2**20:.0f} MiB"
            )


if __name__ == "__main__":
    main()
