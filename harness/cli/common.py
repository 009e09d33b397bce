"""What every command shares: the consoles, the options of the reading commands, bad input
turned into one line (`InputError`), and the summary as text (`show`, `run --json`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness import results
from harness.errors import InputError
from harness.output import formats

# Piped output (a log, a file) gets whole table rows rather than 80 columns of wrapping.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


#: Where the reading commands look for `latest`: the folder `harness run --out` wrote to.
ResultsOption = Annotated[
    Path, typer.Option("--results", help="folder that holds run folders: where 'latest' is")
]

#: `--format` of the reading commands: one option, one check (harness.output.formats).
FormatOption = Annotated[
    str, typer.Option("--format", help="table, markdown (for a PR comment), json or csv")
]


def _split_list(text: str | None, flag: str, cast=str) -> list | None:
    if text is None:
        return None
    try:
        items = [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{flag}: expected a comma-separated list, got {text!r}") from None
    if not items:
        raise InputError(f"{flag}: empty list")
    return items


def _parsed(parse, text: str | None, flag: str):
    """`parse(text, flag)`, its ValueError as one line of bad input; None stays None."""
    if text is None:
        return None
    try:
        return parse(text, flag)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _load(runs: list[str], out: Path = results.RESULTS_DIR):
    dirs = results.run_dirs(runs, out)
    df, problems = results.load_runs(dirs)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    if df.empty:
        raise InputError("no readable measurements in " + ", ".join(map(str, dirs)))
    return df


def _summary_text(table, fmt: str, title: str = "", **extra) -> str:
    """The summary as markdown, json or csv (`show`, `run --json`)."""
    from harness.output import markdown, records

    if fmt == "markdown":
        return markdown.summary_markdown(table, title)
    if fmt == "csv":
        return formats.to_csv(*records.summary_csv_rows(table))
    return formats.to_json(records.summary_document(table, **extra))
