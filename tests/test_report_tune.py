"""The report of a `harness tune` run: the race over time and the final intervals, drawn
from a real small race (the sequential loop against two threads), and the generic pages
that would merge candidates apart only by batching left out.

One race per module (about 15 s of budget), then the report drawn once from it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from conftest import REPO, harness, stored_run
from matplotlib.figure import Figure

from harness import results
from harness.analysis import tune as tuned
from harness.output import reports
from harness.output.reports import cost_figures, scaling_figures, timeline_figures, tune_figures
from harness.output.reports import pages as assembly
from harness.output.reports.claims_pages import full_report
from harness.output.reports.pages import Page, Text
from harness.output.reports.writers import write_pdf

SCENARIO = "tune-tiny"


@pytest.fixture(scope="module")
def tune_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tune")
    done = harness(
        "tune", "tiny.toml", "--import", "tunedemo", "--backends", "threads", "--workers", "2",
        "--budget", "15s", "--seed", "7", "--out", str(out),
        cwd=REPO / "examples" / "tune", timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [p for p in out.iterdir() if (p / results.RUN_JSON).is_file()]
    return run


@pytest.fixture(scope="module")
def info(tune_run) -> dict:
    return results.run_info(tune_run)


@pytest.fixture(scope="module")
def report(tune_run) -> dict[str, Page]:
    """The whole report but the timeline pass's pages (5000 tasks a case: most of the
    drawing time, and test_report_timeline's subject)."""
    untimed = [f for f in assembly.TUNE_FIGURES if f.__module__ != timeline_figures.__name__]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assembly, "TUNE_FIGURES", untimed)
        pages = full_report(reports.load_data([tune_run]))
    return {p.name: p for p in pages}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(info: dict) -> dict[str, str]:
    return {c["case_id"]: c["label"] for c in info["tune"]["candidates"]}


def test_the_report_has_both_tune_pages_and_leaves_out_the_merging_ones(report):
    names = list(report)
    assert names.index(f"{SCENARIO}-race") < names.index(f"{SCENARIO}-intervals")
    assert names[1:3] == [f"{SCENARIO}-race", f"{SCENARIO}-intervals"]
    for left_out in ("throughput", "speedup", "fits", "rtt", "latency", "recommendation"):
        assert f"{SCENARIO}-{left_out}" not in names
    assert f"{SCENARIO}-repeats" in names
    assert "cases" in names
    assert "tunedemo:tiny" in report[f"{SCENARIO}-race"].title


def test_a_raced_scenario_keeps_the_pages_that_hold_case_by_case():
    kept = assembly.TUNE_FIGURES
    assert kept[:2] == [tune_figures.race, tune_figures.intervals]
    assert timeline_figures.gantt in kept and cost_figures.startup in kept
    assert scaling_figures.throughput not in kept and scaling_figures.speedup not in kept


def test_the_race_page_draws_each_candidate_block_by_block(report, info, tune_run):
    fig = report[f"{SCENARIO}-race"].content
    assert isinstance(fig, Figure)
    lines = {str(line.get_label()): line for line in fig.axes[0].get_lines()}
    speeds = tune_figures.block_speeds(results.load(tune_run), info)
    winner = info["tune"]["winner"]["case_id"]
    for case_id, label in _labels(info).items():
        mine = speeds[speeds["case_id"] == case_id].sort_values("block")
        name = f"{label} (winner)" if case_id == winner else label
        assert name in lines, (name, list(lines))
        assert list(lines[name].get_xdata()) == list(mine["block"])
        assert list(lines[name].get_ydata()) == pytest.approx(list(mine["speed"]))
    base = speeds[speeds["case_id"] == f"{SCENARIO}/sequential/w1"]
    assert base["speed"].tolist() == pytest.approx([1.0] * len(base))
    assert set(speeds["block"]) == set(range(1, info["tune"]["blocks"] + 1))
    assert max(lines[f"{_labels(info)[winner]} (winner)"].get_linewidth(), 0) > max(
        line.get_linewidth() for name, line in lines.items() if not name.endswith("(winner)")
    )


def test_the_intervals_page_names_every_candidate_and_the_winner(report, info, tune_run):
    fig = report[f"{SCENARIO}-intervals"].content
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(rows) == sorted(_labels(info).values())
    answer = tuned.answer(results.load(tune_run), info)
    assert answer.winner is not None
    winner = answer.winner["candidate"]
    notes = [t.get_text() for t in ax.child_axes[0].get_yticklabels()]  # the right column
    assert "· winner ·" in notes[rows.index(winner)]
    assert notes[rows.index("sequential")].startswith("1.00x")
    speedup = float(answer.winner["speedup"])
    assert notes[rows.index(winner)].startswith(f"{speedup:.2f}x")
    # the rows go up by speedup: the fastest on top
    ordered = answer.rows.sort_values("speedup")["candidate"].tolist()
    assert rows == ordered
    text = "\n".join(t.get_text() for t in fig.texts)
    assert f"winner: {winner}" in text
    assert f"of a {answer.budget_s:.0f} s budget" in text


def test_the_title_page_gives_the_race_answer(report, info):
    title = report["title"].content
    assert isinstance(title, Text)
    headline = " ".join(title.sections[1][1])
    winner = _labels(info)[info["tune"]["winner"]["case_id"]]
    assert f"the race picked {winner}" in headline
    assert info["tune"]["stopped"] in headline


def test_a_tune_run_beside_an_ordinary_one_leaves_the_ordinary_pages_alone(tune_run):
    data = reports.load_data([tune_run, stored_run("io-w1")])
    scenarios = data.scenarios()
    assert SCENARIO in scenarios and data.raced(SCENARIO)
    assert [s for s in scenarios if s != SCENARIO] and not any(
        data.raced(s) for s in scenarios if s != SCENARIO
    )
    assert tune_figures.pages(data, "io") == []


def test_the_tune_pages_print_as_pdf(report, tmp_path):
    """The writer the CLI uses; `harness report` itself is `load_data`, `full_report`
    (the fixture) and this."""
    target = tmp_path / "report.pdf"
    pages = [report[f"{SCENARIO}-race"], report[f"{SCENARIO}-intervals"]]
    assert write_pdf(pages, target) == 2
    assert target.read_bytes()[:4] == b"%PDF"


def test_kinds_of_status():
    assert tune_figures.kind("eliminated at block 5") == "eliminated"
    assert tune_figures.kind("runner-up (tie)") == "runner-up"
    assert tune_figures.kind("timeout") == "failed"
    assert tune_figures.kind("survivor") == "in the race"
