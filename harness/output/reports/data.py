"""What a report is drawn from: the frames of its runs, and a label per machine.

Runs from different machines are told apart by host and fingerprint. Two runs on one host
(a run limited with `taskset`, or the same machine before and after an upgrade) are told
apart by their CPU count, and failing that by run id, so they are still drawn side by side.
Interpreters are drawn side by side the same way: when the runs hold more than one Python,
each (machine, Python) pair is a panel of its own, labelled "Python 3.13.0" (one machine)
or "vm, Python 3.13.0".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from harness.analysis import summaries


def _cpus(info: dict[str, Any]) -> int | None:
    machine = info.get("fingerprint", {}).get("machine", {})
    affinity = machine.get("cpu_affinity")
    return len(affinity) if affinity else machine.get("logical_cores")


def _cpu_text(info: dict[str, Any]) -> str:
    n = _cpus(info)
    return f"{n} cpu{'s' if n != 1 else ''}" if n else "? cpus"


def machine_labels(df: pd.DataFrame, runs: list[dict[str, Any]]) -> dict[str, str]:
    """run_id -> the shortest label that keeps runs of one scenario on different machines apart."""
    info = {r.get("run_id"): r for r in runs}
    per_run = df.groupby("run_id", observed=True).agg(
        host=("host", "first"), scenarios=("scenario", lambda s: tuple(sorted(set(s))))
    )

    def unique(labels: dict[str, str]) -> bool:
        seen = set()
        for run_id, label in labels.items():
            for scenario in per_run.loc[run_id, "scenarios"]:
                if (scenario, label) in seen:
                    return False
                seen.add((scenario, label))
        return True

    hosts = {run_id: str(row.host) for run_id, row in per_run.iterrows()}
    if unique(hosts):
        return hosts
    with_cpus = {
        run_id: f"{host} ({_cpu_text(info.get(run_id, {}))})" for run_id, host in hosts.items()
    }
    if unique(with_cpus):
        return with_cpus
    return {run_id: str(run_id) for run_id in hosts}


def params_label(params: str) -> str:
    """'{"n": 200000}' -> 'n=200000'."""
    try:
        parsed = json.loads(params)
    except (TypeError, json.JSONDecodeError):
        return str(params)
    return ", ".join(f"{k}={v}" for k, v in parsed.items()) or "-"


@dataclass
class ReportData:
    """Every frame a report reads, with a `machine` column added to each."""

    df: pd.DataFrame
    runs: list[dict[str, Any]] = field(default_factory=list)
    latency: pd.DataFrame = field(default_factory=pd.DataFrame)
    timeseries: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: One row per task of each case's timeline pass (`results.TASKS_SCHEMA`); empty for
    #: runs without `tasks.parquet`.
    tasks: pd.DataFrame = field(default_factory=pd.DataFrame)
    table: pd.DataFrame = field(init=False)
    labels: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = machine_labels(self.df, self.runs) if not self.df.empty else {}
        self.pythons = (
            sorted(self.df["python"].astype(str).unique())
            if "python" in self.df and not self.df.empty
            else []
        )
        self.df = self._with_case(self.df)
        self.table = self._with_case(summaries.case_table(self.df.drop(columns=["machine"])))
        columns = ["run_id", "case_id", "scenario", "host", "tasks", "python"]
        keys = self.df[[c for c in columns if c in self.df]].drop_duplicates()
        self.latency = self._join(self.latency, keys)
        self.timeseries = self._join(self.timeseries, keys)
        self.tasks = self._join(self.tasks, keys)

    def _with_case(self, frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        out = frame.copy()
        out["machine"] = out["run_id"].map(self.labels).astype(str)
        if len(self.pythons) > 1 and "python" in out:
            python = "Python " + out["python"].astype(str)
            one = len(set(self.labels.values())) == 1
            out["machine"] = python if one else out["machine"] + ", " + python
        return out

    def _join(self, frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        extra = [c for c in keys.columns if c not in frame.columns or c in ("run_id", "case_id")]
        return self._with_case(frame.merge(keys[extra], on=["run_id", "case_id"], how="inner"))

    @cached_property
    def machines(self) -> list[str]:
        """Machines (and interpreters, when several), in run order then Python version; read
        by every panel's title, so worked out once (the data do not change after loading)."""
        if len(self.pythons) <= 1 or self.df.empty:
            return list(dict.fromkeys(self.labels[r] for r in sorted(self.labels)))
        pairs = self.df[["run_id", "python", "machine"]].drop_duplicates()
        pairs = pairs.sort_values(["run_id", "python"])
        return list(dict.fromkeys(pairs["machine"].astype(str)))

    def scenarios(self) -> list[str]:
        return sorted(self.df["scenario"].unique()) if not self.df.empty else []

    def tune_runs(self, scenario: str) -> list[dict[str, Any]]:
        """The `harness tune` runs (run.json holds a `tune` section) that measured
        `scenario`, in run order."""
        ids = set(self.df.loc[self.df["scenario"] == scenario, "run_id"].astype(str))
        found = [r for r in self.runs if r.get("tune") and str(r.get("run_id")) in ids]
        return sorted(found, key=lambda r: str(r.get("run_id")))

    def raced(self, scenario: str) -> bool:
        """Whether every run of `scenario` is a `harness tune` race: then its cases are
        the race's candidates, several of one backend and worker count apart only by
        batching, and its later processes ran without the extra passes."""
        ids = set(self.df.loc[self.df["scenario"] == scenario, "run_id"].astype(str))
        return bool(ids) and ids <= {str(r.get("run_id")) for r in self.tune_runs(scenario)}
