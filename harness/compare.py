"""Compare a baseline with a contender, case by case, and say how sure the comparison is.

For each case present in both (matched on scenario, backend, workers, params, tasks and
python, the interpreter; `ignore` loosens the match):
both medians, the ratio contender / baseline with its interval at the interval's real
level (`stats.ratio_interval`), and a Mann-Whitney U test (as asv). A change is called
only when the test gives p < alpha and the ratio is beyond the threshold, so noise within
a few percent reads as "same". When one side has too few values for the test to reach
alpha at all (3 against 3 can never give p < 0.05), no change is called and the row says
how many it needs: there is no weaker fallback.

What counts as one value follows the metric's catalogue entry: a repeat for wall_s and
the rates, a round (one case process) for start-up, memory and latency, which have one
value per process. Words and direction come from the catalogue too. Either side may hold
many runs (several machines): their values are pooled per case. With
``normalize="sequential"`` each value becomes a speedup over its own run's sequential
case, paired repeat by repeat (same run, round and repeat number), so the baseline's own
variation is in every sample rather than divided out by a fixed median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from harness.errors import InputError
from harness.measure import stats
from harness.protocol import MetricInfo, metric_info

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

    @property
    def higher_is_better(self) -> bool:
        return self.info.better == "higher"

    @property
    def words(self) -> tuple[str, str]:
        return self.info.compare_words

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["regression"]]


def _per_round(sub: pd.DataFrame) -> pd.DataFrame:
    """One value per case, run and round: a per-round metric (or the median of its nodes)."""
    keys = ["run_id", "round", *MATCH_KEYS]
    out = sub.groupby(keys, observed=True, as_index=False)["value"].median()
    out["repeat"] = 0
    return out


def _samples(df: pd.DataFrame, metric: str, info: MetricInfo, normalize: str) -> pd.DataFrame:
    """Values of `metric` of ok cases: one per repeat or one per round, as the metric has;
    optionally as speedups, each value paired with the sequential value of the same run,
    round and repeat."""
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    sub = sub[np.isfinite(sub["value"])]
    sub = _per_round(sub) if info.per != "repeat" else sub.assign(repeat=sub["repeat"].fillna(0))
    if normalize == "none":
        return sub
    pair_keys = ["run_id", "scenario", "params", "tasks", "python", "round", "repeat"]
    seq = sub[sub["backend"] == "sequential"][[*pair_keys, "value"]]
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
    return out[out["backend"] != "sequential"].drop(columns="sequential_value")


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
    metric: str = "wall_s",
    threshold: float = 0.05,
    alpha: float = 0.05,
    normalize: str = "none",
    ignore: tuple[str, ...] = (),
) -> Comparison:
    """Case-by-case comparison of two tidy frames (each may hold several runs)."""
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
        b_status = b_status[b_status.index.get_level_values("backend") != "sequential"]
        c_status = c_status[c_status.index.get_level_values("backend") != "sequential"]
    common = b_status.index.intersection(c_status.index)
    if common.empty:
        raise CompareError(
            f"no case in common (matched on {', '.join(keys)}); --ignore can loosen the match"
        )
    shown = metric_info("speedup") if normalize == "sequential" else info
    unit = "repeats" if info.per == "repeat" else "rounds"
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
        row.update(
            _verdict(
                b["value"].to_numpy(float),
                c["value"].to_numpy(float),
                row,
                shown,
                unit,
                threshold,
                alpha,
            )
        )
        rows.append(row)
    return Comparison(
        rows=pd.DataFrame(rows),
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
    )


def _rounds(group: pd.DataFrame) -> int:
    """Case processes behind a side's values: distinct (run, round) pairs."""
    if group.empty or "round" not in group:
        return 0
    return int(group[["run_id", "round"]].drop_duplicates().shape[0])


def too_few_note(n_base: int, n_cont: int, alpha: float) -> str:
    """'n=3 each; need >= 4 each at alpha 0.05': the fewest that let the test reach alpha."""
    ns = f"n={n_base} each" if n_base == n_cont else f"n={n_base} vs {n_cont}"
    return f"{ns}; need >= {stats.needed_each(alpha)} each at alpha {alpha:g}"


def _verdict(
    bv: np.ndarray,
    cv: np.ndarray,
    row: dict,
    info: MetricInfo,
    unit: str,
    threshold: float,
    alpha: float,
) -> dict:
    """Medians, ratio with its interval, the test, and the change word for one case."""
    better_word, worse_word = info.compare_words
    base_med = float(np.median(bv)) if len(bv) else math.nan
    cont_med = float(np.median(cv)) if len(cv) else math.nan
    ratio = cont_med / base_med if len(bv) and len(cv) and base_med else math.nan
    ci = stats.ratio_interval(cv, bv, level=1 - alpha)
    p, test, note = math.nan, "-", ""
    change = "n/a"
    if "skipped" in (row["status_contender"], row["status_baseline"]):
        change = "skipped"  # not run (its engine is missing there): neither side failed
    elif row["status_contender"] != "ok" and row["status_baseline"] == "ok":
        change = "failed"
    elif len(bv) and len(cv) and not stats.can_reach(len(bv), len(cv), alpha):
        change, note = f"too few {unit}", too_few_note(len(bv), len(cv), alpha)
    elif len(bv) and len(cv):
        p = float(mannwhitneyu(bv, cv, alternative="two-sided").pvalue)
        test = "mann-whitney"
        beyond = math.isfinite(ratio) and ratio > 0 and abs(math.log(ratio)) > math.log1p(threshold)
        change = "same"
        if p < alpha and beyond:
            up = ratio > 1
            change = better_word if up == (info.better == "higher") else worse_word
            if info.better == "none":
                change = "higher" if up else "lower"
    regression = change == "failed" or (
        info.better != "none" and change == worse_word and better_word != worse_word
    )
    return {
        "n_baseline": len(bv),
        "n_contender": len(cv),
        "baseline_median": base_med,
        "contender_median": cont_med,
        "ratio": ratio,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ci_level": ci.level,
        "p_value": p,
        "test": test,
        "significant": bool(p < alpha),
        "change": change,
        "note": note or ci.note,
        "regression": bool(regression),
    }


def _one(group: pd.DataFrame, column: str) -> str:
    values = sorted(set(group[column])) if column in group and not group.empty else []
    return ",".join(map(str, values)) or "?"
