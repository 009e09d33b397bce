"""`harness tune` with real Dask and Ray candidates: groups of the size tune chose.

Apart from tests/test_tune.py so that `make test` (a file per pytest worker) runs the two
at once: each is a minute of real races.
"""

from __future__ import annotations

import json

from conftest import harness
from test_tune import _answer, _tune

from harness import results


def test_ray_races_in_groups_and_its_other_ways_join_a_warm_engine(tmp_path):
    """Real Ray candidates: the first starts Ray (its start-up measured), the next joins a
    warm local Ray as a fresh driver, and a group of the size tune chose is one Ray task
    (`group_size`); every candidate that ran kept the sequential answer. (Dask's grouped
    ways run in the cluster test below.)"""
    proc, _ = _tune(tmp_path, "digest.toml", "--backends", "ray", "--budget", "20s",
                    "--repeat", "2", timeout=400)  # fmt: skip
    doc = _answer(proc)
    ran = {c["candidate"]: c for c in doc["candidates"] if c["blocks"]}
    assert any(name.startswith("ray w2, chunks of") for name in ran), ran
    assert "join a warm local engine" in proc.stderr, proc.stderr[-2000:]
    started = [c for c in ran.values() if c["backend"] == "ray" and c["startup_s"] is not None]
    assert len(started) == 1, ran  # one cold start; the other ways joined it
    assert doc["winner"] is not None and doc["snippet"]


def test_a_cluster_given_by_address_races_with_all_its_workers(tmp_path):
    """A real Dask cluster (`harness cluster up`, on loopback) given by address: its
    candidates use all its workers, run there, and the snippet connects to it."""
    state = tmp_path / "cluster.json"
    up = harness("cluster", "up", "dask", "--workers", "2", "--state", str(state), timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        address = json.loads(state.read_text())["address"]
        proc, runs = _tune(tmp_path, "digest.toml", "--backends", "threads", "--dask-address",
                           address, "--budget", "12s", "--repeat", "2")  # fmt: skip
        doc = _answer(proc)
        on_cluster = [c for c in doc["candidates"] if c["backend"] == "dask"]
        assert on_cluster and all(f"at {address} w2" in c["candidate"] for c in on_cluster)
        assert any(c["blocks"] for c in on_cluster), on_cluster
        options = {c["case_id"]: c for c in results.run_info(runs[0])["tune"]["candidates"]}
        assert {options[c["case_id"]]["address"] for c in on_cluster} == {address}
        if doc["winner"]["backend"] == "dask":
            assert f'Client("{address}")' in doc["snippet"]
    finally:
        down = harness("cluster", "down", "--state", str(state), timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
