"""`harness timeline`: one run's task records in the terminal, and one case's Gantt chart.

Without a case: a table of the run's cases that have task records (their median-makespan
round). With one: that round's figures, a row per worker with its busy fraction and a strip
of its time (in service or idle), and the mean phases; `--output` draws the chart as PNG or
SVG with matplotlib's Agg canvas (no pyplot, no display).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness import results
from harness.analysis import timelines
from harness.errors import InputError
from harness.output import formats
from harness.output.trace import natural, track_name
from harness.protocol import Metric
from harness.units import fmt_number, fmt_seconds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STRIP_WIDTH = 60
#: Strip cells: most of the cell in service, some of it, none.
BUSY, PART, IDLE = "█", "▒", "·"


class TimelineError(InputError):
    """A timeline that cannot be shown as asked: one line naming the run or the flag."""


def load(run_dir: Path) -> pd.DataFrame:
    """The run's task records; a run without any is one line saying why that may be."""
    tasks = results.read_frame(run_dir, results.TASKS)
    if tasks.empty:
        raise TimelineError(f"{run_dir}: {timelines.NO_TASKS}")
    return tasks


def match_case(tasks: pd.DataFrame, text: str) -> str:
    """The case id `text` names: the id itself, else the one case it begins or is part of."""
    ids = sorted(set(tasks["case_id"].astype(str)))
    if text in ids:
        return text
    for found in ([i for i in ids if i.startswith(text)], [i for i in ids if text in i]):
        if len(found) == 1:
            return found[0]
        if found:
            raise TimelineError(
                f"--case {text!r}: matches {len(found)} cases, give more of one: {', '.join(found)}"
            )
    raise TimelineError(
        f"--case {text!r}: no case with task records by that name; the run's "
        f"cases: {', '.join(ids)}"
    )


def pick_round(tasks: pd.DataFrame, case_id: str, round_no: int | None) -> pd.DataFrame:
    """The case's tasks of round `round_no`, or of its median-makespan round."""
    case = tasks[tasks["case_id"] == case_id]
    if round_no is None:
        return timelines.representative(case)
    rounds = sorted(int(r) for r in case["round"].unique())
    if round_no not in rounds:
        raise TimelineError(
            f"--round {round_no}: {case_id} has task records of round(s) "
            f"{', '.join(map(str, rounds))}"
        )
    return case[case["round"] == round_no]


def _efficiency(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.0%}"


def cases_table(tasks: pd.DataFrame) -> Table:
    """Every case with task records, its median-makespan round: how its batch went."""
    shapes = timelines.shapes(timelines.representative(tasks))
    rounds = tasks.groupby("case_id", observed=True)["round"].nunique()
    table = Table(
        "case",
        "round",
        "tasks",
        "makespan",
        "schedule eff.",
        "dispatch",
        "service",
        "return",
        header_style="bold",
        caption="each case's median-makespan round; dispatch, service and return "
        "are means per task",
    )
    for column in table.columns[1:]:
        column.justify = "right"
    for row in shapes.sort_values("case_id").to_dict("records"):
        table.add_row(
            escape(str(row["case_id"])),
            f"{row['round']} of {rounds[row['case_id']]}",
            str(row["tasks"]),
            fmt_seconds(row[Metric.MAKESPAN_S]),
            _efficiency(row[Metric.SCHEDULE_EFFICIENCY]),
            *(fmt_seconds(row[phase]) for phase in timelines.PHASES),
        )
    return table


def strip(spans: list[tuple[float, float]], t0: float, t1: float, width: int = STRIP_WIDTH) -> str:
    """A worker's time from t0 to t1 in `width` cells: BUSY where it ran a task for at least
    half the cell, PART for less, IDLE for none of it."""
    cell = (t1 - t0) / width if t1 > t0 else 0.0
    covered = [0.0] * width
    for start, end in spans:
        if cell <= 0:
            break
        first, last = int((start - t0) // cell), int((end - t0) // cell)
        for i in range(max(first, 0), min(last, width - 1) + 1):
            lo, hi = t0 + i * cell, t0 + (i + 1) * cell
            covered[i] += max(0.0, min(end, hi) - max(start, lo))
    return "".join(
        BUSY if c >= cell / 2 else PART if c > 0 else IDLE for c in (min(c, cell) for c in covered)
    )


def _figures_table(shape: dict) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    rows = [
        ("makespan", fmt_seconds(shape[Metric.MAKESPAN_S]), "first submit to last result"),
        (
            "ideal makespan",
            fmt_seconds(shape[Metric.IDEAL_MAKESPAN_S]),
            "the tasks' service time shared evenly over the workers",
        ),
        ("schedule efficiency", _efficiency(shape[Metric.SCHEDULE_EFFICIENCY]), "ideal / makespan"),
        (
            "straggler ratio",
            f"{fmt_number(shape[Metric.STRAGGLER_RATIO])}x",
            "the longest task's service over the median's",
        ),
        (
            "least busy worker",
            _efficiency(shape[Metric.WORKER_BUSY_MIN]),
            "its share of the makespan in service",
        ),
    ]
    rows += [
        (f"mean {text.split(':')[0]}", fmt_seconds(shape[phase]), text.split(": ")[1])
        for phase, text in timelines.PHASES.items()
    ]
    if shape[Metric.CLOCK_UNCERTAINTY_S] > 0:
        rows.append(
            (
                "clock uncertainty",
                fmt_seconds(shape[Metric.CLOCK_UNCERTAINTY_S]),
                "gaps across nodes below it are not facts",
            )
        )
    for name, value, note in rows:
        table.add_row(name, Text(value, style="bold", justify="right"), Text(note, style="dim"))
    return table


def _workers_table(group: pd.DataFrame) -> Table:
    t0, t1 = group["submit_s"].min(), group["arrival_s"].max()
    busy = timelines.workers(group).set_index("worker")
    table = Table(
        "worker",
        "tasks",
        "busy",
        f"in service over the makespan ({BUSY} busy, {PART} partly, {IDLE} idle)",
        header_style="bold",
    )
    table.columns[1].justify = table.columns[2].justify = "right"
    for worker in sorted(busy.index, key=natural):
        rows = group[group["worker"] == worker]
        spans = list(zip(rows["start_s"], rows["end_s"], strict=True))
        table.add_row(
            escape(track_name(rows.iloc[0].to_dict())),
            str(busy.loc[worker, "tasks"]),
            _efficiency(busy.loc[worker, "busy_fraction"]),
            strip(sorted(spans), t0, t1),
        )
    return table


def case_view(group: pd.DataFrame, all_rounds: int, chosen: bool) -> list[RenderableType]:
    """One case and round in the terminal: what it is, its figures, its workers."""
    first = group.iloc[0]
    shape = timelines.shapes(group).iloc[0].to_dict()
    which = "as asked (--round)" if chosen else "the median makespan"
    header = Text.assemble(
        (str(first["case_id"]), "bold"),
        f"  round {first['round']} of {all_rounds} ({which}), {len(group)} tasks on "
        f"{first['workers']} workers, run {first['run_id']}",
    )
    return [header, _figures_table(shape), _workers_table(group)]


def one_case(
    tasks: pd.DataFrame, text: str, round_no: int | None
) -> tuple[pd.DataFrame, list[RenderableType]]:
    """The case `text` names (`match_case`): the tasks of its round, and how they read."""
    case_id = match_case(tasks, text)
    group = pick_round(tasks, case_id, round_no)
    rounds = tasks.loc[tasks["case_id"] == case_id, "round"].nunique()
    return group, case_view(group, rounds, chosen=round_no is not None)


def figure(group: pd.DataFrame):
    """The case's Gantt chart: the report's panel for one case, with its figures above."""
    from harness.output.reports.timeline_figures import case_figure

    first = group.iloc[0]
    shape = timelines.shapes(group).iloc[0]
    return case_figure(
        group,
        f"{first['case_id']} · round {first['round']}: makespan "
        f"{fmt_seconds(shape[Metric.MAKESPAN_S])} (dashed), schedule efficiency "
        f"{_efficiency(shape[Metric.SCHEDULE_EFFICIENCY])}",
    )


def write_figure(group: pd.DataFrame, path: Path) -> Path:
    """The Gantt chart as PNG or SVG, by `path`'s extension (`formats.for_output`), written
    whole or not at all."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    row = formats.for_output("timeline", None, path)
    fig = figure(group)
    FigureCanvasAgg(fig)
    results.write_atomic(path, row.write(fig))
    return path


def _image(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=150)
    return buffer.getvalue()


def png_bytes(fig: Figure) -> bytes:
    return _image(fig, "png")


def svg_bytes(fig: Figure) -> bytes:
    return _image(fig, "svg")
