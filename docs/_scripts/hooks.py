"""MkDocs hook: hands the CLI to mkdocs-click as a Click command.

mkdocs-click loads a command by `module:attribute`; a Typer app becomes one only through
`typer.main.get_command(app)`. This module is registered under the name
`harness_docs_cli`, so `reference/cli.md` names `harness_docs_cli:cli`.
"""

from __future__ import annotations

import html
import sys

import typer

from harness.cli import app

cli = typer.main.get_command(app)


def _escape_help(command) -> None:
    # A command's help becomes markdown on the page: `OUT/<run-id>/` would be read as HTML.
    if command.help:
        command.help = html.escape(command.help, quote=False)
    for sub in getattr(command, "commands", {}).values():
        _escape_help(sub)


_escape_help(cli)
sys.modules["harness_docs_cli"] = sys.modules[__name__]
