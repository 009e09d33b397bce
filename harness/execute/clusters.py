"""Clusters: check a cluster address before a run, and start/stop a local multi-process one.

Two jobs, both about clusters the benchmark runs on, neither knowing any engine: what is
engine-specific is stated on each backend class (`cluster_size`, `launch_cluster`,
`cluster_unit`); how a launcher starts and finds its processes is `backends.launch`.

- `available_workers` reaches an existing cluster (TCP with a short timeout, then the
  backend's `cluster_size`) and counts its workers, so a bad address fails before any case
  runs; `fit_workers` turns that count into the worker counts of the cases.
- `up` / `down` / `status` start a local multi-process cluster with the backend's launcher
  (Dask: `dask scheduler` + `dask worker`; Ray: `ray start --head --block`), bound to
  loopback unless told otherwise, dashboards off. A state file records the token, the PIDs
  and the address, so `down` stops exactly what `up` started, and never a cluster someone
  else started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from harness import backends
from harness.backends.launch import (
    TOKEN_VAR,
    ClusterError,
    LocalLaunch,
    is_loopback,
    launcher_processes,
    load_state,
    members,
    process_name,
    split_address,
    state_path,
)
from harness.case import Case
from harness.measure.proctree import terminate

#: Seconds allowed to reach a cluster address before a run is refused.
CONNECT_TIMEOUT_S = 5.0


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to the address, so a wrong host or port fails in seconds."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ClusterError(
            f"cannot reach {address} within {timeout_s:g} s ({reason}); is the cluster running?"
        ) from None


def available_workers(engine: str, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> int:
    """The workers of the cluster at `address`, in the backend's `cluster_unit` (Dask:
    worker processes; Ray: CPUs). Raises ClusterError."""
    cls = _backend(engine, "address_flag")
    check_reachable(address, timeout_s)
    return cls.cluster_size(address, timeout_s)


def node_sizes(engine: str, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, int]:
    """The workers of each node of the cluster at `address` (`cluster_unit`), for a node
    sweep. Raises ClusterError."""
    cls = _backend(engine, "address_flag")
    check_reachable(address, timeout_s)
    return cls.cluster_nodes(address, timeout_s)


def _backend(engine: str, needs: str) -> type[backends.Backend]:
    """The backend class, if it has what the job needs (an address flag, a launcher)."""
    if needs == "address_flag":
        able, lack = tuple(backends.with_address_flag()), "does not run on a cluster by address"
        which = "backends that do"
    else:
        able, lack, which = backends.with_launcher(), "has no cluster launcher", "backends with one"
    if engine not in able:
        known = f"{which}: {', '.join(able) or 'none'}"
        if engine in backends.names():
            raise ClusterError(f"backend {engine!r} {lack} ({known})")
        raise ClusterError(f"unknown backend {engine!r} ({known})")
    return backends.get(engine)


def fit_workers(
    cases: list[Case], backend: str, available: int, requested: list[int] | None, where: str
) -> list[Case]:
    """The cases of `backend` on a cluster with `available` workers.

    Without `--workers` a case uses all the cluster's workers (one case per parameter set);
    with `--workers N,...` each count must fit the cluster, else ClusterError.
    """
    if available < 1:
        raise ClusterError(f"{where} has no workers")
    if requested is not None:
        too_many = [w for w in requested if w > available]
        if too_many:
            raise ClusterError(
                f"--workers {too_many[0]}: {where} has only {available} "
                f"{backends.get(backend).cluster_unit}"
            )
        return cases
    out: list[Case] = []
    seen: set[str] = set()
    for case in cases:
        if case.backend == backend:
            case = dataclasses.replace(case, workers=available)
            if case.case_id in seen:
                continue
            seen.add(case.case_id)
        out.append(case)
    return out


def fit_nodes(
    cases: list[Case],
    backend: str,
    sizes: dict[str, int],
    nodes: list[int],
    requested: list[int] | None,
    scaling: str,
    where: str,
    field: str,
) -> list[Case]:
    """The cases of `backend` as a node sweep over a cluster with `sizes` workers a node:
    one case per node count N and workers per node W, N x W workers on N nodes (the backend
    places them: its option `nodes`), `tasks` x N of them when `scaling` is "weak".

    W is each of `--workers` (`requested`), else the most that the largest N nodes all
    have. A count more than the cluster's nodes with W workers is a ClusterError naming
    `field` (--nodes, or the spec's `nodes`)."""
    unit = backends.get(backend).cluster_unit
    counts = sorted((n for n in sizes.values() if n > 0), reverse=True)
    if not counts:
        raise ClusterError(f"{where} has no workers")
    most = max(nodes)
    if most > len(counts):
        raise ClusterError(
            f"{field} {most}: {where} has only {len(counts)} "
            f"node{'s' if len(counts) != 1 else ''} with {unit}"
        )
    # --workers: the cases' own counts (the spec's with --workers are overridden already)
    own = sorted({c.workers for c in cases if c.backend == backend})
    per_node = own if requested else [counts[most - 1]]
    for w in per_node:
        able = sum(n >= w for n in counts)
        if able < most:
            flag = "--workers" if requested else field
            raise ClusterError(
                f"{flag} {w if requested else most}: {where} has only {able} "
                f"node{'s' if able != 1 else ''} with {w} {unit} or more (workers are per node "
                f"with {field})"
            )
    out: list[Case] = []
    seen: set[str] = set()
    for case in cases:
        if case.backend != backend:
            out.append(case)
            continue
        for w in [case.workers] if requested else per_node:
            for n in sorted(set(nodes)):
                swept = dataclasses.replace(
                    case,
                    workers=w * n,
                    nodes=n,
                    node_scaling=scaling,
                    tasks=case.tasks * n if scaling == "weak" else case.tasks,
                    backend_options={**case.backend_options, "nodes": n},
                )
                if swept.case_id not in seen:
                    seen.add(swept.case_id)
                    out.append(swept)
    return out


def exposure(engine: str, host: str, allow_remote: bool, tls: bool = False) -> str | None:
    """The warning `cluster up` prints before it binds where other hosts can reach it, or
    None: on loopback, without --allow-remote (up refuses then), for an unknown engine, or
    with --tls on an engine that cannot launch with it (up refuses that too)."""
    if not allow_remote or engine not in backends.names() or is_loopback(host):
        return None
    if tls and not backends.get(engine).launch_tls:
        return None
    return exposure_warning(engine, host, tls)


def exposure_warning(engine: str, host: str, tls: bool = False) -> str:
    """The one line `up --allow-remote` prints: what anyone reaching `host` can do."""
    cls = backends.get(engine)
    what = cls.tls_exposure if tls and cls.launch_tls else cls.exposure
    return f"warning: {engine} cluster bound to {host}: {what}"


def up(
    engine: str,
    workers: int,
    host: str = "127.0.0.1",
    state: str | os.PathLike[str] | None = None,
    allow_remote: bool = False,
    tls: bool = False,
) -> dict[str, Any]:
    """Start a local cluster of `workers` worker processes (Ray: CPUs); returns its state.

    A `host` other hosts can reach is refused, before anything starts, unless
    `allow_remote`: the engines run code sent to them by whoever connects. `tls` secures
    every connection of engines that can (Dask), with certificates made for this cluster.
    """
    cls = _backend(engine, "launch_cluster")
    if workers < 1:
        raise ClusterError("--workers: must be at least 1")
    if tls and not cls.launch_tls:
        able = [n for n in backends.with_launcher() if backends.get(n).launch_tls]
        raise ClusterError(f"--tls: not for {engine} (only {', '.join(able) or 'none'})")
    if not allow_remote and not is_loopback(host):
        raise ClusterError(
            f"--host {host}: not a loopback address, so other hosts could connect and run code "
            f"on it ({cls.exposure}); pass --allow-remote to bind to it anyway"
        )
    path = state_path(state)
    current = status(path)
    if current is not None and current["alive"]:
        raise ClusterError(
            f"a {current['engine']} cluster started by harness runs at {current['address']} "
            f"(state {path}); stop it with `harness cluster down` first"
        )
    info = launch_local(cls, engine, workers, host, tls)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    return info


def launch_local(
    cls: type[backends.Backend],
    engine: str,
    workers: int,
    host: str = "127.0.0.1",
    tls: bool = False,
) -> dict[str, Any]:
    """Start the engine's local cluster and return what `stop_local` needs: no state file
    (a run's warm engine is its own, not `harness cluster`'s)."""
    token = uuid.uuid4().hex
    temp_dir = Path(tempfile.mkdtemp(prefix=f"harness-{engine}-"))
    info: dict[str, Any] = {
        "engine": engine,
        "host": host,
        "workers": workers,
        "token": token,
        "temp_dir": str(temp_dir),
        "remote": not is_loopback(host),
        "started": datetime.now(timezone.utc).isoformat(),
        "launchers": [],
    }
    env = {**os.environ, TOKEN_VAR: token}
    launch = LocalLaunch(host, workers, temp_dir, env, info, tls=tls)
    try:
        assert cls.launch_cluster is not None
        cls.launch_cluster(launch)
        info["address"] = launch.address
    except BaseException:
        _stop(info)
        raise
    info["pids"] = sorted(p.pid for p in members(info))
    return info


def stop_local(info: dict[str, Any]) -> list[int]:
    """Stop a cluster `launch_local` started: every process that carries its token at once
    (SIGTERM, SIGKILL after 3 s). A launcher alone takes its time: `ray start --block`
    outlived a SIGTERM by 15 s here, which a run would have waited out."""
    stopped = terminate(members(info))
    stopped += _stop(info)  # anything that appeared meanwhile, and the temp dir
    return sorted(set(stopped))


def _stop(info: dict[str, Any]) -> list[int]:
    """SIGTERM the launchers (they stop their children), then whatever carries the token."""
    stopped = [p.pid for p in members(info)]
    launchers = launcher_processes(info)
    for proc in launchers:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # each launcher leads its own process group
        except (ProcessLookupError, PermissionError):
            pass
    _, still_running = psutil.wait_procs(launchers, timeout=15)
    stopped += terminate(still_running)
    deadline = time.monotonic() + 10
    rest = members(info)
    while rest and time.monotonic() < deadline:  # helpers that exit on their own, given time
        time.sleep(0.2)
        rest = members(info)
    stopped += terminate(rest)
    if info.get("temp_dir"):
        shutil.rmtree(info["temp_dir"], ignore_errors=True)
    return sorted(set(stopped))


def status(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The recorded cluster with the PIDs alive now, or None when none was started."""
    path = state_path(state)
    info = load_state(path)
    if info is None:
        return None
    found = members(info)
    info["alive"] = sorted(p.pid for p in found)
    info["processes"] = _summary(found)
    info["state"] = str(path)
    return info


def _summary(procs: list[psutil.Process]) -> dict[str, int]:
    names: dict[str, int] = defaultdict(int)
    for proc in procs:
        names[process_name(proc) or "?"] += 1
    return dict(sorted(names.items()))


def down(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Stop what `up` started (by its state file) and forget it; None when nothing was up."""
    path = state_path(state)
    info = status(path)
    if info is None:
        return None
    info["stopped"] = _stop(info)
    info["left"] = sorted(p.pid for p in members(info))
    if not info["left"]:
        path.unlink(missing_ok=True)
    return info
