"""Every output format in one table: what each writes, the commands that take it, the
file names that name it, and its writer (as hyperfine's exporters: one list, one match).

A row's `kind` says what its writer is given and gives back:

- `text` (`show`, `claims`, `list`, `compare`, `ab`, `run`): a `TextView`, the command's
  output as an object; back comes text for stdout, or the terminal's renderables (`table`).
- `frame` (`export`): a DataFrame; back come the file's bytes.
- `report` (`report`): the report's pages, the file or folder to write and the paper size;
  back comes how many pages or files were written.
- `figure` (`timeline`): a matplotlib figure; back come the image's bytes.

The CLI's `--format` and `--output` options take their choices and help from here, so
`--help` cannot say other than what a command writes.

**One rule for a file** (`for_output`): `--format` names the format when given; else the
extension of `-o` does; else the command's default (its first). An extension that names no
format the command writes, or another than `--format`'s, is bad input: one line naming
`--output`, exit code 2, nothing written. A name without an extension names no format, so it
takes `--format`'s or the default (a folder of images takes such a name).

The table cells come from the same place as the terminal's (harness/units.py), so a figure
reads alike in a terminal, a pull request comment and a spreadsheet.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import InputError

if TYPE_CHECKING:
    from rich.console import RenderableType

HERE = "harness.output.formats"


@dataclass(frozen=True)
class Format:
    """One row of the table: a format of one kind, the commands that write it, the
    extensions that name it on `-o`, and its writer ("module:function", imported when used,
    so the table costs no import of pandas or matplotlib)."""

    name: str
    what: str
    kind: str
    commands: tuple[str, ...]
    writer: str
    suffixes: tuple[str, ...] = ()
    #: Writes a folder of files, whose name has no extension.
    folder: bool = False
    #: Binary: written to a file, never to a terminal.
    binary: bool = False

    def write(self, *subject: Any) -> Any:
        """The writer's answer for `subject` (what `kind` says it is given)."""
        module, name = self.writer.split(":")
        return getattr(importlib.import_module(module), name)(*subject)

    def takes(self, target: Path) -> bool:
        """Whether `target`'s name fits: no extension, or one of this format's."""
        suffix = target.suffix.lower()
        return not suffix or (not self.folder and suffix in self.suffixes)

    def names(self) -> str:
        """The names this format is written under, for a line of bad input."""
        if self.folder:
            return "a folder (its name without an extension)"
        return "a " + " or ".join(self.suffixes) + " file"


TEXT = ("show", "claims", "list", "compare", "ab", "scaling", "tune")
REPORT_WRITERS = "harness.output.reports.writers"

#: Every format of every command; a command's formats in its order, its default first.
TABLE: tuple[Format, ...] = (
    Format("table", "the terminal's", "text", (*TEXT, "run"), f"{HERE}:write_table"),
    Format("markdown", "for a pull request comment", "text", TEXT, f"{HERE}:write_markdown"),
    Format(
        "json",
        "a document with its format and version",
        "text",
        (*TEXT, "run"),
        f"{HERE}:write_json",
    ),
    Format("csv", "a header row, then a row each", "text", TEXT, f"{HERE}:write_csv"),
    Format(
        "csv",
        "a header row, then the table's rows",
        "frame",
        ("export",),
        "harness.output.export:csv_bytes",
        (".csv",),
    ),
    Format(
        "json",
        "the table's rows as records",
        "frame",
        ("export",),
        "harness.output.export:json_bytes",
        (".json",),
    ),
    Format(
        "parquet",
        "the table, typed; binary, so only to a file",
        "frame",
        ("export",),
        "harness.output.export:parquet_bytes",
        (".parquet", ".pq"),
        binary=True,
    ),
    Format(
        "trace",
        "Chrome Trace Event JSON for Perfetto and chrome://tracing; --table tasks only",
        "frame",
        ("export",),
        "harness.output.trace:encode",
        (".json",),
    ),
    Format(
        "pdf", "one sheet per page", "report", ("report",), f"{REPORT_WRITERS}:write_pdf", (".pdf",)
    ),
    Format(
        "html",
        "one self-contained web page",
        "report",
        ("report",),
        f"{REPORT_WRITERS}:write_html",
        (".html", ".htm"),
    ),
    Format(
        "png",
        "a folder of PNG pages",
        "report",
        ("report",),
        f"{REPORT_WRITERS}:write_png",
        folder=True,
    ),
    Format(
        "svg",
        "a folder of SVG pages",
        "report",
        ("report",),
        f"{REPORT_WRITERS}:write_svg",
        folder=True,
    ),
    Format(
        "png",
        "a PNG image",
        "figure",
        ("timeline",),
        "harness.output.timeline:png_bytes",
        (".png",),
    ),
    Format(
        "svg",
        "an SVG image",
        "figure",
        ("timeline",),
        "harness.output.timeline:svg_bytes",
        (".svg",),
    ),
)


def of(command: str) -> tuple[Format, ...]:
    """The formats `command` writes, its default first."""
    rows = tuple(row for row in TABLE if command in row.commands)
    if not rows:
        raise KeyError(f"no format is written by {command!r}")
    return rows


def choices(command: str) -> tuple[str, ...]:
    """The names `command`'s `--format` takes, its default first."""
    return tuple(row.name for row in of(command))


class FormatError(InputError):
    """A --format (or --output) value no writer of the command knows."""


def get(command: str, fmt: str, flag: str = "--format") -> Format:
    """The row that writes `fmt` for `command`, or one line naming the flag and what it
    takes."""
    for row in of(command):
        if row.name == fmt:
            return row
    raise FormatError(f"{flag}: expected one of {', '.join(choices(command))}, got {fmt!r}")


def for_output(command: str, fmt: str | None, target: Path | None) -> Format:
    """The format `command` writes to `target`, by the one rule for a file (see above)."""
    if fmt is not None:
        row = get(command, fmt)
        if target is not None and not row.takes(target):
            raise FormatError(f"--output: --format {fmt} writes {row.names()}, got {str(target)!r}")
        return row
    if target is None or not target.suffix:
        return of(command)[0]
    for row in of(command):
        if row.suffixes and row.takes(target):
            return row
    raise FormatError(
        f"--output: {str(target)!r} names no format {command} writes: {_targets(command)}"
    )


def help_text(command: str, default: str = "") -> str:
    """`--format`'s help for `command`: each choice and what it is, from the table."""
    parts = [f"{row.name} ({row.what})" for row in of(command)]
    return ", ".join(parts) + (f"; default: {default}" if default else "")


def _targets(command: str) -> str:
    """The names `command` writes each format under: `a .pdf file for pdf; ...`."""
    by_name: dict[str, list[str]] = {}
    for row in of(command):
        by_name.setdefault(row.names(), []).append(row.name)
    return "; ".join(f"{names} for {' and '.join(fmts)}" for names, fmts in by_name.items())


def output_help(command: str, default: str) -> str:
    """`--output`'s help for `command`: the names each format is written under."""
    return f"{_targets(command)}; the extension picks the format; default: {default}"


class TextView(Protocol):
    """What a command that prints hands to a `text` format's writer: its output, ready to
    be shown in each way."""

    def terminal(self) -> list[RenderableType]:
        """The terminal's tables and the lines under them (rich markup)."""
        ...

    def markdown(self) -> str: ...

    def document(self) -> Mapping[str, Any]:
        """The JSON document: `format`, `version`, and what a script reads."""
        ...

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        """The CSV's records and its columns."""
        ...


def write_table(view: TextView) -> list[RenderableType]:
    return view.terminal()


def write_markdown(view: TextView) -> str:
    return view.markdown()


def write_json(view: TextView) -> str:
    return to_json(view.document())


def write_csv(view: TextView) -> str:
    return to_csv(*view.csv_rows())


def render(command: str, fmt: str, view: TextView) -> str | list[RenderableType]:
    """`view` in `fmt`, by the writer the table names: text, or the terminal's renderables."""
    row = get(command, fmt)
    assert row.kind == "text", row
    return row.write(view)


def md_cell(text: Any) -> str:
    """A markdown table cell: pipes escaped, line breaks folded, empty shown as '-'."""
    text = "" if text is None else str(text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or "-"


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[str] = ()
) -> str:
    """A GitHub-flavoured table; columns named in `right` are right-aligned (numbers)."""
    align = ["---:" if h in right else "---" for h in headers]
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def plain(value: Any) -> Any:
    """A value JSON can hold without surprises: NaN and infinities become null, numpy
    scalars plain numbers, so `json.loads` in any language reads the output."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def to_json(document: Mapping[str, Any]) -> str:
    return json.dumps(plain(document), indent=2, allow_nan=False) + "\n"


def to_csv(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """One header row, then one row per record; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in plain(record).items()})
    return buffer.getvalue()
