"""Every scenario of the article: specs load, and quick cases run ok on real engines.

Budget: about two minutes on two shared cores. Local backends run every scenario; Dask and
Ray run the scenarios that use their own primitives (shared counter, queue, transfer), and
one scenario runs on every backend.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from conftest import MARK, harness, marked

from harness import backends, results, spec
from harness.analysis import claims, summaries
from harness.execute import runner

LOCAL = ["sequential", "threads", "processes", "asyncio"]
#: Case processes started here inherit this mark, and so does every process they start.
RUN_MARK = uuid.uuid4().hex


def run_quick(
    tmp_path: Path,
    scenario: str,
    backend_names: list[str],
    workers: list[int] | None = None,
    keep=lambda case: True,
):
    """Run a scenario's quick cases on the backends that can run it; returns the frame."""
    loaded = spec.load(scenario)
    names = [b for b in backend_names if b in loaded.backends]
    cases = [
        c
        for c in spec.expand(loaded, quick=True, backends_filter=names, workers_override=workers)
        if keep(c)
    ]
    assert cases, scenario
    run_dir = tmp_path / scenario
    os.environ[MARK] = RUN_MARK
    try:
        result = runner.run_cases(cases, run_dir)
    finally:
        del os.environ[MARK]
    assert len(result.outcomes) == len(cases)
    return results.load(run_dir)


def leftovers() -> list:
    """Processes of the runs started here still alive (other runs on the machine do not count)."""
    return marked(RUN_MARK)


def assert_all_ok(df, backends_expected: set[str]):
    cases = summaries.case_status(df)
    bad = cases[cases["status"] != "ok"]
    assert bad.empty, bad[["case_id", "status", "error"]].to_string()
    assert set(cases["backend"]) == backends_expected


def median(df, metric: str, **where) -> float:
    sub = df[df["metric"] == metric]
    for key, value in where.items():
        sub = sub[sub[key] == value]
    assert not sub.empty, (metric, where)
    return float(sub["value"].median())


# --- specs ------------------------------------------------------------------------------


def test_every_scenario_loads_and_has_a_one_line_description():
    names = spec.available()
    for expected in (
        "cpu",
        "cpu-nogil",
        "io",
        "io-http",
        "io-files",
        "gil",
        "shared-state",
        "pool-map",
        "granularity",
        "queue",
        "transfer",
        "startup",
        "memory",
        "mixed",
        "hang",
    ):
        assert expected in names
    for name in names:
        s = spec.load(name)
        assert s.description and "\n" not in s.description, name
        assert spec.expand(s, quick=True), name


def test_harness_list_shows_every_scenario():
    proc = harness("list")
    assert proc.returncode == 0, proc.stderr
    for name in spec.available():
        assert name in proc.stdout


def test_asyncio_needs_an_async_task_and_the_error_names_the_field(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "t"\ndescription = "d"\nworkload = "sum_of_squares"\ntasks = 2\n'
        'backends = ["threads", "asyncio"]\n[params]\nn = 10\n'
    )
    with pytest.raises(spec.SpecError, match=r"backends: backend 'asyncio' .* no async_task"):
        spec.load(path)
    with pytest.raises(spec.SpecError, match=r"--backends: backend 'asyncio'"):
        spec.expand(spec.load("cpu"), backends_filter=["asyncio"])
    proc = harness("run", "cpu", "--quick", "--backends", "asyncio", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "async_task" in proc.stderr
    assert not any(p.is_dir() for p in tmp_path.iterdir())
    # program workloads drive the backend themselves: no coroutine variant either
    assert "asyncio" not in spec.load("shared-state").backends


def test_backend_option_lists_make_a_case_per_value():
    cases = spec.expand(spec.load("startup"), quick=True, backends_filter=["processes"])
    methods = sorted(c.backend_options["start_method"] for c in cases)
    assert methods == sorted(["fork", "spawn", "forkserver"] * 2)
    assert len({c.case_id for c in cases}) == len(cases)
    assert "startup/processes[start_method=fork]/w1" in {c.case_id for c in cases}


def test_granularity_keeps_total_work_fixed():
    cases = spec.expand(spec.load("granularity"), quick=True, backends_filter=["threads"])
    for case in cases:
        assert case.tasks * case.params["task_s"] == pytest.approx(case.params["total_s"])


def test_asyncio_backend_runs_coroutines_under_its_concurrency_limit():
    import asyncio

    in_flight, peak = 0, 0

    async def task(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return x * 2

    with backends.get("asyncio")(4) as backend:
        batch = backend.run(task, list(range(10)))
    assert batch.outputs == [x * 2 for x in range(10)]
    assert peak == 4  # overlapped, and never more than `workers` at once
    assert len(batch.arrival_s) == 10


# --- quick runs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_state_everywhere(tmp_path_factory):
    """The one all-backend run: the shared counter on every built-in that can run it (a
    backend installed from another package is its own package's to test)."""
    return run_quick(tmp_path_factory.mktemp("all"), "shared-state", list(backends.BUILTINS))


def test_shared_state_runs_everywhere_and_counts_lost_updates(shared_state_everywhere):
    df = shared_state_everywhere
    everywhere = {"sequential", "threads", "processes", "loky", "dask", "ray"}
    assert_all_ok(df, everywhere)
    lost = df[df["metric"] == "lost_updates"].copy()
    lost["locked"] = [json.loads(p)["locked"] for p in lost["params"]]
    # measured for every case, unlocked and locked; a locked counter never loses one
    assert set(lost["backend"]) == everywhere
    assert (lost.loc[lost["locked"], "value"] == 0).all()
    assert (lost["value"] >= 0).all()
    assert all(median(df, "increments_per_s", backend=b) > 0 for b in ("dask", "ray"))
    assert leftovers() == []


def test_claims_reads_the_counter_run(shared_state_everywhere):
    table = claims.claims_table(shared_state_everywhere)
    race = table.set_index("aspect").loc["example: race"]
    assert "threads" in race["measured"] and race["verdict"] in (claims.SUPPORTS, claims.DIFFERS)
    assert table.set_index("aspect").loc["example: lock", "verdict"] == claims.SUPPORTS
    # scenarios that were not run are said to be missing, not guessed
    assert table.set_index("aspect").loc["communication", "verdict"] == claims.NO_DATA


def first_value(key: str):
    """Keep only the cases of the first quick value of a swept parameter (test time)."""

    def keep(case) -> bool:
        values = spec.load(case.scenario).quick.sweep.get(key)
        return values is None or case.params[key] == values[0]

    return keep


@pytest.mark.parametrize(
    ("scenario", "metric", "keep"),
    [
        ("io-http", "bytes_per_s", None),
        ("io-files", "bytes_per_s", None),
        ("cpu-nogil", "tasks_per_s", None),
        ("gil", "tasks_per_s", None),
        ("pool-map", "tasks_per_s", None),
        ("mixed", "tasks_per_s", "cpu_fraction"),
        ("granularity", "tasks_per_s", "task_s"),
        ("queue", "messages_per_s", "payload_bytes"),
    ],
)
def test_quick_cases_run_ok_on_local_backends(tmp_path, scenario, metric, keep):
    df = run_quick(
        tmp_path, scenario, LOCAL, workers=[2], keep=first_value(keep) if keep else lambda c: True
    )
    expected = set(LOCAL) & set(spec.load(scenario).backends)
    assert_all_ok(df, expected)
    assert (df.loc[df["metric"] == metric, "value"] > 0).all()


def test_transfer_round_trips_bytes_and_arrays(tmp_path):
    df = run_quick(
        tmp_path,
        "transfer",
        ["sequential", "threads", "processes", "ray"],
        keep=lambda c: c.params["payload_bytes"] == 1_048_576,
    )
    assert_all_ok(df, {"sequential", "threads", "processes", "ray"})
    kinds = {json.loads(p)["kind"] for p in df["params"]}
    assert kinds == {"bytes", "numpy"}
    assert median(df, "bytes_per_s", backend="ray") > 0


def test_queue_through_dask_and_ray(tmp_path):
    df = run_quick(
        tmp_path, "queue", ["dask", "ray"], keep=lambda c: c.params["payload_bytes"] == 100
    )
    assert_all_ok(df, {"dask", "ray"})
    assert median(df, "messages_per_s", backend="dask") > 0


def test_startup_sweeps_process_start_methods(tmp_path):
    df = run_quick(tmp_path, "startup", ["threads", "processes"], workers=[2])
    assert_all_ok(df, {"threads", "processes"})
    labels = set(claims.advice.labelled(summaries.case_table(df))["label"])
    assert {"processes[start_method=fork]", "processes[start_method=spawn]"} <= labels


def test_http_fixture_binds_loopback_and_is_gone_after_the_case():
    from harness import workloads

    work = workloads.get("http_get")
    params = work.params(server_delay_s=0)
    with work.fixture(params) as url:
        assert url.startswith("http://127.0.0.1:")
        (item,) = work.make_inputs(params, 1, url)
        assert work.task(item) == params.response_bytes
    with pytest.raises(OSError):
        work.task(item)
