"""Assembles a report: a title page, figures per scenario, and the table of every case."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from harness import analysis, fingerprint
from harness.report import figures, style


def build(df: pd.DataFrame, runs: list[dict[str, Any]]) -> list[tuple[str, Figure]]:
    """Every page of the report, in order, as (name, figure)."""
    style.apply()
    table = analysis.case_table(df)
    pages: list[tuple[str, Figure]] = [("title", title_page(table, runs))]
    for scenario in sorted(df["scenario"].unique()):
        for name, make in (
            ("throughput", lambda s: figures.throughput(df, s)),
            ("speedup", lambda s: figures.speedup(table, s)),
            ("startup", lambda s: figures.startup(df, s)),
        ):
            fig = make(scenario)
            if fig is not None:
                pages.append((f"{scenario}-{name}", fig))
    pages.append(("cases", case_table_page(table)))
    return pages


def write_pdf(pages: list[tuple[str, Figure]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with PdfPages(tmp, metadata={"Title": "harness report", "Creator": "harness"}) as pdf:
        for _, fig in pages:
            pdf.savefig(fig)
            plt.close(fig)
    tmp.replace(path)
    return path


def write_images(pages: list[tuple[str, Figure]], folder: Path, fmt: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, fig) in enumerate(pages, 1):
        target = folder / f"{i:02d}-{name}.{fmt}"
        fig.savefig(target, format=fmt)
        plt.close(fig)
        out.append(target)
    return out


def headline(table: pd.DataFrame, scenario: str) -> str:
    ok = table[(table["scenario"] == scenario) & (table["status"] == "ok")]
    if ok.empty:
        return f"{scenario}: no successful case."
    best = ok.sort_values("median").iloc[0]
    text = (
        f"{scenario}: fastest is {best['backend']} with {best['workers']} workers, "
        f"median {best['median']:.3g} s per batch"
    )
    if pd.notna(best.get("speedup")):
        text += f", {best['speedup']:.2f}x the sequential loop"
    return text + "."


def title_page(table: pd.DataFrame, runs: list[dict[str, Any]]) -> Figure:
    fig = plt.figure(figsize=figures.A4_LANDSCAPE)
    fig.text(0.06, 0.92, "harness report", fontsize=26, weight="bold")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scenarios = sorted(table["scenario"].unique()) if not table.empty else []
    lines = [f"generated {stamp}", f"scenarios: {', '.join(scenarios) or '-'}", ""]
    lines.append("runs and machines:")
    for run in runs:
        fp = run.get("fingerprint", {})
        version = fp.get("software", {}).get("packages", {}).get("harness", "?")
        commit = (fp.get("software", {}).get("git", {}) or {}).get("commit") or "?"
        lines.append(f"  {run.get('run_id')}  ({run.get('started', '')[:19]})")
        lines.append(f"    {fingerprint.short(fp)}")
        lines.append(f"    harness {version} @ {commit[:10]}   command: {run.get('command', '')}")
    lines += ["", "headline results:"]
    lines += [f"  {headline(table, s)}" for s in scenarios]
    fig.text(0.06, 0.85, "\n".join(lines), fontsize=10, va="top", family="monospace")
    return fig


def case_table_page(table: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=figures.A4_LANDSCAPE)
    ax.axis("off")
    ax.set_title("every case: median wall time with 95% bootstrap interval", loc="left")
    if table.empty:
        return fig
    cols = ["scenario", "backend", "workers", "status", "median", "ci", "cv", "speedup"]
    rows = []
    for r in table.itertuples(index=False):
        flag = " (unstable)" if r.unstable is True else ""
        rows.append(
            [
                r.scenario,
                r.backend,
                r.workers,
                r.status,
                f"{r.median:.4g} s" if pd.notna(r.median) else "-",
                f"[{r.ci_low:.4g}, {r.ci_high:.4g}]" if pd.notna(r.ci_low) else "-",
                (f"{r.cv:.1%}" if pd.notna(r.cv) else "-") + flag,
                f"{r.speedup:.2f}x" if pd.notna(r.speedup) else "-",
            ]
        )
    tbl = ax.table(cellText=rows[:40], colLabels=cols, loc="upper left", cellLoc="left")
    tbl.auto_set_font_size(False)
    tbl.set_fontsize(8)
    tbl.scale(1, 1.2)
    for (i, _), cell in tbl.get_celld().items():
        if i > 0 and rows[i - 1][3] != "ok":
            cell.set_facecolor("#f8d7da")
        elif i > 0 and "unstable" in rows[i - 1][6]:
            cell.set_facecolor("#fff3cd")
    return fig
