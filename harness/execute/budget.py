"""A run's time budget: more fresh processes for the cases whose intervals are widest.

After the planned rounds, each further case process goes to the case whose interval one
more process would narrow most per second of its cost (Kalibera & Jones: spend where the
variance is, weighed by what a sample costs). The rule is fixed before the run starts and
never looks at a verdict: a case stops receiving processes when its interval's half-width
reaches the target precision or it has `MAX_PROCESSES`; the run stops when every case has
stopped, or when no case's next process fits in what is left of the budget. It never
stops because a result became significant.

What a case's precision is: the half-width of its speedup's interval, on a log scale,
where it timed the sequential loop beside its repeats (paired in time, one log ratio per
process); else of its wall time's interval. Both come from per-process values: the process
is the sampling unit, and each extra process is a fresh one.

Pure logic fed by each finished case process's rows, so tests drive it without engines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness import units
from harness.measure import stats
from harness.measure.process_values import process_values

#: Most processes the budget gives one case: past this a case is as precise as the
#: machine's drift lets it be, and the rest of the budget serves the other cases.
MAX_PROCESSES = 60


@dataclass
class CaseSamples:
    """What one case's processes gave so far: one value per process."""

    #: log(reference / wall), the median over the process's repeat pairs.
    paired: list[float] = field(default_factory=list)
    #: The median wall of each process.
    walls: list[float] = field(default_factory=list)
    #: Seconds each of its budget-bought processes took, start to end.
    costs: list[float] = field(default_factory=list)
    #: Seconds its first, fuller process took (the latency and timeline passes included).
    first_cost: float = math.nan
    failed: bool = False
    #: Case processes recorded, whatever their end: the next one's round is one more.
    rounds: int = 0

    @property
    def processes(self) -> int:
        return len(self.walls)

    def half_width(self) -> float:
        """Half the log width of the case's interval: inf while there is none yet."""
        if self.paired_kind:
            ci = stats.paired_ratio(self.paired, within_process=True).ci
        else:
            ci = stats.case_interval(self.walls)
        return log_half_width(ci)

    @property
    def paired_kind(self) -> bool:
        return bool(self.paired) and len(self.paired) == len(self.walls)

    def cost(self) -> float:
        """Seconds the next process will likely take: the median of its extra processes,
        else its first process's."""
        if self.costs:
            return float(np.median(self.costs))
        return self.first_cost if math.isfinite(self.first_cost) else 0.0


def log_half_width(ci: stats.Interval) -> float:
    """Half the log width of an interval; inf while it has no interval at the level asked
    (3 pairs give a narrow 75% one, which must not pass for a precise 95% one)."""
    finite = math.isfinite(ci.low) and math.isfinite(ci.high) and ci.low > 0
    if not finite or not ci.level >= stats.DEFAULT_LEVEL - 1e-9:
        return math.inf
    return (math.log(ci.high) - math.log(ci.low)) / 2


def width_text(width: float, precision: float) -> str:
    """'+-6.1% (target 5%)': a log half-width against the target, for progress lines."""
    shown = f"+-{math.expm1(width):.1%}" if math.isfinite(width) else "no interval yet"
    return f"{shown} (target {units.fmt_percent(precision)})"


@dataclass
class Budget:
    """The run's budget and each case's state; `next_case` is the allocation rule."""

    seconds: float
    precision: float
    cases: dict[str, CaseSamples] = field(default_factory=dict)
    #: The case the last extra process went to.
    last: str = ""

    @property
    def target(self) -> float:
        """The precision as a half-width on the log scale (5% -> log 1.05)."""
        return math.log1p(self.precision)

    def record(self, case_id: str, measurements: pd.DataFrame, elapsed: float, extra: bool) -> None:
        """A finished process of `case_id`: its values, and its cost when `extra`."""
        state = self.cases.setdefault(case_id, CaseSamples())
        state.rounds += 1
        status = measurements["status"].iloc[0] if len(measurements) else "error"
        if status != "ok":
            state.failed = True  # a case that fails gets no more of the budget
            return
        wall, paired = process_values(measurements)
        if wall is None:
            return
        state.walls.append(wall)
        if paired is not None:
            state.paired.append(paired)
        if extra:
            state.costs.append(elapsed)
        elif not math.isfinite(state.first_cost):
            state.first_cost = elapsed

    def open_cases(self) -> list[str]:
        """Cases that still want processes: not failed, above the target, below the cap."""
        return [
            cid
            for cid, s in self.cases.items()
            if not s.failed and s.processes < MAX_PROCESSES and s.half_width() > self.target
        ]

    def gain_per_second(self, case_id: str) -> float:
        """How much one more process is expected to narrow this case's interval, per second
        it costs: the half-width shrinks like sqrt(n / (n + 1))."""
        s = self.cases[case_id]
        n = max(s.processes, 1)
        width = s.half_width()
        if not math.isfinite(width):
            return math.inf
        return width * (1 - math.sqrt(n / (n + 1))) / max(s.cost(), 0.01)

    def next_case(self, left_s: float) -> str | None:
        """The case whose next process narrows an interval most per second and fits in the
        `left_s` seconds left; None when every case is done or none fits."""
        fitting = [cid for cid in self.open_cases() if self.cases[cid].cost() <= left_s]
        if not fitting:
            return None
        # Never one case twice in a row while another wants a process: back to back, a
        # case's processes share the machine's slow or fast spell, and its interval would
        # cover less than it says (see the stats module on independent units).
        others = [cid for cid in fitting if cid != self.last] or fitting
        found = max(others, key=lambda cid: (self.gain_per_second(cid), -self.cases[cid].cost()))
        self.last = found
        return found

    def describe(self, case_id: str) -> str:
        """'speedup +-6.1% (target 5%), 7 processes' for a progress line."""
        s = self.cases[case_id]
        what = "speedup" if s.paired_kind else "wall"
        return f"{what} {width_text(s.half_width(), self.precision)}, {s.processes} processes"
