"""The command line: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import inspect
import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import click
import typer

try:  # Typer >= 0.26 carries its own copy of click; older ones use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    # the same names for the checker, which sees the Typer installed here
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]
from rich.console import Console
from rich.table import Table

from harness import backends, fingerprint, results, spec, units, workloads
from harness.analysis import summaries
from harness.errors import InputError
from harness.execute import runner
from harness.output import formats
from harness.output.summary import print_summary
from harness.protocol import Metric

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark sequential, threads, processes, Dask and Ray on one scenario spec.",
)
# Piped output (a log, a file) gets whole table rows rather than 80 columns of wrapping.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
DEBUG = False


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


def run(
    scenario: Annotated[str, typer.Argument(help="scenario name (see `harness list`) or a .toml path")],
    backends: Annotated[str | None, typer.Option(help="comma-separated backends, e.g. threads,ray")] = None,
    workers: Annotated[str | None, typer.Option(help="comma-separated worker counts, e.g. 1,2,4")] = None,
    repeat: Annotated[int | None, typer.Option(help="measured repeats per case")] = None,
    rounds: Annotated[int | None, typer.Option(help="fresh processes per case: the whole matrix this many times, each round in a random order (default: the spec's, 3; 1 with --quick)")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the random order of each round's cases (default: drawn, and recorded in run.json)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="small sizes and few repeats: a smoke run")] = False,
    timeout: Annotated[float | None, typer.Option(help="per-case timeout in seconds")] = None,
    out: Annotated[Path, typer.Option(help="folder that holds run folders")] = Path("results"),
    resume: Annotated[Path | None, typer.Option(help="a run folder: run only its missing cases")] = None,
    sample_interval: Annotated[float, typer.Option(help="memory sampling interval in seconds")] = 0.05,
    import_: Annotated[list[str] | None, typer.Option("--import", help="allow the spec's workload to import this module of your own (repeatable)")] = None,
    python: Annotated[str | None, typer.Option("--python", help="comma-separated interpreters (paths or versions, e.g. 3.12,3.13t) to run the cases under, each in an environment the harness prepares")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout at the end (progress goes to stderr)")] = False,
    budget: Annotated[str | None, typer.Option(help="time the whole run may take, e.g. 90s or 2m: after the rounds, fresh processes go to the cases whose intervals are widest (default: the spec's budget_s)")] = None,
    precision: Annotated[str | None, typer.Option(help="with a budget: the half-width, e.g. 5%, at which a case needs no more processes (default: the spec's, 5%)")] = None,
    **addresses: str | None,  # one --<backend>-address per backend with an address_flag
) -> None:
    """Run a scenario's cases and save them under OUT/<run-id>/."""
    from harness.output.progress import ProgressObserver

    options = spec.RunOptions.parse(
        budget_s=_parsed(units.parse_duration, budget, "--budget"),
        precision=_parsed(units.parse_fraction, precision, "--precision"),
        backends=_split_list(backends, "--backends"),
        workers=_split_list(workers, "--workers", int),
        repeat=repeat,
        rounds=rounds,
        seed=seed,
        quick=quick,
        timeout_s=timeout,
        sample_interval_s=sample_interval,
        addresses={_ADDRESS_PARAMS[k]: v for k, v in addresses.items() if v is not None},
        imports=import_ or None,
        python=_split_list(python, "--python"),
    )
    the_run = runner.Run.create(
        scenario, options, out=out, resume=resume, say=lambda line: err.print(line, highlight=False)
    )
    shown = err if as_json else console  # with --json, stdout holds the JSON alone
    shown.print(
        f"run [bold]{the_run.run_dir.name}[/]: {len(the_run.cases)} cases of "
        f"[bold]{the_run.spec.name}[/] ({the_run.spec.description}){' --quick' if quick else ''}, "
        f"{_processes_text(the_run.rounds)} each, in a random order (seed {the_run.info['seed']})"
    )
    if the_run.budget_s is not None:
        shown.print(
            f"budget {units.fmt_seconds(the_run.budget_s)}: then more fresh processes where the "
            f"intervals are widest, until each is within +-{units.fmt_percent(the_run.precision)} or the "
            "budget is spent"
        )
    with ProgressObserver(shown, the_run.history(), rounds=the_run.rounds) as observer:
        result = the_run.execute(observer)
    table = summaries.case_table(the_run.frame())
    if as_json:
        extra: dict[str, Any] = {"run_dir": str(the_run.run_dir), "interrupted": result.interrupted}
        sys.stdout.write(_summary_text(table, "json", **extra))
    else:
        host = the_run.info["fingerprint"]["machine"]["hostname"]
        print_summary(console, table, title=f"{the_run.spec.name} on {host}")
    shown.print(f"results: {the_run.run_dir}/{results.MEASUREMENTS}")
    if result.interrupted:
        err.print(
            f"interrupted: finished cases are saved. Continue with: {result.resume_command}",
            highlight=False,
        )
        raise typer.Exit(130)


def _parsed(parse, text: str | None, flag: str):
    """`parse(text, flag)`, its ValueError as one line of bad input; None stays None."""
    if text is None:
        return None
    try:
        return parse(text, flag)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _processes_text(rounds: int) -> str:
    return "1 process" if rounds == 1 else f"{rounds} fresh processes"


#: Keyword of `run` -> the backend whose `address_flag` it is.
_ADDRESS_PARAMS = {f"{name}_address": name for name in backends.with_address_flag()}


def _address_options(command):
    """One `--<backend>-address` option on `command` per backend class with an address_flag,
    so a backend from another package gets its flag, help and validation like a built-in."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for param, name in _ADDRESS_PARAMS.items():
        cls = backends.get(name)
        option = typer.Option(cls.address_flag, help=cls.address_help)
        params.append(
            inspect.Parameter(param, inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=Annotated[str | None, option])
        )  # fmt: skip
    command.__signature__ = signature.replace(parameters=params)
    return command


run = app.command()(_address_options(run))

cluster_app = typer.Typer(
    no_args_is_help=True,
    help="Start, inspect and stop a local multi-process cluster "
    f"({', '.join(backends.with_launcher()) or 'no backend has a launcher'}).",
)
app.add_typer(cluster_app, name="cluster")
StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="state file (default $HARNESS_CLUSTER_STATE or ~/.cache/harness/cluster.json)",
    ),
]


@cluster_app.command("up")
def cluster_up(
    engine: Annotated[str, typer.Argument(help=f"a backend with a launcher: {', '.join(backends.with_launcher())}")],
    workers: Annotated[
        int | None,
        typer.Option(
            help="worker processes (Ray: CPUs of its one node); default: the logical cores"
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option(help="address to bind to; loopback unless you need other hosts to reach it"),
    ] = "127.0.0.1",
    state: StateOption = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="bind to a non-loopback --host even though other hosts can then run code on it",
        ),
    ] = False,
    tls: Annotated[bool, typer.Option("--tls", help="dask: mutual TLS on every connection, with certificates made for this cluster (kept in its private folder)")] = False,
) -> None:
    """Start a local cluster with the engine's own launchers and record what was started."""
    import os

    from harness.execute import clusters as cluster

    try:
        if warning := cluster.exposure(engine, host, allow_remote, tls):
            err.print(warning, markup=False, soft_wrap=True)
        info = cluster.up(engine, workers or os.cpu_count() or 1, host, state, allow_remote, tls)
    except cluster.ClusterError as exc:
        raise InputError(f"cluster up {engine}: {exc}") from None
    flag = backends.get(engine).address_flag
    console.print(
        f"{engine} cluster up at [bold]{info['address']}[/] with {info['workers']} workers "
        f"({len(info['pids'])} processes, state {cluster.state_path(state)})"
    )
    console.print(f"use it: harness run SCENARIO --backends {engine} {flag} {info['address']}")


@cluster_app.command("down")
def cluster_down(state: StateOption = None) -> None:
    """Stop exactly the processes `harness cluster up` started, and nothing else."""
    from harness.execute import clusters as cluster

    try:
        info = cluster.down(state)
    except cluster.ClusterError as exc:
        raise InputError(f"cluster down: {exc}") from None
    if info is None:
        console.print(f"no cluster started by harness (state {cluster.state_path(state)})")
        return
    console.print(
        f"{info['engine']} cluster at {info['address']} stopped ({len(info['stopped'])} processes)"
    )
    if info["left"]:
        raise InputError(f"cluster down: processes still alive: {info['left']}")


@cluster_app.command("status")
def cluster_status(state: StateOption = None) -> None:
    """The cluster `harness cluster up` started: address and live processes."""
    from harness.execute import clusters as cluster

    try:
        info = cluster.status(state)
    except cluster.ClusterError as exc:
        raise InputError(f"cluster status: {exc}") from None
    if info is None:
        console.print(f"no cluster started by harness (state {cluster.state_path(state)})")
        raise typer.Exit(1)
    alive = len(info["alive"])
    procs = ", ".join(f"{n} x{c}" for n, c in info["processes"].items()) or "none"
    console.print(
        f"{info['engine']} cluster at [bold]{info['address']}[/], {info['workers']} workers, "
        f"started {info['started']}: {alive} processes alive ({procs})"
    )
    if not alive:
        raise typer.Exit(1)


@app.command("list")
def list_scenarios(fmt: FormatOption = "table") -> None:
    """The scenarios, workloads and backends this harness knows."""
    from harness.output import markdown, records

    formats.check(fmt, "list")
    entries = spec.catalogue()
    if fmt != "table":
        document = records.list_document(
            entries,
            workloads.names(),
            [_backend_entry(n) for n in backends.names()],
            backends.problems(),
        )
        sys.stdout.write(formats.encode(
            fmt, document, lambda: records.list_csv_rows(entries), markdown.list_markdown
        ))  # fmt: skip
        return
    table = Table("scenario", "workload", "backends", "description", header_style="bold")
    for entry in entries:
        if entry["error"]:
            table.add_row(entry["name"], "-", "-", f"[red]invalid: {entry['error']}[/]")
        else:
            table.add_row(entry["name"], entry["workload"], ",".join(entry["backends"]),
                          entry["description"])  # fmt: skip
    console.print(table)
    console.print("workloads: " + ", ".join(workloads.names()))
    console.print("backends:  " + ", ".join(_with_origin(n) for n in backends.names()))
    for problem in backends.problems():
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)


def _backend_entry(name: str) -> dict:
    return {"name": name, "origin": backends.origin(name), "builtin": backends.is_builtin(name)}


def _with_origin(name: str) -> str:
    """A backend's name, and the package it comes from when that is not harness itself."""
    return name if backends.is_builtin(name) else f"{name} ({backends.origin(name)})"


@app.command()
def show(
    runs: Annotated[list[str], typer.Argument(help="run folders or globs; 'latest'")],
    fmt: FormatOption = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """The summary table of one or more runs."""

    formats.check(fmt, "show")
    table = summaries.case_table(_load(runs, results_dir))
    if fmt == "table":
        print_summary(console, table)
    else:
        sys.stdout.write(_summary_text(table, fmt))


def _summary_text(table, fmt: str, title: str = "", **extra) -> str:
    """The summary as markdown, json or csv (`show`, `run --json`)."""
    from harness.output import markdown, records

    if fmt == "markdown":
        return markdown.summary_markdown(table, title)
    if fmt == "csv":
        return formats.to_csv(*records.summary_csv_rows(table))
    return formats.to_json(records.summary_document(table, **extra))


@app.command()
def report(
    runs: Annotated[
        list[str], typer.Argument(help="run folders or globs; 'latest' for the newest")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="report.pdf or report.html (default: <run>/report.pdf)"
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="pdf, html, or png/svg files in a folder (default: "
                     "from the -o extension, else pdf)"),
    ] = None,  # fmt: skip
    paper: Annotated[str, typer.Option(help="page size of PDF and images: a4 or letter")] = "a4",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Render the report: figures and tables of the runs, as PDF, HTML or image files."""
    from harness.output import reports

    fmt = reports.format_for(output, fmt)
    formats.check(fmt, "report")
    if paper not in reports.PAPERS:
        raise InputError(f"--paper: expected a4 or letter, got {paper!r}")
    dirs = results.run_dirs(runs, results_dir)
    problems: list[str] = []
    data = reports.load_data(dirs, problems)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    default = dirs[-1] / {"pdf": "report.pdf", "html": "report.html"}.get(fmt, "figures")
    target, n = reports.write(data, output or default, fmt, paper)
    what, unit = {"pdf": ("report", "pages"), "html": ("report", "pages")}.get(
        fmt, ("figures", "files")
    )
    console.print(f"{what}: {target} ({n} {unit})")


@app.command()
def compare(
    baseline: Annotated[
        str, typer.Argument(help="baseline run folder(s): a path or a quoted glob")
    ],
    contender: Annotated[
        str, typer.Argument(help="contender run folder(s): a path or a quoted glob")
    ],
    metric: Annotated[
        str, typer.Option(help="metric to compare, e.g. wall_s, tasks_per_s, startup_s")
    ] = Metric.WALL_S,
    threshold: Annotated[
        str, typer.Option(help="smallest change worth calling, e.g. 5% or 0.05")
    ] = "5%",
    alpha: Annotated[float, typer.Option(help="family-wise error rate: the chance of any false change over all the cases compared")] = 0.05,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="exit 1 when a regression is called: its interval wholly beyond the threshold, Holm-adjusted over the cases",
        ),
    ] = False,
    normalize: Annotated[
        str,
        typer.Option(help="none, or sequential: compare speedups over each run's sequential case"),
    ] = "none",
    ignore: Annotated[
        str | None, typer.Option(help="match keys to ignore, e.g. workers or backend,workers")
    ] = None,
    fmt: FormatOption = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Compare a contender with a baseline case by case: ratio, interval, significance."""
    from harness.analysis import compare as cmp
    from harness.output import compare as shown

    formats.check(fmt, "compare")
    if not 0 < alpha < 1:
        raise InputError("--alpha: must be between 0 and 1")
    try:
        result = cmp.compare(
            _load([baseline], results_dir),
            _load([contender], results_dir),
            metric=metric,
            threshold=cmp.parse_threshold(threshold),
            alpha=alpha,
            normalize=normalize,
            ignore=tuple(_split_list(ignore, "--ignore") or ()),
        )
    except cmp.CompareError as exc:
        raise InputError(str(exc)) from None
    if fmt == "table":
        console.print(shown.rich_table(result))
        for warning in shown.warnings(result):
            console.print(f"[yellow]! {warning}[/]")
    else:
        sys.stdout.write(shown.encode(result, fmt))
    regressions = result.regressions
    if fail_on_regression and not regressions.empty:
        err.print(f"{len(regressions)} regression(s) beyond {threshold}")
        raise typer.Exit(1)


def ab(
    spec_a: Annotated[str, typer.Argument(help="side A, the baseline: a scenario name or a .toml path")],
    spec_b: Annotated[str, typer.Argument(help="side B, the contender: a scenario name or a .toml path")],
    backends: Annotated[str | None, typer.Option(help="comma-separated backends, e.g. sequential,processes")] = None,
    workers: Annotated[str | None, typer.Option(help="comma-separated worker counts, e.g. 2")] = None,
    repeat: Annotated[int | None, typer.Option(help="measured repeats per case process")] = None,
    rounds: Annotated[int | None, typer.Option(help="slots every pair gets before the budget is spent where intervals are widest (default: spec A's rounds)")] = None,
    budget: Annotated[str | None, typer.Option(help="time the whole A/B run may take, e.g. 90s or 2m (default: spec A's budget_s, else 90s)")] = None,
    precision: Annotated[str | None, typer.Option(help="half-width, e.g. 2%, at which a pair needs no more slots (default: spec A's, 5%)")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the slots' random orders (default: drawn, and recorded in run.json)")] = None,
    timeout: Annotated[float | None, typer.Option(help="per-case timeout in seconds")] = None,
    out: Annotated[Path, typer.Option(help="folder that holds run folders")] = Path("results"),
    import_: Annotated[list[str] | None, typer.Option("--import", help="allow a spec's workload to import this module of your own (repeatable)")] = None,
    metric: Annotated[str, typer.Option(help="metric to compare, e.g. wall_s or tasks_per_s")] = Metric.WALL_S,
    threshold: Annotated[str, typer.Option(help="smallest change worth calling, e.g. 5% or 0.05")] = "5%",
    alpha: Annotated[float, typer.Option(help="family-wise error rate over all the pairs")] = 0.05,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help="exit 1 when B is called worse than A on any pair")] = False,
    fmt: FormatOption = "table",
) -> None:
    """Run two specs interleaved in one run, slot by slot, and compare them paired."""
    from harness.analysis import ab as ab_analysis
    from harness.analysis import compare as cmp
    from harness.execute import ab as ab_run
    from harness.output import compare as shown
    from harness.output.progress import ProgressObserver

    formats.check(fmt, "compare")
    if not 0 < alpha < 1:
        raise InputError("--alpha: must be between 0 and 1")
    limit = cmp.parse_threshold(threshold)
    options = spec.RunOptions.parse(
        backends=_split_list(backends, "--backends"),
        workers=_split_list(workers, "--workers", int),
        repeat=repeat,
        rounds=rounds,
        seed=seed,
        timeout_s=timeout,
        imports=import_ or None,
        budget_s=_parsed(units.parse_duration, budget, "--budget"),
        precision=_parsed(units.parse_fraction, precision, "--precision"),
    )
    the_run = ab_run.AbRun.create(spec_a, spec_b, options, out=out,
                                  say=lambda line: err.print(line, highlight=False))  # fmt: skip
    shown_on = console if fmt == "table" else err
    pairs = the_run.info["ab"]["pairs"]
    together = sum(p["in_process"] for p in pairs)
    shown_on.print(
        f"A/B run [bold]{the_run.run_dir.name}[/]: A = {the_run.specs[0].name}, B = "
        f"{the_run.specs[1].name}; {len(pairs)} pairs ({together} alternating in one process "
        f"each slot, {len(pairs) - together} as two processes back to back); "
        f"{the_run.info['rounds']} slots each, then more within a budget of "
        f"{units.fmt_seconds(the_run.info['budget']['seconds'])}"
    )
    with ProgressObserver(shown_on, rounds=the_run.info["rounds"]) as observer:
        result = the_run.execute(observer)
    try:
        comparison = ab_analysis.compare_sides(results.load(the_run.run_dir), pairs, metric,
                                               limit, alpha)  # fmt: skip
    except cmp.CompareError as exc:
        raise InputError(str(exc)) from None
    if fmt == "table":
        console.print(shown.rich_table(comparison))
        for warning in shown.warnings(comparison):
            console.print(f"[yellow]! {warning}[/]")
    else:
        sys.stdout.write(shown.encode(comparison, fmt))
    shown_on.print(f"results: {the_run.run_dir}/{results.MEASUREMENTS}")
    if result.interrupted:
        raise typer.Exit(130)
    if fail_on_regression and not comparison.regressions.empty:
        err.print(f"{len(comparison.regressions)} regression(s) beyond {threshold}")
        raise typer.Exit(1)


ab = app.command("ab")(ab)


@app.command()
def export(
    runs: Annotated[
        list[str], typer.Argument(help="run folders or globs; 'latest' for the newest")
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet, json, or trace (Chrome Trace Event JSON for Perfetto and chrome://tracing; --table tasks only)")] = "csv",
    table: Annotated[
        str, typer.Option(help="measurements, cases (the summary), latency, timeseries or tasks (the timeline pass's task records)")
    ] = "measurements",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="file to write (default: stdout; parquet needs a file)"
        ),
    ] = None,
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Write runs' frames as csv, parquet or json for other tools, or their tasks as a trace."""
    from harness.output import export as exporter

    exporter.check(fmt, table)
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet: give a file with -o (parquet is binary)")
    df, problems = exporter.frame(results.run_dirs(runs, results_dir), table)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    if df.empty:
        raise InputError(f"--table {table}: {exporter.nothing(table)} in " + ", ".join(runs))
    if output is None:
        sys.stdout.buffer.write(exporter.encode(df, fmt))
        return
    exporter.write(df, fmt, output)
    err.print(f"exported {len(df)} rows of {table} to {output}" + (" as a trace" if fmt == "trace" else ""))


@app.command()
def timeline(
    run: Annotated[str, typer.Argument(help="a run folder, or 'latest'")],
    case: Annotated[str | None, typer.Option("--case", help="the case id, or a unique part of it (without: list the cases)")] = None,
    round_: Annotated[int | None, typer.Option("--round", help="the round to show (default: the median-makespan round)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="also draw the case's Gantt chart: FILE.png or FILE.svg")] = None,
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Where a run's task time went: its cases, or one case's workers over time."""
    from harness.output import timeline as shown

    if output is not None:
        shown.figure_format(output)
    if case is None and (output is not None or round_ is not None):
        raise InputError(("--output" if output is not None else "--round") + ": give --case too (one case's batch)")
    dirs = results.run_dirs([run], results_dir)
    if len(dirs) != 1:
        raise InputError(f"{run}: matches {len(dirs)} runs; timeline reads one")
    tasks = shown.load(dirs[0])
    if case is None:
        console.print(shown.cases_table(tasks))
        console.print("pass --case ID (the case id, or a unique part of it) for one case's workers over time")
        return
    group, parts = shown.one_case(tasks, case, round_)
    for part in parts:
        console.print(part)
    if output is not None:
        shown.write_figure(group, output)
        console.print(f"gantt chart: {output}")


@app.command()
def claims(
    runs: Annotated[list[str], typer.Argument(help="run folders or globs; 'latest'")],
    fmt: FormatOption = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """The article's claims beside this machine's measurements, and a recommendation per scenario."""
    from harness.output import markdown, records
    from harness.output.terminal import claims_tables

    formats.check(fmt, "claims")
    df = _load(runs, results_dir)
    if fmt == "table":
        for table in claims_tables(df):
            console.print(table)
        return
    document = records.claims_document(df)
    sys.stdout.write(formats.encode(
        fmt, document, lambda: records.claims_csv_rows(document), markdown.claims_markdown
    ))  # fmt: skip


@app.command()
def schema() -> None:
    """The scenario spec's JSON Schema, for editors that validate TOML and JSON specs."""
    print(json.dumps(spec.json_schema(), indent=2))


@app.command()
def env(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    noise: Annotated[bool, typer.Option("--noise", help="instead: probe this machine for --seconds with fresh processes and say how noisy it is (as pyperf's `system show`)")] = False,
    seconds: Annotated[float | None, typer.Option("--seconds", help="how long --noise probes (2-120, default 15)")] = None,
) -> None:
    """This machine and its software, as a run records them; with --noise, how noisy it is."""
    if noise or seconds is not None:
        from harness.measure import noise_probe
        from harness.output import noise as noise_text

        if not noise:
            raise InputError("--seconds: only with --noise")
        result = noise_probe.probe(noise_probe.check_seconds(seconds), say=lambda line: err.print(line, highlight=False))
        if as_json:
            print(json.dumps(result, indent=2))
        else:
            for line in noise_text.lines(result):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    fp = fingerprint.collect()
    if as_json:
        print(json.dumps(fp, indent=2, default=str))
        return
    table = Table("field", "value", header_style="bold", show_header=False)
    for section in ("machine", "software"):
        for key, value in fp[section].items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
            table.add_row(key, str(value))
    console.print(table)


def _load(runs: list[str], out: Path = results.RESULTS_DIR):
    dirs = results.run_dirs(runs, out)
    df, problems = results.load_runs(dirs)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    if df.empty:
        raise InputError("no readable measurements in " + ", ".join(map(str, dirs)))
    return df


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


if __name__ == "__main__":
    main()
