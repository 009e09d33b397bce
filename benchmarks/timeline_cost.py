"""What the timeline pass adds to a case: stamped batch against plain batch, side by side.

The timeline pass is the latency pass's batch run with every task stamped, so what it adds
to a case is (a) the stamped batch's time over the plain batch the latency pass ran before,
and (b) once per case: building the task records and their metrics in the case process,
and in the runner decoding them and rewriting tasks.parquet. For each backend, on the cpu
and io scenarios' own tasks, one process starts the backend and alternates a plain batch
(`backend.run(task, inputs)`) with a stamped one (`_stamped_batch`), ROUNDS times each, so
the machine's drift hits both alike; (b) is timed on the records the stamped batches made.
The first stamped batch of a process is timed apart: where a wrapper must first be shipped
to the workers (a Ray remote function), that is a cost of the pass too. The case's own time
is a real case process of that scenario, backend and workers
(`elapsed_s`). Reported: the added seconds and their share of the case's time, against the
goal of at most 5%. Not a test: the machine is shared and noisy, so figures are reported,
never asserted.

    python benchmarks/timeline_cost.py [--backends threads,processes] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from harness import backends, results, workloads
from harness.case import Case
from harness.execute.case_runner import _tasks, run_case
from harness.execute.passes import stamped_batch as _stamped_batch
from harness.measure import timeline
from harness.protocol import TasksEvent, decode, encode

GOAL = 0.05
#: scenario -> (workload, params, tasks, workers): the full scenarios' cases at 2 workers.
SCENARIOS = {
    "cpu": ("sum_of_squares", {"n": 500_000}, 8, 2),
    "io": ("sleep", {"seconds": 0.05}, 32, 4),
}


def batches(
    backend_name: str, workload_name: str, params: dict, tasks: int, workers: int, rounds: int
) -> tuple[list[float], list[float], float]:
    """Plain and stamped batch seconds, alternated; and the once-per-case cost."""
    workload = workloads.get(workload_name)
    cls = backends.get(backend_name)
    backend = cls(workers if backend_name != "sequential" else 1)
    task = workload.async_task if cls.task_kind == "async" else workload.task
    inputs = workload.make_inputs(workload.params(**params), tasks)
    backend.start()
    try:
        backend.run(task, inputs)  # the repeats have shipped the task before the pass
        t0 = time.perf_counter()
        _stamped_batch(backend, task, inputs)  # the pass's first: the wrapper ships now
        first = time.perf_counter() - t0
        plain, stamped = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            backend.run(task, inputs)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, stamps, arrival, submit, start = _stamped_batch(backend, task, inputs)
            stamped.append(time.perf_counter() - t0)
        # Once per case: what the first stamped batch cost over a warm one, and the records.
        once = max(0.0, first - statistics.median(stamped))
        once += per_case_cost(stamps, arrival, submit, start, workers)
    finally:
        backend.stop()
    return plain, stamped, once


def per_case_cost(stamps, arrival, submit, t0, workers: int) -> float:
    """Records and shape in the case process; encode, decode, frame and parquet in the
    runner: everything the pass does once per case besides its batch."""
    import tempfile
    from pathlib import Path

    started = time.perf_counter()
    columns = timeline.records(stamps, arrival, submit, t0, None, 0)
    timeline.shape(columns, workers)
    event = decode(encode(TasksEvent(columns)))
    key = {
        "run_id": "r",
        "case_id": "c",
        "backend": "b",
        "workers": workers,
        "params": "{}",
        "round": 1,
        "scenario": "s",
        "variant": "",
    }
    frame = _tasks([event], key)
    with tempfile.TemporaryDirectory() as tmp:
        results.write_parquet_atomic(Path(tmp) / results.TASKS, frame)
    return time.perf_counter() - started


def case_seconds(backend: str, workload: str, params: dict, tasks: int, workers: int) -> float:
    """A real case process of the full scenario: its elapsed_s."""
    case = Case(
        scenario="timeline-cost",
        workload=workload,
        backend=backend,
        workers=workers if backend != "sequential" else 1,
        tasks=tasks,
        params=params,
        repeat=3,
        warmup=1,
        timeout_s=600,
    )
    outcome = run_case(case, run_id="timeline-cost")
    if outcome.status != "ok":
        raise SystemExit(f"{backend}: {outcome.status}: {outcome.error}")
    return float(outcome.metric("elapsed_s").iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sequential,threads,processes,loky,asyncio,dask,ray")
    parser.add_argument("--scenarios", default="cpu,io")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    console = Console(width=150)
    table = Table(
        "scenario",
        "backend",
        "workers",
        "plain batch",
        "stamped batch",
        "per case",
        "case time",
        "added",
        "share",
        "goal",
        title=f"timeline pass: stamped against plain batch, {args.rounds} of each, "
        "alternated in one process (medians)",
        header_style="bold",
    )
    for scenario in args.scenarios.split(","):
        workload, params, tasks, workers = SCENARIOS[scenario]
        for backend in args.backends.split(","):
            if backend == "asyncio" and workloads.get(workload).async_task is None:
                continue
            plain, stamped, once = batches(backend, workload, params, tasks, workers, args.rounds)
            whole = case_seconds(backend, workload, params, tasks, workers)
            added = max(0.0, statistics.median(stamped) - statistics.median(plain)) + once
            share = added / whole
            table.add_row(
                scenario,
                backend,
                str(workers),
                _ms(statistics.median(plain)),
                _ms(statistics.median(stamped)),
                _ms(once),
                f"{whole:.2f} s",
                _ms(added),
                f"{share:.1%}",
                "[green]within[/]" if share <= GOAL else "[red]over[/]",
            )
            console.print(
                f"{scenario} {backend}: plain {_ms(statistics.median(plain))}, "
                f"stamped {_ms(statistics.median(stamped))}, per case {_ms(once)}, "
                f"case {whole:.2f} s: {share:.1%}"
            )
    console.print(table)
    console.print(
        f"added = max(0, stamped - plain) + per case; share = added / the case's "
        f"elapsed_s; goal: at most {GOAL:.0%}"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
