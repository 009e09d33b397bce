"""Writers: the pages of a report as one file (PDF) or as image files (PNG, SVG).

One function per output format, each taking the assembled pages; the page assembly in
`pages.py` knows nothing of formats.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from harness.reporting.pages import Page


def write_pdf(pages: list[Page], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with PdfPages(tmp, metadata={"Title": "harness report", "Creator": "harness"}) as pdf:
            for _, fig in pages:
                pdf.savefig(fig)
                plt.close(fig)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_images(pages: list[Page], folder: Path, fmt: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, fig) in enumerate(pages, 1):
        target = folder / f"{i:02d}-{name.replace('/', '_')}.{fmt}"
        fig.savefig(target, format=fmt)
        plt.close(fig)
        out.append(target)
    return out
