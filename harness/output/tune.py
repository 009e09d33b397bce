"""`harness tune`'s answer: the table of candidates, the winner in words, the snippet.

`analysis.tune.answer` computes it; this module only shows it: the terminal, markdown, a
JSON document and CSV (a row per candidate)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from harness.analysis.tune import COLUMNS, TuneAnswer
from harness.output import formats
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds

TUNE_VERSION = 1
#: Why a candidate was pruned before it ran (each one's own numbers are in the JSON).
PRUNE_TEXT = (
    "4x the best first process with their workers (the fastest sequential batch / 1.5 / "
    "workers: a floor no engine gets under)"
)


def ratio_text(value: Any, low: Any = None, high: Any = None) -> str:
    """'1.76x (1.62-2.12)': a ratio to two decimals, the race's resolution, with its interval
    where it has one (none where it is a point, as the loop's own 1x is)."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    text = f"{float(value):.2f}x"
    if low is not None and high is not None and math.isfinite(float(low)):
        if math.isfinite(float(high)) and float(high) > float(low):
            text += f" ({float(low):.2f}-{float(high):.2f})"
    return text


def _num(value: Any, fmt: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "-"
    return str(fmt(float(value)))


@dataclass
class TuneView:
    answer: TuneAnswer

    def summary(self) -> list[str]:
        """The answer in sentences: the winner and why, the runner-up, whether the race
        decided, what it spent against the budget and the grid, the ratio intervals' level."""
        a = self.answer
        if a.error:
            return [f"no answer: {a.error}"]
        lines = []
        if a.winner is not None:
            w = a.winner
            speedup = ratio_text(w["speedup"], w["speedup_ci_low"], w["speedup_ci_high"])
            level = w.get("speedup_ci_level")
            how = (
                f"{float(level):.1%} interval over its {w['blocks']} processes"
                if level is not None and math.isfinite(float(level))
                else f"no interval from {w['blocks']} processes"
            )
            lines.append(
                f"winner: {w['candidate']}, {speedup} the sequential loop's speed ({how}); "
                f"start-up {_num(w['startup_s'], fmt_seconds)}, "
                f"{_num(w['worker_uss_bytes'], fmt_bytes)} per worker. Chosen as {a.why}."
            )
        if a.runner_up is not None:
            r = a.runner_up
            lines.append(
                f"runner-up: {r['candidate']}, "
                f"{ratio_text(r['ratio_to_winner'], r['ratio_ci_low'], r['ratio_ci_high'])} the "
                "winner's time"
            )
        decided = {
            "one survivor": "decided: every other candidate is slower",
            "tie": f"decided: the ones left are within {a.indifference:.0%} of each other",
        }.get(a.stopped, f"not decided: the budget ran out with {a.left} candidates left that "
                         "the race could not yet separate")  # fmt: skip
        lines.append(
            f"{decided} (confidence {a.confidence:.0%} that the fastest was never eliminated, "
            f"over every look). {a.blocks} blocks in {a.spent_s:.0f} s of a {a.budget_s:.0f} s "
            f"budget; every candidate run as often would have taken at least "
            f"{a.grid_s:.0f} s."
            if math.isfinite(a.grid_s)
            else f"{decided}."
        )
        if math.isfinite(a.ratio_alpha):
            lines.append(
                f"ratio intervals: candidate time / winner time over their blocks in common, "
                f"one-sided level {a.ratio_alpha:.2g} on each side (the last look's, "
                "simultaneous over the race's looks and rivals)"
            )
        return lines

    def terminal(self) -> list[Any]:
        table = Table(title="tune: candidates", header_style="bold")
        for name in ("candidate", "status", "blocks", "wall", "speedup", "time / winner's",
                     "start-up", "mem/worker", "overhead/task"):  # fmt: skip
            table.add_column(name, overflow="fold")
        for r in self.answer.rows.to_dict("records"):
            table.add_row(
                str(r["candidate"]),
                str(r["status"]),
                str(r["blocks"]),
                _num(r[Metric.WALL_S], fmt_seconds),
                ratio_text(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"]),
                ratio_text(r["ratio_to_winner"], r["ratio_ci_low"], r["ratio_ci_high"]),
                _num(r[Metric.STARTUP_S], fmt_seconds),
                _num(r[Metric.WORKER_USS_BYTES], fmt_bytes),
                _num(r[Metric.OVERHEAD_P50_S], fmt_seconds),
            )
        out: list[Any] = [table, *(Text(line) for line in self.summary())]
        reasons = self.reasons()
        if reasons:
            out += ["why candidates left:", *(Text(line) for line in reasons)]
        if self.answer.snippet:
            out += ["run it this way:", Syntax(self.answer.snippet, "python", theme="ansi_dark")]
        return out

    def reasons(self) -> list[str]:
        """A line per candidate that left, but one line for all those never started (the
        arithmetic floor): 26 candidates of a waiting task would be 20 such lines."""
        lines, unrun = [], []
        for r in self.answer.rows.to_dict("records"):
            if not r["reason"]:
                continue
            if r["status"] == "not run":
                unrun.append(str(r["candidate"]))
            else:
                lines.append(f"  {r['candidate']}: {r['reason']}")
        if unrun:
            lines.append(
                f"  not run, as their batch could not take under {PRUNE_TEXT}: " + ", ".join(unrun)
            )
        return lines

    def markdown(self) -> str:
        headers = ["candidate", "status", "blocks", "wall", "speedup", "time / winner's"]
        rows = [
            [r["candidate"], r["status"], r["blocks"], _num(r[Metric.WALL_S], fmt_seconds),
             ratio_text(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"]),
             ratio_text(r["ratio_to_winner"], r["ratio_ci_low"], r["ratio_ci_high"])]
            for r in self.answer.rows.to_dict("records")
        ]  # fmt: skip
        text = formats.markdown_table(headers, rows)
        text += "\n\n" + "\n\n".join(self.summary())
        if self.answer.snippet:
            text += f"\n\n```python\n{self.answer.snippet}```\n"
        return text

    def _records(self) -> list[dict[str, Any]]:
        return [{k: formats.plain(r.get(k)) for k in COLUMNS}
                for r in self.answer.rows.to_dict("records")]  # fmt: skip

    def document(self) -> Mapping[str, Any]:
        a = self.answer

        def brief(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {k: formats.plain(row.get(k)) for k in COLUMNS}

        return {
            "format": "harness-tune",
            "version": TUNE_VERSION,
            "winner": brief(a.winner),
            "runner_up": brief(a.runner_up),
            "decided": a.stopped in ("one survivor", "tie"),
            "stopped": a.stopped,
            "why": a.why,
            "confidence": a.confidence,
            "indifference": a.indifference,
            "candidates": self._records(),
            "blocks": a.blocks,
            "budget_s": a.budget_s,
            "spent_s": a.spent_s,
            "grid_s": formats.plain(a.grid_s),
            "snippet": a.snippet,
            "probe": a.probe,
            "error": a.error or None,
        }

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        return self._records(), COLUMNS
