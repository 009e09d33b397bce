"""Running at once: CPU work under the GIL, the article's I/O, CPU and GIL examples, and
asyncio against threads.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis import advice
from harness.analysis.claims.rules import (
    DIFFERS,
    PARTLY,
    Finding,
    _at_max_workers,
    _interval_text,
    _no_parallelism,
    _ratio_figure,
    _seconds,
    _speedup,
    _speedup_bounds,
    _values,
    at_least,
    at_most,
    decide,
    usable_cpus,
)
from harness.analysis.summaries import BASELINE
from harness.measure import stats
from harness.protocol import Metric


def _cpu_parallelism(df: pd.DataFrame) -> Finding | None:
    table = advice.ok_cases(df)
    threads = _at_max_workers(table, "threads")
    procs = _at_max_workers(table, "processes")
    if threads is None or procs is None:
        return None
    blocked = _no_parallelism(df)
    if blocked is not None:
        return blocked
    possible = min(int(procs["workers"]), usable_cpus(df) or int(procs["workers"]))
    checks = [
        at_most(*_speedup_bounds(threads), 1.3),
        at_least(*_speedup_bounds(procs, possible), 0.7),
    ]
    return Finding(
        f"threads w{int(threads['workers'])} {threads['speedup']:.2f}x, processes "
        f"w{int(procs['workers'])} {procs['speedup']:.2f}x of {possible}x possible",
        decide(checks),
        f"{_speedup(threads)}; {_speedup(procs)}",
        "threads' speedup interval at most 1.3x; processes' at least 70% of "
        "min(workers, usable CPUs)",
    )


def _io_example(df: pd.DataFrame) -> Finding | None:
    table = advice.ok_cases(df)
    seq = _at_max_workers(table, BASELINE)
    threads = _at_max_workers(table, "threads")
    if seq is None or threads is None:
        return None
    ideal = float(min(threads["workers"], threads["tasks"]))
    low, high = _speedup_bounds(threads)
    checks = [at_least(low, high, 0.7 * ideal)]
    verdict = decide(checks)
    if verdict == DIFFERS and at_least(low, high, 1.5):
        verdict = PARTLY
    return Finding(
        f"sequential {_seconds(seq['median'])}, threads w{int(threads['workers'])} "
        f"{_seconds(threads['median'])} ({threads['speedup']:.1f}x of {ideal:.0f}x possible)",
        verdict,
        _speedup(threads),
        "supports at 70% of min(workers, tasks) or more; partly from 1.5x",
    )


def _cpu_example(df: pd.DataFrame) -> Finding | None:
    table = advice.ok_cases(df)
    seq = _at_max_workers(table, BASELINE)
    procs = _at_max_workers(table, "processes")
    if seq is None or procs is None:
        return None
    blocked = _no_parallelism(df)
    if blocked is not None:
        return blocked
    possible = min(int(procs["workers"]), usable_cpus(df) or int(procs["workers"]))
    low, high = _speedup_bounds(procs)
    verdict = decide([at_least(low / possible, high / possible, 0.7)])
    if verdict == DIFFERS and at_least(low, high, 1.2):
        verdict = PARTLY
    return Finding(
        f"sequential {_seconds(seq['median'])}, processes w{int(procs['workers'])} "
        f"{_seconds(procs['median'])} ({procs['speedup']:.1f}x of {possible}x possible)",
        verdict,
        _speedup(procs),
        "the article's 4x on 4 cores: speedup at least 70% of min(workers, usable CPUs); "
        "partly from 1.2x",
    )


def _gil_example(df: pd.DataFrame) -> Finding | None:
    table = advice.ok_cases(df)
    threads = table[table["backend"] == "threads"] if not table.empty else table
    if threads.empty or threads["workers"].nunique() < 2:
        return None
    blocked = _no_parallelism(df)
    if blocked is not None:  # on one CPU nothing could be faster: the claim is not tested
        return blocked
    one = threads[threads["workers"] == threads["workers"].min()].iloc[0]
    many = threads[threads["workers"] == threads["workers"].max()].iloc[0]
    ratio = one["median"] / many["median"]
    # not faster: the speedup of N threads over one thread, both cases' processes varying
    one_values, many_values = _values(df, one, Metric.WALL_S), _values(df, many, Metric.WALL_S)
    ci = stats.process_ratio_interval(one_values, many_values)
    n = min(len(one_values), len(many_values))
    figure = _ratio_figure(f"{int(many['workers'])} threads over 1: {ratio:.2f}x", ci, n, ".2f")
    return Finding(
        f"1 thread {_seconds(one['median'])}, {int(many['workers'])} threads "
        f"{_seconds(many['median'])} ({ratio:.2f}x)",
        decide([at_most(ci.low, ci.high, 1.3)]),
        figure,
        "not faster: N threads' speedup over one thread at most 1.3x, whole interval",
    )


def _asyncio(df: pd.DataFrame) -> Finding | None:
    table = advice.ok_cases(df)
    aio = _at_max_workers(table, "asyncio")
    threads = _at_max_workers(table, "threads")
    if aio is None or threads is None:
        return None
    ratio = threads["median"] / aio["median"]
    t_values, a_values = _values(df, threads, Metric.WALL_S), _values(df, aio, Metric.WALL_S)
    ci = stats.process_ratio_interval(t_values, a_values)
    return Finding(
        f"asyncio w{int(aio['workers'])} {_seconds(aio['median'])}, threads "
        f"w{int(threads['workers'])} {_seconds(threads['median'])} (asyncio {ratio:.2f}x)",
        decide([at_least(ci.low, ci.high, 0.8)]),
        f"threads/asyncio wall {ratio:.2f}x, "
        + _interval_text(ci, lambda v: f"{v:.2f}x", min(len(t_values), len(a_values))),
        "asyncio at least 0.8x as fast as threads at the same concurrency, whole interval",
    )
