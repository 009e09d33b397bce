"""Runs one case in its own process and turns its events into tidy rows.

This owns what a benchmark must never leave to the workload: the per-case timeout, the
process-tree sampler, the status of a case that hung or crashed, and cleaning up every
process the case started. The run as a whole (rounds, run.json, saving) is `runner.Run`.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import results
from harness.case import Case
from harness.execute import interpreters
from harness.measure.proctree import TOKEN_VAR, carrying_token, terminate, tree
from harness.measure.sampler import Sample, TreeSampler
from harness.protocol import (
    METRICS,
    BackendDescription,
    BaselineEvent,
    BatchCompletionEvent,
    DoneEvent,
    Event,
    FailedEvent,
    Metric,
    MetricEvent,
    PhaseEvent,
    ProtocolError,
    TasksEvent,
    WorkersEvent,
    decode,
)

#: Memory samples kept per case for the memory-over-time figure.
TIMESERIES_POINTS = 400
#: Seconds a case's leftover processes get to end on their own before they are signalled.
LEFTOVER_GRACE_S = 3.0
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
    description: BackendDescription | None = None
    round: int = 1
    #: The timeline pass's task records (empty for program workloads and failed cases).
    tasks: pd.DataFrame = field(default_factory=pd.DataFrame)

    def metric(self, name: str) -> pd.Series:
        m = self.measurements
        return m.loc[m["metric"] == name, "value"]


EventHook = Callable[[Case, Event], None]

#: The harness's own interpreter, as the `python` column records it ("3.11.7", "3.13.1t"):
#: the case processes' unless a case names another (`Case.python`).
PYTHON = interpreters.current().label


def run_case(
    case: Case,
    *,
    run_id: str,
    round_no: int = 1,
    log_path: Path | None = None,
    sample_interval_s: float = 0.05,
    on_event: EventHook | None = None,
    python: str | None = None,
) -> CaseOutcome:
    """Run one case in a fresh process under its timeout; never raises for the case's faults.

    `python` is the interpreter to start it with (an environment `interpreters.prepare`
    made), by default the harness's own."""
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
        [python or sys.executable, "-m", "harness.execute.case_main", str(write_fd)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        env=env,
        start_new_session=True,  # Ctrl-C reaches the runner, which stops the case
    )
    os.close(write_fd)
    sampler = TreeSampler(proc.pid, interval_s=sample_interval_s).start()
    events: list[Event] = []
    batch = _BatchWatch()
    reader = threading.Thread(
        target=_read_events, args=(read_fd, events, sampler, case, on_event, batch), daemon=True
    )
    reader.start()
    status, error = "ok", ""
    try:
        assert proc.stdin is not None
        proc.stdin.write(case.to_json().encode())
        proc.stdin.close()
        _wait(proc, case.timeout_s, batch, case.batch_limit_s)
    except subprocess.TimeoutExpired:
        status, error = "timeout", f"no result within the case timeout of {case.timeout_s:g} s"
    except BatchTooLong:
        status, error = (
            "timeout",
            f"a batch ran over the case's batch limit of {case.batch_limit_s:.3g} s",
        )
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
    outcome = _outcome(
        case, run_id, round_no, status, error, events, sampler.samples, elapsed, killed
    )
    if status == "interrupted":
        raise InterruptedCase(outcome)
    return outcome


def skipped_case(case: Case, *, run_id: str, round_no: int, reason: str) -> CaseOutcome:
    """A case that cannot run here (its engine is not installed for its interpreter): no
    process is started; its rows say `skipped` and why, and count as the round being done."""
    return _outcome(case, run_id, round_no, "skipped", reason, [], [], float("nan"), [])


class InterruptedCase(Exception):
    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


class BatchTooLong(Exception):
    """A warm-up or repeat batch outlasted `Case.batch_limit_s`."""


class _BatchWatch:
    """When the case process's current phase began, as the event reader saw it. A batch
    is a `warmup` or `steady` phase, until the next phase begins; the first warm-up is not
    held to the limit (a fresh engine's first batch imports and ships code)."""

    def __init__(self) -> None:
        self.limited, self.since = False, time.monotonic()

    def saw(self, event: PhaseEvent) -> None:
        first = event.phase == "warmup" and not event.repeat
        self.limited = event.phase in ("warmup", "steady") and not first
        self.since = time.monotonic()

    def over(self, limit_s: float) -> bool:
        return self.limited and time.monotonic() - self.since > limit_s


def _read_events(
    fd: int,
    events: list[Event],
    sampler: TreeSampler,
    case: Case,
    on_event: EventHook | None,
    batch: _BatchWatch | None = None,
) -> None:
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                event = decode(line)
            except ProtocolError:
                continue
            if isinstance(event, PhaseEvent):
                # The latency pass is not a throughput measurement: a good moment to read
                # USS of the warmed-up tree without slowing a timed repeat.
                sampler.set_phase(event.phase, full_sample=event.phase == "latency")
                if batch is not None:
                    batch.saw(event)
            events.append(event)
            if on_event is not None:
                on_event(case, event)


def _wait(
    proc: subprocess.Popen[bytes],
    timeout_s: float,
    batch: _BatchWatch | None = None,
    batch_limit_s: float = 0.0,
) -> None:
    """`proc.wait(timeout_s)`, woken by the exit itself where Linux can (a pidfd); with a
    batch limit, it looks every 50 ms whether the current batch outlasted it.

    Popen.wait with a timeout polls, sleeping up to 50 ms between looks: every case paid
    ~25 ms on average for the runner to notice that it had ended."""
    if batch is not None and batch_limit_s > 0:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                proc.wait(timeout=min(0.05, max(deadline - time.monotonic(), 0.001)))
                return
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
                if batch.over(batch_limit_s):
                    raise BatchTooLong() from None
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: poll as Popen does
        proc.wait(timeout=timeout_s)
        return
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout_s * 1000):  # readable once the process has ended
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
    finally:
        os.close(pidfd)
    proc.wait()


def _stop_everything(proc: subprocess.Popen[bytes], token: str) -> list[int]:
    """Stop the case process and every process it started, wherever they were re-parented."""
    procs = tree(proc.pid)
    killed = terminate(procs) if proc.poll() is None else []
    leftovers = {p.pid: p for p in [*tree(proc.pid), *carrying_token(token)]}
    # Engines stop their helpers asynchronously; give them a moment before the signals,
    # looking again soon and then less often (most are gone within milliseconds; a fixed
    # 100 ms tick made each such case wait 100 ms).
    deadline, pause = time.monotonic() + LEFTOVER_GRACE_S, 0.005
    while leftovers and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(2 * pause, 0.1)
        leftovers = {p.pid: p for p in carrying_token(token)}
    killed += terminate(leftovers.values())
    proc.wait()
    return sorted(set(killed))


def _status_from(events: list[Event], returncode: int | None) -> tuple[str, str]:
    for event in events:
        if isinstance(event, FailedEvent):
            return event.status, event.error
    if any(isinstance(e, DoneEvent) for e in events) and returncode == 0:
        return "ok", ""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        return "crashed", f"the case process was killed by {name}"
    return "crashed", f"the case process exited with code {returncode} before finishing"


def _first(events: list[Event], kind: type) -> Any:
    return next((e for e in events if isinstance(e, kind)), None)


def _outcome(
    case: Case,
    run_id: str,
    round_no: int,
    status: str,
    error: str,
    events: list[Event],
    samples: list[Sample],
    elapsed: float,
    killed: list[int],
) -> CaseOutcome:
    workers_event: WorkersEvent | None = _first(events, WorkersEvent)
    description = workers_event.description if workers_event else None
    # The nodes a row is about: every node the case used, or one node for a node_* metric.
    remote = description.remote if description else bool(case.backend_options.get("address"))
    nodes = (description.nodes_used if description else "") or ("" if remote else "local")
    base = {**case_columns(case, run_id, round_no), "status": status, "error": error}
    if not case.nodes:  # outside a node sweep: the nodes the workers ran on
        base["node_count"] = len(nodes.split(",")) if nodes else 0
    partner = case.partner_case()
    rows = _metric_rows(events, base, partner, nodes)
    once = {**base, "nodes": nodes, "repeat": None}
    rows.append(
        {
            **once,
            "metric": Metric.ELAPSED_S,
            "value": elapsed,
            "unit": METRICS[Metric.ELAPSED_S].unit,
        }
    )
    baseline: BaselineEvent | None = _first(events, BaselineEvent)
    # Two cases sharing a process share its memory: neither side's alone is measured.
    memory = _memory_metrics(case, samples, baseline, workers_event) if partner is None else []
    for metric, value in memory:
        rows.append({**once, "metric": metric, "value": value, "unit": METRICS[metric].unit})
    measurements = results.frame(rows)

    key = {
        "run_id": run_id,
        "case_id": case.case_id,
        "backend": case.backend,
        "workers": case.workers,
        "params": case.params_key,
        "round": round_no,
    }
    t0 = samples[0].t if samples else 0.0
    step = max(1, len(samples) // TIMESERIES_POINTS)
    timeseries = pd.DataFrame(
        [
            {
                **key,
                "t_s": s.t - t0,
                "phase": s.phase,
                "rss_bytes": s.rss_bytes,
                "uss_bytes": s.uss_bytes,
                "processes": s.processes,
            }
            for s in samples[::step]
        ]
    )
    completion: BatchCompletionEvent | None = _first(events, BatchCompletionEvent)
    latency = (
        pd.DataFrame({**key, "completion_s": completion.values})
        if completion and completion.values
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
        description=description,
        round=round_no,
        tasks=_tasks(events, {**key, "scenario": case.scenario, "variant": case.variant}),
    )


def _metric_rows(
    events: list[Event], base: dict[str, Any], partner: Case | None, nodes: str
) -> list[dict[str, Any]]:
    """One row per value; the partner's (harness ab, both sides in one process) under its
    own case's columns."""
    other = base
    if partner is not None:
        other = {**base, **case_columns(partner, base["run_id"], base["round"])}
    return [
        {
            **(other if e.partner else base),
            "nodes": e.node or nodes,
            "repeat": e.repeat,
            "metric": e.metric,
            "value": e.value,
            "unit": e.unit,
        }
        for e in events
        if isinstance(e, MetricEvent)
    ]


def _tasks(events: list[Event], key: dict[str, Any]) -> pd.DataFrame:
    """The timeline pass's task records under the case's keys (`results.TASKS_SCHEMA`)."""
    found: TasksEvent | None = _first(events, TasksEvent)
    if found is None or not found.columns.get("task"):
        return pd.DataFrame()
    records = pd.DataFrame(found.columns)
    keys = pd.DataFrame([key] * len(records))
    return pd.concat([keys, records], axis=1).astype(results.TASKS_SCHEMA)


def case_columns(case: Case, run_id: str, round_no: int) -> dict[str, Any]:
    """The columns that say which case and round a row belongs to."""
    return {
        "run_id": run_id,
        "host": os.uname().nodename,
        "scenario": case.scenario,
        "case_id": case.case_id,
        "backend": case.backend,
        "variant": case.variant,
        "workers": case.workers,
        "params": case.params_key,
        "tasks": case.tasks,
        "round": round_no,
        "python": case.python or PYTHON,
        "side": case.side,
        "node_count": case.nodes or 1,
        "node_scaling": case.node_scaling,
    }


def _memory_metrics(
    case: Case,
    samples: list[Sample],
    baseline: BaselineEvent | None,
    workers_event: WorkersEvent | None,
) -> list[tuple[str, float]]:
    running = [s for s in samples if s.phase in RUNNING_PHASES]
    with_uss = [s for s in running if s.uss_bytes is not None]
    if not with_uss or baseline is None:
        return []
    peak = max(with_uss, key=lambda s: s.uss_bytes or 0)
    peak_pss = max(with_uss, key=lambda s: s.pss_bytes or 0)
    assert peak.uss_bytes is not None and peak_pss.pss_bytes is not None
    base_uss, base_pss = baseline.uss_bytes, baseline.pss_bytes
    # Added memory is never below 0: after fork the driver's pages shared with its workers
    # drop out of every USS, so the tree's USS can dip under the baseline (catalogue).
    rows = [
        (Metric.PEAK_RSS_BYTES, float(max(s.rss_bytes for s in running))),
        (Metric.PEAK_USS_BYTES, float(max(0, peak.uss_bytes - base_uss))),
        (Metric.BASELINE_USS_BYTES, float(base_uss)),
    ]
    if base_pss:
        rows.append((Metric.PEAK_PSS_BYTES, float(max(0, peak_pss.pss_bytes - base_pss))))
    if workers_event is not None and workers_event.description.remote:
        # Workers live on other nodes (see node_peak_rss_bytes): only the driver is local.
        return rows
    pids = workers_event.pids if workers_event else []
    # Per worker from the largest sample that read every worker: a sample the reader took
    # late (a loaded machine) may find the workers already gone, and say 0 for them.
    whole = [s for s in with_uss if all(p in s.per_pid_uss for p in pids)]
    if pids and not whole:
        return rows  # no sample saw the workers: their memory is not measured, not 0
    if whole:
        peak = max(whole, key=lambda s: s.uss_bytes or 0)
        peak_pss = max(whole, key=lambda s: s.pss_bytes or 0)
    assert peak.uss_bytes is not None and peak_pss.pss_bytes is not None
    worker_uss = _per_worker(peak.per_pid_uss, pids, baseline.pid, base_uss, case.workers)
    added = peak.uss_bytes - base_uss
    rows += [
        (Metric.WORKER_USS_BYTES, worker_uss),
        (Metric.FIXED_USS_BYTES, float(max(0.0, added - worker_uss * case.workers))),
        (Metric.PROCESSES, float(peak.processes)),
    ]
    if base_pss:
        pss = _per_worker(peak_pss.per_pid_pss, pids, baseline.pid, base_pss, case.workers)
        rows.append((Metric.WORKER_PSS_BYTES, pss))
    return rows


def _per_worker(
    per_pid: dict[int, int], pids: list[int], driver: int, base: int, workers: int
) -> float:
    """Mean per worker process; for in-process workers, the driver's growth shared among them."""
    present = [p for p in pids if p in per_pid]
    if present:
        return float(sum(per_pid[p] for p in present) / len(present))
    return float(max(0, per_pid.get(driver, base) - base) / workers)
