"""The report people share: PDF sheets of one size with nothing cut, a self-contained HTML
file that a browser shows with every figure, and the figure of every repeat.

Drawn from the stored runs (tests/fixtures/runs); no engine starts. The PDF is checked with
poppler's `pdfinfo` and the HTML in headless Chromium: where either is missing, its test
skips and says so in one line (`.ci/run` installs both where it can).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import cli, stored_run
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text as TextArtist

from harness import results
from harness.output import reports
from harness.output.reports import html, sheets, textfit
from harness.output.reports.claims_pages import full_report
from harness.output.reports.data import ReportData
from harness.output.reports.pages import Page, Table, Text
from harness.output.reports.repeat_figures import modified_z

POINTS = {"a4": (841.68, 595.44), "letter": (792.0, 612.0)}


def _data(*names: str) -> ReportData:
    dirs = [stored_run(n) for n in names]
    return ReportData(
        results.load(*dirs),
        [results.run_info(d) for d in dirs],
        latency=results.load(*dirs, name=results.LATENCY),
        timeseries=results.load(*dirs, name=results.TIMESERIES),
    )


def _page_sizes(pdf: Path) -> list[tuple[float, float]]:
    if not shutil.which("pdfinfo"):
        pytest.skip("pdfinfo not installed (apt-get install poppler-utils): page sizes unchecked")
    out = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return [(float(w), float(h)) for w, h in re.findall(r"size:\s+([\d.]+) x ([\d.]+) pts", out)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(("paper", "runs"), [("a4", ["cpu", "cpu-1cpu"]), ("letter", ["rounds"])])
def test_every_pdf_page_has_the_papers_size(tmp_path, paper, runs):
    target = tmp_path / "report.pdf"
    args = ["--paper", paper] if paper != "a4" else []  # A4 is the default
    proc = cli("report", *(str(stored_run(r)) for r in runs), "-o", str(target), *args)
    assert proc.returncode == 0, proc.stderr
    sizes = _page_sizes(target)
    assert f"({len(sizes)} pages)" in proc.stdout
    assert len(sizes) >= 10
    assert {(round(w), round(h)) for w, h in sizes} == {tuple(map(round, POINTS[paper]))}


def _outside(fig: Figure) -> list[str]:
    """What of the figure is drawn beyond its edges: the texts (tick labels only where
    their axis draws them), and the bounds of everything drawn (as savefig's tight box)."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    page = fig.bbox
    drawn_ticks = {
        id(t)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in axis._update_ticks()
        for t in (tick.label1, tick.label2)
    }
    tick_labels = {
        id(t)
        for ax in fig.axes
        for t in [*ax.get_xticklabels(which="both"), *ax.get_yticklabels(which="both")]
    }
    hidden = {id(t) for ax in fig.axes if not ax.get_visible() for t in ax.findobj(TextArtist)}
    bad = []
    for artist in fig.findobj(TextArtist):
        if not artist.get_visible() or not artist.get_text().strip():
            continue
        if id(artist) in hidden:
            continue  # a panel left empty is hidden with all it holds
        if id(artist) in tick_labels and id(artist) not in drawn_ticks:
            continue
        box = artist.get_window_extent(renderer)
        if (
            box.x0 < page.x0 - 1
            or box.x1 > page.x1 + 1
            or box.y0 < page.y0 - 1
            or box.y1 > page.y1 + 1
        ):
            bad.append(f"{artist.get_text()[:40]!r} @ {box.bounds}")
    tight = fig.get_tightbbox(renderer)
    whole = fig.bbox_inches
    if (
        tight.x0 < -0.02
        or tight.y0 < -0.02
        or tight.x1 > whole.x1 + 0.02
        or tight.y1 > whole.y1 + 0.02
    ):
        bad.append(f"drawn beyond the sheet: {tight.bounds} on {whole.bounds}")
    return bad


@pytest.mark.parametrize(
    ("paper", "runs"), [("a4", ["cpu", "cpu-1cpu"]), ("letter", ["rounds", "sweep"])]
)
def test_no_text_runs_off_a_sheet(paper, runs):
    # two machines: the most panels and the longest tables the stored runs give; variants
    # and a sweep on the narrower paper
    pages = full_report(_data(*runs))
    for name, fig in sheets.sheets(pages, paper):
        assert tuple(fig.get_size_inches()) == pytest.approx(reports.PAPER_SIZES[paper])
        assert _outside(fig) == [], name
        plt.close(fig)


def test_a_long_table_continues_on_the_next_sheet_with_its_header():
    rows = [
        [f"case {i}", "a long note that has to wrap in its narrow column " * (i % 3)]
        for i in range(80)
    ]
    table = Table("Many rows", ["case", "note"], rows, note="a note", widths=[0.3, 0.7])
    drawn = sheets.sheets([Page("many", table)])
    assert len(drawn) >= 3
    assert [n for n, _ in drawn] == [f"many-{i}" for i in range(1, len(drawn) + 1)]
    texts = [[t.get_text() for t in fig.texts] for _, fig in drawn]
    assert all(t[0].startswith("Many rows") and "case" in t for t in texts)  # header again
    assert all(t[0].endswith("(continued)") for t in texts[1:])
    cells = [t for page in texts for t in page if t.startswith("case ")]
    assert cells == [f"case {i}" for i in range(80)]  # every row once, in order
    for _, fig in drawn:
        assert _outside(fig) == []


def test_wrap_measures_lines_to_the_width():
    text = "speedup interval " * 30 + "\n    indented line that wraps " * 3
    lines = textfit.wrap(text, 10, 3.0)
    assert all(textfit.width(line, 10) <= 3.0 for line in lines)
    assert " ".join(" ".join(lines).split()) == " ".join(text.split())  # no word lost
    assert [line for line in lines if "indented" in line][0].startswith("    ")
    assert textfit.wrap("x" * 400, 10, 1.0)[0] == "x" * len(textfit.wrap("x" * 400, 10, 1.0)[0])


def test_outliers_by_the_modified_z_score():
    z = modified_z(np.array([10.0, 10.2, 9.9, 10.1, 10.0, 14.0]))
    assert list(np.abs(z) > 3.5) == [False] * 5 + [True]
    assert not (np.abs(modified_z(np.array([1.0, 1.0, 1.0, 5.0]))) > 3.5).any()  # MAD 0


def test_the_repeats_figure_draws_every_repeat_by_round():
    data = _data("rounds")
    pages = {p.name: p.content for p in full_report(data)}
    fig = pages["rounds-repeats"]
    (ax,) = [a for a in fig.axes if a.get_visible()]
    dots = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes()[0] < 50]
    points = sum(len(c.get_offsets()) for c in dots)
    wall = data.df[(data.df["metric"] == "wall_s") & (data.df["status"] == "ok")]
    assert points == len(wall)  # every repeat is a point
    colours = {tuple(c) for coll in dots for c in coll.get_facecolors()}
    assert len(colours) >= wall["round"].nunique()  # one colour per round
    note = " ".join(t.get_text() for t in fig.texts)
    # the rule, and the interval as the table has it: two processes give none (50%)
    assert "modified z-score| > 3.5" in note and "none: too few processes" in note


@pytest.fixture(scope="module")
def cpu_html(tmp_path_factory) -> tuple[Path, list[Page]]:
    """The cpu report as HTML, drawn once by the CLI; and its page model for comparison."""
    target = tmp_path_factory.mktemp("html") / "report.html"
    proc = cli("report", str(stored_run("cpu")), "-o", str(target))  # format from extension
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"report: {target} (")
    return target, full_report(_data("cpu"))


def test_html_is_self_contained_with_contents_and_real_tables(cpu_html):
    target, pages = cpu_html
    doc = target.read_text()
    # nothing fetched: no remote or local reference of any kind (namespaces are not fetched)
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"|url\(([^)]*)\)|@import', doc)
    assert all((a or b).startswith("#") for a, b in refs), refs
    assert "<link" not in doc and "<img" not in doc and "<iframe" not in doc
    assert "DOCTYPE svg" not in doc and "<metadata>" not in doc
    # one inline SVG per figure page, a section per table or text page
    figures = [p for p in pages if isinstance(p.content, Figure)]
    assert doc.count("<svg ") == len(figures)
    assert doc.count("<figure ") == len(figures)
    # a table of contents whose every link lands on an id, the scenario's among them
    ids = set(re.findall(r' id="([^"]+)"', doc))
    links = re.findall(r'<a href="#([^"]+)"', doc)
    assert "scenario-cpu" in links and set(links) <= ids
    assert len(links) == len(pages)  # every page but the title, and the scenario
    # the tables as tables: a row per case
    cases = _data("cpu").table
    section = doc[doc.index('<section id="cases"') :]
    assert section[: section.index("</table>")].count("<tr") == len(cases) + 1


def test_html_escapes_what_it_shows():
    table = Table("<b>t</b>", ["a&b"], [["<script>alert(1)</script>"]], ['red" onclick="x'])
    doc = html.document([Page("title", Text("r", [("", ["x < y"])])), Page("t", table)])
    assert "<script>alert" not in doc and "&lt;script&gt;alert(1)" in doc
    assert "&lt;b&gt;t&lt;/b&gt;" in doc and "a&amp;b" in doc and 'onclick="x' not in doc
    assert "x &lt; y" in doc


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium not installed (apt-get install chromium): HTML not rendered")


def _headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_chromium_shows_the_page_and_every_figure(cpu_html, tmp_path):
    target, pages = cpu_html
    url = target.resolve().as_uri()
    dom = _headless(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the browser's own DOM: every figure page is a figure holding a parsed, drawn SVG
    for page in pages:
        if isinstance(page.content, Figure):
            found = re.search(
                rf'<figure id="{html.anchor(page.name)}">\s*<svg[^>]*>(.*?)</svg>',
                dom.stdout,
                flags=re.S,
            )
            assert found and found.group(1).count("<path") > 20, page.name
    # what it shows is not blank: the first screen holds text, tables and colour
    shot = tmp_path / "shot.png"
    proc = _headless(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    ink = (pixels.min(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert ink > 0.02, ink
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50


def test_format_and_paper_are_checked(tmp_path):
    bad = cli("report", str(stored_run("cpu")), "--paper", "a3", "-o", str(tmp_path / "r.pdf"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--paper" in bad.stderr and not (tmp_path / "r.pdf").exists()
    bad = cli("report", str(stored_run("cpu")), "--format", "docx", "-o", str(tmp_path / "r"))
    assert bad.returncode == 2 and "--format" in bad.stderr
