"""Clusters: check a cluster address before a run, and start/stop a local multi-process one.

Two jobs, both about clusters the benchmark runs on, neither knowing any engine: what is
engine-specific is stated on each backend class (`cluster_size`, `launch_cluster`,
`cluster_unit`).

- `available_workers` reaches an existing cluster (TCP with a short timeout, then the
  backend's `cluster_size`) and counts its workers, so a bad address fails before any case
  runs; `fit_workers` turns that count into the worker counts of the cases.
- `up` / `down` / `status` start a local multi-process cluster with the backend's launcher
  (Dask: `dask scheduler` + `dask worker`; Ray: `ray start --head --block`), bound to
  loopback unless told otherwise, dashboards off. Every process started carries a token in
  its environment, and a state file records the token, the PIDs and the address, so `down`
  stops exactly what `up` started, however the engine re-parents its helpers, and never a
  cluster someone else started.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from harness import backends, private
from harness.case import Case
from harness.errors import InputError
from harness.measure.proctree import terminate

#: Seconds allowed to reach a cluster address before a run is refused.
CONNECT_TIMEOUT_S = 5.0
STATE_ENV = "HARNESS_CLUSTER_STATE"
TOKEN_VAR = "HARNESS_CLUSTER_TOKEN"


class ClusterError(InputError):
    """A cluster that cannot be reached, used or started: one line that says which and why."""


# ---------------------------------------------------------------- existing clusters


def split_address(address: str) -> tuple[str, int]:
    """HOST and PORT of `tcp://HOST:PORT`, `ray://HOST:PORT` or `HOST:PORT`."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{address!r} is not HOST:PORT")
    return host, int(port)


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


def first_line(exc: BaseException) -> str:
    """An exception's first line, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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


# ---------------------------------------------------------------- local clusters


def state_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where `up` records what it started: the argument, $HARNESS_CLUSTER_STATE, or ~/.cache."""
    if path:
        return Path(path)
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    folder = private.cache_dir()
    if folder is None:
        raise ClusterError(
            f"{private.user_cache() / 'harness'}: not a folder only this user can write to, so "
            f"a cluster state kept there could name other processes; pass --state or set "
            f"${STATE_ENV}"
        )
    return folder / "cluster.json"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _launcher(tool: str, module: str) -> list[str]:
    """The engine's own command line tool next to this Python, else its module."""
    script = Path(sys.executable).parent / tool
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


@dataclass
class LocalLaunch:
    """What a backend's `launch_cluster` gets: where and how big, and the one way to start
    processes that `down` can later find and stop (each carries the cluster's token).

    The launcher sets `address`, starts its processes with `spawn`, and returns once the
    cluster accepts work; it raises ClusterError, with the log to read, when it does not.
    """

    host: str
    workers: int
    temp_dir: Path
    env: dict[str, str]
    info: dict[str, Any] = field(repr=False)
    address: str = ""
    #: Secure every connection with TLS (only for backends with `launch_tls`); the launcher
    #: keeps its certificates under `temp_dir` (mode 700) and records them in `info["tls"]`.
    tls: bool = False

    def free_port(self) -> int:
        """A port free now, for an engine that cannot bind port 0 itself: another process
        may take it before the engine does, so launchers pass 0 wherever the engine allows."""
        return free_port(self.host)

    def tool(self, script: str, module: str) -> list[str]:
        """The engine's command line tool next to this Python (`dask`), else `python -m`."""
        return _launcher(script, module)

    def spawn(self, cmd: list[str], log: str) -> Path:
        """Start `cmd` in its own session with the token, output to `log` in the temp dir."""
        path = self.temp_dir / log
        _spawn(self.info, cmd, self.env, path)
        return path

    def wait_port(self, port: int, timeout_s: float, log: str) -> None:
        """Until something listens on `port`; ClusterError if a launcher exits first."""
        _wait_port(self.host, port, timeout_s, self.info, self.temp_dir / log)

    def wait_file_value(self, path: Path, key: str, timeout_s: float, log: str) -> str:
        """`key` of the JSON file an engine writes once it listens (Dask's scheduler file:
        the address of the port it chose); ClusterError if a launcher exits first."""
        return self._wait_file(path, lambda text: json.loads(text).get(key), key, timeout_s, log)

    def wait_file_text(self, path: Path, timeout_s: float, log: str) -> str:
        """The text of a file an engine writes once it listens (Ray's `ray_current_cluster`:
        the address of the port it chose); ClusterError if a launcher exits first."""
        return self._wait_file(path, str.strip, "text", timeout_s, log)

    def _wait_file(
        self, path: Path, read: Callable[[str], Any], what: str, timeout_s: float, log: str
    ) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(_alive(p) for p in _launcher_procs(self.info)):
                raise ClusterError(f"the launcher exited: {_tail(self.temp_dir / log)}")
            try:
                value = read(path.read_text())
                if value:
                    return str(value)
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        where = self.temp_dir / log
        raise ClusterError(f"no {what} in {path} after {timeout_s:g} s (log: {where})")

    def running(self, name_part: str) -> bool:
        """Whether a process of this cluster has `name_part` in its name (a raylet)."""
        return any(name_part in _name(p) for p in _members(self.info))


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) reaches this machine only: every address it
    resolves to is a loopback one. 0.0.0.0 and :: (every interface) are not."""
    host = host.strip("[]")
    try:
        return _loopback_ip(host)
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(found) and all(_loopback_ip(a) for a in found)


def address_is_loopback(address: str) -> bool:
    """Whether a cluster address (`tcp://HOST:PORT`, `ray://HOST:PORT`, `HOST:PORT`) names
    this machine only; a malformed one does not."""
    try:
        return is_loopback(split_address(address)[0])
    except ClusterError:
        return False


def _loopback_ip(ip: str) -> bool:
    """127.0.0.0/8 and ::1, also as IPv4 mapped into IPv6 (::ffff:127.0.0.1, as sockets
    listening on both families report it); raises ValueError for a name."""
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


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
    info["pids"] = sorted(p.pid for p in _members(info))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    return info


def _spawn(info: dict[str, Any], cmd: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own process group: Ctrl-C on `up` leaves it alone
        )  # fmt: skip
    info["launchers"].append(
        {"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), "cmd": cmd}
    )


def _wait_port(host: str, port: int, timeout_s: float, info: dict[str, Any], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in _launcher_procs(info)):
            raise ClusterError(f"the launcher exited: {_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise ClusterError(f"nothing listens on {host}:{port} after {timeout_s:g} s (log: {log})")


def _tail(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"see {log}"
    return (lines[-1] if lines else "no output") + f" (log: {log})"


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _launcher_procs(info: dict[str, Any]) -> list[psutil.Process]:
    """The launchers `up` started, if each PID is still the same process (not a reused PID)."""
    found = []
    for item in info.get("launchers", []):
        try:
            proc = psutil.Process(item["pid"])
            if abs(proc.create_time() - item["create_time"]) < 0.01:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _members(info: dict[str, Any]) -> list[psutil.Process]:
    """Every live process of the cluster: the launchers and all that carry its token."""
    procs = {p.pid: p for p in _launcher_procs(info)}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me or proc.pid in procs:
            continue
        try:
            if proc.environ().get(TOKEN_VAR) == info["token"]:
                procs[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    return [p for p in procs.values() if _alive(p)]


def _stop(info: dict[str, Any]) -> list[int]:
    """SIGTERM the launchers (they stop their children), then whatever carries the token."""
    stopped = [p.pid for p in _members(info)]
    launchers = _launcher_procs(info)
    for proc in launchers:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # each launcher leads its own process group
        except (ProcessLookupError, PermissionError):
            pass
    _, alive = psutil.wait_procs(launchers, timeout=15)
    stopped += terminate(alive)
    deadline = time.monotonic() + 10
    rest = _members(info)
    while rest and time.monotonic() < deadline:  # helpers that exit on their own, given time
        time.sleep(0.2)
        rest = _members(info)
    stopped += terminate(rest)
    if info.get("temp_dir"):
        shutil.rmtree(info["temp_dir"], ignore_errors=True)
    return sorted(set(stopped))


def load_state(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """What `up` recorded (address, PIDs, TLS certificates), or None when none was started."""
    path = state_path(state)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClusterError(f"{path}: cannot read the cluster state ({exc})") from None


def status(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The recorded cluster with the PIDs alive now, or None when none was started."""
    path = state_path(state)
    info = load_state(path)
    if info is None:
        return None
    members = _members(info)
    info["alive"] = sorted(p.pid for p in members)
    info["processes"] = _summary(members)
    info["state"] = str(path)
    return info


def _summary(procs: list[psutil.Process]) -> dict[str, int]:
    names: dict[str, int] = defaultdict(int)
    for proc in procs:
        names[_name(proc) or "?"] += 1
    return dict(sorted(names.items()))


def down(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Stop what `up` started (by its state file) and forget it; None when nothing was up."""
    path = state_path(state)
    info = status(path)
    if info is None:
        return None
    info["stopped"] = _stop(info)
    info["left"] = sorted(p.pid for p in _members(info))
    if not info["left"]:
        path.unlink(missing_ok=True)
    return info
