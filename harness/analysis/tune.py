"""The answer of a `harness tune` run, read from its measurements and run.json's `tune`.

Every candidate gets a row: how many blocks it ran, its median batch wall, its speedup over
the sequential loop and its ratio to the winner with their intervals, its start-up, memory
per worker and per-task overhead, and a status: winner, runner-up, tie, not separated
(left when the budget ended), eliminated at block k, pruned, or how its process failed.
Reading it back from the stored run (not from the race in memory) means `harness tune`'s
answer and a notebook's `answer(results.load(run), results.run_info(run))` are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.snippets import snippet
from harness.measure import racing, stats
from harness.measure.process_values import process_values
from harness.protocol import Metric

COLUMNS = [
    "candidate",
    "case_id",
    "backend",
    "workers",
    "batching",
    "chunk",
    "status",
    "blocks",
    Metric.WALL_S,
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "speedup_ci_level",
    "ratio_to_winner",
    "ratio_ci_low",
    "ratio_ci_high",
    Metric.STARTUP_S,
    Metric.WORKER_USS_BYTES,
    Metric.OVERHEAD_P50_S,
    "reason",
]


@dataclass
class TuneAnswer:
    """What `harness tune` prints and writes as JSON."""

    rows: pd.DataFrame
    winner: dict[str, Any] | None
    runner_up: dict[str, Any] | None
    stopped: str
    why: str
    budget_s: float
    spent_s: float
    #: Seconds every candidate would have cost at the winner's number of processes.
    grid_s: float
    blocks: int
    snippet: str
    confidence: float
    indifference: float
    probe: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    #: The level of the ratio intervals: the last look's one-sided level on each side.
    ratio_alpha: float = math.nan
    #: Candidates still in the race when it stopped.
    left: int = 0


def _or_nan(g: racing.Gap | None, name: str) -> float:
    return float(getattr(g, name)) if g is not None else math.nan


def _metric(rows: pd.DataFrame, metric: str) -> float:
    if rows.empty:
        return math.nan
    values = rows.loc[(rows["metric"] == metric) & (rows["status"] == "ok"), "value"].dropna()
    return float(values.median()) if len(values) else math.nan


def _per_process(rows: pd.DataFrame) -> tuple[list[float], list[float | None]]:
    walls, paired = [], []
    for _, process in rows.groupby("round", observed=True):
        wall, log_speedup = process_values(process)
        if wall is not None:
            walls.append(wall)
            paired.append(log_speedup)
    return walls, paired


def _speedup(
    walls: list[float], paired: list[float | None], base_walls: list[float], is_base: bool
) -> tuple[float, float, float, float]:
    """The speedup over the sequential loop, its interval and the interval's real level:
    paired inside each process where every process had the reference, else against the
    loop's own processes."""
    if is_base:
        return 1.0, 1.0, 1.0, math.nan
    if walls and all(p is not None for p in paired):
        est = stats.paired_ratio([p for p in paired if p is not None], within_process=True)
    else:
        est = stats.unpaired_ratio(base_walls, walls)
    return est.ratio, est.ci.low, est.ci.high, est.ci.level


def answer(frame: pd.DataFrame, info: dict[str, Any]) -> TuneAnswer:
    """The answer of one tune run (`results.load`, `results.run_info`)."""
    tune = info.get("tune", {})
    rule = racing.RaceRule(**tune.get("rule", {}))
    candidates = tune.get("candidates", [])
    decisions = tune.get("decisions", {})
    winner_id = (tune.get("winner") or {}).get("case_id")
    base_id = next((c["case_id"] for c in candidates if c["backend"] == "sequential"), "")
    scores = racing.scores_of(frame, base_id) if not frame.empty else {}
    looks = tune.get("looks") or []
    alpha = float(looks[-1]["alpha"]) if looks else (1 - rule.confidence) / 2
    by_case = dict(tuple(frame.groupby("case_id", observed=True))) if not frame.empty else {}
    base_walls, _ = _per_process(by_case.get(base_id, pd.DataFrame(columns=frame.columns)))
    records = []
    for c in candidates:
        rows = by_case.get(c["case_id"])
        if rows is None:
            rows = pd.DataFrame(columns=frame.columns)
        walls, paired = _per_process(rows)
        speedup = _speedup(walls, paired, base_walls, c["case_id"] == base_id) if walls else (
            math.nan, math.nan, math.nan, math.nan)  # fmt: skip
        g = None
        if winner_id and c["case_id"] != winner_id and c["case_id"] in scores:
            g = racing.gap(scores, c["case_id"], winner_id, alpha)
        decision = decisions.get(c["case_id"], {})
        records.append(
            {
                "candidate": c["label"],
                "case_id": c["case_id"],
                "backend": c["backend"],
                "workers": c["workers"],
                "batching": c["batching"],
                "chunk": c["chunk"],
                "status": decision.get("status", "survivor"),
                "blocks": len(walls),
                Metric.WALL_S: float(np.median(walls)) if walls else math.nan,
                "speedup": speedup[0],
                "speedup_ci_low": speedup[1],
                "speedup_ci_high": speedup[2],
                "speedup_ci_level": speedup[3],
                "ratio_to_winner": 1.0 if c["case_id"] == winner_id else _or_nan(g, "ratio"),
                "ratio_ci_low": _or_nan(g, "low"),
                "ratio_ci_high": _or_nan(g, "high"),
                Metric.STARTUP_S: _metric(rows, Metric.STARTUP_S),
                Metric.WORKER_USS_BYTES: _metric(rows, Metric.WORKER_USS_BYTES),
                Metric.OVERHEAD_P50_S: _metric(rows, Metric.OVERHEAD_P50_S),
                "reason": decision.get("reason", ""),
                "_block": decision.get("block", 0),
            }
        )
    table = pd.DataFrame.from_records(records, columns=[*COLUMNS, "_block"])
    _statuses(table, winner_id, tune, rule)
    winner = _pick_row(table, winner_id)
    runner = table[table["status"] == "runner-up"]
    runner_up = _pick_row(table, str(runner["case_id"].iloc[0])) if len(runner) else None
    code = ""
    if winner is not None:
        chosen = next(c for c in candidates if c["case_id"] == winner_id)
        spec_ = info.get("spec", {})
        tasks = int(tune.get("probe", {}).get("tasks", 0))
        code = snippet(chosen, tune.get("workload", ""), tune.get("inputs", ""), tasks,
                       spec_.get("params", {}))  # fmt: skip
    return TuneAnswer(
        rows=table.drop(columns="_block"),
        winner=winner,
        runner_up=runner_up,
        stopped=tune.get("stopped", ""),
        why=(tune.get("winner") or {}).get("why", ""),
        budget_s=float(info.get("budget", {}).get("seconds", math.nan)),
        spent_s=float(info.get("budget", {}).get("spent_s", math.nan)),
        grid_s=_grid_seconds(table, tune),
        blocks=int(tune.get("blocks", 0)),
        snippet=code,
        confidence=rule.confidence,
        indifference=rule.indifference,
        probe=tune.get("probe", {}),
        error=tune.get("error", ""),
        ratio_alpha=alpha,
        left=len(tune.get("survivors", [])),
    )


def _statuses(table: pd.DataFrame, winner_id: str | None, tune: dict[str, Any],
              rule: racing.RaceRule) -> None:  # fmt: skip
    """winner; tie (within the zone of the winner); survivor when the budget ended; the
    decisions' own (eliminated, pruned, timeout, ...) with their block; then the runner-up:
    the fastest of the rest by speedup, among the survivors where any is left."""
    if not winner_id:
        return
    zone = 1 + rule.indifference
    survivors = set(tune.get("survivors", []))
    for i, row in table.iterrows():
        if row["case_id"] == winner_id:
            table.at[i, "status"] = "winner"
        elif row["case_id"] in survivors:
            tied = row["ratio_ci_low"] >= 1 / zone and row["ratio_ci_high"] <= zone
            table.at[i, "status"] = "tie" if tied else "not separated"
        elif row["status"] == "eliminated":
            table.at[i, "status"] = f"eliminated at block {row['_block']}"
    rest = table[(table["case_id"] != winner_id) & table["speedup"].notna()]
    if len(rest):
        pool = rest[rest["case_id"].isin(survivors)]
        pool = pool if len(pool) else rest
        best = pool.sort_values("speedup", ascending=False).index[0]
        status = table.at[best, "status"]
        table.at[best, "status"] = "runner-up" + (
            f" ({status})" if status != "not separated" else ""
        )


def _pick_row(table: pd.DataFrame, case_id: str | None) -> dict[str, Any] | None:
    if not case_id:
        return None
    found = table[table["case_id"] == case_id]
    if found.empty:
        return None
    row = found.iloc[0].to_dict()
    row.pop("_block", None)
    return row


def _grid_seconds(table: pd.DataFrame, tune: dict[str, Any]) -> float:
    """What running every candidate as many processes as the winner got would have cost:
    each candidate's median process (its first where it had no other); a candidate never
    run counts its start guess plus the floor of its batches, so the grid is an at-least."""
    costs = tune.get("costs", {})
    winner_id = (tune.get("winner") or {}).get("case_id")
    processes = int(table.loc[table["case_id"] == winner_id, "blocks"].max()) if winner_id else 0
    if processes <= 0:
        return math.nan
    probe = tune.get("probe", {})
    total = 0.0
    guesses = {c["case_id"]: c.get("start_guess_s", 0.5) for c in tune.get("candidates", [])}
    for row in table.to_dict("records"):
        row["start_guess_s"] = guesses.get(row["case_id"])
        later = costs.get(row["case_id"]) or []
        first = costs.get(f"first:{row['case_id']}") or []
        if later or first:
            each_later = float(np.median(later)) if later else float(np.median(first))
            each_first = float(np.median(first)) if first else each_later
            total += each_first + (processes - 1) * each_later
            continue
        floor = probe.get("fastest_batch_s", 0.0) / max(int(row["workers"]), 1) / 1.5
        guess = float(row.get("start_guess_s") or 0.5)
        total += processes * (guess + probe.get("batches", 1) * floor)
    return total
