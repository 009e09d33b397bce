"""Task graphs: the graph model, and each engine running it its own way on real engines.

Data that stays on the workers is the point: Dask and Ray must move a shuffle's parts
without the driver, pools must send them through it, and a broadcast by reference must
cross the driver once where by value crosses it once per task.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import cli, harness, only_run, stored_run

from harness import results, spec
from harness.analysis import advice
from harness.execute import runner
from harness.graph import Graph, Shared, run_in_order
from harness.output import reports
from harness.output.reports.claims_pages import full_report
from harness.tasks import shuffle_map, shuffle_reduce, tree_combine, tree_leaf

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --- the model (no engine) -------------------------------------------------------------------


def _tree(leaves: int) -> Graph:
    g = Graph()
    level = [g.add(tree_leaf, i, 64, 0.0) for i in range(leaves)]
    while len(level) > 1:
        paired = [
            g.add(tree_combine, a, b, 0.0) for a, b in zip(level[::2], level[1::2], strict=False)
        ]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    g.outputs = level
    return g


@pytest.mark.fast
def test_levels_read_only_earlier_levels_and_a_node_may_not_read_ahead():
    g = _tree(5)
    levels = g.levels()
    assert [len(level) for level in levels] == [5, 2, 1, 1]
    depth = {n.key: d for d, level in enumerate(levels) for n in level}
    for node in g.nodes:
        assert all(depth[r.key] < depth[node.key] for r in node.refs())
    with pytest.raises(ValueError, match="not before it"):
        g.add(tree_combine, g.outputs[0], type(g.outputs[0])(99), 0.0)


@pytest.mark.fast
def test_the_sequential_result_is_the_graph_run_in_order():
    import numpy as np

    (root,) = run_in_order(_tree(4))
    leaves = [tree_leaf(i, 64, 0.0) for i in range(4)]
    want = np.add(
        np.add(leaves[0], leaves[1], dtype=np.uint8),
        np.add(leaves[2], leaves[3], dtype=np.uint8),
        dtype=np.uint8,
    )
    assert (root == want).all()
    g = Graph()
    mapped = [g.add(shuffle_map, m, 3, 16, returns=3) for m in range(2)]
    g.outputs = [g.add(shuffle_reduce, *(m[k] for m in mapped)) for k in range(3)]
    got = run_in_order(g)
    assert got == [shuffle_reduce(*(shuffle_map(m, 3, 16)[k] for m in range(2))) for k in range(3)]


# --- real engines ----------------------------------------------------------------------------


def _run(tmp_path: Path, scenario: str, backends: list[str], keep=lambda c: True):
    cases = [
        c for c in spec.expand(spec.load(scenario), quick=True, backends_filter=backends) if keep(c)
    ]
    run_dir = tmp_path / scenario
    outcomes = runner.run_cases(cases, run_dir).outcomes
    df = results.load(run_dir)
    bad = df[df["status"] != "ok"]
    assert bad.empty, bad[["case_id", "status", "error"]].drop_duplicates().to_string()
    assert set(df["backend"]) == set(backends)
    strategies = {o.case.backend: o.description.strategy for o in outcomes if o.description}
    return df, strategies


def _driver_bytes(df) -> dict[tuple[str, str], float]:
    sub = df[df["metric"] == "driver_bytes"]
    return {
        (b, p): float(v)
        for b, p, v in zip(sub["backend"], sub["params"], sub["value"], strict=True)
    }


def test_a_shuffle_moves_its_parts_between_workers_on_dask_and_ray_not_through_the_driver(
    tmp_path,
):
    df, strategy = _run(tmp_path, "shuffle", ["threads", "processes", "dask", "ray"])
    moved = {b: v for (b, _), v in _driver_bytes(df).items()}
    (params,) = {json.loads(p)["partition_bytes"] for p in df["params"]}
    parts = spec.load("shuffle").params.get("partitions", 8) ** 2
    # a pool user's shuffle: every part comes back to the driver and goes out again
    assert moved["processes"] >= 2 * parts * params
    # futures and object refs: only the reducers' small summaries come back
    assert moved["dask"] < parts * params / 100 and moved["ray"] < parts * params / 100
    assert moved["threads"] == 0  # nothing crosses a process boundary
    assert "client.submit" in strategy["dask"] and ".remote" in strategy["ray"]
    assert "level by level" in strategy["processes"]


def test_a_broadcast_by_reference_crosses_the_driver_once_and_leaves_no_shared_memory(tmp_path):
    before = set(os.listdir("/dev/shm"))
    df, _ = _run(tmp_path, "broadcast", ["processes", "dask"])
    moved = _driver_bytes(df)
    (tasks,) = set(df["tasks"])  # one reader task per node
    for backend in ("processes", "dask"):
        value = next(
            v for (b, p), v in moved.items() if b == backend and json.loads(p)["pass_by"] == "value"
        )
        ref = next(
            (v, json.loads(p)["size_bytes"])
            for (b, p), v in moved.items()
            if b == backend and json.loads(p)["pass_by"] == "reference"
        )
        size = ref[1]
        assert size <= ref[0] < 1.05 * size, (backend, ref)  # placed once, handles are small
        assert value >= tasks * size, (backend, value)  # the array went with every task
    starts = df[df["metric"] == "first_task_start_s"]
    assert set(starts["backend"]) == {"processes", "dask"} and (starts["value"] >= 0).all()
    # the pools' segments were removed after each graph, and none outlived the run
    assert not {n for n in set(os.listdir("/dev/shm")) - before if n.startswith("psm_")}
    recs = advice.recommendations(df)
    assert "by value or by reference, and from what size?" in set(recs["question"])
    # the report's page of where the data went: driver bytes and the first task's start
    pages = full_report(reports.load_data([tmp_path / "broadcast"]))
    (page,) = [p for p in pages if p.name == "broadcast-data"]
    panels = [ax.get_title() for ax in page.content.axes if ax.get_title()]
    assert any("through the driver" in t for t in panels)
    assert any("first task began" in t for t in panels)
    # and every exported cases table: driver bytes a column, each case's median over rounds
    proc = cli("export", str(tmp_path / "broadcast"), "--table", "cases", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    exported = {(r["backend"], r["params"]): r for r in json.loads(proc.stdout)}
    assert {key: r["driver_bytes"] for key, r in exported.items()} == pytest.approx(moved)
    assert all(r["first_task_start_s"] >= 0 for r in exported.values())
    assert not [
        p for p in full_report(reports.load_data([stored_run("cpu")])) if p.name.endswith("-data")
    ]


def test_tree_and_pipeline_graphs_run_on_loky_and_dask(tmp_path):
    df, _ = _run(tmp_path, "tree-reduce", ["loky"])
    assert (df[df["metric"] == "tasks_per_s"]["value"] > 0).all()
    df, _ = _run(tmp_path, "pipeline", ["dask"])
    schedules = {json.loads(p)["schedule"] for p in df["params"]}
    assert schedules == {"streaming", "stage_by_stage"}


def test_a_graph_workload_of_your_own_runs_as_module_object(tmp_path):
    out = tmp_path / "out"
    spec_file = str(EXAMPLES / "wordcount.toml")
    proc = harness(
        "run",
        spec_file,
        "--import",
        "wordcount",
        "--quick",
        "--backends",
        "sequential,processes",
        "--out",
        str(out),
        cwd=EXAMPLES,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = results.load(only_run(out))
    assert set(df["status"]) == {"ok"} and set(df["backend"]) == {"sequential", "processes"}
    # without --import the spec alone never imports it: one line, exit 2, nothing written
    refused = harness("run", spec_file, "--quick", "--out", str(tmp_path / "no"), cwd=EXAMPLES)
    assert refused.returncode == 2 and "--import wordcount" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "no").exists()


def test_shared_arrays_are_passed_by_reference_on_a_process_pool():
    import numpy as np

    from harness import backends
    from harness.tasks import SharedArray

    g = Graph(by_reference=True)
    data = Shared("data", np.arange(1000, dtype=np.float64))
    g.outputs = [g.add(np.sum, data) for _ in range(4)]
    pool = backends.get("processes")(2)
    pool.start()
    try:
        handle = pool.share(data.value)
        assert isinstance(handle, SharedArray) and os.path.exists(f"/dev/shm/{handle.name}")
        assert (os.stat(f"/dev/shm/{handle.name}").st_mode & 0o077) == 0  # this user's only
        pool.unshare([handle])
        assert not os.path.exists(f"/dev/shm/{handle.name}")
        run = pool.run_graph(g, count_bytes=True)
    finally:
        pool.stop()
    assert run.outputs == [data.value.sum()] * 4
    assert data.value.nbytes <= run.driver_bytes < data.value.nbytes + 4_000
