"""One colour per backend, the same in every figure of every report.

Colours and the order of backends come from the backend classes (`Backend.color`,
`Backend.display_order`) through the registry, so a backend from another package is drawn
like a built-in one.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl

from harness import backends

#: Paper sizes of the PDF and image pages (landscape, inches): figures are drawn on A4
#: and set to the paper chosen.
PAPER_SIZES = {"a4": (11.69, 8.27), "letter": (11.0, 8.5)}

#: Background of each phase in memory-over-time figures, in the order phases happen.
PHASE_COLORS = {
    "spawn": "#eeeeee",
    "startup": "#dbe9f6",
    "warmup": "#fff2cc",
    "steady": "#d9ead3",
    "between": "#f7f7f7",
    "latency": "#e6dcf0",
    "teardown": "#f4cccc",
}
#: Machines are told apart by line style, so the colour keeps meaning the backend.
MACHINE_LINESTYLES = ["-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1))]


def palette(names: Iterable[str]) -> dict[str, str]:
    """Backend -> its colour; a backend's colour never depends on who shares the figure."""
    return {b: backends.color(b) for b in names}


def order(names: Iterable[str]) -> list[str]:
    """The backends present, in display order."""
    return sorted(dict.fromkeys(names), key=backends.display_rank)


def machine_styles(machines) -> dict:
    return {m: MACHINE_LINESTYLES[i % len(MACHINE_LINESTYLES)] for i, m in enumerate(machines)}


def apply() -> None:
    mpl.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    mpl.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "pdf.fonttype": 42})
