"""The ETA: estimated from stored runs and from first repeats with a fake clock (no engines),
and the plain per-case lines of a short real sequential run whose output is not a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import harness, stored_copy, stored_run

from harness.execute.eta import Eta, History, Planned, case_history, fmt_duration

CPU = [
    "sequential/w1",
    "threads/w1",
    "threads/w2",
    "processes/w1",
    "processes/w2",
    "dask/w1",
    "dask/w2",
    "ray/w1",
    "ray/w2",
]
CPU_IDS = [f"cpu/{c}/n=200000" for c in CPU]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _elapsed(name: str) -> dict[str, float]:
    df = pd.read_parquet(stored_run(name) / "measurements.parquet")
    return df[df["metric"] == "elapsed_s"].set_index("case_id")["value"].to_dict()


def _plan(n: int = 3, tasks: int = 4) -> list[Planned]:
    return [Planned(f"s/sequential/w1/n={i}", "sequential", 1, tasks, 5, 1) for i in range(n)]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.2, "1s"), (45, "45s"), (130, "2m10s"), (3900, "1h05m")]
)
def test_durations_read_in_whole_seconds(seconds, text):
    assert fmt_duration(seconds) == text


@pytest.fixture(scope="module")
def history_root(tmp_path_factory) -> Path:
    """A results folder of the two stored cpu runs the history tests are about (the stored
    runs of other tests, some of them cpu runs on this host too, stay out of it)."""
    root = tmp_path_factory.mktemp("history")
    for name in ("cpu", "cpu-1cpu"):
        stored_copy(name, root / name)
    return root


def test_history_takes_each_case_from_the_newest_run_of_this_scenario_and_host(history_root):
    """cpu-1cpu (newer) has the pool cases; the older cpu run fills in Dask and Ray."""
    history = case_history(history_root, "cpu", "vm", True, CPU_IDS)
    newer, older = _elapsed("cpu-1cpu"), _elapsed("cpu")
    assert history.runs == ["20261126T111340Z-vm", "20261126T111309Z-vm"]
    for case_id in CPU_IDS:
        expected = newer.get(case_id, older[case_id])
        assert history.seconds[case_id] == pytest.approx(expected)


def test_history_scales_a_case_planned_with_other_repeats_or_tasks(history_root):
    """The stored cpu runs had 5 repeats of 4 tasks; a run with --repeat 10 (or twice the
    tasks) expects the fixed part as it was and the batches scaled."""
    history = case_history(history_root, "cpu", "vm", True, CPU_IDS)
    case_id = "cpu/sequential/w1/n=200000"
    df = pd.read_parquet(stored_run("cpu-1cpu") / "measurements.parquet")
    wall = df[(df["case_id"] == case_id) & (df["metric"] == "wall_s")]["value"].median()
    then = history.seconds[case_id]
    same = Planned(case_id, "sequential", 1, 4, 5, 1)
    assert history.past[case_id].repeats == 5 and history.past[case_id].tasks == 4
    assert history.expected(same) == pytest.approx(then)
    assert history.expected(Planned(case_id, "sequential", 1, 4, 10, 1)) == pytest.approx(
        then + 5 * wall
    )
    assert history.expected(Planned(case_id, "sequential", 1, 8, 5, 1)) == pytest.approx(
        then + 6 * wall
    )
    assert history.expected(Planned("cpu/other", "sequential", 1, 4, 5, 1)) is None


@pytest.mark.parametrize(
    ("host", "quick", "exclude"),
    [("other-host", True, ""), ("vm", False, ""), ("vm", True, "20261126T111340Z-vm")],
)
def test_history_ignores_other_hosts_other_sizes_and_the_run_itself(
    host, quick, exclude, history_root
):
    history = case_history(history_root, "cpu", host, quick, CPU_IDS, exclude=exclude)
    if exclude:
        assert history.runs == ["20261126T111309Z-vm"]
        assert history.seconds == pytest.approx(_elapsed("cpu"))
    else:
        assert history == History.none()


def test_no_estimate_until_a_first_repeat_when_there_is_no_history():
    clock = Clock()
    eta = Eta(_plan(), clock=clock)
    assert eta.estimate() is None
    eta.case_started(0)
    clock.now += 0.5  # start-up, warm-up: still nothing to go on
    eta.steady_started()
    assert eta.estimate() is None
    clock.now += 0.2
    eta.repeat_done(0.2)  # 4 tasks in 0.2 s: 50 ms a task
    estimate = eta.estimate()
    assert estimate is not None and estimate.basis == "from first repeats"
    # this case: 4 repeats left at 0.2 s; the two others: 4 tasks x 6 batches x 50 ms
    assert estimate.remaining_s == pytest.approx(4 * 0.2 + 2 * 4 * 6 * 0.05)
    # 3.2 s, rounded up; no case has finished, so no start-up has been seen
    assert estimate.text() == "~4s left (from first repeats; sequential start-up unknown)"


def test_finished_cases_teach_the_fixed_cost_and_the_estimate_counts_down():
    clock = Clock()
    eta = Eta(_plan(), clock=clock)
    eta.case_started(0)
    eta.steady_started()
    for _ in range(5):
        clock.now += 0.2
        eta.repeat_done(0.2)
    clock.now += 1.0  # the case took 2.0 s: 6 batches of 0.2 s, 0.8 s beyond them
    eta.case_done(0)
    per_case = 4 * 6 * 0.05 + 0.8
    assert eta.estimate().remaining_s == pytest.approx(2 * per_case)
    eta.case_started(1)
    clock.now += 0.5
    assert eta.estimate().remaining_s == pytest.approx(2 * per_case - 0.5)
    clock.now += 10  # slower than expected: nothing negative, never below what is left
    assert eta.estimate().remaining_s == pytest.approx(per_case)


def test_a_backend_not_yet_seen_is_named_until_its_start_up_is_known():
    clock = Clock()
    plan = [
        _plan(1)[0],
        Planned("s/ray/w1", "ray", 1, 4, 5, 1),
        Planned("s/ray/w2", "ray", 2, 4, 5, 1),
    ]
    eta = Eta(plan, clock=clock)
    eta.case_started(0)
    eta.steady_started()
    clock.now += 0.2
    eta.repeat_done(0.2)
    clock.now += 1.0
    eta.case_done(0)
    assert eta.estimate().unseen == ("ray",)
    assert eta.estimate().text().endswith("(from first repeats; ray start-up unknown)")
    eta.case_started(1)
    clock.now += 5.0  # Ray's start-up
    eta.steady_started()
    clock.now += 0.2
    eta.repeat_done(0.2)
    clock.now += 1.0
    eta.case_done(1)
    estimate = eta.estimate()  # ray w2 now gets ray's own fixed cost, not sequential's
    assert estimate.unseen == () and estimate.text().endswith("(from first repeats)")
    assert estimate.remaining_s == pytest.approx(4 * 6 * 0.05 + (6.2 - 6 * 0.2))  # took 6.2 s


def test_history_first_and_both_bases_named_when_mixed():
    clock = Clock()
    plan = _plan()
    history = History({plan[1].case_id: 30.0, plan[2].case_id: 40.0}, ["20261126T111309Z-vm"])
    eta = Eta(plan[1:], history, clock=clock)  # every case has an earlier run
    estimate = eta.estimate()
    assert estimate.remaining_s == 70 and estimate.basis == "from run 20261126T111309Z-vm"
    eta = Eta(plan, history, clock=clock)  # the first case has none, and no repeat yet
    assert eta.estimate() is None
    eta.case_started(0)
    eta.steady_started()
    clock.now += 0.2
    eta.repeat_done(0.2)
    estimate = eta.estimate()
    assert estimate.basis == "from run 20261126T111309Z-vm and first repeats"
    assert estimate.remaining_s == pytest.approx(4 * 0.2 + 70)


def test_off_a_terminal_each_case_is_one_line_with_the_eta_and_json_stays_alone(tmp_path):
    """A real sequential run, twice, output piped: stderr carries one line per case with
    its ETA basis; with --json stdout is the JSON and nothing else."""
    args = (
        "run",
        "cpu",
        "--quick",
        "--backends",
        "sequential",
        "--rounds",
        "2",
        "--out",
        str(tmp_path),
    )
    first = harness(*args, timeout=300)
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 2, first.stdout
    # each line says which of the case's processes it was: intervals are built from these
    assert lines[0].startswith("[1/2] cpu/sequential/w1/n=200000 process 1/2 ok | wall ")
    assert "(median of 3 repeats) | case " in lines[0] and "left (from first repeats)" in lines[0]
    assert lines[1].startswith("[2/2] cpu/sequential/w1/n=200000 process 2/2 ok")
    assert "left" not in lines[1]  # nothing is left after the last case
    bars = [x for x in first.stdout.splitlines() if "━" in x and x[:1] not in "┏┃┡│└"]
    assert not bars  # no progress bar drawn into a pipe
    (run_id,) = [p.name for p in tmp_path.iterdir()]

    second = harness(*args, "--json", timeout=300)
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc["format"] == "harness-summary" and doc["interrupted"] is False
    assert [c["case_id"] for c in doc["cases"]] == ["cpu/sequential/w1/n=200000"]
    assert doc["cases"][0]["wall_s"]["n"] == 6 and doc["cases"][0]["wall_s"]["rounds"] == 2
    line = next(x for x in second.stderr.splitlines() if x.startswith("[1/2]"))
    assert line.endswith(f" left (from run {run_id})"), line  # what is left ran before


@pytest.mark.parametrize("width", [80, 140])
def test_the_live_bar_shows_the_estimate_and_its_basis_on_one_line(width):
    """On a terminal the bar carries the estimate; a narrow one cuts its end, not the count."""
    import io

    from rich.console import Console

    from harness.output.progress import ProgressObserver
    from harness.spec import Case

    case = Case(
        scenario="cpu",
        workload="sum_of_squares",
        backend="sequential",
        workers=1,
        tasks=4,
        params={"n": 1},
        repeat=5,
        warmup=1,
        timeout_s=10,
    )
    history = History({case.case_id: 3.0}, ["20261126T154144Z-vm"])
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    observer = ProgressObserver(console, history, live=True)
    observer.on_plan([case, case])  # two rounds of one case
    observer.on_case_start(case, 0, 2)
    console.print(observer.progress.get_renderable())
    (line,) = out.getvalue().splitlines()
    assert "cpu/sequential/w1/n=1 starting" in line and "0/2" in line
    assert "~6s left (from run 20261126T154" in line
    assert line.endswith("(from run 20261126T154144Z-vm)" if width > 100 else "…")
