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
from conftest import HARNESS, cli, harness, only_run

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


def _start_dask(hosts, bare_python, tmp_path) -> str:
    """A Dask scheduler on host 0 and one single-threaded worker on each of hosts 1 and 2,
    joined; returns the scheduler's address."""
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
    return address


def test_dask_cluster_on_three_hosts_runs_on_both_worker_hosts(hosts, bare_python, tmp_path):
    _, w1, w2 = hosts.ips
    address = _start_dask(hosts, bare_python, tmp_path)
    from distributed import Client

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


#: Token auth off inside the isolated test network; the driver follows the same setting.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _start_ray(hosts, bare_python, tmp_path, short_tmp) -> str:
    """A Ray head without CPUs on host 0 and a one-CPU node on each of hosts 1 and 2;
    returns the head's address."""
    head_ip, w1, w2 = hosts.ips
    env = RAY_ENV
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
    return f"{head_ip}:6379"


def _ray_driver(hosts, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """`harness ARGS` in the head's namespace (Ray drivers run on a node of the cluster),
    again for up to 60 s while a node that started has not yet registered its CPUs."""
    deadline = time.monotonic() + 60
    while True:
        proc = subprocess.run(
            ["ip", "netns", "exec", hosts.names[0], HARNESS, *args],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, **RAY_ENV},
            cwd=tmp_path,  # Ray copies the driver's sys.path (and so its cwd) to workers
        )
        waiting = "has only" in proc.stderr or "has no workers" in proc.stderr
        if proc.returncode == 0 or time.monotonic() > deadline or not waiting:
            return proc
        time.sleep(2)


def test_ray_cluster_on_three_hosts_runs_on_both_worker_hosts(
    hosts, bare_python, tmp_path, short_tmp
):
    head_ip, w1, w2 = hosts.ips
    address = _start_ray(hosts, bare_python, tmp_path, short_tmp)
    out = tmp_path / "results"
    proc = _ray_driver(
        hosts, tmp_path, "run", "cpu", "--quick", "--backends", "ray", "--ray-address", address,
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
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
    _weak_node_sweep_on_ray(hosts, tmp_path, address)


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


def test_a_node_sweep_on_dask_spans_one_host_then_both(hosts, bare_python, tmp_path):
    _, w1, w2 = hosts.ips
    address = _start_dask(hosts, bare_python, tmp_path)
    out = tmp_path / "results"
    run = ["run", "cpu", "--quick", "--backends", "dask", "--dask-address", address]
    # More nodes than the cluster has: one line naming the flag, exit 2, nothing written.
    bad = harness(*run, "--nodes", "1,3", "--out", str(out))
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"harness: error: --nodes 3: the dask cluster at {address} has only 2 nodes with workers"
    ]
    assert not out.exists()
    proc = harness(*run, "--nodes", "1,2", "--workers", "1", "--out", str(out), timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    per_node = _node_sweep(only_run(out), w1, w2, "strong")
    assert (per_node["node_tasks"] > 0).all(), per_node  # the scheduler ran tasks on each
    _scaling_over_nodes(only_run(out), "dask", "1 per node, strong: fixed tasks")


def _weak_node_sweep_on_ray(hosts, tmp_path, address: str) -> None:
    """A weak node sweep on the Ray cluster (one start for both checks): the 1-node case on
    one worker node, the 2-node case on both with twice the tasks; one CPU a node, the most
    both nodes have, without --workers."""
    _, w1, w2 = hosts.ips
    out = tmp_path / "node-sweep"
    proc = _ray_driver(
        hosts, tmp_path, "run", "cpu", "--quick", "--backends", "ray", "--ray-address", address,
        "--nodes", "1,2", "--node-scaling", "weak", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    per_node = _node_sweep(only_run(out), w1, w2, "weak")
    assert (per_node["node_cpu_util"] > 0).all(), per_node
    _scaling_over_nodes(only_run(out), "ray", "1 per node, weak: tasks grow with nodes")


def _node_sweep(run_dir, w1: str, w2: str, kind: str):
    """A sweep over 1 and 2 nodes of one worker each: the 1-node case ran on one worker
    host alone and its per-node metrics name that host alone, the 2-node case on both;
    with weak scaling the 2-node case ran twice the tasks. Returns the per-node metrics,
    one row per case and host."""
    df = results.load(run_dir)
    assert set(df["status"]) == {"ok"} and set(df["node_scaling"]) == {kind}
    wall = df[df["metric"] == "wall_s"]
    cases = {
        count: {c: set(rows[c].tolist()) for c in ("nodes", "workers", "tasks")}
        for count, rows in wall.groupby("node_count")
    }
    assert sorted(cases) == [1, 2], cases
    (one,) = cases[1]["nodes"]
    assert one in {w1, w2} and cases[2]["nodes"] == {f"{w1},{w2}"}, cases
    assert (cases[1]["workers"], cases[2]["workers"]) == ({1}, {2})  # one worker per node
    ((few,), (many,)) = (cases[1]["tasks"], cases[2]["tasks"])
    assert many == (2 * few if kind == "weak" else few)
    per_node = df[df["metric"].str.startswith("node_")].pivot_table(
        index=["node_count", "nodes"], columns="metric", values="value"
    )
    assert per_node.index.tolist() == [(1, one), (2, w1), (2, w2)], per_node
    assert (per_node["node_peak_rss_bytes"] > 10 * 2**20).all(), per_node
    return per_node


def _scaling_over_nodes(run_dir, backend: str, held: str) -> None:
    """`harness scaling --axis nodes`: a row for the sweep, two levels, flagged as few."""
    proc = cli("scaling", str(run_dir), "--axis", "nodes", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["families"]
    assert (row["backend"], row["axis"], row["held"], row["levels"]) == (backend, "nodes", held, 2)
    assert any("too few levels" in f for f in row["flags"]), row["flags"]
    table = cli("scaling", str(run_dir), "--axis", "nodes")
    assert table.returncode == 0 and "where adding nodes stops paying" in table.stdout
