"""`harness tune` on bad input: one line, exit code 2, what was measured kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli, harness
from test_tune import EXAMPLE

from harness import results


def _spec(tmp_path: Path, workload: str, tasks: int = 16) -> Path:
    shutil.copy(EXAMPLE / "tunedemo.py", tmp_path / "tunedemo.py")
    shutil.copy(Path(__file__).parent / "fixtures" / "tune_bad.py", tmp_path / "tune_bad.py")
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\ndescription = "x"\nworkload = "{workload}"\ntasks = {tasks}\n')
    return path


def test_a_failing_function_is_one_line_and_keeps_the_probe(tmp_path):
    spec = _spec(tmp_path, "tune_bad:fails")
    out = tmp_path / "runs"
    proc = harness("tune", str(spec), "--import", "tune_bad", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1 and "workload" in lines[0] and "probe" in lines[0]
    assert "Traceback" not in proc.stderr
    (run,) = out.iterdir()
    assert results.run_info(run)["status"] == "failed"
    assert not results.load(run).empty  # the probe's rows are kept


def test_outputs_that_differ_between_candidates_stop_the_race(tmp_path):
    spec = _spec(tmp_path, "tune_bad:where")
    proc = harness("tune", str(spec), "--import", "tune_bad", "--backends", "processes",
                   "--out", str(tmp_path / "runs"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "gave other outputs than the sequential loop" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_budget_too_small_for_one_block(tmp_path):
    spec = _spec(tmp_path, "tunedemo:wait", tasks=8)
    out = str(tmp_path / "runs")
    proc = harness("tune", str(spec), "--import", "tunedemo", "--budget", "0.5s",
                   "--backends", "threads", "--out", out, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--budget" in proc.stderr and "too small for one block" in proc.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--confidence", "120%"], "--confidence"),
        (["--budget", "soon"], "--budget"),
        (["--format", "yaml"], "--format"),
        (["--backends", "nosuch"], "--backends"),
    ],
)
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, args, flag):
    out = tmp_path / "runs"
    proc = cli("tune", "tiny.toml", "--import", "tunedemo", "--out", str(out), *args, cwd=EXAMPLE)
    assert proc.returncode == 2 and flag in proc.stderr, proc.stderr
    assert not out.exists() or not any(out.iterdir())
