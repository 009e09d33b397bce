"""`harness tune`: the fastest way to run a user's function on this machine, found by racing.

The run, in the order it happens (each step's rule stated where it acts):

1. **The probe**: one fresh process of the sequential loop, with every pass. It gives the
   task's time, whether the task computes or waits (the CPU it wanted, used or queued for:
   under half a core is waiting), and the sequential batch every other candidate is held
   against. It is the sequential candidate's first block. A function that fails here stops
   the run.
2. **The candidates** (`execute.candidates`): backend x workers x batching.
3. **Block 1**, the first process of each candidate, cheapest engines and most workers
   first, and an engine's grouped ways before its task per input; each with the latency
   and timeline passes (start-up, memory, per-task overhead), but a task per input. The
   first process of an engine at a worker count starts it; the engine's other ways join a
   warm one where it has one. Two prunes, both safe by a wide margin rather than by a test:
   - before it runs ("not run"): a candidate whose batch cannot take less than 4 times the
     best first batch so far, by arithmetic: the probe's fastest sequential batch, divided
     by 1.5 (the machine's slow spells make a batch up to 1.48 times slower: the noise
     model) and by the workers, is a floor no engine gets under;
   - after it ran ("pruned"): a first batch 4 times slower than the best first batch.
     Under this machine's measured noise, the slowest single process of 12 equally fast
     candidates is more than 2 times the fastest in one or two races in a hundred, and
     more than 3 times in none of 15,000 (`tests/test_racing.py` simulates it). The
     runner stops a batch already past that (`Case.batch_limit_s`, after the first
     warm-up), and a process past its engine's start and such batches (its timeout).
   A candidate process that times out or crashes is out with that status; outputs that
   differ from the sequential loop's stop the run (tune compares ways to get one answer).
4. **Blocks 2, 3, ...**: every survivor one fresh process a block, in a random order,
   with only its warm-up and repeats; Ray's join a warm local Ray as in a budget. The
   sequential loop runs too, to 3 processes, while a survivor has no in-process reference
   (its speedup then needs the loop's own processes). The race (`measure.racing`)
   eliminates and stops. A block starts only when the time left holds it (each
   survivor's median process; FIRST_SHARE of its first while it has had no other).
5. **The answer**: the winner and why (`measure.racing.pick`), stored in run.json under
   `tune`; `analysis.tune` reads it back with the measurements.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import secrets
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import backends, fingerprint, results, spec
from harness.case import Case
from harness.errors import InputError
from harness.execute import candidates as cands
from harness.execute import interpreters
from harness.execute.case_runner import CaseOutcome
from harness.execute.runner import (
    CaseProcesses,
    RunObserver,
    WarmEngines,
    _now,
    _sigterm_as_interrupt,
    _Stop,
)
from harness.measure import racing
from harness.protocol import Metric
from harness.spec import RunOptions, Spec

#: Seconds a race may take when --budget does not say.
DEFAULT_BUDGET_S = 90.0
#: A first process this many times slower than the best first process is out.
PRUNE_FACTOR = 4.0
#: The most the machine's slow spells stretch a batch (the noise model's slow regime, 1.48).
SLOW_SPELL = 1.5
#: CPU the probe wanted (used, or runnable and queued) below which its task waits rather
#: than computes.
WAITING_CPU = 0.5
#: Processes of the sequential loop kept for a speedup interval where it is needed.
BASELINE_PROCESSES = 3
#: What a later process costs of a first one, until one ran (a first one runs the latency
#: and timeline passes too; on this machine later ones took 0.6-0.8 of it).
FIRST_SHARE = 0.8
#: A first process's timeout (`_Racing._timeout`): this many engine start guesses, plus its
#: batches at PRUNE_FACTOR times the best; never under FLOOR seconds.
TIMEOUT_STARTS, TIMEOUT_FLOOR_S = 2.0, 5.0


class TuneError(InputError):
    """Bad input found while racing (a failing function, outputs that differ, a budget too
    small): one line, exit 2; what was measured stays in the run folder."""


Say = Callable[[str], None]


@dataclass
class TuneResult:
    run_dir: Path
    interrupted: bool


class TuneRun:
    """One race: create it (everything checked before anything is written), execute."""

    def __init__(
        self,
        run_dir: Path,
        loaded: Spec,
        base: Case,
        names: list[str],
        options: RunOptions,
        info: dict[str, Any],
        rule: racing.RaceRule,
    ) -> None:
        self.run_dir, self.spec, self.base, self.names = run_dir, loaded, base, names
        self.options, self.info, self.rule = options, info, rule

    @classmethod
    def create(
        cls,
        scenario: str | Path,
        options: RunOptions,
        *,
        out: Path = results.RESULTS_DIR,
        command: str | None = None,
        rule: racing.RaceRule | None = None,
    ) -> TuneRun:
        rule = rule or racing.RaceRule()
        loaded = spec.load(scenario, options.imports)
        where = str(spec.resolve(scenario))
        if options.python or loaded.python:
            raise InputError(f"{where}: python: tune races under the harness's own Python")
        if len(loaded.param_sets(options.quick)) > 1:
            raise InputError(f"{where}: sweep: tune races one set of params; remove the sweep")
        names = options.backends or list(cands.DEFAULT_BACKENDS)
        if "sequential" not in names:
            names = ["sequential", *names]
        names = [*names, *(b for b in options.addresses if b not in names)]
        clusters = _clusters(options)
        # The spec's own checks of these backends (asyncio needs a coroutine, ...).
        spec.cases(loaded, options.model_copy(update={"backends": names, "workers": [1]}))
        base = spec.cases(
            loaded, options.model_copy(update={"backends": ["sequential"], "workers": [1]})
        )[0]
        out.mkdir(parents=True, exist_ok=True)
        seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
        run_dir = out / results.new_run_id(out)
        run_dir.mkdir()
        seconds = options.budget_s or DEFAULT_BUDGET_S
        info = {
            "format_version": results.FORMAT_VERSION,
            "run_id": run_dir.name,
            "scenario": loaded.name,
            "spec": loaded.model_dump(),
            "spec_path": where,
            "options": options.model_dump(),
            "quick": False,
            "rounds": 1,
            "seed": seed,
            "command": command or shlex.join(["harness", *sys.argv[1:]]),
            "started": _now(),
            "cases_planned": [],
            "fingerprint": fingerprint.collect(),
            "status": "running",
            "budget": {"seconds": seconds, "precision": rule.indifference},
            "tune": {
                "rule": dataclasses.asdict(rule),
                "backends": names,
                "workload": loaded.workload,
                "inputs": loaded.inputs or "",
                "clusters": {b: list(v) for b, v in clusters.items()},
            },
        }
        info["interpreters"] = [interpreters.current().as_json()]
        results.write_json_atomic(run_dir / results.RUN_JSON, info)
        return cls(run_dir, loaded, base, names, options, info, rule)

    def execute(self, say: Say | None = None) -> TuneResult:
        """The race; run.json holds its answer whatever ends it (an error, Ctrl-C)."""
        race = _Racing(self, say or (lambda line: None))
        interrupted = False
        try:
            with _sigterm_as_interrupt():
                race.run()
        except _Stop:
            interrupted = True
            race.stopped = "interrupted"
        finally:
            race.save(interrupted)
        return TuneResult(self.run_dir, interrupted)


class _Notes(RunObserver):
    """The runner's notes (a warm engine started) as lines of the race's progress."""

    def __init__(self, say: Say) -> None:
        self.say = say

    def on_note(self, text: str) -> None:
        self.say(text)


class _Racing:
    """The race's moving parts, for one `TuneRun.execute`."""

    def __init__(self, tune: TuneRun, say: Say) -> None:
        self.tune, self.say = tune, say
        self.info = tune.info
        self.started = time.monotonic()
        self.budget_s: float = tune.info["budget"]["seconds"]
        self.writer = results.RunWriter(tune.run_dir)
        observer = _Notes(say)
        self.observer = observer
        self.processes = CaseProcesses(
            tune.run_dir, self.writer, observer, tune.options.sample_interval_s, {}
        )
        self.rng = random.Random(tune.info["seed"])
        self.candidates: list[cands.Candidate] = []
        self.race: racing.Race | None = None
        self.costs: dict[str, list[float]] = {}
        self.probe: dict[str, Any] = {}
        self.block = 0
        self.stopped = ""
        self.error = ""

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def run(self) -> None:
        base = self.tune.base
        self.say(f"probe: the sequential loop, {base.tasks} tasks, in a fresh process")
        outcome = self._one(1, base)
        if outcome.status != "ok":
            raise self._fail(
                f"{self.info['spec_path']}: workload: the function failed in the sequential "
                f"probe ({outcome.status}: {_first_line(outcome.error)})"
            )
        self.probe = _probe_facts(outcome, base.tasks)
        waiting = self.probe["cpu_wanted"] < WAITING_CPU
        cores = len(os.sched_getaffinity(0))
        clusters = {b: (a, int(n)) for b, (a, n) in self.info["tune"]["clusters"].items()}
        self.candidates = cands.generate(
            base, self.tune.names, cores, waiting, self.tune.options.workers, clusters
        )
        self.info["cases_planned"] = [c.name for c in self.candidates]
        self.say(
            f"probe: a batch takes {_seconds(self.probe['sequential_batch_s'])} sequentially, "
            f"{_seconds(self.probe['task_s'])} a task, CPU use {self.probe['cpu_use']:.0%} "
            f"(wanted {self.probe['cpu_wanted']:.0%}): "
            f"the task {'waits' if waiting else 'computes'}; {len(self.candidates)} candidates "
            f"on {cores} cores"
        )
        names = [c.name for c in self.candidates]
        labels = {c.name: c.label for c in self.candidates}
        self.race = racing.Race(names, self.tune.rule, baseline=base.case_id, labels=labels)
        self._record(base.case_id, 1, outcome)
        self.block = 1
        with WarmEngines(self.observer) as warm:
            self._first_block(warm)
            self._blocks(warm)

    def _first_block(self, warm: WarmEngines) -> None:
        """Every candidate's first process, with every pass; the two prunes.

        Cheap engines and many workers first (their walls set the bar the arithmetic
        prune holds the rest to), and within an engine its grouped ways before a task per
        input (whose time limit is then set by the best). The first process of an engine
        at a worker count starts the engine (its start-up and memory are measured); its
        other ways join a warm one, as the later blocks do."""
        assert self.race is not None
        base = self.tune.base
        order = sorted(
            (c for c in self.candidates if c.name != base.case_id),
            key=lambda c: (
                cands.START_GUESS_S.get(c.backend, 1.0),
                c.backend,
                -c.workers,
                c.batching == "per_task",
                -c.chunk,
            ),
        )
        cold: set[tuple[str, int]] = set()
        floor_s = self.probe["fastest_batch_s"] / SLOW_SPELL
        for c in order:
            best = self._best_first()
            bound = max(floor_s / c.workers, self.probe["task_floor_s"])
            if best is not None and bound > PRUNE_FACTOR * best[1]:
                self.race.drop(
                    c.name, 1, "not run",
                    f"not run: with {c.workers} workers its batch takes at least "
                    f"{_seconds(bound)} (the fastest sequential batch / {SLOW_SPELL:g} / "
                    f"workers), over {PRUNE_FACTOR:g}x the best first process "
                    f"({best[0]}, {_seconds(best[1])})",
                )  # fmt: skip
                continue
            if self.left() <= 0:
                ran = sum(1 for n in self.race.scores if self.race.scores[n])
                raise self._fail(
                    f"--budget: {_seconds(self.budget_s)} is too small for one block of the "
                    f"{len(self.candidates)} candidates ({ran} ran); give more time, or "
                    "fewer --backends or --workers"
                )
            self._first_process(c, best, warm, cold)
        self._prune_slow_firsts()
        self.say(self._block_line())

    def _first_process(
        self,
        c: cands.Candidate,
        best: tuple[str, float] | None,
        warm: WarmEngines,
        cold: set[tuple[str, int]],
    ) -> None:
        """One candidate's first process, under the time limits `best` sets."""
        assert self.race is not None
        joins = (c.backend, c.workers) in cold and backends.get(c.backend).warm_option
        case = dataclasses.replace(
            c.case,
            timeout_s=round(self._timeout(c, best, bool(joins)), 1),
            # a batch this long leaves the race after it anyway: stop paying for it
            batch_limit_s=round(SLOW_SPELL * PRUNE_FACTOR * best[1], 3) if best else 0.0,
            # its engine's overhead per task is its grouped ways' to read
            passes=c.batching != "per_task",
        )
        if joins:
            case = warm.join(case)
        cold.add((c.backend, c.workers))
        outcome = self._one(1, case)
        if outcome.status != "ok":
            why, status = _first_line(outcome.error), outcome.status
            if status == "timeout" and "batch limit" in why:
                status = "pruned"
                why = (
                    f"stopped in a batch, past {_seconds(case.batch_limit_s)}: over "
                    f"{PRUNE_FACTOR:g}x the best first batch ({best[0] if best else '-'}), "
                    f"stretched by a slow spell ({SLOW_SPELL:g}x)"
                )
            elif status == "timeout":
                why += f" (its engine's start and its batches at {PRUNE_FACTOR:g}x the best)"
            self.race.drop(c.name, 1, status, why)
            return
        self._record(c.name, 1, outcome)

    def _prune_slow_firsts(self) -> None:
        """Out: a first process over PRUNE_FACTOR times slower than the best first one."""
        assert self.race is not None
        best = self._best_first()
        for c in self.candidates:
            first = self.race.scores[c.name].get(1)
            if best is None or first is None or c.name not in self.race.survivors:
                continue
            slower = math.exp(first.log_wall) / best[1]
            if slower > PRUNE_FACTOR:
                self.race.drop(
                    c.name, 1, "pruned",
                    f"its first process was {slower:.1f}x slower than the best first process "
                    f"({best[0]}){self._overhead_text(c.name)}",
                )  # fmt: skip

    def _timeout(self, c: cands.Candidate, best: tuple[str, float] | None, joins: bool) -> float:
        """A first process's time limit: its engine's start (a guess, times TIMEOUT_STARTS;
        a warm engine's when it `joins` one), plus its batches and the reference's as if
        each were PRUNE_FACTOR times the best first batch so far, stretched by a slow spell.
        One that needs longer would be pruned after it anyway; this stops paying for it (a
        Dask task per input of 25 us tasks), which is why a task per input runs last."""
        batch = best[1] if best is not None else self.probe["sequential_batch_s"]
        batches = self.probe["batches"] * (PRUNE_FACTOR * batch + self.probe["sequential_batch_s"])
        guess = cands.WARM_START_GUESS_S if joins else cands.START_GUESS_S.get(c.backend, 1.0)
        limit = TIMEOUT_STARTS * guess + SLOW_SPELL * batches
        return min(self.tune.base.timeout_s, max(TIMEOUT_FLOOR_S, limit))

    def _blocks(self, warm: WarmEngines) -> None:
        """Blocks of every survivor until the race or the budget stops them."""
        assert self.race is not None
        while True:
            stop = self.race.look(self.block)
            if stop:
                self.stopped = stop
                return
            running = list(self.race.survivors)
            if self._baseline_needed():
                running.append(self.tune.base.case_id)
            need = sum(self._cost(c) for c in running)
            if need > self.left():
                self.stopped = racing.BUDGET
                return
            self.block += 1
            order = running
            self.rng.shuffle(order)
            by_name = {c.name: c for c in self.candidates}
            for name in order:
                bought = dataclasses.replace(by_name[name].case, passes=False)
                case = warm.join(bought)
                outcome = self._one(self.block, case)
                if outcome.status != "ok":
                    if case is not bought:
                        warm.drop(case)
                    self.race.drop(name, self.block, outcome.status,
                                   _first_line(outcome.error))  # fmt: skip
                    continue
                self._record(name, self.block, outcome)
            self.say(self._block_line())

    def _baseline_needed(self) -> bool:
        """Whether the sequential loop runs this block though it left the race: a survivor
        without an in-process reference (one 4 times the candidate's batch is dropped)
        has its speedup from the loop's own processes, and an interval needs 3 of them."""
        assert self.race is not None
        base = self.tune.base.case_id
        if base in self.race.survivors or len(self.race.scores[base]) >= BASELINE_PROCESSES:
            return False
        return any(
            s.log_speedup is None for c in self.race.survivors for s in self.race.scores[c].values()
        )

    def _one(self, block: int, case: Case) -> CaseOutcome:
        outcome = self.processes.one(block, case)
        if outcome.status == "error" and outcome.error.startswith("OutputMismatch"):
            raise self._fail(
                f"{self.info['spec_path']}: workload: {case.case_id} gave other outputs than "
                f"the sequential loop ({_first_line(outcome.error)}); tune compares ways to "
                "get one answer: does the function depend on state, time or randomness?"
            )
        return outcome

    def _record(self, name: str, block: int, outcome: CaseOutcome) -> None:
        assert self.race is not None
        score = racing.score_of(outcome.measurements, name == self.tune.base.case_id)
        if score is not None:
            self.race.record(name, block, score)
        if block > 1:
            self.costs.setdefault(name, []).append(outcome.elapsed_s)
        else:
            self.costs.setdefault(f"first:{name}", []).append(outcome.elapsed_s)

    def _cost(self, name: str) -> float:
        """Seconds the candidate's next process will likely take: the median of its later
        ones, else FIRST_SHARE of its first (which ran the latency and timeline passes)."""
        later = self.costs.get(name)
        if later:
            return float(np.median(later))
        return FIRST_SHARE * float(np.median(self.costs.get(f"first:{name}", [0.0])))

    def _best_first(self) -> tuple[str, float] | None:
        assert self.race is not None
        firsts = {n: s[1] for n, s in self.race.scores.items() if 1 in s}
        if not firsts:
            return None
        name = min(firsts, key=lambda n: firsts[n].log_wall)
        return self._label(name), math.exp(firsts[name].log_wall)

    def _label(self, name: str) -> str:
        return next((c.label for c in self.candidates if c.name == name), name)

    def _overhead_text(self, name: str) -> str:
        rows = self.writer.measurements()
        mine = rows[(rows["case_id"] == name) & (rows["metric"] == Metric.OVERHEAD_P50_S)]
        task = self.probe.get("task_s") or 0.0
        if mine.empty or not task or float(mine["value"].median()) < task / 2:
            return ""  # the engine's overhead is not what made it slow
        return (
            f": {_seconds(float(mine['value'].median()))} of engine overhead per task "
            f"against a {_seconds(task)} task"
        )

    def _block_line(self) -> str:
        assert self.race is not None
        leader = self.race.leader() if self.race.survivors else "-"
        spent = time.monotonic() - self.started
        return (
            f"block {self.block}: {len(self.race.survivors)} of {len(self.candidates)} "
            f"candidates left, leader {self._label(leader)}; {spent:.0f} s of "
            f"{self.budget_s:.0f} s"
        )

    def _fail(self, message: str) -> TuneError:
        self.error = message
        self.stopped = "error"
        return TuneError(message)

    def save(self, interrupted: bool) -> None:
        """run.json: the race and its answer (or why there is none)."""
        tune = self.info["tune"]
        tune["probe"] = self.probe
        tune["candidates"] = [c.as_json() for c in self.candidates]
        tune["blocks"] = self.block
        tune["stopped"] = self.stopped or ("error" if self.error else "")
        if self.error:
            tune["error"] = self.error
        race = self.race
        if race is not None and not self.error and not interrupted and race.survivors:
            if not self.stopped:
                self.stopped = racing.BUDGET
            race.stopped = self.stopped
            tune["stopped"] = self.stopped
            winner, why = racing.pick(race, self._cheapness(), self.block)
            tune["winner"] = {"case_id": winner, "why": why}
        if race is not None:
            tune["survivors"] = list(race.survivors)
            tune["decisions"] = {
                name: {"status": d.status, "block": d.block, "reason": d.reason}
                for name, d in race.decisions.items()
            }
            tune["looks"] = race.looks
        spent = round(time.monotonic() - self.started, 1)
        self.info["budget"].update(spent_s=spent, stopped=tune["stopped"])
        tune["costs"] = {n: [round(x, 3) for x in v] for n, v in self.costs.items()}
        self.info["status"] = (
            "interrupted" if interrupted else "failed" if self.error else "complete"
        )
        self.info["finished"] = _now()
        results.write_json_atomic(self.tune.run_dir / results.RUN_JSON, self.info)

    def _cheapness(self) -> dict[str, tuple[float, float]]:
        """Start-up, then memory per worker, of each candidate's first process."""
        rows = self.writer.measurements()
        found: dict[str, tuple[float, float]] = {}
        engines: dict[tuple[str, int], tuple[float, float]] = {}
        for name, mine in rows.groupby("case_id", observed=True):
            startup = mine.loc[mine["metric"] == Metric.STARTUP_S, "value"]
            memory = mine.loc[mine["metric"] == Metric.WORKER_USS_BYTES, "value"]
            if len(startup):
                found[str(name)] = (
                    float(startup.median()),
                    float(memory.median()) if len(memory) else 0.0,
                )
        for c in self.candidates:  # a way that joined a warm engine: its engine's cold start
            if c.name in found:
                engines.setdefault((c.backend, c.workers), found[c.name])
        for c in self.candidates:
            if c.name not in found and (c.backend, c.workers) in engines:
                found[c.name] = engines[(c.backend, c.workers)]
        return found


def _clusters(options: RunOptions) -> dict[str, tuple[str, int]]:
    """Each cluster given by address, reached before anything is written, and its size."""
    from harness.execute import clusters

    found = {}
    for backend, address in options.addresses.items():
        try:
            found[backend] = (address, clusters.available_workers(backend, address))
        except clusters.ClusterError as exc:
            flag = backends.get(backend).address_flag
            raise InputError(f"{flag} {address}: {exc}") from None
    return found


def _probe_facts(outcome: CaseOutcome, tasks: int) -> dict[str, Any]:
    """What the sequential probe says of the task: its time, CPU use, the batch's floor."""
    m = outcome.measurements
    ok = m[m["status"] == "ok"]

    def values(metric: str) -> pd.Series:
        return ok.loc[ok["metric"] == metric, "value"].dropna()

    walls = values(Metric.WALL_S)
    cpu = values(Metric.CPU_UTIL)
    queued = values(Metric.CPU_WAIT_RATIO)
    service = values(Metric.SERVICE_P50_S)
    wall = float(walls.median())
    task = float(service.median()) if len(service) else wall / max(tasks, 1)
    return {
        "sequential_batch_s": wall,
        "fastest_batch_s": float(walls.min()),
        "task_s": task,
        # a floor under the batch's longest task: the median task over the slow spell
        "task_floor_s": task / SLOW_SPELL,
        "cpu_use": float(cpu.median()) if len(cpu) else 1.0,
        # the CPU it wanted: its use plus its time runnable on a run queue, so a loaded
        # machine does not pass computing for waiting
        "cpu_wanted": float(cpu.median() + (queued.median() if len(queued) else 0.0))
        if len(cpu)
        else 1.0,
        "process_s": outcome.elapsed_s,
        "tasks": tasks,
        "batches": int(outcome.case.warmup + outcome.case.repeat),
    }


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "(no message)"


def _seconds(value: float) -> str:
    from harness.units import fmt_seconds

    return fmt_seconds(value)
