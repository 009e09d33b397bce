"""The case table: parameter sets in value order, one sequential baseline each, intervals
with their real level and scope, speedup with both cases' variation. Frames only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import results
from harness.analysis import summaries
from harness.measure import stats
from tests.conftest import harness

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process


def rows(params: dict, backend: str, walls: list[float]) -> list[dict]:
    key = json.dumps(params, sort_keys=True)
    case_id = f"t/{backend}/w2/" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return [
        {
            "run_id": "r",
            "host": "h",
            "scenario": "t",
            "case_id": case_id,
            "backend": backend,
            "workers": 1 if backend == "sequential" else 2,
            "params": key,
            "tasks": 4,
            "repeat": i + 1,
            "metric": "wall_s",
            "value": w,
            "unit": "s",
            "status": "ok",
            "error": "",
        }
        for i, w in enumerate(walls)
    ]


def test_parameter_sets_sort_by_value_not_as_text():
    df = results.frame(
        rows({"size": 1048576}, "threads", [1.0, 1.1])
        + rows({"size": 65536}, "threads", [0.1, 0.1])
        + rows({"size": 1024}, "threads", [0.01, 0.01])
    )
    table = summaries.case_table(df)
    assert [json.loads(p)["size"] for p in table["params"]] == [1024, 65536, 1048576]


def test_runs_without_parameters_still_summarise():
    df = results.frame(rows({}, "sequential", [2.0, 2.0]) + rows({}, "threads", [1.0, 1.0]))
    table = summaries.case_table(df)
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
        {
            "run_id": run,
            "host": "h",
            "scenario": "t",
            "case_id": f"t/{backend}/w{w}",
            "backend": backend,
            "workers": w,
            "params": "{}",
            "tasks": 4,
            "round": rnd,
            "repeat": i + 1,
            "metric": "wall_s",
            "value": float(v),
            "unit": "s",
            "status": "ok",
            "error": "",
        }
        for i, v in enumerate(values)
    ]


def _row(table, backend: str):
    return table[table.backend == backend].iloc[0]


def test_one_round_interval_states_its_level_and_that_it_covers_one_process():
    table = summaries.case_table(results.frame(walls("threads", [1.0, 1.2, 1.1, 1.3, 1.4])))
    row = _row(table, "threads")
    assert (row["ci_low"], row["ci_high"]) == (1.0, 1.4)  # n = 5: only [min, max] is left
    assert row["ci_level"] == pytest.approx(0.9375)  # ... and it covers 93.75%, not 95%
    assert row["ci_scope"] == summaries.ONE_PROCESS == "within 1 process" and row["rounds"] == 1
    assert np.isnan(row["round_cv"])


def test_two_repeats_give_no_interval_and_a_note():
    row = _row(summaries.case_table(results.frame(walls("threads", [1.0, 1.1]))), "threads")
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_level"])
    assert "too few" in row["ci_note"]


def test_processes_are_the_unit_and_their_spread_is_given():
    """Three processes, five identical repeats each: repeats pooled as independent would
    give a tight interval; the process medians give the honest one: their order statistics,
    whose level follows from the 3 processes (75%), whatever the shape."""
    medians = [1.0, 1.5, 2.0]
    rows_ = [r for i, m in enumerate(medians, 1) for r in walls("threads", [m] * 5, rnd=i)]
    row = _row(summaries.case_table(results.frame(rows_)), "threads")
    assert row["n"] == 15 and row["rounds"] == 3 and row["ci_scope"] == "3 processes"
    expected = stats.case_interval(medians)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert row["ci_level"] == pytest.approx(0.75) and row["median"] == 1.5
    assert (row["ci_low"], row["ci_high"]) == (1.0, 2.0)  # the processes' range, not less
    assert row["round_cv"] == pytest.approx(np.std(medians, ddof=1) / np.mean(medians))
    # the processes differ far more than repeats inside them: the note says so
    assert "processes differ" in row["ci_note"] and row["unstable"]


@pytest.mark.parametrize("seed", range(6))
def test_processes_alike_raise_no_note(seed):
    rng = np.random.default_rng(seed)
    rows_ = [
        r for i in (1, 2, 3) for r in walls("threads", 1 + 0.05 * rng.standard_normal(5), rnd=i)
    ]
    row = _row(summaries.case_table(results.frame(rows_)), "threads")
    assert row["round_cv"] > 0 and "processes differ" not in row["ci_note"]


def test_processes_differ_note_compares_with_the_spread_within_processes():
    """The old rule compared round medians with the pooled spread, which holds the
    difference between processes itself, and so fell silent as rounds grew."""
    rng = np.random.default_rng(3)
    for rounds in (3, 5, 10):
        rows_ = [
            r
            for i in range(1, rounds + 1)
            for r in walls(
                "threads",
                (1 + 0.05 * rng.standard_normal()) * np.exp(0.01 * rng.standard_normal(5)),
                rnd=i,
            )
        ]
        row = _row(summaries.case_table(results.frame(rows_)), "threads")
        assert "processes differ" in row["ci_note"], rounds


def walls_in(backend: str, medians, spread: float, rng) -> list[dict]:
    """One case over several processes (rounds), five repeats each around each median."""
    out = []
    for i, m in enumerate(medians, 1):
        out += walls(backend, m * np.exp(spread * rng.standard_normal(5)), rnd=i)
    return out


def test_speedup_from_processes_is_welch_and_from_one_process_says_so():
    rng = np.random.default_rng(4)
    df = results.frame(
        walls_in("sequential", [1.0, 1.02, 0.98], 0.01, rng)
        + walls_in("threads", [0.5, 0.52, 0.49], 0.01, rng)
    )
    row = _row(summaries.case_table(df), "threads")
    assert row["speedup_ci_scope"] == "3 processes" and row["speedup_ci_level"] == 0.95
    assert row["speedup_ci_low"] < row["speedup"] < row["speedup_ci_high"]
    one = _speedup([1.0, 1.01, 0.99, 1.0, 1.02], [0.5, 0.51, 0.49, 0.5, 0.5])
    assert one["speedup_ci_scope"] == summaries.ONE_PROCESS


def test_one_process_never_marks_superlinear():
    """One thread 'faster' than the sequential loop within one process each: the two cases
    are two processes, and nothing is called from that."""
    df = results.frame(
        walls("sequential", [1.08, 1.09, 1.1, 1.08, 1.09])
        + walls("threads", [1.0, 1.0, 1.01, 1.0, 1.0], workers=1)
    )
    row = _row(summaries.case_table(df), "threads")
    assert row["efficiency"] > 1 and row["efficiency_note"] == summaries.ABOVE_ONE_IN_ONE_PROCESS


def test_negative_added_memory_of_old_runs_is_never_shown():
    rows_ = walls("processes", [1.0, 1.1, 1.2])
    rows_ += [
        {**rows_[0], "repeat": None, "metric": m, "value": -7.8e6, "unit": "B"}
        for m in ("peak_uss_bytes", "fixed_uss_bytes")
    ]
    row = _row(summaries.case_table(results.frame(rows_)), "processes")
    assert row["peak_uss_bytes"] == 0 and row["fixed_uss_bytes"] == 0


def _speedup(seq_values, case_values):
    df = results.frame(walls("sequential", seq_values) + walls("threads", case_values))
    return _row(summaries.case_table(df), "threads")


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

    def case(median: float, spread: float):
        seq = walls_in("sequential", [1.0, 1.0, 1.0], 0.01, rng)
        medians = median * np.exp(spread * rng.standard_normal(3))
        df = results.frame(seq + walls_in("threads", medians, 0.01, rng))
        return _row(summaries.case_table(df), "threads")

    noise = case(0.49, 0.05)  # about 102%, processes spread 5%
    assert noise["efficiency"] > 1 and noise["efficiency_ci_low"] <= 1
    assert noise["efficiency_note"] == summaries.ABOVE_ONE
    clear = case(0.3, 0.01)  # about 167%
    assert clear["efficiency_ci_low"] > 1 and clear["efficiency_note"] == summaries.SUPERLINEAR
    plain = case(0.8, 0.01)
    assert plain["efficiency"] < 1 and plain["efficiency_note"] == ""


def test_export_of_the_cases_table_carries_levels_and_scaling(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    df = results.frame(
        walls("sequential", [2.0, 2.1, 1.9, 2.0, 2.2])
        + walls("threads", [1.0, 1.1, 0.9, 1.0, 1.05])
    )
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
        assert column in threads, column
    assert threads["ci_level"] == pytest.approx(0.9375)
    assert threads["ci_scope"] == "within 1 process"
    assert threads["speedup_ci_low"] < 2.0 < threads["speedup_ci_high"]
