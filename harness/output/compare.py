"""compare's results as a terminal table, markdown, CSV or JSON, with its warnings: a
`CompareView` that the format registry's writers read (`formats.render`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from harness.analysis.compare import Comparison
from harness.measure import stats
from harness.output.formats import markdown_table
from harness.units import fmt_value

__all__ = ["CompareView", "caption", "lock_warning", "rich_table", "to_markdown", "warnings"]


# Output ---------------------------------------------------------------------------------


def _fmt(value: float, unit: str = "") -> str:
    return fmt_value(value, unit)


def _interval(r: dict) -> str:
    if not math.isfinite(r["ci_low"]):
        return "-"
    return f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] {stats.level_text(r['ci_level'])}"


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


def _shows_python(result: Comparison) -> bool:
    """The python column, when it tells rows apart or says which interpreters were matched."""
    rows = result.rows
    if "python" not in rows or rows.empty:
        return False
    return rows["python"].nunique() > 1 or rows["python"].astype(str).str.contains("->").any()


def headers(result: Comparison) -> list[str]:
    if not _shows_python(result):
        return HEADERS
    return [*HEADERS[:4], "python", *HEADERS[4:]]


def _display(result: Comparison) -> list[tuple[list[str], str]]:
    """Cells of each row, and the row's change (to pick its colour)."""
    rows = []
    python = _shows_python(result)
    for r in result.rows.to_dict("records"):
        change = r["change"]
        if change == "failed":
            change += f" ({r['status_contender']})"
        elif change.startswith("too few") or (change == "same" and r.get("note")):
            change += f" ({r['note']})"
        cells = [
            str(r.get("scenario", "")),
            str(r.get("backend", "*")),
            str(r.get("workers", "*")),
            str(r.get("params", "*")),
            *([str(r.get("python", "*"))] if python else []),
            _fmt(r["baseline_median"], result.info.unit) + f" ({_processes(r['n_baseline'])})",
            _fmt(r["contender_median"], result.info.unit) + f" ({_processes(r['n_contender'])})",
            f"{r['ratio']:.3f}x" if math.isfinite(r["ratio"]) else "-",
            _interval(r),
            _fmt(r["p_adjusted"]),
            change,
        ]
        rows.append((cells, r["change"]))
    return rows


def warnings(result: Comparison) -> list[str]:
    """Why a verdict is missing or weak: one process a side, failures, unmatched cases."""
    out = []
    rows = result.rows
    few = rows[rows["change"].str.startswith("too few")]
    if not few.empty:
        out.append(
            f"{len(few)} case(s) have one process (round) on a side: its repeats share one "
            "memory layout, hash seed and core, so they cannot tell a change from the "
            "difference between two processes, and no change is called; --rounds 3 or more "
            "on both sides gives the test processes to compare."
        )
    tested = rows[rows["p_value"].notna()] if "p_value" in rows else rows.iloc[0:0]
    if len(tested) > 1:
        out.append(
            f"{len(tested)} cases tested together: Holm's adjustment keeps the chance of any "
            f"false change among them at most {result.alpha:g}."
        )
    unmatched = {side: n for side, n in result.unmatched.items() if n}
    if unmatched:
        sides = " and ".join(f"{n} {side}" for side, n in unmatched.items())
        out.append(
            f"{sides} case(s) have no match on the other side (not shown); "
            "--ignore workers (or backend, params, python) can loosen the match."
        )
    failed = rows[rows["change"] == "failed"]
    if not failed.empty:
        out.append(f"{len(failed)} case(s) failed in the contender but not in the baseline.")
    lock = lock_warning(result)
    if lock:
        out.append(lock)
    return out


def _methods(result: Comparison) -> str:
    """The tests the rows used, as the table's `test` column names them."""
    if result.rows.empty or "test" not in result.rows:
        return "none"
    return "; ".join(sorted(set(result.rows["test"].dropna().astype(str)))) or "none"


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


def lock_warning(result: Comparison) -> str | None:
    """One line when the two sides may not have run the same packages: their runs were set
    up from different uv.locks, or a run recorded no lock. None when every run has one."""
    state = result.lock_state
    if state in (None, "same"):
        return None
    unknown = [run for side in result.locks.values() for run, h in side.items() if h is None]
    if state == "different":
        sides = "; ".join(
            f"{side} {', '.join(sorted({_short(h) for h in hashes.values() if h}))}"
            for side, hashes in result.locks.items()
        )
        also = f"; {len(unknown)} run(s) recorded none" if unknown else ""
        return (
            f"runs set up from different locks (uv.lock sha256 {sides}{also}): their package "
            "versions may differ; run.json's software.packages says which."
        )
    named = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
    return (
        f"lock unknown for {len(unknown)} run(s) ({named}): set up without uv.lock (a wheel, "
        "pip on the ranges, or before runs recorded it), so the package versions on the two "
        "sides may differ unseen."
    )


def caption(result: Comparison) -> str:
    better = result.info.better
    direction = f"{better} is better" if better != "none" else "no better direction"
    return (
        f"{result.metric} ({direction}); one value per case process (the median of its "
        f"repeats); ratio = contender / baseline; interval: {_methods(result)} at "
        f"{1 - result.alpha:.0%}; a change is called only when that interval lies wholly "
        f"beyond {result.threshold:.0%}, with Holm's adjustment over the cases (p: "
        f"adjusted). baseline: {', '.join(result.baseline_runs)}; contender: "
        f"{', '.join(result.contender_runs)}"
    )


HEADERS = ["scenario", "backend", "workers", "params", "baseline", "contender", "ratio"]
HEADERS += ["interval (level)", "p (Holm)", "change"]


def _style(result: Comparison, change: str) -> str:
    better_word, worse_word = result.words
    if change == "failed":
        return "red bold"
    if change == "skipped":
        return "dim"
    if change.startswith("too few"):
        return "yellow"
    if change == "same" or change == "n/a":
        return "dim"
    if result.info.better == "none":
        return ""
    return "green" if change == better_word else "red" if change == worse_word else ""


def rich_table(result: Comparison) -> Table:
    table = Table(title=f"compare {result.metric}", caption=caption(result), header_style="bold")
    for name in headers(result):
        table.add_column(name, justify="left" if name in ("backend", "change") else "right")
    for cells, change in _display(result):
        style = _style(result, change)
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        table.add_row(*cells)
    return table


def to_markdown(result: Comparison) -> str:
    names = headers(result)
    right = [h for h in names if h not in ("scenario", "backend", "params", "python", "change")]
    table = markdown_table(names, (cells for cells, _ in _display(result)), right=right)
    notes = "".join(f"\n> {w}\n" for w in warnings(result))
    return f"{table}\n\n{caption(result)}\n{notes}"


def document(result: Comparison) -> dict[str, Any]:
    """The comparison as `--format json` gives it: the settings, warnings and every case."""
    return {
        "format": "harness-compare",
        "version": 1,
        "metric": result.metric,
        "unit": result.info.unit,
        "meaning": result.info.description,
        "better": result.info.better,
        "higher_is_better": result.higher_is_better,
        "per": "process",
        "threshold": result.threshold,
        "alpha": result.alpha,
        "normalize": result.normalize,
        "baseline_runs": result.baseline_runs,
        "contender_runs": result.contender_runs,
        "warnings": warnings(result),
        "locks": {"state": result.lock_state, **result.locks},
        "lock_warning": lock_warning(result),
        "cases": json.loads(result.rows.to_json(orient="records")),
    }


@dataclass
class CompareView:
    """A comparison (`compare`, `ab`) as each text format shows it."""

    result: Comparison

    def terminal(self) -> list[RenderableType]:
        return [rich_table(self.result), *(f"[yellow]! {w}[/]" for w in warnings(self.result))]

    def markdown(self) -> str:
        return to_markdown(self.result)

    def document(self) -> Mapping[str, Any]:
        return document(self.result)

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        rows = self.result.rows
        return rows.to_dict("records"), list(rows.columns)
