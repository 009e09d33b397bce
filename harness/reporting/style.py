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


def palette(backends) -> dict[str, str]:
    extra = iter(["#9467bd", "#8c564b", "#e377c2", "#bcbd22"])
    return {b: BACKEND_COLORS.get(b) or next(extra) for b in backends}


def order(backends) -> list[str]:
    present = list(dict.fromkeys(backends))
    return sorted(present, key=lambda b: BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99)


def machine_styles(machines) -> dict:
    return {m: MACHINE_LINESTYLES[i % len(MACHINE_LINESTYLES)] for i, m in enumerate(machines)}


def apply() -> None:
    mpl.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    mpl.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "pdf.fonttype": 42})
