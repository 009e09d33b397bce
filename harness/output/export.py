"""Runs as plain files for people who use their own tools: csv, parquet or json.

The frames are the ones `harness.results.load` returns in a notebook, unchanged, plus
`cases`: the per-case summary that `show` and the report print. `tasks` (the timeline pass's
task records) also goes out as a Chrome trace (`trace`, `harness.output.trace`).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from harness import results
from harness.analysis import summaries, timelines
from harness.errors import InputError
from harness.output import formats

FORMATS = formats.choices("export")
TABLES = {
    "measurements": results.MEASUREMENTS,
    "latency": results.LATENCY,
    "timeseries": results.TIMESERIES,
    "cases": results.MEASUREMENTS,
    "tasks": results.TASKS,
}
#: Formats that only one table can take: format -> that table.
ONLY_FOR = {"trace": "tasks"}


class ExportError(InputError):
    """An export that cannot be written as asked: one line naming the flag."""


def check(fmt: str | None, table: str, target: Path | None) -> formats.Format:
    """The format to write (`formats.for_output`'s rule) if it fits the table and the
    target, or one line naming the flag that does not fit."""
    row = formats.for_output("export", fmt, target)
    if table not in TABLES:
        raise ExportError(f"--table: expected one of {', '.join(TABLES)}, got {table!r}")
    if row.name in ONLY_FOR and table != ONLY_FOR[row.name]:
        raise ExportError(
            f"--format {row.name}: only with --table {ONLY_FOR[row.name]} (the task records), "
            f"got --table {table}"
        )
    if row.binary and target is None:
        raise ExportError(f"--format {row.name}: give a file with -o ({row.name} is binary)")
    return row


def frame(run_dirs: list[Path], table: str = "measurements") -> tuple[pd.DataFrame, list[str]]:
    """The requested frame of every run, and one line per run that could not be read."""
    if table not in TABLES:
        raise ExportError(f"--table: expected one of {', '.join(TABLES)}, got {table!r}")
    df, problems = results.load_runs(run_dirs, name=TABLES[table])
    if table == "cases":
        df = summaries.case_table(df)
    if table in ("measurements", "cases"):  # as results.load gives it: a column per parameter
        df = results.with_params(df)
    return df, problems


def nothing(table: str) -> str:
    """Why a table came out empty, for the line that says so."""
    return timelines.NO_TASKS if table == "tasks" else "no rows"


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def json_bytes(df: pd.DataFrame) -> bytes:
    return (df.to_json(orient="records", indent=1, date_format="iso") + "\n").encode()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()


def encode(df: pd.DataFrame, fmt: str) -> bytes:
    """The frame in `fmt`, by the writer the format table names."""
    return formats.get("export", fmt).write(df)


def write(df: pd.DataFrame, fmt: str, path: Path) -> Path:
    results.write_atomic(path, encode(df, fmt))
    return path
