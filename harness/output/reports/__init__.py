"""Reports, split by job: `data` (what a report reads), `figures` (what every figure kind
draws with) and a module per kind (`scaling_figures`, `repeat_figures`, `cost_figures`,
`latency_figures`, `graph_figures`, and the timeline pass's Gantt and phase pages in
`timeline_figures`, and a `harness tune` race's own pages in `tune_figures`), `pages`
(assembling), `claims_pages`
(the article's claims and recommendations), `writers` (one function per output format).
`load_data` and `write` are what callers need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness import results
from harness.output import formats
from harness.output.reports.style import PAPER_SIZES

FORMATS = formats.choices("report")
PAPERS = tuple(PAPER_SIZES)


def check(fmt: str | None, target: Path | None, paper: str) -> formats.Format:
    """The format to write to `target` (`formats.for_output`'s rule) and a known paper, or
    one line naming the flag."""
    row = formats.for_output("report", fmt, target)
    if paper not in PAPERS:
        raise formats.FormatError(f"--paper: expected one of {', '.join(PAPERS)}, got {paper!r}")
    return row


def default_target(run_dir: Path, row: formats.Format) -> Path:
    """Where a report goes without -o: report.pdf or report.html in the run, or a folder
    of figures there."""
    return run_dir / ("figures" if row.folder else f"report{row.suffixes[0]}")


def load_data(run_dirs: Sequence[Path], problems: list[str] | None = None):
    """Every frame a report of these runs reads (measurements, latency, memory over time,
    and the timeline pass's tasks: empty for runs from before it, or that ran none).

    Runs that cannot be read are left out; each adds a line to `problems` when given.
    """
    from harness.output.reports.data import ReportData

    df, unreadable = results.load_runs(run_dirs)
    if problems is not None:
        problems += unreadable
    if df.empty:
        raise results.ResultsError(
            "no readable measurements in "
            + ", ".join(map(str, run_dirs))
            + (f" ({'; '.join(unreadable)})" if unreadable else "")
        )
    infos = [results.run_info(d) for d in run_dirs if (d / results.RUN_JSON).exists()]
    latency, _ = results.load_runs(run_dirs, name=results.LATENCY)
    timeseries, _ = results.load_runs(run_dirs, name=results.TIMESERIES)
    tasks, _ = results.load_runs(run_dirs, name=results.TASKS)
    return ReportData(df, infos, latency=latency, timeseries=timeseries, tasks=tasks)


def from_frame(df: pd.DataFrame):
    """A report's data from a frame alone (a notebook's `harness.run`): no run.json, and
    no tasks (the timeline pages are left out)."""
    from harness.output.reports.data import ReportData

    return ReportData(df[list(results.SCHEMA)], [])


def write(data, target: Path, fmt: str | None = None, paper: str = "a4") -> tuple[Path, int]:
    """Draw and write the report; returns the file (or folder of images) and the number of
    pages (PDF sheets, image files, or HTML pages). The format is `fmt`, else the one the
    extension names (.pdf, .html), else PDF; an extension of no report format is refused."""
    from harness.output.reports.claims_pages import full_report

    row = check(fmt, target, paper)
    return target, row.write(full_report(data), target, paper)
