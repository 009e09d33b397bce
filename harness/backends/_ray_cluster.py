"""A Ray cluster outside any case: how many CPUs one has, a local one launched for
`harness cluster up ray`, the auth token both use, and keeping a Ray on 127.0.0.1.

`cluster_size` asks from a driver in a child process, which it kills when the answer does
not come in time (`ray.init` itself has no timeout). `launch_cluster` runs
`ray start --head --block` with token authentication and every port of its own. A driver
joining by address sends the token when one exists (`use_token_auth_if_available`);
`ray_node_on_loopback` keeps the nodes a driver starts or joins on this host at 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends.launch import LocalLaunch


def cluster_size(address: str, timeout_s: float) -> int:
    """The cluster's CPUs, from a driver in a child process that gets `2 x timeout_s`
    to connect once Ray is imported (`ray.init` itself has no timeout), then is killed."""
    return int(_ask(address, timeout_s)["cpus"])


def cluster_nodes(address: str, timeout_s: float) -> dict[str, int]:
    """The CPUs of each alive node (by its node id: several may share an address), asked
    the same way."""
    return {node: int(cpus) for node, cpus in _ask(address, timeout_s)["nodes"].items()}


def _ask(address: str, timeout_s: float) -> dict[str, Any]:
    """{"cpus": N, "nodes": {node id: CPUs}} from a driver in a child process."""
    import json
    import queue
    import signal
    import subprocess
    import threading

    from harness.backends.launch import ClusterError, address_is_loopback

    use_token_auth_if_available()  # before importing Ray; inherited by the cases
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env = dict(os.environ)
    if address_is_loopback(address):
        env[LOOPBACK_SWITCH] = "0"
    proc = subprocess.Popen(
        [sys.executable, "-c", _COUNT_CPUS, address],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("")

    threading.Thread(target=read, daemon=True).start()

    def next_json(deadline: float) -> dict[str, Any] | None:
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                return None
            if not line:
                return {"error": "the connecting process exited"}
            if line.startswith("{"):
                return json.loads(line)
        return None

    try:
        # Importing Ray is not connecting: it gets its own, generous, allowance.
        ready = next_json(time.monotonic() + 60)
        answer = next_json(time.monotonic() + 2 * timeout_s) if ready == {"ready": 1} else ready
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    if answer is None:
        why = f"no answer within {2 * timeout_s:g} s"
    elif "error" in answer:
        why = answer["error"]
    else:
        return answer
    raise ClusterError(f"cannot connect to the Ray cluster at {address}: {why}")


def launch_cluster(launch: LocalLaunch) -> None:
    """`ray start --head --block` with `workers` CPUs and every port of its own, so other
    Ray instances on this machine keep theirs.

    Ray 2.60 binds port 0 itself for the GCS (`--port 0`, its address read back from
    `<temp dir>/ray_current_cluster`), the raylet, object manager, agents, metrics and
    workers (`--min-worker-port 0`): nothing is picked ahead and raced for. The one
    exception is Ray's client server (started only when `ray[client]` is installed),
    whose port must be 1024-65535: that one is picked just before `ray start`.
    """
    from harness.backends.launch import ClusterError, is_loopback

    host = launch.host
    launch.env["RAY_USAGE_STATS_ENABLED"] = "0"
    launch.env.setdefault("RAY_worker_niceness", "0")  # as the driver's (Ray's default: 15)
    if is_loopback(host):
        launch.env[LOOPBACK_SWITCH] = "0"  # else `ray start` swaps 127.0.0.1 for eth0's
    # Always token authentication: without it, anyone who reaches a port runs code.
    launch.env["RAY_AUTH_MODE"] = "token"
    launch.info["auth_token"] = ensure_auth_token(launch.env)
    ports = {
        "--port": 0,
        "--node-manager-port": 0,
        "--object-manager-port": 0,
        "--metrics-export-port": 0,
        "--dashboard-agent-listen-port": 0,  # else Ray's fixed 52365
        "--dashboard-agent-grpc-port": 0,
        "--runtime-env-agent-port": 0,
        "--min-worker-port": 0,  # else 10002-19999, shared with every Ray on the host
        "--max-worker-port": 0,
    }
    if _ray_client_installed():
        # The client server refuses port 0 (Ray checks 1024-65535) and would take a
        # fixed 10001: picked here, the race window is the few ms until `ray start`.
        ports["--ray-client-server-port"] = launch.free_port()
    cmd = [
        *launch.tool("ray", "ray.scripts.scripts"),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        host,
        "--num-cpus",
        str(launch.workers),
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        str(launch.temp_dir),
        *[str(x) for item in ports.items() for x in item],
    ]
    log = launch.spawn(cmd, "ray-start.log")
    # `ray start --head` writes the GCS address it bound once the head is up.
    launch.address = launch.wait_file_text(
        launch.temp_dir / "ray_current_cluster", 90, "ray-start.log"
    )
    deadline = time.monotonic() + 60
    while not launch.running("raylet"):
        if time.monotonic() > deadline:
            raise ClusterError(f"no raylet started (log: {log})")
        time.sleep(0.2)


def _ray_client_installed() -> bool:
    """Whether `ray start --head` would start Ray's client server (it needs grpc)."""
    try:
        from ray._private.utils import get_ray_client_dependency_error
    except ImportError:  # a Ray that moved it: assume the server starts, pick its port
        return True
    return get_ray_client_dependency_error() is None


#: Run in a child process by `cluster_size`: JSON lines on stdout, {"ready": 1} once Ray is
#: imported, then {"cpus": N, "nodes": {node id: CPUs}} or {"error": "..."}.
_COUNT_CPUS = """
import json, logging, sys
import ray
print(json.dumps({"ready": 1}), flush=True)
try:
    ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False,
             logging_level=logging.ERROR)
    nodes = {n["NodeID"]: n["Resources"].get("CPU", 0)
             for n in ray.nodes() if n.get("Alive")}
    print(json.dumps({"cpus": ray.cluster_resources().get("CPU", 0), "nodes": nodes}),
          flush=True)
except Exception as exc:
    text = str(exc).strip().splitlines()
    print(json.dumps({"error": text[0] if text else type(exc).__name__}), flush=True)
finally:
    ray.shutdown()
"""


#: Ray's switch for "clusters of several hosts" (read at import into
#: `ray_constants.ENABLE_RAY_CLUSTER`). On, `ray.init` and `ray start` replace a node address
#: of 127.0.0.1 with the host's reachable one, and Ray's GCS, raylet and workers then listen
#: on every interface. Off, the node address stays 127.0.0.1 and every server binds to it.
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextmanager
def ray_node_on_loopback(on: bool) -> Iterator[None]:
    """Keep a Ray this block starts or joins on 127.0.0.1 (`on`), or leave Ray's default.

    The processes Ray starts in the block (GCS, raylet, and through it the workers) inherit
    the environment; the driver reads the constant, which is restored afterwards, so a
    process that later joins a cluster of several hosts is not held to loopback."""
    if not on:
        yield
        return
    from ray._private import ray_constants

    before_env = os.environ.get(LOOPBACK_SWITCH)
    before_constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before_constant
        if before_env is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = before_env


def ensure_auth_token(env: dict[str, str]) -> str:
    """Where the token of a cluster the harness starts comes from: $RAY_AUTH_TOKEN or
    $RAY_AUTH_TOKEN_PATH when set, else Ray's default file `~/.ray/auth_token`, created
    (mode 600, a random 256-bit token) when missing, made mode 600 when others can read it.
    Drivers on this host find it there (`use_token_auth_if_available`); other hosts need a
    copy."""
    import secrets

    if env.get("RAY_AUTH_TOKEN"):
        return "$RAY_AUTH_TOKEN"
    path = Path(env.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    elif path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a token others on this host can read protects nothing
    return str(path)


def use_token_auth_if_available() -> None:
    """Send Ray's auth token when one exists and the user did not choose a mode.

    Ray 2.5x+ clusters started where a token exists (`~/.ray/auth_token`, $RAY_AUTH_TOKEN)
    require it, but a driver joining by address only sends it in `RAY_AUTH_MODE=token`.
    """
    if os.environ.get("RAY_AUTH_MODE"):
        return
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token_file):
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:  # Ray read its config at import: make it read it again
            from ray._raylet import Config  # type: ignore[attr-defined]  # not in its stub

            Config.initialize("")
