"""Hand-written loops, one per engine, with no harness around them: the overhead baseline.

Usage: python benchmarks/bare.py BACKEND WORKERS TASKS REPEATS [--rtt]
  -> prints a JSON list: tasks/s per repeat, or with --rtt the seconds of each of TASKS
     round trips (one task alone in flight: submit, wait for the result; after one warm-up).
Each is the engine's idiomatic fastest way to map a tiny function over inputs, and its
plain one-task call (`ray.get(f.remote(x))`, `client.submit(f, x).result()`,
`executor.submit(f, x).result()`: "single client tasks sync" in `ray microbenchmark`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The same importable function the harness runs: defined in __main__ it would be pickled
# by value with every task, which is the script's cost, not the engine's.
from harness.tasks import identity  # noqa: E402

Many = Callable[[list[int]], list[int]]
One = Callable[[int], int]


def chunks(n: int, workers: int) -> int:
    c, extra = divmod(n, workers * 4)
    return max(1, c + (1 if extra else 0))


def measure(run: Many, xs: list[int], repeats: int) -> list[float]:
    assert run(xs) == xs  # warm-up, checked
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run(xs)
        out.append(len(xs) / (time.perf_counter() - t0))
        assert result == xs
    return out


def round_trips(one: One, xs: list[int]) -> list[float]:
    assert one(-1) == -1  # warm-up, checked
    out = []
    for x in xs:
        t0 = time.perf_counter()
        result = one(x)
        out.append(time.perf_counter() - t0)
        assert result == x
    return out


@contextmanager
def engine(backend: str, workers: int) -> Iterator[tuple[Many, One]]:
    """The engine started by hand: its bulk call and its one-task call."""
    if backend == "sequential":
        yield (lambda v: [identity(x) for x in v]), identity
    elif backend == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            yield (lambda v: list(ex.map(identity, v))), (lambda x: ex.submit(identity, x).result())
    elif backend == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            yield (
                lambda v: list(ex.map(identity, v, chunksize=chunks(len(v), workers))),
                lambda x: ex.submit(identity, x).result(),
            )
    elif backend == "dask":
        import logging

        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.wait_for_workers(workers)
            yield (
                lambda v: client.gather(client.map(identity, v, pure=False)),
                lambda x: client.submit(identity, x, pure=False).result(),
            )
    elif backend == "ray":
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
        remote = ray.remote(identity)
        try:
            yield (
                lambda v: ray.get([remote.remote(x) for x in v]),
                lambda x: ray.get(remote.remote(x)),
            )
        finally:
            ray.shutdown()
    else:
        raise SystemExit(f"unknown backend {backend}")


def main() -> None:
    backend, workers, tasks, repeats = sys.argv[1], *map(int, sys.argv[2:5])
    rtt = "--rtt" in sys.argv[5:]
    xs = list(range(tasks))
    with engine(backend, workers) as (many, one):
        out: list[Any] = round_trips(one, xs) if rtt else measure(many, xs, repeats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
