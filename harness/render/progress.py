"""The progress bar of a run, fed by the run's observer calls."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.case_runner import CaseOutcome
from harness.protocol import Event, PhaseEvent, WorkersEvent
from harness.runner import RunObserver
from harness.spec import Case


class ProgressObserver(RunObserver):
    """One bar for the run; the case's phase in its description; warnings printed once."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.bar = self.progress.add_task("starting", total=None)
        self.warned: set[str] = set()

    def __enter__(self) -> ProgressObserver:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        total = self.progress.tasks[0].total
        self.progress.update(self.bar, completed=total, description="done")
        self.progress.__exit__(*exc)

    def _print(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def on_note(self, text: str) -> None:
        self._print(escape(text))

    def on_case_start(self, case: Case, index: int, total: int) -> None:
        self.progress.update(
            self.bar, total=total, completed=index, description=f"{case.case_id} starting"
        )

    def on_event(self, case: Case, event: Event) -> None:
        if isinstance(event, WorkersEvent):
            for line in event.description.warnings:
                if line not in self.warned:
                    self.warned.add(line)
                    self._print(f"[yellow]warning:[/] {escape(line)}")
        elif isinstance(event, PhaseEvent):
            what = event.phase
            if event.repeat is not None and what == "steady":
                what = f"repeat {event.repeat}/{case.repeat}"
            self.progress.update(self.bar, description=f"{case.case_id} {what}")

    def on_case_end(self, outcome: CaseOutcome) -> None:
        self.progress.advance(self.bar)
        if outcome.status != "ok":
            self._print(
                f"[red]{escape(outcome.case.case_id)}: {outcome.status}[/] {escape(outcome.error)}"
            )
