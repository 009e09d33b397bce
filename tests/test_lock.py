"""The pinned set-up: a run records the hash of the uv.lock its environment was installed
from (`make` writes it into the venv); one real quick run checks what a run records."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from conftest import REPO, harness

from harness import fingerprint, results

LOCK = REPO / "uv.lock"
A = "a" * 64


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
