"""Every output format in one registry: which command writes which, the flag check, and
the text encoders.

`show`, `claims`, `list` and `compare` take the same text formats; `export` writes plain
files, `report` figures and pages (like hyperfine's exporters, one list). The table cells
come from the same place as the terminal's (harness/units.py), so a figure reads alike in a
terminal, a pull request comment and a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.errors import InputError

#: Every format, and what it is.
REGISTRY = {
    "table": "the terminal's table",
    "markdown": "GitHub-flavoured markdown, for a pull request comment",
    "json": "a JSON document with its format name and version (export: records)",
    "csv": "one header row, one row per case (export: per measurement)",
    "parquet": "the frame itself, typed (binary: give a file)",
    "pdf": "the report, one sheet per page",
    "html": "the report as one self-contained HTML file",
    "png": "the report's pages as PNG files in a folder",
    "svg": "the report's pages as SVG files in a folder",
    "trace": "Chrome Trace Event JSON of the task records (--table tasks): Perfetto, chrome://tracing",
}
#: The formats each command writes, its default first.
BY_COMMAND = {
    **dict.fromkeys(("show", "claims", "list", "compare"), ("table", "markdown", "json", "csv")),
    "export": ("csv", "parquet", "json", "trace"),
    "report": ("pdf", "html", "png", "svg"),
}
FORMATS = BY_COMMAND["show"]


class FormatError(InputError):
    """A --format value no renderer knows."""


def check_format(fmt: str, allowed: Sequence[str] = FORMATS, flag: str = "--format") -> str:
    """The format, or one line naming the flag and what it takes."""
    if fmt not in allowed:
        raise FormatError(f"{flag}: expected one of {', '.join(allowed)}, got {fmt!r}")
    return fmt


def check(fmt: str, command: str) -> str:
    """`fmt` if `command` writes it, else one line naming --format and what it takes."""
    return check_format(fmt, BY_COMMAND[command])


def md_cell(text: Any) -> str:
    """A markdown table cell: pipes escaped, line breaks folded, empty shown as '-'."""
    text = "" if text is None else str(text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or "-"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   right: Sequence[str] = ()) -> str:  # fmt: skip
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
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")  # fmt: skip
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in plain(record).items()})
    return buffer.getvalue()


def encode(
    fmt: str,
    document: Mapping[str, Any],
    csv_rows: Callable[[], tuple[Sequence[Mapping[str, Any]], Sequence[str]]],
    as_markdown: Callable[[Mapping[str, Any]], str],
) -> str:
    """A command's document as markdown, json or csv: one dispatch for every command, so a
    format means the same everywhere (`csv_rows` gives the records and their columns)."""
    if fmt == "json":
        return to_json(document)
    if fmt == "csv":
        return to_csv(*csv_rows())
    return as_markdown(document)
