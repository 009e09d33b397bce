"""The stored runs still load with today's schema, and format 1 migrates to it.

The compare, report, claims and export tests read stored runs (tests/fixtures/runs/). When
the results format changes, `results.migrate` must keep these loading: this test fails
first, and names the run. It asserts what the readers rely on (columns, dtypes, known
metric names, repeats within rounds), so a column or metric added later does not break it.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import STORED, stored_run

from harness import results
from harness.analysis import summaries
from harness.output.reports.data import ReportData
from harness.protocol import METRICS, STATUSES

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

NAMES = sorted(p.name for p in STORED.iterdir() if (p / "run.json").is_file())


def test_the_stored_runs_are_there_and_small():
    assert {
        "cpu",
        "cpu-1cpu",
        "io-w1",
        "io-w4",
        "io-w4-again",
        "sweep",
        "rounds",
        "format1",
    } <= set(NAMES)
    for name in NAMES:
        size = sum(p.stat().st_size for p in stored_run(name).rglob("*") if p.is_file())
        assert size < 100_000, (name, size)  # tens of KB: trim in make_fixtures.py


@pytest.mark.parametrize("name", NAMES)
def test_stored_run_loads_with_todays_schema(name):
    run_dir = stored_run(name)
    df = results.load(run_dir)
    info = results.run_info(run_dir)
    assert set(df["run_id"]) == {info["run_id"]}
    for column, dtype in results.SCHEMA.items():
        assert str(df[column].dtype) == dtype, (column, df[column].dtype)
    # one param_<name> column per workload parameter, decoded from `params`
    for key, value in json.loads(df["params"].iloc[0]).items():
        assert df[results.PARAM_PREFIX + key].iloc[0] == value, key
    assert set(df["status"]) <= set(STATUSES)
    unknown = set(df["metric"]) - set(METRICS)
    assert not unknown, f"{name}: metrics not in the catalogue (migrate their names): {unknown}"
    assert {"wall_s", "startup_s", "elapsed_s"} <= set(df["metric"])
    # repeats count 1..R within each round of a case; every round has its own start-up
    walls = df[df["metric"] == "wall_s"]
    for (case_id, round_no), rows in walls.groupby(["case_id", "round"]):
        assert sorted(rows["repeat"]) == list(range(1, len(rows) + 1)), (case_id, round_no)
    starts = df[df["metric"] == "startup_s"].groupby("case_id")["round"].apply(sorted)
    assert all(r == list(range(1, len(r) + 1)) for r in starts), starts
    # the frames a report reads next to the measurements
    latency = results.load(run_dir, name=results.LATENCY)
    timeseries = results.load(run_dir, name=results.TIMESERIES)
    assert {"case_id", "completion_s"} <= set(latency.columns)
    assert {"case_id", "t_s", "rss_bytes"} <= set(timeseries.columns)
    # and what every reader builds first: the case table, one ok row per case
    table = summaries.case_table(df)
    assert len(table) == df["case_id"].nunique() and (table["status"] == "ok").all()


def test_format1_is_stored_in_the_old_layout():
    """Guards the fixture itself: a remade one must still be written as format 1 was."""
    raw = pd.read_parquet(stored_run("format1") / results.MEASUREMENTS)
    assert not {"round", "variant", "python"} & set(raw.columns)
    assert "latency_p50_s" in set(raw["metric"]) and "batch_completion_p50_s" not in set(
        raw["metric"]
    )
    assert raw["repeat"].max() == 4  # two rounds of two repeats, numbered on
    assert "latency_s" in pq.read_schema(stored_run("format1") / results.LATENCY).names
    assert results.run_info(stored_run("format1"))["format_version"] == 1


def test_format1_loads_as_the_format2_run_it_was_made_from():
    old, new = results.load(stored_run("format1")), results.load(stored_run("rounds"))
    # rounds split right, variants read back from case_id, metrics renamed
    assert sorted(old["round"].unique()) == [1, 2]
    per_round = old[old.metric == "wall_s"].groupby(["case_id", "round"])["repeat"].apply(sorted)
    assert all(r == [1, 2] for r in per_round), per_round
    assert set(old["variant"]) == {"", "start_method=fork", "start_method=spawn"}
    assert (old.loc[old.backend != "processes", "variant"] == "").all()
    assert "batch_completion_p50_s" in set(old["metric"])
    assert not any(m.startswith("latency_") for m in old["metric"])
    assert (old["python"] == "").all()  # format 1 did not record it: unknown, not guessed

    keys = ["case_id", "round", "metric", "repeat", "nodes"]
    columns = [c for c in old.columns if c != "python"]
    pd.testing.assert_frame_equal(
        old[columns].sort_values(keys).reset_index(drop=True),
        new[columns].sort_values(keys).reset_index(drop=True),
    )
    latency = results.load(stored_run("format1"), name=results.LATENCY)
    assert "completion_s" in latency.columns and "latency_s" not in latency.columns


def test_a_format1_run_still_makes_a_report_table():
    run_dir = stored_run("format1")
    data = ReportData(
        results.load(run_dir),
        [results.run_info(run_dir)],
        latency=results.load(run_dir, name=results.LATENCY),
        timeseries=results.load(run_dir, name=results.TIMESERIES),
    )
    assert len(data.table) == 4 and (data.table["status"] == "ok").all()
    # the old latency and memory files (no round column) join the cases as the new ones do
    assert data.latency["case_id"].nunique() == 4 and data.timeseries["case_id"].nunique() == 4
