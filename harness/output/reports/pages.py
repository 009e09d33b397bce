"""Assembles a report: a title page, figures per scenario, the table of every case.

Other pages plug in without touching this module: `build` takes page makers for the front
(e.g. the article's claims with measured values), per scenario (e.g. a recommendation) and
for the back. A page maker is a function of the report data (and the scenario) returning
(name, content) pairs. Content is a figure, a `Table` or a `Text`: tables and text stay
data here, so each writer sets them its own way (sheets of paper that continue on the next
one for the PDF, real tables for HTML); `text_page` and `table_page` make the common kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from harness import fingerprint
from harness.analysis import advice
from harness.analysis.summaries import BASELINE, ONE_PROCESS, metric_columns
from harness.measure.stats import UNSTABLE_CV, level_text
from harness.output.reports import (
    cost_figures,
    fit_figures,
    graph_figures,
    latency_figures,
    repeat_figures,
    scaling_figures,
    style,
    timeline_figures,
    tune_figures,
)
from harness.output.reports.data import ReportData, params_label
from harness.protocol import Metric, metric_info
from harness.units import fmt_number, fmt_seconds, fmt_value


@dataclass(frozen=True)
class Table:
    """A table as data: every cell a string, a background per row (None: white).

    `widths` are the columns' shares of the page width; a writer wraps long cells to them.
    """

    title: str
    columns: list[str]
    rows: list[list[str]]
    colors: list[str | None] = field(default_factory=list)
    note: str = ""
    widths: list[float] | None = None


@dataclass(frozen=True)
class Text:
    """Text as data: a title, an optional subtitle, then sections of paragraphs.

    A section is (heading, paragraphs); heading "" for none. A paragraph may hold line
    breaks; a line that starts with spaces is indented as it is.
    """

    title: str
    sections: list[tuple[str, list[str]]]
    subtitle: str = ""


Content = Figure | Table | Text


class Page(NamedTuple):
    """One page of the report: its name (file names, anchors), its content, and the
    scenario it belongs to ("" for the pages before and after the scenarios)."""

    name: str
    content: Content
    scenario: str = ""

    @property
    def title(self) -> str:
        if isinstance(self.content, Table | Text):
            return self.content.title
        return str(self.content.get_label() or self.name)


PageMaker = Callable[[ReportData], Iterable[tuple[str, Content]]]
ScenarioPageMaker = Callable[[ReportData, str], Iterable[tuple[str, Content]]]

#: The figures drawn for every scenario, in page order.
SCENARIO_FIGURES: list[ScenarioPageMaker] = [
    scaling_figures.sweep,
    graph_figures.data_paths,
    scaling_figures.throughput,
    scaling_figures.speedup,
    fit_figures.fits,
    repeat_figures.distribution,
    cost_figures.startup,
    cost_figures.memory,
    latency_figures.latency,
    timeline_figures.gantt,
    timeline_figures.phases,
    cost_figures.memory_over_time,
]

#: The figures of a scenario that `harness tune` raced: the race's own two pages, and the
#: ones that hold case by case. Left out: throughput, speedup, fits and latency, which draw
#: one line or bar per backend and worker count and would merge the candidates that only
#: their batching tells apart; `tune_figures` draws each candidate's speedup instead.
TUNE_FIGURES: list[ScenarioPageMaker] = [
    tune_figures.race,
    tune_figures.intervals,
    repeat_figures.distribution,
    cost_figures.startup,
    cost_figures.memory,
    timeline_figures.gantt,
    timeline_figures.phases,
    cost_figures.memory_over_time,
]


def build(
    data: ReportData,
    front_pages: Sequence[PageMaker] = (),
    scenario_pages: Sequence[ScenarioPageMaker] = (),
    back_pages: Sequence[PageMaker] = (),
) -> list[Page]:
    """Every page of the report, in order, each knowing its scenario."""
    style.apply()
    pages: list[Page] = [Page("title", title_page(data))]
    for make in front_pages:
        pages += [Page(*page) for page in make(data)]
    for scenario in data.scenarios():
        figures = TUNE_FIGURES if data.raced(scenario) else SCENARIO_FIGURES
        for make_scenario in [*figures, *scenario_pages]:
            pages += [Page(*page, scenario) for page in make_scenario(data, scenario)]
    pages += [Page(*page) for page in case_table_pages(data)]
    pages += [Page(*page) for page in metric_table_pages(data)]
    for make in back_pages:
        pages += [Page(*page) for page in make(data)]
    return pages


# Headline and title ------------------------------------------------------------------------


def headline(data: ReportData, scenario: str, machine: str | None = None) -> str:
    """One sentence: the best case against the sequential loop, and the best of each other;
    for a scenario `harness tune` raced, the race's answer."""
    if data.raced(scenario):
        return tune_figures.headline(data, scenario)
    table = data.table
    ok = table[(table["scenario"] == scenario) & (table["status"] == "ok")]
    where = f"{scenario} on {machine}" if machine else scenario
    if machine:
        ok = ok[ok["machine"] == machine]
    failed = table[(table["scenario"] == scenario) & (table["status"] != "ok")]
    if machine:
        failed = failed[failed["machine"] == machine]
    if ok.empty:
        return f"{where}: no case succeeded ({len(failed)} failed)."
    scaled = ok.dropna(subset=["speedup"])
    if scaled.empty:
        best = ok.sort_values("median").iloc[0]
        return (
            f"{where}: fastest is {best['backend']} with {best['workers']} workers "
            f"({fmt_seconds(best['median'])} per batch)."
        )
    ranked = scaled.sort_values("speedup", ascending=False)
    best = ranked.iloc[0]
    rival = ranked[ranked["backend"] != best["backend"]].head(1)
    tie = not rival.empty and advice.intervals_overlap(best, rival.iloc[0], "speedup_")
    claim = "has the highest median speedup" if tie else "is fastest"
    text = (
        f"{where}: {best['backend']} with {best['workers']} workers {claim}, "
        f"{best['speedup']:.2f}x the sequential loop ({_speedup_interval(best)}"
        f"{fmt_seconds(best['median'])} per batch"
    )
    text += f", {params_label(best['params'])})" if ok["params"].nunique() > 1 else ")"
    if tie:
        name = str(rival.iloc[0]["backend"])
        owner = f"{name}'" if name.endswith("s") else f"{name}'s"
        text += f", but its interval overlaps {owner}: no clear winner"
    others = []
    for backend in style.order(scaled["backend"]):
        if backend in (best["backend"], BASELINE):
            continue
        top = scaled[scaled["backend"] == backend]["speedup"].max()
        others.append(f"{backend} {top:.2f}x")
    if others:
        text += "; best of the others: " + ", ".join(others)
    if not failed.empty:
        text += f"; {len(failed)} case(s) failed"
    return text + "."


def title_page(data: ReportData) -> Text:
    """The runs and machines the report reads, and one headline per scenario."""
    scenarios = data.scenarios()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = []
    for run in data.runs:
        fp = run.get("fingerprint", {})
        software = fp.get("software", {})
        packages = software.get("packages", {})  # the distribution was `harness` before 0.3
        version = packages.get("concurrency-harness") or packages.get("harness", "?")
        git = software.get("git") or {}
        commit = (git.get("commit") or "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        label = data.labels.get(run.get("run_id", ""), "?")
        affinity = fp.get("machine", {}).get("cpu_affinity") or []
        quick = "  --quick" if run.get("quick") else ""
        runs.append(
            f"{label}: run {run.get('run_id')}, {run.get('scenario', '')}, started "
            f"{str(run.get('started', ''))[:16].replace('T', ' ')}{quick}\n"
            f"    {fingerprint.short(fp)}, {len(affinity)} cpus usable\n"
            f"    harness {version} @ {commit}"
        )
    headlines = []
    for scenario in scenarios:
        machines = sorted(set(data.table[data.table["scenario"] == scenario]["machine"]))
        for machine in machines if len(machines) > 1 and not data.raced(scenario) else [None]:
            headlines.append(headline(data, scenario, machine))
    return Text(
        "harness report",
        [("Runs and machines", runs), ("Headline", headlines)],
        subtitle=f"scenarios: {', '.join(scenarios) or '-'}    generated {stamp}",
    )


# Generic pages for other engineers' hooks --------------------------------------------------


def text_page(title: str, paragraphs: Sequence[str]) -> Text:
    """A page of text, e.g. a recommendation for one scenario."""
    return Text(title, [("", list(paragraphs))])


def table_page(
    title: str,
    rows: Sequence[Sequence[str]],
    columns: Sequence[str],
    colors: Sequence[str | None] | None = None,
    note: str = "",
    widths: Sequence[float] | None = None,
) -> Table:
    """A table; `colors` gives each row a background (None: white), `widths` each column
    its share of the page (long cells wrap to it)."""
    cells = [[str(c) for c in r] for r in rows]
    return Table(
        title,
        list(columns),
        cells,
        list(colors) if colors else [None] * len(cells),
        note,
        list(widths) if widths else None,
    )


# Every case --------------------------------------------------------------------------------

FAILED_COLOR = "#f8d7da"
UNSTABLE_COLOR = "#fff3cd"


def case_table_pages(data: ReportData) -> list[tuple[str, Table]]:
    """Every case with median, interval and its real level, CV, speedup with its interval,
    and status; failed, unstable and above-ideal cases marked."""
    table = data.table
    if table.empty:
        return []
    several_machines = table["machine"].nunique() > 1
    several_params = table.groupby("scenario")["params"].nunique().max() > 1
    columns = ["scenario", "backend", "workers", "status", "n", "median wall", "interval (level)"]
    columns += ["CV", "tasks/s", "speedup (interval)", "note"]
    widths = [0.08, 0.08, 0.06, 0.05, 0.03, 0.07, 0.15, 0.05, 0.06, 0.12, 0.26]
    if several_params:
        columns.insert(1, "params")
        widths.insert(1, 0.12)
    if several_machines:
        columns.insert(0, "machine")
        widths.insert(0, 0.1)
    widths[-1] = max(0.12, 0.96 - sum(widths[:-1]))
    rows, colors = [], []
    for r in table.to_dict("records"):
        failed = r["status"] != "ok"
        unstable = bool(r.get("unstable") is True)
        cells = [
            r["scenario"],
            f"{r['backend']}[{r['variant']}]" if r.get("variant") else str(r["backend"]),
            str(r["workers"]),
            r["status"],
            str(int(r["n"])) if pd.notna(r.get("n")) else "0",
            fmt_seconds(r["median"]) if pd.notna(r.get("median")) else "-",
            _interval_cell(r),
            f"{r['cv']:.1%}" if pd.notna(r.get("cv")) else "-",
            fmt_number(r.get(Metric.TASKS_PER_S, float("nan"))),
            _speedup_cell(r),
            "FAILED: " + str(r.get("error") or "")[:70] if failed else _case_note(r),
        ]
        if several_params:
            cells.insert(1, params_label(r["params"]))
        if several_machines:
            cells.insert(0, r["machine"])
        rows.append(cells)
        colors.append(FAILED_COLOR if failed else UNSTABLE_COLOR if unstable else None)
    note = (
        "median wall time per batch, with its interval at the level shown and what it "
        "covers: several fresh processes (order statistics of their medians), or within 1 "
        "process (order statistics of its repeats). speedup's interval comes from one "
        "paired log ratio per process (the sequential loop timed beside each repeat; "
        "signed-rank from 6 processes, t below). red: the "
        f"case failed; yellow: unstable, a coefficient of variation above {UNSTABLE_CV:.0%}."
    )
    if (table.get("ci_scope") == ONE_PROCESS).any():
        note += (
            " Within 1 process: repeats miss the variation between processes, and nothing is "
            "called from them; --rounds 3 or more runs each case in fresh processes."
        )
    return [("cases", table_page("Every case", rows, columns, colors, note, widths))]


#: Metric columns a page of the metrics table holds beside the case's own.
METRICS_PER_PAGE = 8


def metric_table_pages(data: ReportData) -> list[tuple[str, Table]]:
    """Every metric the cases measured, one column each (the cases table's, in the
    catalogue's order, `harness export --table cases` has the same numbers), a few metrics
    a page: a metric added to the catalogue shows here with no edit."""
    table = data.table
    if table.empty:
        return []
    metrics = [m for m in metric_columns(table) if table[m].notna().any()]
    if not metrics:
        return []
    several_machines = "machine" in table and table["machine"].nunique() > 1
    several_params = table.groupby("scenario")["params"].nunique().max() > 1
    keys = [
        *(["machine"] if several_machines else []),
        "scenario",
        *(["params"] if several_params else []),
        "case",
    ]
    labels = []
    for r in table.to_dict("records"):
        backend = f"{r['backend']}[{r['variant']}]" if r.get("variant") else str(r["backend"])
        labels.append(
            [
                *([str(r["machine"])] if several_machines else []),
                str(r["scenario"]),
                *([params_label(r["params"])] if several_params else []),
                f"{backend} w{r['workers']}",
            ]
        )
    chunks = [metrics[i : i + METRICS_PER_PAGE] for i in range(0, len(metrics), METRICS_PER_PAGE)]
    note = (
        "per case: the median over its processes of each process's value (of a per-repeat "
        "metric, the median of its repeats); wall: the median that 'Every case' gives with "
        "its interval. What each metric is: the metric catalogue (harness.protocol.METRICS). "
        "'-': not measured in that case."
    )
    pages = []
    for index, chunk in enumerate(chunks):
        infos = [metric_info(m) for m in chunk]
        columns = [*keys, *(i.label for i in infos)]  # the cells carry the units
        rows = [
            [*label, *(fmt_value(float(r[m]), i.unit) for m, i in zip(chunk, infos, strict=True))]
            for label, r in zip(labels, table.to_dict("records"), strict=True)
        ]
        title = "Every metric" + (f" ({index + 1} of {len(chunks)})" if len(chunks) > 1 else "")
        name = "metrics" if len(chunks) == 1 else f"metrics-{index + 1}"
        pages.append((name, table_page(title, rows, columns, note=note)))
    return pages


def _interval_cell(r: dict) -> str:
    """'926 ms - 971 ms (93.7%, 1 process)', or why there is none."""
    if pd.isna(r.get("ci_low")):
        return "-"
    scope = r.get("ci_scope") or ""
    level = level_text(r.get("ci_level", float("nan")))
    return (
        f"{fmt_seconds(r['ci_low'])} - {fmt_seconds(r['ci_high'])} "
        f"({level}{', ' + scope if scope else ''})"
    )


def _speedup_interval(r) -> str:
    """'interval 1.35-2.46 at 96.8%; ' or nothing when the speedup has no interval."""
    if pd.isna(r.get("speedup_ci_low")):
        return ""
    return (
        f"interval {r['speedup_ci_low']:.2f}-{r['speedup_ci_high']:.2f} at "
        f"{level_text(r['speedup_ci_level'])}; "
    )


def _speedup_cell(r: dict) -> str:
    if pd.isna(r.get("speedup")):
        return "-"
    text = f"{r['speedup']:.2f}x"
    if pd.notna(r.get("speedup_ci_low")):
        text += (
            f" ({r['speedup_ci_low']:.2f}-{r['speedup_ci_high']:.2f}, "
            f"{level_text(r['speedup_ci_level'])})"
        )
    return text


def _case_note(r: dict) -> str:
    notes = []
    if r.get("unstable") is True:
        notes.append(f"! unstable: CV above {UNSTABLE_CV:.0%}")
    efficiency = r.get("efficiency_note") or ""
    if efficiency:
        notes.append(f"efficiency {r['efficiency']:.1%}: {efficiency}")
    for note in str(r.get("ci_note") or "").split("; "):
        if note and ("widest interval" not in note or pd.isna(r.get("ci_low"))):
            notes.append(note)  # the level is in the interval's cell already
    if pd.notna(r.get("round_cv")) and r.get("round_cv", 0) > UNSTABLE_CV:
        notes.append(f"CV between processes {r['round_cv']:.0%}")
    return "; ".join(notes)
