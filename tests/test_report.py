"""The report from real runs: the expected pages, every figure with data, machines side by
side, parameter sweeps faceted, figures as files, and the export of the frames."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from harness import results
from harness.reporting import pages as assembly
from harness.reporting.claims_pages import full_report
from harness.reporting.data import ReportData
from tests.conftest import HARNESS, REPO, harness

SCENARIO_PAGES = ["throughput", "speedup", "startup", "memory", "rtt", "latency", "memory-time"]

SWEEP = """
name = "sweep"
description = "sleep tasks with two lengths"
workload = "sleep"
tasks = 4
workers = [1, 2]
repeat = 3
warmup = 0
timeout_s = 60
backends = ["sequential", "threads"]
[params]
seconds = 0.01
[sweep]
seconds = [0.005, 0.01]
"""


def _data(*run_dirs: Path) -> ReportData:
    dirs = list(run_dirs)
    return ReportData(
        results.load(*dirs),
        [results.run_info(d) for d in dirs],
        latency=results.load(*dirs, name=results.LATENCY),
        timeseries=results.load(*dirs, name=results.TIMESERIES),
    )


def _only_run(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


@pytest.fixture(scope="session")
def small_cpu_run(tmp_path_factory) -> Path:
    """The cpu scenario on one CPU only: a smaller machine, simulated by CPU affinity."""
    if not shutil.which("taskset"):
        pytest.skip("taskset not available")
    out = tmp_path_factory.mktemp("small")
    cmd = ["taskset", "-c", "0", HARNESS, "run", "cpu", "--quick"]
    cmd += ["--backends", "sequential,threads,processes", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return _only_run(out)


@pytest.fixture(scope="session")
def sweep_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    spec = out / "sweep.toml"
    spec.write_text(SWEEP)
    proc = harness("run", str(spec), "--out", str(out / "runs"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return _only_run(out / "runs")


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


def test_pdf_has_the_expected_pages(cpu_run, tmp_path):
    target = tmp_path / "report.pdf"
    proc = harness("report", str(cpu_run), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    names = [name for name, _ in full_report(_data(cpu_run))]
    expected = [f"cpu-{p}" for p in SCENARIO_PAGES]
    assert names == ["title", "claims", *expected, "cpu-recommendation", "cases"]
    pages = len(re.findall(rb"/Type\s*/Page\b", target.read_bytes()))
    assert pages == len(names)
    assert f"({len(names)} pages)" in proc.stdout


def test_every_figure_has_data(cpu_run):
    pages = full_report(_data(cpu_run))
    for name, fig in pages:
        assert _has_data(fig), name
    # five backends, each in the throughput page (sequential as its dashed line)
    (fig,) = [f for n, f in pages if n == "cpu-throughput"]
    colors = {line.get_color() for line in fig.axes[0].lines}
    assert len(colors) >= 5


def test_title_page_says_the_headline(cpu_run):
    data = _data(cpu_run)
    line = assembly.headline(data, "cpu")
    assert line.startswith("cpu: ") and "x the sequential loop" in line
    text = " ".join(t.get_text() for t in assembly.title_page(data).texts)
    assert data.runs[0]["run_id"] in text and "harness 0." in text


def test_two_machines_are_drawn_side_by_side(cpu_run, small_cpu_run, tmp_path):
    data = _data(cpu_run, small_cpu_run)
    assert len(set(data.labels.values())) == 2  # same host: told apart by cpus or run id
    pages = dict(assembly.build(data))
    panels = [ax for ax in pages["cpu-throughput"].axes if ax.get_visible()]
    titles = {ax.get_title() for ax in panels}
    assert titles == set(data.labels.values())
    assert all(_has_data(fig) for fig in pages.values())
    table = data.table
    assert set(table["machine"]) == set(data.labels.values())
    proc = harness("report", str(cpu_run), str(small_cpu_run), "-o", str(tmp_path / "two.pdf"))
    assert proc.returncode == 0, proc.stderr


def test_a_parameter_sweep_gets_one_panel_per_value(sweep_run):
    pages = dict(assembly.build(_data(sweep_run)))
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


def test_figures_as_png_files(cpu_run, tmp_path):
    proc = harness("report", str(cpu_run), "--format", "png", "-o", str(tmp_path / "figs"))
    assert proc.returncode == 0, proc.stderr
    files = sorted((tmp_path / "figs").glob("*.png"))
    assert [f.name for f in files][:3] == ["01-title.png", "02-claims.png", "03-cpu-throughput.png"]
    assert all(f.stat().st_size > 5000 for f in files)


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
    proc = harness("export", str(cpu_run), "--format", "parquet", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(target), results.load(cpu_run))
    csv = harness("export", str(cpu_run), "--table", "cases")
    assert csv.returncode == 0 and csv.stdout.startswith("run_id,host,scenario")
    bad = harness("export", str(cpu_run), "--format", "parquet")
    assert bad.returncode == 2 and "-o" in bad.stderr


def test_claims_and_recommendation_pages_carry_the_measurements(cpu_run):
    from harness import analysis

    pages = dict(full_report(_data(cpu_run)))
    text = " ".join(t.get_text() for t in pages["cpu-recommendation"].texts)
    table = analysis.case_table(results.load(cpu_run))
    fastest = table[table.status == "ok"].sort_values("median").iloc[0]
    assert f"first? {fastest.backend} w{fastest.workers}: " in text, text
    cells = [c.get_text().get_text() for ax in pages["claims"].axes for t in ax.tables
             for c in t.get_celld().values()]  # fmt: skip
    verdicts = {"supports", "partly", "differs", "not decided", "no basis"}
    assert verdicts & set(cells), cells
