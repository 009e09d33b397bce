"""Rich tables for the terminal: claims, recommendations, the granularity crossover."""

from __future__ import annotations

import pandas as pd
from rich.markup import escape
from rich.table import Table

from harness.analysis import advice, claims
from harness.output.advice_text import crossover_sentences

VERDICT_STYLE = {claims.SUPPORTS: "green", claims.PARTLY: "yellow", claims.DIFFERS: "red"}


def claims_tables(df: pd.DataFrame) -> list[Table]:
    """The claims table, the recommendations and the granularity crossover."""
    table = Table(title="The article's claims on this machine", header_style="bold")
    for column in (
        "aspect",
        "article",
        "measured here",
        "deciding figure",
        "verdict",
        "basis",
        "scenario",
        "python",
    ):
        table.add_column(column, overflow="fold")
    for row in claims.claims_table(df).itertuples():
        style = VERDICT_STYLE.get(row.verdict, "dim")
        table.add_row(
            row.aspect,
            row.article,
            escape(row.measured),
            escape(row.figure),
            f"[{style}]{row.verdict}[/]",
            escape(row.basis),
            row.scenario,
            row.python,
        )
    tables = [table]
    recs = advice.recommendations(df)
    if not recs.empty:
        rec_table = Table(title="Recommendation per scenario", header_style="bold")
        for column in ("scenario", "params", "question", "answer", "figure", "next", "note"):
            rec_table.add_column(column, overflow="fold")
        for r in recs.itertuples():
            rec_table.add_row(
                r.scenario,
                r.params if r.params != "{}" else "",
                r.question,
                escape(r.answer),
                escape(r.figure),
                escape(r.runner_up),
                escape(r.note),
            )
        tables.append(rec_table)
    cross = advice.crossover(df)
    if not cross.empty:
        cross_table = Table(
            title="Granularity: from which task size every longer one keeps 80% efficiency",
            header_style="bold",
        )
        cross_table.add_column("finding", overflow="fold")
        cross_table.add_column("task durations tried")
        for sentence, tried in zip(crossover_sentences(cross), cross["tried"], strict=True):
            cross_table.add_row(escape(sentence), tried)
        tables.append(cross_table)
    return tables
