"""The commands that run cases: `run` (a scenario's cases, saved as a run) and `ab` (two
specs interleaved slot by slot, compared paired).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from harness import backends, results, spec, units
from harness.analysis import summaries
from harness.cli.common import (
    FormatOption,
    _parsed,
    _print,
    _split_list,
    console,
    err,
)
from harness.errors import InputError
from harness.execute import runner
from harness.output import formats
from harness.output.views import SummaryView
from harness.protocol import Metric


def run(
    scenario: Annotated[str, typer.Argument(help="scenario name (see `harness list`) or a .toml path")],
    backends: Annotated[str | None, typer.Option(help="comma-separated backends, e.g. threads,ray")] = None,
    workers: Annotated[str | None, typer.Option(help="comma-separated worker counts, e.g. 1,2,4 (with --nodes: per node)")] = None,
    nodes: Annotated[str | None, typer.Option(help="on a cluster given by address: comma-separated node counts the cluster cases' workers span, e.g. 1,2 (--workers per node)")] = None,
    node_scaling: Annotated[str | None, typer.Option(help="with --nodes: strong (the same tasks at every node count, the default) or weak (the spec's tasks per node)")] = None,
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
        nodes=_split_list(nodes, "--nodes", int),
        node_scaling=node_scaling,
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
    host = the_run.info["fingerprint"]["machine"]["hostname"]
    extra: dict[str, Any] = {"run_dir": str(the_run.run_dir), "interrupted": result.interrupted}
    view = SummaryView(table, title=f"{the_run.spec.name} on {host}", extra=extra)
    _print(formats.render("run", "json" if as_json else "table", view))
    shown.print(f"results: {the_run.run_dir}/{results.MEASUREMENTS}")
    if result.interrupted:
        err.print(
            f"interrupted: finished cases are saved. Continue with: {result.resume_command}",
            highlight=False,
        )
        raise typer.Exit(130)


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


run = _address_options(run)


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

    formats.get("ab", fmt)
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
    the_run = ab_run.AbRun.create(spec_a, spec_b, options, out=out, alpha=alpha,
                                  say=lambda line: err.print(line, highlight=False))  # fmt: skip
    shown_on = console if fmt == "table" else err
    pairs = the_run.info["ab"]["pairs"]
    together = sum(p["in_process"] for p in pairs)
    shown_on.print(
        f"A/B run [bold]{the_run.run_dir.name}[/]: A = {the_run.specs[0].name}, B = "
        f"{the_run.specs[1].name}; {len(pairs)} pairs ({together} alternating in one process "
        f"each slot, {len(pairs) - together} as two processes back to back); "
        f"at least {max(the_run.info['rounds'], ab_run.slots_to_reach(alpha, len(pairs)))} "
        "slots each, then more where intervals are wide, within a budget of "
        f"{units.fmt_seconds(the_run.info['budget']['seconds'])}"
    )
    with ProgressObserver(shown_on, rounds=the_run.info["rounds"]) as observer:
        result = the_run.execute(observer)
    try:
        comparison = ab_analysis.compare_sides(results.load(the_run.run_dir), pairs, metric,
                                               limit, alpha)  # fmt: skip
    except cmp.CompareError as exc:
        raise InputError(str(exc)) from None
    _print(formats.render("ab", fmt, shown.CompareView(comparison)))
    shown_on.print(f"results: {the_run.run_dir}/{results.MEASUREMENTS}")
    if result.interrupted:
        raise typer.Exit(130)
    if fail_on_regression and not comparison.regressions.empty:
        err.print(f"{len(comparison.regressions)} regression(s) beyond {threshold}")
        raise typer.Exit(1)
