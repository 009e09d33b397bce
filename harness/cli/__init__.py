"""The command line: parses arguments and calls the library, nothing more.

The commands live by what they do: `running` (run, ab), `cluster` (cluster up/down/status),
`reading` (list, show, report, compare, export, timeline, claims, schema, env); `common`
holds what they share. Here: the app, each command in `--help`'s order, and `main`, the
entry point, which turns bad input into one line and exit code 2.
"""

from __future__ import annotations

import sys
import traceback

import click
import typer

try:  # Typer >= 0.26 carries its own copy of click; older ones use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    # the same names for the checker, which sees the Typer installed here
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]

from harness.cli import cluster, reading, running, tuning
from harness.cli.common import console, err
from harness.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark sequential, threads, processes, Dask and Ray on one scenario spec.",
)
DEBUG = False

# The commands, in the order `--help` lists them.
app.command()(running.run)
app.add_typer(cluster.app, name="cluster")
app.command("list")(reading.list_scenarios)
app.command()(reading.show)
app.command()(reading.report)
app.command()(reading.compare)
app.command("ab")(running.ab)
app.command()(tuning.tune)
app.command()(reading.export)
app.command()(reading.timeline)
app.command()(reading.claims)
app.command()(reading.scaling)
app.command()(reading.schema)
app.command()(reading.env)


def main() -> None:
    """Entry point: bad input is one line and exit code 2; --debug shows the traceback."""
    global DEBUG
    argv = sys.argv[1:]
    if "--debug" in argv:
        DEBUG = True
        argv = [a for a in argv if a != "--debug"]
    try:
        code = app(args=argv, prog_name="harness", standalone_mode=False)
    except InputError as exc:
        _fail(str(exc))
    except NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help() if exc.ctx else "harness --help")
        sys.exit(0)
    except (UsageError, click.UsageError) as exc:
        hint = f" (for {exc.ctx.command_path})" if exc.ctx else ""
        _fail(exc.format_message() + hint)
    except (typer.Abort, click.exceptions.Abort):
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> None:
    if DEBUG:
        traceback.print_exc()
    err.print(f"harness: error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)

