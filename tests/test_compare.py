"""`harness compare`: no call where the test cannot reach alpha, a real 2x change called and
gating the exit code, per-round metrics compared across rounds, words from the metric
catalogue, --normalize carrying the baseline's variance, and false calls near alpha on
same-distribution data. Most tests use stored frames of known distributions (no engine);
the last ones use real runs of the io scenario (tasks that sleep, reliable even on a loaded
machine) with 4 workers and with 1, stored under tests/fixtures/runs (see make_fixtures.py):
what is tested is the comparison, not the engines that made them. The CLI is called in-process
(conftest.cli) but for the gate, which CI reads from a process of its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import STORED, cli, harness, stored_run

from harness import compare, results

# Stored frames of known distributions -------------------------------------------------------

PER_ROUND = ("startup_s", "peak_uss_bytes", "rtt_p50_s")


def rows(run: str, backend: str, values, metric: str = "wall_s", unit: str = "s",
         params: dict | None = None, rnd: int = 1) -> list[dict]:  # fmt: skip
    """One case's rows: a value per repeat, or for a per-round metric a value per round."""
    key = json.dumps(params or {}, sort_keys=True)
    workers = 1 if backend == "sequential" else 2
    once = metric in PER_ROUND
    return [
        {"run_id": run, "host": "h", "scenario": "t", "case_id": f"t/{backend}/w{workers}/{key}",
         "backend": backend, "workers": workers, "params": key, "tasks": 4,
         "round": i + 1 if once else rnd, "repeat": None if once else i + 1, "metric": metric,
         "value": float(v), "unit": unit, "status": "ok", "error": ""}
        for i, v in enumerate(values)
    ]  # fmt: skip


def lognormal(rng: np.random.Generator, median: float, n: int, cv: float = 0.05) -> np.ndarray:
    return median * np.exp(cv * rng.standard_normal(n))


def stored(tmp_path: Path, name: str, rows_: list[dict]) -> Path:
    """A run folder holding only its measurements, as `harness compare` reads it."""
    run = tmp_path / name
    run.mkdir()
    results.frame(rows_).to_parquet(run / results.MEASUREMENTS)
    return run


def _cli(*args: str) -> tuple[int, dict, str]:
    proc = cli("compare", *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    table = cli("compare", *args)
    return proc.returncode, json.loads(proc.stdout), table.stdout


def test_three_against_three_calls_nothing_and_passes_the_gate(tmp_path):
    rng = np.random.default_rng(0)
    base = stored(tmp_path, "a", rows("a", "threads", lognormal(rng, 1.0, 3)))
    cont = stored(tmp_path, "b", rows("b", "threads", lognormal(rng, 2.0, 3)))
    code, report, table = _cli(str(base), str(cont), "--fail-on-regression")
    assert code == 0  # a 2x slowdown, but 3 vs 3 cannot reach p < 0.05: no call, no exit 1
    (case,) = report["cases"]
    assert case["change"] == "too few repeats" and not case["regression"]
    assert case["note"] == "n=3 each; need >= 4 each at alpha 0.05"
    assert case["ci_level"] == pytest.approx(0.9)  # the widest there is, at its own level
    assert "too few repeats (n=3 each; need >= 4 each at alpha 0.05)" in table


def test_two_x_at_eight_against_eight_is_called_and_fails_the_gate(tmp_path):
    rng = np.random.default_rng(1)
    base = stored(tmp_path, "a", rows("a", "threads", lognormal(rng, 1.0, 8)))
    cont = stored(tmp_path, "b", rows("b", "threads", lognormal(rng, 2.0, 8)))
    code, report, table = _cli(str(base), str(cont), "--fail-on-regression")
    assert code == 1
    (case,) = report["cases"]
    assert case["change"] == "slower" and case["regression"] and case["p_value"] < 0.001
    assert case["ci_low"] > 1.8 and case["ci_high"] < 2.2 and case["ci_level"] >= 0.95
    assert "slower" in table and "95%" in table  # the interval's level is printed


def _many_cases(rng, n: int, cases: int, base_median, cont_median, seq_cv=None):
    """`cases` cases (one parameter value each) in one run per side: one comparison tests
    many, so rates of calls are measured without many processes."""
    sides = {"a": [], "b": []}
    for i in range(cases):
        for side, median in (("a", base_median), ("b", cont_median)):
            sides[side] += rows(side, "threads", lognormal(rng, median, n), params={"i": i})
            if seq_cv is not None:
                seq = lognormal(rng, 2.0, n, cv=seq_cv)
                sides[side] += rows(side, "sequential", seq, params={"i": i})
    return results.frame(sides["a"]), results.frame(sides["b"])


def test_same_distribution_is_called_changed_about_alpha_of_the_time():
    """Not A/A on identical data (which cannot fail): fresh samples of one distribution."""
    base, cont = _many_cases(np.random.default_rng(2), 8, 400, 1.0, 1.0)
    result = compare.compare(base, cont, threshold=0.0)
    called = (result.rows["change"] != "same").mean()
    assert called < 0.05 + 0.03, called  # Mann-Whitney at alpha 0.05; 400 cases


def test_two_x_at_eight_against_eight_is_always_caught():
    base, cont = _many_cases(np.random.default_rng(3), 8, 200, 1.0, 2.0)
    result = compare.compare(base, cont)
    assert (result.rows["change"] == "slower").all()


def test_normalize_carries_the_baselines_variance():
    """A noisy sequential case on each side, the same distributions on both: dividing by a
    fixed sequential median would call most of these cases changed."""
    base, cont = _many_cases(np.random.default_rng(4), 8, 200, 1.0, 1.0, seq_cv=0.3)
    result = compare.compare(base, cont, normalize="sequential", threshold=0.0)
    assert result.metric == "speedup (wall_s)" and result.higher_is_better
    called = (result.rows["change"] != "same").mean()
    assert called < 0.05 + 0.04, called


def test_normalize_still_catches_a_real_change():
    rng = np.random.default_rng(5)
    base, _ = _many_cases(rng, 8, 20, 1.0, 1.0, seq_cv=0.05)
    _, cont = _many_cases(rng, 8, 20, 1.0, 2.0, seq_cv=0.05)
    result = compare.compare(base, cont, normalize="sequential")
    assert set(result.rows["change"]) == {"lower"}  # speedup halved: words of 'speedup'
    assert result.rows["regression"].all()


def test_per_round_metrics_need_rounds(tmp_path):
    rng = np.random.default_rng(6)
    one = [stored(tmp_path, s, rows(s, "threads", lognormal(rng, m, 1), "startup_s"))
           for s, m in (("a1", 1.0), ("b1", 2.0))]  # fmt: skip
    code, report, table = _cli(str(one[0]), str(one[1]), "--metric", "startup_s",
                               "--fail-on-regression")  # fmt: skip
    assert code == 0 and report["per"] == "round"
    assert report["cases"][0]["change"] == "too few rounds"
    assert "too few rounds (n=1 each" in table
    five = [stored(tmp_path, s, rows(s, "threads", lognormal(rng, m, 5), "startup_s"))
            for s, m in (("a5", 1.0), ("b5", 2.0))]  # fmt: skip
    code, report, _ = _cli(str(five[0]), str(five[1]), "--metric", "startup_s",
                           "--fail-on-regression")  # fmt: skip
    assert code == 1 and report["cases"][0]["change"] == "slower"
    assert report["cases"][0]["n_baseline"] == 5 and report["cases"][0]["rounds_baseline"] == 5


@pytest.mark.parametrize(
    ("metric", "unit", "factor", "word", "regression"),
    [
        ("wall_s", "s", 2.0, "slower", True),
        ("wall_s", "s", 0.5, "faster", False),
        ("tasks_per_s", "1/s", 0.5, "lower", True),
        ("tasks_per_s", "1/s", 2.0, "higher", False),
        ("peak_uss_bytes", "B", 2.0, "more memory", True),
        ("cpu_util", "ratio", 2.0, "higher", False),  # no better direction: never a regression
    ],
)
def test_words_and_direction_come_from_the_catalogue(metric, unit, factor, word, regression):
    rng = np.random.default_rng(7)
    base = results.frame(rows("a", "threads", lognormal(rng, 1.0, 8), metric, unit))
    cont = results.frame(rows("b", "threads", lognormal(rng, factor, 8), metric, unit))
    (row,) = compare.compare(base, cont, metric=metric).rows.to_dict("records")
    assert (row["change"], row["regression"]) == (word, regression)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threshold", "5"], "--threshold"),
        (["--metric", "no_such_s"], "--metric"),
        (["--format", "xml"], "--format"),
        (["--normalize", "cores"], "--normalize"),
        (["--ignore", "scenario"], "--ignore"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    run = stored(tmp_path, "a", rows("a", "threads", [1.0, 1.1, 1.2]))
    proc = cli("compare", str(run), str(run), *args)
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_normalize_needs_a_direction():
    df = results.frame(rows("a", "threads", [0.5, 0.6, 0.7], "cpu_util", "ratio"))
    with pytest.raises(compare.CompareError, match="no better direction"):
        compare.compare(df, df, metric="cpu_util", normalize="sequential")


def test_ignore_that_would_pool_worker_counts_is_refused():
    both = results.frame(
        rows("a", "threads", [1.0, 1.1, 1.2])
        + [{**r, "workers": 4, "case_id": "t/threads/w4"} for r in rows("c", "threads", [1.0])]
    )
    with pytest.raises(compare.CompareError, match="ambiguous"):
        compare.compare(both, both, ignore=("workers",))


def test_threshold_parsing():
    assert compare.parse_threshold("5%") == pytest.approx(0.05)
    assert compare.parse_threshold("0.1") == pytest.approx(0.1)
    with pytest.raises(compare.CompareError):
        compare.parse_threshold("five")


# Real runs (stored) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def io_w4() -> Path:
    return stored_run("io-w4")


@pytest.fixture(scope="module")
def io_w1() -> Path:
    return stored_run("io-w1")


#: Every stored io run: io-w1, io-w4 and io-w4-again.
IO_RUNS = str(STORED / "io-w*")


def _json(*args: str) -> tuple[int, dict]:
    proc = cli("compare", *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _case(report: dict, backend: str) -> dict:
    (case,) = [c for c in report["cases"] if c["backend"].startswith(backend)]
    return case


def test_a_a_two_runs_of_one_build_say_same(io_w4):
    again = stored_run("io-w4-again")
    # Sleep-bound tasks repeat within a few percent; a 50% threshold leaves room for load.
    code, report = _json(str(io_w4), str(again), "--threshold", "50%", "--fail-on-regression")
    assert code == 0
    assert {c["change"] for c in report["cases"]} == {"same"}


def test_fewer_workers_is_slower_and_fails_the_gate(io_w4, io_w1):
    # in a process of its own, as CI runs it: the exit code is the gate
    proc = harness("compare", str(io_w4), str(io_w1), "--ignore", "workers",
                   "--fail-on-regression", "--format", "json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    threads = _case(report, "threads")
    assert threads["workers"] == "4 -> 1"
    assert threads["change"] == "slower" and threads["regression"]
    assert threads["ratio"] > 2 and threads["ci_low"] > 1.5 and threads["ci_level"] >= 0.95
    assert threads["test"] == "mann-whitney" and threads["p_value"] < 0.05
    # the sequential loop did not change: one worker on both sides
    assert _case(report, "sequential")["change"] == "same"


def test_the_other_way_round_is_faster_and_passes(io_w4, io_w1):
    code, report = _json(str(io_w1), str(io_w4), "--ignore", "workers", "--fail-on-regression")
    assert code == 0
    threads = _case(report, "threads")
    assert threads["change"] == "faster" and not threads["regression"]
    assert threads["ci_high"] < 1


def test_normalize_sequential_compares_speedups(io_w4, io_w1):
    code, report = _json(str(io_w4), str(io_w1), "--ignore", "workers", "--normalize", "sequential")
    assert report["metric"] == "speedup (wall_s)"
    assert [c["backend"] for c in report["cases"]] == ["threads"]
    threads = report["cases"][0]
    assert threads["baseline_median"] > 2  # four sleeping threads beat the loop
    assert threads["contender_median"] == pytest.approx(1.0, abs=0.3)
    assert threads["change"] == "lower"  # speedup: higher is better


def test_globs_pool_several_runs(io_w4):
    proc = cli("compare", IO_RUNS, str(io_w4))
    assert proc.returncode == 0, proc.stderr
    assert "sequential" in proc.stdout and "same" in proc.stdout


def test_markdown_and_csv(io_w4, io_w1):
    md = cli("compare", str(io_w4), str(io_w1), "--ignore", "workers", "--format", "markdown")
    assert md.returncode == 0
    assert md.stdout.startswith("| scenario | backend |") and "slower" in md.stdout
    csv = cli("compare", str(io_w4), str(io_w1), "--ignore", "workers", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.splitlines()[0].startswith("scenario,backend")


def test_the_in_process_cli_answers_as_the_real_one(io_w4, io_w1):
    """Most tests here call the CLI in-process (`cli`); it must print what a process does."""
    for args in (
        ("compare", str(io_w4), str(io_w1), "--ignore", "workers"),  # the terminal table
        ("compare", str(io_w4), str(io_w4), "--metric", "no_such_s"),  # bad input
    ):
        real, here = harness(*args), cli(*args)
        assert (here.returncode, here.stdout, here.stderr) == (
            real.returncode, real.stdout, real.stderr), args  # fmt: skip
