"""Markdown ready to paste into a pull request or an issue: the summary, the claims, the list.

The cells are the terminal's (summary.py, harness/units.py); the notes that qualify the numbers
(interval levels, unstable cases) come along as a list under the table, since a number
pasted without them says more than was measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.output.formats import markdown_table, md_cell
from harness.output.summary import TEXT_COLUMNS, summary_cells, summary_notes
from harness.units import fmt_seconds


def summary_markdown(table: pd.DataFrame, title: str = "") -> str:
    """One heading per scenario and host, the summary table, and the notes under it."""
    if table.empty:
        return "no measurements\n"
    headers, rows = summary_cells(table)
    right = [h for h in headers if h not in TEXT_COLUMNS]
    runs = table.drop_duplicates("run_id")
    heading = title or "; ".join(
        f"{r.scenario} on {r.host} (run {r.run_id})" for r in runs.itertuples()
    )
    parts = [f"#### {md_cell(heading)}", "", markdown_table(headers, rows, right=right), ""]
    parts += [f"- {md_cell(note)}" for _, note in summary_notes(table)]
    return "\n".join(parts).rstrip() + "\n"


def claims_markdown(document: Mapping[str, Any]) -> str:
    """The claims table, then one recommendation per scenario, then the crossover."""
    keys = ["aspect", "article", "measured", "figure", "verdict", "basis", "scenario"]
    if len({c.get("python") for c in document["claims"] if c.get("python")}) > 1:
        keys.append("python")  # a verdict per interpreter
    parts = [
        "#### The article's claims on this machine",
        "",
        markdown_table(keys, ([c[k] for k in keys] for c in document["claims"])),
    ]
    verdicts = sorted({c["verdict"] for c in document["claims"]})
    parts += ["", "Verdicts: " + "; ".join(f"*{v}*: {document['verdicts'][v]}" for v in verdicts)]
    recs = document["recommendations"]
    if recs:
        several = len({str(r["params"]) for r in recs}) > 1
        parts += ["", "#### Recommendation per scenario", ""]
        for r in recs:
            where = f" ({_params(r['params'])})" if several and r["params"] else ""
            line = f"- **{r['scenario']}**{where}: {r['question']} **{r['answer']}**"
            line += f": {r['figure']}."
            line += f" Next: {r['next']}." if r["next"] else ""
            line += f" Note: {r['note']}." if r["note"] else ""
            parts.append(line)
    cross = document["crossover"]
    if cross:
        keys = ["backend", "workers", "from task size", "best efficiency", "tried"]
        rows = (
            [
                c["label"],
                c["workers"],
                fmt_seconds(_nan(c["crossover_s"])),
                f"{c['best_efficiency']:.0%}",
                c["tried"],
            ]
            for c in cross
        )
        parts += [
            "",
            "#### Granularity: task size from which every longer one keeps 80% efficiency",
            "",
            markdown_table(keys, rows, right=keys[1:4]),
        ]
    return "\n".join(parts) + "\n"


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def list_markdown(document: Mapping[str, Any]) -> str:
    keys = ["name", "workload", "backends", "description"]
    rows = (
        [
            s["name"],
            s["workload"],
            ",".join(s["backends"]),
            s["description"] if not s["error"] else f"invalid: {s['error']}",
        ]
        for s in document["scenarios"]
    )
    backends = ", ".join(
        b["name"] if b["builtin"] else f"{b['name']} ({b['origin']})" for b in document["backends"]
    )
    workloads = ", ".join(document["workloads"])
    return f"{markdown_table(keys, rows)}\n\n- workloads: {workloads}\n- backends: {backends}\n"
