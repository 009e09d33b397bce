"""The report's timeline pages: a Gantt chart per scenario (a row per worker, every panel
on one time axis) and the mean dispatch, service and return per task; neither page for runs
without `tasks.parquet` (older runs, program workloads) or a scenario without task rows.

One real quick run (three backends, about 15 s) gives the tasks; frames built here give
what a quick run cannot promise (tasks run at once on one thread, two dozen workers, remote
clocks). Nothing asserted depends on how fast anything ran.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import stored_run
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from test_report_formats import _outside

from harness import results
from harness.analysis import timelines
from harness.output import reports
from harness.output.reports import sheets, timeline_figures
from harness.output.reports.claims_pages import full_report
from harness.output.reports.data import ReportData
from harness.output.reports.pages import Page
from harness.protocol import Metric


@pytest.fixture(scope="module")
def run_dir() -> Path:
    """A real quick cpu run, stored: sequential, threads and processes at 1 and 2 workers."""
    run = stored_run("timeline")
    assert (run / results.TASKS).is_file()
    return run


@pytest.fixture(scope="module")
def pages(run_dir) -> list[Page]:
    """Its report, drawn once: tests read the pages, none changes them."""
    return full_report(reports.load_data([run_dir]))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _page(pages: list[Page], name: str) -> Figure:
    (found,) = [p.content for p in pages if p.name == name]
    return found


def _panels(fig: Figure) -> dict[str, Axes]:
    """Gantt panels by their title: 'processes, 2 workers'."""
    return {ax.get_title(loc="left"): ax for ax in fig.axes if ax.get_visible()}


def _rows(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_the_gantt_page_draws_a_row_per_worker_process(run_dir, pages):
    names = [p.name for p in pages]
    # after the latency pages (the timeline pass is the latency pass's batch)
    assert names.index("cpu-latency") < names.index("cpu-gantt") < names.index("cpu-phases")
    assert names.index("cpu-phases") < names.index("cpu-memory-time")
    fig = _page(pages, "cpu-gantt")
    panels = _panels(fig)
    assert {
        "sequential, 1 worker",
        "threads, 1 worker",
        "threads, 2 workers",
        "processes, 1 worker",
        "processes, 2 workers",
    } <= set(panels)
    tasks = timelines.representative(results.load(run_dir, name=results.TASKS))
    case = tasks[(tasks["backend"] == "processes") & (tasks["workers"] == 2)]
    pids = sorted(set(case["pid"]))
    assert 1 <= len(pids) <= 2
    # one row per worker process of the round drawn, each named by its pid
    assert sorted(_rows(panels["processes, 2 workers"])) == sorted(f"pid {p}" for p in pids)
    assert len(_rows(panels["processes, 1 worker"])) == 1
    # every task of the case drawn: its service bars are one collection of len(case) bars
    services = [c for c in panels["processes, 2 workers"].collections if c.get_zorder() == 2]
    assert len(services[0].get_paths()) == len(case)


def test_every_gantt_panel_shares_one_time_axis(run_dir, pages):
    fig = _page(pages, "cpu-gantt")
    limits = {ax.get_xlim() for ax in _panels(fig).values()}
    assert len(limits) == 1
    ((low, high),) = limits
    drawn = timelines.representative(results.load(run_dir, name=results.TASKS))
    assert low == 0 and high >= drawn["arrival_s"].max()  # the last result of any panel
    label = fig.get_label()
    assert "where each task ran" in label and "round" in label
    assert any(
        "seconds since the batch was submitted (driver clock)" == ax.get_xlabel() for ax in fig.axes
    )


def test_the_phase_page_stacks_dispatch_service_and_return_per_case(pages):
    fig = _page(pages, "cpu-phases")
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["sequential w1", "threads w1", "threads w2", "processes w1", "processes w2"]
    colours = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches}
    assert len(colours) == 3  # the three phases, the same colours as the Gantt page's
    assert "*" not in " ".join(labels)  # one host: no clock is uncertain


def test_no_timeline_page_without_tasks(run_dir, tmp_path):
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / results.TASKS).unlink()
    older = [p.name for p in full_report(reports.load_data([copy]))]
    assert older and not [n for n in older if "gantt" in n or "phases" in n]
    # a frame alone (a notebook's harness.run) has no tasks either
    framed = full_report(reports.from_frame(results.load(run_dir)))
    assert not [p for p in framed if "gantt" in p.name or "phases" in p.name]
    # nor the stored runs, from before the timeline pass
    stored = reports.load_data([stored_run("cpu")])
    assert stored.tasks.empty
    assert timeline_figures.gantt(stored, "cpu") == timeline_figures.phases(stored, "cpu") == []


def test_no_timeline_page_for_a_scenario_without_task_rows(run_dir):
    data = reports.load_data([run_dir])
    data.tasks = data.tasks[data.tasks["scenario"] != "cpu"]
    assert data.tasks.empty
    assert timeline_figures.gantt(data, "cpu") == []
    assert timeline_figures.phases(data, "cpu") == []


def test_the_html_report_holds_both_pages(run_dir, tmp_path):
    target, _ = reports.write(reports.load_data([run_dir]), tmp_path / "r.html")
    text = target.read_text()
    assert 'id="cpu-gantt"' in text and 'id="cpu-phases"' in text
    assert "cpu: where each task ran" in text


# Frames built here -----------------------------------------------------------------------


def _case(
    backend: str,
    workers: int,
    stamps: list[tuple[str, float, float]],
    uncertainty: float = 0.0,
    rounds: int = 1,
) -> list[dict]:
    """Task rows of one case: `stamps` is (worker, start, end) per task, every task
    submitted at 0 and its result in 1 ms after its end; the same in every round."""
    rows = []
    for r in range(1, rounds + 1):
        for i, (worker, start, end) in enumerate(stamps):
            pid = int(worker.split()[-1])
            rows.append(
                {
                    "run_id": "run",
                    "scenario": "s",
                    "case_id": f"s/{backend}/w{workers}",
                    "backend": backend,
                    "variant": "",
                    "workers": workers,
                    "params": "{}",
                    "round": r,
                    "task": i,
                    "node": "local",
                    "pid": pid,
                    "thread": pid,
                    "worker": worker,
                    "submit_s": 0.0,
                    "start_s": start * r,
                    "end_s": end * r,
                    "arrival_s": end * r + 0.001,
                    "dispatch_s": start * r,
                    "service_s": (end - start) * r,
                    "return_s": 0.001,
                    Metric.CLOCK_UNCERTAINTY_S: uncertainty,
                }
            )
    return rows


def _data(rows: list[dict]) -> ReportData:
    """Report data for these tasks: one ok case of wall time each."""
    tasks = pd.DataFrame(rows)
    cases = tasks.drop_duplicates("case_id")
    df = results.frame(
        [
            {
                "run_id": "run",
                "scenario": "s",
                "case_id": c.case_id,
                "backend": c.backend,
                "workers": int(c.workers),
                "params": "{}",
                "host": "h",
                "tasks": 8,
                "status": "ok",
                "metric": Metric.WALL_S,
                "value": 0.1 + 0.01 * k,
                "unit": "s",
                "repeat": k,
                "round": 1,
                "error": None,
            }
            for c in cases.itertuples()
            for k in range(3)
        ]
    )
    return ReportData(df, [], tasks=tasks)


def test_tasks_at_once_in_one_worker_get_lanes_and_many_workers_are_capped():
    coroutines = [("thread 7", 0.0, 0.02) for _ in range(4)] + [("thread 7", 0.02, 0.04)] * 4
    many = [(f"pid {100 + w}", 0.001 * w, 0.001 * w + 0.01) for w in range(24)]
    data = _data(_case("asyncio", 4, coroutines) + _case("processes", 24, many))
    (page,) = timeline_figures.gantt(data, "s")
    _, fig = page
    panels = _panels(fig)
    one_thread = panels["asyncio, 4 workers"]
    assert _rows(one_thread) == ["thread 7"]  # one worker, a row of four lanes
    assert one_thread.get_ylim() == (3.5, -0.5)
    assert "up to 4 at once in one worker" in one_thread.get_title(loc="right")
    capped = panels["processes, 24 workers"]
    assert len(_rows(capped)) == timeline_figures.MAX_ROWS
    assert _rows(capped)[0] == "pid 100"  # the earliest first
    assert "8 of 24 workers, 8 tasks not drawn" in capped.get_title(loc="right")


def test_the_median_round_is_named_and_uncertain_clocks_are_a_note_not_a_fact():
    stamps = [("10.0.0.2 pid 5", 0.001, 0.011), ("10.0.0.2 pid 5", 0.011, 0.021)]
    data = _data(_case("dask", 1, stamps, uncertainty=0.004, rounds=3))
    ((_, gantt),) = timeline_figures.gantt(data, "s")
    assert "round 2 of 3, the median makespan" in gantt.get_label()
    notes = " ".join(t.get_text() for t in gantt.texts)
    assert "uncertainty" in notes and "not measured facts" in notes
    ((_, phases),) = timeline_figures.phases(data, "s")
    (ax,) = [ax for ax in phases.axes if ax.get_visible()]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dask w1 *"]  # 4 ms > 1 ms return
    notes = " ".join(t.get_text() for t in phases.texts)
    assert "not a measured fact" in notes and "dask w1 ±4 ms" in notes


def test_no_text_of_the_timeline_pages_runs_off_a_sheet(pages):
    drawn = [p for p in pages if p.name in ("cpu-gantt", "cpu-phases")]
    for name, fig in sheets.sheets(drawn, "letter"):
        assert _outside(fig) == [], name
