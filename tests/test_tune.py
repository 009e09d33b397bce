"""`harness tune` end to end: real races on real engines, and bad input.

The three workloads of examples/tune/tunedemo.py have answers known on a 2-core machine:
tiny pure-Python tasks want a process pool with chunks, 20 ms waits want many workers,
GIL-releasing hashing wants a parallel backend. Each race here is cut to the candidates
that decide the kind (and a budget the suite can afford); `harness tune` at its defaults
runs every engine (docs/tune.md shows such a run).
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, harness

from harness import results

EXAMPLE = REPO / "examples" / "tune"


def _tune(tmp_path: Path, spec: str, *args: str, timeout: float = 300):
    out = tmp_path / "runs"
    proc = harness(
        "tune", spec, "--import", "tunedemo", "--out", str(out), "--format", "json",
        "--repeat", "2", *args,
        cwd=EXAMPLE, timeout=timeout,
    )  # fmt: skip
    runs = sorted(out.iterdir()) if out.exists() else []
    return proc, runs


def _answer(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_tiny_pure_python_tasks_pick_a_process_pool_with_chunks(tmp_path):
    proc, runs = _tune(tmp_path, "tiny.toml", "--backends", "threads,processes", "--budget", "15s")
    doc = _answer(proc)
    winner = doc["winner"]
    assert winner["backend"] == "processes" and winner["batching"] == "chunks", doc
    assert winner["chunk"] > 1 and winner["speedup"] > 1
    statuses = {c["candidate"]: c["status"] for c in doc["candidates"]}
    # one task per input pays a pool's message per 25 us task: out after its first process
    assert statuses["processes w2, a task per input"] in ("pruned", "timeout") or statuses[
        "processes w2, a task per input"
    ].startswith("eliminated"), statuses
    assert doc["spent_s"] <= 15 + 20
    assert (
        "ProcessPoolExecutor(2" in doc["snippet"]
        and f"chunksize={winner['chunk']}" in doc["snippet"]
    )
    # stored like any run: the parquet holds every candidate's processes, block by block
    frame = results.load(runs[0])
    assert set(frame["case_id"]) >= {c["case_id"] for c in doc["candidates"] if c["blocks"]}
    info = results.run_info(runs[0])
    assert info["tune"]["winner"]["case_id"] == winner["case_id"]


def test_waiting_tasks_pick_many_workers(tmp_path):
    proc, _ = _tune(tmp_path, "wait.toml", "--backends", "threads", "--budget", "20s")
    doc = _answer(proc)
    assert doc["probe"]["cpu_wanted"] < 0.5  # the probe saw the task wait
    winner = doc["winner"]
    assert winner["workers"] >= 16, doc["winner"]
    assert winner["speedup"] > 8
    # worker counts past the cores that cannot win were not even started
    pruned = [c for c in doc["candidates"] if c["status"] == "not run"]
    assert pruned, doc["candidates"]


def test_gil_releasing_hashing_picks_a_parallel_backend(tmp_path):
    proc, _ = _tune(tmp_path, "digest.toml", "--backends", "threads,processes", "--workers", "2",
                    "--budget", "20s")  # fmt: skip
    doc = _answer(proc)
    winner = doc["winner"]
    assert winner["backend"] in ("threads", "processes") and winner["workers"] >= 2, winner
    assert winner["speedup"] > 1.2, winner
    # with the blocks an interval needs (a loaded machine may leave it 2 in 20 s), the
    # interval says parallel too
    if winner["blocks"] >= 4:
        assert winner["speedup_ci_low"] > 1, winner
