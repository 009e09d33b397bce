"""Assembles a report: a title page, figures per scenario, the table of every case.

Other pages plug in without touching this module: `build` takes page makers for the front
(e.g. the article's claims with measured values), per scenario (e.g. a recommendation) and
for the back. A page maker is a function of the report data (and the scenario) returning
(name, figure) pairs; `text_page` and `table_page` draw the common kinds.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from harness import fingerprint
from harness.measure.stats import UNSTABLE_CV, level_text
from harness.render.units import fmt_number, fmt_seconds
from harness.reporting import figures, style
from harness.reporting.data import ReportData, params_label

Page = tuple[str, Figure]
PageMaker = Callable[[ReportData], Iterable[Page]]
ScenarioPageMaker = Callable[[ReportData, str], Iterable[Page]]

#: The figures drawn for every scenario, in page order.
SCENARIO_FIGURES: list[ScenarioPageMaker] = [
    figures.sweep,
    figures.throughput,
    figures.speedup,
    figures.startup,
    figures.memory,
    figures.latency,
    figures.memory_over_time,
]
ROWS_PER_TABLE_PAGE = 24


def build(
    data: ReportData,
    front_pages: Sequence[PageMaker] = (),
    scenario_pages: Sequence[ScenarioPageMaker] = (),
    back_pages: Sequence[PageMaker] = (),
) -> list[Page]:
    """Every page of the report, in order, as (name, figure)."""
    style.apply()
    pages: list[Page] = [("title", title_page(data))]
    for make in front_pages:
        pages += list(make(data))
    for scenario in data.scenarios():
        for make_scenario in [*SCENARIO_FIGURES, *scenario_pages]:
            pages += list(make_scenario(data, scenario))
    pages += case_table_pages(data)
    for make in back_pages:
        pages += list(make(data))
    return pages


# Headline and title ------------------------------------------------------------------------


def headline(data: ReportData, scenario: str, machine: str | None = None) -> str:
    """One sentence: the best case against the sequential loop, and the best of each other."""
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
    best = scaled.sort_values("speedup", ascending=False).iloc[0]
    text = (
        f"{where}: {best['backend']} with {best['workers']} workers is fastest, "
        f"{best['speedup']:.2f}x the sequential loop ({_speedup_interval(best)}"
        f"{fmt_seconds(best['median'])} per batch"
    )
    text += f", {params_label(best['params'])})" if ok["params"].nunique() > 1 else ")"
    others = []
    for backend in style.order(scaled["backend"]):
        if backend in (best["backend"], "sequential"):
            continue
        top = scaled[scaled["backend"] == backend]["speedup"].max()
        others.append(f"{backend} {top:.2f}x")
    if others:
        text += "; best of the others: " + ", ".join(others)
    if not failed.empty:
        text += f"; {len(failed)} case(s) failed"
    return text + "."


def title_page(data: ReportData) -> Figure:
    fig = plt.figure(figsize=figures.A4_LANDSCAPE)
    fig.text(0.05, 0.93, "harness report", fontsize=28, weight="bold", va="top")
    scenarios = data.scenarios()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(
        0.05, 0.86, f"scenarios: {', '.join(scenarios) or '-'}    generated {stamp}",
        fontsize=12, va="top",
    )  # fmt: skip
    lines: list[tuple[str, dict[str, Any]]] = [("Runs and machines", {"weight": "bold"})]
    for run in data.runs:
        fp = run.get("fingerprint", {})
        software = fp.get("software", {})
        packages = software.get("packages", {})  # the distribution was `harness` before 0.3
        version = packages.get("concurrency-harness") or packages.get("harness", "?")
        git = software.get("git") or {}
        commit = (git.get("commit") or "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        machine = data.labels.get(run.get("run_id"), "?")
        affinity = fp.get("machine", {}).get("cpu_affinity") or []
        quick = "  --quick" if run.get("quick") else ""
        lines.append(
            (f"{machine}: run {run.get('run_id')}, {run.get('scenario', '')}, started "
             f"{str(run.get('started', ''))[:16].replace('T', ' ')}{quick}", {})
        )  # fmt: skip
        lines.append((f"    {fingerprint.short(fp)}, {len(affinity)} cpus usable", {}))
        lines.append((f"    harness {version} @ {commit}", {"color": "#555555"}))
    lines.append(("", {}))
    lines.append(("Headline", {"weight": "bold"}))
    for scenario in scenarios:
        machines = sorted(set(data.table[data.table["scenario"] == scenario]["machine"]))
        for machine in machines if len(machines) > 1 else [None]:
            lines.append((headline(data, scenario, machine), {}))
    y = 0.79
    for text, kw in lines:
        wrapped = textwrap.wrap(text, 125, subsequent_indent="    ") or [""]
        for line in wrapped:
            fig.text(0.05, y, line, fontsize=10, va="top", **kw)
            y -= 0.027
        if y < 0.05:
            fig.text(0.05, y, "(more runs than fit on this page)", fontsize=9, style="italic")
            break
    return fig


# Generic pages for other engineers' hooks --------------------------------------------------


def text_page(title: str, paragraphs: Sequence[str], width: int = 120) -> Figure:
    """A page of wrapped text, e.g. a recommendation for one scenario."""
    fig = plt.figure(figsize=figures.A4_LANDSCAPE)
    fig.text(0.05, 0.93, title, fontsize=18, weight="bold", va="top")
    y = 0.85
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, width) or [""]:
            fig.text(0.05, y, line, fontsize=11, va="top")
            y -= 0.032
        y -= 0.02
    return fig


def table_page(
    title: str,
    rows: Sequence[Sequence[str]],
    columns: Sequence[str],
    colors: Sequence[str | None] | None = None,
    note: str = "",
    widths: Sequence[float] | None = None,
) -> Figure:
    """A page holding one table; `colors` gives each row a background (None: white).

    With `widths` (fractions of the page), long cells wrap to their column and rows grow
    to fit, rather than running under their neighbours.
    """
    if widths:
        chars = [max(6, int(w * 150)) for w in widths]
        rows = [
            [textwrap.fill(str(c), n, break_long_words=False, break_on_hyphens=False)
             for c, n in zip(r, chars, strict=False)]
            for r in rows
        ]  # fmt: skip
    note_lines = textwrap.wrap(note, 155) if note else []
    fig, ax = plt.subplots(figsize=figures.A4_LANDSCAPE)
    top = 0.9 - 0.02 * max(0, len(note_lines) - 1)
    fig.subplots_adjust(left=0.03, right=0.97, top=top, bottom=0.06)
    ax.axis("off")
    fig.text(0.03, 0.95, title, fontsize=15, weight="bold", va="top")
    if note_lines:
        fig.text(0.03, 0.915, "\n".join(note_lines), fontsize=9, color="#444444", va="top")
    if not rows:
        ax.text(0.0, 0.9, "(no rows)", fontsize=11)
        return fig
    tbl = ax.table(
        cellText=[list(r) for r in rows], colLabels=list(columns), loc="upper left",
        cellLoc="left", colWidths=list(widths) if widths else None,
    )  # fmt: skip
    tbl.auto_set_font_size(False)
    tbl.set_fontsize(8.5)
    tbl.scale(1, 1.35)
    lines = [max(str(c).count("\n") + 1 for c in r) for r in rows]
    for (i, _), cell in tbl.get_celld().items():
        cell.set_edgecolor("#cccccc")
        cell.PAD = 0.02  # matplotlib pads by 10% of the column: too much for wide ones
        if i > 0 and lines[i - 1] > 1:
            cell.set_height(cell.get_height() * (0.35 + 0.65 * lines[i - 1]))
        if i == 0:
            cell.set_facecolor("#e8e8e8")
            cell.get_text().set_weight("bold")
        elif colors and colors[i - 1]:
            cell.set_facecolor(colors[i - 1])
    return fig


# Every case --------------------------------------------------------------------------------

FAILED_COLOR = "#f8d7da"
UNSTABLE_COLOR = "#fff3cd"


def case_table_pages(data: ReportData) -> list[Page]:
    """Every case with median, interval and its real level, CV, speedup with its interval,
    and status; failed, unstable and above-ideal cases marked."""
    table = data.table
    if table.empty:
        return []
    several_machines = table["machine"].nunique() > 1
    several_params = table.groupby("scenario")["params"].nunique().max() > 1
    columns = ["scenario", "backend", "workers", "status", "n", "median wall", "interval (level)"]
    columns += ["CV", "tasks/s", "speedup (interval)", "note"]
    widths = [0.08, 0.08, 0.05, 0.05, 0.03, 0.07, 0.15, 0.05, 0.06, 0.12, 0.26]
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
            r["backend"],
            str(r["workers"]),
            r["status"],
            str(int(r["n"])) if pd.notna(r.get("n")) else "0",
            fmt_seconds(r["median"]) if pd.notna(r.get("median")) else "-",
            _interval_cell(r),
            f"{r['cv']:.1%}" if pd.notna(r.get("cv")) else "-",
            fmt_number(r.get("tasks_per_s", float("nan"))),
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
        "median wall time per batch over repeats, with its exact interval (order statistics) at "
        "the level shown and what it covers: one process, or rounds pooled. speedup's interval "
        "carries the sequential case's variation too (Hodges-Lehmann). red: the case failed; "
        f"yellow: unstable, the coefficient of variation is above {UNSTABLE_CV:.0%}."
    )
    if (table.get("ci_scope") == "1 process").any():
        note += (
            " One process misses the variation between processes: --rounds 3 or more catches it."
        )
    pages = []
    total = (len(rows) + ROWS_PER_TABLE_PAGE - 1) // ROWS_PER_TABLE_PAGE
    for index in range(total):
        chunk = slice(index * ROWS_PER_TABLE_PAGE, (index + 1) * ROWS_PER_TABLE_PAGE)
        suffix = f" ({index + 1}/{total})" if total > 1 else ""
        fig = table_page(
            f"Every case{suffix}",
            rows[chunk],
            columns,
            colors[chunk],
            note=note,
            widths=widths,
        )
        pages.append((f"cases-{index + 1}" if total > 1 else "cases", fig))
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
        notes.append(f"round CV {r['round_cv']:.0%}")
    return "; ".join(notes)
