"""Runs, claims and scenarios as plain records: the JSON and CSV that scripts and CI read.

The keys are a contract (`SUMMARY_VERSION` changes when one changes meaning): every case key
is named and explained in `CASE_KEYS`, every metric's unit, direction and meaning comes from
`protocol.METRICS` and travels in the document itself, so a reader never guesses a unit. A
case has a key for every catalogued metric its run measured (the cases table's columns), so
a metric added to the catalogue appears here with no edit.
CSV columns are the JSON keys flattened with `_` (`wall_s.median` -> `wall_s_median`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis import advice, claims, summaries
from harness.output.formats import plain
from harness.output.summary import summary_notes
from harness.protocol import METRICS, Metric

SUMMARY_VERSION = 1

#: What each key of a case that is not a metric holds.
_CASE_KEY_MEANINGS = {
    "run_id": "the run's id, the name of its folder under results/",
    "host": "the machine the run ran on",
    "scenario": "the scenario (spec) name",
    "case_id": "scenario/backend[variant]/w<workers>/<params>: the case's stable id",
    "backend": "sequential, threads, processes, asyncio, dask, ray or a plugin's",
    "variant": "the swept backend options of the case (start_method=spawn), or empty",
    "workers": "degree of parallelism the backend was given",
    "params": "the workload's parameters of this case (an object; a JSON string in CSV)",
    "tasks": "tasks per repeat",
    "python": "the interpreter version the case ran under",
    "side": "a or b: which spec of an A/B run (harness ab) the case is; empty elsewhere",
    "status": "ok, error, crashed, timeout, interrupted, or skipped (not run: why in error)",
    "error": "why a case that is not ok failed, or empty",
}
#: The keys of one case that are not metrics, in the case table's order, and what each holds.
CASE_KEYS = {k: _CASE_KEY_MEANINGS[k] for k in [*summaries.CASE_KEYS, "status", "error"]}
#: wall_s is given with its interval; each key and its meaning.
WALL_KEYS = {
    "median": "median over the case's processes of each process's median wall_s (s); with "
    "one process, the median of its repeats",
    "ci_low": "lower end of the median's interval (s)",
    "ci_high": "upper end of the median's interval (s)",
    "ci_level": "the interval's real coverage, 0-1 (several processes: exact order "
    "statistics of the process medians; within 1 process: of its repeats)",
    "ci_scope": "what the interval covers: 'N processes' (fresh, independent) or 'within 1 "
    "process' (its repeats only: nothing is called from it)",
    "ci_note": "why the interval is as it is, or missing",
    "n": "repeats behind the median, over every process",
    "rounds": "fresh case processes behind the median: the sampling unit",
    "cv": "coefficient of variation of every wall_s value, 0-1",
    "round_cv": "coefficient of variation of the process medians, 0-1 (null with one process)",
    "unstable": "true when cv or round_cv is above the instability threshold",
}
SCALING_KEYS = {
    "value": "the ratio (speedup: sequential median wall / this case's; efficiency: "
    "speedup / workers)",
    "ci_low": "lower end of its interval",
    "ci_high": "upper end of its interval",
    "ci_level": "the interval's real coverage, 0-1 (paired in process: Wilcoxon signed-rank "
    "on one log ratio per process; unpaired: Hodges-Lehmann with exact Mann-Whitney, Welch's "
    "t at 3 a side; Hodges-Lehmann of the repeats within 1 process)",
    "ci_scope": "what the interval covers: 'N processes' (the thinner side) or 'within 1 process'",
}


def plain_metrics(table: pd.DataFrame | Mapping[str, Any]) -> list[str]:
    """The metrics a case gives as one number each, in the catalogue's order: every column
    of the case table that is a catalogued metric (`summaries.case_metrics`: the median over
    the case's processes of each one's value), but wall_s, which has its interval."""
    columns = table.columns if isinstance(table, pd.DataFrame) else list(table)
    return [m for m in summaries.case_metrics(columns) if m != Metric.WALL_S]


def metric_catalogue(names: list[str]) -> dict[str, dict[str, str]]:
    """Unit, better direction, what one value is, and the meaning of each metric named."""
    out = {}
    for name in names:
        info = METRICS[name]
        out[name] = {
            "unit": info.unit,
            "better": info.better,
            "per": info.per,
            "label": info.label,
            "meaning": info.description,
        }
    return out


def _number(value: Any) -> Any:
    return None if value is None or pd.isna(value) else plain(value)


def _text(value: Any) -> str:
    """A text field: empty, never null or NaN, when there is nothing to say."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def case_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One case of `analysis.case_table` with the documented keys."""
    record: dict[str, Any] = {key: plain(row.get(key)) for key in CASE_KEYS}
    record["params"] = json.loads(row["params"]) if row.get("params") else {}
    record["workers"] = int(row["workers"])
    record["tasks"] = _number(row.get("tasks"))
    for key in ("variant", "error", "python"):
        record[key] = _text(row.get(key))
    wall = {key: _number(row.get(key)) for key in WALL_KEYS}
    wall["unstable"] = bool(row.get("unstable")) if wall["unstable"] is not None else None
    wall["ci_note"] = _text(row.get("ci_note"))
    record[Metric.WALL_S] = wall
    for name in ("speedup", "efficiency"):
        record[name] = {
            "value": _number(row.get(name)),
            "ci_low": _number(row.get(f"{name}_ci_low")),
            "ci_high": _number(row.get(f"{name}_ci_high")),
            "ci_level": _number(row.get("speedup_ci_level")),
            "ci_scope": _text(row.get("speedup_ci_scope")),
        }
    record["efficiency"]["note"] = _text(row.get("efficiency_note"))
    for name in plain_metrics(row):
        record[name] = _number(row.get(name))
    return record


def summary_document(table: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """`show --format json` and `run --json`: the runs, the metric catalogue, the cases and
    the notes a reader needs to trust them (interval levels, unstable cases, failures)."""
    rows = [] if table.empty else table.to_dict("records")
    metrics = [] if table.empty else plain_metrics(table)
    return {
        "format": "harness-summary",
        "version": SUMMARY_VERSION,
        **extra,
        "runs": sorted({str(r["run_id"]) for r in rows}),
        "metrics": metric_catalogue([Metric.WALL_S, "speedup", "efficiency", *metrics]),
        "keys": {
            **CASE_KEYS,
            **{f"wall_s.{k}": v for k, v in WALL_KEYS.items()},
            **{f"speedup.{k}": v for k, v in SCALING_KEYS.items()},
            **{f"efficiency.{k}": v for k, v in SCALING_KEYS.items()},
            "efficiency.note": "a mark on efficiency above 100% (noise or superlinear), or empty",
        },
        "cases": [case_record(r) for r in rows],
        "notes": [text for _, text in summary_notes(table)] if rows else [],
    }


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'wall_s': {'median': 1}} -> {'wall_s_median': 1}; a nested `value` keeps its parent's
    name (speedup.value -> speedup); params stay one JSON string."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = prefix if key == "value" and prefix else f"{prefix}_{key}" if prefix else key
        if key == "params" and not prefix:
            out[name] = json.dumps(value, sort_keys=True)
        elif isinstance(value, Mapping):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def summary_csv_rows(table: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    rows = [flatten(case_record(r)) for r in table.to_dict("records")]
    return rows, (list(rows[0]) if rows else list(CASE_KEYS))


# --- claims ---------------------------------------------------------------------------------

VERDICTS = {
    claims.SUPPORTS: "the measurement supports the claim on this machine",
    claims.PARTLY: "part of the claim holds",
    claims.DIFFERS: "the measurement contradicts the claim",
    claims.UNDECIDED: (
        "an interval straddles the rule's threshold, or comes from one process: more rounds"
    ),
    claims.NO_BASIS: "the run could not test it (e.g. one usable CPU)",
    claims.NO_DATA: "no run of the scenario that answers it was given",
    claims.NOT_MEASURED: "no benchmark can answer it",
}
CLAIM_KEYS = {
    "aspect": "what the claim is about",
    "article": "what the article claims",
    "measured": "this machine's numbers, in words",
    "figure": "the figure (with its interval) that decided the verdict",
    "verdict": "one of the verdicts below",
    "basis": "the rule applied, in the claim's own words",
    "scenario": "the scenario that answered",
    "python": "the interpreter the verdict is for (empty when no run answered)",
}
RECOMMENDATION_KEYS = {
    "scenario": "the scenario",
    "params": "its parameters (an object)",
    "question": "the scenario's question",
    "answer": "the backend and workers that answer it",
    "figure": "the deciding figure",
    "next": "the runner-up",
    "note": "a caveat, or empty",
}
CROSSOVER_KEYS = {
    "run_id": "the run",
    "label": "backend (with variant)",
    "workers": "workers",
    "crossover_s": "task duration from which every longer one keeps 80% efficiency (s)",
    "crossover_low_s": "earliest it could be, from the efficiency intervals (s)",
    "crossover_high_s": "latest it could be, null when not within the sizes tried (s)",
    "best_efficiency": "the best efficiency reached (ratio)",
    "tried": "task durations tried",
}


def claims_document(df: pd.DataFrame) -> dict[str, Any]:
    """`claims --format json`: the claims with verdicts, the recommendations, the crossover."""
    table = claims.claims_table(df)
    recs = advice.recommendations(df).rename(columns={"runner_up": "next"})
    recs["params"] = [json.loads(p) if p else {} for p in recs["params"]]
    cross = advice.crossover(df)
    return {
        "format": "harness-claims",
        "version": SUMMARY_VERSION,
        "runs": sorted(str(r) for r in df["run_id"].unique()),
        "verdicts": VERDICTS,
        "keys": {
            "claims": CLAIM_KEYS,
            "recommendations": RECOMMENDATION_KEYS,
            "crossover": CROSSOVER_KEYS,
        },
        "claims": plain(table.to_dict("records")),
        "recommendations": plain(recs.to_dict("records")),
        "crossover": plain(cross.to_dict("records")),
    }


def claims_csv_rows(document: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """All three tables in one CSV: a `kind` column (claim, recommendation, crossover) and
    the union of their columns, so one `pandas.read_csv` reads it and a filter splits it."""
    rows: list[dict[str, Any]] = []
    columns = ["kind"]
    for kind, key, keys in (
        ("claim", "claims", CLAIM_KEYS),
        ("recommendation", "recommendations", RECOMMENDATION_KEYS),
        ("crossover", "crossover", CROSSOVER_KEYS),
    ):
        columns += [k for k in keys if k not in columns]
        for record in document[key]:
            row = {"kind": kind, **record}
            if isinstance(row.get("params"), Mapping):
                row["params"] = json.dumps(row["params"], sort_keys=True)
            rows.append(row)
    return rows, columns


# --- the catalogue (`list`) -----------------------------------------------------------------

SCENARIO_KEYS = {
    "name": "the scenario's name, as `harness run NAME` takes it",
    "workload": "the registered workload it runs",
    "backends": "the backends it runs on by default",
    "description": "one line on what it measures",
    "error": "why the spec is invalid, or empty",
}


def list_document(
    scenarios: list[dict[str, Any]],
    workloads: list[str],
    backends: list[dict[str, str]],
    problems: list[str],
) -> dict[str, Any]:
    """`list --format json`: the scenarios, workloads and backends this harness knows."""
    return {
        "format": "harness-list",
        "version": SUMMARY_VERSION,
        "keys": {"scenarios": SCENARIO_KEYS},
        "scenarios": scenarios,
        "workloads": workloads,
        "backends": backends,
        "problems": problems,
    }


def list_csv_rows(scenarios: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    rows = [{**s, "backends": ",".join(s["backends"])} for s in scenarios]
    return rows, list(SCENARIO_KEYS)
