"""`harness cluster up/down/status`: a local multi-process cluster started with the engine's
own launchers, and stopped to the last process it started (`execute/clusters.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness import backends
from harness.cli.common import (
    console,
    err,
)
from harness.errors import InputError

app = typer.Typer(
    no_args_is_help=True,
    help="Start, inspect and stop a local multi-process cluster "
    f"({', '.join(backends.with_launcher()) or 'no backend has a launcher'}).",
)
StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="state file (default $HARNESS_CLUSTER_STATE or ~/.cache/harness/cluster.json)",
    ),
]


@app.command("up")
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


@app.command("down")
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


@app.command("status")
def cluster_status(state: StateOption = None) -> None:
    """Show the cluster `harness cluster up` started: its address and live processes."""
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
