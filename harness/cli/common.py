"""What every command shares: the consoles, the options of the reading commands (their
choices and help from the format table, `output/formats.py`), bad input turned into one line
(`InputError`), and printing what a format's writer gave back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

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


def format_option(command: str, default: str = "") -> Any:
    """`--format` of `command`: its choices and what each is, from the format table."""
    return typer.Option("--format", help=formats.help_text(command, default))


#: `--format` of the commands that print (show, claims, list, compare, ab): one option, its
#: choices from the format table, one check there (harness.output.formats.get).
FormatOption = Annotated[str, format_option("show")]


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


def _print(out: str | list[Any]) -> None:
    """What a text format's writer gave back: text as it is on stdout, or the terminal's
    tables and lines through the console."""
    if isinstance(out, str):
        sys.stdout.write(out)
        return
    for part in out:
        console.print(part)
