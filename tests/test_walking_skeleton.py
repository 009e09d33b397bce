"""The walking skeleton end to end: a quick cpu run on every default built-in backend."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from conftest import cli, harness, marked

from harness import results
from harness.analysis import summaries
from harness.protocol import METRICS

BACKENDS = {"sequential", "threads", "processes", "loky", "dask", "ray"}


def test_every_backend_ran_every_case_ok(cpu_run):
    df = results.load(cpu_run)
    cases = summaries.case_status(df)
    assert set(cases["backend"]) == BACKENDS
    assert (cases["status"] == "ok").all(), cases[cases["status"] != "ok"][["case_id", "error"]]
    # sequential once, every other backend at each quick worker count
    assert sorted(cases.loc[cases.backend != "sequential", "workers"].unique()) == [1, 2]
    assert (cases["backend"] == "sequential").sum() == 1


def test_frame_is_tidy_with_the_documented_schema(cpu_run):
    df = results.load(cpu_run)
    # the schema's columns, then one column per workload parameter of the cpu scenario
    assert list(df.columns) == [*results.SCHEMA, "param_n"]
    assert (df["param_n"] == json.loads(df["params"].iloc[0])["n"]).all()
    assert {str(t) for t in df.dtypes} >= {"string", "int64", "Int64", "float64"}
    assert (df["round"] == 1).all() and df["python"].str.fullmatch(r"3\.\d+\.\d+t?").all()
    for metric in ("startup_s", "teardown_s", "wall_s", "tasks_per_s"):
        assert metric in set(df["metric"]), metric
    walls = df[df["metric"] == "wall_s"]
    # the quick spec asks for 3 repeats: each case has repeats 1..3, no warm-up mixed in
    per_case = walls.groupby("case_id")["repeat"].apply(lambda r: sorted(r.tolist()))
    assert all(r == [1, 2, 3] for r in per_case)
    assert (walls["value"] > 0).all()
    # tasks_per_s is tasks / wall of the same repeat
    tps = df[df.metric == "tasks_per_s"].set_index(["case_id", "repeat"])["value"]
    wall = walls.set_index(["case_id", "repeat"])["value"]
    assert ((tps * wall).round(6) == 4).all()


def test_run_json_records_spec_command_and_machine(cpu_run):
    info = json.loads((cpu_run / "run.json").read_text())
    assert info["status"] == "complete"
    assert info["spec"]["name"] == "cpu"
    assert info["command"].startswith("harness run cpu --quick")
    machine, software = info["fingerprint"]["machine"], info["fingerprint"]["software"]
    for key in ("hostname", "cpu_model", "logical_cores", "physical_cores", "memory_bytes", "os"):
        assert machine[key], key
    for pkg in ("ray", "dask", "distributed", "pandas"):
        assert software["packages"][pkg], pkg
    assert "commit" in software["git"]


def test_run_ids_sort_by_time(tmp_path):
    first = results.new_run_id(tmp_path)
    (tmp_path / first).mkdir()
    second = results.new_run_id(tmp_path)
    assert first != second and sorted([second, first]) == [first, second]


def test_summary_has_speedup_against_sequential(cpu_run):
    table = summaries.case_table(results.load(cpu_run))
    seq = table[table.backend == "sequential"].iloc[0]
    assert seq["speedup"] == pytest.approx(1.0)
    threads2 = table[(table.backend == "threads") & (table.workers == 2)].iloc[0]
    # paired in process: the sequential loop was timed beside each of its repeats, and the
    # speedup is the median over those pairs (one process here), not a ratio of medians
    assert threads2["speedup_pairing"] == summaries.PAIRED_IN_PROCESS
    df = results.load(cpu_run)
    own = df[df.case_id == threads2["case_id"]]
    pairs = own.pivot_table(index="repeat", columns="metric", values="value")
    ratios = pairs["reference_wall_s"] / pairs["wall_s"]
    assert ratios.min() <= threads2["speedup"] <= ratios.max()
    assert threads2["speedup_ci_low"] <= threads2["speedup"] <= threads2["speedup_ci_high"]
    assert threads2["efficiency"] == pytest.approx(threads2["speedup"] / 2)


def test_the_exported_cases_table_has_a_column_for_every_metric_measured(cpu_run):
    """The catalogue, not a hand-kept list, gives the columns: the timeline pass's makespan,
    the paired reference walls and the run-queue wait as well as wall and start-up."""
    df = results.load(cpu_run)
    proc = cli("export", str(cpu_run), "--table", "cases")
    assert proc.returncode == 0, proc.stderr
    exported = pd.read_csv(io.StringIO(proc.stdout))
    measured = summaries.case_metrics(df["metric"].unique())
    assert [c for c in exported.columns if c in summaries.case_metrics()] == measured
    assert {"makespan_s", "reference_wall_s", "cpu_wait_ratio", "schedule_efficiency"} <= set(
        measured
    )
    assert (exported["makespan_s"] > 0).all()
    node = [m for m, info in METRICS.items() if info.per == "node"]
    assert not set(node) & set(exported.columns)  # one row per node: the measurements'
    table = summaries.case_table(df)
    one = table.iloc[0]  # the median over the case's processes of each one's median
    walls = df[(df["case_id"] == one["case_id"]) & (df["metric"] == "makespan_s")]
    assert one["makespan_s"] == pytest.approx(walls.groupby("round")["value"].median().median())


def test_load_accepts_globs_and_many_runs(cpu_run):
    df = results.load(str(cpu_run.parent / "*"))
    assert set(df["run_id"]) == {cpu_run.name}


def test_no_engine_process_outlives_the_run(cpu_run):
    assert marked() == [], [p.cmdline() for p in marked()]


def test_report_pdf_from_the_cli(cpu_run, tmp_path):
    # The pages and their data are checked in test_report.py; here: the user's command.
    target = tmp_path / "r.pdf"
    proc = harness("report", str(cpu_run), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    pdf = target.read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = max(int(n) for n in re.findall(rb"/Count (\d+)", pdf))
    assert pages >= 5  # title, throughput, speedup, start-up, memory, ..., cases
    assert f"report: {target} ({pages} pages)" in proc.stdout


def test_show_prints_every_backend(cpu_run):
    proc = harness("show", str(cpu_run))
    assert proc.returncode == 0
    for backend in BACKENDS:
        assert backend in proc.stdout


def test_frame_round_trips_through_parquet(cpu_run, tmp_path):
    df = results.load(cpu_run)
    results.write_parquet_atomic(tmp_path / "m.parquet", df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.parquet"), df)
