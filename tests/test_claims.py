"""Claims and advice read result frames only: verdicts follow the measured numbers.

These tests build small tidy frames with known medians, so each verdict rule is checked
against numbers on both sides of its threshold; tests/test_scenarios.py runs claims on a
real run, and the command is tested on stored runs (tests/fixtures/runs/).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import cli, stored_run

from harness import results
from harness.analysis import advice, claims

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

SPREAD = (0.97, 0.99, 1.0, 1.01, 1.03)
#: Each case runs in three fresh processes, each a little off the others: the process is
#: the unit that intervals and verdicts are built from.
PROCESSES = (0.99, 1.0, 1.01)


def rows(
    scenario,
    backend,
    workers,
    wall,
    params=None,
    variant="",
    extra=None,
    status="ok",
    spread=SPREAD,
    processes=PROCESSES,
):
    """Five repeats a process around the given median wall, in each of `processes` (their
    offsets), and once-per-process metrics."""
    params = json.dumps(params or {}, sort_keys=True)
    label = f"{backend}[{variant}]" if variant else backend
    case_id = f"{scenario}/{label}/w{workers}/{params}"
    base = dict(
        run_id="r1",
        host="h",
        scenario=scenario,
        case_id=case_id,
        backend=backend,
        variant=variant,
        workers=workers,
        params=params,
        tasks=4,
        status=status,
        error="",
    )
    out = []
    for rnd, offset in enumerate(processes, start=1):
        out += [
            {
                **base,
                "round": rnd,
                "repeat": r,
                "metric": "wall_s",
                "value": wall * f * offset,
                "unit": "s",
            }
            for r, f in enumerate(spread, start=1)
        ]
        for metric, value in (extra or {}).items():
            jittered = value * offset if metric != "usable_cpus" else value
            out.append(
                {
                    **base,
                    "round": rnd,
                    "repeat": None,
                    "metric": metric,
                    "value": jittered,
                    "unit": "",
                }
            )
    return out


def frame(*parts):
    return results.frame([row for part in parts for row in part])


def verdict(df, aspect):
    return claims.claims_table(df).set_index("aspect").loc[aspect]


def test_cpu_parallelism_supported_when_threads_flat_and_processes_scale():
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        rows("gil", "threads", 2, 1.0),
        rows("gil", "processes", 2, 0.52),
    )
    row = verdict(df, "CPU parallelism")
    assert row["verdict"] == claims.SUPPORTS
    assert "threads w2 1.00x" in row["measured"] and "processes w2 1.92x" in row["measured"]
    # the deciding figure carries its interval and the interval's real level
    assert "processes w2 speedup 1.92x (" in row["figure"]
    assert "95%, 3 processes)" in row["figure"]


def sweep(backend, speedups, cpus=None, tasks=4, **kw):
    """A worker sweep: at each worker count its speedup over one worker, as wall and as
    throughput (tasks_per_s, what the scaling fit reads), per process."""
    extra = {"usable_cpus": cpus} if cpus is not None else {}
    return [
        row
        for workers, speedup in speedups.items()
        for row in rows(
            "gil",
            backend,
            workers,
            1.0 / speedup,
            extra={**extra, "tasks_per_s": tasks * speedup},
            **kw,
        )
    ]


def amdahl(alpha, counts):
    return {n: n / (1 + alpha * (n - 1)) for n in counts}


def test_processes_approach_the_core_count_when_their_serial_share_is_below_the_bound():
    # 4 usable CPUs: 4 processes give 80% of 4x where alpha <= (1/0.8 - 1)/3 = 0.083
    df = frame(
        rows("gil", "sequential", 1, 1.0, extra={"usable_cpus": 4}),
        sweep("threads", {1: 1.0, 2: 1.0, 4: 1.0}, cpus=4),
        sweep("processes", amdahl(0.02, (1, 2, 4)), cpus=4),
    )
    row = verdict(df, "CPU parallelism")
    assert row["verdict"] == claims.SUPPORTS, row.to_dict()
    # the evidence: alpha with its interval, the worker counts and the processes behind it
    found = re.search(
        r"Amdahl's alpha\) (\S+) \((\S+)-(\S+), 95%, 3 worker counts up to 4, 9 pro", row["figure"]
    )
    assert found, row["figure"]
    alpha, low, high = (float(x) for x in found.groups())
    assert low <= 0.02 <= high and high < 0.083 and alpha == pytest.approx(0.02, abs=0.01)
    assert "= 0.083" in row["basis"] and "80% of 4x" in row["basis"]


def test_processes_whose_serial_share_is_above_the_bound_contradict_the_claim():
    df = frame(
        rows("gil", "sequential", 1, 1.0, extra={"usable_cpus": 4}),
        sweep("threads", {1: 1.0, 2: 1.9, 4: 3.6}, cpus=4),  # threads scale: no GIL here
        sweep("processes", amdahl(0.3, (1, 2, 4)), cpus=4),  # 4 give 1.9x: far from 4x
    )
    row = verdict(df, "CPU parallelism")
    assert row["verdict"] == claims.DIFFERS, row.to_dict()
    assert "serial share 0.30" in row["measured"]
    # two worker counts identify Amdahl's alpha (2/1.5 - 1 = 0.33, wholly above 0.25),
    # where the USL's would reach down to 0
    two = frame(
        rows("gil", "sequential", 1, 1.0),
        sweep("threads", {1: 1.0, 2: 1.9}),
        sweep("processes", {1: 1.0, 2: 1.5}),
    )
    assert verdict(two, "CPU parallelism")["verdict"] == claims.DIFFERS


def test_a_coherency_cost_counts_in_the_serial_share_at_the_most_workers():
    # the USL's alpha alone (0.005) is below the bound at 16, 0.0167; with 16 beta it is not
    counts = (1, 2, 4, 8, 12, 16)
    usl = {n: n / (1 + 0.005 * (n - 1) + 0.002 * n * (n - 1)) for n in counts}
    df = frame(
        rows("gil", "sequential", 1, 1.0, extra={"usable_cpus": 16}),
        sweep("threads", {n: 0.9 * n for n in counts}, cpus=16),
        sweep("processes", usl, cpus=16),
    )
    row = verdict(df, "CPU parallelism")
    assert "(USL alpha + 16 beta) 0.03" in row["figure"], row["figure"]
    assert row["verdict"] == claims.DIFFERS, row.to_dict()
    assert "serial share 0.03" in row["measured"] and "= 0.017" in row["basis"]


def test_a_serial_share_interval_across_the_bound_decides_nothing():
    # two workers at 1.6x: alpha = 2/1.6 - 1 = 0.25, the bound itself
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        sweep("threads", {1: 1.0, 2: 1.0}),
        sweep("processes", {1: 1.0, 2: 1.6}),
    )
    row = verdict(df, "CPU parallelism")
    assert row["verdict"] == claims.UNDECIDED, row.to_dict()
    # two worker counts: the fit is flagged, but alpha is their speedup restated
    assert "2 worker counts up to 2, 6 processes" in row["figure"]
    assert "2/S(2) - 1" in row["basis"]
    clear = frame(
        rows("gil", "sequential", 1, 1.0),
        sweep("threads", {1: 1.0, 2: 1.0}),
        sweep("processes", {1: 1.0, 2: 1.9}),  # alpha 0.05: wholly below 0.25
    )
    assert verdict(clear, "CPU parallelism")["verdict"] == claims.SUPPORTS


def test_the_serial_share_is_fitted_within_the_usable_cpus_only():
    """Past the cores processes share CPUs and throughput flattens: that is not contention,
    and the fit leaves those worker counts out."""
    df = frame(
        rows("gil", "sequential", 1, 1.0, extra={"usable_cpus": 2}),
        sweep("threads", {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}, cpus=2),
        sweep("processes", {1: 1.0, 2: 1.95, 4: 1.95, 8: 1.95}, cpus=2),
    )
    row = verdict(df, "CPU parallelism")
    assert row["verdict"] == claims.SUPPORTS, row.to_dict()
    assert "2 worker counts up to 2," in row["figure"] and "2 usable CPUs" in row["basis"]


def test_a_serial_share_from_one_process_or_a_superlinear_curve_decides_nothing():
    one = frame(
        rows("gil", "sequential", 1, 1.0, processes=(1.0,)),
        sweep("threads", {1: 1.0, 2: 1.0}, processes=(1.0,)),
        sweep("processes", {1: 1.0, 2: 1.9}, processes=(1.0,)),
    )
    row = verdict(one, "CPU parallelism")
    assert row["verdict"] == claims.UNDECIDED and "within 1 process" in row["figure"]
    superlinear = frame(
        rows("gil", "sequential", 1, 1.0),
        sweep("threads", {1: 1.0, 2: 1.0}),
        sweep("processes", {1: 1.0, 2: 2.6}),
    )
    row = verdict(superlinear, "CPU parallelism")
    assert row["verdict"] == claims.UNDECIDED and "superlinear" in row["figure"]


def test_one_process_a_case_gives_no_verdict_and_says_so():
    """Repeats inside one process miss the variation between processes: whatever they show,
    no claim is decided from them."""
    one = (1.0,)
    df = frame(
        rows("gil", "sequential", 1, 1.0, processes=one),
        rows("gil", "threads", 2, 1.0, processes=one),
        rows("gil", "threads", 1, 1.0, processes=one),
        rows("gil", "processes", 2, 0.52, processes=one),
    )
    for aspect in ("CPU parallelism", "example: GIL"):
        row = verdict(df, aspect)
        assert row["verdict"] == claims.UNDECIDED, aspect
    assert "within 1 process" in verdict(df, "CPU parallelism")["figure"]
    assert "no interval: 1 process" in verdict(df, "example: GIL")["figure"]


def test_gil_claim_compares_threads_with_one_thread_from_both_cases_processes():
    flat = frame(rows("gil", "threads", 1, 1.0), rows("gil", "threads", 2, 1.0))
    assert verdict(flat, "example: GIL")["verdict"] == claims.SUPPORTS
    scaling = frame(rows("gil", "threads", 1, 1.0), rows("gil", "threads", 2, 0.5))
    assert verdict(scaling, "example: GIL")["verdict"] == claims.DIFFERS
    one_cpu = {"usable_cpus": 1}
    alone = frame(
        rows("gil", "threads", 1, 1.0, extra=one_cpu), rows("gil", "threads", 2, 1.0, extra=one_cpu)
    )
    assert verdict(alone, "example: GIL")["verdict"] == claims.NO_BASIS


def test_a_lock_that_fails_in_two_repeats_of_five_does_not_fix_the_race():
    def counter(locked, lost):
        out = rows("shared-state", "threads", 2, 0.1, params={"locked": locked})
        walls = [r for r in out if r["metric"] == "wall_s"]
        return out + [
            {**r, "metric": "lost_update_ratio", "value": v, "unit": "ratio"}
            for r, v in zip(walls, lost, strict=False)
        ]

    df = frame(counter(False, [0.2] * 15), counter(True, [0.0, 0.3, 0.0, 0.1, 0.0] + [0.0] * 10))
    df["param_locked"] = df["params"].map(lambda p: json.loads(p)["locked"])
    assert verdict(df, "example: race")["verdict"] == claims.SUPPORTS
    lock = verdict(df, "example: lock")
    assert lock["verdict"] == claims.DIFFERS and "30.0%" in lock["figure"]


def test_levels_are_never_rounded_up():
    # five repeats against five: the Hodges-Lehmann interval covers 96.8%, not "97%"
    df = frame(
        rows("cpu", "sequential", 1, 1.0, processes=(1.0,)),
        rows("cpu", "processes", 2, 0.6, processes=(1.0,)),
    )
    figure = verdict(df, "example: CPU")["figure"]
    assert "96.8%" in figure and "97%" not in figure


def test_cpu_parallelism_differs_when_threads_scale_and_processes_do_not():
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        rows("gil", "threads", 2, 0.5),
        rows("gil", "processes", 2, 1.0),
    )
    assert verdict(df, "CPU parallelism")["verdict"] == claims.DIFFERS


def test_one_usable_cpu_gives_no_parallelism_verdict_and_says_why():
    one_cpu = {"usable_cpus": 1}
    df = frame(
        rows("cpu", "sequential", 1, 1.0, extra=one_cpu),
        rows("cpu", "threads", 2, 1.0, extra=one_cpu),
        rows("cpu", "processes", 2, 1.0, extra=one_cpu),
    )
    for aspect in ("CPU parallelism", "example: CPU"):
        row = verdict(df, aspect)
        assert row["verdict"] == claims.NO_BASIS, aspect
        assert "1 usable CPU" in row["measured"]


def test_an_interval_across_the_threshold_is_not_decided():
    # processes at 2 workers with a median near 70% efficiency but repeats all over the place
    wild = (0.55, 0.65, 1.0, 1.4, 1.6)
    df = frame(
        rows("cpu", "sequential", 1, 1.0, spread=wild),
        rows("cpu", "processes", 2, 0.7, spread=wild),
    )
    assert verdict(df, "example: CPU")["verdict"] == claims.UNDECIDED


@pytest.mark.parametrize(("process_start", "expected"), [(0.25, "supports"), (0.05, "partly")])
def test_creation_time_follows_the_claims_words(process_start, expected):
    # "processes slow (100s of ms)": 50 ms is tens of milliseconds, not hundreds
    df = frame(
        rows("startup", "threads", 1, 0.1, extra={"startup_s": 0.002}),
        rows("startup", "threads", 2, 0.1, extra={"startup_s": 0.003}),
        rows("startup", "processes", 1, 0.1, extra={"startup_s": process_start}),
        rows("startup", "processes", 2, 0.1, extra={"startup_s": process_start * 1.2}),
    )
    assert verdict(df, "creation time")["verdict"] == expected


@pytest.mark.parametrize(("per_process", "expected"), [(30e6, "supports"), (2e6, "partly")])
def test_memory_per_unit_uses_the_slope_over_workers(per_process, expected):
    def mem(backend, w, per, variant=""):
        return rows(
            "memory", backend, w, 0.5, variant=variant, extra={"peak_pss_bytes": 5e6 + per * w}
        )

    df = frame(
        mem("threads", 1, 8e3),
        mem("threads", 4, 8e3),
        mem("processes", 1, per_process, "start_method=spawn"),
        mem("processes", 4, per_process, "start_method=spawn"),
    )
    row = verdict(df, "memory per unit")
    assert row["verdict"] == expected
    assert "processes[start_method=spawn]" in row["measured"] and "PSS" in row["figure"]


def test_memory_that_falls_with_workers_is_never_shown_as_a_figure():
    # fork: the parent's pages become shared, so unique memory falls as children appear
    def mem(backend, w, value, variant=""):
        return rows("memory", backend, w, 0.5, variant=variant, extra={"peak_uss_bytes": value})

    df = frame(
        mem("threads", 1, 1e5),
        mem("threads", 4, 1.3e5),
        mem("processes", 1, -5e6, "start_method=fork"),
        mem("processes", 4, -20e6, "start_method=fork"),
    )
    row = verdict(df, "memory per unit")
    assert "not measurable" in row["measured"] and "-" not in row["measured"].replace(
        "processes[start_method=fork]", ""
    ).replace("per added", "")
    (rec,) = advice.recommendations(df).itertuples()
    assert rec.answer == "threads" and "fell as workers were added" in rec.note


def test_missing_scenarios_are_no_data_and_unmeasurable_rows_say_so():
    table = claims.claims_table(frame(rows("cpu", "sequential", 1, 1.0)))
    by = table.set_index("aspect")["verdict"]
    assert by["communication"] == claims.NO_DATA
    assert by["debugging"] == claims.NOT_MEASURED
    assert list(table.columns) == claims.COLUMNS


def test_failed_cases_are_never_evidence():
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        rows("gil", "threads", 2, 1.0),
        rows("gil", "processes", 2, 0.5, status="timeout"),
    )
    assert verdict(df, "CPU parallelism")["verdict"] == claims.NO_DATA


def granularity(curve, backend="processes"):
    parts = []
    for task_s, wall in curve:
        p = {"task_s": task_s, "total_s": 1.0}
        parts += [
            rows("granularity", "sequential", 1, 1.0, p),
            rows("granularity", backend, 2, wall, p),
        ]
    return frame(*parts)


def test_crossover_is_where_every_longer_task_reaches_the_target():
    # 10 us reached 85% by luck; 100 us fell to 50%: the crossover is 1 ms, not 10 us
    df = granularity([(1e-5, 0.59), (1e-4, 1.0), (1e-3, 0.61), (1e-2, 0.55)])
    (row,) = advice.crossover(df).itertuples()
    assert row.label == "processes" and row.crossover_s == pytest.approx(1e-3)
    assert row.crossover_low_s <= row.crossover_s <= row.crossover_high_s


def test_crossover_not_reached_is_nan_with_the_best_efficiency():
    df = granularity([(1e-4, 5.0)], backend="ray")
    cross = advice.crossover(df)
    assert np.isnan(cross["crossover_s"].iloc[0])
    assert cross["best_efficiency"].iloc[0] == pytest.approx(0.1)


def test_recommendation_answers_the_scenarios_question_with_figures():
    df = frame(
        rows("io", "sequential", 1, 1.0),
        rows("io", "threads", 4, 0.26),
        rows("io", "processes", 4, 0.4),
    )
    (rec,) = advice.recommendations(df).itertuples()
    assert rec.answer == "threads w4" and "260 ms wall" in rec.figure
    assert rec.runner_up.startswith("processes w4")


def test_a_knee_within_the_worker_counts_measured_gives_the_count_to_use():
    counts = (1, 2, 4, 8, 12, 16)
    usl = {n: n / (1 + 0.02 * (n - 1) + 0.01 * n * (n - 1)) for n in counts}  # knee 8, peak 9.9
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        sweep("processes", usl),
        sweep("threads", {n: float(n) for n in counts}),  # linear: no knee within 16
    )
    recs = advice.recommendations(df)
    rec = recs[recs["question"] == advice.WORKER_COUNT.text].iloc[0]
    assert rec["answer"] == "processes 8", rec.to_dict()
    assert "past 8 workers each more adds under 10%" in rec["figure"]
    assert "peaks at 9." in rec["figure"] and "threads" not in rec["figure"]
    # still scaling at the most workers measured: no count is guessed
    linear = frame(rows("gil", "sequential", 1, 1.0), sweep("threads", {1: 1.0, 2: 2.0, 4: 4.0}))
    assert advice.WORKER_COUNT.text not in set(advice.recommendations(linear)["question"])


def test_startup_recommendation_is_the_cheapest_added_worker_not_the_fastest_batch():
    def start(backend, w, seconds):
        return rows("startup", backend, w, 1e-5, extra={"startup_s": seconds})

    df = frame(
        rows("startup", "sequential", 1, 1e-6),
        start("threads", 1, 0.003),
        start("threads", 4, 0.006),
        start("processes", 1, 0.06),
        start("processes", 4, 0.2),
    )
    (rec,) = advice.recommendations(df).itertuples()
    assert "adds a worker" in rec.question and rec.answer == "threads"
    assert "ms per added worker" in rec.figure


def test_claims_command_prints_the_verdicts_of_the_stored_runs():
    runs = [stored_run("cpu"), stored_run("io-w4")]  # real quick runs, see tests/fixtures
    proc = cli("claims", *map(str, runs))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # every aspect, on its row the verdict the library gives for these runs
    table = claims.claims_table(results.load(*runs))
    for row in table.itertuples():
        (line,) = [ln for ln in lines if f" {row.aspect} " in ln]
        assert f" {row.verdict} " in line, (row.aspect, row.verdict, line)
    assert set(table["verdict"]) - {claims.NO_DATA, claims.NOT_MEASURED}  # some measured
    # and a recommendation per scenario, with its answer
    recs = advice.recommendations(results.load(*runs))
    assert set(recs["scenario"]) == {"cpu", "io"}
    for rec in recs.itertuples():
        assert any(f" {rec.scenario} " in ln and rec.answer in ln for ln in lines), rec


def test_claims_command_rejects_bad_paths(tmp_path):
    proc = cli("claims", str(tmp_path / "nope"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_a_thread_cost_below_resolution_reads_as_no_growth_never_negative():
    def mem(backend, w, value, variant=""):
        return rows(
            "memory",
            backend,
            w,
            0.5,
            variant=variant,
            extra={"peak_pss_bytes": value, "startup_s": 0.001 * (5 - w)},
        )

    df = frame(
        mem("threads", 1, 2.0e5),
        mem("threads", 4, 1.2e5),
        mem("processes", 1, 30e6, "start_method=spawn"),
        mem("processes", 4, 120e6, "start_method=spawn"),
    )
    table = claims.claims_table(df).set_index("aspect")
    memory, creation = table.loc["memory per unit"], table.loc["creation time"]
    assert "threads no measurable growth" in memory["measured"]
    assert memory["verdict"] == claims.SUPPORTS
    assert "threads no measurable growth" in creation["measured"]
    for text in (memory["measured"], creation["measured"]):
        assert not re.search(r"-\d", text), text
    (rec,) = advice.recommendations(df).itertuples()
    assert rec.answer == "threads" and rec.figure.startswith("no measurable growth")
