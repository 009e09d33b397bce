"""Runs a matrix of cases, each in its own process, and saves every case as it ends.

The runner owns what a benchmark must never leave to the workload: the per-case timeout,
the process-tree sampler, the status of a case that hung or crashed, cleaning up every
process the case started, and writing results atomically after each case.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import results
from harness.measure.proctree import TOKEN_VAR, carrying_token, terminate, tree
from harness.measure.sampler import Sample, TreeSampler
from harness.spec import Case

#: Memory samples kept per case for the memory-over-time figure.
TIMESERIES_POINTS = 400
RUNNING_PHASES = ("warmup", "steady", "between", "latency")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the current case was stopped, finished cases are saved."""


@dataclass
class CaseOutcome:
    case: Case
    status: str
    error: str
    measurements: pd.DataFrame
    timeseries: pd.DataFrame
    latency: pd.DataFrame
    elapsed_s: float
    killed_pids: list[int] = field(default_factory=list)
    describe: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> pd.Series:
        m = self.measurements
        return m.loc[m["metric"] == name, "value"]


EventHook = Callable[[Case, dict[str, Any]], None]


def run_case(
    case: Case,
    *,
    run_id: str,
    log_path: Path | None = None,
    sample_interval_s: float = 0.05,
    on_event: EventHook | None = None,
) -> CaseOutcome:
    """Run one case in a fresh process under its timeout; never raises for the case's faults."""
    token = uuid.uuid4().hex
    env = {
        **os.environ,
        TOKEN_VAR: token,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
    }
    read_fd, write_fd = os.pipe()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.case_main", str(write_fd)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        env=env,
        start_new_session=True,  # Ctrl-C reaches the runner, which stops the case
    )
    os.close(write_fd)
    sampler = TreeSampler(proc.pid, interval_s=sample_interval_s).start()
    events: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=_read_events, args=(read_fd, events, sampler, case, on_event), daemon=True
    )
    reader.start()
    status, error = "ok", ""
    try:
        assert proc.stdin is not None
        proc.stdin.write(case.to_json().encode())
        proc.stdin.close()
        proc.wait(timeout=case.timeout_s)
    except subprocess.TimeoutExpired:
        status, error = "timeout", f"no result within the case timeout of {case.timeout_s:g} s"
    except (KeyboardInterrupt, Interrupted):
        status, error = "interrupted", "stopped by the user"
    except BrokenPipeError:
        pass  # the child died before reading its case; its exit code says how
    finally:
        elapsed = time.perf_counter() - started
        sampler.stop()
        killed = _stop_everything(proc, token)
        reader.join(timeout=5)
        if log_path:
            log.close()  # type: ignore[union-attr]
    if status == "ok":
        status, error = _status_from(events, proc.returncode)
    outcome = _outcome(case, run_id, status, error, events, sampler.samples, elapsed, killed)
    if status == "interrupted":
        raise _InterruptedCase(outcome)
    return outcome


class _InterruptedCase(Exception):
    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def _read_events(
    fd: int,
    events: list[dict[str, Any]],
    sampler: TreeSampler,
    case: Case,
    on_event: EventHook | None,
) -> None:
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "phase":
                # The latency pass is not a throughput measurement: a good moment to read
                # USS of the warmed-up tree without slowing a timed repeat.
                sampler.set_phase(event["phase"], full_sample=event["phase"] == "latency")
            events.append(event)
            if on_event is not None:
                on_event(case, event)


def _stop_everything(proc: subprocess.Popen[bytes], token: str) -> list[int]:
    """Stop the case process and every process it started, wherever they were re-parented."""
    procs = tree(proc.pid)
    killed = terminate(procs) if proc.poll() is None else []
    leftovers = {p.pid: p for p in [*tree(proc.pid), *carrying_token(token)]}
    if leftovers:
        # Engines stop their helpers asynchronously; give them a moment before the signals.
        deadline = time.monotonic() + 3.0
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = {p.pid: p for p in carrying_token(token)}
        killed += terminate(leftovers.values())
    proc.wait()
    return sorted(set(killed))


def _status_from(events: list[dict[str, Any]], returncode: int | None) -> tuple[str, str]:
    for event in events:
        if event.get("event") == "failed":
            return event["status"], event["error"]
    if any(e.get("event") == "done" for e in events) and returncode == 0:
        return "ok", ""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        return "crashed", f"the case process was killed by {name}"
    return "crashed", f"the case process exited with code {returncode} before finishing"


def _outcome(
    case: Case,
    run_id: str,
    status: str,
    error: str,
    events: list[dict[str, Any]],
    samples: list[Sample],
    elapsed: float,
    killed: list[int],
) -> CaseOutcome:
    host = os.uname().nodename
    workers_event = next((e for e in events if e.get("event") == "workers"), {})
    describe = workers_event.get("describe", {})
    # The nodes a row is about: every node the case used, or one node for a node_* metric.
    remote = describe.get("remote", bool(case.backend_options.get("address")))
    nodes = describe.get("nodes_used") or ("" if remote else "local")
    base = {
        "run_id": run_id,
        "host": host,
        "scenario": case.scenario,
        "case_id": case.case_id,
        "backend": case.backend,
        "workers": case.workers,
        "params": case.params_key,
        "tasks": case.tasks,
        "status": status,
        "error": error,
        "nodes": nodes,
    }
    rows = [
        {
            **base,
            "repeat": e.get("repeat"),
            "metric": e["metric"],
            "value": e["value"],
            "unit": e["unit"],
            **({"nodes": e["node"]} if e.get("node") else {}),
        }
        for e in events
        if e.get("event") == "metric"
    ]
    rows.append({**base, "repeat": None, "metric": "elapsed_s", "value": elapsed, "unit": "s"})
    baseline = next((e for e in events if e.get("event") == "baseline"), None)
    for metric, value, unit in _memory_metrics(case, samples, baseline, workers_event):
        rows.append({**base, "repeat": None, "metric": metric, "value": value, "unit": unit})
    measurements = results.frame(rows)

    t0 = samples[0].t if samples else 0.0
    step = max(1, len(samples) // TIMESERIES_POINTS)
    timeseries = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "case_id": case.case_id,
                "backend": case.backend,
                "workers": case.workers,
                "params": case.params_key,
                "t_s": s.t - t0,
                "phase": s.phase,
                "rss_bytes": s.rss_bytes,
                "uss_bytes": s.uss_bytes,
                "processes": s.processes,
            }
            for s in samples[::step]
        ]
    )
    lat = next((e for e in events if e.get("event") == "latencies"), None)
    latency = (
        pd.DataFrame(
            {
                "run_id": run_id,
                "case_id": case.case_id,
                "backend": case.backend,
                "workers": case.workers,
                "params": case.params_key,
                "latency_s": lat["values"],
            }
        )
        if lat and lat["values"]
        else pd.DataFrame()
    )
    return CaseOutcome(
        case,
        status,
        error,
        measurements,
        timeseries,
        latency,
        elapsed,
        killed,
        describe=workers_event.get("describe", {}),
    )


def _memory_metrics(
    case: Case,
    samples: list[Sample],
    baseline: dict[str, Any] | None,
    workers_event: dict[str, Any],
) -> list[tuple[str, float, str]]:
    running = [s for s in samples if s.phase in RUNNING_PHASES]
    with_uss = [s for s in running if s.uss_bytes is not None]
    if not with_uss or baseline is None:
        return []
    peak = max(with_uss, key=lambda s: s.uss_bytes or 0)
    assert peak.uss_bytes is not None
    base_uss = baseline["uss_bytes"]
    driver_pid = baseline["pid"]
    if workers_event.get("describe", {}).get("remote"):
        # Workers live on other nodes (see node_peak_rss_bytes): only the driver is local.
        return [
            ("peak_rss_bytes", float(max(s.rss_bytes for s in running)), "B"),
            ("peak_uss_bytes", float(peak.uss_bytes - base_uss), "B"),
            ("baseline_uss_bytes", float(base_uss), "B"),
        ]
    worker_pids = [p for p in workers_event.get("pids", []) if p in peak.per_pid_uss]
    if worker_pids:
        worker_uss = sum(peak.per_pid_uss[p] for p in worker_pids) / len(worker_pids)
    else:  # in-process workers: what the driver grew by, shared among them
        worker_uss = max(0, peak.per_pid_uss.get(driver_pid, base_uss) - base_uss) / case.workers
    added = peak.uss_bytes - base_uss
    return [
        ("peak_rss_bytes", float(max(s.rss_bytes for s in running)), "B"),
        ("peak_uss_bytes", float(added), "B"),
        ("worker_uss_bytes", float(worker_uss), "B"),
        ("fixed_uss_bytes", float(added - worker_uss * case.workers), "B"),
        ("baseline_uss_bytes", float(base_uss), "B"),
        ("processes", float(peak.processes), "count"),
    ]


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops the run like Ctrl-C does: current case stopped, the rest kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class RunResult:
    run_dir: Path
    outcomes: list[CaseOutcome]
    skipped: list[Case]
    interrupted: bool


def run(
    cases: list[Case],
    run_dir: Path,
    *,
    rounds: int = 1,
    sample_interval_s: float = 0.05,
    on_case_start: Callable[[Case, int, int], None] | None = None,
    on_case_end: Callable[[CaseOutcome], None] | None = None,
    on_event: EventHook | None = None,
) -> RunResult:
    """Run every case `rounds` times, round after round, saving after each case.

    Rounds interleave the backends: slow drift of a shared machine (another job, thermal
    throttling) then touches every backend alike instead of whichever ran last, and each
    round adds a start-up sample. A resumed run does only the rounds not yet recorded.
    """
    run_id = run_dir.name
    writer = results.RunWriter(run_dir)
    writer.drop_interrupted()
    done = _rounds_done(writer.measurements())
    plan = [
        (r, case) for r in range(1, rounds + 1) for case in cases if done.get(case.case_id, 0) < r
    ]
    skipped = [c for c in cases if done.get(c.case_id, 0) >= rounds]
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    outcomes: list[CaseOutcome] = []
    interrupted = False
    with _sigterm_as_interrupt():
        for i, (round_no, case) in enumerate(plan):
            if on_case_start:
                on_case_start(case, i, len(plan))
            log_path = logs / (case.case_id.replace("/", "__") + ".log")
            try:
                outcome = run_case(
                    case,
                    run_id=run_id,
                    log_path=log_path,
                    sample_interval_s=sample_interval_s,
                    on_event=on_event,
                )
            except _InterruptedCase as exc:
                outcome, interrupted = exc.outcome, True
            except (KeyboardInterrupt, Interrupted):
                interrupted = True
                break
            # Repeats number on across rounds: repeat 1..R in round 1, R+1..2R in round 2.
            outcome.measurements["repeat"] += (round_no - 1) * case.repeat
            if interrupted:  # kept until a resume runs the case again
                writer.append(outcome.measurements)
            else:
                writer.append(outcome.measurements, outcome.timeseries, outcome.latency)
            outcomes.append(outcome)
            if on_case_end:
                on_case_end(outcome)
            if interrupted:
                break
    return RunResult(run_dir, outcomes, skipped, interrupted)


def _rounds_done(measurements: pd.DataFrame) -> dict[str, int]:
    """Finished rounds per case: each finished case process leaves one `elapsed_s` row."""
    finished = measurements[
        (measurements["status"] != "interrupted") & (measurements["metric"] == "elapsed_s")
    ]
    return finished.groupby("case_id").size().to_dict()
