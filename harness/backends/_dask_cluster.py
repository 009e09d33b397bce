"""A Dask cluster outside any case: how many workers a scheduler has, a local cluster
launched for `harness cluster up dask`, and the mutual TLS both use.

`launch_cluster` starts `dask scheduler` + `dask worker`; with `--tls`, over mutual TLS (Dask's own
`Security`, certificates generated into the cluster's private folder). A `tls://` address
finds its certificates in Dask's config or in the state of the cluster `harness cluster up`
started there (`security_for`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


def cluster_size(address: str, timeout_s: float) -> int:
    """The scheduler's workers, asked over one comm (a Client would linger on failure)."""
    return int(_identity(address, timeout_s, n_workers=0).get("n_workers", 0))


def cluster_nodes(address: str, timeout_s: float) -> dict[str, int]:
    """The scheduler's workers per host, asked the same way."""
    from collections import Counter

    info = _identity(address, timeout_s, n_workers=-1)
    return dict(Counter(str(w.get("host", "")) for w in info.get("workers", {}).values()))


def _identity(address: str, timeout_s: float, n_workers: int) -> dict[str, Any]:
    """The scheduler's `identity` (with up to `n_workers` workers' own), or ClusterError."""
    import asyncio

    from distributed.core import rpc

    from harness.backends.launch import ClusterError, first_line

    try:
        security = security_for(address)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    args = security.get_connection_args("client") if security else {}

    async def identity() -> dict[str, Any]:
        async with rpc(address, timeout=timeout_s, connection_args=args) as scheduler:
            return await asyncio.wait_for(scheduler.identity(n_workers=n_workers), timeout_s)

    try:
        info = asyncio.run(asyncio.wait_for(identity(), timeout_s * 2))
    except Exception as exc:  # noqa: BLE001 - anything but an answer means "not a scheduler"
        why = "it speaks another protocol" if isinstance(exc, MemoryError) else first_line(exc)
        raise ClusterError(f"{address} does not answer as a Dask scheduler ({why})") from None
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        raise ClusterError(f"{address} answers, but not as a Dask scheduler")
    return info


def launch_cluster(launch: LocalLaunch) -> None:
    """`dask scheduler` and `dask worker --nworkers N --nthreads 1`, dashboards off;
    with `launch.tls`, every connection mutual TLS with certificates made for it."""
    from harness.backends.launch import ClusterError, first_line

    host, workers = launch.host, launch.workers
    dask = launch.tool("dask", "distributed.cli.dask_scheduler")
    scheduler = [*dask, "scheduler"] if dask[0].endswith("dask") else dask
    tls: list[str] = []
    security = None
    if launch.tls:
        files = write_certificates(launch.temp_dir / "tls")
        launch.info["tls"] = files
        security = _security_from(files)
        tls = ["--protocol", "tls", "--tls-ca-file", files["ca_file"],
               "--tls-cert", files["cert"], "--tls-key", files["key"]]  # fmt: skip
    # Port 0: the scheduler binds a free port itself and writes its address to the
    # scheduler file, so no port is picked ahead and raced for.
    sched_file = launch.temp_dir / "scheduler.json"
    # --no-dashboard leaves Dask's HTTP server (/health, /metrics) on, at :8787 for the
    # scheduler and :0 for workers, every interface: it gets the cluster's host too.
    http = ["--dashboard-address", f"[{host}]:0" if ":" in host else f"{host}:0"]
    launch.spawn(
        [*scheduler, "--host", host, "--port", "0", "--no-dashboard", *http,
         "--scheduler-file", str(sched_file), *tls],
        "scheduler.log",
    )  # fmt: skip
    address = launch.wait_file_value(sched_file, "address", 60, "scheduler.log")
    launch.address = address
    worker = [*dask, "worker"] if dask[0].endswith("dask") else [
        sys.executable, "-m", "distributed.cli.dask_worker",
    ]  # fmt: skip
    log = launch.spawn(
        [*worker, address, "--nworkers", str(workers), "--nthreads", "1", "--host", host,
         "--no-dashboard", *http, "--local-directory", str(launch.temp_dir / "workers"),
         *tls],
        "workers.log",
    )  # fmt: skip
    from distributed import Client

    try:
        with Client(address, timeout=30, set_as_default=False, security=security) as client:
            client.wait_for_workers(workers, timeout=120)
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(
            f"dask workers did not join {address}: {first_line(exc)} (log: {log})"
        ) from None


TLS_SCHEME = "tls://"
#: Dask's config keys that, set (in ~/.config/dask or DASK_DISTRIBUTED__COMM__TLS__...),
#: give a client its certificate: Dask's own way, for clusters the harness did not start.
TLS_CONFIG = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")


def write_certificates(folder: os.PathLike[str] | str) -> dict[str, str]:
    """A fresh self-signed certificate and key (`Security.temporary`, used as its own CA)
    written to `folder`, made mode 700, the files mode 600; returns their paths.

    One certificate for every role: the scheduler, workers and clients each present it and
    accept only it, so whoever can read the key can connect, and nobody else.
    """
    from pathlib import Path

    from distributed.security import Security

    made = Security.temporary()
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    files = {"ca_file": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    contents = {"ca_file": made.tls_ca_file, "cert": made.tls_client_cert,
                "key": made.tls_client_key}  # fmt: skip
    for name, path in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(contents[name])
    return {name: str(path) for name, path in files.items()}


def _security_from(files: dict[str, str]) -> Any:
    from distributed.security import Security

    return Security(
        tls_ca_file=files["ca_file"],
        tls_client_cert=files["cert"],
        tls_client_key=files["key"],
        require_encryption=True,
    )


def security_for(address: str) -> Any:
    """The `Security` a client needs for `address`: None for tcp://; for tls://, Dask's own
    TLS config when it names a certificate, else the certificates of the cluster
    `harness cluster up --tls` started at that address (its state file). ValueError when
    neither has one, naming both ways."""
    if not address.startswith(TLS_SCHEME):
        return None
    import dask
    from distributed.security import Security

    if all(dask.config.get(key, None) for key in TLS_CONFIG):
        return Security(require_encryption=True)
    from harness.backends.launch import load_state

    state = load_state()
    files = (state or {}).get("tls")
    if state and state.get("address") == address and files:
        return _security_from(files)
    raise ValueError(
        f"{address}: no TLS certificate for it: set Dask's config "
        "(DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT, ..._CLIENT__KEY) or start "
        "the cluster with `harness cluster up dask --tls`"
    )
