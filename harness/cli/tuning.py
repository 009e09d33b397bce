"""`harness tune`: race the ways to run a spec's function and print the fastest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness import results, units
from harness.cli.common import _parsed, _print, _split_list, console, err, format_option
from harness.cli.running import _ADDRESS_PARAMS, _address_options
from harness.errors import InputError
from harness.output import formats


def tune(
    scenario: Annotated[str, typer.Argument(help="a spec naming your function (workload, inputs, check, tasks) or a scenario name")],
    import_: Annotated[list[str] | None, typer.Option("--import", help="allow the spec's workload to import this module of your own (repeatable)")] = None,
    budget: Annotated[str, typer.Option(help="time the race may take, e.g. 90s or 3m")] = "90s",
    backends: Annotated[str | None, typer.Option(help="comma-separated backends to race (default: sequential,threads,processes,dask,ray)")] = None,
    workers: Annotated[str | None, typer.Option(help="comma-separated worker counts (default: the cores, and past them where the task waits)")] = None,
    confidence: Annotated[str, typer.Option(help="chance the fastest candidate is never eliminated, e.g. 95%")] = "95%",
    indifference: Annotated[str, typer.Option(help="candidates within this ratio of each other are a tie, e.g. 5%")] = "5%",
    repeat: Annotated[int | None, typer.Option(help="measured repeats per candidate process (default: the spec's)")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the blocks' random orders (default: drawn, and recorded in run.json)")] = None,
    out: Annotated[Path, typer.Option(help="folder that holds run folders")] = Path("results"),
    fmt: Annotated[str, format_option("tune")] = "table",
    **addresses: str | None,  # one --<backend>-address per backend with an address_flag
) -> None:
    """Race the ways to run your function on this machine, and print the fastest."""
    from harness import spec
    from harness.analysis import tune as answer_of
    from harness.execute import tune as race
    from harness.measure.racing import RaceRule
    from harness.output.tune import TuneView

    formats.get("tune", fmt)
    level = _parsed(units.parse_fraction, confidence, "--confidence")
    if not 0.5 <= level < 1:
        raise InputError("--confidence: between 50% and 100%, e.g. 95%")
    zone = _parsed(units.parse_fraction, indifference, "--indifference")
    rule = RaceRule(confidence=level, indifference=zone)
    options = spec.RunOptions.parse(
        budget_s=_parsed(units.parse_duration, budget, "--budget"),
        backends=_split_list(backends, "--backends"),
        workers=_split_list(workers, "--workers", int),
        repeat=repeat,
        seed=seed,
        imports=import_ or None,
        addresses={_ADDRESS_PARAMS[k]: v for k, v in addresses.items() if v is not None},
    )
    the_run = race.TuneRun.create(scenario, options, out=out, rule=rule)
    shown = console if fmt == "table" else err
    shown.print(
        f"tune [bold]{the_run.run_dir.name}[/]: racing ways to run [bold]{the_run.spec.workload}[/] "
        f"({the_run.base.tasks} tasks) within {units.fmt_seconds(options.budget_s or 90)}; "
        f"confidence {rule.confidence:.0%}, tie within {rule.indifference:.0%}"
    )
    outcome = None
    try:
        outcome = the_run.execute(say=lambda line: shown.print(line, highlight=False, markup=False))
    finally:
        if outcome is None:  # bad input found while racing: its line comes from main
            err.print(f"measured so far: {the_run.run_dir}", highlight=False)
    answer = answer_of.answer(results.load(the_run.run_dir), results.run_info(the_run.run_dir))
    _print(formats.render("tune", fmt, TuneView(answer)))
    shown.print(f"results: {the_run.run_dir}/{results.MEASUREMENTS}")
    if outcome.interrupted:
        raise typer.Exit(130)


tune = _address_options(tune)
