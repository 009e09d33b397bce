"""How a backend starts a local cluster, and finds what it started.

A backend's `launch_cluster` gets a `LocalLaunch`: where and how big, and the one way to
start processes (each carries the cluster's token in its environment, so `down` stops
exactly what `up` started however the engine re-parents its helpers). Also here, because
launchers and the address checks both need them: cluster addresses, loopback, and the
one-line `ClusterError`. Nothing here knows a run or a spec.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness import private
from harness.errors import InputError

TOKEN_VAR = "HARNESS_CLUSTER_TOKEN"
STATE_ENV = "HARNESS_CLUSTER_STATE"


class ClusterError(InputError):
    """A cluster that cannot be reached, used or started: one line that says which and why."""


def split_address(address: str) -> tuple[str, int]:
    """HOST and PORT of `tcp://HOST:PORT`, `ray://HOST:PORT` or `HOST:PORT`."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{address!r} is not HOST:PORT")
    return host, int(port)


def first_line(exc: BaseException) -> str:
    """An exception's first line, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tool_command(tool: str, module: str) -> list[str]:
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
        return tool_command(script, module)

    def spawn(self, cmd: list[str], log: str) -> Path:
        """Start `cmd` in its own session with the token, output to `log` in the temp dir."""
        path = self.temp_dir / log
        spawn(self.info, cmd, self.env, path)
        return path

    def wait_port(self, port: int, timeout_s: float, log: str) -> None:
        """Until something listens on `port`; ClusterError if a launcher exits first."""
        wait_port(self.host, port, timeout_s, self.info, self.temp_dir / log)

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
            if not any(alive(p) for p in launcher_processes(self.info)):
                raise ClusterError(f"the launcher exited: {tail(self.temp_dir / log)}")
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
        return any(name_part in process_name(p) for p in members(self.info))


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) reaches this machine only: every address it
    resolves to is a loopback one. 0.0.0.0 and :: (every interface) are not."""
    host = host.strip("[]")
    try:
        return _loopback_ip(host)
    except ValueError:
        pass
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
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


def spawn(info: dict[str, Any], cmd: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: Ctrl-C on `up` leaves it alone
        )
    info["launchers"].append(
        {"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), "cmd": cmd}
    )


def wait_port(host: str, port: int, timeout_s: float, info: dict[str, Any], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(alive(p) for p in launcher_processes(info)):
            raise ClusterError(f"the launcher exited: {tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise ClusterError(f"nothing listens on {host}:{port} after {timeout_s:g} s (log: {log})")


def tail(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"see {log}"
    return (lines[-1] if lines else "no output") + f" (log: {log})"


def process_name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def launcher_processes(info: dict[str, Any]) -> list[psutil.Process]:
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


def members(info: dict[str, Any]) -> list[psutil.Process]:
    """Every live process of the cluster: the launchers, all that carry its token, and all
    in a launcher's process group. The group is what finds Ray's agents: they overwrite
    their environment with their process title, so their token cannot be read, and they
    outlived a stopped head by a minute or more, re-parented to init."""
    procs = {p.pid: p for p in launcher_processes(info)}
    groups = {int(i["pid"]): float(i["create_time"]) for i in info.get("launchers", [])}
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me or proc.pid in procs:
            continue
        try:
            if proc.environ().get(TOKEN_VAR) == info["token"]:
                procs[proc.pid] = proc
                continue
            group = os.getpgid(proc.pid)
            # a launcher leads its own group; a group of that number made later than the
            # launcher is its (a reused number would need the launcher gone and its PID
            # handed to a new group leader, and that leader's processes came after)
            if group in groups and proc.create_time() >= groups[group] - 0.01:
                procs[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    return [p for p in procs.values() if alive(p)]


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


def load_state(state: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """What `up` recorded (address, PIDs, TLS certificates), or None when none was started."""
    path = state_path(state)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClusterError(f"{path}: cannot read the cluster state ({exc})") from None
