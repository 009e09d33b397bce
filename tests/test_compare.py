"""`harness compare` on real runs: an A/A comparison says "same", a real difference is called
with its interval and gates the exit code. The difference is made by running the io scenario
(tasks that sleep, reliable even on a loaded machine) with 4 workers and with 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import compare, results
from tests.conftest import harness


def _io_run(out: Path, workers: int) -> Path:
    proc = harness(
        "run", "io", "--quick", "--backends", "sequential,threads", "--workers", str(workers),
        "--repeat", "5", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


@pytest.fixture(scope="session")
def io_w4(tmp_path_factory) -> Path:
    return _io_run(tmp_path_factory.mktemp("io_w4"), 4)


@pytest.fixture(scope="session")
def io_w1(tmp_path_factory) -> Path:
    return _io_run(tmp_path_factory.mktemp("io_w1"), 1)


def _json(*args: str) -> tuple[int, dict]:
    proc = harness("compare", *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _case(report: dict, backend: str) -> dict:
    (case,) = [c for c in report["cases"] if c["backend"].startswith(backend)]
    return case


def test_a_a_run_against_itself_says_same(io_w4):
    code, report = _json(str(io_w4), str(io_w4), "--fail-on-regression")
    assert code == 0
    assert {c["change"] for c in report["cases"]} == {"same"}
    assert all(c["ratio"] == pytest.approx(1.0) for c in report["cases"])
    assert all(c["ci_low"] <= 1.0 <= c["ci_high"] for c in report["cases"])
    assert len(report["cases"]) == 2  # sequential w1, threads w4


def test_a_a_two_runs_of_one_build_say_same(io_w4, tmp_path):
    again = _io_run(tmp_path, 4)
    # Sleep-bound tasks repeat within a few percent; a 50% threshold leaves room for load.
    code, report = _json(str(io_w4), str(again), "--threshold", "50%", "--fail-on-regression")
    assert code == 0
    assert {c["change"] for c in report["cases"]} == {"same"}


def test_fewer_workers_is_slower_and_fails_the_gate(io_w4, io_w1):
    code, report = _json(str(io_w4), str(io_w1), "--ignore", "workers", "--fail-on-regression")
    assert code == 1
    threads = _case(report, "threads")
    assert threads["workers"] == "4 -> 1"
    assert threads["change"] == "slower" and threads["regression"]
    assert threads["ratio"] > 2 and threads["ci_low"] > 1.5
    assert threads["test"] == "mann-whitney" and threads["p_value"] < 0.05
    # the sequential loop did not change: one worker on both sides
    assert _case(report, "sequential")["change"] == "same"


def test_the_other_way_round_is_faster_and_passes(io_w4, io_w1):
    code, report = _json(str(io_w1), str(io_w4), "--ignore", "workers", "--fail-on-regression")
    assert code == 0
    threads = _case(report, "threads")
    assert threads["change"] == "faster" and not threads["regression"]
    assert threads["ci_high"] < 1


def test_higher_is_better_for_throughput(io_w4, io_w1):
    code, report = _json(
        str(io_w4), str(io_w1), "--ignore", "workers", "--metric", "tasks_per_s",
        "--fail-on-regression",
    )  # fmt: skip
    assert code == 1
    assert report["higher_is_better"] is True
    threads = _case(report, "threads")
    assert threads["ratio"] < 0.5 and threads["change"] == "slower"


def test_normalize_sequential_compares_speedups(io_w4, io_w1):
    code, report = _json(str(io_w4), str(io_w1), "--ignore", "workers", "--normalize", "sequential")
    assert report["metric"] == "speedup (wall_s)"
    assert [c["backend"] for c in report["cases"]] == ["threads"]
    threads = report["cases"][0]
    assert threads["baseline_median"] > 2  # four sleeping threads beat the loop
    assert threads["contender_median"] == pytest.approx(1.0, abs=0.3)
    assert threads["change"] == "slower"


def test_globs_pool_several_runs(io_w4, io_w1):
    pattern = str(io_w4.parent.parent / "io_w*" / "*")
    proc = harness("compare", pattern, str(io_w4))
    assert proc.returncode == 0, proc.stderr
    assert "sequential" in proc.stdout and "same" in proc.stdout


def test_markdown_and_csv(io_w4, io_w1):
    md = harness("compare", str(io_w4), str(io_w1), "--ignore", "workers", "--format", "markdown")
    assert md.returncode == 0
    assert md.stdout.startswith("| scenario | backend |") and "slower" in md.stdout
    csv = harness("compare", str(io_w4), str(io_w1), "--ignore", "workers", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.splitlines()[0].startswith("scenario,backend")


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
def test_bad_input_is_one_line_and_exit_2(io_w4, args, needle):
    proc = harness("compare", str(io_w4), str(io_w4), *args)
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_ignore_that_would_pool_worker_counts_is_refused(io_w4, io_w1):
    pattern = str(io_w4.parent.parent / "io_w*" / "*")
    with pytest.raises(compare.CompareError, match="ambiguous"):
        compare.compare(results.load(pattern), results.load(io_w4), ignore=("workers",))


def test_threshold_parsing():
    assert compare.parse_threshold("5%") == pytest.approx(0.05)
    assert compare.parse_threshold("0.1") == pytest.approx(0.1)
    with pytest.raises(compare.CompareError):
        compare.parse_threshold("five")
