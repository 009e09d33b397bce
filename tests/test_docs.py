"""The documentation stays true: the site builds with --strict (a broken link, anchor or
missing page fails), and every `harness ...` line shown in a code block of README.md or
docs/ is a command and flags the CLI really has."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^\s*(```|~~~)")


def _code_lines(path: Path):
    """(line number, text) of each line inside a fenced code block, continuations joined."""
    inside = False
    pending, start = "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            continue
        text = line.strip()
        if text.startswith(("$ ", "> ")):  # a shell prompt before the command
            text = text[2:]
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        yield start, pending + text
        pending = ""


def _harness_commands():
    found = []
    for path in PAGES:
        for number, text in _code_lines(path):
            try:
                words = shlex.split(text, comments=True)
            except ValueError:
                continue  # output, not a command: an unbalanced quote
            if words and (words[0] == "harness" or words[0].endswith("/harness")):
                found.append(pytest.param(words[1:], id=f"{path.relative_to(ROOT)}:{number}"))
    return found


COMMANDS = _harness_commands()


def test_the_docs_show_commands():
    # A guard on the scan itself: the pages show dozens of commands.
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("args", COMMANDS)
def test_each_documented_command_parses(args):
    args = [a for a in args if a != "--debug"]  # main() takes it anywhere, before Typer
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="harness")
    assert result.exit_code == 0, f"harness {shlex.join(args)} --help:\n{result.output}"


def test_a_wrong_flag_would_be_caught():
    result = CliRunner().invoke(app, ["run", "cpu", "--no-such-flag", "--help"])
    assert result.exit_code != 0


#: The verbs the commands' help lines begin with. A new command's help says what it does, as
#: an order ("Show ...", not "The ..."); add its verb here if it is a new one.
VERBS = {
    "Run",
    "List",
    "Show",
    "Render",
    "Compare",
    "Write",
    "Print",
    "Start",
    "Stop",
    "Fit",
    "Race",
}


def _commands(group, prefix=""):
    for name, command in group.commands.items():
        yield prefix + name, command
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_commands_help_line_is_imperative():
    """A command's docstring is its `--help` line: an order, as in `git --help`."""
    import typer

    for name, command in _commands(typer.main.get_command(app)):
        first = command.help.split()[0].rstrip(",:;.") if command.help else ""
        assert first in VERBS, f"harness {name}: help begins with {first!r}: {command.help}"


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="no docs extra installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    for page in ("reference/cli", "reference/spec", "reference/metrics"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    metrics = (tmp_path / "site" / "reference/metrics/index.html").read_text()
    from harness.protocol import METRICS

    missing = [name for name in METRICS if f"<code>{name}</code>" not in metrics]
    assert not missing, f"metric catalogue page lacks {missing}"
