"""Hangs, crashes, interrupts and bad input: nothing measured is lost, nothing is left behind.

Every harness started here carries a marker in its environment, so the leftover check
looks only at processes these tests started (other runs may share the machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import HARNESS, MARK, REPO, cli, marked, stored_copy, stored_run

from harness import results
from harness.case import Case
from harness.execute.case_runner import run_case
from harness.measure.proctree import terminate
from harness.protocol import Event, PhaseEvent, WorkersEvent


@pytest.fixture
def run_cli(tmp_path):
    """Run the CLI with a marker; after the test, assert none of its processes remain."""
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}

    def go(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HARNESS, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path
        )

    go.env = env
    go.mark = mark
    yield go
    leftovers = marked(mark)
    terminate(leftovers)
    assert leftovers == [], [p.cmdline() for p in leftovers]


def write_spec(
    tmp_path: Path,
    workload: str,
    backends: list[str],
    params: str = "",
    tasks: int = 2,
    timeout_s: float = 60,
) -> Path:
    path = tmp_path / f"{workload}.toml"
    path.write_text(
        f'name = "{workload.replace("_", "-")}"\ndescription = "test"\nworkload = "{workload}"\n'
        f"tasks = {tasks}\nworkers = [2]\nrepeat = 1\nwarmup = 0\nrounds = 1\n"
        f"timeout_s = {timeout_s}\n"
        f"backends = {json.dumps(backends)}\n[params]\n{params}\n"
    )
    return path


def statuses(out: Path) -> dict[str, tuple[str, str]]:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    df = results.load(run_dir)
    first = df.groupby("backend")[["status", "error"]].first()
    return {b: (r.status, r.error) for b, r in first.iterrows()}


def test_hang_becomes_timeout_and_the_run_goes_on(run_cli, tmp_path):
    proc = run_cli(
        "run",
        str(REPO / "scenarios" / "hang.toml"),
        "--backends",
        "threads,processes,dask",
        "--timeout",
        "4",
        "--rounds",
        "1",
        "--out",
        "out",
    )
    assert proc.returncode == 0, proc.stderr
    got = statuses(tmp_path / "out")
    assert {b: s for b, (s, _) in got.items()} == {
        "threads": "timeout",
        "processes": "timeout",
        "dask": "timeout",
    }
    assert "case timeout of 4 s" in got["threads"][1]


def test_crashed_workers_and_raising_tasks_get_their_status(run_cli, tmp_path):
    crash = write_spec(
        tmp_path,
        "exit_process",
        ["sequential", "processes", "dask", "ray"],
        "code = 3",
        timeout_s=120,
    )
    proc = run_cli("run", str(crash), "--out", "crash")
    assert proc.returncode == 0, proc.stderr
    got = statuses(tmp_path / "crash")
    assert {b: s for b, (s, _) in got.items()} == dict.fromkeys(
        ["sequential", "processes", "dask", "ray"], "crashed"
    ), got
    assert "exited with code 3" in got["sequential"][1]

    error = write_spec(tmp_path, "raise_error", ["threads", "dask", "ray"])
    proc = run_cli("run", str(error), "--out", "error")
    assert proc.returncode == 0, proc.stderr
    for backend, (status, message) in statuses(tmp_path / "error").items():
        assert status == "error", backend
        assert message.startswith("ValueError: raised on purpose"), (backend, message)


def test_interrupt_keeps_finished_cases_and_resume_runs_the_rest(run_cli, tmp_path):
    args = [
        "run",
        "io",
        "--quick",
        "--backends",
        "sequential,threads,processes",
        "--workers",
        "1,4",
        "--out",
        "out",
    ]
    proc = subprocess.Popen(
        [HARNESS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=run_cli.env,
        cwd=tmp_path,
        # As at a terminal: a suite started in the background (`cmd &`) inherits an ignored
        # SIGINT, which Python keeps, and Ctrl-C would never reach the harness.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    measurements = None
    while time.monotonic() < deadline and measurements is None:
        found = list((tmp_path / "out").glob(f"*/{results.MEASUREMENTS}"))
        measurements = found[0] if found else None
        time.sleep(0.1)
    assert measurements is not None, "no case finished"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    run_dir = measurements.parent
    assert proc.returncode == 130, out + err
    assert f"--resume {run_dir.relative_to(tmp_path)}" in err
    info = json.loads((run_dir / results.RUN_JSON).read_text())
    assert info["status"] == "interrupted"
    kept = results.load(run_dir)
    finished = set(kept.loc[kept.status == "ok", "case_id"])
    assert finished, "the finished case was lost"

    proc = run_cli(*args, "--resume", str(run_dir.relative_to(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    df = results.load(run_dir)
    cases = df.groupby("case_id")["status"].first()
    assert len(cases) == 5 and (cases == "ok").all(), cases
    # cases finished before the interrupt were not run again
    walls = df[df.metric == "wall_s"].groupby("case_id").size()
    assert (walls == 5).all(), walls


@pytest.mark.parametrize("backend", ["dask", "ray", "loky", "executor"])
def test_killing_a_worker_mid_case_ends_the_case_with_a_status(backend, mark):
    killed: list[int] = []

    def on_event(case: Case, event: Event) -> None:
        if isinstance(event, WorkersEvent):
            on_event.pids = event.pids
        if isinstance(event, PhaseEvent) and event.phase == "steady" and not killed:
            victim = on_event.pids[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    case = Case(
        scenario="kill",
        workload="sleep",
        backend=backend,
        workers=2,
        tasks=8,
        params={"seconds": 0.5},
        repeat=2,
        warmup=0,
        timeout_s=90,
    )
    outcome = run_case(case, run_id="kill", on_event=on_event)
    assert killed, "the case never reached its steady phase"
    # no retry, no quiet restart: the case is crashed, naming the repeat
    assert outcome.status == "crashed", (outcome.status, outcome.error)
    assert "repeat 1" in outcome.error, outcome.error
    assert outcome.elapsed_s < 90
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    # the next case runs normally
    after = run_case(
        Case(
            scenario="kill",
            workload="identity",
            backend=backend,
            workers=2,
            tasks=20,
            params={},
            repeat=1,
            warmup=0,
            timeout_s=90,
        ),
        run_id="kill",
    )
    assert after.status == "ok", after.error


BAD_INPUTS = [
    (["run", "nope"], "unknown scenario 'nope'"),
    (["run", "missing.toml"], "missing.toml: no such spec file"),
    (["run", "cpu", "--workers", "0"], "--workers: every value must be at least 1"),
    (["run", "cpu", "--workers", "two"], "--workers: expected a comma-separated list"),
    (["run", "cpu", "--repeat", "0"], "--repeat: must be at least 1"),
    (["run", "cpu", "--backends", "gpu"], "--backends: unknown backend 'gpu'"),
    (["run", "cpu", "--timeout", "-1"], "--timeout: must be positive"),
    (["run", "cpu", "--dask-address", "nowhere"], "--dask-address"),
    (["run", "cpu", "--resume", "."], "--resume"),
    (["run", "cpu", "--bogus"], "No such option: --bogus"),
    (["report", "."], "not a run directory"),
    (["show", "nothing/*"], "no run matches"),
    (["report", "latest", "--format", "gif"], "--format"),
    (["frobnicate"], "No such command 'frobnicate'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    # In-process (conftest.cli): bad input fails before anything starts; the bad spec file
    # below goes through a real process, with and without --debug.
    before = sorted(tmp_path.rglob("*"))
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("harness: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(tmp_path.rglob("*")) == before, "bad input wrote something"


def test_bad_spec_file_names_file_and_field(run_cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\ndescription = "d"\nworkload = "sleep"\ntasks = 2\n'
        "workers = [1, -2]\n[params]\nseconds = 0.1\n"
    )
    proc = run_cli("run", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"harness: error: {bad}: workers: every workers value must be at least 1"
    )
    proc = run_cli("--debug", "run", str(bad))
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_corrupt_parquet_is_named_and_other_runs_still_load(tmp_path):
    # Two readable runs of two machines (stored: see tests/fixtures) and one truncated copy.
    good = stored_copy("cpu", tmp_path / "good")
    bad = stored_copy("cpu", tmp_path / "bad")
    data = (bad / results.MEASUREMENTS).read_bytes()
    (bad / results.MEASUREMENTS).write_bytes(data[: len(data) // 2])  # truncated
    proc = cli("report", "good", str(stored_run("cpu-1cpu")), "bad", "-o", "r.pdf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{bad.name}/{results.MEASUREMENTS}: cannot read parquet" in proc.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert good.name not in proc.stderr
    proc = cli("show", "bad", cwd=tmp_path)
    assert proc.returncode == 2 and "bad/measurements.parquet" in proc.stderr


def test_ray_start_that_cannot_get_its_workers_is_an_error():
    """Fewer workers than asked within the start-up timeout: status error, with the reason."""
    case = Case(
        scenario="short",
        workload="identity",
        backend="ray",
        workers=4,
        tasks=8,
        params={},
        repeat=1,
        warmup=0,
        timeout_s=90,
        backend_options={"startup_timeout_s": 0.5},
    )
    outcome = run_case(case, run_id="short")
    assert outcome.status == "error", (outcome.status, outcome.error)
    assert "of the 4 workers" in outcome.error and "0.5 s" in outcome.error, outcome.error


def test_a_worker_missing_after_a_repeat_is_a_crash_naming_repeat_and_worker():
    from harness.backends.base import WorkerCrashed
    from harness.execute.case_process import _same_workers

    before = {"tcp://127.0.0.1:1 pid 10": "Dask worker 0 (pid 10)", "b": "Dask worker 1"}
    _same_workers(before, dict(before), 1)
    _same_workers(None, {}, 1)  # a backend that cannot tell is never accused
    restarted = {"tcp://127.0.0.1:2 pid 11": "Dask worker 0 (pid 11)", "b": "Dask worker 1"}
    with pytest.raises(WorkerCrashed, match=r"repeat 3: Dask worker 0 \(pid 10\) died"):
        _same_workers(before, restarted, 3)


def test_a_batch_past_its_limit_stops_the_case_early():
    """`batch_limit_s` holds every batch after the first warm-up: a case whose batches take
    a second each, limited to 0.3 s, stops in its first repeat with status timeout and the
    limit in its error, long before its own timeout; the first warm-up is never held."""
    case = Case(
        scenario="limit",
        workload="sleep",
        backend="threads",
        workers=1,
        tasks=2,
        params={"seconds": 0.5},
        repeat=3,
        warmup=1,
        timeout_s=60,
        batch_limit_s=0.3,
    )
    started = time.monotonic()
    outcome = run_case(case, run_id="limit")
    took = time.monotonic() - started
    assert outcome.status == "timeout", (outcome.status, outcome.error)
    assert "batch limit of 0.3 s" in outcome.error
    # the warm-up (1 s, past the limit) ran to its end; the first repeat was stopped at 0.3 s
    assert 1.2 < took < 20
