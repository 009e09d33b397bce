"""Measured answers to "which backend for this work?", from result frames only.

- `crossover`: per backend, the smallest task duration from which every longer task still
  reaches a target parallel efficiency (80% by default) in the `granularity` scenario.
- `per_worker`: the cost of one more worker (start-up seconds, memory), as the
  least-squares slope over worker counts, per backend and variant.
- `recommendations`: per scenario and parameter set, the answer to that scenario's own
  question (fastest for a workload; cheapest start per added worker for `startup`; least
  memory per added worker for `memory`), with the figure behind it; and, where a backend's
  scaling fit (`analysis.scaling`) puts its knee or its peak within the worker counts
  measured, how many workers to use.

Every function returns a frame; `harness.output` turns frames into text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness import results
from harness.analysis import scaling, summaries
from harness.analysis.summaries import BASELINE
from harness.protocol import Metric
from harness.units import fmt_bytes, fmt_seconds


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """Add `label`: the backend with its variant, e.g. "processes[start_method=fork]", and
    its interpreter when the table holds several ("threads@3.13.0t"), so every grouping by
    label keeps interpreters apart and every answer names the one it is about."""
    out = table.copy()
    variants = out["variant"] if "variant" in out else pd.Series("", index=out.index)
    out["label"] = [
        f"{b}[{v}]" if v else str(b)
        for b, v in zip(out["backend"], variants.fillna(""), strict=True)
    ]
    if "python" in out and out["python"].nunique() > 1:
        out["label"] = out["label"] + "@" + out["python"].astype(str)
    return out


#: Inside `same_frames()`: ok-case tables by the frame they were made from. The frame is
#: kept with its table, so its id cannot be reused by another frame while the cache lives.
_TABLES: ContextVar[dict[int, tuple[pd.DataFrame, pd.DataFrame]] | None] = ContextVar(
    "ok_case_tables", default=None
)


@contextlib.contextmanager
def same_frames() -> Iterator[None]:
    """While it lasts, `ok_cases` of the same frame object is worked out once.

    Claims ask a scenario's frame for its case table once per claim (six times for a
    cpu run); the frames are not changed in between, so one table serves them all.
    """
    token = _TABLES.set({})
    try:
        yield
    finally:
        _TABLES.reset(token)


def ok_cases(df: pd.DataFrame, scenario: str | None = None) -> pd.DataFrame:
    """The case table of the ok cases (of one scenario), labelled, one column per parameter."""
    if scenario is not None:
        df = df[df["scenario"] == scenario]
    if df.empty:
        return pd.DataFrame()
    cache = _TABLES.get()
    if cache is not None and id(df) in cache:
        return cache[id(df)][1].copy()
    table = summaries.case_table(df)
    table = labelled(results.with_params(table[table["status"] == "ok"])).reset_index(drop=True)
    if cache is not None:
        cache[id(df)] = (df, table.copy())
    return table


def crossover(
    df: pd.DataFrame, scenario: str = "granularity", target: float = 0.8, param: str = "task_s"
) -> pd.DataFrame:
    """Per run, backend (with variant) and workers: where `param` gets large enough.

    `crossover_s` is the smallest `param` from which every larger one reaches `target`
    efficiency (so a lucky small size cannot win); NaN when the largest does not.
    `crossover_low_s` / `crossover_high_s` bound it with the efficiency intervals: from the
    upper ends (earliest it could be) and the lower ends (latest it could be; NaN when even
    the largest size's interval does not clear the target). `best_efficiency` says how
    close a backend came.
    """
    table = ok_cases(df, scenario)
    columns = [
        "run_id",
        "label",
        "workers",
        "crossover_s",
        "crossover_low_s",
        "crossover_high_s",
        "best_efficiency",
        "tried",
    ]
    column = results.PARAM_PREFIX + param
    if table.empty or column not in table:
        return pd.DataFrame(columns=columns)
    table = table[table["backend"] != BASELINE].copy()
    eff = table["efficiency"]
    low = table.get("speedup_ci_low", pd.Series(np.nan, index=table.index)) / table["workers"]
    high = table.get("speedup_ci_high", pd.Series(np.nan, index=table.index)) / table["workers"]
    table["eff_low"], table["eff_high"] = low, high
    rows = []
    for (run_id, label, workers), group in table.groupby(["run_id", "label", "workers"]):
        group = group.sort_values(column)
        sizes = group[column].to_numpy(dtype=float)
        rows.append(
            {
                "run_id": run_id,
                "label": label,
                "workers": int(workers),
                "crossover_s": _from_here_on(sizes, group["efficiency"].to_numpy() >= target),
                "crossover_low_s": _from_here_on(sizes, group["eff_high"].to_numpy() >= target),
                "crossover_high_s": _from_here_on(sizes, group["eff_low"].to_numpy() >= target),
                "best_efficiency": float(eff[group.index].max()),
                "tried": ", ".join(fmt_seconds(v) for v in sizes),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _from_here_on(sizes: np.ndarray, reached: np.ndarray) -> float:
    """The smallest size such that it and every larger size reached; NaN if the last did not."""
    if len(sizes) == 0 or not reached[-1]:
        return float("nan")
    first = len(reached)
    while first > 0 and reached[first - 1]:
        first -= 1
    return float(sizes[first])


def per_worker(df: pd.DataFrame, scenario: str | None, metric: str) -> pd.DataFrame:
    """Per backend (and variant): the slope of `metric` over worker counts.

    The slope is what one more worker costs; with a single worker count it falls back to
    value / workers. Sequential has no workers to add and is left out.
    """
    table = ok_cases(df, scenario)
    columns = ["label", "per_worker", "workers", "values"]
    if table.empty or metric not in table:
        return pd.DataFrame(columns=columns)
    table = table[(table["backend"] != BASELINE) & table[metric].notna()]
    rows = []
    for label, group in table.groupby("label"):
        by_w = group.groupby("workers")[metric].median()
        x, y = by_w.index.to_numpy(dtype=float), by_w.to_numpy(dtype=float)
        slope = float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else float(y[0] / x[0])
        rows.append(
            {
                "label": label,
                "per_worker": slope,
                "workers": ",".join(str(int(w)) for w in x),
                "values": list(y),
            }
        )
    return pd.DataFrame(rows, columns=columns)


# --- one question per scenario ---------------------------------------------------------------

REC_COLUMNS = ["scenario", "params", "question", "answer", "figure", "runner_up", "note"]


@dataclass(frozen=True)
class Question:
    text: str
    answer: Callable[[pd.DataFrame, pd.DataFrame], dict[str, str] | None]


def _fastest(df: pd.DataFrame, group: pd.DataFrame) -> dict[str, str] | None:
    """Least median wall, or the highest rate for workloads that run for a fixed time."""
    rates = [m for m in RATE_METRICS if m in set(df["metric"])]
    if rates:
        metric = rates[0]
        values = (
            df[(df["metric"] == metric) & (df["status"] == "ok")]
            .groupby("case_id")["value"]
            .median()
        )
        score = -group["case_id"].map(values)
        unit = metric.removesuffix("_per_s") + "/s"

        def figure(row: pd.Series) -> str:
            return f"{-score[row.name]:,.0f} {unit}"
    else:
        score = group["median"]

        def figure(row: pd.Series) -> str:
            text = f"{fmt_seconds(row['median'])} wall"
            speedup = row.get("speedup", np.nan)
            return text + (f", {speedup:.2f}x sequential" if np.isfinite(speedup) else "")

    score = score.dropna()
    if score.empty:
        return None
    ranked = group.loc[score.sort_values().index]
    best = ranked.iloc[0]
    out = {"answer": _name(best), "figure": figure(best), "runner_up": "", "note": ""}
    if len(ranked) > 1:
        second = ranked.iloc[1]
        out["runner_up"] = f"{_name(second)} ({figure(second)})"
        if not rates and intervals_overlap(best, second):
            out["note"] = "the two intervals overlap: no clear winner"
    return out


def _least_memory(df: pd.DataFrame, group: pd.DataFrame) -> dict[str, str] | None:
    """Least memory per added worker (proportional memory, which fork cannot fool)."""
    scenario = group["scenario"].iloc[0]
    sub = df[df["params"].isin(group["params"])]
    metric = summaries.memory_metric(sub)
    fit = per_worker(sub, scenario, metric)
    return _cheapest_slope(fit, fmt_bytes, "per added worker", metric)


def _cheapest_start(df: pd.DataFrame, group: pd.DataFrame) -> dict[str, str] | None:
    scenario = group["scenario"].iloc[0]
    fit = per_worker(df[df["params"].isin(group["params"])], scenario, Metric.STARTUP_S)
    return _cheapest_slope(fit, fmt_seconds, "per added worker", Metric.STARTUP_S)


def _cheapest_slope(fit: pd.DataFrame, fmt, what: str, metric: str) -> dict[str, str] | None:
    """The lowest cost per added worker. A slope at or below zero is "no measurable growth"
    (noise around a tiny cost), except under USS, where fork's shared pages make it an
    artefact: those are named in the note and never ranked."""
    if fit.empty:
        return None
    artefact = metric == Metric.PEAK_USS_BYTES
    usable = fit[fit["per_worker"] > 0] if artefact else fit
    dropped = fit[fit["per_worker"] <= 0]["label"].tolist() if artefact else []
    note = (
        f"{', '.join(dropped)}: {metric} fell as workers were added, not a measurement"
        if dropped
        else ""
    )
    if usable.empty:
        return {"answer": "-", "figure": "-", "runner_up": "", "note": note}

    def cost(value: float) -> str:
        return f"{fmt(value)} {what}" if value > 0 else f"no measurable growth {what}"

    ranked = usable.sort_values("per_worker")
    best = ranked.iloc[0]
    out = {
        "answer": best["label"],
        "figure": f"{cost(best['per_worker'])} (workers {best['workers']})",
        "runner_up": "",
        "note": note,
    }
    if len(ranked) > 1:
        second = ranked.iloc[1]
        out["runner_up"] = f"{second['label']} ({cost(second['per_worker'])})"
    return out


def _by_reference(df: pd.DataFrame, table: pd.DataFrame) -> dict[str, str] | None:
    """Per backend, from which size passing the shared array by reference beats passing it
    by value, with both walls' intervals apart; "either way" where they never part."""
    if "param_pass_by" not in table or "param_size_bytes" not in table:
        return None
    found: dict[str, list[str]] = {}
    figures = []
    for label, group in table.groupby("label", sort=False):
        value = group[group["param_pass_by"] == "value"].set_index("param_size_bytes")
        ref = group[group["param_pass_by"] == "reference"].set_index("param_size_bytes")
        sizes = sorted(set(value.index) & set(ref.index))
        if not sizes:
            continue
        wins = np.array([_wholly_below(ref.loc[z], value.loc[z]) for z in sizes])
        loses = np.array([_wholly_below(value.loc[z], ref.loc[z]) for z in sizes])
        start = _from_here_on(np.array(sizes, dtype=float), wins)
        if np.isfinite(start):
            verdict = f"by reference from {fmt_bytes(start)}"
        elif loses.any():
            verdict = "by value"
        else:
            verdict = "either way (intervals overlap)"
        found.setdefault(verdict, []).append(str(label))
        top = sizes[-1]
        figures.append(
            f"{label} {fmt_bytes(top)}: value {fmt_seconds(value.loc[top, 'median'])}"
            f", reference {fmt_seconds(ref.loc[top, 'median'])}"
        )
    if not found:
        return None
    answer = "; ".join(f"{', '.join(labels)}: {verdict}" for verdict, labels in found.items())
    return {
        "answer": answer,
        "figure": "; ".join(figures),
        "runner_up": "",
        "note": "a size counts once its reference interval and every larger size's lie "
        "wholly below by value's",
    }


def _wholly_below(a: pd.Series, b: pd.Series) -> bool:
    """Whether case a's wall interval lies wholly below case b's (a clearly faster)."""
    if not (np.isfinite(a.get("ci_high", np.nan)) and np.isfinite(b.get("ci_low", np.nan))):
        return False
    return bool(a["ci_high"] < b["ci_low"])


def _worker_count(df: pd.DataFrame, group: pd.DataFrame) -> dict[str, str] | None:
    """How many workers to use, per backend whose scaling fit has its knee or its peak within
    the worker counts measured: the knee (past it each more worker adds under `KNEE_GAIN` of
    what one gives; it never lies past the peak), the peak where there is no knee within.
    Backends still scaling at the most workers measured get no count: the fit would have to
    guess past what ran. The fit's caveats (few worker counts, one process) are the note."""
    if scaling.METRIC not in set(df["metric"]):
        return None
    fits = scaling.fit_scaling(df)
    answers, figures, notes = [], [], []
    several = fits["python"].nunique() > 1  # name the interpreter, as `labelled` does
    for row in fits.to_dict("records"):
        label = f"{row['backend']}[{row['variant']}]" if row["variant"] else str(row["backend"])
        label += f"@{row['python']}" if several else ""
        max_n, knee_at, top = row["max_n"], row["knee_workers"], row["peak_workers"]
        peaks = top is not None and np.isfinite(top) and round(top) <= max_n
        peak_text = (
            f"throughput peaks at {top:.1f} workers "
            f"({_range(row['peak_ci_low'], row['peak_ci_high'])}) and falls past it"
            if peaks
            else ""
        )
        if knee_at is not None and knee_at <= max_n:
            use = int(knee_at)
            figures.append(
                f"{label}: past {use} worker{'s' if use != 1 else ''} each more adds under "
                f"{scaling.KNEE_GAIN:.0%} of one's throughput (knee "
                f"{_range(row['knee_ci_low'], row['knee_ci_high'])})"
                + (f", {peak_text}" if peaks else "")
            )
        elif peaks:
            use = int(round(top))
            figures.append(f"{label}: {peak_text}")
        else:
            continue
        answers.append(f"{label} {use}")
        caveats = [
            f"{row['levels']} worker counts (a fit wants {scaling.MIN_LEVELS})"
            if row["levels"] < scaling.MIN_LEVELS
            else "",
            "intervals from one process's repeats"
            if scaling.WITHIN_PROCESS in row["flags"]
            else "",
        ]
        if any(caveats):
            notes.append(f"{label}: {', '.join(c for c in caveats if c)}")
    if not answers:
        return None
    return {
        "answer": ", ".join(answers),
        "figure": "; ".join(figures),
        "runner_up": "",
        "note": "; ".join(notes),
    }


def _range(low: float | None, high: float | None) -> str:
    """A worker-count interval: '6-9', '6 or more' where its upper end is unbounded."""
    if low is None or not np.isfinite(low):
        return "no interval"
    if high is None or not np.isfinite(high):
        return f"{low:.0f} or more"
    return f"{low:.0f}-{high:.0f}"


#: Workloads that run for a fixed time or move data: their speed is a rate, not a wall.
RATE_METRICS = (Metric.INCREMENTS_PER_S, Metric.MESSAGES_PER_S)
FASTEST = Question("which backend finishes this work first?", _fastest)
FIRST_GRAPH = Question("which backend finishes this graph first?", _fastest)
#: Asked of every scenario with questions: where a fit shows adding workers stop paying.
WORKER_COUNT = Question("how many workers pay their way?", _worker_count)
#: A scenario whose question is not "which is fastest" names its own here.
QUESTIONS: dict[str, list[Question]] = {
    "startup": [Question("which backend adds a worker most cheaply (start-up)?", _cheapest_start)],
    "memory": [Question("which backend adds a worker with the least memory?", _least_memory)],
    "hang": [],  # its point is the timeout status, not a winner
    **dict.fromkeys(("tree-reduce", "shuffle", "broadcast", "pipeline"), [FIRST_GRAPH]),
}
#: Questions about a scenario as a whole, across its parameter sets.
SCENARIO_QUESTIONS: dict[str, list[Question]] = {
    "broadcast": [Question("by value or by reference, and from what size?", _by_reference)],
}


def recommendations(df: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and parameter set: the answer to that scenario's question, with figures."""
    table = ok_cases(df)
    if table.empty:
        return pd.DataFrame(columns=REC_COLUMNS)
    rows = []
    for (scenario, params), group in table.groupby(["scenario", "params"], sort=True):
        sub = df[(df["scenario"] == scenario) & (df["params"] == params)]
        questions = QUESTIONS.get(str(scenario), [FASTEST])
        for question in [*questions, WORKER_COUNT] if questions else []:
            found = question.answer(sub, group)
            if found is None:
                continue
            rows.append(
                {"scenario": scenario, "params": params, "question": question.text, **found}
            )
    for scenario, group in table.groupby("scenario", sort=True):
        for question in SCENARIO_QUESTIONS.get(str(scenario), []):
            found = question.answer(df[df["scenario"] == scenario], group)
            if found is not None:
                rows.append(
                    {"scenario": scenario, "params": "", "question": question.text, **found}
                )
    return pd.DataFrame(rows, columns=REC_COLUMNS)


def _name(row: pd.Series) -> str:
    return f"{row['label']} w{int(row['workers'])}"


def intervals_overlap(a: pd.Series, b: pd.Series, prefix: str = "") -> bool:
    """Whether two cases' intervals (`ci_*`, or `speedup_ci_*` with that prefix) overlap;
    False when either has none."""
    lows = (a.get(f"{prefix}ci_low"), b.get(f"{prefix}ci_low"))
    highs = (a.get(f"{prefix}ci_high"), b.get(f"{prefix}ci_high"))
    if not all(v is not None and np.isfinite(v) for v in (*lows, *highs)):
        return False
    return bool(max(lows) <= min(highs))
