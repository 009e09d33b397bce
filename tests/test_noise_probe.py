"""`harness env --noise`: the probe's records and summary, its rules, and its processes.

The rules are pure logic on synthetic records (`fast`); the probe itself runs real fresh
processes for a few seconds, so those tests are not `fast`.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import uuid

import numpy as np
import psutil
import pytest
from conftest import HARNESS, MARK, REPO, cli, harness, marked

from harness.measure import noise_probe


def synthetic(logs: np.ndarray) -> list[dict]:
    """Records of the probe's shape, slots of A then B, from log medians in time order."""
    return [
        {"slot": i // 2, "side": "AB"[i % 2], "t": 0.3 * i, "median": math.exp(x)}
        for i, x in enumerate(logs)
    ]


@pytest.mark.fast
def test_two_clusters_of_process_medians_are_two_speeds():
    """Like this machine's 2026-12 study: 22-26 ms and 35-40 ms, a third of them slow."""
    rng = np.random.default_rng(7)
    slow = rng.random(60) < 1 / 3
    logs = np.log(np.where(slow, 0.037, 0.024)) + 0.04 * rng.standard_normal(60)
    summary = noise_probe.summarize(synthetic(logs))
    two = summary["two_speeds"]
    assert two["detected"] and two["d"] >= noise_probe.TWO_SPEEDS_D
    assert two["fast_n"] == 60 - slow.sum() and two["slow_n"] == slow.sum()
    assert 0.022 < two["fast_s"] < 0.026 and 0.034 < two["slow_s"] < 0.040
    assert summary["verdict"] == "very noisy"


@pytest.mark.fast
@pytest.mark.parametrize("seed", range(5))
def test_one_cluster_is_one_speed(seed):
    rng = np.random.default_rng(seed)
    logs = math.log(0.025) + 0.05 * rng.standard_normal(60)
    summary = noise_probe.summarize(synthetic(logs))
    assert not summary["two_speeds"]["detected"], summary["two_speeds"]
    assert summary["verdict"] == "noisy"
    assert summary["sd_log"] == pytest.approx(0.05, rel=0.3)
    assert summary["robust_sd_log"] == pytest.approx(0.05, rel=0.4)


@pytest.mark.fast
def test_a_quiet_machine_and_what_a_comparison_could_see():
    rng = np.random.default_rng(3)
    logs = math.log(0.025) + 0.01 * rng.standard_normal(40)
    alternating = [{"log_ratio": x} for x in 0.005 * rng.standard_normal(8)]
    summary = noise_probe.summarize(synthetic(logs), alternating)
    assert summary["verdict"] == "quiet"
    unpaired = summary["detectable"]["unpaired"]
    # more processes call smaller changes, never below the threshold itself
    assert 0.05 < unpaired["20"] < unpaired["10"] < unpaired["3"]
    paired = summary["detectable"]["alternating"]
    assert 0.05 < paired["30"] < paired["10"]


@pytest.mark.fast
def test_drift_and_pairing_in_time():
    """A slow swing shared by neighbours: high lag-1 autocorrelation and A/B correlation."""
    rng = np.random.default_rng(5)
    level = 0.1 * np.sin(np.arange(40) / 4)
    logs = np.repeat(level, 2) + 0.01 * rng.standard_normal(80)
    summary = noise_probe.summarize(synthetic(logs))
    assert summary["lag1_autocorr"] > 0.8 and summary["slot_correlation"] > 0.8
    assert summary["sd_slot_log_ratio"] < summary["sd_log"]


@pytest.mark.fast
def test_too_few_records_give_none_not_nan():
    summary = noise_probe.summarize(synthetic(np.log([0.025, 0.026])))
    assert summary["two_speeds"]["detected"] is False and summary["lag1_autocorr"] is None
    assert summary["slot_correlation"] is None and summary["sd_alternating_log_ratio"] is None
    json.dumps(summary, allow_nan=False)


@pytest.mark.fast
@pytest.mark.parametrize("seconds", ["0", "500", "-3", "nan"])
def test_a_bad_seconds_is_one_line_and_exit_2(seconds):
    proc = cli("env", "--noise", "--seconds", seconds)
    assert proc.returncode == 2
    assert proc.stderr.startswith("harness: error: --seconds") and proc.stderr.count("\n") == 1
    assert proc.stdout == ""


@pytest.mark.fast
def test_seconds_without_noise_is_refused():
    proc = cli("env", "--seconds", "5")
    assert proc.returncode == 2 and "--seconds: only with --noise" in proc.stderr


def test_a_short_probe_as_json():
    """Three seconds of real processes: every field there with its type, the records in the
    shape of /work/shared/noise's `processes`, and no process left behind."""
    mark = uuid.uuid4().hex
    proc = harness("env", "--noise", "--seconds", "3", "--json", mark=mark, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert marked(mark) == []
    result = json.loads(proc.stdout)
    assert set(result) == {"probe", "machine", "summary", "rules", "processes", "alternating"}

    records = result["processes"]
    assert len(records) >= 2  # a slot at least: a loaded machine fits few in 3 s
    for r in records:
        assert list(r) == ["slot", "side", "t", "median"]
        assert isinstance(r["slot"], int) and r["side"] in ("A", "B")
        assert isinstance(r["t"], float) and 0 < r["median"] < 1
    slots = [r["slot"] for r in records]
    assert slots == sorted(slots) and set(slots) == set(range(slots[-1] + 1))
    assert all(
        sorted(r["side"] for r in records if r["slot"] == s) == ["A", "B"] for s in set(slots)
    )
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[-1] < 10

    alternating = result["alternating"]
    assert len(alternating) >= 2
    for row in alternating:
        assert isinstance(row["log_ratio"], float)
        assert len(row["a"]) == len(row["b"]) == noise_probe.PAIRS

    summary = result["summary"]
    assert summary["processes"] == len(records) and summary["slots"] == slots[-1] + 1
    floats = [
        "median_s",
        "min_s",
        "max_s",
        "sd_log",
        "robust_sd_log",
        "lag1_autocorr",
        "slot_correlation",
        "sd_slot_log_ratio",
        "sd_alternating_log_ratio",
    ]
    for key in floats:
        assert summary[key] is None or isinstance(summary[key], float), key
    assert isinstance(summary["sd_log"], float)
    assert isinstance(summary["two_speeds"]["detected"], bool)
    assert set(summary["detectable"]["unpaired"]) == {"3", "10", "20"}
    assert set(summary["detectable"]["alternating"]) == {"10", "30"}
    assert summary["verdict"] in ("quiet", "noisy", "very noisy")
    assert result["machine"]["cpus"] >= 1 and len(result["machine"]["loadavg"]) == 3
    assert result["probe"]["loop_n"] > 0 and 2.5 < result["probe"]["seconds_taken"] < 10


def test_ctrl_c_leaves_no_timing_process():
    """SIGINT to the harness alone (not its group): it ends the process it waits on."""
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [HARNESS, "env", "--noise", "--seconds", "10"],
        cwd=REPO,
        env={**os.environ, MARK: mark},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while not parent.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert parent.children(), "the probe started no process"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert marked(mark) == []
