"""Report pages for the article's claims and the per-scenario recommendation.

They read only the result frames (through harness.analysis.claims and .advice), like every
other page; a claims page appears only when the runs measured at least one claim.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.analysis import advice, claims
from harness.output.advice_text import crossover_sentences, recommendation_sentences
from harness.output.reports.data import ReportData, params_label
from harness.output.reports.pages import Content, Page, build, table_page, text_page

VERDICT_COLOURS = {
    claims.SUPPORTS: "#d4edda",
    claims.PARTLY: "#fff3cd",
    claims.DIFFERS: "#f8d7da",
}


def claims_page(data: ReportData) -> Iterable[tuple[str, Content]]:
    """The article's comparison table beside this machine's values, one verdict a row."""
    table = claims.claims_table(data.df.drop(columns=["machine"], errors="ignore"))
    if table.empty:
        return []
    measured = ~table["verdict"].isin([claims.NO_DATA, claims.NOT_MEASURED])
    if not measured.any():
        return []
    rows = [
        [r.aspect, r.article, r.measured, r.figure, r.verdict, r.basis, r.scenario, r.python]
        for r in table.itertuples()
    ]
    page = table_page(
        "The article's claims, measured here",
        rows,
        [
            "aspect",
            "the article says",
            "measured on this machine",
            "deciding figure",
            "verdict",
            "rule",
            "scenario",
            "python",
        ],
        colors=[VERDICT_COLOURS.get(r[4]) for r in rows],
        note="green: the measurement supports the claim here; yellow: partly; red: it "
        "differs; 'not decided': the interval straddles the rule's threshold, or each case ran "
        "in one process (--rounds 3 or more decides); 'no basis': the "
        "run could not test it (one usable CPU); 'no data': run the scenario named; python: "
        "the interpreter the verdict holds for",
        widths=[0.08, 0.14, 0.23, 0.19, 0.07, 0.18, 0.06, 0.05],
    )
    return [("claims", page)]


def recommendation_page(data: ReportData, scenario: str) -> Iterable[tuple[str, Content]]:
    """The scenario's own question answered, and the granularity crossover (not for a
    scenario `harness tune` raced: the race's answer is its intervals page)."""
    if data.raced(scenario):
        return []
    df = data.df.drop(columns=["machine"], errors="ignore")
    recs = advice.recommendations(df[df["scenario"] == scenario])
    if recs.empty:
        return []
    paragraphs = recommendation_sentences(recs, params_label)
    cross = advice.crossover(df, scenario=scenario)
    paragraphs += crossover_sentences(cross)
    paragraphs.append(
        "Answers are medians over repeats on this machine; where two intervals overlap the "
        "note says so, and the every-case table flags unstable cases."
    )
    return [(f"{scenario}-recommendation", text_page(f"{scenario}: recommendation", paragraphs))]


def full_report(data: ReportData) -> list[Page]:
    """The whole report as `harness report` draws it: figures, claims and advice."""
    return build(data, front_pages=[claims_page], scenario_pages=[recommendation_page])
