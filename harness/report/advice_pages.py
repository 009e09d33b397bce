"""Report pages for the article's claims and the per-scenario recommendation.

They read only the result frames (through harness.claims and harness.advice), like every
other page; a claims page appears only when the runs measured at least one claim.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness import advice, claims
from harness.console import fmt_bytes, fmt_seconds
from harness.report.data import ReportData, params_label
from harness.report.pdf import Page, table_page, text_page

VERDICT_COLOURS = {
    claims.SUPPORTS: "#d4edda",
    claims.PARTLY: "#fff3cd",
    claims.DIFFERS: "#f8d7da",
}


def claims_page(data: ReportData) -> Iterable[Page]:
    """The article's comparison table beside this machine's values, one verdict a row."""
    table = claims.claims_table(data.df.drop(columns=["machine"], errors="ignore"))
    if table.empty or not table["verdict"].isin(list(VERDICT_COLOURS)).any():
        return []
    rows = [[r.aspect, r.article, r.measured, r.verdict, r.scenario] for r in table.itertuples()]
    fig = table_page(
        "The article's claims, measured here",
        rows,
        ["aspect", "the article says", "measured on this machine", "verdict", "scenario"],
        colors=[VERDICT_COLOURS.get(r[3]) for r in rows],
        note="green: the measurement supports the claim here; yellow: partly; red: it "
        "differs; 'no data': run the scenario named to check it",
        widths=[0.1, 0.25, 0.45, 0.07, 0.09],
    )
    return [("claims", fig)]


def recommendation_page(data: ReportData, scenario: str) -> Iterable[Page]:
    """Fastest and leanest backend per parameter set, and the granularity crossover."""
    df = data.df.drop(columns=["machine"], errors="ignore")
    recs = advice.recommendations(df[df["scenario"] == scenario])
    if recs.empty:
        return []
    paragraphs = []
    several = len(recs) > 1
    for rec in recs.itertuples():
        where = f" ({params_label(rec.params)})" if several else ""
        if rec.by == "wall_s":
            speed = f"median {fmt_seconds(rec.value)} per batch"
        else:
            speed = f"{rec.value:,.0f} {rec.by.removesuffix('_per_s')}/s"
        if np.isfinite(rec.speedup):
            speed += f", {rec.speedup:.2f}x the sequential loop"
        lean = (
            f"; least memory: {rec.least_memory} ({fmt_bytes(rec.least_memory_bytes)} over the "
            "driver's baseline)"
            if rec.least_memory != "-"
            else ""
        )
        paragraphs.append(f"Fastest{where}: {rec.fastest}, {speed}{lean}.")
    swept = {key for p in df.loc[df["scenario"] == scenario, "params"].unique()
             for key in json.loads(p)}  # fmt: skip
    cross = advice.crossover(df, scenario=scenario) if "task_s" in swept else pd.DataFrame()
    if not cross.empty:
        for row in cross.itertuples():
            if pd.notna(row.crossover_s):
                paragraphs.append(
                    f"{row.label} with {row.workers} workers reaches 80% efficiency from tasks "
                    f"of {fmt_seconds(row.crossover_s)} up."
                )
            else:
                paragraphs.append(
                    f"{row.label} with {row.workers} workers never reached 80% efficiency "
                    f"(best {row.best_efficiency:.0%}): it needs tasks longer than tried."
                )
    paragraphs.append(
        "Fastest is by median over repeats on this machine; check the every-case table for "
        "unstable cases before you rely on a close call."
    )
    return [(f"{scenario}-recommendation", text_page(f"{scenario}: recommendation", paragraphs))]


def full_report(data: ReportData) -> list[Page]:
    """The whole report as `harness report` draws it: figures, claims and advice."""
    from harness.report import pdf

    return pdf.build(data, front_pages=[claims_page], scenario_pages=[recommendation_page])
