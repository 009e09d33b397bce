"""Hand-written loops, one per engine, with no harness around them: the overhead baseline.

Usage: python benchmarks/bare.py BACKEND WORKERS TASKS REPEATS  -> prints JSON tasks/s list.
Each is the engine's idiomatic fastest way to map a tiny function over inputs.
"""

from __future__ import annotations

import json
import os
import sys
import time

# The same importable function the harness runs: defined in __main__ it would be pickled
# by value with every task, which is the script's cost, not the engine's.
from harness.tasks import identity  # noqa: E402


def chunks(n: int, workers: int) -> int:
    c, extra = divmod(n, workers * 4)
    return max(1, c + (1 if extra else 0))


def measure(run, xs, repeats: int) -> list[float]:
    assert run(xs) == xs  # warm-up, checked
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run(xs)
        out.append(len(xs) / (time.perf_counter() - t0))
        assert result == xs
    return out


def main() -> None:
    backend, workers, tasks, repeats = sys.argv[1], *map(int, sys.argv[2:5])
    xs = list(range(tasks))
    if backend == "sequential":
        rates = measure(lambda v: [identity(x) for x in v], xs, repeats)
    elif backend == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            rates = measure(lambda v: list(ex.map(identity, v)), xs, repeats)
    elif backend == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            rates = measure(
                lambda v: list(ex.map(identity, v, chunksize=chunks(len(v), workers))), xs, repeats
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
            rates = measure(
                lambda v: client.gather(client.map(identity, v, pure=False)), xs, repeats
            )
    elif backend == "ray":
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
        remote = ray.remote(identity)
        try:
            rates = measure(lambda v: ray.get([remote.remote(x) for x in v]), xs, repeats)
        finally:
            ray.shutdown()
    else:
        raise SystemExit(f"unknown backend {backend}")
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
