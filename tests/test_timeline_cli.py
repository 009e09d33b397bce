"""`harness export --table tasks` (a Chrome trace among its formats) and `harness timeline`,
on a real quick run whose task records the timeline pass wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli, stored_run

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run() -> Path:
    """A real quick cpu run, stored: sequential, threads and processes at 1 and 2 workers."""
    return stored_run("timeline")


@pytest.fixture(scope="module")
def tasks(run) -> pd.DataFrame:
    frame = pd.read_parquet(run / "tasks.parquet")
    assert not frame.empty
    return frame


def _processes_case(tasks: pd.DataFrame) -> str:
    (case_id,) = [c for c in tasks["case_id"].unique() if "/processes/w2/" in c]
    return case_id


def test_the_trace_holds_every_task_as_a_service_slice(run, tasks, tmp_path):
    target = tmp_path / "run.trace.json"
    proc = cli("export", str(run), "--table", "tasks", "--format", "trace", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    trace = json.loads(target.read_text())
    assert trace["displayTimeUnit"] == "ms" and trace["otherData"]["runs"] == [tasks["run_id"][0]]
    events = trace["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    for event in slices:
        assert {"ph", "ts", "dur", "pid", "tid", "name"} <= set(event), event
        assert isinstance(event["ts"], int | float) and event["dur"] >= 0, event
    # each case and round is one trace process, named for the case
    names = {
        e["pid"]: e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "process_name"
    }
    service = [e for e in slices if e.get("cat") == "service"]
    for (case_id, round_no), rows in tasks.groupby(["case_id", "round"]):
        (pid,) = [p for p, name in names.items() if name == f"{case_id} · round {round_no}"]
        mine = sorted((e for e in service if e["pid"] == pid), key=lambda e: e["args"]["task"])
        assert len(mine) == len(rows), case_id
        for event, row in zip(mine, rows.sort_values("task").itertuples(), strict=True):
            assert event["args"]["task"] == row.task and event["args"]["pid"] == row.pid
            assert event["dur"] == pytest.approx(row.service_s * 1e6, abs=0.002)
            assert event["ts"] == pytest.approx(row.start_s * 1e6, abs=0.002)
        # its dispatch and return are there too, one begin and one end per task
        phases = [e for e in events if e["ph"] in "be" and e["pid"] == pid]
        assert len(phases) == 4 * len(rows)
    # a worker process's track says which process it is
    threads = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    case_id = _processes_case(tasks)
    pids = tasks.loc[tasks["case_id"] == case_id, "pid"].unique()
    assert {f"pid {p} (local)" for p in pids} <= threads


def test_trace_only_with_the_tasks_table(run, tmp_path):
    target = tmp_path / "m.json"
    proc = cli(
        "export", str(run), "--table", "measurements", "--format", "trace", "-o", str(target)
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--format trace" in proc.stderr and "--table tasks" in proc.stderr
    assert not target.exists() and proc.stdout == ""


def test_the_tasks_table_exports_as_csv(run, tasks):
    proc = cli("export", str(run), "--table", "tasks", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == len(tasks) + 1 and "service_s" in proc.stdout


def test_timeline_lists_the_cases_then_shows_one_worker_per_row(run, tasks, tmp_path):
    shutil.copytree(run, tmp_path / run.name)  # the only run of a results folder
    listing = cli("timeline", "latest", "--results", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    for case_id in tasks["case_id"].unique():
        assert case_id in listing.stdout
    assert "--case" in listing.stdout
    case_id = _processes_case(tasks)
    # a unique part of the id is enough
    proc = cli("timeline", str(run), "--case", "processes/w2")
    assert proc.returncode == 0, proc.stderr
    assert case_id in proc.stdout and "schedule efficiency" in proc.stdout
    pids = tasks.loc[tasks["case_id"] == case_id, "pid"].unique()
    assert len(pids) == 2
    for pid in pids:
        (row,) = [line for line in proc.stdout.splitlines() if f"pid {pid} (local)" in line]
        assert "█" in row and "%" in row


def test_timeline_draws_the_gantt_chart(run, tmp_path):
    png, svg = tmp_path / "gantt.png", tmp_path / "gantt.svg"
    proc = cli("timeline", str(run), "--case", "processes/w2", "--output", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes().startswith(PNG)
    proc = cli("timeline", str(run), "--case", "threads/w2", "-o", str(svg))
    assert proc.returncode == 0 and b"<svg" in svg.read_bytes()[:400], proc.stderr


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--case", "processes/w2", "--output", "gantt.pdf"], "--output"),
        (["--case", "no-such-case"], "--case"),
        (["--case", "w2"], "--case"),  # ambiguous: threads and processes
        (["--case", "processes/w2", "--round", "9"], "--round"),
    ],
)
def test_timeline_refuses_in_one_line(run, tmp_path, args, flag):
    args = [str(tmp_path / a) if a.endswith(".pdf") else a for a in args]
    proc = cli("timeline", str(run), *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert flag in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_run_without_task_records_says_so():
    old = stored_run("cpu")
    proc = cli("timeline", str(old))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no task records" in proc.stderr
