"""The article's claims beside this machine's measurements, from result frames only.

`claims_table(df)` returns one row per claim of the article (its comparison table, its
example timings, its race-condition example): what the article says, what was measured
here (and in which scenario), and whether the measurement supports the claim on this
machine. A claim whose scenario is not among the runs says so ("no data") rather than
guessing. `harness claims RUN_DIR...` prints it with `advice.recommendations`; the report
can carry the same frame as a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness import results
from harness.analysis import advice, summaries
from harness.analysis.summaries import BASELINE
from harness.measure import stats
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

COLUMNS = ["aspect", "article", "measured", "figure", "verdict", "basis", "scenario", "python"]
SUPPORTS, PARTLY, DIFFERS, UNDECIDED, NO_BASIS, NO_DATA, NOT_MEASURED = (
    "supports",
    "partly",
    "differs",
    "not decided",
    "no basis",
    "no data",
    "not measured",
)


@dataclass
class Finding:
    """What one claim's measurement found, and why the verdict is what it is."""

    measured: str  # this machine's numbers, in words
    verdict: str
    figure: str  # the figure (with its interval) that decided the verdict
    basis: str  # the rule, in the claim's own words


@dataclass
class Claim:
    aspect: str
    article: str
    #: Scenarios that can answer, best first ("a|b"), or all that are present together
    #: ("a+b"); empty: no benchmark can.
    scenario: str
    measure: Callable[[pd.DataFrame], Finding | None] | None


def claims_table(df: pd.DataFrame) -> pd.DataFrame:
    """The article's comparison table and example timings beside the measured values.

    Columns: aspect, article (what it claims), measured (this machine's numbers), figure
    (the figure and interval that decided), verdict (supports, partly, differs, not decided,
    no basis, no data, not measured), basis (the rule applied), scenario (which answered),
    python (the interpreter the verdict holds for). Each claim reads the first of its
    scenarios present in `df`. Runs of several interpreters get a verdict per interpreter
    (the GIL claims may hold on one build and not on another), next to each other; a claim
    no interpreter has data for is one row.
    """
    pythons = sorted(df["python"].astype(str).unique()) if "python" in df and len(df) else []
    if len(pythons) <= 1:
        return _claims_rows(df, pythons[0] if pythons else "")
    parts = {py: _claims_rows(df[df["python"].astype(str) == py], py) for py in pythons}
    rows = []
    for i in range(len(CLAIMS)):
        found = [part.iloc[i].to_dict() for part in parts.values()]
        measured = [r for r in found if r["verdict"] not in (NO_DATA, NOT_MEASURED)]
        if measured:
            rows += measured
        else:
            rows.append({**found[0], "python": ""})
    return pd.DataFrame(rows, columns=COLUMNS).reset_index(drop=True)


def _claims_rows(df: pd.DataFrame, python: str) -> pd.DataFrame:
    with advice.same_frames():  # each scenario's case table is made once for all its claims
        return _rows_of_claims(df, python)


def _rows_of_claims(df: pd.DataFrame, python: str) -> pd.DataFrame:
    rows = []
    scenarios = {name: part for name, part in df.groupby("scenario", observed=True)}
    for claim in CLAIMS:
        found: Finding | None = None
        source = claim.scenario.replace("|", " or ") or "-"
        if claim.measure is not None and "+" in claim.scenario:  # every one present answers
            present = [n for n in claim.scenario.split("+") if n in scenarios]
            source = " + ".join(present) or claim.scenario.replace("+", " or ")
            part = pd.concat([scenarios[n] for n in present]) if present else None
            found = claim.measure(part) if part is not None else None
        elif claim.measure is not None:
            present = [n for n in claim.scenario.split("|") if n in scenarios]
            found = claim.measure(scenarios[present[0]]) if present else None
            if found is not None:  # name the scenario that answered, not every candidate
                source = present[0]
        if found is None:
            verdict = NO_DATA if claim.measure is not None else NOT_MEASURED
            found = Finding("-", verdict, "-", "-")
        rows.append(
            {
                "aspect": claim.aspect,
                "article": claim.article,
                "measured": found.measured,
                "figure": found.figure,
                "verdict": found.verdict,
                "basis": found.basis,
                "scenario": source,
                "python": python if found.verdict not in (NO_DATA, NOT_MEASURED) else "",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


# --- deciding with intervals ----------------------------------------------------------------

Check = bool | None  # True: holds, False: fails, None: the interval straddles the threshold


def at_least(low: float, high: float, threshold: float) -> Check:
    """Holds when the whole interval is at or above the threshold, fails when below it."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return True if low >= threshold else False if high < threshold else None


def at_most(low: float, high: float, threshold: float) -> Check:
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return True if high <= threshold else False if low > threshold else None


def decide(checks: list[Check]) -> str:
    """All hold: supports; all fail: differs; some of each: partly; otherwise not decided."""
    known = [c for c in checks if c is not None]
    if len(known) == len(checks) and all(known):
        return SUPPORTS
    if known and not any(known) and len(known) == len(checks):
        return DIFFERS
    if any(known) and not all(known):
        return PARTLY
    return UNDECIDED


def usable_cpus(df: pd.DataFrame) -> int | None:
    """The fewest CPUs any case of these runs could use (affinity, cgroup quota)."""
    values = df.loc[df["metric"] == Metric.USABLE_CPUS, "value"]
    return int(values.min()) if not values.empty else None


def _no_parallelism(df: pd.DataFrame) -> Finding | None:
    cpus = usable_cpus(df)
    if cpus is not None and cpus < 2:
        return Finding(
            f"{cpus} usable CPU (affinity or cgroup quota)",
            NO_BASIS,
            f"usable_cpus = {cpus}",
            "parallel speed-up needs at least 2 usable CPUs; this run had one",
        )
    return None


def within(low: float, high: float, bounds: tuple[float, float]) -> Check:
    """Holds when the whole interval lies within the bounds, fails when wholly outside."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    if low >= bounds[0] and high <= bounds[1]:
        return True
    return False if high < bounds[0] or low > bounds[1] else None


#: Why a claim has no verdict when a side has one process.
ONE_PROCESS_BASIS = "one process a case: its repeats cannot decide; run --rounds 3 or more"


def _one_process(row: pd.Series) -> bool:
    return str(row.get("speedup_ci_scope", "")) == summaries.ONE_PROCESS


def _speedup(row: pd.Series) -> str:
    """'processes w2 speedup 1.90x (1.85-1.95, 95%, 3 processes)': the figure, its interval."""
    low, high = row.get("speedup_ci_low", np.nan), row.get("speedup_ci_high", np.nan)
    level = row.get("speedup_ci_level", row.get("ci_level", np.nan))
    text = f"{row['label']} w{int(row['workers'])} speedup {row['speedup']:.2f}x"
    if np.isfinite(low) and np.isfinite(high):
        text += f" ({low:.2f}-{high:.2f}"
        text += f", {stats.level_text(level)}" if np.isfinite(level) else ""
        scope = str(row.get("speedup_ci_scope", "") or "")
        text += f", {scope})" if scope else ")"
    else:
        text += " (no interval: too few repeats)"
    return text


def _speedup_bounds(row: pd.Series, scale: float = 1.0) -> tuple[float, float]:
    """The speedup interval, scaled; none (NaN) from one process, so no verdict is made."""
    if _one_process(row):
        return np.nan, np.nan
    low = row.get("speedup_ci_low", np.nan)
    high = row.get("speedup_ci_high", np.nan)
    return float(low) / scale, float(high) / scale


def _ratio_figure(text: str, ci: stats.Interval, n: int, fmt: str) -> str:
    """`text` with the ratio's interval over processes, or why it has none."""
    if not np.isfinite(ci.low):
        return f"{text} (no interval: {n} process a side)"
    return f"{text} ({ci.low:{fmt}}-{ci.high:{fmt}}, {stats.level_text(ci.level)}, {n} processes)"


def _values(df: pd.DataFrame, row: pd.Series, metric: str) -> np.ndarray:
    """One value of `metric` per process of the case `row` is."""
    sub = df[
        (df["metric"] == metric) & (df["status"] == "ok") & (df["case_id"] == row["case_id"])
        & (df["run_id"] == row["run_id"])
    ]  # fmt: skip
    return summaries.process_values(sub)


def _interval_text(ci: stats.Interval, fmt: Callable[[float], str], n: int) -> str:
    if not np.isfinite(ci.low):
        return f"no interval ({n} process{'es' if n != 1 else ''})"
    return f"{fmt(ci.low)} to {fmt(ci.high)}, {stats.level_text(ci.level)}, {n} processes"


# --- measurements behind each claim -----------------------------------------------------

#: "threads ~8 KB": a thread's cost is kilobytes, not megabytes.
THREAD_MEMORY_MAX = 256 * 1024
#: "processes ~30-50 MB": within a factor of two of the article's range.
PROCESS_MEMORY = (15e6, 100e6)


def _memory(df: pd.DataFrame) -> Finding | None:
    metric = summaries.memory_metric(df)
    slopes = _slopes_per_process(df, metric)
    if "threads" not in slopes or not any(k.startswith("processes") for k in slopes):
        return None
    checks: list[Check] = []
    parts, figures = [], []
    for label, values in slopes.items():
        if label != "threads" and not label.startswith("processes"):
            continue
        ci = stats.mean_interval(values)
        centre = float(np.mean(values))
        if label == "threads":
            checks.append(at_most(ci.low, ci.high, THREAD_MEMORY_MAX))
        elif centre <= 0:  # never shown as a measurement: it cannot be one
            parts.append(f"{label} not measurable ({metric} fell as workers were added)")
            checks.append(None)
            continue
        else:
            checks.append(within(ci.low, ci.high, PROCESS_MEMORY))
        parts.append(f"{label} {_per_worker_text(centre, _bytes)}")
        figures.append(f"{label} {_interval_text(ci, _bytes, len(values))}")
    kind = "PSS: shared pages split among sharers" if metric == Metric.PEAK_PSS_BYTES else "USS"
    return Finding(
        "per added worker: " + ", ".join(parts),
        decide(checks),
        f"slope of {metric} over worker counts ({kind}), one per process: " + "; ".join(figures),
        f"threads' interval below {_bytes(THREAD_MEMORY_MAX)}; processes' within "
        f"{_bytes(PROCESS_MEMORY[0])}-{_bytes(PROCESS_MEMORY[1])} (the article's 30-50 MB, x2)",
    )


def _slopes_per_process(df: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    """Per backend label: the slope of `metric` over worker counts, once per round (the
    cases of one round are paired: each slope comes from fresh processes of its own)."""
    table = advice.ok_cases(df)
    if table.empty:
        return {}
    table = table[table["backend"] != BASELINE]
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    per = sub.groupby(["run_id", "case_id", "round"], observed=True)["value"].median()
    out: dict[str, list[float]] = {}
    for label, group in table.groupby("label"):
        if group["workers"].nunique() < 2:
            continue
        by_round: dict[tuple, list[tuple[float, float]]] = {}
        for r in group.itertuples():
            if (r.run_id, r.case_id) not in per.index.droplevel("round"):
                continue
            for rnd, value in per.loc[(r.run_id, r.case_id)].items():
                by_round.setdefault((r.run_id, rnd), []).append((float(r.workers), value))
        slopes = [
            float(np.polyfit([w for w, _ in points], [v for _, v in points], 1)[0])
            for points in by_round.values()
            if len({w for w, _ in points}) >= 2
        ]
        if slopes:
            out[str(label)] = slopes
    return out


#: "threads fast (ms)": start-up of a few milliseconds at most.
THREAD_START_MAX = 0.010
#: "processes slow (100s of ms)": from 100 ms up to a second.
PROCESS_START = (0.100, 1.0)


def _creation(df: pd.DataFrame) -> Finding | None:
    """Start-up of the smallest pool (the cost of creating workers at all), its interval
    over processes, and the slope per added worker."""
    fit = advice.per_worker(df, None, Metric.STARTUP_S)
    table = advice.ok_cases(df)
    threads = _smallest(table, "threads")
    procs = [r for label in sorted(set(table.get("label", []))) if label.startswith("processes")
             if (r := _smallest(table, label, by_label=True)) is not None]  # fmt: skip
    if threads is None or not procs or fit.empty:
        return None
    checks: list[Check] = []
    figures = []
    for row in [threads, *procs]:
        values = _values(df, row, Metric.STARTUP_S)
        ci = stats.process_interval(values)
        bounds = (0.0, THREAD_START_MAX) if row["backend"] == "threads" else PROCESS_START
        checks.append(within(ci.low, ci.high, bounds))
        figures.append(f"{row['label']} {_interval_text(ci, _seconds, len(values))}")
    first = ", ".join(f"{r['label']} {_seconds(r['startup_s'])}" for r in [threads, *procs])
    added = ", ".join(
        f"{r['label']} {_per_worker_text(r['per_worker'], _seconds)}" for _, r in fit.iterrows()
    )
    first_w = int(threads["workers"])
    return Finding(
        f"start-up with {first_w} worker(s): {first}; each added worker: {added}",
        decide(checks),
        f"start-up with the fewest workers, median over processes: {'; '.join(figures)}",
        f"threads' interval at most {_seconds(THREAD_START_MAX)}; processes' within "
        f'{_seconds(PROCESS_START[0])} to {_seconds(PROCESS_START[1])} ("100s of ms")',
    )


def _smallest(table: pd.DataFrame, name: str, by_label: bool = False) -> pd.Series | None:
    """The case of a backend (or a label) with the fewest workers."""
    if table.empty:
        return None
    sub = table[table["label"] == name] if by_label else table[
        (table["backend"] == name) & (table["variant"] == "")
    ]  # fmt: skip
    if sub.empty:
        return None
    return sub.loc[sub["workers"].idxmin()]


def _communication(df: pd.DataFrame) -> Finding | None:
    """Serialization's cost where it shows: payload round trips (transfer), one large array
    every task reads, passed by value (broadcast), and an all-to-all exchange (shuffle).
    Each scenario present gives one check; together they decide."""
    checks = (_transfer_check(df), _graph_check(df, "broadcast", "size_bytes"),
              _graph_check(df, "shuffle", "partition_bytes"))  # fmt: skip
    found = [f for f in checks if f is not None]
    if not found:
        return None
    return Finding(
        "; ".join(f.measured for f in found),
        decide([f.check for f in found]),
        "; ".join(f.figure for f in found),
        "threads' interval at least 2x processes at the largest payload: bytes/s of round "
        "trips (transfer), wall time of a broadcast by value and of a shuffle",
    )


@dataclass(frozen=True)
class _Evidence:
    measured: str
    check: Check
    figure: str


def _transfer_check(df: pd.DataFrame) -> _Evidence | None:
    table = advice.ok_cases(df, "transfer")
    if table.empty or Metric.BYTES_PER_S not in table:
        return None
    table = table.dropna(subset=[Metric.BYTES_PER_S])
    if "param_kind" in table and (table["param_kind"] == "bytes").any():
        table = table[table["param_kind"] == "bytes"]
    if "param_payload_bytes" not in table:
        return None
    biggest = table[table["param_payload_bytes"] == table["param_payload_bytes"].max()]
    by = biggest.groupby("label")[Metric.BYTES_PER_S].median()
    threads = _at_max_workers(biggest, "threads")
    procs = _at_max_workers(biggest, "processes")
    if threads is None or procs is None:
        return None
    t_values, p_values = (
        _values(df, threads, Metric.BYTES_PER_S),
        _values(df, procs, Metric.BYTES_PER_S),
    )
    ci = stats.process_ratio_interval(t_values, p_values)
    ratio = threads[Metric.BYTES_PER_S] / procs[Metric.BYTES_PER_S]
    parts = ", ".join(f"{label} {_bytes(v)}/s" for label, v in by.sort_values().items())
    size = _bytes(table["param_payload_bytes"].max())
    n = min(len(t_values), len(p_values))
    figure = _ratio_figure(f"threads/processes bytes/s {ratio:.1f}x", ci, n, ".1f")
    return _Evidence(f"{size} round trips: {parts}", at_least(ci.low, ci.high, 2.0), figure)


def _graph_check(df: pd.DataFrame, scenario: str, size_param: str) -> _Evidence | None:
    """Processes' wall over threads' at the scenario's largest size (by value for
    broadcast): how much longer moving the data through pickles took."""
    table = advice.ok_cases(df, scenario)
    column = results.PARAM_PREFIX + size_param
    if table.empty or column not in table:
        return None
    if "param_pass_by" in table:
        table = table[table["param_pass_by"] == "value"]
    biggest = table[table[column] == table[column].max()]
    threads = _at_max_workers(biggest, "threads")
    procs = _at_max_workers(biggest, "processes")
    if threads is None or procs is None:
        return None
    p_values, t_values = _values(df, procs, Metric.WALL_S), _values(df, threads, Metric.WALL_S)
    ci = stats.process_ratio_interval(p_values, t_values)
    ratio = procs["median"] / threads["median"]
    what = "by value " if scenario == "broadcast" else ""
    n = min(len(t_values), len(p_values))
    return _Evidence(
        f"{scenario} {what}of {_bytes(biggest[column].max())}: threads "
        f"{_seconds(threads['median'])}, processes {_seconds(procs['median'])}",
        at_least(ci.low, ci.high, 2.0),
        _ratio_figure(f"{scenario} processes/threads wall {ratio:.1f}x", ci, n, ".1f"),
    )


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


def _race(df: pd.DataFrame) -> Finding | None:
    lost = _counter_metric(df, locked=False)
    if lost is None or "threads" not in lost.index:
        return None
    parts = ", ".join(f"{label} {ratio:.1%}" for label, ratio in lost.items())
    return Finding(
        f"updates lost unlocked: {parts}",
        SUPPORTS if lost["threads"] > 0.01 else DIFFERS,
        f"threads lost {lost['threads']:.1%} (median over repeats)",
        "the article's ~25% lost: supports when threads lose more than 1%",
    )


def _lock_fixes(df: pd.DataFrame) -> Finding | None:
    """Every repeat of every process must lose nothing: a lock that failed in two repeats
    of five is not a lock that works, whatever the median says."""
    locked = _counter_metric(df, locked=True, how="max")
    if locked is None:
        return None
    return Finding(
        "updates lost locked, worst repeat: "
        + ", ".join(f"{k} {v:.0%}" for k, v in locked.items()),
        SUPPORTS if (locked == 0).all() else DIFFERS,
        f"largest loss in any repeat {locked.max():.1%}",
        "every backend loses no update under its lock, in every repeat",
    )


def _counter_metric(df: pd.DataFrame, locked: bool, how: str = "median") -> pd.Series | None:
    sub = df[(df["metric"] == Metric.LOST_UPDATE_RATIO) & (df["status"] == "ok")]
    if sub.empty or "param_locked" not in sub:
        return None
    sub = sub[sub["param_locked"].astype(bool) == locked]
    if sub.empty:
        return None
    return advice.labelled(sub).groupby("label")["value"].agg(how)


CLAIMS = [
    Claim("memory per unit", "threads ~8 KB, processes ~30-50 MB", "memory|startup|cpu|io",
          _memory),
    Claim("creation time", "threads fast (ms), processes slow (100s of ms)",
          "startup|memory|cpu|io", _creation),
    Claim("communication", "threads fast (shared memory), processes slow (serialization)",
          "transfer+broadcast+shuffle", _communication),
    Claim("CPU parallelism", "threads limited (GIL), processes true parallelism", "gil|cpu",
          _cpu_parallelism),
    Claim("synchronization", "threads complex (locks, races), processes simple", "", None),
    Claim("debugging", "threads difficult, processes easier", "", None),
    Claim("example: I/O", "sequential ~6 s, threading ~2 s (3 URLs)", "io-http|io", _io_example),
    Claim("example: CPU", "sequential ~4 s, multiprocessing ~1 s (4 cores)", "cpu", _cpu_example),
    Claim("example: GIL", "single thread ~5 s, two threads ~5 s (not faster)", "gil",
          _gil_example),
    Claim("example: race", "counter expected 200,000, actual ~150,000 (lost updates)",
          "shared-state", _race),
    Claim("example: lock", "with a lock the counter is correct", "shared-state", _lock_fixes),
    Claim("asyncio", "consider asyncio for many I/O operations", "io-http|io", _asyncio),
]  # fmt: skip


# --- helpers -----------------------------------------------------------------------------


def _row(fit: pd.DataFrame, label: str) -> pd.Series | None:
    hit = fit[fit["label"] == label]
    return hit.iloc[0] if not hit.empty else None


def _at_max_workers(table: pd.DataFrame, backend: str) -> pd.Series | None:
    if table.empty:
        return None
    sub = table[(table["backend"] == backend) & (table["variant"] == "")]
    if sub.empty:
        return None
    top = sub[sub["workers"] == sub["workers"].max()]
    return top.loc[top["median"].idxmin()]


def _per_worker_text(value: float, fmt: Callable[[float], str]) -> str:
    """A cost per added worker; one that fell as workers were added is noise, not a cost."""
    return fmt(value) if value > 0 else "no measurable growth"


def _bytes(value: float) -> str:
    return fmt_bytes(value)


def _seconds(value: float) -> str:
    return fmt_seconds(value)
