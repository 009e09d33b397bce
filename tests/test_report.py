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

from harness import results
from harness.analysis import advice, summaries
from harness.output.reports import pages as assembly
from harness.output.reports.claims_pages import full_report
from harness.output.reports.data import ReportData
from harness.output.reports.pages import Page, Table, Text
from harness.protocol import METRICS, Metric
from harness.units import fmt_seconds

SCENARIO_PAGES = [
    "throughput",
    "speedup",
    "repeats",
    "startup",
    "memory",
    "rtt",
    "latency",
    "memory-time",
]
#: The table of every metric: a page per METRICS_PER_PAGE of the 21 the stored cpu run measured.
METRIC_PAGES = ["metrics-1", "metrics-2", "metrics-3"]
CPU_REPORT = [
    "title",
    "claims",
    *(f"cpu-{p}" for p in SCENARIO_PAGES),
    "cpu-recommendation",
    "cases",
    *METRIC_PAGES,
]


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


def _has_data(fig: Figure | Table | Text) -> bool:
    if isinstance(fig, Table):
        return bool(fig.rows)
    if isinstance(fig, Text):
        return any(paragraphs for _, paragraphs in fig.sections)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    tables = [ax for ax in fig.axes if ax.tables]
    if not axes:
        return bool(tables) or bool(fig.texts)
    return all(ax.lines or ax.collections or ax.patches for ax in axes)


def _text(page: Text) -> str:
    return " ".join([page.title, page.subtitle, *(" ".join([h, *ps]) for h, ps in page.sections)])


def _named(pages: list[Page]) -> dict:
    return {p.name: p.content for p in pages}


def test_the_report_has_the_expected_pages(cpu_pages):
    assert [p.name for p in cpu_pages] == CPU_REPORT
    # each scenario's pages know their scenario (the HTML report's sections); the rest none
    assert {p.name for p in cpu_pages if p.scenario == "cpu"} == {
        n for n in CPU_REPORT if n.startswith("cpu-")
    }


def test_every_figure_has_data(cpu_pages):
    for name, fig, _ in cpu_pages:
        assert _has_data(fig), name
    # five backends, each in the throughput page (sequential as its dashed line)
    fig = _named(cpu_pages)["cpu-throughput"]
    colors = {line.get_color() for line in fig.axes[0].lines}
    assert len(colors) >= 5


def test_title_page_says_the_headline(cpu_run):
    data = _data(cpu_run)
    line = assembly.headline(data, "cpu")
    assert line.startswith("cpu: ") and "x the sequential loop" in line
    text = _text(assembly.title_page(data))
    assert data.runs[0]["run_id"] in text and "harness 0." in text


def test_the_headline_calls_no_winner_when_the_top_two_intervals_overlap(cpu_run):
    data = _data(cpu_run)
    ranked = data.table.dropna(subset=["speedup"]).sort_values("speedup", ascending=False)
    best = ranked.iloc[0]
    rival = ranked[ranked["backend"] != best["backend"]].iloc[0]
    line = assembly.headline(data, "cpu")
    assert f"{best['backend']} with {best['workers']} workers" in line
    overlap = advice.intervals_overlap(best, rival, "speedup_")
    assert ("no clear winner" in line) == overlap
    assert ("is fastest" in line) == (not overlap)
    moved = rival.copy()  # the rival's interval moved below the best's: no overlap
    moved["speedup_ci_high"] = best["speedup_ci_low"] * 0.9
    assert not advice.intervals_overlap(best, moved, "speedup_")
    assert advice.intervals_overlap(best, best, "speedup_")


def test_two_machines_are_drawn_side_by_side(cpu_run):
    # the smaller machine: the cpu scenario run with CPU affinity to one core (taskset -c 0)
    data = _data(cpu_run, stored_run("cpu-1cpu"))
    assert len(set(data.labels.values())) == 2  # same host: told apart by cpus or run id
    pages = _named(assembly.build(data))
    panels = [ax for ax in pages["cpu-throughput"].axes if ax.get_visible()]
    titles = {ax.get_title() for ax in panels}
    assert titles == set(data.labels.values())
    assert all(_has_data(fig) for fig in pages.values())
    table = data.table
    assert set(table["machine"]) == set(data.labels.values())
    # the CLI with two runs (and a third it cannot read): test_reliability.py


def test_a_parameter_sweep_gets_one_panel_per_value():
    pages = _named(assembly.build(_data(stored_run("sweep"))))
    panels = [ax for ax in pages["sweep-throughput"].axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == ["seconds=0.005", "seconds=0.01"]
    assert all(_has_data(fig) for fig in pages.values())
    # and the swept parameter as the x axis: one line per backend and worker count
    rate, efficiency = pages["sweep-sweep"].axes
    assert rate.get_xlabel() == "seconds"
    assert sorted(rate.get_legend_handles_labels()[1]) == [
        "sequential w1",
        "threads w1",
        "threads w2",
    ]
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
    names = [p.name for p in pages]
    assert names[1] == "claims" and names.index("cpu-advice") < names.index("cases")


def test_the_cli_draws_every_page_as_a_file(cpu_run, tmp_path):
    proc = cli("report", str(cpu_run), "--format", "png", "-o", str(tmp_path / "figs"))
    assert proc.returncode == 0, proc.stderr
    files = sorted((tmp_path / "figs").glob("*"))
    assert f"({len(files)} files)" in proc.stdout, proc.stdout
    # a file per sheet, in page order, named for its page (a table that continues on a
    # second sheet gives name-1, name-2): the report `harness report` draws
    names = [f.name.split("-", 1)[1].removesuffix(".png") for f in files]
    assert [f.name[:3] for f in files] == [f"{i:02d}-" for i in range(1, len(files) + 1)]
    assert list(dict.fromkeys(n if n in CPU_REPORT else n.rsplit("-", 1)[0] for n in names)) == (
        CPU_REPORT
    )
    assert all(f.read_bytes().startswith(b"\x89PNG") and f.stat().st_size > 5000 for f in files)
    assert not list(cpu_run.glob("figures*")), "the stored run was written to"


def test_failed_and_unstable_cases_are_marked(cpu_run):
    data = _data(cpu_run)
    data.table.loc[0, ["status", "error"]] = ["error", "boom"]  # mark, not measure
    data.table.loc[1, "unstable"] = True
    ((_, table),) = assembly.case_table_pages(data)
    notes = [row[-1] for row in table.rows]
    assert notes[0] == "FAILED: boom" and notes[1].startswith("! unstable")
    assert table.colors[0] and table.colors[1] and table.colors[0] != table.colors[1]


def test_the_metric_pages_carry_every_measured_metric_in_the_catalogues_order(cpu_pages):
    table = _data(stored_run("cpu")).table
    measured = summaries.metric_columns(table)
    assert len(measured) == 21 and len(METRIC_PAGES) == -(-21 // assembly.METRICS_PER_PAGE)
    pages = _named(cpu_pages)
    headers = [c for n in METRIC_PAGES for c in pages[n].columns if c not in ("scenario", "case")]
    assert headers == [METRICS[m].label for m in measured]
    first = pages[METRIC_PAGES[0]]
    assert [r[1] for r in first.rows] == [
        f"{b} w{w}" for b, w in table[["backend", "workers"]].itertuples(index=False)
    ]
    wall = first.columns.index(METRICS[Metric.WALL_S].label)
    assert [r[wall] for r in first.rows] == [fmt_seconds(v) for v in table["median"]]


def test_export_round_trips(cpu_run, tmp_path):
    target = tmp_path / "m.parquet"
    proc = cli("export", str(cpu_run), "--format", "parquet", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    # the frame a notebook gets from results.load, unchanged
    pd.testing.assert_frame_equal(pd.read_parquet(target), results.load(cpu_run))
    csv = cli("export", str(cpu_run), "--table", "cases")
    assert csv.returncode == 0 and csv.stdout.startswith("run_id,host,scenario")
    cases = summaries.case_table(results.load(cpu_run))
    assert len(pd.read_csv(io.StringIO(csv.stdout))) == len(cases)
    bad = cli("export", str(cpu_run), "--format", "parquet")
    assert bad.returncode == 2 and "-o" in bad.stderr


def test_claims_and_recommendation_pages_carry_the_measurements(cpu_run, cpu_pages):
    pages = _named(cpu_pages)
    text = _text(pages["cpu-recommendation"])
    table = summaries.case_table(results.load(cpu_run))
    fastest = table[table.status == "ok"].sort_values("median").iloc[0]
    assert f"first? {fastest.backend} w{fastest.workers}: " in text, text
    cells = [cell for row in pages["claims"].rows for cell in row]
    verdicts = {"supports", "partly", "differs", "not decided", "no basis"}
    assert verdicts & set(cells), cells


def test_a_report_keeps_no_figure_in_pyplot(tmp_path):
    """Every page's figure is pyplot-free, so pyplot's manager holds none of them (it held
    them all while the report was drawn: "More than 20 figures have been opened"), and
    each is freed once written."""
    from harness.output import reports
    from harness.output.reports import sheets
    from harness.output.reports.claims_pages import full_report

    plt.close("all")
    pages = full_report(reports.load_data([stored_run("cpu")]))
    drawn = sheets.sheets(pages)
    assert len(drawn) > 10 and plt.get_fignums() == []
    reports.write(reports.load_data([stored_run("cpu")]), tmp_path / "r.pdf")
    assert plt.get_fignums() == []
