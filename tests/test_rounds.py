"""Rounds: the whole matrix again, backends interleaved, each round in a random order from a
seed that run.json records; each round a column of its own; a resumed run adds only the
rounds it lacks, in the order the seed gave them. One run of two rounds, resumed to three."""

from __future__ import annotations

from conftest import harness

from harness import results, spec
from harness.execute import runner


def test_rounds_interleave_cases_keep_their_round_and_resume_adds_the_missing_one(tmp_path):
    args = [
        "run",
        "io",
        "--quick",
        "--backends",
        "sequential,threads",
        "--workers",
        "4",
        "--repeat",
        "2",
        "--out",
        str(tmp_path),
    ]
    proc = harness(*args, "--rounds", "2", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    assert "2 fresh processes each, in a random order (seed 7)" in proc.stdout
    (run_dir,) = list(tmp_path.iterdir())
    first = results.load(run_dir)
    assert sorted(first["round"].unique()) == [1, 2]
    info = results.run_info(run_dir)
    assert info["rounds"] == 2 and info["seed"] == 7

    proc = harness(*args, "--rounds", "3", "--resume", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    df = results.load(run_dir)
    for case_id, rows in df.groupby("case_id"):
        walls = rows[rows.metric == "wall_s"]
        pairs = sorted(zip(walls["round"], walls["repeat"], strict=True))
        assert pairs == [(r, k) for r in (1, 2, 3) for k in (1, 2)], case_id
        starts = rows[rows.metric == "startup_s"]  # one start-up sample a round
        assert sorted(starts["round"]) == [1, 2, 3] and starts["repeat"].isna().all()
        assert (rows.metric == "elapsed_s").sum() == 3
    # round-major order: the backends take turns, rather than all rounds of one, then the
    # next; within each round, the order the seed gave (the resume read it from run.json)
    elapsed = df[df.metric == "elapsed_s"]
    assert elapsed["round"].tolist() == [1, 1, 2, 2, 3, 3]
    cases = spec.cases(
        spec.load("io"),
        spec.RunOptions(quick=True, workers=[4], backends=["sequential", "threads"]),
    )
    orders = runner.round_orders(cases, 3, seed=7)
    assert elapsed["case_id"].tolist() == [c.case_id for order in orders for c in order]
    # the resume ran round 3 only: what rounds 1 and 2 measured is kept as it was
    kept = df[df["round"] <= 2].reset_index(drop=True)
    columns = ["case_id", "round", "repeat", "metric", "value"]
    assert kept[columns].equals(first[columns].reset_index(drop=True))


def test_each_round_runs_its_cases_in_an_order_the_seed_fixes():
    cases = spec.cases(spec.load("cpu"), spec.RunOptions(quick=True))
    ids = lambda orders: [[c.case_id for c in order] for order in orders]  # noqa: E731
    orders = ids(runner.round_orders(cases, 5, seed=1))
    assert orders == ids(runner.round_orders(cases, 5, seed=1))  # the seed fixes them
    assert orders != ids(runner.round_orders(cases, 5, seed=2))
    assert len({tuple(o) for o in orders}) > 1  # rounds differ from one another
    assert all(sorted(o) == sorted(c.case_id for c in cases) for o in orders)
    # sequential does not always run first: drift does not land on the speedups
    assert {o[0] for o in orders} != {cases[0].case_id}


def test_default_rounds_come_from_the_spec_and_one_for_quick():
    loaded = spec.load("io")
    assert spec.rounds(loaded, spec.RunOptions()) == spec.DEFAULT_ROUNDS >= 3
    assert spec.rounds(loaded, spec.RunOptions(quick=True)) == 1
    # cpu asks for two full processes a case, then spends a budget; --rounds alone or
    # --quick spend none, --budget wins over --rounds
    cpu = spec.load("cpu")
    assert spec.rounds(cpu, spec.RunOptions()) == 2 and spec.budget(cpu, spec.RunOptions()) == 100
    assert spec.budget(cpu, spec.RunOptions(rounds=3)) is None
    assert spec.budget(cpu, spec.RunOptions(quick=True, budget_s=5)) is None
    assert spec.budget(cpu, spec.RunOptions(rounds=3, budget_s=5)) == 5
    assert spec.rounds(loaded, spec.RunOptions(quick=True, rounds=4)) == 4
