"""loky and the generic `executor` backend on real pools: outputs, memory, hangs, and the
--import rule for the executor class a spec names. A worker killed mid-case: see
test_reliability.py, which runs that test on every pool and engine."""

from __future__ import annotations

import sys

import pytest
from conftest import cli

from harness import results, spec
from harness.analysis import summaries
from harness.case import Case
from harness.execute import runner
from harness.execute.case_runner import run_case
from harness.protocol import Event, WorkersEvent

MIB = 1024 * 1024
EXECUTORS = [
    "concurrent.futures:ThreadPoolExecutor",
    "concurrent.futures:ProcessPoolExecutor",
    "loky:ProcessPoolExecutor",
]


def cpu_spec(**extra) -> spec.Spec:
    data = {
        "name": "cpu-exec",
        "description": "test",
        "workload": "sum_of_squares",
        "tasks": 4,
        "workers": [2],
        "repeat": 2,
        "warmup": 0,
        "timeout_s": 120,
        "params": {"n": 20_000},
        **extra,
    }
    return spec.validate(data, "test")


def test_loky_and_every_executor_run_cpu_right_with_worker_memory(tmp_path, mark):
    loaded = cpu_spec(
        backends=["loky", "executor"], backend_options={"executor": {"executor": EXECUTORS}}
    )
    cases = spec.expand(loaded)
    assert [c.variant for c in cases] == ["", *(f"executor={e}" for e in EXECUTORS)]
    outcomes = runner.run_cases(cases, tmp_path / "run").outcomes
    df = results.load(tmp_path / "run")
    # ok means every repeat's outputs equalled the sequential result
    status = summaries.case_status(df).set_index("case_id")["status"]
    assert (status == "ok").all(), summaries.case_status(df)[["case_id", "status", "error"]]
    uss = df[df.metric == "worker_uss_bytes"].set_index("case_id")["value"]
    for case in cases:
        if "Thread" in case.variant:
            continue  # threads share the driver: no process of their own to measure
        # a worker process is an interpreter of its own: megabytes of unique memory
        assert uss[case.case_id] > MIB, (case.case_id, uss[case.case_id])
    # how each ran, as run.json records it
    strategies = [o.description.strategy for o in outcomes if o.description]
    assert strategies == [
        "loky get_reusable_executor().map with chunking",
        "concurrent.futures:ThreadPoolExecutor.map, one task per input",
        "concurrent.futures:ProcessPoolExecutor.map with chunking",
        "loky:ProcessPoolExecutor.map with chunking",
    ]


def test_a_hung_loky_case_times_out_and_leaves_no_process(mark):
    case = Case(
        scenario="hang",
        workload="lock_order_deadlock",
        backend="loky",
        workers=2,
        tasks=2,
        params={},
        repeat=1,
        warmup=0,
        timeout_s=5,
    )
    seen: list[int] = []

    def on_event(case: Case, event: Event) -> None:
        if isinstance(event, WorkersEvent):
            seen.extend(event.pids)

    outcome = run_case(case, run_id="hang", on_event=on_event)
    assert outcome.status == "timeout", (outcome.status, outcome.error)
    assert len(seen) == 2, "loky's workers were never reported"
    # the `mark` fixture then checks that no process of the case survived, workers included


def write_spec(tmp_path, executor: str) -> str:
    path = tmp_path / "ex.toml"
    path.write_text(
        'name = "ex"\ndescription = "d"\nworkload = "identity"\ntasks = 2\n'
        f'backends = ["executor"]\n[backend_options.executor]\nexecutor = "{executor}"\n'
    )
    return str(path)


@pytest.mark.parametrize(
    ("executor", "imports", "message"),
    [
        ("os:system", [], "'os:system' is outside concurrent.futures and loky"),
        ("mywork:Pool", [], "add --import mywork"),
        ("json:JSONDecoder", ["--import", "json"], "is not a concurrent.futures.Executor"),
        ("concurrent.futures:Nope", [], "module concurrent.futures has no 'Nope'"),
        ("ProcessPoolExecutor", [], "is not module:Class"),
    ],
)
def test_an_executor_class_the_spec_may_not_use_is_one_line_exit_2(
    tmp_path, executor, imports, message
):
    path = write_spec(tmp_path, executor)
    before = sorted(tmp_path.rglob("*"))
    proc = cli("run", path, *imports, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"harness: error: {path}: backend_options.executor.executor: ")
    assert message in line, line
    assert sorted(tmp_path.rglob("*")) == before, "a refused spec wrote something"


def test_your_own_executor_needs_import_and_then_loads(tmp_path, monkeypatch):
    (tmp_path / "mypool.py").write_text(
        "from concurrent.futures import ThreadPoolExecutor\n\n"
        "class Pool(ThreadPoolExecutor):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {
        "name": "mine",
        "description": "d",
        "workload": "identity",
        "tasks": 2,
        "backends": ["executor"],
        "backend_options": {"executor": {"executor": "mypool:Pool"}},
    }
    with pytest.raises(spec.SpecError, match="add --import mypool"):
        spec.validate(data, "mine")
    assert "mypool" not in sys.modules, "a refused module was imported"
    loaded = spec.validate(data, "mine", imports=["mypool"])
    assert loaded.backend_options["executor"]["executor"] == "mypool:Pool"


def test_executor_kwargs_are_a_json_object():
    with pytest.raises(spec.SpecError, match=r"backend_options.executor.kwargs: not JSON"):
        cpu_spec(backends=["executor"], backend_options={"executor": {"kwargs": "{x"}})
    with pytest.raises(spec.SpecError, match=r"without max_workers"):
        many = {"kwargs": '{"max_workers": 3}'}
        cpu_spec(backends=["executor"], backend_options={"executor": many})
    options = {
        "kwargs": '{"thread_name_prefix": "mine"}',
        "executor": "concurrent.futures:ThreadPoolExecutor",
    }
    ok = cpu_spec(backends=["executor"], backend_options={"executor": options})
    assert ok.backend_options["executor"]["kwargs"] == '{"thread_name_prefix": "mine"}'
