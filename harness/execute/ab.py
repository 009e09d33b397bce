"""An A/B run: two specs' matching cases, interleaved slot by slot, in one run folder.

Two runs minutes apart cannot be paired, and this kind of machine changes speed by a
quarter in minutes. An A/B run puts both sides close in time instead (asv's `continuous`,
Chromium's Pinpoint): each slot runs, for every pair of cases, either

- one fresh process that holds both cases on one engine, their repeats alternating
  (A B, B A, ...), where both sides can share a process: the same interpreter, backend,
  workers and backend options, and no fixture; or
- a fresh process of A's case and one of B's, back to back in a random order, where they
  cannot (two interpreters, two engines).

The slot is the `round` of both sides' rows, so the analysis pairs them
(`analysis.ab`). After the spec's rounds, further slots go to the pairs whose paired
interval is still wider than the precision, until the budget is spent: a rule fixed in
advance that never reads a verdict.
"""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import fingerprint, results, spec, workloads
from harness.case import Case
from harness.errors import InputError
from harness.execute import interpreters
from harness.execute.budget import log_half_width, width_text
from harness.execute.runner import (
    BUDGET_SPENT,
    PRECISION_REACHED,
    CaseProcesses,
    RunObserver,
    RunResult,
    _interpreters,
    _now,
    _prepare,
    _sigterm_as_interrupt,
    _Stop,
)
from harness.measure import stats
from harness.protocol import Metric
from harness.spec import RunOptions, Spec

#: Seconds an A/B run may take when neither --budget nor spec A's budget_s says.
DEFAULT_BUDGET_S = 90.0


@dataclass(frozen=True)
class Pair:
    """A case of spec A and its match in spec B."""

    a: Case
    b: Case

    @property
    def in_process(self) -> bool:
        """Whether one process can hold both: one engine, one interpreter, no fixture."""
        same_engine = (self.a.backend, self.a.workers, self.a.backend_options, self.a.python) == (
            self.b.backend,
            self.b.workers,
            self.b.backend_options,
            self.b.python,
        )
        return same_engine and not any(
            workloads.get(c.workload, c.inputs, c.check).fixture is not None
            for c in (self.a, self.b)
        )

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a.case_id, "b": self.b.case_id, "in_process": self.in_process}


def pair_cases(a_cases: list[Case], b_cases: list[Case]) -> list[Pair]:
    """Cases matched in matrix order; both matrices must have the same backends, variants
    and workers in the same order (parameters, workloads and interpreters may differ)."""
    shape = [(c.backend, c.variant, c.workers) for c in a_cases]
    other = [(c.backend, c.variant, c.workers) for c in b_cases]
    if shape != other:
        raise InputError(
            f"SPEC_B: its cases do not match SPEC_A's one for one (A: {len(shape)} cases, "
            f"B: {len(other)}); give both the same backends and workers, e.g. with --backends "
            "and --workers"
        )
    return [
        Pair(
            dataclasses.replace(a, side="a", reference=False),
            dataclasses.replace(b, side="b", reference=False),
        )
        for a, b in zip(a_cases, b_cases, strict=True)
    ]


def slot_log_ratio(measurements: pd.DataFrame, metric: str = Metric.WALL_S) -> float | None:
    """One slot's paired value: the median over repeats of log(B / A) where both sides
    have the repeat, else log(median B / median A); None without both sides."""
    rows = measurements[(measurements["metric"] == metric) & (measurements["status"] == "ok")]
    rows = rows[rows["value"] > 0]
    a, b = rows[rows["side"] == "a"], rows[rows["side"] == "b"]
    if a.empty or b.empty:
        return None
    matched = a.merge(b, on="repeat", suffixes=("_a", "_b")).dropna(subset=["repeat"])
    if len(matched):
        return float(np.median(np.log(matched["value_b"]) - np.log(matched["value_a"])))
    return float(math.log(b["value"].median() / a["value"].median()))


class AbRun:
    """One A/B run: create it (everything checked before anything is written), execute."""

    def __init__(
        self,
        run_dir: Path,
        specs: tuple[Spec, Spec],
        pairs: list[Pair],
        options: RunOptions,
        info: dict[str, Any],
        pythons: dict[str, interpreters.Interpreter],
    ) -> None:
        self.run_dir, self.specs, self.pairs = run_dir, specs, pairs
        self.options, self.info, self.pythons = options, info, pythons

    @classmethod
    def create(
        cls,
        spec_a: str | Path,
        spec_b: str | Path,
        options: RunOptions,
        *,
        out: Path = results.RESULTS_DIR,
        command: str | None = None,
        say: Any = None,
        alpha: float = 0.05,
    ) -> AbRun:
        """`alpha`: the comparison's family-wise level, which sets the fewest slots."""
        if options.python:
            raise InputError("--python: give each side its interpreter in its spec (python)")
        specs = (spec.load(spec_a, options.imports), spec.load(spec_b, options.imports))
        pythons = []
        for loaded, source in zip(specs, (spec_a, spec_b), strict=True):
            found = _interpreters(loaded, options, source)
            if len(found) > 1:
                raise InputError(
                    f"{spec.resolve(source)}: python: an A/B side runs one interpreter"
                )
            pythons.append(found[0])
        cases = [spec.cases(s, options, [p.label]) for s, p in zip(specs, pythons, strict=True)]
        pairs = pair_cases(*cases)
        every = [c for p in pairs for c in (p.a, p.b)]
        pythons = _prepare(
            list({p.label: p for p in pythons}.values()), every, say or (lambda line: None)
        )
        out.mkdir(parents=True, exist_ok=True)
        seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
        run_dir = out / results.new_run_id(out)
        run_dir.mkdir()
        seconds = options.budget_s or specs[0].budget_s or DEFAULT_BUDGET_S
        info = {
            "format_version": results.FORMAT_VERSION,
            "run_id": run_dir.name,
            "scenario": f"{specs[0].name} vs {specs[1].name}",
            "ab": {
                "a": {"spec": specs[0].model_dump(), "spec_path": str(spec.resolve(spec_a))},
                "b": {"spec": specs[1].model_dump(), "spec_path": str(spec.resolve(spec_b))},
                "pairs": [p.as_json() for p in pairs],
            },
            "options": options.model_dump(),
            "quick": options.quick,
            "rounds": spec.rounds(specs[0], options),
            "alpha": alpha,
            "budget": {"seconds": seconds, "precision": spec.precision(specs[0], options)},
            "seed": seed,
            "command": command or shlex.join(["harness", *sys.argv[1:]]),
            "started": _now(),
            "cases_planned": [c.case_id for p in pairs for c in (p.a, p.b)],
            "fingerprint": fingerprint.collect(),
            "status": "running",
        }
        info["interpreters"] = [i.as_json() for i in pythons]
        results.write_json_atomic(run_dir / results.RUN_JSON, info)
        return cls(run_dir, specs, pairs, options, info, {i.label: i for i in pythons})

    def execute(self, observer: RunObserver | None = None) -> RunResult:
        observer = observer or RunObserver()
        rng = random.Random(self.info["seed"])
        writer = results.RunWriter(self.run_dir)
        processes = CaseProcesses(
            self.run_dir, writer, observer, self.options.sample_interval_s, self.pythons
        )
        rounds, budget = self.info["rounds"], self.info["budget"]
        # Fewer slots than this could not call any change at the family's level, however
        # clear it is: the exact signed-rank test's smallest p is 2 / 2**n.
        rounds = max(rounds, slots_to_reach(self.info["alpha"], len(self.pairs)))
        target = math.log1p(budget["precision"])
        paired: dict[int, list[float]] = {i: [] for i in range(len(self.pairs))}
        started, slot, interrupted, stop = time.monotonic(), 0, False, ""
        planned = [c for _ in range(rounds) for p in self.pairs for c in _processes_of(p)]
        observer.on_plan(planned)
        done = 0
        with _sigterm_as_interrupt():
            try:
                while True:
                    slot += 1
                    left = budget["seconds"] - (time.monotonic() - started)
                    open_pairs = [
                        i
                        for i, logs in paired.items()
                        if slot <= rounds or _half_width(logs) > target
                    ]
                    if slot > rounds and (not open_pairs or left <= 0):
                        stop = PRECISION_REACHED if not open_pairs else BUDGET_SPENT
                        break
                    rng.shuffle(open_pairs)
                    for i in open_pairs:
                        pair = self.pairs[i]
                        rows = []
                        for case in _processes_of(pair, rng, full=slot == 1):
                            if done < len(planned):
                                observer.on_case_start(case, done, len(planned))
                            else:
                                left = budget["seconds"] - (time.monotonic() - started)
                                observer.on_budget_start(case, max(left, 0.0))
                            done += 1
                            rows.append(processes.one(slot, case).measurements)
                        value = slot_log_ratio(pd.concat(rows, ignore_index=True))
                        if value is not None:
                            paired[i].append(value)
                        if slot > rounds:
                            left = budget["seconds"] - (time.monotonic() - started)
                            observer.on_budget(
                                pair.b, _describe(paired[i], budget["precision"]), max(left, 0.0)
                            )
            except _Stop:
                interrupted, stop = True, "interrupted"
        self.info.update(
            status="interrupted" if interrupted else "complete",
            finished=_now(),
            slots=slot - (0 if interrupted else 1),
        )
        self.info["budget"].update(spent_s=round(time.monotonic() - started, 1), stopped=stop)
        results.write_json_atomic(self.run_dir / results.RUN_JSON, self.info)
        return RunResult(self.run_dir, processes.outcomes, [], interrupted, stop)


def slots_to_reach(alpha: float, pairs: int) -> int:
    """The fewest slots with which a paired test can reach alpha / pairs (Holm's first step,
    its strictest): 2 / 2**n < alpha / pairs."""
    n = 1
    while 2 * 0.5**n >= alpha / max(pairs, 1):
        n += 1
    return n


def _processes_of(pair: Pair, rng: random.Random | None = None, full: bool = False) -> list[Case]:
    """The case processes of one pair in one slot: one holding both, or one a side in a
    random order (the first slot's with their latency and timeline passes)."""
    if pair.in_process:
        return [dataclasses.replace(pair.b, partner=dataclasses.asdict(pair.a), passes=False)]
    sides = [dataclasses.replace(pair.a, passes=full), dataclasses.replace(pair.b, passes=full)]
    if rng is not None:
        rng.shuffle(sides)
    return sides


def _half_width(logs: list[float]) -> float:
    return log_half_width(stats.paired_ratio(logs).ci)


def _describe(logs: list[float], precision: float) -> str:
    ratio = math.exp(float(np.median(logs))) if logs else math.nan
    return f"B/A {ratio:.3f} {width_text(_half_width(logs), precision)}, {len(logs)} slots"
