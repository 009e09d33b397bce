"""What the reading commands print, built here so the CLI only parses and prints.

Each of `show`, `claims` and `list` hands a view to the format registry
(`formats.render`), whose writers read it: the terminal's tables, markdown, the JSON
document, the CSV rows. `env`'s table is here too (it has `--json`, no `--format`).
`compare`'s view is in `output/compare.py`, beside its tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from harness.output import markdown, records
from harness.output.summary import terminal_summary


@dataclass
class SummaryView:
    """The cases table of runs (`show`, and `run` when it ends); `extra` adds keys to the
    JSON document (`run --json`: `run_dir`, `interrupted`)."""

    table: pd.DataFrame
    title: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def terminal(self) -> list[RenderableType]:
        return terminal_summary(self.table, self.title)

    def markdown(self) -> str:
        return markdown.summary_markdown(self.table, self.title)

    def document(self) -> Mapping[str, Any]:
        return records.summary_document(self.table, **self.extra)

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        return records.summary_csv_rows(self.table)


@dataclass
class ClaimsView:
    """The article's claims beside a run's measurements, and the recommendations."""

    df: pd.DataFrame

    def terminal(self) -> list[RenderableType]:
        from harness.output.terminal import claims_tables

        return list(claims_tables(self.df))

    @cached_property
    def _document(self) -> dict[str, Any]:
        return records.claims_document(self.df)

    def markdown(self) -> str:
        return markdown.claims_markdown(self._document)

    def document(self) -> Mapping[str, Any]:
        return self._document

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        return records.claims_csv_rows(self._document)


@dataclass
class ListView:
    """The scenarios, workloads and backends this harness knows (`list`). `problems` are
    plugins that could not be loaded: the CLI prints them as warnings."""

    scenarios: list[dict[str, Any]]
    workloads: list[str]
    backends: list[dict[str, Any]]
    problems: list[str]

    @classmethod
    def collect(cls) -> ListView:
        from harness import backends, spec, workloads

        entries = [
            {"name": n, "origin": backends.origin(n), "builtin": backends.is_builtin(n)}
            for n in backends.names()
        ]
        return cls(spec.catalogue(), workloads.names(), entries, backends.problems())

    def terminal(self) -> list[RenderableType]:
        table = Table("scenario", "workload", "backends", "description", header_style="bold")
        for entry in self.scenarios:
            if entry["error"]:
                table.add_row(entry["name"], "-", "-", f"[red]invalid: {escape(entry['error'])}[/]")
            else:
                table.add_row(
                    entry["name"],
                    entry["workload"],
                    ",".join(entry["backends"]),
                    entry["description"],
                )
        return [
            table,
            "workloads: " + ", ".join(self.workloads),
            "backends:  " + ", ".join(_with_origin(b) for b in self.backends),
        ]

    def document(self) -> Mapping[str, Any]:
        return records.list_document(self.scenarios, self.workloads, self.backends, self.problems)

    def markdown(self) -> str:
        return markdown.list_markdown(self.document())

    def csv_rows(self) -> tuple[Sequence[Mapping[str, Any]], Sequence[str]]:
        return records.list_csv_rows(self.scenarios)


def _with_origin(backend: Mapping[str, Any]) -> str:
    """A backend's name, and the package it comes from when that is not harness itself."""
    name = str(backend["name"])
    return name if backend["builtin"] else f"{name} ({backend['origin']})"


def env_table(fp: Mapping[str, Any]) -> Table:
    """This machine and its software as a run records them (`fingerprint.collect()`): one
    row per field, a dict's values folded into one cell."""
    table = Table("field", "value", header_style="bold", show_header=False)
    for section in ("machine", "software"):
        for key, value in fp[section].items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
            table.add_row(key, str(value))
    return table
