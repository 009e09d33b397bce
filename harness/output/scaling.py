"""`harness scaling`: one row per swept family, the fitted model in numbers and in words.

The rows are `analysis.scaling.fit_scaling`'s; this module only shows them: the terminal
table, markdown, a JSON document (a list of rows under `families`) and CSV."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.table import Table

from harness.analysis import scaling
from harness.output import formats
from harness.units import fmt_number

#: The JSON and CSV fields: the fits' columns, less the side (A/B runs only) and γ (the
#: scale of one worker, which the curve needs but a reader does not).
FIELDS = [c for c in scaling.COLUMNS if c not in ("side", "gamma")]
SCALING_VERSION = 1


def _share(value: Any, low: Any, high: Any) -> str:
    """'4.0% (2.1-6.3%)': a fraction and its interval as percentages."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    text = f"{100 * float(value):.1f}%"
    if low is not None and high is not None and math.isfinite(float(low)):
        text += f" ({100 * float(low):.1f}-{100 * float(high):.1f}%)"
    return text


def _coherency(row: Mapping[str, Any]) -> str:
    """β as fitted; under Amdahl's law (β = 0 chosen) the most the USL still allows."""
    if row["model"] == "amdahl":
        high = row.get("beta_ci_high")
        allows = (
            f"; data allow up to {100 * float(high):.1f}%"
            if high is not None and math.isfinite(float(high))
            else ""
        )
        return f"0 (Amdahl{allows})"
    return _share(row["beta"], row["beta_ci_low"], row["beta_ci_high"])


def _workers(value: Any, low: Any = None, high: Any = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "none in reach"
    text = fmt_number(float(value))
    if low is not None and high is not None and math.isfinite(float(low)):
        text += f" ({fmt_number(float(low))}-{fmt_number(float(high))})"
    return text


@dataclass
class ScalingView:
    """The fits of one or more runs (`fit_scaling`'s frame)."""

    fits: pd.DataFrame

    def _records(self) -> list[dict[str, Any]]:
        rows = []
        for row in self.fits.to_dict("records"):
            rec = {k: formats.plain(row.get(k)) for k in FIELDS}
            rec["flags"] = list(row.get("flags") or [])
            rows.append(rec)
        return rows

    def _held(self) -> bool:
        """Whether any family holds something fixed (a node sweep): then a column says what."""
        return "held" in self.fits and bool(self.fits["held"].astype(str).str.len().gt(0).any())

    def terminal(self) -> list[Any]:
        axes = sorted(set(self.fits["axis"].astype(str))) if "axis" in self.fits else []
        title = f"where adding {' or '.join(axes) or 'workers'} stops paying"
        table = Table(title=title, header_style="bold")
        held = self._held()
        for name in (
            "scenario",
            "backend",
            "params",
            *(["held"] if held else []),
            "levels",
            "model",
            "contention (α)",
            "coherency (β)",
            "peak N*",
            "knee",
            "verdict",
        ):
            table.add_column(name, overflow="fold")
        for r in self.fits.to_dict("records"):
            table.add_row(
                str(r["scenario"]),
                str(r["backend"]),
                str(r["params"]),
                *([str(r["held"])] if held else []),
                str(r["levels"]),
                str(r["model"]),
                _share(r["alpha"], r["alpha_ci_low"], r["alpha_ci_high"]),
                _coherency(r),
                _workers(r["peak_workers"], r["peak_ci_low"], r["peak_ci_high"]),
                _workers(r["knee_workers"]),
                str(r["verdict"]),
            )
        notes = []
        if not self.fits.empty:
            levels = sorted({formats.plain(x) for x in self.fits["ci_level"].dropna()})
            scopes = sorted(set(self.fits["ci_scope"].astype(str)))
            notes.append(
                "intervals: a bootstrap over each level's processes, "
                f"{', '.join(f'{100 * v:.0f}%' for v in levels if v is not None)} "
                f"({'; '.join(scopes)}); the model (Amdahl or USL) by the test in its row"
            )
        return [table, *notes]

    def markdown(self) -> str:
        held = self._held()
        headers = [
            "scenario",
            "backend",
            "params",
            *(["held"] if held else []),
            "levels",
            "model",
            "alpha",
            "beta",
            "peak N*",
            "knee",
            "verdict",
        ]
        rows = [
            [
                r["scenario"],
                r["backend"],
                r["params"],
                *([r["held"]] if held else []),
                r["levels"],
                r["model"],
                _share(r["alpha"], r["alpha_ci_low"], r["alpha_ci_high"]),
                _coherency(r),
                _workers(r["peak_workers"], r["peak_ci_low"], r["peak_ci_high"]),
                _workers(r["knee_workers"]),
                r["verdict"],
            ]
            for r in self.fits.to_dict("records")
        ]
        return formats.markdown_table(headers, rows)

    def document(self) -> Mapping[str, Any]:
        return {
            "format": "harness-scaling",
            "version": SCALING_VERSION,
            "families": self._records(),
        }

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        records = [{**r, "flags": "; ".join(r["flags"])} for r in self._records()]
        return records, FIELDS
