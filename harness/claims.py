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

from harness import advice

COLUMNS = ["aspect", "article", "measured", "verdict", "scenario"]
SUPPORTS, PARTLY, DIFFERS, NO_DATA, NOT_MEASURED = (
    "supports",
    "partly",
    "differs",
    "no data",
    "not measured",
)


@dataclass
class Claim:
    aspect: str
    article: str
    #: Scenarios that can answer, best first ("a|b"); empty: no benchmark can.
    scenario: str
    measure: Callable[[pd.DataFrame], tuple[str, str] | None] | None


def claims_table(df: pd.DataFrame) -> pd.DataFrame:
    """The article's comparison table and example timings beside the measured values.

    Columns: aspect, article (what it claims), measured (this machine's numbers and where
    they come from), verdict (supports, partly, differs, no data, not measured), scenario.
    Each claim reads the first of its scenarios present in `df`.
    """
    rows = []
    for claim in CLAIMS:
        measured, verdict = "-", NOT_MEASURED
        source = claim.scenario.replace("|", " or ") or "-"
        if claim.measure is not None:
            present = [n for n in claim.scenario.split("|") if (df["scenario"] == n).any()]
            result = claim.measure(df[df["scenario"] == present[0]]) if present else None
            measured, verdict = result if result is not None else ("-", NO_DATA)
            if result is not None:  # name the scenario that answered, not every candidate
                source = present[0]
        rows.append(
            {
                "aspect": claim.aspect,
                "article": claim.article,
                "measured": measured,
                "verdict": verdict,
                "scenario": source,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


# --- measurements behind each claim -----------------------------------------------------


def _memory(df: pd.DataFrame) -> tuple[str, str] | None:
    fit = advice.per_worker(df, None, "peak_uss_bytes")
    threads = _row(fit, "threads")
    procs = fit[fit["label"].str.startswith("processes")]
    if threads is None or procs.empty:
        return None
    t_ok = threads["per_worker"] < 1 << 20  # KB-order, not MB-order
    p_ok = [15e6 <= v <= 100e6 for v in procs["per_worker"]]
    parts = [f"threads {_bytes(threads['per_worker'])}"] + [
        f"{r.label} {_bytes(r.per_worker)}" for r in procs.itertuples()
    ]
    measured = "per added worker: " + ", ".join(parts)
    if procs["label"].str.contains("fork]").any():
        # A forked child shares its parent's pages until either writes them: USS counts
        # them for nobody, so fork's figure reads low (even below zero) rather than wrong.
        measured += " (fork: copy-on-write pages are counted for no process)"
    return measured, _verdict([t_ok, *p_ok])


def _creation(df: pd.DataFrame) -> tuple[str, str] | None:
    """Start-up of the smallest pool (the cost of creating workers at all) and its slope."""
    fit = advice.per_worker(df, None, "startup_s")
    threads = _row(fit, "threads")
    procs = fit[fit["label"].str.startswith("processes")]
    if threads is None or procs.empty:
        return None
    others = fit[fit["label"].isin(["dask", "ray"])]
    rows = [threads, *(r for _, r in pd.concat([procs, others]).iterrows())]
    first_w = threads["workers"].split(",")[0]
    t_ok = threads["values"][0] < 0.01
    p_ok = [r["values"][0] >= 0.05 for _, r in procs.iterrows()]
    first = ", ".join(f"{r['label']} {_seconds(r['values'][0])}" for r in rows)
    added = ", ".join(f"{r['label']} {_seconds(r['per_worker'])}" for r in rows)
    measured = f"start-up with {first_w} worker(s): {first}; each added worker: {added}"
    return measured, _verdict([t_ok, *p_ok])


def _communication(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    if table.empty or "bytes_per_s" not in table:
        return None
    table = table.dropna(subset=["bytes_per_s"])
    table["size"] = [_param(p, "payload_bytes") for p in table["params"]]
    if "bytes" in {_param(p, "kind") for p in table["params"]}:
        table = table[[_param(p, "kind") == "bytes" for p in table["params"]]]
    biggest = table[table["size"] == table["size"].max()]
    by = biggest.groupby("label")["bytes_per_s"].median()
    if "threads" not in by or "processes" not in by:
        return None
    ratio = by["threads"] / by["processes"]
    parts = ", ".join(f"{label} {_bytes(v)}/s" for label, v in by.sort_values().items())
    measured = f"{_bytes(table['size'].max())} round trips: {parts}; threads/processes {ratio:.1f}x"
    return measured, SUPPORTS if ratio >= 2 else DIFFERS


def _cpu_parallelism(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    threads = _at_max_workers(table, "threads")
    procs = _at_max_workers(table, "processes")
    if threads is None or procs is None:
        return None
    t_ok = threads["speedup"] <= 1.3
    p_ok = procs["efficiency"] >= 0.7
    measured = (
        f"threads w{int(threads['workers'])} {threads['speedup']:.2f}x, "
        f"processes w{int(procs['workers'])} {procs['speedup']:.2f}x "
        f"(efficiency {procs['efficiency']:.0%})"
    )
    return measured, _verdict([t_ok, p_ok])


def _io_example(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    seq = _at_max_workers(table, "sequential")
    threads = _at_max_workers(table, "threads")
    if seq is None or threads is None:
        return None
    speedup = threads["speedup"]
    ideal = min(threads["workers"], threads["tasks"])
    measured = (
        f"sequential {_seconds(seq['median'])}, threads w{int(threads['workers'])} "
        f"{_seconds(threads['median'])} ({speedup:.1f}x of {ideal:.0f}x possible)"
    )
    return measured, SUPPORTS if speedup >= 0.7 * ideal else PARTLY if speedup > 1.5 else DIFFERS


def _cpu_example(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    seq = _at_max_workers(table, "sequential")
    procs = _at_max_workers(table, "processes")
    if seq is None or procs is None:
        return None
    measured = (
        f"sequential {_seconds(seq['median'])}, processes w{int(procs['workers'])} "
        f"{_seconds(procs['median'])} ({procs['speedup']:.1f}x, "
        f"efficiency {procs['efficiency']:.0%})"
    )
    eff = procs["efficiency"]
    return measured, SUPPORTS if eff >= 0.7 else PARTLY if procs["speedup"] > 1.2 else DIFFERS


def _gil_example(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    threads = table[table["backend"] == "threads"]
    if threads["workers"].nunique() < 2:
        return None
    one = threads[threads["workers"] == threads["workers"].min()].iloc[0]
    many = threads[threads["workers"] == threads["workers"].max()].iloc[0]
    ratio = one["median"] / many["median"]
    measured = (
        f"1 thread {_seconds(one['median'])}, {int(many['workers'])} threads "
        f"{_seconds(many['median'])} ({ratio:.2f}x)"
    )
    return measured, SUPPORTS if ratio < 1.3 else DIFFERS


def _asyncio(df: pd.DataFrame) -> tuple[str, str] | None:
    table = advice.ok_cases(df)
    aio = _at_max_workers(table, "asyncio")
    threads = _at_max_workers(table, "threads")
    if aio is None or threads is None:
        return None
    ratio = threads["median"] / aio["median"]
    measured = (
        f"asyncio w{int(aio['workers'])} {_seconds(aio['median'])}, threads "
        f"w{int(threads['workers'])} {_seconds(threads['median'])} (asyncio {ratio:.2f}x)"
    )
    return measured, SUPPORTS if ratio >= 0.8 else DIFFERS


def _race(df: pd.DataFrame) -> tuple[str, str] | None:
    lost = _counter_metric(df, locked=False)
    if lost is None or "threads" not in lost.index:
        return None
    parts = ", ".join(f"{label} {ratio:.1%}" for label, ratio in lost.items())
    measured = f"updates lost unlocked: {parts}"
    return measured, SUPPORTS if lost["threads"] > 0.01 else DIFFERS


def _lock_fixes(df: pd.DataFrame) -> tuple[str, str] | None:
    locked = _counter_metric(df, locked=True)
    if locked is None:
        return None
    measured = "updates lost locked: " + ", ".join(f"{k} {v:.0%}" for k, v in locked.items())
    return measured, SUPPORTS if (locked == 0).all() else DIFFERS


def _counter_metric(df: pd.DataFrame, locked: bool) -> pd.Series | None:
    sub = df[(df["metric"] == "lost_update_ratio") & (df["status"] == "ok")]
    sub = sub[[_param(p, "locked") is locked for p in sub["params"]]]
    if sub.empty:
        return None
    return advice.labelled(sub).groupby("label")["value"].median()


CLAIMS = [
    Claim("memory per unit", "threads ~8 KB, processes ~30-50 MB", "memory|startup|cpu|io",
          _memory),
    Claim("creation time", "threads fast (ms), processes slow (100s of ms)",
          "startup|memory|cpu|io", _creation),
    Claim("communication", "threads fast (shared memory), processes slow (serialization)",
          "transfer", _communication),
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


def _param(params: str, key: str):
    import json

    return json.loads(params).get(key)


def _verdict(checks: list[bool]) -> str:
    if all(checks):
        return SUPPORTS
    return PARTLY if any(checks) else DIFFERS


def _bytes(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    sign, value = ("-" if value < 0 else ""), abs(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{sign}{value:.3g} {unit}"
        value /= 1024
    return f"{sign}{value:.3g} GiB"


def _seconds(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value >= 1:
        return f"{sign}{value:.3g} s"
    if value >= 1e-3:
        return f"{sign}{value * 1e3:.3g} ms"
    return f"{sign}{value * 1e6:.3g} µs"


# --- rendering for the terminal -----------------------------------------------------------

VERDICT_STYLE = {SUPPORTS: "green", PARTLY: "yellow", DIFFERS: "red"}


def rich_tables(df: pd.DataFrame) -> list:
    """The claims table, the recommendations and the granularity crossover, as rich tables."""
    from rich.markup import escape
    from rich.table import Table

    claims = Table(title="The article's claims on this machine", header_style="bold")
    for column in ("aspect", "article", "measured here", "verdict", "scenario"):
        claims.add_column(column, overflow="fold")
    for row in claims_table(df).itertuples():
        style = VERDICT_STYLE.get(row.verdict, "dim")
        verdict = f"[{style}]{row.verdict}[/]"
        claims.add_row(row.aspect, row.article, escape(row.measured), verdict, row.scenario)
    tables = [claims]

    recs = advice.recommendations(df)
    if not recs.empty:
        table = Table(title="Recommendation per scenario", header_style="bold")
        for column in ("scenario", "params", "fastest", "by", "speedup", "least memory", "USS"):
            table.add_column(column, overflow="fold")
        for r in recs.itertuples():
            table.add_row(
                r.scenario,
                r.params if r.params != "{}" else "",
                escape(r.fastest),
                _seconds(r.value) if r.by == "wall_s" else f"{r.value:,.0f} {r.by}",
                f"{r.speedup:.2f}x" if np.isfinite(r.speedup) else "-",
                escape(r.least_memory),
                _bytes(r.least_memory_bytes),
            )
        tables.append(table)

    cross = advice.crossover(df)
    if not cross.empty:
        table = Table(
            title="Granularity: smallest task reaching 80% efficiency", header_style="bold"
        )
        for column in ("backend", "workers", "crossover", "best efficiency", "task durations"):
            table.add_column(column)
        for r in cross.itertuples():
            table.add_row(
                escape(r.label),
                str(r.workers),
                _seconds(r.crossover_s) if np.isfinite(r.crossover_s) else "not reached",
                f"{r.best_efficiency:.0%}",
                r.tried,
            )
        tables.append(table)
    return tables
