"""Task records: clock offsets bounded honestly, phases that add up, workers never counted
twice. The real engines' side is in test_latency (10 ms tasks on every backend) and
test_cluster_hosts (nodes with their offsets)."""

from __future__ import annotations

import random

import pytest

from harness.analysis import timelines
from harness.measure import timeline
from harness.measure.timeline import Bracket, clock_offsets, records, shape

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process


def _brackets(node: str, offset: float, n: int, rng: random.Random) -> list[Bracket]:
    """Probes on a node whose clock reads `offset` ahead of the driver's: each one's
    worker time lies somewhere inside its driver submit..arrival."""
    out = []
    t = 100.0
    for _ in range(n):
        before = t
        ran = before + rng.uniform(0.0001, 0.003)
        after = ran + rng.uniform(0.0001, 0.003)
        out.append(Bracket(node, ran + offset, ran + offset, before, after))
        t = after + 0.001
    return out


def test_a_nodes_offset_lies_within_its_stated_uncertainty():
    rng = random.Random(7)
    found = clock_offsets(_brackets("a", 5_000.25, 40, rng) + _brackets("b", -3.5, 40, rng))
    for node, true in (("a", 5_000.25), ("b", -3.5)):
        clock = found[node]
        assert abs(clock.offset_s - true) <= clock.uncertainty_s, clock
        # forty probes of at most 6 ms each bound it far tighter than one probe
        assert 0 < clock.uncertainty_s < 0.003, clock


def test_bounds_that_cross_widen_the_uncertainty_instead_of_hiding_it():
    # two brackets that cannot both hold for one fixed offset (a clock that stepped)
    stepped = [Bracket("a", 10.0, 10.0, 0.0, 0.001), Bracket("a", 10.5, 10.5, 0.0, 0.001)]
    found = clock_offsets(stepped)
    clock = found["a"]
    assert clock.uncertainty_s >= 0.24, clock  # covers both readings, never a false 0


def _stamps(workers: int, per_worker: int, service: float) -> tuple[list, list[float]]:
    stamps, arrival = [], []
    for w in range(workers):
        for k in range(per_worker):
            start = 0.001 + k * (service + 0.0005)
            stamps.append(("h", 100 + w, 100 + w, start, start + service))
            arrival.append(start + service + 0.0002)
    return stamps, arrival


def test_phases_add_up_and_the_shape_says_how_busy_each_worker_was():
    stamps, arrival = _stamps(workers=2, per_worker=5, service=0.01)
    cols = records(stamps, arrival, None, 0.0, None)
    for i in range(len(stamps)):
        total = cols["dispatch_s"][i] + cols["service_s"][i] + cols["return_s"][i]
        assert total == pytest.approx(cols["arrival_s"][i] - cols["submit_s"][i])
    assert set(cols["worker"]) == {"pid 100", "pid 101"} and set(cols["node"]) == {"local"}
    found = shape(cols, workers=2)
    assert found is not None
    assert found.makespan_s == pytest.approx(max(arrival))
    assert found.ideal_makespan_s == pytest.approx(10 * 0.01 / 2)
    assert found.schedule_efficiency == pytest.approx(found.ideal_makespan_s / found.makespan_s)
    assert found.straggler_ratio == pytest.approx(1.0)
    # asked for three workers, two ran tasks: the third was idle the whole time
    assert shape(cols, workers=3).worker_busy_min == 0.0  # type: ignore[union-attr]


def test_coroutines_on_one_thread_get_one_row_per_task_in_flight():
    # four 20 ms coroutines in flight at once on one thread, then four more
    stamps = [("h", 1, 7, t, t + 0.02) for t in (0.0, 0.0, 0.0, 0.0, 0.02, 0.02, 0.02, 0.02)]
    cols = records(stamps, [s[4] + 0.001 for s in stamps], None, 0.0, None, driver_pid=1)
    assert sorted(set(cols["worker"])) == [f"thread 7 #{k}" for k in (1, 2, 3, 4)]
    busy = timeline.busy_fractions(cols, makespan_s=0.041)
    assert all(0.9 < b <= 1.0 for b in busy.values()), busy


def test_a_remote_nodes_times_move_onto_the_driver_clock_with_their_uncertainty():
    offsets = {"10.0.0.2": timeline.ClockOffset("10.0.0.2", 500.0, 0.002)}
    cols = records([("10.0.0.2", 9, 9, 500.010, 500.020)], [0.025], [0.0], 0.0, offsets)
    assert cols["start_s"][0] == pytest.approx(0.010)
    assert cols["worker"] == ["10.0.0.2 pid 9"] and cols["clock_uncertainty_s"] == [0.002]


def test_the_figures_show_the_round_of_median_makespan():
    import pandas as pd

    stamps, arrival = _stamps(workers=1, per_worker=2, service=0.01)
    base = pd.DataFrame(records(stamps, arrival, None, 0.0, None))
    rounds = [
        base.assign(round=r, arrival_s=base["arrival_s"] * scale)
        for r, scale in ((1, 3.0), (2, 1.0), (3, 2.0))
    ]
    tasks = pd.concat(rounds).assign(run_id="r", case_id="c")
    assert set(timelines.representative(tasks)["round"]) == {3}
