"""One colour per backend, the same in every figure of every report."""

from __future__ import annotations

import matplotlib as mpl

BACKEND_COLORS = {
    "sequential": "#6c6c6c",
    "threads": "#1f77b4",
    "processes": "#d62728",
    "asyncio": "#17becf",
    "dask": "#ff7f0e",
    "ray": "#2ca02c",
}
BACKEND_ORDER = list(BACKEND_COLORS)


def palette(backends) -> dict[str, str]:
    extra = iter(["#9467bd", "#8c564b", "#e377c2", "#bcbd22"])
    return {b: BACKEND_COLORS.get(b) or next(extra) for b in backends}


def order(backends) -> list[str]:
    present = list(dict.fromkeys(backends))
    return sorted(present, key=lambda b: BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99)


def apply() -> None:
    mpl.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    mpl.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "pdf.fonttype": 42})
