"""Moving data: threads share memory, processes pickle. Payload round trips (transfer), a
large array passed by value (broadcast) and an all-to-all exchange (shuffle).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness import results
from harness.analysis import advice
from harness.analysis.claims.rules import (
    Check,
    Finding,
    _at_max_workers,
    _bytes,
    _ratio_figure,
    _seconds,
    _values,
    at_least,
    decide,
)
from harness.measure import stats
from harness.protocol import Metric


def _communication(df: pd.DataFrame) -> Finding | None:
    """Serialization's cost where it shows: payload round trips (transfer), one large array
    every task reads, passed by value (broadcast), and an all-to-all exchange (shuffle).
    Each scenario present gives one check; together they decide."""
    checks = (
        _transfer_check(df),
        _graph_check(df, "broadcast", "size_bytes"),
        _graph_check(df, "shuffle", "partition_bytes"),
    )
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
