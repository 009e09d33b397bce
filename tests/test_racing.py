"""The race of `harness tune`, simulated under this machine's measured noise.

Each simulated candidate is a process that times the sequential loop beside its own batch
(the in-process pair of `measure.noise`, layout "alternate"), as `harness tune`'s
processes do. The rule's promise: the fastest candidate is eliminated, at any look, with
chance at most 1 - confidence; and when the race decides (one survivor, or a tie), the
winner is within the indifference zone of the fastest at least that often.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure import noise, racing
from harness.measure.racing import Race, RaceRule, Score

pytestmark = pytest.mark.fast

#: Replicates a setting: 1 - confidence = 5% is read to within about +-2 points.
REPLICATES = 500


def _simulated(speedups: dict[str, float | None], blocks: int, rng: np.random.Generator):
    """Per candidate (log wall, log speedup) arrays, (replicates, blocks); None: sequential."""
    out = {}
    for name, s in speedups.items():
        if s is None:
            sim = noise.simulate(blocks, 3, 0.2, layout="separate", replicates=REPLICATES, rng=rng)
            ma, _ = sim.medians()
            out[name] = (np.log(ma), np.zeros_like(ma))
        else:
            sim = noise.simulate(
                blocks, 3, 0.2, ratio=1 / s, layout="alternate", replicates=REPLICATES, rng=rng
            )
            _, mb = sim.medians()
            out[name] = (np.log(mb), -sim.pair_log_ratios())
    return out


def _race(arrays, r: int, blocks: int, rule: RaceRule) -> tuple[Race, str]:
    race = Race(list(arrays), rule, baseline="sequential")
    block = 0
    for block in range(1, blocks + 1):
        for name in race.survivors:
            log_wall, log_speedup = arrays[name]
            race.record(name, block, Score(float(log_wall[r, block - 1]),
                                           float(log_speedup[r, block - 1])))  # fmt: skip
        if race.look(block):
            break
    race.stopped = race.stopped or racing.BUDGET
    order = {n: (float(i), 0.0) for i, n in enumerate(arrays)}
    winner, _ = racing.pick(race, order, block)
    return race, winner


def _rates(speedups: dict[str, float | None], blocks: int, seed: int, rule=racing.DEFAULT):
    arrays = _simulated(speedups, blocks, np.random.default_rng(seed))
    truth = {n: 1.0 if s is None else s for n, s in speedups.items()}
    best = max(truth, key=lambda n: truth[n])
    lost = decided = wrong = 0
    for r in range(REPLICATES):
        race, winner = _race(arrays, r, blocks, rule)
        lost += race.decisions.get(best, racing.Decision(best, "", 0, "")).status == "eliminated"
        if race.stopped in (racing.ONE_LEFT, racing.TIE):
            decided += 1
            wrong += truth[winner] < truth[best] / (1 + rule.indifference)
    return lost / REPLICATES, decided / REPLICATES, wrong / REPLICATES


#: A 2-core machine's usual field: GIL-bound threads, a chunked pool, Dask and Ray grouped,
#: a pool with a task per input; one clearly best at 1.8x.
FIELD = {"sequential": None, "threads": 0.9, "processes": 1.8, "dask": 1.5, "ray": 1.4,
         "per_task": 0.3}  # fmt: skip


def test_the_fastest_survives_and_decided_winners_are_right():
    lost, decided, wrong = _rates(FIELD, blocks=20, seed=11)
    assert lost <= 0.05
    assert wrong <= 0.05
    assert decided >= 0.5  # 20 blocks decide 1.8x against 1.5x most of the time


def test_close_rivals_keep_the_promise():
    """1.06x against 1.0x and 1.03x: inside the zone's edge, where elimination errs most."""
    lost, _, wrong = _rates({"sequential": None, "a": 1.06, "b": 1.0, "c": 1.03}, 20, seed=12)
    assert lost <= 0.05
    assert wrong <= 0.05


def test_a_real_difference_is_called():
    """1.2x against 1.0x (the change the power issue asks to see) is decided within 20
    blocks in most races, and always for the faster one."""
    lost, decided, wrong = _rates({"sequential": None, "a": 1.2, "b": 1.0}, 20, seed=13)
    assert decided >= 0.7
    assert wrong == 0 and lost <= 0.05


def test_the_level_per_look_sums_to_the_error():
    rule = RaceRule(confidence=0.9)
    total = sum(rule.alpha(j, 5) for j in range(1, 100_000)) * 4
    assert total == pytest.approx(0.1, rel=1e-3)
    assert rule.looks(30) == [3, 5, 8, 12, 18, 27]


def test_first_processes_of_equal_candidates_stay_within_3x():
    """The after-block-1 prune's margin (4x): among 12 equally fast candidates, the slowest
    single process against the fastest. Under this machine's noise it passes 2x in one to
    two races in a hundred, and 3x in none of 15,000 (5,000 each at batches of 10 ms, 100 ms
    and 1 s)."""
    rng = np.random.default_rng(14)
    for batch in (0.01, 0.1, 1.0):
        sim = noise.simulate(12, 3, batch, layout="separate", replicates=5_000, rng=rng)
        logs = np.log(sim.medians()[0])
        spread = logs.max(axis=1) - logs.min(axis=1)
        assert float(np.exp(spread.max())) < 3


def test_a_tie_prefers_the_cheaper_candidate():
    race = Race(["fast", "cheap"], RaceRule(indifference=0.05), baseline="")
    for block in range(1, 19):
        race.record("fast", block, Score(0.0, 0.300 + 0.001 * (block % 2)))
        race.record("cheap", block, Score(0.0, 0.300 - 0.001 * (block % 2)))
        if race.look(block):
            break
    assert race.stopped == racing.TIE
    winner, why = racing.pick(race, {"fast": (1.0, 9.0), "cheap": (0.1, 1.0)}, block)
    assert winner == "cheap" and "tie" in why
