"""The harness's own overhead: tiny tasks through the harness vs a bare loop, side by side.

For each backend, a bare hand-written loop (benchmarks/bare.py) and the harness's case
runner take turns in the same run, each in a fresh process, on the `identity` workload.
The ratio harness/bare of median tasks/s says what the harness costs; the goal is >= 0.9.
Not a test: this machine is shared and noisy, so the figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.case_runner import run_case
from harness.spec import Case

HERE = Path(__file__).resolve().parent
GOAL = 0.9
#: Tasks per repeat, so that one repeat lasts a good fraction of a second on a laptop core.
TASKS = {
    "sequential": 5_000_000,
    "threads": 100_000,
    "processes": 1_000_000,
    "dask": 3_000,
    "ray": 5_000,
}


def bare(backend: str, workers: int, tasks: int, repeats: int) -> list[float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "bare.py"), backend, str(workers), str(tasks), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def harnessed(backend: str, workers: int, tasks: int, repeats: int) -> list[float]:
    case = Case(
        scenario="overhead",
        workload="identity",
        backend=backend,
        workers=workers if backend != "sequential" else 1,
        tasks=tasks,
        params={},
        repeat=repeats,
        warmup=1,
        timeout_s=600,
    )
    outcome = run_case(case, run_id="overhead")
    if outcome.status != "ok":
        raise SystemExit(f"{backend}: {outcome.status}: {outcome.error}")
    return outcome.metric("tasks_per_s").tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sequential,threads,processes,dask,ray")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=0, help="tasks per repeat (0: per backend)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="bare/harness alternations")
    args = parser.parse_args()
    console = Console()
    table = Table(
        "backend",
        "tasks",
        "bare tasks/s",
        "harness tasks/s",
        "harness/bare",
        "goal",
        title=f"overhead: identity tasks, {args.workers} workers, "
        f"{args.rounds} rounds x {args.repeats} repeats",
        header_style="bold",
    )
    worst = float("inf")
    for backend in args.backends.split(","):
        tasks = args.tasks or TASKS.get(backend, 2000)
        b, h = [], []
        for _ in range(args.rounds):  # alternate, so drift of the machine hits both alike
            b += bare(backend, args.workers, tasks, args.repeats)
            h += harnessed(backend, args.workers, tasks, args.repeats)
        ratio = statistics.median(h) / statistics.median(b)
        worst = min(worst, ratio)
        table.add_row(
            backend,
            f"{tasks:,}",
            f"{statistics.median(b):,.0f}",
            f"{statistics.median(h):,.0f}",
            f"{ratio:.2f}",
            "[green]met[/]" if ratio >= GOAL else "[red]missed[/]",
        )
        console.print(
            f"{backend}: bare {statistics.median(b):,.0f}/s, harness "
            f"{statistics.median(h):,.0f}/s, ratio {ratio:.2f}"
        )
    console.print(table)
    console.print(f"worst ratio {worst:.2f} (goal >= {GOAL})")


if __name__ == "__main__":
    main()
