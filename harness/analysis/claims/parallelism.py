"""Running at once: CPU work under the GIL, the article's I/O, CPU and GIL examples, and
asyncio against threads.

"Processes approach the core count" is a statement about contention: where the processes
were measured at two or more worker counts, the CPU-parallelism claim reads their serial
share, Amdahl's alpha, from the scaling fit (`analysis.scaling`) with its interval.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis import advice, scaling
from harness.analysis.claims.rules import (
    DIFFERS,
    PARTLY,
    Check,
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

#: Processes "approach the core count" when C of them give at least this share of C times
#: one's throughput (C: the most workers measured within the usable CPUs).
APPROACH = 0.8


def serial_bound(workers: float, share: float = APPROACH) -> float:
    """The largest serial share (Amdahl's alpha) with which `workers` still give `share` of
    `workers` times one's throughput: N / (1 + alpha (N - 1)) >= share N exactly when
    alpha <= (1 / share - 1) / (N - 1). At 80%: 0.25 for 2 workers, 0.083 for 4, 0.036 for 8.
    """
    return (1 / share - 1) / (workers - 1)


def _cpu_parallelism(df: pd.DataFrame) -> Finding | None:
    """Threads stay near 1x; processes approach the core count. Where the processes were
    measured at two or more worker counts within the usable CPUs, the second half reads
    their fitted serial share (`_serial_share`); else their speedup at the most workers."""
    table = advice.ok_cases(df)
    threads = _at_max_workers(table, "threads")
    procs = _at_max_workers(table, "processes")
    if threads is None or procs is None:
        return None
    blocked = _no_parallelism(df)
    if blocked is not None:
        return blocked
    cpus = usable_cpus(df)
    flat = at_most(*_speedup_bounds(threads), 1.3)
    measured = (
        f"threads w{int(threads['workers'])} {threads['speedup']:.2f}x, processes "
        f"w{int(procs['workers'])} {procs['speedup']:.2f}x"
    )
    fit = _processes_fit(df, cpus)
    if fit is not None:
        check, share, figure, rule = _serial_share(fit, cpus)
        return Finding(
            f"{measured}; processes' serial share {share:.3f}",
            decide([flat, check]),
            f"{_speedup(threads)}; {figure}",
            f"threads' speedup interval at most 1.3x; {rule}",
        )
    possible = min(int(procs["workers"]), cpus or int(procs["workers"]))
    return Finding(
        f"{measured} of {possible}x possible",
        decide([flat, at_least(*_speedup_bounds(procs, possible), APPROACH)]),
        f"{_speedup(threads)}; {_speedup(procs)}",
        f"threads' speedup interval at most 1.3x; processes' at least {APPROACH:.0%} of "
        "min(workers, usable CPUs) (one worker count of processes: no fit)",
    )


def _processes_fit(df: pd.DataFrame, cpus: int | None) -> pd.Series | None:
    """The scaling fit (`analysis.scaling`) of the processes' throughput over their worker
    counts up to the usable CPUs (past them processes share CPUs, and the flattening would
    read as contention), or None where fewer than two such counts were measured. Of several
    families (parameter sets), the one with the most worker counts, then processes."""
    sub = df[(df["backend"] == "processes") & (df["variant"].astype(str) == "")]
    if scaling.METRIC not in set(sub["metric"]):
        return None
    if cpus is not None:
        sub = sub[pd.to_numeric(sub["workers"], errors="coerce") <= cpus]
    fits = scaling.fit_scaling(sub)
    if fits.empty:
        return None
    ranked = fits.sort_values(["levels", "processes"], ascending=False, kind="stable")
    return ranked.iloc[0]


def _serial_share(fit: pd.Series, cpus: int | None) -> tuple[Check, float, str, str]:
    """Whether the processes' serial share lets C of them (the most measured, within the
    usable CPUs) give `APPROACH` of C x: its interval wholly at or below `serial_bound(C)`
    holds, wholly above fails, across it decides nothing; nor does an interval from one
    process's repeats, nor a superlinear curve (alpha pinned on its bound 0: for CPU work a
    sign that the one-worker case ran slow, not that the processes did well).

    The share is Amdahl's alpha; where the USL was chosen (a coherency cost measured) it is
    alpha + beta C, the share Amdahl's law would need at C, its interval from the ends of
    both intervals (wider than their joint one: it decides less often). Returns the check,
    the share, the figure and the rule."""
    c, levels, processes = float(fit["max_n"]), int(fit["levels"]), int(fit["processes"])
    bound = serial_bound(c)
    if fit["model"] == scaling.USL:
        name = f"USL alpha + {c:g} beta"
        value = fit["alpha"] + c * fit["beta"]
        low = fit["alpha_ci_low"] + c * fit["beta_ci_low"]
        high = fit["alpha_ci_high"] + c * fit["beta_ci_high"]
    else:
        name = "Amdahl's alpha"
        value = fit["amdahl_alpha"]
        low, high = fit["amdahl_alpha_ci_low"], fit["amdahl_alpha_ci_high"]
    figure = (
        f"processes' serial share ({name}) {value:.3f} ({low:.3f}-{high:.3f}, "
        f"{stats.level_text(fit['ci_level'])}, {levels} worker counts up to {c:g}, "
        f"{processes} processes)"
    )
    check = at_most(low, high, bound)
    if scaling.WITHIN_PROCESS in fit["flags"]:
        check = None
        figure += "; within 1 process: not decided, run --rounds 3 or more"
    elif scaling.SUPERLINEAR in fit["flags"]:
        check = None
        figure += (
            f"; superlinear (more than {c:g}x from {c:g} on CPU work: the one-worker case is "
            "suspect, alpha sits on its bound 0): not decided"
        )
    within = f"{cpus} usable CPUs" if cpus is not None else "usable CPUs unknown"
    rule = (
        f"processes' serial share (over {levels} worker counts up to {c:g}, {within}) at most "
        f"(1/{APPROACH:g} - 1)/({c:g} - 1) = {bound:.3f}, whole interval: then {c:g} processes "
        f"give {APPROACH:.0%} of {c:g}x or more"
    )
    if levels == 2:
        rule += (
            "; from 2 worker counts the share is their speedup restated (1 and 2: alpha = "
            "2/S(2) - 1): it cannot tell contention from coherency nor say anything past them"
        )
    return check, float(value), figure, rule


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
