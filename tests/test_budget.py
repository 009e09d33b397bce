"""Power within a budget: the allocation rule on its own (pure), then real runs: a budgeted
run buys extra processes that only warm up and repeat, speedups paired with the sequential
loop timed in the same process, and an A/B run whose two sides share each slot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import harness, only_run

from harness import results
from harness.analysis import summaries
from harness.execute.budget import MAX_PROCESSES, Budget


def _process(walls: list[float], refs: list[float] | None = None, status: str = "ok"):
    """One case process's rows as the runner records them (walls and reference walls)."""
    rows = [
        {"metric": "wall_s", "repeat": r, "value": w, "status": status}
        for r, w in enumerate(walls, start=1)
    ]
    rows += [
        {"metric": "reference_wall_s", "repeat": r, "value": w, "status": status}
        for r, w in enumerate(refs or [], start=1)
    ]
    import pandas as pd

    return pd.DataFrame(rows)


@pytest.mark.fast
def test_the_budget_goes_where_an_interval_is_widest_per_second_and_stops_at_the_target():
    rng = np.random.default_rng(1)
    plan = Budget(seconds=100, precision=0.05)
    for _ in range(6):  # a steady case and a noisy one, equally cheap (6: a 96.9% interval)
        plan.record("steady", _process(list(1 + 0.001 * rng.standard_normal(3))), 1.0, False)
        plan.record("noisy", _process(list(np.exp(0.3 * rng.standard_normal(3)))), 1.0, False)
    assert plan.open_cases() == ["noisy"]  # the steady one is within 5% already
    assert plan.next_case(left_s=10) == "noisy"
    # with 3 processes the interval is a 75% one: however narrow, not yet precise
    few = Budget(seconds=100, precision=0.05)
    for _ in range(3):
        few.record("steady", _process([1.0, 1.0, 1.0]), 1.0, False)
    assert few.open_cases() == ["steady"]
    assert plan.next_case(left_s=0.5) is None  # its next process would not fit
    # a wide case that costs 10x as much gets less: the gain is per second
    plan.record("costly", _process([1.0, 1.5, 0.7]), 10.0, False)
    plan.record("costly", _process([0.6, 1.4, 1.1]), 10.0, False)
    plan.cases["costly"].walls = list(plan.cases["noisy"].walls)  # as wide as the noisy one
    assert plan.gain_per_second("costly") == pytest.approx(plan.gain_per_second("noisy") / 10)
    # a failed case gets nothing more, and the cap stops any case
    plan.record("noisy", _process([1.0], status="crashed"), 1.0, True)
    assert "noisy" not in plan.open_cases()
    plan.cases["costly"].walls = list(np.exp(rng.standard_normal(MAX_PROCESSES)))
    assert "costly" not in plan.open_cases()


@pytest.mark.fast
def test_a_case_with_a_reference_is_judged_by_its_paired_speedup():
    plan = Budget(seconds=10, precision=0.05)
    # walls swing by a factor of two between processes; the reference swings with them
    for scale in (1.0, 2.0, 1.5, 0.8, 1.2, 0.9):  # 6 pairs: the signed-rank reaches 96.9%
        walls = [scale * 0.5] * 3
        plan.record("paired", _process(walls, [w * 2 for w in walls]), 1.0, False)
    state = plan.cases["paired"]
    assert state.paired_kind and np.allclose(state.paired, math.log(2))
    assert state.half_width() < 1e-9  # the swings cancel: the speedup is exactly 2
    assert "speedup" in plan.describe("paired")


def test_a_budgeted_run_buys_cheap_processes_and_pairs_each_speedup_in_process(tmp_path):
    spec = tmp_path / "small.toml"
    spec.write_text(
        'name = "small"\ndescription = "x"\nworkload = "sum_of_squares"\n'
        'tasks = 2\nbackends = ["sequential", "threads"]\nworkers = [2]\n'
        "repeat = 2\nrounds = 1\n[params]\nn = 40000\n"
    )
    proc = harness(
        "run", str(spec), "--budget", "8s", "--precision", "0.1%", "--out", str(tmp_path / "out")
    )
    assert proc.returncode == 0, proc.stderr
    assert "budget 8 s" in proc.stdout and "budget: small/" in proc.stdout
    tmp_path = tmp_path / "out"
    run_dir = only_run(tmp_path)
    info = results.run_info(run_dir)
    assert info["budget"]["stopped"] == "the budget was spent"
    assert info["budget"]["spent_s"] < 8 + 60  # a process that started in time may end late
    df = results.load(run_dir)
    elapsed = df[df.metric == "elapsed_s"]
    assert elapsed["round"].max() > info["rounds"]  # processes beyond the rounds were bought
    extra = df[df["round"] > info["rounds"]]
    # the bought processes only warm up and repeat: no latency or timeline pass
    assert not extra["metric"].isin(["rtt_p50_s", "makespan_s"]).any()
    assert df[df["round"] == 1]["metric"].isin(["rtt_p50_s"]).any()
    # every threads repeat has its sequential partner, timed in the same process
    threads = df[(df.backend == "threads") & df.metric.isin(["wall_s", "reference_wall_s"])]
    counts = threads.groupby(["round", "repeat"])["metric"].nunique()
    assert (counts == 2).all()
    assert df[(df.backend == "sequential") & (df.metric == "reference_wall_s")].empty
    table = summaries.case_table(df)
    row = table[table.backend == "threads"].iloc[0]
    assert row["speedup_pairing"] == summaries.PAIRED_IN_PROCESS
    assert row["speedup_ci_low"] <= row["speedup"] <= row["speedup_ci_high"]
    # threads hold the GIL: two are no faster than the loop beside them
    assert row["speedup_ci_high"] < 1.5


def test_ab_pairs_two_specs_in_one_process_a_slot_and_compares_them_paired(tmp_path):
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    body = (
        'name = "{name}"\ndescription = "x"\nworkload = "sum_of_squares"\ntasks = 2\n'
        'backends = ["sequential", "threads"]\nworkers = [2]\nrepeat = 3\nwarmup = 1\n'
        "rounds = 3\n[params]\nn = {n}\n"
    )
    a.write_text(body.format(name="small", n=40_000))
    b.write_text(body.format(name="bigger", n=80_000))  # twice the work: a 2x change
    proc = harness(
        "ab", str(a), str(b), "--budget", "5s", "--format", "json", "--out", str(tmp_path / "out")
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    rows = {r["backend"]: r for r in found["cases"]}
    assert set(rows) == {"sequential", "threads"}
    for row in rows.values():
        assert row["change"] == "slower" and 1.6 < row["ratio"] < 2.5, row
    run_dir = only_run(tmp_path / "out")
    info = results.run_info(run_dir)
    assert all(p["in_process"] for p in info["ab"]["pairs"])
    df = results.load(run_dir)
    walls = df[df.metric == "wall_s"]
    assert set(walls["side"]) == {"a", "b"}
    # one process a slot holds both sides: their rows share the slot (round) and repeats
    for _, slot in walls.groupby(["backend", "round"]):
        assert sorted(slot["side"].unique()) == ["a", "b"]
        repeats = slot.groupby("side")["repeat"].apply(lambda r: tuple(sorted(r)))
        assert repeats.nunique() == 1
    assert (df[df.metric == "elapsed_s"]["side"] == "b").all()


def test_ab_refuses_specs_whose_cases_do_not_match_and_writes_nothing(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    body = (
        'name = "x"\ndescription = "x"\nworkload = "sum_of_squares"\ntasks = 2\n'
        'backends = ["threads"]\nworkers = {workers}\n[params]\nn = 10\n'
    )
    a.write_text(body.format(workers="[1, 2]"))
    b.write_text(body.format(workers="[2]"))
    out = tmp_path / "out"
    proc = harness("ab", str(a), str(b), "--out", str(out))
    assert proc.returncode == 2 and "SPEC_B" in proc.stderr, proc.stderr
    bad = harness("ab", str(a), str(a), "--budget", "soon", "--out", str(out))
    assert bad.returncode == 2 and "--budget" in bad.stderr
    assert "Traceback" not in proc.stderr + bad.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_budget_keeps_ray_warm_its_processes_join_as_fresh_drivers_and_nothing_outlives_it(
    tmp_path,
):
    from conftest import marked

    spec = tmp_path / "ray.toml"
    spec.write_text(
        'name = "warm"\ndescription = "x"\nworkload = "sum_of_squares"\n'
        'tasks = 4\nbackends = ["ray"]\nworkers = [2]\nrepeat = 2\nrounds = 1\n'
        "reference = false\n[params]\nn = 300000\n"
    )
    mark = "warm-ray-" + tmp_path.name
    proc = harness(
        "run",
        str(spec),
        "--budget",
        "25s",
        "--precision",
        "0.1%",
        "--out",
        str(tmp_path / "out"),
        mark=mark,
    )
    assert proc.returncode == 0, proc.stderr
    assert "join a warm local engine at 127.0.0.1:" in proc.stdout
    df = results.load(only_run(tmp_path / "out"))
    elapsed = df[df.metric == "elapsed_s"].set_index("round")["value"]
    assert elapsed.index.max() >= 3  # the budget bought processes
    starts = df[df.metric == "startup_s"]
    assert list(starts["round"]) == [1]  # only the first process started its own Ray
    bought = df[df["round"] > 1]
    # the workers of a warm engine are not the driver's children, yet their CPU is counted:
    # busy through the batch, each was running or runnable (on a loaded machine, waiting)
    per = bought[bought.metric.isin(["cpu_util", "cpu_wait_ratio"])]
    wanted = per.groupby(["round", "repeat"])["value"].sum()
    assert len(wanted) and (wanted > 0.5).all(), per
    assert not bought["metric"].isin(["teardown_s", "rtt_p50_s"]).any()
    # a joining process costs less than one that starts and stops its own Ray
    assert elapsed[elapsed.index > 1].median() < elapsed[1]
    assert marked(mark) == [], [p.cmdline() for p in marked(mark)]
