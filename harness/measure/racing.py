"""Racing ways of running one function: which is fastest, with a stated confidence.

Why racing and not a grid: most candidates (a pool per task for microsecond tasks, two
threads for GIL-bound work) are clearly worse after a few fresh processes, and every
process spent on them is time not spent separating the good ones.

The design (Successive Elimination, Even-Dar, Mannor & Mansour 2006, with F-Race's
blocking, Birattari et al. 2002):

- Candidates run in **blocks**: every survivor one fresh process per block, in a random
  order, so the machine's drift touches all of them alike. A process gives one **score**,
  its log speed: log(reference / wall), its speedup over the sequential loop timed beside
  each repeat in the same process (issue "verdicts that see": the machine's speed swings
  in seconds, and an in-process pair cancels them), or, where the process had no
  reference, minus its log wall.
- Candidate c is compared with the **leader** L (the survivor with the best mean score) on
  their blocks in common: d_k = score_L,k - score_c,k, the log of how much slower c was in
  block k; in-process speedups where both have them in every common block, log walls
  otherwise. One-sided t on the d_k.
- **Looks** come at blocks 3, 5, 8, 12, 18, 27, ... (about 1.5 times apart), not after
  every block: fewer looks leave more error to each. At look j, each comparison is made at
  one-sided level alpha_j = (1 - confidence) w_j / (m - 1), m the number of candidates.
  The weights w_j give the first five looks (block 18 and before, where a race within a
  minute or two ends) 16% each, and the later ones the last 20% as 0.2 / (i (i + 1)),
  i = j - 5: they sum to 1 over all looks, and the m - 1 cover every rival the best could
  be compared with, so the chance that the best candidate is ever eliminated, at any look,
  is at most 1 - confidence (a union bound: valid however many blocks run, and whenever the
  race stops).
- c is **eliminated** when its interval says slower than the leader at alpha_j. The race
  **stops** at one survivor; or when every survivor's interval against the leader lies
  within the indifference zone (+-5% by default: a "tie"); or when the budget is spent.

Pure logic on scores, so the simulations of `tests/test_racing.py` drive it with this
machine's noise model (`measure.noise`) and engines never enter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.measure.log_means import _t_quantile
from harness.measure.process_values import process_values

#: Why a race stopped, as run.json and the answer say it.
ONE_LEFT = "one survivor"
TIE = "tie"
BUDGET = "budget spent"
#: The looks that share EARLY_SHARE of the error equally; later ones share the rest.
EARLY_LOOKS = 5
EARLY_SHARE = 0.8


@dataclass(frozen=True)
class RaceRule:
    """The race's constants, fixed before it starts."""

    #: Chance the best candidate survives every look (family-wise, over all looks).
    confidence: float = 0.95
    #: Ratio within which candidates count as equally fast (0.05: within 5%).
    indifference: float = 0.05
    #: The first block after which candidates may be eliminated.
    first_look: int = 3
    #: Each look comes about this many times the last look's blocks later.
    growth: float = 1.5

    def is_look(self, block: int) -> bool:
        return block in self.looks(block)

    def looks(self, upto: int) -> list[int]:
        """The blocks at which the race looks, up to `upto`: 3, 5, 8, 12, 18, ..."""
        found, block = [], self.first_look
        while block <= upto:
            found.append(block)
            block = max(block + 1, math.ceil(block * self.growth))
        return found

    def alpha(self, look: int, candidates: int) -> float:
        """One-sided level of each comparison at look `look` (1 = the first look)."""
        if look <= EARLY_LOOKS:
            weight = EARLY_SHARE / EARLY_LOOKS
        else:
            late = look - EARLY_LOOKS
            weight = (1 - EARLY_SHARE) / (late * (late + 1))
        return (1 - self.confidence) * weight / max(candidates - 1, 1)


@dataclass(frozen=True)
class Score:
    """One process's score: minus its log wall, and its log speedup when it had an
    in-process reference (0.0 for the sequential candidate, which is the reference)."""

    log_wall: float
    log_speedup: float | None = None


#: The rule `harness tune` races by unless told otherwise.
DEFAULT = RaceRule()


def score_of(measurements: pd.DataFrame, baseline: bool = False) -> Score | None:
    """One finished process's score (None when it measured no wall); `baseline`: the
    sequential candidate, whose log speedup is 0 by definition."""
    wall, paired = process_values(measurements)
    if wall is None or wall <= 0:
        return None
    return Score(math.log(wall), 0.0 if baseline else paired)


def scores_of(frame: pd.DataFrame, baseline: str) -> dict[str, dict[int, Score]]:
    """Every candidate's score per block (the `round` column) from a stored race."""
    found: dict[str, dict[int, Score]] = {}
    for (case_id, block), rows in frame.groupby(["case_id", "round"], observed=True):
        score = score_of(rows, str(case_id) == baseline)
        if score is not None:
            found.setdefault(str(case_id), {})[int(block)] = score
    return found


@dataclass(frozen=True)
class Gap:
    """How much slower `candidate` is than `leader`: a ratio of walls with its interval at a
    one-sided level on each side, from `blocks` blocks in common."""

    candidate: str
    leader: str
    ratio: float
    low: float
    high: float
    blocks: int
    alpha: float
    paired_in_process: bool

    def as_json(self) -> dict[str, object]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in self.__dict__.items()}  # fmt: skip


@dataclass
class Decision:
    """Why a candidate left the race (or, for the last ones, how it stood)."""

    candidate: str
    status: str
    block: int
    reason: str
    gap: Gap | None = None


def gap(
    scores: dict[str, dict[int, Score]], candidate: str, leader: str, alpha: float
) -> Gap | None:
    """`candidate` against `leader` over their blocks in common; None below 2 blocks."""
    mine, theirs = scores[candidate], scores[leader]
    common = sorted(set(mine) & set(theirs))
    if len(common) < 2:
        return None
    in_process = all(
        mine[k].log_speedup is not None and theirs[k].log_speedup is not None for k in common
    )
    if in_process:
        d = np.array([theirs[k].log_speedup - mine[k].log_speedup for k in common])  # type: ignore[operator]
    else:
        d = np.array([mine[k].log_wall - theirs[k].log_wall for k in common])
    n, mean = len(d), float(d.mean())
    sd = float(d.std(ddof=1))
    half = _t_quantile(1 - alpha, n - 1) * sd / math.sqrt(n) if sd > 0 else 0.0
    return Gap(
        candidate,
        leader,
        math.exp(mean),
        math.exp(mean - half),
        math.exp(mean + half),
        n,
        alpha,
        in_process,
    )


def speed(scores: dict[int, Score], base_log_wall: float) -> float:
    """A candidate's mean log speed over its blocks: its in-process speedups where it has
    them, else its walls against `base_log_wall` (the sequential candidate's mean)."""
    values = [
        s.log_speedup if s.log_speedup is not None else base_log_wall - s.log_wall
        for s in scores.values()
    ]
    return float(np.mean(values)) if values else -math.inf


@dataclass
class Race:
    """The race's state: every process's score, the survivors, the decisions so far."""

    candidates: list[str]
    rule: RaceRule = field(default_factory=RaceRule)
    #: The candidate whose walls are the base of speeds without a reference.
    baseline: str = ""
    #: How reasons name candidates ("processes w2, chunks of 64"); their ids otherwise.
    labels: dict[str, str] = field(default_factory=dict)
    scores: dict[str, dict[int, Score]] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    #: The looks made: block, level, leader, and every survivor's gap then.
    looks: list[dict[str, object]] = field(default_factory=list)
    stopped: str = ""

    def __post_init__(self) -> None:
        if not self.survivors:
            self.survivors = list(self.candidates)
        for c in self.candidates:
            self.scores.setdefault(c, {})

    def record(self, candidate: str, block: int, score: Score) -> None:
        self.scores[candidate][block] = score

    def drop(self, candidate: str, block: int, status: str, reason: str) -> None:
        """Take a candidate out for a reason of its own (pruned, failed)."""
        if candidate in self.survivors:
            self.survivors.remove(candidate)
        self.decisions[candidate] = Decision(candidate, status, block, reason)

    def _base(self) -> float:
        walls = [s.log_wall for s in self.scores.get(self.baseline, {}).values()]
        if walls:
            return float(np.mean(walls))
        every = [s.log_wall for c in self.candidates for s in self.scores[c].values()]
        return float(np.mean(every)) if every else 0.0

    def speeds(self) -> dict[str, float]:
        base = self._base()
        return {c: speed(self.scores[c], base) for c in self.candidates}

    def leader(self) -> str:
        speeds = self.speeds()
        return max(self.survivors, key=lambda c: speeds[c])

    def look(self, block: int) -> str:
        """After block `block`: eliminate, and say why the race stops ("" to go on)."""
        if len(self.survivors) <= 1:
            self.stopped = ONE_LEFT
            return self.stopped
        if not self.rule.is_look(block):
            return ""
        j = self.rule.looks(block).index(block) + 1
        alpha = self.rule.alpha(j, len(self.candidates))
        leader = self.leader()
        gaps = {c: gap(self.scores, c, leader, alpha) for c in self.survivors if c != leader}
        self.looks.append(
            {"block": block, "look": j, "alpha": alpha, "leader": leader,
             "gaps": {c: g.as_json() for c, g in gaps.items() if g is not None}}
        )  # fmt: skip
        for c, g in gaps.items():
            if g is not None and g.low > 1:
                self.survivors.remove(c)
                name = self.labels.get(leader, leader)
                self.decisions[c] = Decision(
                    c,
                    "eliminated",
                    block,
                    f"slower than {name}: {g.ratio:.2f}x ({g.low:.2f}-{g.high:.2f}) at look {j}, "
                    f"one-sided level {alpha:.2g}",
                    g,
                )
        if len(self.survivors) == 1:
            self.stopped = ONE_LEFT
        elif self.tied(gaps.values()):
            self.stopped = TIE
        return self.stopped

    def tied(self, gaps: Iterable[Gap | None]) -> bool:
        """Whether every survivor's interval against the leader lies within the zone."""
        zone = 1 + self.rule.indifference
        found = [g for g in gaps if g is not None and g.candidate in self.survivors]
        if len(found) < len(self.survivors) - 1:
            return False
        return all(g.low >= 1 / zone and g.high <= zone for g in found)

    def tied_with_leader(self, block: int) -> list[str]:
        """Survivors whose interval against the leader lies within the zone at the level of
        the last look (the leader itself first): the set a cheaper candidate may be picked
        from when the budget ends."""
        leader = self.leader()
        if not self.looks:
            return [leader]
        alpha = float(self.looks[-1]["alpha"])  # type: ignore[arg-type]
        zone = 1 + self.rule.indifference
        tied = [leader]
        for c in self.survivors:
            g = gap(self.scores, c, leader, alpha) if c != leader else None
            if g is not None and g.low >= 1 / zone and g.high <= zone:
                tied.append(c)
        return tied


def pick(race: Race, cost: dict[str, tuple[float, float]], block: int) -> tuple[str, str]:
    """The winner and why: the one survivor; the cheapest of a tie (start-up, then memory
    per worker: `cost`); when the budget ended, the leader, or a cheaper candidate whose
    interval against it lies within the indifference zone."""
    if race.stopped == ONE_LEFT and race.survivors:
        return race.survivors[0], "the only candidate left"
    if race.stopped == TIE:
        tied = list(race.survivors)
        why = "a tie: every survivor within the indifference zone of the leader"
    else:
        tied = race.tied_with_leader(block)
        why = "the leader when the budget ran out"
        if len(tied) > 1:
            why += ", or a cheaper candidate within the indifference zone of it"
    best = min(tied, key=lambda c: cost.get(c, (math.inf, math.inf)))
    if len(tied) > 1 and best != race.leader():
        leader = race.leader()
        why += f" (cheaper than {race.labels.get(leader, leader)}: start-up, then memory)"
    return best, why
