"""Compare a baseline with a contender, case by case, and say how sure the comparison is.

For each case present in both (matched on scenario, backend, workers, params, tasks and
python, the interpreter; `ignore` loosens the match): both medians, the ratio contender /
baseline with its interval, and a verdict that controls the family-wise error rate over
all the cases of the comparison.

The process is the sampling unit. Each case process (a round) gives one value: the median
of its repeats, or its one value of a per-process metric (start-up, memory, latency).
Repeats inside one process share its memory layout, hash seed and core; tested as if
independent, they turn the difference between two processes into a "change" (an A/A of
one process a side fails a gate that way). So:

- unpaired (two runs): the Hodges-Lehmann ratio of the per-process values with its exact
  Mann-Whitney interval (`stats.unpaired_ratio`), at the level 1 - alpha; Welch's t on the
  logs where too few processes for ranks (3 a side);
- paired (``paired=True``: both sides from one run that interleaved them): processes pair on
  run and round; a pair's value is the median of its repeat-matched log ratios (or the log
  ratio of its medians), and the ratio is the signed-rank Hodges-Lehmann one
  (`stats.paired_ratio`); `pairing_rho` says how much the pairing shared;
- a change is called only when that interval lies wholly beyond the threshold: the test's
  null is "the ratio is within 1 +- threshold" (`RatioEstimate.beyond_threshold_p`), so a real
  difference smaller than the threshold (machine drift) reads as "same";
- Holm's step-down adjustment runs over every tested case, so the chance of any false
  change in an A/A comparison is at most alpha, however many cases it has;
- a side with one process calls nothing ("too few processes"); a case that is not called
  says what change its processes could call and how many a side would call a change of
  twice the threshold.

Either side may hold many runs (several machines): their processes are pooled per case.
With ``normalize="sequential"`` each process value becomes a speedup over the sequential
case of the same run and round, so the baseline's variation is in every value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.summaries import BASELINE
from harness.errors import InputError
from harness.measure import stats
from harness.protocol import Metric, MetricInfo, metric_info

#: `python` matches interpreters: a run of 3.12 against one of 3.13 needs --ignore python.
MATCH_KEYS = ["scenario", "backend", "workers", "params", "tasks", "python"]
NORMALIZE = ("none", "sequential")


class CompareError(InputError):
    """Input that cannot be compared (no such metric, no common case): one line, names it."""


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05; a bare number of 1 or more is ambiguous and refused."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise CompareError(f"--threshold: expected e.g. 5% or 0.05, got {text!r}") from None
    if not raw.endswith("%") and value >= 1:
        raise CompareError(f"--threshold: {text!r} is ambiguous; write {value:g}% or a fraction")
    if not 0 <= value < 10:
        raise CompareError(f"--threshold: must be between 0% and 1000%, got {text!r}")
    return value


@dataclass
class Comparison:
    """The per-case rows and what they were computed from."""

    rows: pd.DataFrame
    metric: str
    #: The catalogue entry of what was compared (speedup when normalized).
    info: MetricInfo
    threshold: float
    alpha: float
    normalize: str
    #: What one value is: "repeats" or "rounds".
    unit: str
    baseline_runs: list[str] = field(default_factory=list)
    contender_runs: list[str] = field(default_factory=list)
    unmatched: dict[str, int] = field(default_factory=dict)
    #: Per side, each run's uv.lock hash by run id (None: it recorded none); empty when the
    #: caller had no run.json to read (frames alone), so nothing is said about locks.
    locks: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def lock_state(self) -> str | None:
        """'same', 'different' (two known hashes differ), 'unknown' (a run recorded none),
        or None when the locks were not looked at."""
        if not self.locks:
            return None
        hashes = [h for side in self.locks.values() for h in side.values()]
        if len({h for h in hashes if h is not None}) > 1:
            return "different"
        return "unknown" if None in hashes else "same"

    @property
    def higher_is_better(self) -> bool:
        return self.info.better == "higher"

    @property
    def words(self) -> tuple[str, str]:
        return self.info.compare_words

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["regression"]]


def _per_process(sub: pd.DataFrame) -> pd.DataFrame:
    """One value per case, run and round (one case process): the median of its repeats, or
    of its nodes for a per-node metric."""
    keys = ["run_id", "round", *MATCH_KEYS]
    return sub.groupby(keys, observed=True, as_index=False)["value"].median()


def _samples(df: pd.DataFrame, metric: str, info: MetricInfo, normalize: str) -> pd.DataFrame:
    """Values of `metric` of ok cases, one per case process; optionally as speedups, each
    paired with the sequential process of the same run and round."""
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    sub = _per_process(sub[np.isfinite(sub["value"])])
    if normalize == "none":
        return sub
    pair_keys = ["run_id", "scenario", "params", "tasks", "python", "round"]
    seq = sub[sub["backend"] == BASELINE][[*pair_keys, "value"]]
    seq = seq.drop_duplicates(pair_keys).rename(columns={"value": "sequential_value"})
    missing = sorted(set(sub["run_id"]) - set(seq["run_id"]))
    if missing:
        raise CompareError(
            f"--normalize sequential: run(s) {', '.join(missing)} have no ok sequential case"
        )
    out = sub.merge(seq, on=pair_keys, how="inner")
    if info.better == "higher":
        out["value"] = out["value"] / out["sequential_value"]
    else:
        out["value"] = out["sequential_value"] / out["value"]
    return out[out["backend"] != BASELINE].drop(columns="sequential_value")


def _status(df: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per case key: 'ok' if every run's case succeeded, else the first failing status."""
    firsts = df.groupby(keys + ["run_id"], observed=True)["status"].first()
    return firsts.groupby(level=list(range(len(keys)))).agg(
        lambda s: next((x for x in s if x != "ok"), "ok")
    )


def _check(
    baseline: pd.DataFrame,
    contender: pd.DataFrame,
    metric: str,
    normalize: str,
    ignore: tuple[str, ...],
) -> tuple[MetricInfo, list[str]]:
    if normalize not in NORMALIZE:
        raise CompareError(f"--normalize: expected one of {', '.join(NORMALIZE)}")
    bad = [k for k in ignore if k not in MATCH_KEYS or k == "scenario"]
    if bad:
        raise CompareError(
            f"--ignore: cannot ignore {', '.join(bad)} (choose from backend, workers, params, "
            "tasks, python)"
        )
    for side, df in (("BASELINE", baseline), ("CONTENDER", contender)):
        if metric not in set(df["metric"]):
            known = ", ".join(sorted(set(df["metric"])))
            raise CompareError(f"--metric: {side} has no {metric!r} (it has: {known})")
    info = metric_info(metric, str(baseline.loc[baseline["metric"] == metric, "unit"].iloc[0]))
    if normalize == "sequential" and info.better == "none":
        raise CompareError(
            f"--normalize sequential: {metric} has no better direction, so no speedup"
        )
    return info, [k for k in MATCH_KEYS if k not in ignore]


def compare(
    baseline: pd.DataFrame,
    contender: pd.DataFrame,
    metric: str = Metric.WALL_S,
    threshold: float = 0.05,
    alpha: float = 0.05,
    normalize: str = "none",
    ignore: tuple[str, ...] = (),
    paired: bool = False,
    locks: dict[str, dict[str, str | None]] | None = None,
) -> Comparison:
    """Case-by-case comparison of two tidy frames (each may hold several runs). `paired`:
    both come from the same run(s), and processes of one run and round pair up.

    `locks` ({"baseline": {run_id: sha256 or None}, "contender": ...}, as
    `results.lock_hashes` reads them) lets the result say whether both sides were set up
    from one uv.lock.
    """
    info, keys = _check(baseline, contender, metric, normalize, ignore)
    b_samples = _samples(baseline, metric, info, normalize)
    c_samples = _samples(contender, metric, info, normalize)
    for side, samples in (("BASELINE", b_samples), ("CONTENDER", c_samples)):
        for dropped in ignore:
            spread = samples.groupby(keys, observed=True)[dropped].nunique()
            if (spread > 1).any():
                key = spread[spread > 1].index[0]
                raise CompareError(
                    f"--ignore {dropped}: {side} has several {dropped} values for {key}; "
                    "the cases to compare would be ambiguous"
                )
    b_status, c_status = _status(baseline, keys), _status(contender, keys)
    if normalize == "sequential":
        b_status = b_status[b_status.index.get_level_values("backend") != BASELINE]
        c_status = c_status[c_status.index.get_level_values("backend") != BASELINE]
    common = b_status.index.intersection(c_status.index)
    if common.empty:
        raise CompareError(
            f"no case in common (matched on {', '.join(keys)}); --ignore can loosen the match"
        )
    shown = metric_info("speedup") if normalize == "sequential" else info
    unit = "processes"
    b_groups = dict(tuple(b_samples.groupby(keys, observed=True)))
    c_groups = dict(tuple(c_samples.groupby(keys, observed=True)))
    rows = []
    for key in common.sort_values():
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key, strict=True))
        b = b_groups.get(key, pd.DataFrame(columns=["value", "workers", "run_id", "round"]))
        c = c_groups.get(key, pd.DataFrame(columns=["value", "workers", "run_id", "round"]))
        for name in ("workers", "backend", "python"):
            if name in ignore:  # say what was compared with what
                row[name] = f"{_one(b, name)} -> {_one(c, name)}"
        row.update(
            status_baseline=b_status[key if len(key) > 1 else key[0]],
            status_contender=c_status[key if len(key) > 1 else key[0]],
            rounds_baseline=_rounds(b),
            rounds_contender=_rounds(c),
        )
        pairs = (
            _pair_logs(baseline, contender, metric, keys, key, b, c, normalize) if paired else None
        )
        row.update(_measure(b, c, alpha, pairs))
        rows.append(row)
    return Comparison(
        rows=_decide(pd.DataFrame(rows), shown, threshold, alpha),
        metric=metric if normalize == "none" else f"speedup ({metric})",
        info=shown,
        threshold=threshold,
        alpha=alpha,
        normalize=normalize,
        unit=unit,
        baseline_runs=sorted(set(baseline["run_id"])),
        contender_runs=sorted(set(contender["run_id"])),
        unmatched={
            "baseline": len(b_status.index.difference(common)),
            "contender": len(c_status.index.difference(common)),
        },
        locks={side: dict(hashes) for side, hashes in (locks or {}).items()},
    )


def _rounds(group: pd.DataFrame) -> int:
    """Case processes behind a side's values: distinct (run, round) pairs."""
    if group.empty or "round" not in group:
        return 0
    return int(group[["run_id", "round"]].drop_duplicates().shape[0])


#: What a side with one process is told: repeats in one process cannot call a change.
ONE_PROCESS_NOTE = "1 process on a side: run --rounds 3 or more on both sides"


def _pair_logs(
    baseline: pd.DataFrame,
    contender: pd.DataFrame,
    metric: str,
    keys: list[str],
    key: tuple,
    b: pd.DataFrame,
    c: pd.DataFrame,
    normalize: str,
) -> pd.DataFrame:
    """Per pair of processes (same run and round): the log ratio contender / baseline and each
    side's log value. Repeat-matched when both sides hold the same repeat numbers (the median
    of log(c_r / b_r)), else the log ratio of the two processes' values."""
    on = ["run_id", "round"]
    if b.empty or c.empty:
        return pd.DataFrame(columns=[*on, "log_ratio", "log_b", "log_c"])
    merged = b[[*on, "value"]].merge(c[[*on, "value"]], on=on, suffixes=("_b", "_c"))
    merged = merged[(merged["value_b"] > 0) & (merged["value_c"] > 0)]
    merged["log_b"] = np.log(merged["value_b"])
    merged["log_c"] = np.log(merged["value_c"])
    merged["log_ratio"] = merged["log_c"] - merged["log_b"]
    if normalize == "none" and not merged.empty:
        raw = []
        for df in (baseline, contender):
            sub = df[(df["metric"] == metric) & (df["status"] == "ok") & df["repeat"].notna()]
            match = np.ones(len(sub), dtype=bool)
            for name, value in zip(keys, key, strict=True):
                match &= (sub[name] == value).to_numpy()
            raw.append(sub[match & np.isfinite(sub["value"]) & (sub["value"] > 0)])
        both = raw[0][[*on, "repeat", "value"]].merge(
            raw[1][[*on, "repeat", "value"]], on=[*on, "repeat"], suffixes=("_b", "_c")
        )
        sets = [r.groupby(on)["repeat"].agg(frozenset) for r in raw]
        same = sets[0].to_frame("b").join(sets[1].to_frame("c"), how="inner")
        same = same[same["b"] == same["c"]].index
        both["lr"] = np.log(both["value_c"]) - np.log(both["value_b"])
        matched = both.groupby(on)["lr"].median()
        matched = matched[matched.index.isin(same)]
        index = pd.MultiIndex.from_frame(merged[on])
        repl = matched.reindex(index).to_numpy()
        merged["log_ratio"] = np.where(np.isfinite(repl), repl, merged["log_ratio"])
    return merged[[*on, "log_ratio", "log_b", "log_c"]]


def _measure(b: pd.DataFrame, c: pd.DataFrame, alpha: float, pairs: pd.DataFrame | None) -> dict:
    """Medians, the ratio, its interval and the estimate behind the test for one case (not
    yet a verdict: that needs every case's p, for Holm)."""
    bv, cv = b["value"].to_numpy(float), c["value"].to_numpy(float)
    base_med = float(np.median(bv)) if len(bv) else math.nan
    cont_med = float(np.median(cv)) if len(cv) else math.nan
    rho = math.nan
    if pairs is not None:
        est = stats.paired_ratio(pairs["log_ratio"].to_numpy(float), level=1 - alpha)
        rho = stats.pairing_gain(pairs["log_c"].to_numpy(float), pairs["log_b"].to_numpy(float))[0]
    else:
        est = stats.unpaired_ratio(cv, bv, level=1 - alpha)
    testable = est.n >= 1 and math.isfinite(est.ratio)
    return {
        "n_baseline": len(bv),
        "n_contender": len(cv),
        "baseline_median": base_med,
        "contender_median": cont_med,
        "ratio": est.ratio,
        "ci_low": est.ci.low,
        "ci_high": est.ci.high,
        "ci_level": est.ci.level,
        "pairing_rho": rho,
        "_est": est if testable and min(len(bv), len(cv)) >= stats.MIN_PROCESSES else None,
    }


def _decide(rows: pd.DataFrame, info: MetricInfo, threshold: float, alpha: float) -> pd.DataFrame:
    """Each case's change word, with Holm's adjustment over every case that was tested."""
    if rows.empty:
        return rows
    better_word, worse_word = info.compare_words
    p = np.full(len(rows), np.nan)
    tested = np.zeros(len(rows), dtype=bool)
    for i, r in enumerate(rows.to_dict("records")):
        if _untestable(r) is None and r["_est"] is not None:
            p[i] = r["_est"].beyond_threshold_p(threshold)
            tested[i] = np.isfinite(p[i])
    adjusted = stats.holm(p)
    changes, notes, regressions = [], [], []
    for i, r in enumerate(rows.to_dict("records")):
        change, note = _untestable(r) or ("same", "")
        if tested[i] and adjusted[i] < alpha:
            up = r["_est"].log_ratio > 0
            change = better_word if up == (info.better == "higher") else worse_word
            if info.better == "none":
                change = "higher" if up else "lower"
        elif tested[i]:
            note = _reach_note(r["_est"], threshold, alpha, int(tested.sum()))
        elif change == "same":  # nothing to test: no values, or values <= 0
            change = "n/a"
        changes.append(change)
        notes.append(note)
        regressions.append(
            change == "failed"
            or (info.better != "none" and change == worse_word and better_word != worse_word)
        )
    methods = [r["_est"].method if r["_est"] is not None else "" for r in rows.to_dict("records")]
    return rows.drop(columns="_est").assign(
        p_value=p,
        p_adjusted=adjusted,
        test=[f"{m}, beyond threshold" if m else "" for m in methods],
        significant=adjusted < alpha,
        change=changes,
        note=notes,
        regression=regressions,
    )


def _untestable(r: dict) -> tuple[str, str] | None:
    """The change word of a case that gets no test, and why; None when it is tested."""
    if "skipped" in (r["status_contender"], r["status_baseline"]):
        return "skipped", ""  # not run (its engine is missing there): neither side failed
    if r["status_contender"] != "ok" and r["status_baseline"] == "ok":
        return "failed", ""
    if r["n_baseline"] and r["n_contender"] and min(r["n_baseline"], r["n_contender"]) < 2:
        return "too few processes", ONE_PROCESS_NOTE
    return None


def _reach_note(est: stats.RatioEstimate, threshold: float, alpha: float, family: int) -> str:
    """What these processes could call, and how many would call twice the threshold."""
    level = alpha / max(family, 1)
    smallest = est.detectable_change(threshold, level)
    need = est.processes_needed(threshold, 2 * threshold, level)
    unit = "pairs" if est.kind.startswith("paired") else "processes a side"
    if math.isfinite(smallest):
        text = f"could call a change beyond {smallest:.0%}"
    else:
        text = f"could call no change: {est.n} {unit.split()[0]} cannot reach the level"
    if need is not None:
        text += f"; {need} {unit} would call {2 * threshold:.0%}"
    return text


def _one(group: pd.DataFrame, column: str) -> str:
    values = sorted(set(group[column])) if column in group and not group.empty else []
    return ",".join(map(str, values)) or "?"
