"""`harness compare`: the process is the sampling unit. One process a side calls nothing;
a real 2x change over three processes a side is called and gates the exit code; an A/A
comparison of many cases, with processes that differ more than repeats inside one do,
calls a false change in at most alpha of comparisons (family-wise, Holm); a change smaller
than the threshold is never called; words come from the metric catalogue; --normalize
carries the baseline's variance. Most tests use stored frames drawn from a two-level noise
model (no engine); the last ones use real runs of the io scenario (tasks that sleep,
reliable even on a loaded machine) in three fresh processes a case, with 4, 2 and 1
workers, stored under tests/fixtures/runs (see make_fixtures.py): what is tested is the
comparison, not the engines that made them. The CLI is called in-process (conftest.cli)
but for the gate, which CI reads from a process of its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import STORED, cli, harness, stored_run

from harness import results
from harness.analysis import compare

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

# Stored frames of known distributions -------------------------------------------------------

PER_ROUND = ("startup_s", "peak_uss_bytes", "rtt_p50_s")


def rows(
    run: str,
    backend: str,
    values,
    metric: str = "wall_s",
    unit: str = "s",
    params: dict | None = None,
    rnd: int = 1,
) -> list[dict]:
    """One case's rows in one process: a value per repeat, or for a per-round metric a value
    per round (one process each)."""
    key = json.dumps(params or {}, sort_keys=True)
    workers = 1 if backend == "sequential" else 2
    once = metric in PER_ROUND
    return [
        {
            "run_id": run,
            "host": "h",
            "scenario": "t",
            "case_id": f"t/{backend}/w{workers}/{key}",
            "backend": backend,
            "workers": workers,
            "params": key,
            "tasks": 4,
            "round": i + 1 if once else rnd,
            "repeat": None if once else i + 1,
            "metric": metric,
            "value": float(v),
            "unit": unit,
            "status": "ok",
            "error": "",
        }
        for i, v in enumerate(values)
    ]


def processes(
    rng: np.random.Generator,
    run: str,
    backend: str,
    median: float,
    n: int,
    between: float = 0.03,
    within: float = 0.02,
    repeats: int = 3,
    params: dict | None = None,
    metric: str = "wall_s",
    unit: str = "s",
) -> list[dict]:
    """`n` processes of one case: each has its own offset (CV `between`: memory layout, hash
    seed, core) and `repeats` values around it (CV `within`)."""
    out = []
    for rnd in range(1, n + 1):
        offset = median * np.exp(between * rng.standard_normal())
        values = offset * np.exp(within * rng.standard_normal(repeats))
        out += rows(run, backend, values, metric, unit, params, rnd)
    return out


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


def test_one_process_a_side_calls_nothing_and_passes_the_gate(tmp_path):
    """Eight repeats a side, a 2x slowdown: repeats in one process cannot tell a change
    from the difference between two processes, so nothing is called."""
    rng = np.random.default_rng(0)
    base = stored(tmp_path, "a", rows("a", "threads", lognormal(rng, 1.0, 8)))
    cont = stored(tmp_path, "b", rows("b", "threads", lognormal(rng, 2.0, 8)))
    code, report, table = _cli(str(base), str(cont), "--fail-on-regression")
    assert code == 0
    (case,) = report["cases"]
    assert case["change"] == "too few processes" and not case["regression"]
    assert case["n_baseline"] == 1 and "--rounds 3" in case["note"]
    assert "too few processes (1 process on a side" in table


def test_two_x_at_three_processes_a_side_is_called_and_fails_the_gate(tmp_path):
    rng = np.random.default_rng(1)
    base = stored(tmp_path, "a", processes(rng, "a", "threads", 1.0, 3))
    cont = stored(tmp_path, "b", processes(rng, "b", "threads", 2.0, 3))
    code, report, table = _cli(str(base), str(cont), "--fail-on-regression")
    assert code == 1
    (case,) = report["cases"]
    assert case["change"] == "slower" and case["regression"] and case["p_adjusted"] < 0.01
    assert case["n_baseline"] == 3 and report["per"] == "process"
    assert case["ci_low"] > 1.8 and case["ci_high"] < 2.2 and case["ci_level"] == 0.95
    assert "slower" in table and "95%" in table and "3 processes" in table


def _many_cases(rng, n: int, cases: int, base_median, cont_median, seq_cv=None, **noise):
    """`cases` cases (one parameter value each) in one run per side, `n` processes each."""
    sides = {"a": [], "b": []}
    for i in range(cases):
        for side, median in (("a", base_median), ("b", cont_median)):
            sides[side] += processes(rng, side, "threads", median, n, params={"i": i}, **noise)
            if seq_cv is not None:
                sides[side] += processes(
                    rng, side, "sequential", 2.0, n, between=seq_cv, params={"i": i}
                )
    return results.frame(sides["a"]), results.frame(sides["b"])


def test_a_a_of_twenty_cases_with_processes_that_differ_passes_the_gate():
    """The gate's first test: the same build twice, twenty cases, three processes a side
    that differ three times as much as repeats inside one do (the case that failed when
    repeats were tested as independent). No false change at the default threshold; at
    --threshold 0 (any change at all) at most Holm's alpha of comparisons call one (the
    rate itself is simulated in tests/test_stats.py, faster than whole comparisons)."""
    rng = np.random.default_rng(2)
    comparisons, any_false = 12, 0
    for _ in range(comparisons):
        base, cont = _many_cases(rng, 3, 20, 1.0, 1.0, between=0.06)
        assert not compare.compare(base, cont).rows["regression"].any()
        any_false += (compare.compare(base, cont, threshold=0.0).rows["change"] != "same").any()
    assert any_false <= 2, any_false  # 12 comparisons at 5%: 2 or more has p < 0.12


def test_a_change_within_the_threshold_is_never_called():
    """3% slower with tight processes: real, but below the 5% threshold: "same"."""
    base, cont = _many_cases(np.random.default_rng(8), 5, 40, 1.0, 1.03, between=0.005)
    result = compare.compare(base, cont)
    assert set(result.rows["change"]) == {"same"}
    # 5 a side cannot reach alpha / 40 with ranks at all, and says so
    assert result.rows["note"].str.contains("could call no change: 5 processes").all()


def test_two_x_at_three_processes_is_always_caught_among_two_hundred_cases():
    base, cont = _many_cases(np.random.default_rng(3), 3, 200, 1.0, 2.0)
    result = compare.compare(base, cont)
    assert (result.rows["change"] == "slower").all()


def test_an_uncalled_case_says_how_many_processes_would_call_it():
    base, cont = _many_cases(np.random.default_rng(9), 3, 1, 1.0, 1.0, between=0.10)
    (row,) = compare.compare(base, cont).rows.to_dict("records")
    assert row["change"] == "same"
    need = int(row["note"].split("; ")[1].split()[0])
    assert need > 3 and "processes a side would call 10%" in row["note"]


def test_normalize_carries_the_baselines_variance():
    """A noisy sequential case on each side, the same distributions on both: dividing by a
    fixed sequential median would call most of these cases changed."""
    base, cont = _many_cases(np.random.default_rng(4), 3, 100, 1.0, 1.0, seq_cv=0.3)
    result = compare.compare(base, cont, normalize="sequential", threshold=0.0)
    assert result.metric == "speedup (wall_s)" and result.higher_is_better
    assert (result.rows["change"] != "same").sum() <= 1


def test_normalize_still_catches_a_real_change():
    rng = np.random.default_rng(5)
    base, _ = _many_cases(rng, 3, 20, 1.0, 1.0, seq_cv=0.03)
    _, cont = _many_cases(rng, 3, 20, 1.0, 2.0, seq_cv=0.03)
    result = compare.compare(base, cont, normalize="sequential")
    assert set(result.rows["change"]) == {"lower"}  # speedup halved: words of 'speedup'
    assert result.rows["regression"].all()


def test_per_round_metrics_need_processes(tmp_path):
    rng = np.random.default_rng(6)
    one = [
        stored(tmp_path, s, rows(s, "threads", lognormal(rng, m, 1), "startup_s"))
        for s, m in (("a1", 1.0), ("b1", 2.0))
    ]
    code, report, table = _cli(
        str(one[0]), str(one[1]), "--metric", "startup_s", "--fail-on-regression"
    )
    assert code == 0 and report["per"] == "process"
    assert report["cases"][0]["change"] == "too few processes"
    five = [
        stored(tmp_path, s, rows(s, "threads", lognormal(rng, m, 5), "startup_s"))
        for s, m in (("a5", 1.0), ("b5", 2.0))
    ]
    code, report, _ = _cli(
        str(five[0]), str(five[1]), "--metric", "startup_s", "--fail-on-regression"
    )
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
    base = results.frame(processes(rng, "a", "threads", 1.0, 3, metric=metric, unit=unit))
    cont = results.frame(processes(rng, "b", "threads", factor, 3, metric=metric, unit=unit))
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


def test_a_a_two_runs_of_one_build_say_same_at_the_default_threshold(io_w4):
    again = stored_run("io-w4-again")
    for a, b in ((io_w4, again), (again, io_w4)):  # in both directions
        code, report = _json(str(a), str(b), "--fail-on-regression")
        assert code == 0
        assert {c["change"] for c in report["cases"]} == {"same"}
        assert {c["n_baseline"] for c in report["cases"]} == {3}  # three processes a side


def test_a_real_two_x_slowdown_is_caught(io_w4):
    """Four workers, then two, for eight 20 ms sleeps: four waves instead of two."""
    code, report = _json(
        str(io_w4), str(stored_run("io-w2")), "--ignore", "workers", "--fail-on-regression"
    )
    assert code == 1
    threads = _case(report, "threads")
    assert threads["change"] == "slower" and threads["ratio"] == pytest.approx(2.0, rel=0.25)
    assert threads["ci_low"] > 1.05  # wholly beyond the threshold
    assert _case(report, "sequential")["change"] == "same"


def test_fewer_workers_is_slower_and_fails_the_gate(io_w4, io_w1):
    # in a process of its own, as CI runs it: the exit code is the gate
    proc = harness(
        "compare",
        str(io_w4),
        str(io_w1),
        "--ignore",
        "workers",
        "--fail-on-regression",
        "--format",
        "json",
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    threads = _case(report, "threads")
    assert threads["workers"] == "4 -> 1"
    assert threads["change"] == "slower" and threads["regression"]
    assert threads["ratio"] > 2 and threads["ci_low"] > 1.5 and threads["ci_level"] == 0.95
    assert threads["test"].startswith("unpaired, Welch") and threads["p_adjusted"] < 0.05
    assert threads.get("pairing_rho") is None  # two runs: nothing paired (NaN)
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
            real.returncode,
            real.stdout,
            real.stderr,
        ), args


# Paired: both sides from one run that interleaved them ------------------------------------


def _ab_run(ratio: float, slots: int, seed: int, layout: str = "alternate", cases: int = 1):
    """One run of A and B under this VM's fitted noise (harness.measure.noise): per case,
    `slots` rounds, each pairing a process (or, alternated, calls) of A and of B."""
    from harness.measure import noise

    sides = {"a": [], "b": []}
    for i in range(cases):
        sim = noise.simulate(slots, 5, 0.025, ratio=ratio, layout=layout, rng=seed + i)
        for side, values in (("a", sim.a[0]), ("b", sim.b[0])):
            for rnd, repeats in enumerate(values, start=1):
                sides[side] += rows("ab", "threads", repeats, params={"i": i}, rnd=rnd)
    return results.frame(sides["a"]), results.frame(sides["b"])


def test_paired_calls_a_ten_percent_change_that_unpaired_cannot_see():
    base, cont = _ab_run(1.1, 30, seed=11)
    (paired,) = compare.compare(base, cont, paired=True, threshold=0.02).rows.to_dict("records")
    (unpaired,) = compare.compare(base, cont, threshold=0.02).rows.to_dict("records")
    assert paired["change"] == "slower" and paired["ratio"] == pytest.approx(1.1, abs=0.04)
    assert paired["test"].startswith("paired, Wilcoxon signed-rank")
    assert np.isfinite(paired["pairing_rho"]) and np.isnan(unpaired["pairing_rho"])
    assert (paired["ci_high"] - paired["ci_low"]) < (unpaired["ci_high"] - unpaired["ci_low"])
    assert paired["ci_level"] >= 0.95


def test_paired_a_a_says_same_in_both_directions():
    base, cont = _ab_run(1.0, 20, seed=21, cases=5)
    for a, b in ((base, cont), (cont, base)):
        result = compare.compare(a, b, paired=True)
        assert set(result.rows["change"]) == {"same"}
        assert not result.rows["regression"].any()


def test_paired_falls_back_to_the_ratio_of_medians_without_matching_repeats():
    base, cont = _ab_run(1.5, 8, seed=31, layout="separate")
    cont = cont[cont["repeat"] != 5]  # the contender lost a repeat: no repeat-matched ratios
    (row,) = compare.compare(base, cont, paired=True).rows.to_dict("records")
    assert row["change"] == "slower" and row["ratio"] == pytest.approx(1.5, rel=0.15)
