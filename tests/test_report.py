"""The report from real runs: the expected pages, every figure with data, machines side by
side, parameter sweeps faceted, figures as files, and the export of the frames.

The runs are stored (tests/fixtures/runs/: real quick runs, see make_fixtures.py): what is
tested is the report drawn from them. Drawing is the cost here (about half a second a page),
so the cpu report is drawn once per module and the CLI draws it once, as PNG files.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from conftest import cli, stored_run
from matplotlib.figure import Figure

from harness import analysis, results
from harness.reporting import pages as assembly
from harness.reporting.claims_pages import full_report
from harness.reporting.data import ReportData

SCENARIO_PAGES = ["throughput", "speedup", "startup", "memory", "rtt", "latency", "memory-time"]
CPU_REPORT = ["title", "claims", *(f"cpu-{p}" for p in SCENARIO_PAGES), "cpu-recommendation",
              "cases"]  # fmt: skip


def _data(*run_dirs: Path) -> ReportData:
    dirs = list(run_dirs)
    return ReportData(
        results.load(*dirs),
        [results.run_info(d) for d in dirs],
        latency=results.load(*dirs, name=results.LATENCY),
        timeseries=results.load(*dirs, name=results.TIMESERIES),
    )


@pytest.fixture(scope="module")
def cpu_run() -> Path:
    """The quick cpu run on all five backends (stored; test_walking_skeleton has a live one)."""
    return stored_run("cpu")


@pytest.fixture(scope="module")
def cpu_pages(cpu_run) -> list[tuple[str, Figure]]:
    """The cpu report's pages, drawn once: tests read them, none changes them."""
    return full_report(_data(cpu_run))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _has_data(fig: Figure) -> bool:
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    tables = [ax for ax in fig.axes if ax.tables]
    if not axes:
        return bool(tables) or bool(fig.texts)
    return all(ax.lines or ax.collections or ax.patches for ax in axes)


def test_the_report_has_the_expected_pages(cpu_pages):
    assert [name for name, _ in cpu_pages] == CPU_REPORT


def test_every_figure_has_data(cpu_pages):
    for name, fig in cpu_pages:
        assert _has_data(fig), name
    # five backends, each in the throughput page (sequential as its dashed line)
    (fig,) = [f for n, f in cpu_pages if n == "cpu-throughput"]
    colors = {line.get_color() for line in fig.axes[0].lines}
    assert len(colors) >= 5


def test_title_page_says_the_headline(cpu_run):
    data = _data(cpu_run)
    line = assembly.headline(data, "cpu")
    assert line.startswith("cpu: ") and "x the sequential loop" in line
    text = " ".join(t.get_text() for t in assembly.title_page(data).texts)
    assert data.runs[0]["run_id"] in text and "harness 0." in text


def test_two_machines_are_drawn_side_by_side(cpu_run):
    # the smaller machine: the cpu scenario run with CPU affinity to one core (taskset -c 0)
    data = _data(cpu_run, stored_run("cpu-1cpu"))
    assert len(set(data.labels.values())) == 2  # same host: told apart by cpus or run id
    pages = dict(assembly.build(data))
    panels = [ax for ax in pages["cpu-throughput"].axes if ax.get_visible()]
    titles = {ax.get_title() for ax in panels}
    assert titles == set(data.labels.values())
    assert all(_has_data(fig) for fig in pages.values())
    table = data.table
    assert set(table["machine"]) == set(data.labels.values())
    # the CLI with two runs (and a third it cannot read): test_reliability.py


def test_a_parameter_sweep_gets_one_panel_per_value():
    pages = dict(assembly.build(_data(stored_run("sweep"))))
    panels = [ax for ax in pages["sweep-throughput"].axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == ["seconds=0.005", "seconds=0.01"]
    assert all(_has_data(fig) for fig in pages.values())
    # and the swept parameter as the x axis: one line per backend and worker count
    rate, efficiency = pages["sweep-sweep"].axes
    assert rate.get_xlabel() == "seconds"
    assert sorted(rate.get_legend_handles_labels()[1]) == ["sequential w1", "threads w1",
                                                          "threads w2"]  # fmt: skip
    assert all(len(line.get_xdata()) == 2 for line in rate.lines)
    assert len(efficiency.lines) == 3  # threads w1, w2 and the 80% line; no sequential


def test_extra_pages_plug_in(cpu_run):
    claims = assembly.table_page(
        "claims", [["threads give no speedup", "0.95x"]], ["claim", "measured"]
    )
    pages = assembly.build(
        _data(cpu_run),
        front_pages=[lambda data: [("claims", claims)]],
        scenario_pages=[
            lambda data, s: [(f"{s}-advice", assembly.text_page(s, ["use processes"]))]
        ],
    )
    names = [n for n, _ in pages]
    assert names[1] == "claims" and names.index("cpu-advice") < names.index("cases")


def test_the_cli_draws_every_page_as_a_file(cpu_run, tmp_path):
    proc = cli("report", str(cpu_run), "--format", "png", "-o", str(tmp_path / "figs"))
    assert proc.returncode == 0, proc.stderr
    assert f"({len(CPU_REPORT)} " in proc.stdout, proc.stdout
    files = sorted((tmp_path / "figs").glob("*"))
    # one file per page, in page order, named for its page: the report `harness report` draws
    assert [f.name for f in files] == [f"{i:02d}-{n}.png" for i, n in enumerate(CPU_REPORT, 1)]
    assert all(f.read_bytes().startswith(b"\x89PNG") and f.stat().st_size > 5000 for f in files)
    assert not list(cpu_run.glob("figures*")), "the stored run was written to"


def test_failed_and_unstable_cases_are_marked(cpu_run):
    data = _data(cpu_run)
    data.table.loc[0, ["status", "error"]] = ["error", "boom"]  # mark, not measure
    data.table.loc[1, "unstable"] = True
    (_, fig), *_ = assembly.case_table_pages(data)
    cells = fig.axes[0].tables[0].get_celld()
    texts = {cell.get_text().get_text() for cell in cells.values()}
    assert "FAILED: boom" in texts and any(t.startswith("! unstable") for t in texts)
    colors = {tuple(cells[(1, 0)].get_facecolor()[:3]), tuple(cells[(2, 0)].get_facecolor()[:3])}
    assert len(colors) == 2


def test_export_round_trips(cpu_run, tmp_path):
    target = tmp_path / "m.parquet"
    proc = cli("export", str(cpu_run), "--format", "parquet", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    # the frame a notebook gets from results.load, unchanged
    pd.testing.assert_frame_equal(pd.read_parquet(target), results.load(cpu_run))
    csv = cli("export", str(cpu_run), "--table", "cases")
    assert csv.returncode == 0 and csv.stdout.startswith("run_id,host,scenario")
    cases = analysis.case_table(results.load(cpu_run))
    assert len(pd.read_csv(io.StringIO(csv.stdout))) == len(cases)
    bad = cli("export", str(cpu_run), "--format", "parquet")
    assert bad.returncode == 2 and "-o" in bad.stderr


def test_claims_and_recommendation_pages_carry_the_measurements(cpu_run, cpu_pages):
    pages = dict(cpu_pages)
    text = " ".join(t.get_text() for t in pages["cpu-recommendation"].texts)
    table = analysis.case_table(results.load(cpu_run))
    fastest = table[table.status == "ok"].sort_values("median").iloc[0]
    assert f"first? {fastest.backend} w{fastest.workers}: " in text, text
    cells = [c.get_text().get_text() for ax in pages["claims"].axes for t in ax.tables
             for c in t.get_celld().values()]  # fmt: skip
    verdicts = {"supports", "partly", "differs", "not decided", "no basis"}
    assert verdicts & set(cells), cells
