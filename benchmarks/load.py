"""Load: a sweep of 150 cases and a case of 100,000 tiny tasks, through the real CLI; and
what one case process costs beyond its timed work.

Watches the harness's own process (not the case processes it starts) and reports its
peak RSS: a harness that runs for hours must not grow with the number of cases or tasks.

The per-process cost is read from a budgeted run of one-task cases: the processes the
budget buys (warm-up and repeats only) each say how long they took from the runner's
start of the process to its end (`elapsed_s`), how long the engine took to start
(`startup_s`) and stop (`teardown_s`), and the batches' own walls. What is left is what the
harness adds: the interpreter, its imports, the events and the runner's clean-up.
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


PER_PROCESS = """
name = "load-process"
description = "one trivial task a repeat: a case process's cost beyond its work"
workload = "sum_of_squares"
tasks = 1
backends = ["sequential", "processes", "dask", "ray"]
workers = [2]
repeat = 1
warmup = 0
rounds = 1
timeout_s = 120
reference = false
[params]
n = 10
"""


def per_process(folder: Path) -> None:
    """Median seconds per budget-bought process, whole and beyond the engine and the work."""
    (folder / "process.toml").write_text(PER_PROCESS)
    out = folder / "out-process"
    for backend in ("sequential", "processes", "dask", "ray"):  # a budget each: all get some
        watch(
            [
                "run",
                str(folder / "process.toml"),
                "--out",
                str(out),
                "--backends",
                backend,
                "--budget",
                "25s",
                "--precision",
                "0.1%",
            ]
        )
    df = results.load(str(out / "*"))
    extra = df[df["round"] > 1]
    wide = extra.pivot_table(
        index=["backend", "round"], columns="metric", values="value", aggfunc="sum"
    )
    engine = wide.get("startup_s", 0).fillna(0) + wide.get("teardown_s", 0).fillna(0)
    wide["added_s"] = wide["elapsed_s"] - engine - wide["wall_s"]
    for backend, rows in wide.groupby(level="backend"):
        print(
            f"per process ({backend}, {len(rows)} processes the budget bought): "
            f"{rows['elapsed_s'].median():.3f} s in all, engine start and stop "
            f"{engine.loc[backend].median():.3f} s, harness {rows['added_s'].median():.3f} s"
        )


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
        per_process(folder)


if __name__ == "__main__":
    main()
