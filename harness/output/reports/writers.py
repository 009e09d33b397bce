"""Writers: the pages of a report as one file (PDF, HTML) or as image files (PNG, SVG).

One function per output format, each taking the assembled pages, the target and the paper,
and giving back how many pages or files it wrote (the format table, `output/formats.py`,
names them); the page assembly in
`pages.py` knows nothing of formats. Paper formats set the pages on sheets of one size
(`sheets.py`); HTML sets them as a web page (`html.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from harness.output.reports.pages import Page
from harness.output.reports.sheets import sheets


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A file to write beside `path` that replaces it only once the block ends well: a
    report cut short never leaves half a file under the report's name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_pdf(pages: list[Page], path: Path, paper: str = "a4") -> int:
    """One PDF, every sheet the paper's size (never cropped to its content); returns the
    number of sheets."""
    drawn = sheets(pages, paper)
    with (
        _replacing(path) as tmp,
        mpl.rc_context({"savefig.bbox": "standard"}),  # the whole sheet, not its content
        PdfPages(tmp, metadata={"Title": "harness report", "Creator": "harness"}) as pdf,
    ):
        for _, fig in drawn:
            pdf.savefig(fig)
            plt.close(fig)
    return len(drawn)


def write_images(pages: list[Page], folder: Path, fmt: str, paper: str = "a4") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, fig) in enumerate(sheets(pages, paper), 1):
        target = folder / f"{i:02d}-{name.replace('/', '_')}.{fmt}"
        fig.savefig(target, format=fmt)
        plt.close(fig)
        out.append(target)
    return out


def write_png(pages: list[Page], folder: Path, paper: str = "a4") -> int:
    return len(write_images(pages, folder, "png", paper))


def write_svg(pages: list[Page], folder: Path, paper: str = "a4") -> int:
    return len(write_images(pages, folder, "svg", paper))


def write_html(pages: list[Page], path: Path, paper: str = "a4") -> int:
    """One self-contained HTML file (a web page: no paper); returns the number of pages it
    holds."""
    from harness.output.reports import html

    with _replacing(path) as tmp:
        tmp.write_text(html.document(pages), encoding="utf-8")
    return len(pages)
