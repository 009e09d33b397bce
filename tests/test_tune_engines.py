"""`harness tune` on a real Dask cluster given by address: its candidates, grouped by the
size tune chose, run there. (Tune's Ray candidates join a warm Ray through the runner's
`WarmEngines`, which tests/test_budget.py checks with a real Ray.)

Apart from tests/test_tune.py so that `make test` (a file per pytest worker) runs the two
at once.
"""

from __future__ import annotations

import json

from conftest import harness
from test_tune import _answer, _tune

from harness import results


def test_a_cluster_given_by_address_races_with_all_its_workers(tmp_path):
    """A real Dask cluster (`harness cluster up`, on loopback) given by address: its
    candidates use all its workers, run there, and the snippet connects to it."""
    state = tmp_path / "cluster.json"
    up = harness("cluster", "up", "dask", "--workers", "2", "--state", str(state), timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        address = json.loads(state.read_text())["address"]
        proc, runs = _tune(tmp_path, "digest.toml", "--backends", "threads", "--dask-address",
                           address, "--budget", "12s")  # fmt: skip
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
