"""How long a run has left, and what that guess rests on.

Two bases, both stated in the estimate: earlier runs of the same scenario on this host
(each case's `elapsed_s`, the whole case process, from the newest run that has the case),
and this run's own first repeats (tasks x repeats x the task time seen so far, plus the
fixed cost per case seen so far). A case with neither has no estimate, and then the run has
none: an ETA that silently leaves cases out would promise too early.

Pure functions and one small class fed by plain calls, with the clock passed in, so tests
drive it with a fake clock and stored runs instead of engines.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import results
from harness.protocol import Metric

#: Earlier runs read at most, newest first: enough to cover a scenario's usual variations.
MAX_RUNS = 20


@dataclass(frozen=True)
class Past:
    """One case's repeats then: median wall, repeats per round, tasks per repeat."""

    wall_s: float
    repeats: float
    tasks: int


@dataclass(frozen=True)
class History:
    """Seconds per case id (the case process, median over its rounds), and the runs used;
    `past` lets a case planned with other --repeat or tasks be scaled from its batches."""

    seconds: dict[str, float]
    runs: list[str]
    past: dict[str, Past] = field(default_factory=dict)

    @classmethod
    def none(cls) -> History:
        return cls({}, [])

    def expected(self, case: Planned) -> float | None:
        """The case's time then, with its batches scaled to the repeats and tasks planned."""
        then = self.seconds.get(case.case_id)
        if then is None:
            return None
        past = self.past.get(case.case_id)
        if past is None or not math.isfinite(past.wall_s):
            return then
        scale = case.tasks / past.tasks if past.tasks else 1.0
        batches_then = (past.repeats + case.warmup) * past.wall_s
        batches_now = case.runs * past.wall_s * scale
        return max(then - batches_then, 0.0) + batches_now


def case_history(
    out: Path,
    scenario: str,
    host: str,
    quick: bool,
    wanted: Sequence[str],
    exclude: str = "",
) -> History:
    """Per wanted case id, how long its case process took in the newest earlier run of
    `scenario` on `host` (same --quick) that has it, and its repeats' median wall (so a run
    with another --repeat is scaled); unreadable runs are passed over."""
    seconds: dict[str, float] = {}
    past: dict[str, Past] = {}
    used: list[str] = []
    left = set(wanted)
    for run_id, run_dir in _earlier_runs(out, scenario, host, quick, exclude)[:MAX_RUNS]:
        if not left:
            break
        try:  # through the loader: runs of an older format are migrated, not skipped
            df = results.read_frame(run_dir)[HISTORY_COLUMNS]
        except (results.ResultsError, KeyError):
            continue
        df = df[(df["status"] != "interrupted") & df["case_id"].isin(left)]
        rows = df[df["metric"] == Metric.ELAPSED_S]
        if rows.empty:
            continue
        for case_id, value in rows.groupby("case_id", observed=True)["value"].median().items():
            seconds[str(case_id)] = float(value)
        past.update(_past(df))
        left -= set(seconds)
        used.append(run_id)
    return History(seconds, used, past)


HISTORY_COLUMNS = ["case_id", "metric", "value", "status", "round", "tasks"]


def _past(df: pd.DataFrame) -> dict[str, Past]:
    walls = df[df["metric"] == Metric.WALL_S]
    out = {}
    for case_id, group in walls.groupby("case_id", observed=True):
        rounds = max(int(group["round"].nunique()), 1)
        out[str(case_id)] = Past(
            float(group["value"].median()), len(group) / rounds, int(group["tasks"].iloc[0])
        )
    return out


def _earlier_runs(
    out: Path, scenario: str, host: str, quick: bool, exclude: str
) -> list[tuple[str, Path]]:
    """(run id, folder) of the runs of `scenario` on `host` under `out`, newest first."""
    found = []
    for path in out.glob(f"*/{results.RUN_JSON}"):
        try:
            info = json.loads(path.read_text())
            same = (
                info["scenario"],
                info["fingerprint"]["machine"]["hostname"],
                bool(info.get("quick")),
            ) == (scenario, host, quick)
            run_id = str(info.get("run_id") or path.parent.name)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same and run_id != exclude and path.parent.name != exclude:
            found.append((run_id, path.parent))
    return sorted(found, reverse=True)


@dataclass(frozen=True)
class Planned:
    """What the estimate needs of a planned case (one round of it)."""

    case_id: str
    backend: str
    workers: int
    tasks: int
    repeat: int
    warmup: int

    @property
    def runs(self) -> int:
        """Timed batches the case runs: warm-ups take about as long as repeats."""
        return self.repeat + self.warmup


@dataclass(frozen=True)
class Estimate:
    remaining_s: float
    basis: str  # "from run <id>", "from first repeats", or both
    #: Backends of cases left whose start-up this run has not seen yet (no case of theirs
    #: finished, none in an earlier run): their fixed cost is the other backends' guess.
    unseen: tuple[str, ...] = ()

    def text(self) -> str:
        caveat = f"; {', '.join(self.unseen)} start-up unknown" if self.unseen else ""
        return f"~{fmt_duration(self.remaining_s)} left ({self.basis}{caveat})"


def fmt_duration(seconds: float) -> str:
    """45s, 2m10s, 1h05m: an ETA reads in whole seconds at most."""
    s = max(0, int(math.ceil(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class _Current:
    index: int
    started: float
    walls: list[float] = field(default_factory=list)
    steady: bool = False  # warm-ups are over once a steady phase began
    last: float = 0.0  # clock when the last repeat ended


class Eta:
    """The remaining time of a run, updated as its cases start, repeat and end."""

    def __init__(
        self,
        plan: Sequence[Planned],
        history: History | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = list(plan)
        self.history = history or History.none()
        self.clock = clock
        self.started = clock()
        self.current: _Current | None = None
        self.done = 0  # cases finished, in plan order
        #: Per task time of every repeat seen, by (backend, workers, tasks); pooled when unseen.
        self.task_s: dict[tuple[str, int, int], list[float]] = {}
        #: Case time beyond its timed batches (start-up, latency, teardown), by backend.
        self.fixed_s: dict[str, list[float]] = {}
        #: medians already taken since the run last fed a value (the progress bar asks for
        #: an estimate ten times a second, while cases are being timed)
        self._medians: dict[tuple[str, Any], float | None] = {}

    # --- fed by the run -------------------------------------------------------------------

    def case_started(self, index: int) -> None:
        self.current = _Current(index, self.clock())
        self.current.last = self.current.started

    def steady_started(self) -> None:
        if self.current is not None:
            self.current.steady = True

    def repeat_done(self, wall_s: float) -> None:
        """A repeat's wall_s (the case process's own measure of it)."""
        cur = self.current
        if cur is None or not math.isfinite(wall_s) or wall_s < 0:
            return
        cur.walls.append(wall_s)
        cur.last = self.clock()
        self._medians.clear()
        case = self.plan[cur.index]
        self.task_s.setdefault(_key(case), []).append(wall_s / max(case.tasks, 1))

    def case_done(self, index: int, ok: bool = True) -> None:
        """A finished case with repeats teaches the fixed cost (its time outside batches)."""
        now = self.clock()
        cur = self.current
        took = now - cur.started if cur is not None and cur.index == index else 0.0
        if cur is not None and cur.index == index and cur.walls and ok:
            case = self.plan[index]
            batches = statistics.median(cur.walls) * case.runs
            self.fixed_s.setdefault(case.backend, []).append(max(took - batches, 0.0))
        self.done = index + 1
        self.current = None
        self._medians.clear()

    # --- the estimate ---------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.clock() - self.started

    def estimate(self) -> Estimate | None:
        """Seconds left and their basis; None when some case left has no basis at all."""
        now = self.clock()
        total, from_history, from_repeats = 0.0, False, False
        cur = self.current
        start = self.done
        if cur is not None:
            start = cur.index + 1
            left, how = self._current_left(cur, now)
            if left is None:
                return None
            total += left
            from_history |= how == "history"
            from_repeats |= how == "repeats"
        unseen: dict[str, None] = {}  # ordered, once each
        for case in self.plan[start:]:
            then = self.history.expected(case)
            if then is not None:
                total += then
                from_history = True
                continue
            guess = self._from_repeats(case)
            if guess is None:
                return None
            total += guess
            from_repeats = True
            if case.backend not in self.fixed_s:
                unseen[case.backend] = None
        return Estimate(total, self._basis(from_history, from_repeats), tuple(unseen))

    def _current_left(self, cur: _Current, now: float) -> tuple[float | None, str]:
        case = self.plan[cur.index]
        if cur.walls:  # its own repeats are the best guide to its own rest
            runs_left = case.repeat - len(cur.walls) + (0 if cur.steady else case.warmup)
            wall = statistics.median(cur.walls)
            in_flight = min(now - cur.last, wall) if runs_left > 0 else 0.0
            fixed = self._fixed(case.backend) or 0.0
            # the end of a case (latency loop, teardown) is about the part of its fixed
            # cost that is not start-up; half of it is the plain guess
            return max(runs_left * wall - in_flight, 0.0) + fixed / 2, "repeats"
        spent = now - cur.started
        then = self.history.expected(case)
        if then is not None:
            return max(then - spent, 0.0), "history"
        guess = self._from_repeats(case)
        return (None if guess is None else max(guess - spent, 0.0)), "repeats"

    def _from_repeats(self, case: Planned) -> float | None:
        """tasks x (repeats + warm-ups) x task time seen, plus the fixed cost seen."""
        per_task = self._median("task_s", _key(case))
        if per_task is None:
            return None
        return case.tasks * case.runs * per_task + (self._fixed(case.backend) or 0.0)

    def _fixed(self, backend: str) -> float | None:
        return self._median("fixed_s", backend)

    def _median(self, table: str, key: Any) -> float | None:
        """The median of `table`'s values for `key`, else of all its values; None if empty."""
        if (table, key) not in self._medians:
            seen: dict[Any, list[float]] = getattr(self, table)
            values = seen.get(key) or [v for vs in seen.values() for v in vs]
            self._medians[table, key] = statistics.median(values) if values else None
        return self._medians[table, key]

    def _basis(self, from_history: bool, from_repeats: bool) -> str:
        runs = self.history.runs
        named = f"run {runs[0]}" if len(runs) == 1 else f"{len(runs)} earlier runs"
        if from_history and from_repeats:
            return f"from {named} and first repeats"
        if from_history:
            return f"from {named}"
        return "from first repeats"


def _key(case: Planned) -> tuple[str, int, int]:
    return (case.backend, case.workers, case.tasks)
