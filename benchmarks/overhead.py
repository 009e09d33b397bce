"""The harness's own overhead: tiny tasks through the harness vs a bare loop, side by side.

For each backend, a bare hand-written loop (benchmarks/bare.py) and the harness's case
runner take turns in the same run, each in a fresh process, on the `identity` workload.
Two tables:
- throughput: the ratio harness/bare of tasks/s says what the harness costs, with its
  interval over fresh processes (each round one bare process and one harness process,
  each summarised by the median of its repeats; Welch's t on their logs, as the harness's
  own speedups): the goal is that the harness's cost cannot be told from zero, every
  interval reaching 1.0;
- round trips: the harness's `rtt_p50_s` (one task alone in flight, through its timing
  wrapper) against the median of a hand loop of `ray.get(f.remote(x))`,
  `client.submit(f, x).result()`, `executor.submit(f, x).result()`; the goal is agreement
  within 2x either way.
Not a test: this machine is shared and noisy, so the figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.case import Case
from harness.execute.case_runner import run_case
from harness.measure import stats

HERE = Path(__file__).resolve().parent
#: harness rtt / hand-loop rtt must lie within [1 / RTT_GOAL, RTT_GOAL].
RTT_GOAL = 2.0
#: Round trips per side and round (the harness's own cap: RTT_TASKS in case_process).
RTT_TASKS = 200
#: Tasks per repeat, so that one repeat lasts a good fraction of a second on a laptop core.
TASKS = {
    "sequential": 5_000_000,
    "threads": 100_000,
    "processes": 1_000_000,
    "dask": 3_000,
    "ray": 5_000,
}


def bare(backend: str, workers: int, tasks: int, repeats: int, *flags: str) -> list[float]:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "bare.py"),
            backend,
            str(workers),
            str(tasks),
            str(repeats),
            *flags,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def harnessed(backend: str, workers: int, tasks: int, repeats: int) -> list[float]:
    return _case(backend, workers, tasks, repeats).metric("tasks_per_s").tolist()


def harnessed_rtt(backend: str, workers: int, tasks: int) -> float:
    """The harness's rtt_p50_s of `tasks` identity round trips (its repeat is one small batch)."""
    return float(_case(backend, workers, tasks, 1).metric("rtt_p50_s").iloc[0])


def _case(backend: str, workers: int, tasks: int, repeats: int):
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
    return outcome


def throughput_table(args: argparse.Namespace, console: Console) -> None:
    level = stats.DEFAULT_LEVEL
    table = Table(
        "backend",
        "tasks",
        "bare tasks/s",
        "harness tasks/s",
        "harness/bare",
        f"interval ({stats.level_text(level)})",
        "cost",
        title=f"overhead: identity tasks, {args.workers} workers, {args.rounds} fresh "
        f"processes a side x {args.repeats} repeats",
        header_style="bold",
    )
    told = []
    for backend in args.backends.split(","):
        tasks = args.tasks or TASKS.get(backend, 2000)
        b, h = [], []
        for _ in range(args.rounds):  # alternate, so drift of the machine hits both alike
            b.append(statistics.median(bare(backend, args.workers, tasks, args.repeats)))
            h.append(statistics.median(harnessed(backend, args.workers, tasks, args.repeats)))
        ratio = statistics.median(h) / statistics.median(b)
        ci = stats.process_ratio_interval(h, b, level)
        has = math.isfinite(ci.low)
        apart = has and not ci.low <= 1.0 <= ci.high
        verdict = (
            "[yellow]no interval[/]"
            if not has
            else "[green]not told from 0[/]"
            if not apart
            else "[red]harness slower[/]"
            if ci.high < 1.0
            else "[yellow]harness faster: check the bare loop[/]"
        )
        if apart:
            told.append(backend)
        table.add_row(
            backend,
            f"{tasks:,}",
            f"{statistics.median(b):,.0f}",
            f"{statistics.median(h):,.0f}",
            f"{ratio:.2f}",
            f"{ci.low:.2f}-{ci.high:.2f}" if has else "-",
            verdict,
        )
        console.print(
            f"{backend}: bare {statistics.median(b):,.0f}/s, harness "
            f"{statistics.median(h):,.0f}/s, ratio {ratio:.2f} ({ci.low:.2f}-{ci.high:.2f}, "
            f"{stats.level_text(level)}, {args.rounds} processes a side)"
        )
    console.print(table)
    console.print(
        "every interval reaches 1.0: the harness's cost cannot be told from zero"
        if not told
        else f"intervals apart from 1.0 on {', '.join(told)}: see the cost column"
    )


def rtt_table(args: argparse.Namespace, console: Console) -> None:
    """Median round trip per side: the hand loop's over all its round trips, the harness's
    rtt_p50_s per round (each from RTT_TASKS round trips), median over rounds."""
    table = Table(
        "backend",
        "hand loop rtt p50",
        "harness rtt p50",
        "harness/hand",
        "goal",
        title=f"round trips: identity, one task in flight, {args.workers} workers, "
        f"{args.rounds} rounds x {RTT_TASKS} tasks a side",
        header_style="bold",
    )
    for backend in args.rtt_backends.split(","):
        b: list[float] = []
        h: list[float] = []
        for _ in range(args.rounds):
            b += bare(backend, args.workers, RTT_TASKS, 1, "--rtt")
            h.append(harnessed_rtt(backend, args.workers, RTT_TASKS))
        hand, ours = statistics.median(b), statistics.median(h)
        ratio = ours / hand
        met = 1 / RTT_GOAL <= ratio <= RTT_GOAL
        table.add_row(
            backend,
            f"{hand * 1e6:,.0f} µs",
            f"{ours * 1e6:,.0f} µs",
            f"{ratio:.2f}",
            "[green]met[/]" if met else "[red]missed[/]",
        )
        console.print(
            f"{backend}: hand {hand * 1e6:,.0f} µs, harness {ours * 1e6:,.0f} µs, ratio {ratio:.2f}"
        )
    console.print(table)
    console.print(f"goal: harness/hand within {1 / RTT_GOAL:g}..{RTT_GOAL:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sequential,threads,processes,dask,ray")
    parser.add_argument("--rtt-backends", default="threads,processes,dask,ray")
    parser.add_argument("--what", default="throughput,rtt", help="throughput, rtt or both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=0, help="tasks per repeat (0: per backend)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=4, help="fresh processes a side: bare/harness alternations"
    )
    args = parser.parse_args()
    console = Console()
    what = set(args.what.split(","))
    if "throughput" in what:
        throughput_table(args, console)
    if "rtt" in what:
        rtt_table(args, console)


if __name__ == "__main__":
    main()
