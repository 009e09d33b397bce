"""The process one case runs in: start the backend, warm up, repeat, tear down.

Each case gets a fresh interpreter so that one case's memory, threads or hung workers
cannot touch the next, and so the parent can stop it whole on a timeout. Events go to the
parent as JSON lines on a dedicated pipe (never pickle), so engine logs on stdout/stderr
cannot corrupt them.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import psutil

from harness import backends, user_code, workloads
from harness.backends import _ship
from harness.backends.base import Backend, WorkerCrashed
from harness.case import Case
from harness.execute import interpreters
from harness.execute.batching import run_map
from harness.execute.emitter import Emitter, PartnerEmitter
from harness.execute.passes import (
    COMPLETION_SAMPLE,
    check_outputs,
    digested,
    probe_clocks,
    round_trips,
    stamped_batch,
    verify_outputs,
)
from harness.graph import run_in_order
from harness.measure import timeline
from harness.measure.proctree import (
    CpuReading,
    cpu_between,
    cpu_by_pid,
    cpu_ratio,
    tree,
    usable_cpus,
)
from harness.measure.quantiles import percentile
from harness.protocol import (
    BaselineEvent,
    BatchCompletionEvent,
    DoneEvent,
    FailedEvent,
    Metric,
    MetricEvent,
    TasksEvent,
    WorkersEvent,
)
from harness.tasks import (
    timed,
    timed_async,
)

#: A reference loop slower than this many times the case's own batch (seen in the warm-up)
#: is dropped for the process: it would spend most of the budget on the baseline.
REFERENCE_MAX_COST = 4.0


def measure_case(case: Case, emit: Emitter) -> None:
    """Inside the case process: prepare the user's code, the workload and its fixture, then
    run the phases (`case_runner.run_case` is the parent's side, which starts this process).
    """
    # Rows say which Python measured them: make sure it is this one, not a stale env's.
    here = interpreters.current().label
    if case.python and case.python != here:
        raise RuntimeError(f"the case is for Python {case.python}, but runs under {here}")
    # The user's own code: importable here and in process pools (sys.path), shipped to
    # Dask and Ray workers the way the harness ships itself.
    user_code.make_importable(case.code)
    for unit in case.code:
        _ship.add_user_code(Path(unit))
    workload = workloads.get(case.workload, case.inputs, case.check)
    params = workload.params(**case.params)
    # A fixture (an HTTP server, a temporary folder) lives as long as the case, in this process.
    fixture = workload.fixture(params) if workload.fixture is not None else nullcontext()
    with fixture as context:
        partner = case.partner_case()
        if partner is None:
            _run_phases(case, emit, workload, params, context)
        else:
            _run_pair(case, partner, emit, workload, params, context)


def _run_pair(
    case: Case,
    partner: Case,
    emit: Emitter,
    workload: workloads.Workload,
    params: Any,
    context: Any,
) -> None:
    """Two cases on one engine in one process, their warm-ups and repeats alternating
    (A B, B A, A B, ...): each pair of repeats a moment apart, so the machine's swings
    land on both sides alike. Only the repeats: no latency or timeline pass."""
    phases = _Phases(case, emit, workload, params, context)
    other_workload = workloads.get(partner.workload, partner.inputs, partner.check)
    other_params = other_workload.params(**partner.params)
    other = _Phases(
        partner, PartnerEmitter(emit), other_workload, other_params, None, backend=phases.backend
    )
    phases.start()
    try:
        phases.describe()
        other.own = phases.own
        for i in range(max(case.warmup, partner.warmup)):
            for side in (other, phases) if i % 2 == 0 else (phases, other):
                side.warm_one(i)
        for r in range(1, max(case.repeat, partner.repeat) + 1):
            for side in (other, phases) if r % 2 == 1 else (phases, other):
                side.repeat(r)
    finally:
        phases.teardown()


def _run_phases(
    case: Case, emit: Emitter, workload: workloads.Workload, params: Any, context: Any
) -> None:
    """The phases of a case in order: baseline, start-up, warm-up, repeats, latency pass,
    teardown (which runs whatever happened before it)."""
    phases = _Phases(case, emit, workload, params, context)
    phases.start()
    try:
        phases.describe()
        phases.warm_up()
        phases.repeats()
        if case.passes:
            phases.latency_pass()
        for event in phases.backend.node_metrics():
            emit(event)
    finally:
        phases.teardown()


class _Phases:
    """One case's backend, inputs and expected outputs, and one method per phase.

    Creating it is the memory baseline: the engine and the workload's driver-side imports
    are loaded first, so the baseline is "driver with imports"."""

    def __init__(
        self,
        case: Case,
        emit: Emitter,
        workload: workloads.Workload,
        params: Any,
        context: Any,
        backend: Backend | None = None,
    ) -> None:
        """`backend`: an engine another case in this process started (`_run_pair`)."""
        self.case, self.emit, self.workload, self.params = case, emit, workload, params
        self.backend_cls = backends.get(case.backend)
        self.backend = backend or self.backend_cls(
            case.workers, self.backend_cls.options_model(**case.backend_options)
        )
        self.task = workload.async_task if self.backend_cls.task_kind == "async" else workload.task
        _import_engine(self.backend_cls, workload)
        info = psutil.Process().memory_full_info()
        emit(BaselineEvent(info.uss, info.rss, os.getpid(), getattr(info, "pss", 0)))
        emit.metric(Metric.USABLE_CPUS, usable_cpus())
        self.inputs = workload.make_inputs(params, case.tasks, context)
        #: The baseline's backend, when this case times its loop beside each repeat.
        self.reference: Backend | None = None
        if case.reference and not self.backend_cls.baseline and workload.program is None:
            base_cls = backends.get(backends.baseline())
            self.reference = base_cls(1, base_cls.options_model())
        #: None until the first batch of the sequential loop (the reference's, or the
        #: baseline case's own) gives it: that loop is the sequential result, and computing
        #: it once more up front cost every process one more batch.
        self.expected: list[Any] | None = []
        self.graph = workload.graph(params, case.tasks) if workload.graph is not None else None
        if self.graph is not None:
            self.expected = digested(workload, run_in_order(self.graph))
        elif workload.program is None and workload.verify is None:
            if workload.expected is not None:
                self.expected = digested(workload, workload.expected(params, self.inputs))
            elif self.reference is not None or self.backend_cls.baseline:
                self.expected = None
            else:
                self.expected = digested(workload, [workload.task(i) for i in self.inputs])
        self.n_tasks = case.tasks if workload.program is not None else len(self.inputs)
        if self.graph is not None:
            self.n_tasks = len(self.graph.nodes)
        self.own: set[int] = set()

    def processes(self) -> list[psutil.Process]:
        """The driver's process tree, and workers outside it (a warm engine's)."""
        procs = tree(os.getpid())
        have = {p.pid for p in procs}
        for pid in self.backend.outside_pids():
            if pid not in have:
                try:
                    procs.append(psutil.Process(pid))
                except psutil.Error:
                    continue
        return procs

    def one_batch(
        self, backend: Backend | None = None
    ) -> tuple[list[Any], list[Any] | None, dict[str, tuple[float, str]]]:
        """The whole batch once, on the case's backend or (`backend`) the reference's."""
        own = backend is None
        backend = self.backend if backend is None else backend
        if self.graph is not None:
            t0 = time.perf_counter()
            outputs = backend.run_graph(self.graph).outputs
            extra = {}
            # Times read inside workers compare with the driver's only on one host.
            if own and self.workload.graph_metrics is not None and not backend.remote:
                extra = self.workload.graph_metrics(outputs, t0)
            return outputs, self.expected, extra
        if self.workload.program is not None:
            result = self.workload.program(backend, self.params, self.case.tasks, self.inputs)
            return result.outputs, result.expected, result.metrics
        task = self.workload.task if backend is not self.backend else self.task
        assert task is not None, "a map workload (neither graph nor program) has a task"
        return run_map(backend, task, self.inputs), self.expected, {}

    def check(self, outputs: list[Any], wanted: list[Any] | None, where: str) -> None:
        if self.workload.verify is not None:
            verify_outputs(self.workload.verify, self.inputs, outputs, where)
            return
        # Digests are taken after the clock stops: summarising is not the backend's work.
        summary = outputs if self.workload.program else digested(self.workload, outputs)
        if wanted is None:  # the first sequential batch: it is the expected result
            self.expected = summary
            return
        check_outputs(summary, wanted, where)

    def reference_batch(self, where: str) -> float:
        """The baseline's loop on the same inputs, timed; its phase keeps it out of the
        case's memory peak and CPU share."""
        assert self.reference is not None
        self.emit.phase("reference")
        t0 = time.perf_counter()
        outputs, wanted, _ = self.one_batch(self.reference)
        wall = time.perf_counter() - t0
        self.emit.phase("between")
        # A spec's own check judges the case's outputs; the loop in the driver is checked
        # by the sequential case itself (a check may ask where a task ran).
        if self.workload.verify is None:
            self.check(outputs, wanted, f"{where} (sequential reference)")
        return wall

    def start(self) -> None:
        if self.backend.remote:
            # On a cluster the case leaves things behind that its own end would not remove
            # (samplers on the nodes, plugins on the scheduler): a timeout or Ctrl-C (the
            # runner sends SIGTERM, then SIGKILL after a grace) runs `backend.stop` first.
            _stop_on_sigterm()
        self.emit.phase("startup")
        t0 = time.perf_counter()
        try:
            self.backend.start()
        except BaseException:
            # A start cut short (an error, or SIGTERM on a timeout) may have left pools,
            # plugins on a cluster's scheduler or samplers on its nodes: every `stop` takes it.
            self.backend.stop()
            raise
        if not self.backend.warm:  # joining a warm engine is not starting one
            self.emit.metric(Metric.STARTUP_S, time.perf_counter() - t0)
        if self.reference is not None:
            self.reference.start()

    def describe(self) -> None:
        backend = self.backend
        description = backend.describe()
        if self.graph is not None:  # how this engine runs a graph, not a map
            description.strategy = backend.graph_strategy
        if backend.options.batching != "idiom":  # say how the batch became engine tasks
            description.strategy += f"; batching={backend.options.batching}"
        self.emit(WorkersEvent(backend.worker_pids(), description, backend.service_pids()))
        # cpu_util counts the driver and the workers; everything else the driver started
        # (gcs_server, raylet, agents, trackers, managers) is the engine's.
        self.own = {os.getpid(), *backend.worker_pids()}
        # On a remote cluster the local process tree is only the driver: sample every node,
        # for no longer than the case may last.
        backend.start_node_sampling(max_s=self.case.timeout_s)

    def warm_up(self) -> None:
        for i in range(self.case.warmup):
            reference = self.reference_batch(f"warm-up {i + 1}") if self.reference else None
            wall = self.warm_one(i)
            if reference is not None and reference > REFERENCE_MAX_COST * wall:
                # The pairing would cost more than it buys: this process's speedup is
                # then unpaired, from the sequential case's own processes.
                self.reference = None

    def warm_one(self, i: int) -> float:
        """One untimed batch, checked; its wall time (for the reference's cost)."""
        self.emit.phase("warmup", repeat=i)
        t0 = time.perf_counter()
        outputs, wanted, _ = self.one_batch()
        wall = time.perf_counter() - t0
        self.check(outputs, wanted, f"warm-up {i + 1}")
        return wall

    def repeats(self) -> None:
        steady_cpu0, steady_t0 = cpu_by_pid(self.processes()), time.perf_counter()
        for r in range(1, self.case.repeat + 1):
            if self.reference is None:
                self.repeat(r)
                continue
            # Pairs in alternating order (ref, case, case, ref, ...): whichever goes first
            # in a pair is not always the same side.
            first = r % 2 == 1
            reference = self.reference_batch(f"repeat {r}") if first else 0.0
            self.repeat(r)
            if not first:
                reference = self.reference_batch(f"repeat {r}")
            self.emit.metric(Metric.REFERENCE_WALL_S, reference, r)
        if not self.backend.remote:
            steady = time.perf_counter() - steady_t0
            steady_cpu1 = cpu_by_pid(self.processes())
            if self.reference is None:  # the reference's loop would count as the driver's
                _emit_cpu(
                    self.emit,
                    steady_cpu0,
                    steady_cpu1,
                    self.own,
                    steady,
                    self.case.workers,
                    None,
                    Metric.STEADY_CPU_UTIL,
                )
            _emit_engine_cpu(self.emit, steady_cpu0, steady_cpu1, self.own, steady)

    def repeat(self, r: int) -> None:
        emit, backend = self.emit, self.backend
        workers = backend.worker_identities()
        emit.phase("steady", repeat=r)
        cpu0 = cpu_by_pid(self.processes())
        t0 = time.perf_counter()
        try:
            outputs, wanted, extra = self.one_batch()
        except WorkerCrashed as exc:
            raise WorkerCrashed(f"repeat {r}: {exc}") from exc
        wall = time.perf_counter() - t0
        cpu1 = cpu_by_pid(self.processes())
        emit.phase("between", repeat=r)
        _same_workers(workers, backend.worker_identities(), r)
        self.check(outputs, wanted, f"repeat {r}")
        del outputs
        emit.metric(Metric.WALL_S, wall, r)
        emit.metric(Metric.TASKS_PER_S, self.n_tasks / wall, r)
        if self.workload.bytes_per_task is not None:
            rate = self.n_tasks * self.workload.bytes_per_task(self.params) / wall
            emit.metric(Metric.BYTES_PER_S, rate, r)
        for name, (value, unit) in extra.items():
            emit.metric(name, value, r, unit=unit)
        if not backend.remote:  # remote CPU is measured per node (node_cpu_util)
            _emit_cpu(emit, cpu0, cpu1, self.own, wall, self.case.workers, r)

    def latency_pass(self) -> None:
        emit = self.emit
        emit.phase("latency")
        if self.graph is not None:
            # Counting what crosses the driver pickles every value: never in a timed repeat.
            run = self.backend.run_graph(self.graph, count_bytes=True)
            self.check(run.outputs, self.expected, "untimed pass")
            if run.driver_bytes is not None:
                emit.metric(Metric.DRIVER_BYTES, run.driver_bytes)
            return
        if self.workload.program is not None:
            # Programs report rates, not latencies; their untimed pass is where the runner
            # reads the warmed-up tree's memory (USS), as it does for map workloads.
            outputs, wanted, _ = self.one_batch()
            self.check(outputs, wanted, "untimed pass")
            return
        # Latency gets a pass of its own: per-task timestamps cost time that the
        # throughput repeats must not pay. (Program workloads report rates.)
        wrapper = timed_async if self.backend_cls.task_kind == "async" else timed
        # a map workload, whose sequential result the first batch of the repeats gave
        assert self.task is not None and self.expected is not None
        round_trips(
            emit, self.backend, wrapper, self.task, self.inputs, self.expected, self.workload
        )
        self.timeline_pass()

    def timeline_pass(self) -> None:
        """The whole batch once more, each task stamped where it ran: batch completion
        times, and the task records (`measure.timeline`) behind the Gantt chart."""
        emit = self.emit
        assert self.task is not None, "a map workload has a task"
        batch = stamped_batch(self.backend, self.task, self.inputs)
        self.check(batch.outputs, self.expected, "latency pass")
        batch.outputs.clear()  # checked: large payloads need not stay in memory
        arrival, submit, t0 = batch.arrival_s, batch.submit_s, batch.t0
        for name, q in ((Metric.BATCH_COMPLETION_P50_S, 50), (Metric.BATCH_COMPLETION_P99_S, 99)):
            emit.metric(name, percentile(arrival, q))
        step = max(1, len(arrival) // COMPLETION_SAMPLE)
        emit(BatchCompletionEvent(sorted(arrival)[::step]))
        offsets = None
        if self.backend.remote:  # each node its own clock: bound its offset
            brackets = [
                timeline.Bracket(node, start, end, t0 + sent, t0 + back)
                for (node, _, _, start, end), sent, back in zip(
                    batch.stamps, submit, arrival, strict=True
                )
            ]
            offsets = timeline.clock_offsets([*brackets, *probe_clocks(self.backend)])
            for clock in offsets.values():
                emit(MetricEvent(Metric.CLOCK_OFFSET_S, clock.offset_s, "s", node=clock.node))
                emit(
                    MetricEvent(
                        Metric.CLOCK_UNCERTAINTY_S, clock.uncertainty_s, "s", node=clock.node
                    )
                )
        columns = timeline.records(batch.stamps, arrival, submit, t0, offsets, os.getpid())
        emit(TasksEvent(columns))
        found = timeline.shape(columns, self.case.workers)
        if found is None:
            return
        for name, value in (
            (Metric.MAKESPAN_S, found.makespan_s),
            (Metric.IDEAL_MAKESPAN_S, found.ideal_makespan_s),
            (Metric.SCHEDULE_EFFICIENCY, found.schedule_efficiency),
            (Metric.WORKER_BUSY_MIN, found.worker_busy_min),
            (Metric.STRAGGLER_RATIO, found.straggler_ratio),
            (Metric.BATCH_SERVICE_P50_S, found.service_p50_s),
        ):
            emit.metric(name, value)
        # A gap across hosts smaller than the clocks' uncertainty is not a fact.
        for name, value in (
            (Metric.DISPATCH_P50_S, found.dispatch_p50_s),
            (Metric.RETURN_P50_S, found.return_p50_s),
        ):
            if value >= found.clock_uncertainty_s:
                emit.metric(name, value)

    def teardown(self) -> None:
        self.emit.phase("teardown")
        t0 = time.perf_counter()
        self.backend.stop()
        if not self.backend.warm:
            self.emit.metric(Metric.TEARDOWN_S, time.perf_counter() - t0)
        if self.reference is not None:
            self.reference.stop()


def _emit_cpu(
    emit: Emitter,
    before: dict[int, CpuReading],
    after: dict[int, CpuReading],
    own: set[int],
    wall: float,
    workers: int,
    repeat: int | None,
    name: str = Metric.CPU_UTIL,
) -> None:
    """cpu_util of one repeat (or, as steady_cpu_util with no repeat, of all the repeats at
    once: where CPU times come in clock ticks, a 400 ms repeat on two workers is too short
    for the ticks of three processes, five of them together are not): the driver and the
    workers only. A repeat read from schedstat also gets cpu_wait_ratio.

    A ratio the clock ticks cannot carry (a repeat too short) is left out, not guessed.
    """
    use = cpu_between(before, after, lambda pid: pid in own)
    util = cpu_ratio(use.cpu_s, use.ticked, wall, workers)
    if util is not None:
        emit.metric(name, util, repeat)
    if repeat is not None and use.wait_s is not None and wall > 0:
        emit.metric(Metric.CPU_WAIT_RATIO, use.wait_s / (wall * workers), repeat)


def _emit_engine_cpu(
    emit: Emitter,
    before: dict[int, CpuReading],
    after: dict[int, CpuReading],
    own: set[int],
    span: float,
) -> None:
    """engine_cpu_util: every other process the driver started, over all the repeats.

    One value per round, not per repeat: Ray runs eight or so mostly idle services, whose
    tick rounding (two ticks each, where schedstat is missing) no single repeat of a second
    could carry.
    """
    use = cpu_between(before, after, lambda pid: pid not in own)
    if use.processes:
        util = cpu_ratio(use.cpu_s, use.ticked, span)
        if util is not None:
            emit.metric(Metric.ENGINE_CPU_UTIL, util)


def _same_workers(before: dict[str, str] | None, after: dict[str, str] | None, r: int) -> None:
    """A worker that died or restarted during repeat `r` ends the case as crashed: its
    time would be the engine's recovery, not the workload."""
    if before is None or after is None:
        return
    lost = sorted(before[k] for k in before.keys() - after.keys())
    if lost:
        raise WorkerCrashed(f"repeat {r}: {', '.join(lost)} died or restarted during the repeat")


def _import_engine(backend_cls: type[backends.Backend], workload: workloads.Workload) -> None:
    """Import the engine (and what the workload's driver side needs) before the baseline,
    so the baseline is 'driver with imports'."""
    for module in (backend_cls.engine_module, *workload.imports):
        if module:
            importlib.import_module(module)


def main(argv: list[str]) -> int:
    events = os.fdopen(int(argv[1]), "w", buffering=1)
    emit = Emitter(events)
    case = Case.from_json(sys.stdin.read())
    try:
        measure_case(case, emit)
    except CaseStopped:
        return 128 + signal.SIGTERM  # the runner stopped it and has its status already
    except WorkerCrashed as exc:
        emit(FailedEvent("crashed", f"{type(exc).__name__}: {exc}"))
        return 3
    except Exception as exc:  # a failure inside the case is its status, not the harness's end
        status = "crashed" if _is_crash(exc) else "error"
        emit(FailedEvent(status, f"{type(exc).__name__}: {exc}"))
        return 3
    emit(DoneEvent())
    return 0


class CaseStopped(BaseException):
    """SIGTERM from the runner (timeout, Ctrl-C): unwinds the case through its `finally`
    blocks, which stop the backend; a BaseException, so no `except Exception` swallows it."""


def _stop_on_sigterm() -> None:
    """The first SIGTERM raises CaseStopped in the main thread; later ones are ignored, so
    the backend's `stop` is not itself cut short (the runner's SIGKILL ends a stuck one)."""

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise CaseStopped("SIGTERM")

    signal.signal(signal.SIGTERM, handler)


def _is_crash(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(
        names
        & {
            "WorkerCrashedError",
            "KilledWorker",
            "BrokenProcessPool",
            "RaySystemError",
            "LocalRayletDiedError",
            "NodeDiedError",
        }
    )


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
