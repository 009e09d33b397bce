"""The case table: parameter sets in value order, one sequential baseline each."""

from __future__ import annotations

import json

import pytest

from harness import analysis, results


def rows(params: dict, backend: str, walls: list[float]) -> list[dict]:
    key = json.dumps(params, sort_keys=True)
    case_id = f"t/{backend}/w2/" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return [
        {"run_id": "r", "host": "h", "scenario": "t", "case_id": case_id, "backend": backend,
         "workers": 1 if backend == "sequential" else 2, "params": key, "tasks": 4,
         "repeat": i + 1, "metric": "wall_s", "value": w, "unit": "s", "status": "ok",
         "error": ""}
        for i, w in enumerate(walls)
    ]  # fmt: skip


def test_parameter_sets_sort_by_value_not_as_text():
    df = results.frame(
        rows({"size": 1048576}, "threads", [1.0, 1.1])
        + rows({"size": 65536}, "threads", [0.1, 0.1])
        + rows({"size": 1024}, "threads", [0.01, 0.01])
    )
    table = analysis.case_table(df)
    assert [json.loads(p)["size"] for p in table["params"]] == [1024, 65536, 1048576]


def test_runs_without_parameters_still_summarise():
    df = results.frame(rows({}, "sequential", [2.0, 2.0]) + rows({}, "threads", [1.0, 1.0]))
    table = analysis.case_table(df)
    assert list(table["backend"]) == ["sequential", "threads"]
    threads = table[table.backend == "threads"].iloc[0]
    assert threads["speedup"] == pytest.approx(2.0) and threads["efficiency"] == pytest.approx(1.0)


def test_expand_params_gives_a_column_per_parameter():
    df = results.frame(rows({"size": 1024, "kind": "bytes"}, "threads", [0.5]))
    wide = results.with_params(df)
    assert wide.loc[0, "param_size"] == 1024 and wide.loc[0, "param_kind"] == "bytes"
    assert len(wide) == len(df)
