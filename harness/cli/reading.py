"""The commands that read what ran, or what there is: `list`, `show`, `report`, `compare`,
`export`, `timeline`, `claims`, `schema` and `env`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from harness import fingerprint, results, spec
from harness.analysis import summaries
from harness.cli.common import (
    FormatOption,
    ResultsOption,
    _load,
    _print,
    _split_list,
    console,
    err,
    format_option,
)
from harness.errors import InputError
from harness.output import formats, views
from harness.protocol import Metric


def list_scenarios(fmt: FormatOption = "table") -> None:
    """List the scenarios, workloads and backends this harness knows."""
    formats.get("list", fmt)
    view = views.ListView.collect()
    _print(formats.render("list", fmt, view))
    for problem in view.problems:
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)


def show(
    runs: Annotated[list[str], typer.Argument(help="run folders or globs; 'latest'")],
    fmt: FormatOption = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Show the summary table of one or more runs."""
    formats.get("show", fmt)
    table = summaries.case_table(_load(runs, results_dir))
    _print(formats.render("show", fmt, views.SummaryView(table)))


def report(
    runs: Annotated[
        list[str], typer.Argument(help="run folders or globs; 'latest' for the newest")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output",
            help=formats.output_help("report", "<run>/report.pdf, or <run>/figures"),
        ),
    ] = None,
    fmt: Annotated[
        str | None, format_option("report", "from the -o extension, else pdf")
    ] = None,
    paper: Annotated[str, typer.Option(help="page size of PDF and images: a4 or letter")] = "a4",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Render the report: figures and tables of the runs, as PDF, HTML or image files."""
    from harness.output import reports

    row = reports.check(fmt, output, paper)
    dirs = results.run_dirs(runs, results_dir)
    problems: list[str] = []
    data = reports.load_data(dirs, problems)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    target, n = reports.write(data, output or reports.default_target(dirs[-1], row), row.name,
                              paper)  # fmt: skip
    what, unit = ("figures", "files") if row.folder else ("report", "pages")
    console.print(f"{what}: {target} ({n} {unit})")


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

    formats.get("compare", fmt)
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
            locks={
                "baseline": results.lock_hashes([baseline], results_dir),
                "contender": results.lock_hashes([contender], results_dir),
            },
        )
    except cmp.CompareError as exc:
        raise InputError(str(exc)) from None
    _print(formats.render("compare", fmt, shown.CompareView(result)))
    regressions = result.regressions
    if fail_on_regression and not regressions.empty:
        err.print(f"{len(regressions)} regression(s) beyond {threshold}")
        raise typer.Exit(1)


def export(
    runs: Annotated[
        list[str], typer.Argument(help="run folders or globs; 'latest' for the newest")
    ],
    fmt: Annotated[str | None, format_option("export", "from the -o extension, else csv")] = None,
    table: Annotated[
        str, typer.Option(help="measurements, cases (the summary), latency, timeseries or tasks (the timeline pass's task records)")
    ] = "measurements",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help=formats.output_help("export", "stdout")),
    ] = None,
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Write runs' frames as csv, parquet or json for other tools, or their tasks as a trace."""
    from harness.output import export as exporter

    row = exporter.check(fmt, table, output)
    df, problems = exporter.frame(results.run_dirs(runs, results_dir), table)
    for problem in problems:
        err.print(f"[yellow]warning:[/] {problem}")
    if df.empty:
        raise InputError(f"--table {table}: {exporter.nothing(table)} in " + ", ".join(runs))
    if output is None:
        sys.stdout.buffer.write(exporter.encode(df, row.name))
        return
    exporter.write(df, row.name, output)
    err.print(f"exported {len(df)} rows of {table} to {output} as {row.name}")


def timeline(
    run: Annotated[str, typer.Argument(help="a run folder, or 'latest'")],
    case: Annotated[str | None, typer.Option("--case", help="the case id, or a unique part of it (without: list the cases)")] = None,
    round_: Annotated[int | None, typer.Option("--round", help="the round to show (default: the median-makespan round)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="also draw the case's Gantt chart: " + formats.output_help("timeline", "png"))] = None,
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Show where a run's task time went: its cases, or one case's workers over time."""
    from harness.output import timeline as shown

    if output is not None:
        formats.for_output("timeline", None, output)
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


def claims(
    runs: Annotated[list[str], typer.Argument(help="run folders or globs; 'latest'")],
    fmt: FormatOption = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Show the article's claims beside this machine's measurements, and a recommendation per scenario."""
    formats.get("claims", fmt)
    _print(formats.render("claims", fmt, views.ClaimsView(_load(runs, results_dir))))


def scaling(
    runs: Annotated[list[str], typer.Argument(help="run folders or globs; 'latest'")],
    metric: Annotated[str, typer.Option(help="the throughput to fit, higher is better: tasks_per_s, bytes_per_s, ...")] = Metric.TASKS_PER_S,
    axis: Annotated[str, typer.Option(help="what is swept: workers (or nodes on a cluster)")] = "workers",
    fmt: Annotated[str, format_option("scaling")] = "table",
    results_dir: ResultsOption = results.RESULTS_DIR,
) -> None:
    """Fit Amdahl's law and the Universal Scalability Law to each swept family: where adding workers stops paying."""
    from harness.analysis import scaling as fitting
    from harness.output.scaling import ScalingView

    formats.get("scaling", fmt)
    df = _load(runs, results_dir)
    try:
        fits = fitting.fit_scaling(df, metric, axis=axis)
    except fitting.ScalingError as exc:
        raise InputError(str(exc)) from None
    _print(formats.render("scaling", fmt, ScalingView(fits)))


def schema() -> None:
    """Print the scenario spec's JSON Schema, for editors that validate TOML and JSON specs."""
    print(json.dumps(spec.json_schema(), indent=2))


def env(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    noise: Annotated[bool, typer.Option("--noise", help="instead: probe this machine for --seconds with fresh processes and say how noisy it is (as pyperf's `system show`)")] = False,
    seconds: Annotated[float | None, typer.Option("--seconds", help="how long --noise probes (2-120, default 15)")] = None,
) -> None:
    """Show this machine and its software as a run records them; with --noise, how noisy it is."""
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
    console.print(views.env_table(fp))
