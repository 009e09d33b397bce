"""Rounds: the whole matrix again, backends interleaved, each round a column of its own; a
resumed run adds only the rounds it lacks. One run of two rounds, resumed to three."""

from __future__ import annotations

from conftest import harness

from harness import results


def test_rounds_interleave_cases_keep_their_round_and_resume_adds_the_missing_one(tmp_path):
    args = ["run", "io", "--quick", "--backends", "sequential,threads", "--workers", "4",
            "--repeat", "2", "--out", str(tmp_path)]  # fmt: skip
    proc = harness(*args, "--rounds", "2")
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = list(tmp_path.iterdir())
    first = results.load(run_dir)
    assert sorted(first["round"].unique()) == [1, 2]
    assert results.run_info(run_dir)["rounds"] == 2

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
    # round-major order: the backends take turns, rather than all rounds of one, then the next
    elapsed = df[df.metric == "elapsed_s"]
    assert elapsed["backend"].tolist() == ["sequential", "threads"] * 3
    assert elapsed["round"].tolist() == [1, 1, 2, 2, 3, 3]
    # the resume ran round 3 only: what rounds 1 and 2 measured is kept as it was
    kept = df[df["round"] <= 2].reset_index(drop=True)
    columns = ["case_id", "round", "repeat", "metric", "value"]
    assert kept[columns].equals(first[columns].reset_index(drop=True))
