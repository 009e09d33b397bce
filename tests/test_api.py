"""The notebook API: harness.run / load / report, on real (cheap) backends."""

from __future__ import annotations

import pytest

import harness
from harness import results
from harness.errors import InputError

SPEC = {
    "name": "mine",
    "description": "sum of squares from a dict",
    "workload": "sum_of_squares",
    "tasks": 4,
    "params": {"n": 2000},
    "backends": ["sequential", "threads"],
    "workers": [2],
    "repeat": 3,
    "warmup": 0,
}


def test_run_returns_the_frame_and_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = harness.run(SPEC)
    assert list(df.columns)[: len(results.SCHEMA)] == list(results.SCHEMA)
    assert set(df["case_id"]) == {"mine/sequential/w1/n=2000", "mine/threads/w2/n=2000"}
    assert (df["status"] == "ok").all() and (df["param_n"] == 2000).all()
    # three fresh processes a case by default (the spec's rounds), three repeats each
    assert len(df[df.metric == "wall_s"]) == 2 * 3 * 3
    assert sorted(df["round"].unique()) == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []  # no results/ folder, no temporary run left


def test_run_with_out_keeps_a_run_that_load_and_report_read(tmp_path):
    df = harness.run("cpu", backends=["sequential"], quick=True, out=tmp_path / "runs")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert results.run_info(run_dir)["command"] == "harness.run('cpu')"
    loaded = harness.load(run_dir)
    assert loaded["value"].tolist() == df["value"].tolist()
    pdf = harness.report(loaded, tmp_path / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert harness.report(run_dir, tmp_path / "r2.pdf").stat().st_size > 1000


def test_a_bad_dict_spec_names_every_bad_field_at_once():
    with pytest.raises(InputError) as err:
        harness.run({**SPEC, "tasks": 0, "repeat": 0, "colour": "red"})
    message = str(err.value)
    assert "tasks: must be at least 1" in message and "repeat: must be at least 1" in message
    assert "colour: unknown field" in message


def _squares(n: int) -> int:
    """Sum of squares below n, in pure Python.

    More lines that are not the description."""
    return sum(i * i for i in range(n))


def test_a_dict_spec_needs_no_description():
    """A notebook's dict takes its workload's docstring's first line, else its name."""
    from harness import spec
    from harness.api import _references

    bare = {k: v for k, v in SPEC.items() if k != "description"}
    allowed: list[str] = []
    data = _references({**bare, "workload": _squares}, allowed)
    assert data["description"] == "Sum of squares below n, in pure Python."
    assert data["workload"] == f"{_squares.__module__}:_squares"
    assert allowed == [_squares.__module__]
    assert spec.validate(_references(bare, []), "spec", []).description == "sum_of_squares"
    assert _references({**bare, "workload": _undocumented}, [])["description"] == "_undocumented"


def _undocumented(n: int) -> int:
    return n
