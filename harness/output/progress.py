"""The progress of a run, fed by the run's observer calls: a live bar on a terminal, one
plain line per finished case elsewhere (a CI log, a pipe), both with an ETA that names its
basis (harness.execute.eta) and none when there is no basis."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from harness.case import Case
from harness.execute.case_runner import CaseOutcome
from harness.execute.eta import Eta, History, Planned, fmt_duration
from harness.execute.runner import RunObserver
from harness.protocol import Event, Metric, MetricEvent, PhaseEvent, WorkersEvent
from harness.units import fmt_seconds


class EtaColumn(ProgressColumn):
    """The estimate, recomputed at every refresh, so it counts down between events."""

    def __init__(self, observer: ProgressObserver, width: int) -> None:
        # one line, cut at the end on a narrow terminal: "~3s left (from run 2026…"
        cut = None if width >= 130 else 32
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis", max_width=cut))
        self.observer = observer

    def render(self, task) -> Text:
        return Text(self.observer.eta_text(), style="progress.remaining")


class ProgressObserver(RunObserver):
    """One bar for the run (or one line per case); the case's phase; warnings printed once."""

    def __init__(
        self,
        console: Console,
        history: History | None = None,
        live: bool | None = None,
        rounds: int = 1,
    ) -> None:
        self.console = console
        #: Fresh processes per case: each line says which one it was, out of how many.
        self.rounds = rounds
        self.live = console.is_terminal if live is None else live
        self.history = history or History.none()
        self.eta: Eta | None = None
        self.total = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            EtaColumn(self, console.width),
            console=console,
            transient=False,
        )
        self.bar = self.progress.add_task("starting", total=None)
        self.warned: set[str] = set()
        self._rounds_started: dict[str, int] = {}
        #: When the budget ends (monotonic clock), once its extra processes have begun.
        self._budget_end: float | None = None
        self._round = 1

    def __enter__(self) -> ProgressObserver:
        if self.live:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:  # rich's Progress.__exit__'s three
        if not self.live:
            return
        total = self.progress.tasks[0].total
        self.progress.update(self.bar, completed=total, description="done")
        self.eta = None  # the bar's last line shows no estimate
        self.progress.__exit__(*exc)

    def eta_text(self) -> str:
        if self._budget_end is not None:
            left = max(0.0, self._budget_end - time.monotonic())
            return f"at most {fmt_duration(left)} left (the budget)"
        estimate = self.eta.estimate() if self.eta is not None else None
        return estimate.text() if estimate is not None else ""

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=not self.live)

    def on_note(self, text: str) -> None:
        self._print(escape(text))

    def on_plan(self, plan: list[Case]) -> None:
        self.total = len(plan)
        self.eta = Eta(
            [Planned(c.case_id, c.backend, c.workers, c.tasks, c.repeat, c.warmup) for c in plan],
            self.history,
        )

    def on_case_start(self, case: Case, index: int, total: int) -> None:
        self.total = total
        self._round = self._rounds_started.get(case.case_id, 0) + 1
        self._rounds_started[case.case_id] = self._round
        if self.eta is not None:
            self.eta.case_started(index)
        self.progress.update(
            self.bar, total=total, completed=index, description=f"{case.case_id} starting"
        )

    def on_event(self, case: Case, event: Event) -> None:
        if isinstance(event, WorkersEvent):
            for line in event.description.warnings:
                if line not in self.warned:
                    self.warned.add(line)
                    self._print(f"[yellow]warning:[/] {escape(line)}")
        elif isinstance(event, MetricEvent):
            if event.metric == Metric.WALL_S and event.repeat is not None and self.eta is not None:
                self.eta.repeat_done(event.value)
        elif isinstance(event, PhaseEvent):
            what = event.phase
            if event.repeat is not None and what == "steady":
                what = f"repeat {event.repeat}/{case.repeat}"
                if self.rounds > 1:
                    what = f"process {self._round}/{self.rounds} {what}"
                if self.eta is not None:
                    self.eta.steady_started()
            self.progress.update(self.bar, description=f"{case.case_id} {what}")

    def on_case_end(self, outcome: CaseOutcome) -> None:
        index = int(self.progress.tasks[0].completed)
        took = outcome.elapsed_s
        if self.eta is not None:
            self.eta.case_done(index, ok=outcome.status == "ok")
        self.progress.advance(self.bar)
        if not self.live:
            # A process the budget bought has no place in the plan: "[+]" instead of "[i/n]".
            number = None if self._budget_end is not None else index + 1
            line = case_line(outcome, number, self.total, took, self._where(), self.rounds)
            self._print(escape(line))
        if outcome.status != "ok":
            style = "dim" if outcome.status == "skipped" else "red"  # not a failure: not run
            self._print(
                f"[{style}]{escape(outcome.case.case_id)}: {outcome.status}[/] "
                f"{escape(outcome.error)}"
            )

    def on_budget_start(self, case: Case, left_s: float) -> None:
        """Past the planned rounds the time left is the budget's, not an estimate."""
        self.eta = None
        self._budget_end = time.monotonic() + left_s
        self._round = self._rounds_started.get(case.case_id, 0) + 1
        self._rounds_started[case.case_id] = self._round
        self.progress.update(self.bar, total=None, description=f"{case.case_id} (budget)")

    def on_budget(self, case: Case, text: str, left_s: float) -> None:
        """The budget's process ended: where the case's interval stands now."""
        self._print(
            escape(f"budget: {case.case_id} {text}; {fmt_duration(left_s)} of the budget left")
        )

    def _where(self) -> str:
        """'elapsed 1m02s, ~30s left (from first repeats)'; no ETA without a basis."""
        if self.eta is None:
            return self.eta_text() if self._budget_end is not None else ""
        text = f"elapsed {fmt_duration(self.eta.elapsed())}"
        left = self.eta_text() if self.eta.done < len(self.eta.plan) else ""
        return f"{text}, {left}" if left else text


def case_line(
    outcome: CaseOutcome,
    number: int | None,
    total: int,
    took: float,
    where: str,
    rounds: int = 1,
) -> str:
    """One finished case process as a plain line: what it is, which of the case's processes
    (the intervals are built from these), how it ended, its wall, the run's time."""
    walls = outcome.metric(Metric.WALL_S)
    wall = (
        f"wall {fmt_seconds(float(walls.median()))} (median of {len(walls)} repeats)"
        if len(walls) and math.isfinite(float(walls.median()))
        else "no wall"
    )
    place = "[+]" if number is None else f"[{number}/{total}]"
    parts = [f"{place} {outcome.case.case_id}", outcome.status, wall, f"case {fmt_seconds(took)}"]
    if number is None:
        parts[0] += f" process {outcome.round}"
    elif rounds > 1 or outcome.round > 1:
        parts[0] += f" process {outcome.round}/{max(rounds, outcome.round)}"
    return " | ".join([" ".join(parts[:2]), *parts[2:], *([where] if where else [])])
