"""Reports, split by job: `data` (what a report reads), `figures` (drawing), `pages`
(assembling), `claims_pages` (the article's claims and recommendations), `writers`
(one function per output format). `load_data` and `write` are what callers need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness import results

FORMATS = ("pdf", "png", "svg")


def load_data(run_dirs: Sequence[Path], problems: list[str] | None = None):
    """Every frame a report of these runs reads (measurements, latency, memory over time).

    Runs that cannot be read are left out; each adds a line to `problems` when given.
    """
    from harness.reporting.data import ReportData

    df, unreadable = results.load_runs(run_dirs)
    if problems is not None:
        problems += unreadable
    if df.empty:
        raise results.ResultsError(
            "no readable measurements in " + ", ".join(map(str, run_dirs))
            + (f" ({'; '.join(unreadable)})" if unreadable else "")
        )
    infos = [results.run_info(d) for d in run_dirs if (d / results.RUN_JSON).exists()]
    latency, _ = results.load_runs(run_dirs, name=results.LATENCY)
    timeseries, _ = results.load_runs(run_dirs, name=results.TIMESERIES)
    return ReportData(df, infos, latency=latency, timeseries=timeseries)


def from_frame(df: pd.DataFrame):
    """A report's data from a frame alone (a notebook's `harness.run`): no run.json."""
    from harness.reporting.data import ReportData

    return ReportData(df[list(results.SCHEMA)], [])


def write(data, target: Path, fmt: str = "pdf") -> tuple[Path, int]:
    """Draw and write the report; returns the file (or folder of images) and the page count."""
    from harness.reporting import writers
    from harness.reporting.claims_pages import full_report

    if fmt not in FORMATS:
        raise results.ResultsError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    pages = full_report(data)
    if fmt == "pdf":
        writers.write_pdf(pages, target)
    else:
        writers.write_images(pages, target, fmt)
    return target, len(pages)
