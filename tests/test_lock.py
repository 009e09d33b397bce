"""The pinned set-up: a run records the hash of the uv.lock its environment was installed
from (`make` writes it into the venv), and `harness compare` says in one line when two
runs' locks differ, or when a run recorded none. The comparisons read copies of stored io
runs whose run.json is edited; one real quick run checks what a run records."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli, harness, stored_copy

from harness import fingerprint, results

LOCK = REPO / "uv.lock"
A, B = "a" * 64, "b" * 64


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.fast
def test_the_lock_is_read_from_the_environment_and_none_without_it(tmp_path):
    assert fingerprint.lock_sha256(tmp_path) is None  # installed without the lock
    (tmp_path / fingerprint.LOCK_MARK).write_text(A + "\n")
    assert fingerprint.lock_sha256(tmp_path) == A
    (tmp_path / fingerprint.LOCK_MARK).write_text("not a hash\n")
    assert fingerprint.lock_sha256(tmp_path) is None


def test_a_run_records_the_hash_of_the_lock_it_was_set_up_from(tmp_path):
    if fingerprint.lock_sha256() is None:
        pytest.skip(f"{sys.prefix} was not set up from uv.lock (make sets it up so)")
    proc = harness("run", "cpu", "--quick", "--backends", "sequential", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p.parent for p in tmp_path.glob(f"*/{results.RUN_JSON}")]
    software = results.run_info(run)["fingerprint"]["software"]
    assert software["lock_sha256"] == _sha256(LOCK), "the venv is stale: run make"


def _with_lock(tmp_path: Path, stored: str, sha: str | None) -> Path:
    run = stored_copy(stored, tmp_path / stored)
    info = results.run_info(run)
    info["fingerprint"]["software"]["lock_sha256"] = sha
    results.write_json_atomic(run / results.RUN_JSON, info)
    return run


def _compare(tmp_path: Path, base: str | None, contender: str | None) -> tuple[dict, str]:
    """compare (JSON, and the terminal table on one line) of io-w4 set up from `base` and
    io-w4-again from `contender`."""
    a, b = _with_lock(tmp_path, "io-w4", base), _with_lock(tmp_path, "io-w4-again", contender)
    as_json = cli("compare", str(a), str(b), "--format", "json")
    table = cli("compare", str(a), str(b))
    assert as_json.returncode == 0 and table.returncode == 0, as_json.stderr + table.stderr
    return json.loads(as_json.stdout), " ".join(table.stdout.split())


@pytest.mark.fast
def test_compare_warns_when_the_runs_were_set_up_from_different_locks(tmp_path):
    report, table = _compare(tmp_path, A, B)
    assert report["locks"]["state"] == "different"
    assert list(report["locks"]["baseline"].values()) == [A]
    assert list(report["locks"]["contender"].values()) == [B]
    line = report["lock_warning"]
    assert line.startswith("runs set up from different locks") and "\n" not in line
    assert f"baseline {A[:12]}; contender {B[:12]}" in line and line in report["warnings"]
    assert "! runs set up from different locks (uv.lock sha256 baseline aaaaaaaaaaaa" in table


@pytest.mark.fast
def test_compare_says_nothing_of_locks_when_both_sides_share_one(tmp_path):
    report, table = _compare(tmp_path, A, A)
    assert report["locks"]["state"] == "same" and report["lock_warning"] is None
    assert "lock" not in table


@pytest.mark.fast
def test_compare_says_when_a_run_recorded_no_lock(tmp_path):
    """A run set up without the lock (or made before runs recorded it) is not called a
    different lock: it is unknown, and said so."""
    report, table = _compare(tmp_path, A, None)
    assert report["locks"]["state"] == "unknown"
    (run_id,) = report["locks"]["contender"]
    assert report["lock_warning"].startswith(f"lock unknown for 1 run(s) ({run_id})")
    assert f"! lock unknown for 1 run(s) ({run_id}): set up without uv.lock" in table
    assert "different locks" not in table
