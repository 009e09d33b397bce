"""The tidy result schema, run directories, saving as cases end, and loading into pandas.

A run lives in `results/<run-id>/`: `measurements.parquet` (one row per measured value),
`timeseries.parquet` (memory over time), `latency.parquet` (batch completion times,
thinned), `tasks.parquet` (where and when each task of the timeline pass ran) and
`run.json` (spec, command line, fingerprint). Files are replaced atomically,
so a killed harness leaves valid files holding every case that had finished.

The format has a version. Runs of an older format load through `migrate`, as asv's
results do, so a frame always has today's columns and metric names.
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

from harness.errors import InputError
from harness.measure import timeline
from harness.protocol import Metric

MEASUREMENTS = "measurements.parquet"
TIMESERIES = "timeseries.parquet"
LATENCY = "latency.parquet"
TASKS = "tasks.parquet"
RUN_JSON = "run.json"
FORMAT_VERSION = 2

#: Column -> pandas dtype of the tidy measurements frame.
SCHEMA: dict[str, str] = {
    "run_id": "string",
    "host": "string",
    "scenario": "string",
    "case_id": "string",  # derived from the columns below, never parsed
    "backend": "string",
    "variant": "string",  # the swept backend options, "start_method=fork", or ""
    "workers": "int64",
    "params": "string",  # JSON object, keys sorted: the match key; load() expands it
    "tasks": "int64",
    "round": "int64",  # which pass over the matrix (--rounds); each is a fresh process
    "repeat": "Int64",  # 1..repeat within the round; null for once-per-round metrics
    "metric": "string",
    "value": "float64",
    "unit": "string",
    "status": "string",  # ok, error, crashed, timeout, interrupted, skipped
    "error": "string",
    # The nodes the row is about: "local" (this host), the comma-separated addresses of the
    # cluster nodes a case's workers ran on, or one node for the per-node metrics
    # (node_peak_rss_bytes, node_cpu_util, node_tasks). Runs older than the column read "local".
    "nodes": "string",
    # The interpreter of the case process: "3.12.1", "3.13.1t" (free-threaded build), or
    # "PyPy 3.10.14"; runs before the interpreter axis wrote "CPython 3.11.7".
    "python": "string",
    # "a" or "b": which spec of an A/B run (`harness ab`) the row measured; "" elsewhere.
    "side": "string",
    # How many nodes the case's workers spanned: 1 on this host; on a cluster, the node
    # count of a node sweep (--nodes), else the nodes its workers ran on (0: it failed
    # before it reached them). The axis `harness scaling --axis nodes` fits.
    "node_count": "int64",
    # A node sweep's kind: "strong" (the same tasks at every node count) or "weak" (tasks
    # grow with the nodes); "" outside one.
    "node_scaling": "string",
}
#: Column -> pandas dtype of `tasks.parquet`: one row per task of each case's timeline pass
#: (the latency pass's batch, each task stamped where it ran). Times are seconds since the
#: batch was submitted, on the driver's clock; `harness.measure.timeline` says what each
#: column is.
TASKS_SCHEMA: dict[str, str] = {
    "run_id": "string",
    "scenario": "string",
    "case_id": "string",
    "backend": "string",
    "variant": "string",
    "workers": "int64",
    "params": "string",
    "round": "int64",
    **timeline.COLUMNS,
}
#: Columns that may be absent from a frame built in memory, with their default.
FILLED: dict[str, Any] = {
    "nodes": "local",
    "variant": "",
    "round": 1,
    "python": "",
    "side": "",
    "node_count": 1,
    "node_scaling": "",
}
#: Metric names of format 1 and what they are called now.
RENAMED_METRICS = {
    "latency_p50_s": Metric.BATCH_COMPLETION_P50_S,
    "latency_p95_s": Metric.BATCH_COMPLETION_P95_S,
    "latency_p99_s": Metric.BATCH_COMPLETION_P99_S,
}
PARAM_PREFIX = "param_"


class ResultsError(InputError):
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
        df[column] = df[column].astype(object).fillna(value)
    return df.astype(SCHEMA)


def migrate(df: pd.DataFrame) -> pd.DataFrame:
    """Bring a measurements frame of any earlier format to today's columns and names."""
    df = df.copy()
    if "nodes" not in df.columns:  # format 1 before clusters
        df["nodes"] = "local"
    if "round" not in df.columns:  # format 1: repeats numbered on across rounds
        df = _split_rounds(df)
    if "variant" not in df.columns:  # format 1 folded it into case_id: read it back, once
        df["variant"] = df["case_id"].str.extract(r"^[^/]+/[^/\[]+\[([^\]]*)\]")[0].fillna("")
    if "python" not in df.columns:
        df["python"] = ""
    if "side" not in df.columns:  # before A/B runs
        df["side"] = ""
    if "node_count" not in df.columns:  # before node sweeps: the most nodes a case's row names
        named = df["nodes"].astype(str).str.count(",") + 1
        named = named.where(df["nodes"].astype(str) != "", 0)
        case = [df["run_id"], df["case_id"], df["round"]]
        df["node_count"] = named.groupby(case).transform("max")
    if "node_scaling" not in df.columns:
        df["node_scaling"] = ""
    # CPython was named until runs could hold several interpreters; now the version is, so
    # an older run of 3.11.7 matches a new one in compare.
    df["python"] = df["python"].astype(str).str.removeprefix("CPython ")
    df["metric"] = df["metric"].replace(RENAMED_METRICS)
    return df[list(SCHEMA)].astype(SCHEMA)


def _split_rounds(df: pd.DataFrame) -> pd.DataFrame:
    """Format 1 numbered repeats 1..R in round 1, R+1..2R in round 2; one elapsed_s a round."""
    rounds = df[df["metric"] == Metric.ELAPSED_S].groupby("case_id").size()
    per_repeat = df[df["repeat"].notna()]
    top = per_repeat.groupby("case_id")["repeat"].max()
    size = (top / rounds.reindex(top.index).fillna(1)).clip(lower=1).round()
    df["round"] = 1
    has = df["repeat"].notna()
    each = df.loc[has, "case_id"].map(size).fillna(1)
    df.loc[has, "round"] = ((df.loc[has, "repeat"] - 1) // each + 1).astype("int64")
    df.loc[has, "repeat"] = (df.loc[has, "repeat"] - 1) % each + 1
    # Once-per-round rows were appended round after round: their order is their round.
    once = ~has
    df.loc[once, "round"] = df[once].groupby(["case_id", "metric", "nodes"]).cumcount() + 1
    return df


def with_params(df: pd.DataFrame) -> pd.DataFrame:
    """One `param_<name>` column per workload parameter: the one place `params` is decoded."""
    if df.empty or "params" not in df.columns:
        return df
    decoded = {p: json.loads(p) for p in df["params"].unique()}
    names = sorted({k for d in decoded.values() for k in d})
    out = df.copy()
    for name in names:
        column = PARAM_PREFIX + name
        if column not in out.columns:
            out[column] = df["params"].map(lambda p, n=name: decoded[p].get(n))
    return out


def param_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(PARAM_PREFIX)]


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
    """Holds a run's frames and rewrites its files whole after every case.

    Each file's rows are kept as one frame, grown by each case's: concatenating every
    case's frame again after each case cost the runner 70 ms a case at 150 cases, and
    grew with every case (pandas pays per frame joined, not per row)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.frames: dict[str, list[pd.DataFrame]] = {
            MEASUREMENTS: [],
            TIMESERIES: [],
            LATENCY: [],
            TASKS: [],
        }
        for name in self.frames:
            if (run_dir / name).exists():  # resuming: keep what was measured
                df = pd.read_parquet(run_dir / name)
                self.frames[name].append(migrate(df) if name == MEASUREMENTS else df)

    def append(
        self,
        measurements: pd.DataFrame,
        timeseries: pd.DataFrame | None = None,
        latency: pd.DataFrame | None = None,
        tasks: pd.DataFrame | None = None,
    ) -> None:
        for name, df in (
            (MEASUREMENTS, measurements),
            (TIMESERIES, timeseries),
            (LATENCY, latency),
            (TASKS, tasks),
        ):
            if df is None or df.empty:
                continue
            whole = pd.concat([*self.frames[name], df], ignore_index=True)
            self.frames[name] = [whole]
            write_parquet_atomic(self.run_dir / name, whole)

    def drop_interrupted(self) -> None:
        """Forget the partial rows of an interrupted case before a resume runs it again."""
        parts = self.frames[MEASUREMENTS]
        self.frames[MEASUREMENTS] = [df[df["status"] != "interrupted"] for df in parts]

    def measurements(self) -> pd.DataFrame:
        parts = self.frames[MEASUREMENTS]
        return pd.concat(parts, ignore_index=True) if parts else frame([])


#: Where runs are kept unless told otherwise (`harness run --out`).
RESULTS_DIR = Path("results")


def latest(root: Path = RESULTS_DIR) -> Path:
    """The newest run under `root` (run ids sort by their start time)."""
    candidates = sorted(p.parent for p in root.glob(f"*/{RUN_JSON}"))
    if not candidates:
        raise ResultsError(f"latest: no run under {root}/ yet (run `harness run` first)")
    return candidates[-1]


def run_dirs(paths: Iterable[str | os.PathLike[str]], root: Path = RESULTS_DIR) -> list[Path]:
    """Expand globs and `latest` (the newest run under `root`); each result must be a run
    directory (or its measurements file)."""
    found: list[Path] = []
    for raw in paths:
        text = str(latest(root)) if str(raw) == "latest" else str(raw)
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
    if name == MEASUREMENTS:
        return migrate(df)
    if name == LATENCY and "latency_s" in df.columns:  # format 1's name for it
        df = df.rename(columns={"latency_s": "completion_s"})
    return df


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
    """Runs as one tidy DataFrame: `harness.load("results/*")` in a notebook.

    Measurements come with one `param_<name>` column per workload parameter.
    """
    df, problems = load_runs(paths or ("results/*",), name)
    if problems:
        raise ResultsError("; ".join(problems))
    return with_params(df) if name == MEASUREMENTS else df


def run_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None


def lock_hashes(
    paths: Iterable[str | os.PathLike[str]], root: Path = RESULTS_DIR
) -> dict[str, str | None]:
    """Each run's uv.lock hash (`software.lock_sha256` in its run.json), by run id; None for
    a run that recorded none: set up without the lock, made before runs recorded it, or a
    folder of measurements alone."""
    found: dict[str, str | None] = {}
    for run_dir in run_dirs(paths, root):
        try:
            info = run_info(run_dir) if (run_dir / RUN_JSON).is_file() else {}
        except ResultsError:
            info = {}
        software = (info.get("fingerprint") or {}).get("software") or {}
        found[str(info.get("run_id") or run_dir.name)] = software.get("lock_sha256")
    return found
