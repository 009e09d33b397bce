"""Compare a baseline with a contender, case by case, and say how sure the comparison is.

For each case present in both (matched on scenario, backend, workers, params and tasks):
both medians, the ratio contender / baseline, a bootstrap interval of that ratio, and
whether the difference is significant. As in asv, significance is a Mann-Whitney U test
when the sample sizes allow it to reach the level at all (three repeats against three can
never reach p < 0.05), and otherwise whether the ratio's interval excludes 1.
A change is called only when it is significant and beyond the threshold, so noise within a
few percent reads as "same". Either side may hold many runs (several machines): their
samples are pooled per case. With ``normalize="sequential"`` each value is first divided by
its own run's sequential median, so machines of different speed compare as speedups.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rich.table import Table
from scipy.stats import mannwhitneyu

from harness.console import fmt_bytes, fmt_seconds
from harness.errors import InputError
from harness.measure.stats import BOOTSTRAP_RESAMPLES

MATCH_KEYS = ["scenario", "backend", "workers", "params", "tasks"]
#: Metrics where more is better; every other metric (seconds, bytes) is better when lower.
HIGHER_IS_BETTER = {"speedup", "efficiency"}
NORMALIZE = ("none", "sequential")
FORMATS = ("table", "markdown", "csv", "json")


class CompareError(InputError):
    """Input that cannot be compared (no such metric, no common case): one line, names it."""


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or metric.endswith("_per_s")


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
    higher_is_better: bool
    threshold: float
    alpha: float
    normalize: str
    baseline_runs: list[str] = field(default_factory=list)
    contender_runs: list[str] = field(default_factory=list)
    unmatched: dict[str, int] = field(default_factory=dict)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["regression"]]


def _samples(df: pd.DataFrame, metric: str, normalize: str) -> pd.DataFrame:
    """Values of `metric` of ok cases, optionally as speedups over the run's sequential case."""
    sub = df[(df["metric"] == metric) & (df["status"] == "ok")]
    sub = sub[np.isfinite(sub["value"])]
    if normalize == "none":
        return sub
    base_keys = ["run_id", "scenario", "params", "tasks"]
    seq = sub[sub["backend"] == "sequential"].groupby(base_keys)["value"].median()
    seq = seq.rename("sequential_value").reset_index()
    missing = sorted(set(sub["run_id"]) - set(seq["run_id"]))
    if missing:
        raise CompareError(
            f"--normalize sequential: run(s) {', '.join(missing)} have no ok sequential case"
        )
    out = sub.merge(seq, on=base_keys, how="inner")
    if higher_is_better(metric):
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


def ratio_interval(
    base: np.ndarray, cont: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(contender) / median(baseline)."""
    rng = np.random.default_rng(seed)
    b = np.median(rng.choice(base, size=(BOOTSTRAP_RESAMPLES, len(base))), axis=1)
    c = np.median(rng.choice(cont, size=(BOOTSTRAP_RESAMPLES, len(cont))), axis=1)
    ratios = c / b
    alpha = (1 - confidence) / 2
    return float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1 - alpha))


def significance(
    base: np.ndarray, cont: np.ndarray, ci: tuple[float, float], alpha: float
) -> tuple[bool, float, str]:
    """(significant, p-value or nan, test used): Mann-Whitney U when it can reach alpha."""
    smallest_p = 2 / math.comb(len(base) + len(cont), len(base))
    if smallest_p < alpha:
        p = float(mannwhitneyu(base, cont, alternative="two-sided").pvalue)
        return p < alpha, p, "mann-whitney"
    low, high = ci
    return bool(low > 1 or high < 1), float("nan"), "bootstrap-ci"


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
    if normalize not in NORMALIZE:
        raise CompareError(f"--normalize: expected one of {', '.join(NORMALIZE)}")
    bad = [k for k in ignore if k not in MATCH_KEYS or k == "scenario"]
    if bad:
        raise CompareError(
            f"--ignore: cannot ignore {', '.join(bad)} (choose from backend, workers, params, "
            "tasks)"
        )
    keys = [k for k in MATCH_KEYS if k not in ignore]
    for side, df in (("BASELINE", baseline), ("CONTENDER", contender)):
        if metric not in set(df["metric"]):
            known = ", ".join(sorted(set(df["metric"])))
            raise CompareError(f"--metric: {side} has no {metric!r} (it has: {known})")
    b_samples = _samples(baseline, metric, normalize)
    c_samples = _samples(contender, metric, normalize)
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
    b_groups = dict(tuple(b_samples.groupby(keys, observed=True)))
    c_groups = dict(tuple(c_samples.groupby(keys, observed=True)))
    hib = higher_is_better(metric) or normalize == "sequential"
    limit = math.log1p(threshold)
    rows = []
    for key in common.sort_values():
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key, strict=True))
        b = b_groups.get(key, pd.DataFrame(columns=["value", "workers"]))
        c = c_groups.get(key, pd.DataFrame(columns=["value", "workers"]))
        for dropped, name in (("workers", "workers"), ("backend", "backend")):
            if dropped in ignore:  # say what was compared with what
                row[name] = f"{_one(b, name)} -> {_one(c, name)}"
        bv, cv = b["value"].to_numpy(float), c["value"].to_numpy(float)
        row.update(
            n_baseline=len(bv),
            n_contender=len(cv),
            baseline_median=float(np.median(bv)) if len(bv) else math.nan,
            contender_median=float(np.median(cv)) if len(cv) else math.nan,
            status_baseline=b_status[key if len(key) > 1 else key[0]],
            status_contender=c_status[key if len(key) > 1 else key[0]],
        )
        ratio = ci_low = ci_high = p = math.nan
        significant, test = False, "-"
        if len(bv) and len(cv):
            ratio = row["contender_median"] / row["baseline_median"]
            ci_low, ci_high = ratio_interval(bv, cv)
            significant, p, test = significance(bv, cv, (ci_low, ci_high), alpha)
        better = (ratio > 1) == hib
        beyond = bool(math.isfinite(ratio) and abs(math.log(ratio)) > limit)
        if row["status_contender"] != "ok" and row["status_baseline"] == "ok":
            change = "failed"
        elif not (len(bv) and len(cv)):
            change = "n/a"
        elif significant and beyond:
            change = _word(metric, normalize, better)
        else:
            change = "same"
        row.update(
            ratio=ratio,
            ci_low=ci_low,
            ci_high=ci_high,
            p_value=p,
            test=test,
            significant=significant,
            change=change,
            regression=change == "failed" or (change not in ("same", "n/a") and not better),
        )
        rows.append(row)
    return Comparison(
        rows=pd.DataFrame(rows),
        metric=metric if normalize == "none" else f"speedup ({metric})",
        higher_is_better=hib,
        threshold=threshold,
        alpha=alpha,
        normalize=normalize,
        baseline_runs=sorted(set(baseline["run_id"])),
        contender_runs=sorted(set(contender["run_id"])),
        unmatched={
            "baseline": len(b_status.index.difference(common)),
            "contender": len(c_status.index.difference(common)),
        },
    )


def _one(group: pd.DataFrame, column: str) -> str:
    values = sorted(set(group[column])) if column in group and not group.empty else []
    return ",".join(map(str, values)) or "?"


def _word(metric: str, normalize: str, better: bool) -> str:
    if normalize == "none" and metric.endswith("_bytes"):
        return "smaller" if better else "larger"
    return "faster" if better else "slower"


# Output ---------------------------------------------------------------------------------

COLUMNS = [
    "scenario",
    "backend",
    "workers",
    "params",
    "baseline_median",
    "contender_median",
    "ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "change",
]


def _fmt(value: float, metric: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if metric.endswith("_s") and not metric.endswith("_per_s"):
        return fmt_seconds(value)
    if metric.endswith("_bytes"):
        return fmt_bytes(value)
    return f"{value:.4g}"


def _display(result: Comparison) -> list[list[str]]:
    rows = []
    unit = result.metric if result.normalize == "none" else "speedup"
    for r in result.rows.to_dict("records"):
        rows.append(
            [
                str(r.get("scenario", "")),
                str(r.get("backend", "*")),
                str(r.get("workers", "*")),
                str(r.get("params", "*")),
                _fmt(r["baseline_median"], unit) + f" (n={r['n_baseline']})",
                _fmt(r["contender_median"], unit) + f" (n={r['n_contender']})",
                f"{r['ratio']:.3f}x" if math.isfinite(r["ratio"]) else "-",
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if math.isfinite(r["ci_low"]) else "-",
                _fmt(r["p_value"]) if r["test"] == "mann-whitney" else r["test"],
                r["change"] + ("" if r["change"] != "failed" else f" ({r['status_contender']})"),
            ]
        )
    return rows


def warnings(result: Comparison) -> list[str]:
    """Why a verdict may be weak: too few samples for the test, or failed cases."""
    out = []
    weak = result.rows[result.rows["test"] == "bootstrap-ci"]
    if not weak.empty:
        n = int(min(weak["n_baseline"].min(), weak["n_contender"].min()))
        out.append(
            f"{len(weak)} case(s) have too few samples (as few as {n}) for Mann-Whitney U to reach "
            f"p < {result.alpha:g}; their verdict rests on the bootstrap interval alone. "
            "Five or more repeats per side give the test its power."
        )
    alone = {side: n for side, n in result.unmatched.items() if n}
    if alone:
        sides = " and ".join(f"{n} {side}" for side, n in alone.items())
        out.append(
            f"{sides} case(s) have no match on the other side (not shown); "
            "--ignore workers (or backend, params) can loosen the match."
        )
    failed = result.rows[result.rows["change"] == "failed"]
    if not failed.empty:
        out.append(f"{len(failed)} case(s) failed in the contender but not in the baseline.")
    return out


def caption(result: Comparison) -> str:
    better = "higher" if result.higher_is_better else "lower"
    return (
        f"{result.metric} ({better} is better), ratio = contender / baseline with 95% bootstrap "
        f"interval; changes called when significant (alpha {result.alpha:g}) and beyond "
        f"{result.threshold:.0%}. baseline: {', '.join(result.baseline_runs)}; "
        f"contender: {', '.join(result.contender_runs)}"
    )


HEADERS = ["scenario", "backend", "workers", "params", "baseline", "contender", "ratio", "95% CI"]
HEADERS += ["p", "change"]
CHANGE_STYLE = {"faster": "green", "smaller": "green", "slower": "red", "larger": "red"}
CHANGE_STYLE |= {"failed": "red bold", "same": "dim"}


def rich_table(result: Comparison) -> Table:
    table = Table(title=f"compare {result.metric}", caption=caption(result), header_style="bold")
    for name in HEADERS:
        table.add_column(name, justify="left" if name in ("backend", "change") else "right")
    for cells in _display(result):
        style = CHANGE_STYLE.get(cells[-1].split(" ")[0], "")
        cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
        table.add_row(*cells)
    return table


def to_markdown(result: Comparison) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    for cells in _display(result):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = "".join(f"\n> {w}\n" for w in warnings(result))
    return "\n".join(lines) + f"\n\n{caption(result)}\n{notes}"


def to_csv(result: Comparison) -> str:
    return result.rows.to_csv(index=False)


def to_json(result: Comparison) -> str:
    return json.dumps(
        {
            "metric": result.metric,
            "higher_is_better": result.higher_is_better,
            "threshold": result.threshold,
            "alpha": result.alpha,
            "normalize": result.normalize,
            "baseline_runs": result.baseline_runs,
            "contender_runs": result.contender_runs,
            "cases": json.loads(result.rows.to_json(orient="records")),
        },
        indent=2,
    )
