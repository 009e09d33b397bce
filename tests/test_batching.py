"""batching: one engine task per input, or inputs grouped, on every engine that can scale."""

from __future__ import annotations

import harness


def test_grouped_and_per_task_batching_run_on_every_engine_and_are_labelled():
    options = {"batching": ["per_task", "grouped"]}
    df = harness.run(
        {
            "name": "batching",
            "description": "identity tasks, per task and grouped",
            "workload": "identity",
            "tasks": 41,  # not a multiple of the group size: the last group is short
            "backends": ["sequential", "processes", "dask", "ray"],
            "workers": [2],
            "repeat": 1,
            "warmup": 0,
            "rounds": 1,
            "backend_options": {"processes": options, "dask": options, "ray": options},
        }
    )
    cases = df.groupby(["backend", "variant"])["status"].first()
    assert (cases == "ok").all(), df.loc[df.status != "ok", ["case_id", "error"]].drop_duplicates()
    for backend in ("processes", "dask", "ray"):
        assert cases.loc[backend].index.tolist() == ["batching=grouped", "batching=per_task"]
    assert "ray[batching=grouped]" in " ".join(df["case_id"].unique())
