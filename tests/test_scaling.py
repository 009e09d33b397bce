"""Scaling fits (`harness/analysis/scaling.py` and `scaling_fit.py`) under this machine's
noise: sweeps simulated with known alpha and beta and each process's throughput multiplied
by the noise model's process values (`harness/measure/noise.py`), so the recovery, the
intervals' coverage and the flags are checked against the truth. Seeded; each test a few
seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import results
from harness.analysis import scaling, scaling_fit
from harness.measure import noise

#: The fields issue 29 names for every fitted family, in the frame and in the JSON.
NAMED_FIELDS = {
    "scenario", "backend", "params", "model", "alpha", "alpha_ci_low", "alpha_ci_high",
    "beta", "beta_ci_low", "beta_ci_high", "peak_workers", "knee_workers", "levels",
}  # fmt: skip

pytestmark = pytest.mark.fast  # simulation only: no engine, no case process

FIXTURES = Path(__file__).parent / "fixtures" / "runs"
LEVELS = np.array([1, 2, 4, 8, 12, 16, 24, 32], dtype=float)
SHORT, LONG = 0.025, 0.16  # fast-regime seconds of a repeat (noise.py's two loops)
#: Processes of other cases between two of one case (rounds in random order).
SPREAD_S = 0.7
GAMMA = 100.0
#: The brief's promise: the simulated coverage within 3 points of the stated level.
POINTS = 0.03


def _noise(replicates, levels, processes, duration, seed, repeats=3):
    """(R, K, P, repeats) factors on throughput: each level a run of its own processes."""
    sim = noise.simulate(
        processes,
        repeats,
        duration,
        layout="runs",
        gap_s=SPREAD_S,
        replicates=replicates * levels,
        rng=seed,
    )
    return (duration / sim.a).reshape(replicates, levels, processes, repeats)


def _sweep(alpha, beta, processes, replicates, seed, duration=SHORT, n=LEVELS):
    """Per level, (R, P) per-process throughputs: the true curve times the noise's
    per-process factor (the median of its repeats)."""
    factors = np.median(_noise(replicates, len(n), processes, duration, seed), axis=3)
    truth = scaling.throughput(n, alpha, beta, GAMMA)
    return [truth[k] * factors[:, k, :] for k in range(len(n))]


def _frame(alpha, beta, processes, seed, n=LEVELS, duration=SHORT, backend="threads"):
    """A tidy frame like `results.load`'s: one sweep, `processes` rounds a level, 3 repeats."""
    factors = _noise(1, len(n), processes, duration, seed)[0]
    truth = scaling.throughput(n, alpha, beta, GAMMA)
    rows = []
    for k, workers in enumerate(n):
        for p in range(processes):
            for rep in range(factors.shape[2]):
                rows.append(
                    {
                        "run_id": "sim",
                        "scenario": "contention",
                        "backend": backend,
                        "variant": "",
                        "params": '{"serial": 0.05}',
                        "python": "3.11",
                        "side": "",
                        "workers": int(workers),
                        "round": p + 1,
                        "repeat": rep,
                        "metric": "tasks_per_s",
                        "value": truth[k] * factors[k, p, rep],
                        "status": "ok",
                    }
                )
    return pd.DataFrame(rows)


def _covers(low, high, truth):
    return (np.asarray(low) <= truth) & (truth <= np.asarray(high))


# --- the fit -----------------------------------------------------------------------------------


def test_the_vectorised_solver_finds_least_squares_own_optimum():
    rng = np.random.default_rng(3)
    values = _sweep(0.05, 0.002, 4, 40, seed=11)
    n, logs = LEVELS, [np.log(v) for v in values]
    ybar = np.stack([v.mean(1) for v in logs], axis=1)
    points = np.full(len(n), 4.0)
    for name, box in scaling_fit.bounds(n.max()).items():
        starts = np.clip(rng.random((40, 2)) * 0.05, box.lower, box.upper)
        ours = scaling_fit._solve(n, ybar, points, box.lower, box.upper, starts)
        for r in range(40):
            every = np.repeat(n, 4)
            theirs = scaling_fit._least_squares(
                every, np.concatenate([v[r] for v in logs]), box.lower, box.upper, ours[r]
            )
            sse = [
                scaling_fit._sse(t[None, :], n, ybar[r : r + 1], points)[0]
                for t in (ours[r], theirs)
            ]
            assert sse[0] <= sse[1] * (1 + 1e-6) + 1e-12, (name, r, ours[r], theirs)


@pytest.mark.parametrize(("alpha", "beta"), [(0.05, 0.002), (0.2, 0.0005), (0.02, 0.0)])
def test_a_simulated_sweep_recovers_alpha_and_beta(alpha, beta):
    """The issue's target: within 25% of the truth, or covered by the interval."""
    row = scaling.fit_scaling(_frame(alpha, beta, 5, seed=int(alpha * 1e4)), resamples=400)
    (row,) = row.to_dict("records")
    for name, truth in (("alpha", alpha), ("beta", beta)):
        close = abs(row[name] - truth) <= 0.25 * truth
        assert close or row[f"{name}_ci_low"] <= truth <= row[f"{name}_ci_high"], (name, row)
    assert row["ci_scope"] == "40 processes" and row["levels"] == 8
    if not beta:  # a coherency cost this small may pass the F-test unseen: either model
        assert row["model"] == scaling.AMDAHL


def test_the_peak_its_interval_and_the_verdict():
    (row,) = scaling.fit_scaling(_frame(0.05, 0.002, 5, seed=21), resamples=400).to_dict("records")
    star = float(scaling.peak(0.05, 0.002))  # 21.8
    assert row["peak_ci_low"] <= star <= row["peak_ci_high"]
    assert row["peak_throughput_ci_low"] < row["peak_throughput"] < row["peak_throughput_ci_high"]
    assert row["verdict"].startswith("threads: contention ")
    assert "coherency" in row["verdict"] and "peaks at" in row["verdict"]
    assert row["knee_workers"] is not None and 1 < row["knee_workers"] < star
    assert row["flags"] == []


def test_no_coherency_cost_says_no_peak_within_reach():
    (row,) = scaling.fit_scaling(_frame(0.03, 0.0, 5, seed=31), resamples=400).to_dict("records")
    assert row["model"] == scaling.AMDAHL and row["beta"] == 0 and row["beta_ci_low"] == 0
    assert row["peak_workers"] is None and np.isnan(row["peak_throughput"])
    assert "no coherency cost measurable" in row["verdict"]
    assert "keeps scaling past 32 workers" in row["verdict"]


def test_the_knee_is_where_one_more_worker_adds_under_a_tenth_of_one():
    # linear: never; Amdahl: the first N with X(N + 1) - X(N) < 0.1 gamma
    assert np.isinf(scaling.knee(0.0, 0.0)[0])
    alpha = 0.1
    n = np.arange(1, 100)
    gain = scaling.throughput(n + 1, alpha, 0, 1) - scaling.throughput(n, alpha, 0, 1)
    assert scaling.knee(alpha, 0.0)[0] == n[np.argmax(gain < 0.1)]
    assert scaling.knee(0.05, 0.002)[0] < scaling.peak(0.05, 0.002)


# --- coverage ----------------------------------------------------------------------------------


def _rows(values, seed, resamples=200):
    fits = scaling.fit_levels(
        LEVELS, values, resamples=resamples, rng=seed, scipy_estimate=False, superlinear=False
    )
    return fits, pd.DataFrame([scaling._summarise(fits, r) for r in range(len(values[0]))])


@pytest.mark.parametrize(
    ("alpha", "beta", "processes", "duration"),
    [(0.05, 0.002, 5, SHORT), (0.3, 0.01, 4, SHORT), (0.02, 0.0005, 5, LONG)],
)
def test_intervals_cover_their_stated_level_under_this_machines_noise(
    alpha, beta, processes, duration
):
    replicates = 400  # one SE of a 95% coverage: 1.1 points
    values = _sweep(alpha, beta, processes, replicates, seed=processes, duration=duration)
    fits, rows = _rows(values, seed=1)
    (level,) = set(rows["ci_level"])
    for name, truth in (("alpha", alpha), ("beta", beta)):
        hits = _covers(rows[f"{name}_ci_low"], rows[f"{name}_ci_high"], truth).mean()
        assert abs(hits - level) <= POINTS, (name, hits, level)
    boot = fits.boot[scaling.USL]
    low, high = fits.interval(scaling.peak(boot[..., 0], boot[..., 1]))
    hits = _covers(low, high, scaling.peak(alpha, beta)).mean()
    assert abs(hits - level) <= POINTS, ("peak", hits, level)


def test_alpha_covers_its_level_where_there_is_no_coherency_cost():
    # beta on its bound: the USL's alpha alone falls short, Amdahl's with it holds
    values = _sweep(0.1, 0.0, 5, 200, seed=41)
    _, rows = _rows(values, seed=2)
    hits = _covers(rows["alpha_ci_low"], rows["alpha_ci_high"], 0.1).mean()
    assert abs(hits - 0.95) <= POINTS, hits
    assert (rows["peak_workers"].isna()).mean() >= 0.9  # no peak within reach, mostly


def test_the_coverage_check_catches_the_chosen_models_alpha_alone():
    # a coherency cost too small for the F-test: Amdahl's alpha takes it up, and its own
    # interval says 95% but covers far less (why the union is reported)
    values = _sweep(0.02, 0.0005, 5, 200, seed=43, duration=LONG)
    fits, _ = _rows(values, seed=3)
    amdahl = ~fits.usl_chosen
    low, high = fits.interval(fits.boot[scaling.AMDAHL][..., 0])
    assert amdahl.mean() > 0.3
    assert _covers(low, high, 0.02)[amdahl].mean() < 0.95 - POINTS


# --- flags -------------------------------------------------------------------------------------


def test_too_few_levels_are_flagged():
    frame = _frame(0.05, 0.002, 4, seed=51, n=np.array([1.0, 2, 4, 8]))
    (row,) = scaling.fit_scaling(frame, resamples=200).to_dict("records")
    assert row["levels"] == 4
    assert any(f.startswith(scaling.FEW_LEVELS) for f in row["flags"])
    assert scaling.FEW_PROCESSES not in row["flags"]
    (three,) = scaling.fit_scaling(_frame(0.05, 0.0, 3, seed=52), resamples=100).to_dict("records")
    assert scaling.FEW_PROCESSES in three["flags"]
    assert "too few to trust" in row["verdict"]


def test_two_levels_identify_amdahls_alpha_where_the_usls_trades_with_beta():
    # 1 and 2 workers at 1.5x: Amdahl's alpha is 2/1.5 - 1, its interval around it and
    # clear of 0.25 (the claims' bound at 2 workers); the row's alpha is the union with the
    # USL's, where alpha + 2 beta is all 2 levels fix, and reaches lower
    values = [
        GAMMA * np.exp(0.02 * np.random.default_rng(1).standard_normal(4)),
        1.5 * GAMMA * np.exp(0.02 * np.random.default_rng(2).standard_normal(4)),
    ]
    row = scaling._summarise(scaling.fit_levels(np.array([1.0, 2.0]), values, resamples=500))
    ratio = np.exp(np.log(values[1]).mean() - np.log(values[0]).mean())
    assert row["amdahl_alpha"] == pytest.approx(2 / ratio - 1, abs=1e-6)
    assert row["amdahl_alpha_ci_low"] < row["amdahl_alpha"] < row["amdahl_alpha_ci_high"]
    assert row["amdahl_alpha_ci_low"] > 0.25
    assert row["alpha_ci_low"] < row["amdahl_alpha_ci_low"]


def test_superlinear_data_are_flagged_and_alpha_sits_on_its_bound():
    n = np.array([1.0, 2, 4, 8, 12, 16])
    truth = scaling.throughput(n, -0.03, 0.0, GAMMA)  # per worker: 1.8x at 16
    values = [
        truth[k] * np.exp(0.02 * np.random.default_rng(k).standard_normal(4)) for k in range(len(n))
    ]
    fits = scaling.fit_levels(n, values, resamples=300)
    row = scaling._summarise(fits)
    assert scaling.SUPERLINEAR in row["flags"]
    assert "alpha on its bound 0" in row["flags"] and row["alpha"] == 0


def test_a_fit_on_an_upper_bound_is_flagged():
    # throughput falling as 1/N^2: beyond what alpha, beta <= 1 can draw
    n = np.array([1.0, 2, 3, 4, 6, 8])
    values = [
        GAMMA / k**2 * np.exp(0.02 * np.random.default_rng(int(k)).standard_normal(4)) for k in n
    ]
    row = scaling._summarise(scaling.fit_levels(n, values, resamples=200))
    assert any("on its bound 1" in f for f in row["flags"]), row["flags"]


def test_a_peak_beyond_twice_the_largest_n_is_flagged_and_the_curve_marks_it():
    n = np.array([1.0, 2, 3, 4, 5, 6])
    truth = scaling.throughput(n, 0.01, 0.002, GAMMA)  # N* = 22, beyond 12
    values = [
        truth[k] * np.exp(0.002 * np.random.default_rng(k).standard_normal(6))
        for k in range(len(n))
    ]
    fits = scaling.fit_levels(n, values, resamples=300)
    row = scaling._summarise(fits)
    assert row["model"] == scaling.USL and row["peak_workers"] > 2 * 6
    assert any(f.startswith(scaling.BEYOND_REACH) for f in row["flags"])
    table = pd.DataFrame(
        [
            {
                **row,
                "scenario": "s",
                "backend": "threads",
                "variant": "",
                "params": "{}",
                "python": "3.11",
                "side": "",
                "metric": "m",
                "axis": "workers",
            }
        ]
    )
    curve = scaling.scaling_curve(table, n=[1, 6, 12, 13, 30])
    assert curve["extrapolated"].tolist() == [False, False, False, True, True]
    assert curve["throughput"].iloc[0] == pytest.approx(row["gamma"])


# --- the frame ---------------------------------------------------------------------------------


def test_the_axis_is_a_parameter():
    frame = _frame(0.05, 0.0, 3, seed=61).rename(columns={"workers": "hosts"})
    table = scaling.fit_scaling(frame, axis="hosts", resamples=100)
    assert table["axis"].tolist() == ["hosts"] and table["levels"].tolist() == [8]
    assert "past 32 hosts" in table["verdict"][0]


def test_nodes_as_the_axis_hold_the_workers_per_node_and_the_kind_of_sweep():
    """`--axis nodes` reads `node_count`; a family holds its workers per node and whether
    tasks grew with the nodes, so one and two workers a node are two families."""
    frame = _frame(0.05, 0.0, 3, seed=62, n=np.array([1.0, 2, 3, 4, 6]))
    frame = frame.assign(node_count=frame["workers"], node_scaling="weak")
    doubled = frame.assign(workers=2 * frame["workers"], node_scaling="strong")
    table = scaling.fit_scaling(pd.concat([frame, doubled]), axis="nodes", resamples=100)
    assert table["held"].tolist() == ["1 per node, weak: tasks grow with nodes",
                                      "2 per node, strong: fixed tasks"]  # fmt: skip
    assert (table["axis"] == "nodes").all() and (table["levels"] == 5).all()
    assert "past 6 nodes" in table["verdict"][0]
    # along workers, a node sweep's families hold their node count
    by_workers = scaling.fit_scaling(doubled.assign(node_count=2), resamples=100)
    assert by_workers["held"].tolist() == ["on 2 nodes, strong: fixed tasks"]
    plain = scaling.fit_scaling(_frame(0.05, 0.0, 3, seed=63), resamples=100)
    assert plain["held"].tolist() == [""]


def test_the_stored_cpu_run_is_fitted_fast_and_flagged():
    df = results.load(FIXTURES / "cpu")
    start = time.process_time()
    table = scaling.fit_scaling(df)
    assert time.process_time() - start < 1.0  # well under the 2 s
    assert set(table["backend"]) == {"dask", "processes", "ray", "threads"}  # sequential: 1 level
    assert set(table.columns) >= NAMED_FIELDS | {
        "flags",
        "ci_level",
        "verdict",
    }
    for row in table.to_dict("records"):
        assert row["levels"] == 2 and row["processes"] == 2
        assert any(f.startswith(scaling.FEW_LEVELS) for f in row["flags"])
        assert scaling.WITHIN_PROCESS in row["flags"] and row["ci_scope"] == "within 1 process"
        assert row["peak_workers"] is None  # two levels cannot show a peak


def test_runs_of_one_sweep_pool_into_one_family():
    df = results.load(*(FIXTURES / f"io-w{w}" for w in (1, 2, 4)))
    (row,) = scaling.fit_scaling(df, resamples=300).to_dict("records")
    assert row["levels"] == 3 and row["processes"] == 9 and row["ci_scope"] == "9 processes"
    assert scaling.FEW_PROCESSES in row["flags"]
    assert row["model"] == scaling.AMDAHL and row["alpha"] < 0.02  # sleeping threads


# --- where users see it: the command and the report page ---------------------------------


def test_harness_scaling_prints_a_row_per_family_and_json_with_the_named_fields():
    from conftest import cli, stored_run

    runs = [str(stored_run(name)) for name in ("io-w1", "io-w2", "io-w4")]
    proc = cli("scaling", *runs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)["families"]
    assert found and NAMED_FIELDS <= set(found[0])
    threads = next(r for r in found if r["backend"] == "threads")
    assert threads["levels"] == 3 and "too few levels" in " ".join(threads["flags"])
    table = cli("scaling", *runs)
    assert table.returncode == 0 and "where adding workers stops paying" in table.stdout
    bad = cli("scaling", *runs, "--metric", "wall_s")
    assert bad.returncode == 2 and "--metric" in bad.stderr and "Traceback" not in bad.stderr


def test_the_report_draws_the_fits_of_a_sweep_of_three_worker_counts():
    from conftest import stored_run

    from harness.output.reports import fit_figures, load_data

    data = load_data([stored_run(name) for name in ("io-w1", "io-w2", "io-w4")])
    ((name, fig),) = fit_figures.fits(data, "io")
    assert name.startswith("io-fits")
    ax = [a for a in fig.axes if a.get_visible()][0]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert dashed  # the curve beyond twice the largest N measured is drawn dashed
    title = " ".join(t.get_text() for t in fig.texts)
    assert "where adding workers stops paying" in title and "threads:" in title
    assert fit_figures.fits(load_data([stored_run("cpu")]), "cpu") == []  # 2 worker counts
