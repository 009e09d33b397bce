"""Claims and advice read result frames only: verdicts follow the measured numbers.

These tests build small tidy frames with known medians, so each verdict rule is checked
against numbers on both sides of its threshold; tests/test_scenarios.py runs claims on a
real run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import harness

from harness import advice, claims, results


def rows(scenario, backend, workers, wall, params=None, variant="", extra=None, status="ok"):
    """Three repeats of one case with the given median wall and once-per-case metrics."""
    params = json.dumps(params or {}, sort_keys=True)
    label = f"{backend}[{variant}]" if variant else backend
    case_id = f"{scenario}/{label}/w{workers}/{params}"
    base = dict(run_id="r1", host="h", scenario=scenario, case_id=case_id, backend=backend,
                workers=workers, params=params, tasks=4, status=status, error="")  # fmt: skip
    out = [
        {**base, "repeat": r, "metric": "wall_s", "value": wall * f, "unit": "s"}
        for r, f in ((1, 0.99), (2, 1.0), (3, 1.01))
    ]
    for metric, value in (extra or {}).items():
        out.append({**base, "repeat": None, "metric": metric, "value": value, "unit": ""})
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


def test_cpu_parallelism_differs_when_threads_scale_and_processes_do_not():
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        rows("gil", "threads", 2, 0.5),
        rows("gil", "processes", 2, 1.0),
    )
    assert verdict(df, "CPU parallelism")["verdict"] == claims.DIFFERS


@pytest.mark.parametrize(("per_process", "expected"), [(30e6, "supports"), (2e6, "partly")])
def test_memory_per_unit_uses_the_slope_over_workers(per_process, expected):
    def mem(backend, w, per, variant=""):
        return rows("memory", backend, w, 0.5, variant=variant,
                    extra={"peak_uss_bytes": 5e6 + per * w})  # fmt: skip

    df = frame(
        mem("threads", 1, 8e3), mem("threads", 4, 8e3),
        mem("processes", 1, per_process, "start_method=spawn"),
        mem("processes", 4, per_process, "start_method=spawn"),
    )  # fmt: skip
    row = verdict(df, "memory per unit")
    assert row["verdict"] == expected
    assert "processes[start_method=spawn]" in row["measured"]


def test_missing_scenarios_are_no_data_and_unmeasurable_rows_say_so():
    table = claims.claims_table(frame(rows("cpu", "sequential", 1, 1.0)))
    by = table.set_index("aspect")["verdict"]
    assert by["transfer" if "transfer" in by else "communication"] == claims.NO_DATA
    assert by["debugging"] == claims.NOT_MEASURED
    assert list(table.columns) == claims.COLUMNS


def test_failed_cases_are_never_evidence():
    df = frame(
        rows("gil", "sequential", 1, 1.0),
        rows("gil", "threads", 2, 1.0),
        rows("gil", "processes", 2, 0.5, status="timeout"),
    )
    assert verdict(df, "CPU parallelism")["verdict"] == claims.NO_DATA


def test_crossover_is_the_smallest_task_reaching_the_target():
    parts = []
    for task_s, proc_wall in ((1e-5, 4.0), (1e-3, 0.7), (1e-1, 0.55)):
        p = {"task_s": task_s, "total_s": 1.0}
        parts += [rows("granularity", "sequential", 1, 1.0, p),
                  rows("granularity", "processes", 2, proc_wall, p)]  # fmt: skip
    cross = advice.crossover(frame(*parts))
    (row,) = cross.itertuples()
    assert row.label == "processes" and row.crossover_s == pytest.approx(1e-1)
    # 1 ms reached 71%: below 80%, so not the crossover; at 70% it would be
    relaxed = advice.crossover(frame(*parts), target=0.7)
    assert relaxed["crossover_s"].iloc[0] == pytest.approx(1e-3)


def test_crossover_not_reached_is_nan_with_the_best_efficiency():
    p = {"task_s": 1e-4, "total_s": 1.0}
    cross = advice.crossover(
        frame(rows("granularity", "sequential", 1, 1.0, p), rows("granularity", "ray", 2, 5.0, p))
    )
    assert np.isnan(cross["crossover_s"].iloc[0])
    assert cross["best_efficiency"].iloc[0] == pytest.approx(0.1)


def test_recommendation_names_fastest_and_leanest_with_numbers():
    df = frame(
        rows("io", "sequential", 1, 1.0, extra={"peak_uss_bytes": 1e6}),
        rows("io", "threads", 4, 0.26, extra={"peak_uss_bytes": 2e6}),
        rows("io", "processes", 4, 0.3, extra={"peak_uss_bytes": 1e8}),
    )
    (rec,) = advice.recommendations(df).itertuples()
    # the sequential loop costs no memory by construction: leanest among the others
    assert (rec.fastest, rec.least_memory) == ("threads w4", "threads w4")
    assert rec.value == pytest.approx(0.26) and rec.speedup == pytest.approx(1 / 0.26)


def test_claims_command_prints_tables_and_rejects_bad_paths(tmp_path):
    proc = harness("claims", str(tmp_path / "nope"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
