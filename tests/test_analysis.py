"""The case table: parameter sets in value order, one sequential baseline each, intervals
with their real level and scope, speedup with both cases' variation. Frames only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import analysis, results
from harness.measure import stats
from tests.conftest import harness


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


def walls(backend: str, values, workers: int = 2, rnd: int = 1, run: str = "r") -> list[dict]:
    """wall_s rows of one case in one round (each round is its own process)."""
    w = 1 if backend == "sequential" else workers
    return [
        {"run_id": run, "host": "h", "scenario": "t", "case_id": f"t/{backend}/w{w}",
         "backend": backend, "workers": w, "params": "{}", "tasks": 4, "round": rnd,
         "repeat": i + 1, "metric": "wall_s", "value": float(v), "unit": "s", "status": "ok",
         "error": ""}
        for i, v in enumerate(values)
    ]  # fmt: skip


def _row(table, backend: str):
    return table[table.backend == backend].iloc[0]


def test_one_round_interval_states_its_level_and_that_it_covers_one_process():
    table = analysis.case_table(results.frame(walls("threads", [1.0, 1.2, 1.1, 1.3, 1.4])))
    row = _row(table, "threads")
    assert (row["ci_low"], row["ci_high"]) == (1.0, 1.4)  # n = 5: only [min, max] is left
    assert row["ci_level"] == pytest.approx(0.9375)  # ... and it covers 93.75%, not 95%
    assert row["ci_scope"] == "1 process" and row["rounds"] == 1
    assert np.isnan(row["round_cv"])


def test_two_repeats_give_no_interval_and_a_note():
    row = _row(analysis.case_table(results.frame(walls("threads", [1.0, 1.1]))), "threads")
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_level"])
    assert "too few" in row["ci_note"]


def test_rounds_are_pooled_and_their_spread_is_given():
    medians = [1.0, 1.5, 2.0]
    rows_ = [r for i, m in enumerate(medians, 1) for r in walls("threads", [m] * 5, rnd=i)]
    row = _row(analysis.case_table(results.frame(rows_)), "threads")
    assert row["n"] == 15 and row["rounds"] == 3 and row["ci_scope"] == "3 rounds pooled"
    assert row["ci_level"] == pytest.approx(stats.median_interval(range(15)).level)
    assert row["round_cv"] == pytest.approx(np.std(medians, ddof=1) / np.mean(medians))
    # the rounds differ far more than repeats inside them: the note says so
    assert "rounds differ" in row["ci_note"]


def test_rounds_alike_raise_no_note():
    rng = np.random.default_rng(8)
    rows_ = [
        r for i in (1, 2, 3) for r in walls("threads", 1 + 0.05 * rng.standard_normal(5), rnd=i)
    ]
    row = _row(analysis.case_table(results.frame(rows_)), "threads")
    assert row["round_cv"] > 0 and row["ci_note"] == ""


def _speedup(seq_values, case_values):
    df = results.frame(walls("sequential", seq_values) + walls("threads", case_values))
    return _row(analysis.case_table(df), "threads")


def test_speedup_interval_carries_the_baselines_variation():
    rng = np.random.default_rng(0)
    contender = 0.5 * np.exp(0.01 * rng.standard_normal(8))
    quiet = _speedup(np.exp(0.01 * rng.standard_normal(8)), contender)
    noisy = _speedup(np.exp(0.2 * rng.standard_normal(8)), contender)
    width = lambda r: r["speedup_ci_high"] - r["speedup_ci_low"]  # noqa: E731
    assert width(noisy) > 5 * width(quiet)
    for row in (quiet, noisy):
        assert row["speedup_ci_low"] <= row["speedup"] <= row["speedup_ci_high"]
        assert row["speedup_ci_level"] >= 0.95
        assert row["efficiency_ci_low"] == pytest.approx(row["speedup_ci_low"] / 2)


def test_efficiency_above_one_is_marked_never_plain():
    rng = np.random.default_rng(1)
    seq = np.exp(0.05 * rng.standard_normal(5))
    noise = _speedup(seq, 0.49 * np.exp(0.05 * rng.standard_normal(5)))  # about 102%
    assert noise["efficiency"] > 1 and noise["efficiency_ci_low"] <= 1
    assert noise["efficiency_note"] == analysis.ABOVE_ONE
    clear = _speedup(seq, 0.3 * np.exp(0.01 * rng.standard_normal(5)))  # about 167%
    assert clear["efficiency_ci_low"] > 1 and clear["efficiency_note"] == analysis.SUPERLINEAR
    plain = _speedup(seq, 0.8 * seq)
    assert plain["efficiency"] < 1 and plain["efficiency_note"] == ""


def test_export_of_the_cases_table_carries_levels_and_scaling(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    df = results.frame(walls("sequential", [2.0, 2.1, 1.9, 2.0, 2.2])
                       + walls("threads", [1.0, 1.1, 0.9, 1.0, 1.05]))  # fmt: skip
    df.to_parquet(run / results.MEASUREMENTS)
    proc = harness("export", str(run), "--table", "cases", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (seq, threads) = json.loads(proc.stdout)
    for column in (
        "ci_low",
        "ci_high",
        "ci_level",
        "ci_scope",
        "speedup",
        "speedup_ci_low",
        "speedup_ci_high",
        "speedup_ci_level",
        "efficiency",
        "efficiency_note",
    ):
        assert column in threads, column  # fmt: skip
    assert threads["ci_level"] == pytest.approx(0.9375) and threads["ci_scope"] == "1 process"
    assert threads["speedup_ci_low"] < 2.0 < threads["speedup_ci_high"]
