"""Clusters on this host: `harness cluster up/status/down`, addresses, TLS, timeouts.

Every cluster here is real (a Dask scheduler and workers, a Ray head) and bound to
127.0.0.1; ports are the engines' own choice, so these tests may run beside others.
The multi-host tests, in network namespaces, are in test_cluster_hosts.py.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import cli, harness, listening, marked, not_on_loopback, only_run

from harness import backends, results
from harness.execute.clusters import available_workers


def test_bad_cluster_address_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "results"
    for args in (
        ["--dask-address", "tcp://127.0.0.1:1"],  # nothing listens
        ["--dask-address", "tcp://no-such-host.invalid:8786"],
        ["--dask-address", "127.0.0.1"],  # malformed
        ["--ray-address", "127.0.0.1:1"],
    ):
        t0 = time.monotonic()
        proc = harness("run", "cpu", "--quick", *args, "--out", str(out), timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("harness: error: --"), proc.stderr
        assert time.monotonic() - t0 < 30
        assert not out.exists()


@pytest.mark.parametrize("engine", ["dask", "ray"])
@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_remote_bind_is_refused_without_allow_remote(engine, host, tmp_path):
    """Exit 2 with one line naming the flag; no process started, no state or temp folder."""
    state, tmp = tmp_path / "cluster.json", tmp_path / "tmp"
    tmp.mkdir()
    mark = uuid.uuid4().hex
    proc = harness(
        "cluster",
        "up",
        engine,
        "--workers",
        "1",
        "--host",
        host,
        "--state",
        str(state),
        timeout=60,
        mark=mark,
        env={"TMPDIR": str(tmp)},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: cluster up"), proc.stderr
    assert "--allow-remote" in lines[0] and f"--host {host}" in lines[0]
    assert not state.exists()
    assert list(tmp.iterdir()) == []
    assert marked(mark) == []


def test_a_ray_address_that_never_answers_fails_within_the_timeout(tmp_path):
    """Something listens but never speaks Ray: `ray.init` alone would wait far longer."""
    import socket

    from harness.backends.launch import ClusterError

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        mine = {p.pid for p in psutil.Process().children(recursive=True)}
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match="cannot connect to the Ray cluster"):
            available_workers("ray", address, timeout_s=1)
        assert time.monotonic() - t0 < 45
    left = {p.pid for p in psutil.Process().children(recursive=True)} - mine
    assert not left, "the connecting process was left running"


@pytest.mark.parametrize("scheme", ["tcp", "tls"])
def test_a_dask_address_that_never_answers_fails_within_the_timeout(scheme, tmp_path, monkeypatch):
    """Something accepts the connection but never speaks Dask (nor completes a TLS
    handshake): the check gives up after its deadline (2 x the timeout) with one line."""
    import socket

    from harness.backends.dask import write_certificates
    from harness.backends.launch import ClusterError

    if scheme == "tls":  # certificates from Dask's config, as for a cluster we did not start
        files = write_certificates(tmp_path / "tls")
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CA_FILE", files["ca_file"])
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT", files["cert"])
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY", files["key"])
        import dask

        dask.config.refresh()
    try:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            address = f"{scheme}://127.0.0.1:{silent.getsockname()[1]}"
            t0 = time.monotonic()
            with pytest.raises(ClusterError, match="does not answer as a Dask scheduler"):
                available_workers("dask", address, timeout_s=1)
            assert time.monotonic() - t0 < 30  # a hang, not a speed, is what this catches
    finally:
        if scheme == "tls":
            monkeypatch.undo()
            dask.config.refresh()


def test_loopback_is_told_from_addresses_other_hosts_reach():
    from harness.backends.launch import address_is_loopback, is_loopback
    from harness.execute.clusters import exposure_warning

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.4.5") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
    assert not is_loopback("192.0.2.1") and not is_loopback("no-such-host.invalid")
    # IPv4 mapped into IPv6, as a socket listening on both families reports 127.0.0.1
    assert is_loopback("::ffff:127.0.0.1") and not is_loopback("::ffff:192.0.2.1")
    assert address_is_loopback("ray://127.0.0.1:10001") and address_is_loopback("[::1]:6379")
    assert not address_is_loopback("tcp://192.0.2.1:8786") and not address_is_loopback("nope")
    warning = exposure_warning("dask", "0.0.0.0")
    assert "\n" not in warning and "pickled code" in warning
    assert "token" in exposure_warning("ray", "0.0.0.0")


def test_cluster_up_warns_only_where_other_hosts_can_reach_it():
    from harness.execute.clusters import exposure

    assert exposure("dask", "0.0.0.0", allow_remote=True) is not None
    assert exposure("dask", "127.0.0.1", allow_remote=True) is None  # loopback
    assert exposure("dask", "0.0.0.0", allow_remote=False) is None  # up refuses instead
    assert exposure("nope", "0.0.0.0", allow_remote=True) is None  # up refuses instead
    assert exposure("ray", "0.0.0.0", allow_remote=True, tls=True) is None  # no TLS launcher
    assert "TLS" in (exposure("dask", "0.0.0.0", allow_remote=True, tls=True) or "")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_cluster_up_status_down_leaves_no_process(engine, tmp_path):
    """The life of a cluster `harness cluster up` starts, on loopback; on Ray, with a case
    that times out on it in between (see `_a_timed_out_ray_case_leaves_no_sampler_process`)."""
    state = tmp_path / "cluster.json"
    up = harness("cluster", "up", engine, "--workers", "2", "--state", str(state), timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads(state.read_text())
        pids = info["pids"]
        if engine == "ray":  # always token authentication, with a token only we can read
            assert {_env(p).get("RAY_AUTH_MODE") for p in pids if _env(p)} == {"token"}
            token = Path(info["auth_token"])
            assert token.is_file() and token.stat().st_mode & 0o077 == 0
        assert len(pids) >= 3  # dask: scheduler, launcher, workers; ray: ray start, gcs, raylet
        status = harness("cluster", "status", "--state", str(state))
        assert status.returncode == 0 and info["address"] in status.stdout
        assert available_workers(engine, info["address"]) == 2  # within the 5 s checks
        if engine == "ray":  # every port bound by Ray itself (port 0), none of its defaults
            bound = listening(pids)
            ports = {port for _, port in bound}
            assert ports and not ports & RAY_DEFAULT_PORTS, bound
            assert int(info["address"].rpartition(":")[2]) in ports
        # --host 127.0.0.1 (the default): no engine server other hosts could reach
        assert info["address"].split("://")[-1].startswith("127.0.0.1:"), info["address"]
        assert not_on_loopback(listening(pids)) == set()
        again = harness("cluster", "up", engine, "--state", str(state))
        assert again.returncode == 2 and "cluster down" in again.stderr
        if engine == "ray":  # one Ray cluster start for both (test time)
            _a_timed_out_ray_case_leaves_no_sampler_process(info, tmp_path)
    finally:
        down = harness("cluster", "down", "--state", str(state), timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not state.exists()
    # An exited process may show as a zombie for a moment, until PID 1 reaps the orphan
    assert [p for p in pids if _running(p)] == []
    assert harness("cluster", "status", "--state", str(state)).returncode == 1


#: Ports a `ray start` takes unless told otherwise: GCS, dashboard agent, client server,
#: and the worker port range.
RAY_DEFAULT_PORTS = {6379, 52365, 10001, *range(10002, 20000)}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _env(pid: int) -> dict[str, str]:
    try:
        return psutil.Process(pid).environ()
    except psutil.Error:
        return {}


def test_runs_without_a_nodes_column_still_load(tmp_path):
    """Runs written before the `nodes` column read as local runs."""
    row = {
        "run_id": "old",
        "host": "h",
        "scenario": "cpu",
        "case_id": "cpu/threads/w1",
        "backend": "threads",
        "workers": 1,
        "params": "{}",
        "tasks": 4,
        "repeat": 1,
        "metric": "wall_s",
        "value": 0.5,
        "unit": "s",
        "status": "ok",
        "error": "",
    }
    old = results.frame([row]).drop(columns=["nodes"])
    run_dir = tmp_path / "old"
    results.write_parquet_atomic(run_dir / results.MEASUREMENTS, old)
    df = results.load(run_dir)
    assert list(df.columns) == list(results.SCHEMA) and list(df["nodes"]) == ["local"]


def test_runs_before_node_sweeps_count_the_nodes_their_cases_named(tmp_path):
    """Runs written before `node_count`: a case's count is the most nodes its rows name."""
    base = {
        "run_id": "old",
        "host": "h",
        "scenario": "cpu",
        "backend": "dask",
        "workers": 2,
        "params": "{}",
        "tasks": 4,
        "repeat": 1,
        "unit": "s",
        "status": "ok",
        "error": "",
    }
    rows = [
        {**base, "case_id": "cpu/dask/w2", "metric": "wall_s", "value": 0.5, "nodes": "a,b"},
        {**base, "case_id": "cpu/dask/w2", "metric": "node_tasks", "value": 4, "nodes": "a"},
        {**base, "case_id": "cpu/threads/w2", "metric": "wall_s", "value": 0.5},
    ]
    old = results.frame(rows).drop(columns=["node_count", "node_scaling"])
    results.write_parquet_atomic(tmp_path / "old" / results.MEASUREMENTS, old)
    df = results.load(tmp_path / "old")
    assert df["node_count"].tolist() == [2, 2, 1] and set(df["node_scaling"]) == {""}


def test_a_node_sweep_without_a_cluster_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "results"
    spec_file = tmp_path / "swept.toml"
    spec_file.write_text(
        'name = "swept"\ndescription = "d"\nworkload = "sum_of_squares"\ntasks = 2\n'
        'backends = ["dask"]\nnodes = [1, 2]\n[params]\nn = 1000\n'
    )
    option_file = tmp_path / "option.toml"  # the engine's own option: only a sweep sets it
    option_file.write_text(
        spec_file.read_text().replace("nodes = [1, 2]\n", "")
        + "[backend_options.dask]\nnodes = 2\n"
    )
    for args, named in (
        (["cpu", "--quick", "--nodes", "1,2"], "--nodes: "),
        (
            [
                "cpu",
                "--quick",
                "--nodes",
                "1,2",
                "--backends",
                "threads",
                "--dask-address",
                "tcp://127.0.0.1:1",
            ],
            "--nodes: ",
        ),  # fmt: skip
        ([str(spec_file), "--quick"], f"{spec_file}: nodes: "),
        ([str(option_file), "--quick"], f"{option_file}: backend_options.dask.nodes: "),
        (["cpu", "--quick", "--node-scaling", "weak"], "--node-scaling: "),
        (["cpu", "--quick", "--nodes", "0"], "--nodes: "),
        (["cpu", "--quick", "--nodes", "1", "--node-scaling", "both"], "--node-scaling: "),
    ):
        proc = cli("run", *args, "--out", str(out))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"harness: error: {named}"), proc.stderr
        assert not out.exists()


def test_a_node_sweep_makes_a_case_per_node_count_with_workers_per_node():
    from harness import spec
    from harness.backends.launch import ClusterError
    from harness.execute.clusters import fit_nodes

    cases = spec.expand(spec.load("cpu"), quick=True, backends_filter=["threads", "dask"])
    sizes = {"10.0.0.6": 2, "10.0.0.7": 2, "10.0.0.8": 1, "head": 0}
    where = "the dask cluster at tcp://h:8786"
    swept = fit_nodes(cases, "dask", sizes, [1, 2], None, "weak", where, "--nodes")
    dask = [c for c in swept if c.backend == "dask"]
    # without --workers: the most the two largest nodes both have, 2 a node
    assert [(c.nodes, c.workers, c.tasks) for c in dask] == [(1, 2, 4), (2, 4, 8)]
    assert [c.backend_options["nodes"] for c in dask] == [1, 2]
    assert dask[1].case_id == "cpu/dask/w4/n2-weak/n=200000"
    assert [c for c in swept if c.backend == "threads"] == [
        c for c in cases if c.backend == "threads"
    ]
    cases = spec.expand(spec.load("cpu"), quick=True, workers_override=[1])
    strong = fit_nodes(cases, "dask", sizes, [1, 3], [1], "strong", where, "--nodes")
    assert [(c.nodes, c.workers, c.tasks) for c in strong if c.backend == "dask"] == [
        (1, 1, 4), (3, 3, 4)
    ]  # fmt: skip
    for nodes, workers, message in (
        ([4], None, "--nodes 4: the dask cluster at tcp://h:8786 has only 3 nodes with workers"),
        ([3], [2], "--workers 2: the dask cluster at tcp://h:8786 has only 2 nodes with 2 workers"),
    ):
        cases = spec.expand(spec.load("cpu"), quick=True, workers_override=workers)
        with pytest.raises(ClusterError) as caught:
            fit_nodes(cases, "dask", sizes, nodes, workers, "strong", where, "--nodes")
        assert str(caught.value).startswith(message), caught.value


def test_version_differences_between_driver_and_nodes_are_named():
    from harness.measure.nodes import node_facts, version_warnings

    engine = backends.get("dask").packages  # the backend names what must match
    driver = node_facts(engine)
    same = {**driver, "address": "10.0.0.6"}
    older = {
        **driver,
        "address": "10.0.0.7",
        "python": "3.10.1",
        "packages": {**driver["packages"], "distributed": "2023.1.0"},
    }
    assert version_warnings(driver, [same], engine) == []
    (line,) = version_warnings(driver, [same, older], engine)
    assert line.startswith("node 10.0.0.7 differs from the driver: python 3.10.1")
    assert f"distributed 2023.1.0 (driver {driver['packages']['distributed']})" in line


def test_dask_cluster_over_tls_serves_only_holders_of_its_certificate(tmp_path):
    """`cluster up dask --tls`: certificates in a private folder; the harness connects with
    them through the cluster's state; a plain tcp client and a client with another
    certificate are refused."""
    import asyncio

    from distributed.core import rpc
    from distributed.security import Security

    from harness.backends.launch import ClusterError

    state = tmp_path / "cluster.json"
    env = {"HARNESS_CLUSTER_STATE": str(state)}
    up = harness("cluster", "up", "dask", "--workers", "1", "--tls", env=env, timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads(state.read_text())
        address, files = info["address"], info["tls"]
        assert address.startswith("tls://127.0.0.1:"), address
        folder = Path(files["key"]).parent
        assert folder.stat().st_mode & 0o777 == 0o700
        assert all(Path(f).stat().st_mode & 0o777 == 0o600 for f in files.values())
        # the scheduler speaks only TLS: a plain client gets no answer as a scheduler
        with pytest.raises(ClusterError, match="does not answer as a Dask scheduler"):
            available_workers("dask", "tcp://" + address.removeprefix("tls://"), timeout_s=2)

        async def identity(security: Security) -> dict:
            args = security.get_connection_args("client")
            async with rpc(address, timeout=3, connection_args=args) as scheduler:
                return await asyncio.wait_for(scheduler.identity(), 6)

        with pytest.raises(Exception):  # noqa: B017 - refused by TLS, however Dask words it
            asyncio.run(identity(Security.temporary()))  # a certificate of its own
        out = tmp_path / "results"
        run = harness(
            "run",
            "cpu",
            "--quick",
            "--backends",
            "dask",
            "--dask-address",
            address,
            "--out",
            str(out),
            env=env,
            timeout=240,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        df = results.load(only_run(out))
        assert set(df["status"]) == {"ok"} and (df["metric"] == "wall_s").any()
        # elsewhere (no state naming this address, no Dask TLS config): one line, exit 2
        lost = harness(
            "run",
            "cpu",
            "--quick",
            "--backends",
            "dask",
            "--dask-address",
            address,
            "--out",
            str(out / "x"),
            env={"HARNESS_CLUSTER_STATE": str(tmp_path / "none.json")},
        )
        assert lost.returncode == 2, lost.stdout + lost.stderr
        assert "no TLS certificate" in lost.stderr and len(lost.stderr.strip().splitlines()) == 1
        assert not (out / "x").exists()
    finally:
        down = harness("cluster", "down", env=env, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not folder.exists()  # the certificates went with the cluster


def _hang_until_timeout(samplers, tmp_path: Path, backend: str, *address: str) -> set[int]:
    """Run the hang scenario on a cluster by address until its 12 s case timeout (connecting
    and starting the samplers take a few seconds; the rest is the hang), watching for node
    sampler processes meanwhile; every case must end `timeout`. Returns the samplers seen."""
    import threading

    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(samplers())
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out = tmp_path / "results"
    try:
        proc = harness(
            "run",
            "hang",
            "--backends",
            backend,
            *address,
            "--timeout",
            "12",
            "--rounds",
            "1",
            "--out",
            str(out),
            timeout=240,
        )
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = results.load(only_run(out))
    assert set(df["status"]) == {"timeout"}, df[["case_id", "status", "error"]]
    return seen


def test_a_timed_out_cluster_case_leaves_no_sampler_process_and_no_plugin(tmp_path):
    """The hang scenario on a LocalCluster reached by address: while it runs, a sampler
    process (not a thread) samples the workers; after its timeout, neither a sampler nor
    one of the harness's upload plugins is left in the cluster, which still serves."""
    import threading

    from distributed import Client, LocalCluster

    def samplers(parents: set[int]) -> list[int]:
        found = []
        for proc in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
            if "harness.measure.node_sampler" in (proc.info["cmdline"] or []):
                if proc.info["ppid"] in parents and proc.info["status"] != "zombie":
                    found.append(proc.info["pid"])
        return found

    def harness_plugins(client: Client) -> list[str]:
        on_workers = client.run(lambda dask_worker: list(dask_worker.plugins))
        on_scheduler = client.run_on_scheduler(
            lambda dask_scheduler: [*dask_scheduler.plugins, *dask_scheduler.worker_plugins]
        )
        names = [*on_scheduler, *(n for names in on_workers.values() for n in names)]
        return [n for n in names if "harness" in n]

    def sampler_threads(client: Client) -> list[str]:
        names = client.run(lambda: [t.name for t in threading.enumerate()])
        return [n for found in names.values() for n in found if "sampler" in n]

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=str(tmp_path / "dask"),
        ) as local,
        Client(local, set_as_default=False) as client,
    ):
        workers = set(client.run(os.getpid).values())
        seen = _hang_until_timeout(
            lambda: samplers(workers), tmp_path, "dask", "--dask-address", local.scheduler_address
        )
        assert seen, "no sampler process ran on the cluster's node during the case"
        assert samplers(workers) == [] and not [p for p in seen if _alive(p)]
        assert harness_plugins(client) == []
        assert sampler_threads(client) == []
        assert len(client.scheduler_info()["workers"]) == 2


def _a_timed_out_ray_case_leaves_no_sampler_process(info: dict, tmp_path: Path) -> None:
    """The hang scenario on the Ray cluster `harness cluster up` started: the probe actors'
    sampler processes run during the case and are gone after its timeout."""

    from harness.backends.launch import TOKEN_VAR as CLUSTER_TOKEN

    def samplers() -> list[int]:
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if (
                    "harness.measure.node_sampler" in (proc.info["cmdline"] or [])
                    and proc.info["status"] != "zombie"
                    and proc.environ().get(CLUSTER_TOKEN) == info["token"]
                ):
                    found.append(proc.info["pid"])
            except psutil.Error:
                continue
        return found

    seen = _hang_until_timeout(samplers, tmp_path, "ray", "--ray-address", info["address"])
    assert seen, "no sampler process ran on the Ray node during the case"
    deadline = time.monotonic() + 15  # Ray ends the dead driver's actors on its own time
    while samplers() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert samplers() == [] and not [p for p in seen if _alive(p)]


def test_a_launchers_process_group_counts_as_the_cluster_even_without_its_token():
    """Ray's agents overwrite their environment (their process title), so the token cannot
    find them: a launcher's process group does, and `terminate` then leaves nothing."""
    import subprocess

    from harness.backends.launch import members
    from harness.measure.proctree import terminate

    launcher = subprocess.Popen(
        ["sh", "-c", "sleep 60 & sleep 60; wait"],
        start_new_session=True,
        env={"PATH": os.environ["PATH"]},
    )
    try:
        time.sleep(0.3)
        proc = psutil.Process(launcher.pid)
        started = {"pid": launcher.pid, "create_time": proc.create_time()}
        info = {"token": uuid.uuid4().hex, "launchers": [started]}
        found = members(info)
        children = proc.children(recursive=True)
        assert children and {p.pid for p in children} <= {p.pid for p in found}
        terminate(found)
        assert not [p for p in children if _running(p.pid)]
    finally:
        launcher.kill()
        launcher.wait()
