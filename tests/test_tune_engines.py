"""`harness tune` with real Dask and Ray candidates: groups of the size tune chose.

Apart from tests/test_tune.py so that `make test` (a file per pytest worker) runs the two
at once: each is a minute of real races.
"""

from __future__ import annotations

from test_tune import _answer, _tune


def test_dask_and_ray_race_with_groups(tmp_path):
    """Real Dask and Ray candidates, grouped by the size tune chose: a group per engine
    task ran (`group_size`), and every candidate that ran kept the sequential answer."""
    proc, runs = _tune(tmp_path, "digest.toml", "--backends", "dask,ray", "--budget", "40s",
                       "--repeat", "2", timeout=400)  # fmt: skip
    doc = _answer(proc)
    ran = {c["candidate"]: c for c in doc["candidates"] if c["blocks"]}
    assert any(name.startswith("dask w2, chunks of") for name in ran), ran
    assert any(name.startswith("ray w2") for name in ran), ran
    assert doc["winner"] is not None and doc["snippet"]
