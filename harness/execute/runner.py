"""A run: its folder and run.json, the case matrix, rounds, resume, saving as cases end.

The CLI and `harness.run` both drive this one object, so a run made from a notebook has
the same run.json, the same cluster checks and the same resume as one made by `harness run`.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness import backends, fingerprint, results, spec
from harness.case import Case
from harness.errors import InputError
from harness.execute import eta, interpreters
from harness.execute.budget import Budget
from harness.execute.case_runner import (
    CaseOutcome,
    Interrupted,
    InterruptedCase,
    run_case,
    skipped_case,
)
from harness.protocol import Event, Metric
from harness.spec import RunOptions, Spec

#: The harness's own interpreter label: a warm engine runs under it.
PYTHON = interpreters.current().label


class RunObserver:
    """What a run tells its caller as it goes; the CLI draws a progress bar from it."""

    def on_note(self, text: str) -> None:
        """A line worth showing once (which cluster a backend uses)."""

    def on_plan(self, plan: list[Case]) -> None:
        """The cases left to run, in order, one entry per round of each (for an ETA)."""

    def on_case_start(self, case: Case, index: int, total: int) -> None:
        """`total` counts what is left to run: a resumed run, or several rounds."""

    def on_event(self, case: Case, event: Event) -> None: ...

    def on_case_end(self, outcome: CaseOutcome) -> None: ...

    def on_budget_start(self, case: Case, left_s: float) -> None:
        """A process the budget bought starts; `left_s` seconds of the budget are left."""

    def on_budget(self, case: Case, text: str, left_s: float) -> None:
        """A process the budget bought has ended: `text` says where its case's interval
        stands now ('speedup +-6.1% (target 5%), 7 processes'); `left_s` of the budget."""


@dataclass
class RunResult:
    run_dir: Path
    outcomes: list[CaseOutcome]
    skipped: list[Case]
    interrupted: bool
    #: Why the budget's extra processes stopped ("" without a budget).
    budget_stop: str = ""

    @property
    def resume_command(self) -> str:
        """The command that finishes this run, for an interrupted one."""
        info = results.run_info(self.run_dir)
        again = shlex.split(info.get("command", "harness run"))
        if "--resume" in again:  # resuming a resumed run: name the run once
            at = again.index("--resume")
            del again[at : at + 2]
        return shlex.join([*again, "--resume", str(self.run_dir)])


class Run:
    """One invocation of a scenario: create it (or reopen it to resume), then `execute`."""

    def __init__(
        self,
        run_dir: Path,
        loaded: Spec,
        cases: list[Case],
        options: RunOptions,
        info: dict[str, Any],
        notes: list[str],
        pythons: list[interpreters.Interpreter] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.spec = loaded
        self.cases = cases
        self.options = options
        self.info = info
        self.notes = notes
        self.pythons = pythons or [interpreters.current()]
        self.info["interpreters"] = [i.as_json() for i in self.pythons]

    @classmethod
    def create(
        cls,
        scenario: str | Path | Spec,
        options: RunOptions | None = None,
        *,
        out: Path = results.RESULTS_DIR,
        resume: Path | None = None,
        command: str | None = None,
        say: interpreters.Say | None = None,
    ) -> Run:
        """Check everything (spec, flags, cluster addresses, interpreters) before writing
        anything; make the environments of other interpreters (`say` tells of each, once)."""
        options = options or RunOptions()
        loaded = scenario if isinstance(scenario, Spec) else spec.load(scenario, options.imports)
        pythons = _interpreters(loaded, options, scenario)
        cases = spec.cases(loaded, options, [i.label for i in pythons])
        source = "" if isinstance(scenario, Spec) else str(spec.resolve(scenario))
        cases, notes = fit_to_clusters(cases, options, loaded, source)
        if resume is not None and not (resume / results.RUN_JSON).is_file():
            raise InputError(f"--resume: {resume} is not a run folder (no {results.RUN_JSON})")
        pythons = _prepare(pythons, cases, say or (lambda line: None))
        if resume is not None:
            return cls(resume, loaded, cases, options, results.run_info(resume), notes, pythons)
        out.mkdir(parents=True, exist_ok=True)
        seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
        run_dir = out / results.new_run_id(out)
        run_dir.mkdir()
        info = {
            "format_version": results.FORMAT_VERSION,
            "run_id": run_dir.name,
            "scenario": loaded.name,
            "spec": loaded.model_dump(),
            "spec_path": source,
            "options": options.model_dump(),
            "quick": options.quick,
            "rounds": spec.rounds(loaded, options),
            "seed": seed,
            "command": command or shlex.join(["harness", *sys.argv[1:]]),
            "started": _now(),
            "cases_planned": [c.case_id for c in cases],
            "fingerprint": fingerprint.collect(),
            "status": "running",
        }
        run = cls(run_dir, loaded, cases, options, info, notes, pythons)
        results.write_json_atomic(run_dir / results.RUN_JSON, run.info)
        return run

    @property
    def rounds(self) -> int:
        """--rounds when given; else what run.json recorded (a resume), else the spec's."""
        if self.options.rounds is not None:
            return self.options.rounds
        return int(self.info.get("rounds") or spec.rounds(self.spec, self.options))

    @property
    def budget_s(self) -> float | None:
        """Seconds the run may take (--budget, else the spec's), None for fixed rounds."""
        return spec.budget(self.spec, self.options)

    @property
    def precision(self) -> float:
        return spec.precision(self.spec, self.options)

    def execute(self, observer: RunObserver | None = None) -> RunResult:
        """Run every case `rounds` times, then finalise run.json (also when interrupted)."""
        observer = observer or RunObserver()
        for note in self.notes:
            observer.on_note(note)
        seconds = self.budget_s
        plan = None
        if seconds is not None:
            plan = Budget(seconds, self.precision)
            self.info["budget"] = {"seconds": seconds, "precision": plan.precision}
        started = time.monotonic()
        result = run_cases(
            self.cases,
            self.run_dir,
            rounds=self.rounds,
            seed=self.info.get("seed"),
            sample_interval_s=self.options.sample_interval_s,
            observer=observer,
            pythons={i.label: i for i in self.pythons},
            budget=plan,
        )
        if plan is not None:
            self.info["budget"].update(
                spent_s=round(time.monotonic() - started, 1), stopped=result.budget_stop
            )
        self.info["rounds"] = self.rounds
        self.info["status"] = "interrupted" if result.interrupted else "complete"
        self.info["finished"] = _now()
        engines = dict(self.info.get("engines", {}))
        for o in result.outcomes:
            if o.description is not None:
                engines[o.case.backend] = o.description.as_json()
        self.info["engines"] = engines
        warnings = {w for o in result.outcomes if o.description for w in o.description.warnings}
        self.info["warnings"] = sorted(warnings | set(self.info.get("warnings", [])))
        results.write_json_atomic(self.run_dir / results.RUN_JSON, self.info)
        return result

    def history(self) -> eta.History:
        """How long each case took in earlier runs of this scenario on this host (the
        folder of runs this one is in), for the ETA."""
        return eta.case_history(
            self.run_dir.parent,
            self.spec.name,
            self.info["fingerprint"]["machine"]["hostname"],
            bool(self.options.quick),
            [c.case_id for c in self.cases],
            exclude=self.run_dir.name,
        )

    def frame(self) -> pd.DataFrame:
        return results.load(self.run_dir)


def _interpreters(
    loaded: Spec, options: RunOptions, scenario: str | Path | Spec
) -> list[interpreters.Interpreter]:
    """The interpreters of the run: --python, else the spec's `python`, else the harness's."""
    if options.python:
        return interpreters.resolve(options.python, "--python")
    if loaded.python:
        where = "spec" if isinstance(scenario, Spec) else str(spec.resolve(scenario))
        return interpreters.resolve(loaded.python, f"{where}: python")
    return [interpreters.current()]


def _prepare(
    pythons: list[interpreters.Interpreter], cases: list[Case], say: interpreters.Say
) -> list[interpreters.Interpreter]:
    """Each other interpreter's environment, with the engines of the backends its cases use.

    A backend from another package than the harness is not installed there: its cases
    under that interpreter are skipped (`Interpreter.unavailable`) rather than failing.
    """
    for interp in pythons:
        if interp.own:
            continue
        names = list(dict.fromkeys(c.backend for c in cases if c.python == interp.label))
        foreign = {n: backends.origin(n) for n in names if not backends.is_builtin(n)}
        engines = {n: backends.get(n).packages for n in names if n not in foreign}
        interpreters.prepare(interp, engines, say)
        for name, dist in foreign.items():
            interp.unavailable[name] = (
                f"backend {name!r} comes from {dist}, which the harness does not install "
                f"for Python {interp.label}"
            )
    return pythons


def fit_to_clusters(
    cases: list[Case], options: RunOptions, loaded: Spec | None = None, source: str = ""
) -> tuple[list[Case], list[str]]:
    """Reach every cluster given by address before any case runs; size its cases to it,
    and make a node sweep (--nodes, else the spec's `nodes`; `source` is the spec's file)
    of its cases."""
    from harness import backends
    from harness.execute import clusters as cluster

    nodes = options.nodes or (loaded.nodes if loaded else [])
    field = "--nodes" if options.nodes else f"{source}: nodes" if source else "the spec's nodes"
    scaling = options.node_scaling or (loaded.node_scaling if loaded else "strong")
    on_cluster = [b for b in options.addresses if any(c.backend == b for c in cases)]
    flags = " or ".join(str(c.address_flag) for c in backends.with_address_flag().values())
    if options.node_scaling and not nodes:
        raise InputError("--node-scaling: only with --nodes (or the spec's nodes)")
    if nodes and not on_cluster:
        raise InputError(
            f"{field}: a node sweep runs only on a cluster given by address ({flags}), and "
            "no case of this run does"
        )
    notes = []
    for backend in on_cluster:
        address = options.addresses[backend]
        cls = backends.get(backend)
        where = f"the {backend} cluster at {address}"
        if nodes and "nodes" not in cls.options_model.model_fields:
            raise InputError(f"{field}: the {backend} backend cannot place its workers by node")
        sizes: dict[str, int] = {}
        try:
            if nodes:
                sizes = cluster.node_sizes(backend, address)
                available = sum(sizes.values())
            else:
                available = cluster.available_workers(backend, address)
        except cluster.ClusterError as exc:
            raise InputError(f"{cls.address_flag} {address}: {exc}") from None
        if nodes:  # their errors name the flag or field at fault
            cases = cluster.fit_nodes(
                cases, backend, sizes, nodes, options.workers, scaling, where, field
            )
        else:
            cases = cluster.fit_workers(cases, backend, available, options.workers, where)
        notes.append(f"{backend}: using {where} ({available} {cls.cluster_unit})")
    return cases, notes


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
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


def run_cases(
    cases: list[Case],
    run_dir: Path,
    *,
    rounds: int = 1,
    seed: int | None = None,
    sample_interval_s: float = 0.05,
    observer: RunObserver | None = None,
    pythons: dict[str, interpreters.Interpreter] | None = None,
    budget: Budget | None = None,
) -> RunResult:
    """Run every case `rounds` times, round after round, saving after each case.

    Rounds interleave the backends, and each round runs its cases in a random order (from
    `seed`; None keeps the matrix order): slow drift of a shared machine (another job,
    thermal throttling) then touches every backend alike instead of whichever ran first or
    last, so it does not land on the speedups over the sequential case. Each round is a
    fresh process per case, so intervals see the variation between processes. A resumed
    run does only the rounds not yet recorded, in the order the seed gave them.

    With a `budget`, the rounds are the fewest processes a case gets; then fresh processes
    go one at a time where `budget.next_case` says, each doing only its warm-up and
    repeats (`Case.passes`), until that rule stops them.
    """
    started = time.monotonic()
    observer = observer or RunObserver()
    writer = results.RunWriter(run_dir)
    writer.drop_interrupted()
    done = _rounds_done(writer.measurements())
    plan = [
        (r, case)
        for r, order in enumerate(round_orders(cases, rounds, seed), start=1)
        for case in order
        if done.get(case.case_id, 0) < r
    ]
    skipped = [c for c in cases if done.get(c.case_id, 0) >= rounds]
    processes = CaseProcesses(run_dir, writer, observer, sample_interval_s, pythons or {})
    interrupted = False
    observer.on_plan([case for _, case in plan])
    if budget is not None:  # a resumed run's processes count toward its cases' intervals
        _record_done(budget, writer.measurements(), rounds)
    budget_stop = ""
    one = processes.one
    with _sigterm_as_interrupt():
        try:
            for i, (round_no, case) in enumerate(plan):
                observer.on_case_start(case, i, len(plan))
                outcome = one(round_no, case)
                if budget is not None:
                    budget.record(case.case_id, outcome.measurements, outcome.elapsed_s, False)
            if budget is not None:
                budget_stop = _spend(budget, cases, started, one, observer)
        except _Stop:
            interrupted = True
            budget_stop = "interrupted" if budget is not None else ""
    return RunResult(run_dir, processes.outcomes, skipped, interrupted, budget_stop)


@dataclass
class CaseProcesses:
    """Starts one case process at a time, saves its rows, tells the observer."""

    run_dir: Path
    writer: results.RunWriter
    observer: RunObserver
    sample_interval_s: float
    pythons: dict[str, interpreters.Interpreter]
    outcomes: list[CaseOutcome] = dataclasses.field(default_factory=list)

    def one(self, round_no: int, case: Case) -> CaseOutcome:
        """One case process; saves its rows; raises _Stop when the run is interrupted."""
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / (case.case_id.replace("/", "__") + f".r{round_no}.log")
        interp = self.pythons.get(case.python)
        stop = False
        try:
            if interp is not None and case.backend in interp.unavailable:
                outcome = skipped_case(
                    case,
                    run_id=self.run_dir.name,
                    round_no=round_no,
                    reason=interp.unavailable[case.backend],
                )
            else:
                outcome = run_case(
                    case,
                    run_id=self.run_dir.name,
                    round_no=round_no,
                    log_path=log_path,
                    sample_interval_s=self.sample_interval_s,
                    on_event=self.observer.on_event,
                    python=interp.executable if interp is not None else None,
                )
        except InterruptedCase as exc:
            outcome, stop = exc.outcome, True
        except (KeyboardInterrupt, Interrupted):
            raise _Stop(None) from None
        if stop:  # kept until a resume runs the case again
            self.writer.append(outcome.measurements)
        else:
            self.writer.append(
                outcome.measurements, outcome.timeseries, outcome.latency, outcome.tasks
            )
        self.outcomes.append(outcome)
        self.observer.on_case_end(outcome)
        if stop:
            raise _Stop(outcome)
        return outcome


class _Stop(Exception):
    """Ctrl-C or SIGTERM during a case process: the run ends, what finished is kept."""

    def __init__(self, outcome: CaseOutcome | None) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


#: Why a budget's extra processes stopped, as run.json records it.
PRECISION_REACHED = "every case reached its precision (or its cap of processes)"
BUDGET_SPENT = "the budget was spent"


def _spend(budget_: Budget, cases: list[Case], started: float, one, observer: RunObserver) -> str:
    """The budget's extra processes, one at a time, where `Budget.next_case` says; engines
    that can be kept warm (`Backend.warm_option`) are, while the budget lasts."""
    by_id = {c.case_id: c for c in cases}
    with WarmEngines(observer) as warm:
        while True:
            left = budget_.seconds - (time.monotonic() - started)
            case_id = budget_.next_case(left)
            if case_id is None:
                return PRECISION_REACHED if not budget_.open_cases() else BUDGET_SPENT
            bought = dataclasses.replace(by_id[case_id], passes=False)
            case = warm.join(bought)
            round_no = budget_.cases[case_id].rounds + 1
            observer.on_budget_start(case, left)
            outcome = one(round_no, case)
            if case is not bought and outcome.status != "ok":
                warm.drop(case)  # a warm engine a case failed on is not trusted again
            budget_.record(case_id, outcome.measurements, outcome.elapsed_s, True)
            left = budget_.seconds - (time.monotonic() - started)
            observer.on_budget(case, budget_.describe(case_id), max(left, 0.0))


class WarmEngines:
    """Local engines kept running while a budget buys processes, one per backend and
    worker count: a bought process joins one as a fresh driver (its workers fresh too)
    instead of starting the engine. Start-up is measured in the rounds, which start their
    own. Every engine started here is stopped on the way out, whatever ended the loop."""

    def __init__(self, observer: RunObserver) -> None:
        self.observer = observer
        self.running: dict[tuple[str, int], dict[str, Any]] = {}
        self.failed: set[tuple[str, int]] = set()

    def __enter__(self) -> WarmEngines:
        return self

    def __exit__(self, *exc: object) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from harness.execute import clusters

        # All at once: each may wait out a grace period for processes that ignore SIGTERM.
        with ThreadPoolExecutor(max(1, len(self.running))) as pool:
            list(pool.map(clusters.stop_local, self.running.values()))
        self.running.clear()

    def join(self, case: Case) -> Case:
        """The case pointed at a warm engine of its kind, or unchanged where there is none."""
        cls = backends.get(case.backend)
        key = (case.backend, case.workers)
        foreign = (case.python or PYTHON) != PYTHON  # a warm engine runs under our Python
        if (
            cls.warm_option is None
            or cls.launch_cluster is None
            or key in self.failed
            or case.backend_options.get("address")
            or foreign
        ):
            return case
        if key not in self.running:
            from harness.execute import clusters

            try:
                self.running[key] = clusters.launch_local(cls, case.backend, case.workers)
            except Exception as exc:  # the case then starts its own engine, as in the rounds
                self.failed.add(key)
                self.observer.on_note(
                    f"{case.backend}: no warm engine ({exc}); each process starts its own"
                )
                return case
            self.observer.on_note(
                f"{case.backend} w{case.workers}: the budget's processes join a warm local "
                f"engine at {self.running[key]['address']} (fresh driver and workers each)"
            )
        options = {**case.backend_options, cls.warm_option: self.running[key]["address"]}
        return dataclasses.replace(case, backend_options=options)

    def drop(self, case: Case) -> None:
        from harness.execute import clusters

        key = (case.backend, case.workers)
        if key in self.running:
            clusters.stop_local(self.running.pop(key))
        self.failed.add(key)


def _record_done(budget_: Budget, measurements: pd.DataFrame, rounds: int) -> None:
    """The processes a resumed run already holds, each as the budget would have seen it."""
    done = measurements[measurements["status"] != "interrupted"]
    for (case_id, round_no), rows in done.groupby(["case_id", "round"], observed=True):
        elapsed = rows.loc[rows["metric"] == Metric.ELAPSED_S, "value"]
        seconds = float(elapsed.iloc[0]) if len(elapsed) else 0.0
        budget_.record(str(case_id), rows, seconds, int(round_no) > rounds)


def round_orders(cases: list[Case], rounds: int, seed: int | None) -> list[list[Case]]:
    """The order of the cases in each round: shuffled by one generator seeded with `seed`,
    so a resume (which reads the seed from run.json) sees the same orders."""
    if seed is None:
        return [list(cases) for _ in range(rounds)]
    rng = random.Random(seed)
    orders = []
    for _ in range(rounds):
        order = list(cases)
        rng.shuffle(order)
        orders.append(order)
    return orders


def _rounds_done(measurements: pd.DataFrame) -> dict[str, int]:
    """Finished rounds per case: each finished case process leaves one `elapsed_s` row."""
    finished = measurements[
        (measurements["status"] != "interrupted") & (measurements["metric"] == Metric.ELAPSED_S)
    ]
    return finished.groupby("case_id").size().to_dict()
