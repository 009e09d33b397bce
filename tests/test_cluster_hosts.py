"""Several hosts made of network namespaces, each running real Dask or Ray nodes.

The tests build a small network as root: a bridge in this namespace and one network
namespace per host, each with its own veth pair and address. A scheduler (or Ray head) runs
in one namespace and workers in two others, from a Python environment where `harness` is
NOT importable, so a passing run proves the code was shipped. They run the real engines and
check that every node is recorded and did work. Everything they start is stopped and every
namespace deleted, also when a test fails. Clusters on this host alone are in test_cluster.py.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import HARNESS, harness, only_run

from harness import results, spec
from harness.execute.passes import PROBES_PER_WORKER, RTT_TASKS

# `make test` runs each file on one pytest worker (--dist loadfile): these tests make
# namespaces, veth pairs and addresses of fixed names, so they must run one after another.
pytestmark = pytest.mark.cluster
TOKEN_VAR = "HARNESS_TEST_CLUSTER_TOKEN"
SITE_PACKAGES = next(p for p in sys.path if p.endswith("site-packages"))


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


def _netns_unusable() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    name = f"hxprobe{uuid.uuid4().hex[:6]}"
    try:
        _run("ip", "netns", "add", name)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"`ip netns add` is not permitted: {getattr(exc, 'stderr', exc)}".strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class Hosts:
    """`n` hosts: network namespaces on one bridge, reachable from this namespace."""

    def __init__(self, n: int, tmp: Path) -> None:
        self.id = uuid.uuid4().hex[:6]
        self.token = uuid.uuid4().hex
        self.bridge = f"hxb{self.id}"
        self.names = [f"hx{self.id}h{i}" for i in range(n)]
        used = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        octet = next(o for o in random.sample(range(100, 250), 150) if f"10.{o}." not in used)
        self.prefix = f"10.{octet}.7"
        self.gateway = f"{self.prefix}.1"
        self.ips = [f"{self.prefix}.{i + 2}" for i in range(n)]
        self.procs: list[subprocess.Popen] = []
        self.tmp = tmp
        self.created: list[str] = []

    def create(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self.created.append("bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for i, (ns, ip) in enumerate(zip(self.names, self.ips, strict=True)):
            outer, inner = f"hxv{self.id}{i}", f"hxp{self.id}{i}"
            _run("ip", "netns", "add", ns)
            self.created.append(ns)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "-n", ns, "link", "set", inner, "name", "eth0")
            _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            # A default route, so engines that find "their" address by routing get this one.
            _run("ip", "-n", ns, "route", "add", "default", "via", self.gateway)
            _run("ip", "link", "set", outer, "master", self.bridge)
            _run("ip", "link", "set", outer, "up")

    def start(self, host: int, cmd: list[str], log: str, env: dict[str, str] | None = None):
        """Start `cmd` inside host `host`; it and its children carry the test's token."""
        full_env = {**os.environ, **(env or {}), TOKEN_VAR: self.token}
        full_env.pop("HARNESS_CLUSTER_STATE", None)
        out = open(self.tmp / log, "ab")  # noqa: SIM115 - closed with the test
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.names[host], *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=self.tmp,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def ours(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(TOKEN_VAR) == self.token:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def destroy(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        # Engines start processes in sessions of their own: they get the signal too. Some
        # never act on it (`ray start --block`, Ray's gcs_server and monitor outlive 15 s of
        # SIGTERM): a short grace, then SIGKILL. What is checked is that nothing outlives it.
        for proc in self.ours():
            try:
                proc.terminate()
            except psutil.Error:
                pass
        deadline = time.monotonic() + 3
        while self.ours() and time.monotonic() < deadline:
            time.sleep(0.3)
        for proc in self.ours():
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(self.ours(), timeout=5)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.names:
            if ns in self.created:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if "bridge" in self.created:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


@pytest.fixture
def hosts(tmp_path):
    reason = _netns_unusable()
    if reason:
        pytest.skip(reason)
    made = Hosts(3, tmp_path)
    try:
        made.create()
        yield made
    finally:
        made.destroy()
        assert made.ours() == [], "processes of the test cluster outlived it"
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert made.id not in left, "a test namespace outlived the test"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python with the engines but without harness: a venv whose path has our site-packages
    as a plain directory, so the editable install's .pth hook never runs there."""
    root = tmp_path_factory.mktemp("bare-venv")
    subprocess.run(
        [sys._base_executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    (site,) = root.glob("lib/python*/site-packages")
    (site / "engines.pth").write_text(SITE_PACKAGES + "\n")
    python = str(root / "bin" / "python")
    probe = subprocess.run(
        [python, "-c", "import distributed, ray; import harness"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert "No module named 'harness'" in probe.stderr, probe.stderr
    return python


@pytest.fixture
def short_tmp():
    """Ray's unix sockets live under its temp dir, and their paths must stay under 108 bytes."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="hxray", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen, log: Path) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing listens on {host}:{port}: {log.read_text()[-2000:]}")


def test_dask_cluster_on_three_hosts_runs_on_both_worker_hosts(hosts, bare_python, tmp_path):
    sched_ip, w1, w2 = hosts.ips
    address = f"tcp://{sched_ip}:8786"
    sched = hosts.start(
        0,
        [
            bare_python,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            sched_ip,
            "--port",
            "8786",
            "--no-dashboard",
        ],
        "scheduler.log",
    )
    _wait_port(sched_ip, 8786, 60, sched, tmp_path / "scheduler.log")
    for i, ip in ((1, w1), (2, w2)):
        hosts.start(
            i,
            [
                bare_python,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--host",
                ip,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / f"w{i}"),
            ],
            f"worker{i}.log",
        )
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)

    out = tmp_path / "results"
    # More workers than the cluster has: one line, exit 2, nothing written.
    bad = harness(
        "run",
        "cpu",
        "--quick",
        "--backends",
        "dask",
        "--dask-address",
        address,
        "--workers",
        "3",
        "--out",
        str(out),
    )
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "has only 2 workers" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not out.exists()

    proc = harness(
        "run",
        "cpu",
        "--quick",
        "--backends",
        "dask",
        "--dask-address",
        address,
        "--out",
        str(out),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run(out)
    engine = results.run_info(run_dir)["engines"]["dask"]
    nodes = {n["address"]: n for n in engine["nodes"]}
    assert set(nodes) == {w1, w2}, engine
    for node in nodes.values():
        assert node["workers"] == 1 and node["cores"] >= 1 and node["memory_bytes"] > 0
        assert node["packages"]["distributed"] and node["python"]
        # harness is not installed there: the workers imported the zip the driver shipped
        assert ".zip" in node["harness_path"], node["harness_path"]
    per_node = _per_node_metrics(run_dir, w1, w2)
    # work on each host: tasks the scheduler saw finish there, memory sampled there
    assert (per_node["node_tasks"] > 0).all(), per_node
    # every task counted once: warm-ups, repeats, the batch completion pass, and the
    # round-trip loop (one untimed, then one per input up to RTT_TASKS) of the quick case
    (case,) = spec.expand(
        spec.load("cpu"), quick=True, backends_filter=["dask"], workers_override=[2]
    )
    batches = case.tasks * (case.warmup + case.repeat + 1)
    probes = PROBES_PER_WORKER * case.workers  # the timeline pass's clock probes
    assert per_node["node_tasks"].sum() == batches + 1 + min(case.tasks, RTT_TASKS) + probes
    _tasks_carry_their_host(run_dir, w1, w2)
    assert (per_node["node_peak_rss_bytes"] > 10 * 2**20).all(), per_node
    _shuffle_moves_data_between_hosts(address, out, w1, w2)
    # the harness stopped nothing it did not start: the cluster still serves
    with Client(address, timeout=30, set_as_default=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def _shuffle_moves_data_between_hosts(address: str, out, w1: str, w2: str) -> None:
    """The shuffle on the cluster: each reducer's parts come from the mappers on both hosts,
    fetched worker to worker (the workers' own transfer logs say from where), while only
    the reducers' summaries reach the driver."""
    from urllib.parse import urlsplit

    from distributed import Client

    proc = harness(
        "run",
        "shuffle",
        "--quick",
        "--backends",
        "dask",
        "--dask-address",
        address,
        "--workers",
        "2",
        "--out",
        str(out / "shuffle"),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = results.load(only_run(out / "shuffle"))
    assert set(df["status"]) == {"ok"} and set(df["nodes"]) >= {f"{w1},{w2}"}

    def incoming(dask_worker) -> list[tuple[str, int]]:  # nested: shipped by value
        """On each worker: (peer, bytes) of every fetch of task data from another worker."""
        return [(t["who"], int(t["total"])) for t in dask_worker.transfer_incoming_log]

    with Client(address, timeout=30, set_as_default=False) as client:
        logs = client.run(incoming)
    host = {addr: urlsplit(addr).hostname for addr in logs}
    crossed = sum(
        n
        for addr, fetched in logs.items()
        for peer, n in fetched
        if urlsplit(peer).hostname != host[addr]
    )
    (params,) = {json.loads(p)["partition_bytes"] for p in df["params"]}
    assert crossed >= 8 * params, logs  # many parts crossed between the two hosts
    driver = df.loc[df["metric"] == "driver_bytes", "value"].max()
    assert driver < crossed / 10, (driver, crossed)
    print(f"shuffle on the cluster: {crossed:,} B between hosts, {driver:,.0f} B via the driver")


def test_ray_cluster_on_three_hosts_runs_on_both_worker_hosts(
    hosts, bare_python, tmp_path, short_tmp
):
    head_ip, w1, w2 = hosts.ips
    # Token auth off inside the isolated test network; the driver follows the same setting.
    env = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    temp = short_tmp
    ray_start = [
        bare_python,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--block",
        "--disable-usage-stats",
        "--temp-dir",
        str(temp),
    ]
    head = hosts.start(
        0,
        [
            *ray_start,
            "--head",
            "--node-ip-address",
            head_ip,
            "--port",
            "6379",
            "--num-cpus",
            "0",
            "--include-dashboard=false",
        ],
        "head.log",
        env,
    )
    _wait_port(head_ip, 6379, 90, head, tmp_path / "head.log")
    # One node at a time: the "hosts" share one file system, and Ray names a node's sockets
    # and logs in the shared session folder as it starts.
    for i, ip in ((1, w1), (2, w2)):
        log = tmp_path / f"worker{i}.log"
        node = hosts.start(
            i,
            [
                *ray_start,
                "--address",
                f"{head_ip}:6379",
                "--node-ip-address",
                ip,
                "--num-cpus",
                "1",
            ],
            log.name,
            env,
        )
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert node.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
    out = tmp_path / "results"
    # Ray drivers run on a node of the cluster: the harness runs in the head's namespace.
    deadline = time.monotonic() + 60
    while True:
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                hosts.names[0],
                HARNESS,
                "run",
                "cpu",
                "--quick",
                "--backends",
                "ray",
                "--ray-address",
                f"{head_ip}:6379",
                "--workers",
                "2",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, **env},
            cwd=tmp_path,  # Ray copies the driver's sys.path (and so its cwd) to workers
        )
        # A node that started may take a moment to register its CPUs with the head.
        waiting = "has only" in proc.stderr or "has no workers" in proc.stderr
        if proc.returncode == 0 or time.monotonic() > deadline or not waiting:
            break
        time.sleep(2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run(out)
    engine = results.run_info(run_dir)["engines"]["ray"]
    nodes = {n["address"]: n for n in engine["nodes"]}
    assert set(nodes) == {head_ip, w1, w2}, engine
    assert nodes[head_ip]["workers"] == 0
    for ip in (w1, w2):
        assert nodes[ip]["workers"] == 1 and nodes[ip]["cluster_cpus"] == 1
        # shipped as a runtime_env py_module, not imported from this checkout
        assert "runtime_resources" in nodes[ip]["harness_path"], nodes[ip]["harness_path"]
    per_node = _per_node_metrics(run_dir, w1, w2)
    assert (per_node["node_peak_rss_bytes"] > 10 * 2**20).all(), per_node
    assert (per_node["node_cpu_util"] > 0).all(), per_node
    _tasks_carry_their_host(run_dir, w1, w2)


def _tasks_carry_their_host(run_dir, w1: str, w2: str) -> None:
    """The timeline pass on a cluster: each task names the host it ran on, and each host's
    clock offset is recorded with its uncertainty. The "hosts" share this machine's clock,
    so the true offset is 0: the stated uncertainty must cover it."""
    tasks = results.load(run_dir, name=results.TASKS)
    # the engine places the few tasks of a quick case: both hosts, or one of them
    assert set(tasks["node"]) and set(tasks["node"]) <= {w1, w2}, set(tasks["node"])
    assert tasks["worker"].str.split(" ").str[0].isin([w1, w2]).all()
    df = results.load(run_dir)
    clocks = df[df["metric"].isin(["clock_offset_s", "clock_uncertainty_s"])].pivot_table(
        index="nodes", columns="metric", values="value"
    )
    assert set(tasks["node"]) <= set(clocks.index) <= {w1, w2}, clocks  # probes reach more
    for node, row in clocks.iterrows():
        assert 0 <= row["clock_uncertainty_s"] < 0.5, (node, row)
        assert abs(row["clock_offset_s"]) <= row["clock_uncertainty_s"] + 1e-6, (node, row)
    node_rows = tasks.merge(clocks, left_on="node", right_index=True)
    assert (node_rows["clock_uncertainty_s_x"] == node_rows["clock_uncertainty_s_y"]).all()


def _per_node_metrics(run_dir, w1: str, w2: str):
    """Every case ok on both worker hosts; the node_* metrics, one row per host."""
    df = results.load(run_dir)
    assert set(df["status"]) == {"ok"}
    assert set(df.loc[df["metric"] == "wall_s", "nodes"]) == {f"{w1},{w2}"}
    per_node = df[df["metric"].str.startswith("node_")].pivot_table(
        index="nodes", columns="metric", values="value"
    )
    assert set(per_node.index) == {w1, w2}
    return per_node
