"""The tidy result schema, run directories, saving as cases end, and loading into pandas.

A run lives in `results/<run-id>/`: `measurements.parquet` (one row per measured value),
`timeseries.parquet` (memory over time), `latency.parquet` (per-task latencies, thinned),
and `run.json` (spec, command line, fingerprint). Files are replaced atomically, so a
killed harness leaves valid files holding every case that had finished.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MEASUREMENTS = "measurements.parquet"
TIMESERIES = "timeseries.parquet"
LATENCY = "latency.parquet"
RUN_JSON = "run.json"
FORMAT_VERSION = 1

#: Column -> pandas dtype of the tidy measurements frame.
SCHEMA: dict[str, str] = {
    "run_id": "string",
    "host": "string",
    "scenario": "string",
    "case_id": "string",
    "backend": "string",
    "workers": "int64",
    "params": "string",  # JSON object, keys sorted
    "tasks": "int64",
    "repeat": "Int64",  # null for once-per-case metrics (startup_s, memory)
    "metric": "string",
    "value": "float64",
    "unit": "string",
    "status": "string",  # ok, error, crashed, timeout, interrupted
    "error": "string",
    # The nodes the row is about: "local" (this host), the comma-separated addresses of the
    # cluster nodes a case's workers ran on, or one node for the per-node metrics
    # (node_peak_rss_bytes, node_cpu_util, node_tasks). Runs older than the column read "local".
    "nodes": "string",
}
#: Columns added after format 1 was written, with the value older runs get.
FILLED: dict[str, str] = {"nodes": "local"}
STATUSES = ("ok", "error", "crashed", "timeout", "interrupted")


class ResultsError(ValueError):
    """A results path that is not a run, or a file that cannot be read: names the file."""


def new_run_id(root: Path) -> str:
    """Sorts by time; the host keeps runs from several machines apart in one folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40]
    run_id = f"{stamp}-{host}"
    n = 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{stamp}-{host}-{n}"
    return run_id


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(SCHEMA))
    for column, value in FILLED.items():
        df[column] = df[column].astype(SCHEMA[column]).fillna(value)
    return df.astype(SCHEMA)


def _fill_missing(df: pd.DataFrame) -> pd.DataFrame:
    """Old runs stay loadable: columns added since they were written get their default."""
    for column, value in FILLED.items():
        if column not in df.columns:
            df[column] = pd.Series(value, index=df.index, dtype=SCHEMA[column])
    return df


def write_atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(path: Path, df: pd.DataFrame) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    write_atomic(path, sink.getvalue().to_pybytes())


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


class RunWriter:
    """Holds a run's frames and rewrites its files whole after every case."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.frames: dict[str, list[pd.DataFrame]] = {MEASUREMENTS: [], TIMESERIES: [], LATENCY: []}
        for name in self.frames:
            if (run_dir / name).exists():  # resuming: keep what was measured
                df = pd.read_parquet(run_dir / name)
                self.frames[name].append(_fill_missing(df) if name == MEASUREMENTS else df)

    def append(
        self,
        measurements: pd.DataFrame,
        timeseries: pd.DataFrame | None = None,
        latency: pd.DataFrame | None = None,
    ) -> None:
        for name, df in (
            (MEASUREMENTS, measurements),
            (TIMESERIES, timeseries),
            (LATENCY, latency),
        ):
            if df is None or df.empty:
                continue
            self.frames[name].append(df)
            write_parquet_atomic(
                self.run_dir / name, pd.concat(self.frames[name], ignore_index=True)
            )

    def drop_interrupted(self) -> None:
        """Forget the partial rows of an interrupted case before a resume runs it again."""
        parts = self.frames[MEASUREMENTS]
        self.frames[MEASUREMENTS] = [df[df["status"] != "interrupted"] for df in parts]

    def measurements(self) -> pd.DataFrame:
        parts = self.frames[MEASUREMENTS]
        return pd.concat(parts, ignore_index=True) if parts else frame([])


def run_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand globs; each result must be a run directory (or its measurements file)."""
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
        if not matches:
            raise ResultsError(f"{text}: no run matches")
        for match in matches:
            path = Path(match)
            if path.is_file() and path.name == MEASUREMENTS:
                path = path.parent
            if not (path / RUN_JSON).is_file() and not (path / MEASUREMENTS).is_file():
                raise ResultsError(f"{path}: not a run directory (no {RUN_JSON} or {MEASUREMENTS})")
            found.append(path)
    return list(dict.fromkeys(found))


def read_frame(run_dir: Path, name: str = MEASUREMENTS) -> pd.DataFrame:
    path = run_dir / name
    if not path.exists():
        if name == MEASUREMENTS:
            raise ResultsError(f"{path}: missing (the run measured nothing yet)")
        return pd.DataFrame()
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ResultsError(f"{path}: cannot read parquet ({type(exc).__name__}: {exc})") from None
    return _fill_missing(df) if name == MEASUREMENTS else df


def load_runs(
    paths: Iterable[str | os.PathLike[str]], name: str = MEASUREMENTS
) -> tuple[pd.DataFrame, list[str]]:
    """Load every readable run; problems (one line each, naming the file) are returned."""
    frames, problems = [], []
    for run_dir in run_dirs(paths):
        try:
            frames.append(read_frame(run_dir, name))
        except ResultsError as exc:
            problems.append(str(exc))
    if not frames:
        return (frame([]) if name == MEASUREMENTS else pd.DataFrame()), problems
    return pd.concat(frames, ignore_index=True), problems


def load(*paths: str | os.PathLike[str], name: str = MEASUREMENTS) -> pd.DataFrame:
    """Runs as one tidy DataFrame: `harness.results.load("results/*")` in a notebook."""
    df, problems = load_runs(paths or ("results/*",), name)
    if problems:
        raise ResultsError("; ".join(problems))
    return df


def run_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None


def expand_params(df: pd.DataFrame) -> pd.DataFrame:
    """One column per workload parameter, parsed from the `params` JSON column."""
    parsed = pd.json_normalize([json.loads(p) for p in df["params"]]).add_prefix("param_")
    return pd.concat([df.reset_index(drop=True), parsed], axis=1)
