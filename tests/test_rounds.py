"""Rounds: the whole matrix again, backends interleaved, each round a column of its own."""

from __future__ import annotations

from conftest import harness

from harness import results


def test_rounds_interleave_cases_and_keep_their_round(tmp_path):
    proc = harness("run", "io", "--quick", "--backends", "sequential,threads", "--workers", "4",
                   "--repeat", "2", "--rounds", "3", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = list(tmp_path.iterdir())
    df = results.load(run_dir)
    for case_id, rows in df.groupby("case_id"):
        walls = rows[rows.metric == "wall_s"]
        pairs = sorted(zip(walls["round"], walls["repeat"], strict=True))
        assert pairs == [(r, k) for r in (1, 2, 3) for k in (1, 2)], case_id
        starts = rows[rows.metric == "startup_s"]  # one start-up sample a round
        assert sorted(starts["round"]) == [1, 2, 3] and starts["repeat"].isna().all()
        assert (rows.metric == "elapsed_s").sum() == 3
    # round-major order: the backends take turns, rather than all rounds of one, then the next
    order = df.loc[df.metric == "elapsed_s", "backend"].tolist()
    assert order == ["sequential", "threads"] * 3
    assert results.run_info(run_dir)["rounds"] == 3


def test_resume_with_rounds_runs_only_the_missing_rounds(tmp_path):
    args = ["run", "io", "--quick", "--backends", "sequential", "--repeat", "1", "--out",
            str(tmp_path)]  # fmt: skip
    assert harness(*args, "--rounds", "1").returncode == 0
    (run_dir,) = list(tmp_path.iterdir())
    proc = harness(*args, "--rounds", "2", "--resume", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    df = results.load(run_dir)
    walls = df[df.metric == "wall_s"]
    assert sorted(zip(walls["round"], walls["repeat"], strict=True)) == [(1, 1), (2, 1)]
