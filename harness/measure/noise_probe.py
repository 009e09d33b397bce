"""How noisy is this machine? A probe of 10-20 s, as pyperf's `system show` asks it.

Two kinds of fresh process run the same pure-Python loop (a call of about 25 ms):

- **slots**: each slot starts one process of side A and one of side B, in a random order;
  each process times one warm-up and three calls and keeps their median. Side A and B run
  identical code, so any difference between them is noise. Each process is one record
  `{slot, side, t, median}` (t: seconds since the probe started, when the process ended),
  the shape of /work/shared/noise's `processes` list, so a noise model can be fitted to it.
- **alternating**: a few processes, spread over the probe's time, call A and B in turn
  (ABAB..., `PAIRS` pairs after one warm-up each) and keep the median of the pairs' log
  ratios log(B / A): what a comparison inside one process would see.

`summarize` turns the records into the numbers the probe reports (pure logic, no process);
`probe` runs them. Every process the probe starts is ended before it returns or raises,
Ctrl-C included. The rules behind each number are constants here, and stated by the text.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.measure import stats
from harness.measure.proctree import usable_cpus

DEFAULT_SECONDS = 15.0
#: --seconds must lie here: below 2 s too few processes run to say anything; above 120 s
#: the probe is no longer a quick look (run anatomy-style studies for that).
MIN_SECONDS, MAX_SECONDS = 2.0, 120.0
#: One call of the loop lasts about this long (the loop's size is calibrated to it).
CALL_S = 0.025
TIMED_CALLS = 3
PAIRS = 6
#: One alternating process per this many seconds of probe, and never fewer than 3.
SECONDS_PER_ALTERNATING = 2.0
MIN_ALTERNATING = 3
#: A process that has not answered in this long is stuck: the probe ends it and fails.
CHILD_TIMEOUT_S = 30.0

#: Two speeds: the log medians split in two clusters whose means lie at least this many of
#: their pooled within-cluster SDs apart (Ashman's D)...
TWO_SPEEDS_D = 4.0
#: ...and the smaller cluster holds at least this share of the processes, and 3.
MIN_CLUSTER_SHARE = 0.10
MIN_CLUSTER = 3
#: Verdict on the SD of log process medians (the spread a comparison's unit carries):
#: below QUIET_SD "quiet" (and no two speeds), below NOISY_SD "noisy", else "very noisy".
QUIET_SD = 0.03
NOISY_SD = stats.UNSTABLE_CV  # 0.10, where pyperf and `harness show` call a result unstable
#: What a comparison could call: `harness compare`'s defaults.
ALPHA = 0.05
THRESHOLD = 0.05
UNPAIRED_N = (3, 10, 20)
ALTERNATING_N = (10, 30)

#: The loop and its timing, run by a fresh interpreter with the standard library alone.
#: argv: mode ("fresh" or "alternate"), the loop's size, calls (fresh) or pairs (alternate).
CHILD = """
import json, math, statistics, sys, time

def loop_a(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def loop_b(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def timed(f, n):
    t = time.perf_counter()
    f(n)
    return time.perf_counter() - t

mode, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "fresh":
    loop_a(n)
    print(json.dumps({"median": statistics.median(timed(loop_a, n) for _ in range(k))}))
else:
    loop_a(n)
    loop_b(n)
    a, b = [], []
    for _ in range(k):
        a.append(timed(loop_a, n))
        b.append(timed(loop_b, n))
    ratio = statistics.median(math.log(y / x) for x, y in zip(a, b))
    print(json.dumps({"log_ratio": ratio, "a": a, "b": b}))
"""


def check_seconds(seconds: float | None) -> float:
    """The probe's length: DEFAULT_SECONDS when not given; InputError outside the bounds."""
    if seconds is None:
        return DEFAULT_SECONDS
    if not (MIN_SECONDS <= seconds <= MAX_SECONDS):  # NaN fails this too
        raise InputError(
            f"--seconds: expected {MIN_SECONDS:g} to {MAX_SECONDS:g} (10-20 is the usual), "
            f"got {seconds:g}"
        )
    return float(seconds)


# --- running the processes ----------------------------------------------------------------


def _loop(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def calibrate(call_s: float = CALL_S, probe_n: int = 100_000) -> int:
    """The loop size for a call of about `call_s` here: the fastest of 5 short calls, scaled
    (the fastest, so a slow phase of the machine does not shrink the loop)."""
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        _loop(probe_n)
        best = min(best, time.perf_counter() - start)
    return max(10_000, round(probe_n * call_s / best))


def _child(*args: str | int) -> dict:
    """Run the loop in a fresh process of this interpreter; its one line of JSON. The
    process is killed if anything (a timeout, Ctrl-C) interrupts the wait."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, errors = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        last = errors.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise RuntimeError(f"noise probe: a timing process failed: {last[0]}")
    return json.loads(out)


def probe(
    seconds: float = DEFAULT_SECONDS,
    seed: int | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the probe for about `seconds`; the records, the settings and their summary."""
    rng = random.Random(seed)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    n = calibrate()
    n_alt = max(MIN_ALTERNATING, round(seconds / SECONDS_PER_ALTERNATING))
    if say:
        say(f"probing this machine's noise for about {seconds:g} s ...")
    records: list[dict] = []
    alternating: list[dict] = []
    start = time.perf_counter()
    # the alternating processes are due at evenly spread times, between the slots
    due = [start + (j + 0.5) * seconds / n_alt for j in range(n_alt)]
    deadline, slot, last_slot_s = start + seconds, 0, 0.0
    while True:
        now = time.perf_counter()
        if due and now >= due[0]:
            due.pop(0)
            row = _child("alternate", n, PAIRS)
            t = time.perf_counter() - start
            alternating.append({"process": len(alternating), "t": t, **row})
            continue
        if now + last_slot_s > deadline:
            break
        order = ["A", "B"] if rng.random() < 0.5 else ["B", "A"]
        for side in order:
            median = _child("fresh", n, TIMED_CALLS)["median"]
            t = time.perf_counter() - start
            records.append({"slot": slot, "side": side, "t": t, "median": median})
        slot += 1
        last_slot_s = time.perf_counter() - now
    return {
        "probe": {
            "seconds_asked": seconds,
            "seconds_taken": time.perf_counter() - start,
            "loop_n": n,
            "call_s_target": CALL_S,
            "timed_calls": TIMED_CALLS,
            "pairs": PAIRS,
            "python": sys.executable,
            "python_version": ".".join(map(str, sys.version_info[:3])),
        },
        "machine": {
            "cpus": usable_cpus(),
            "loadavg": list(load) if load else None,
        },
        "summary": summarize(records, alternating),
        "rules": rules(),
        "processes": records,
        "alternating": alternating,
    }


# --- what the records say (pure logic) ----------------------------------------------------


def _num(value: float) -> float | None:
    """A number for JSON: None for NaN and infinities (JSON has neither)."""
    return float(value) if value is not None and math.isfinite(value) else None


def robust_sd(values: np.ndarray) -> float:
    """MAD x 1.4826: the SD of a normal sample, unmoved by a few outliers."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def lag1_autocorrelation(values: stats.Sample) -> float | None:
    """Lag-1 autocorrelation of a series (as anatomy.py computes it): 0 when neighbours
    are independent, towards 1 when the level drifts slowly."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3:
        return None
    d = x - x.mean()
    total = float((d**2).sum())
    return _num(float((d[:-1] * d[1:]).sum()) / total) if total > 0 else None


def two_speeds(logs: stats.Sample) -> dict[str, Any]:
    """Do the log values fall in two clusters? The split of the sorted values into a low
    and a high cluster with the least within-cluster sum of squares (1-D 2-means, exact),
    each cluster at least max(MIN_CLUSTER, MIN_CLUSTER_SHARE of all); then Ashman's D, the
    gap between the clusters' means over their pooled SD. Two speeds when D >= TWO_SPEEDS_D.

    A single normal cluster's best split gives D near 2.7 (3.5 at the 95th percentile of 40
    values, and less at more): 4 asks for clusters with a clear gap between them.
    """
    x = np.sort(np.asarray(logs, dtype=float))
    n = len(x)
    smallest = max(MIN_CLUSTER, math.ceil(MIN_CLUSTER_SHARE * n))
    none = {
        "detected": False,
        "d": None,
        "fast_s": None,
        "slow_s": None,
        "fast_n": None,
        "slow_n": None,
    }
    if n < 2 * smallest:
        return none
    best_ss, cut = math.inf, smallest
    for i in range(smallest, n - smallest + 1):
        low, high = x[:i], x[i:]
        ss = float(((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum())
        if ss < best_ss:
            best_ss, cut = ss, i
    low, high = x[:cut], x[cut:]
    gap = float(high.mean() - low.mean())
    pooled = math.sqrt((low.var(ddof=1) + high.var(ddof=1)) / 2)
    d = gap / pooled if pooled > 0 else (math.inf if gap > 0 else 0.0)
    return {
        "detected": bool(d >= TWO_SPEEDS_D),
        "d": _num(d),  # None when the clusters do not vary inside: an infinite D
        "fast_s": math.exp(float(np.median(low))),
        "slow_s": math.exp(float(np.median(high))),
        "fast_n": int(cut),
        "slow_n": int(n - cut),
    }


def _slot_pairs(records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Log medians of A and B for every slot that has both."""
    by_slot: dict[int, dict[str, float]] = {}
    for r in records:
        by_slot.setdefault(r["slot"], {})[r["side"]] = r["median"]
    both = [s for s in sorted(by_slot) if {"A", "B"} <= set(by_slot[s])]
    a = np.log([by_slot[s]["A"] for s in both])
    b = np.log([by_slot[s]["B"] for s in both])
    return a, b


def detectable(sd: float | None, n: int, alternating: bool) -> float | None:
    """The smallest change (a fraction) `harness compare`'s test would call at ALPHA beyond
    THRESHOLD, with n processes a side (unpaired: Welch, df 2n - 2) or n alternating
    processes (one log ratio each: t, df n - 1), if the spread were the one measured and
    normal on a log scale. An approximation: a real run sees its own, sampled, spread."""
    if sd is None:
        return None
    if alternating:
        diff = stats.LogDifference(0.0, sd / math.sqrt(n), n - 1, sd, sd)
    else:
        diff = stats.LogDifference(0.0, sd * math.sqrt(2 / n), 2 * n - 2, sd, sd)
    return _num(stats.detectable_change(diff, THRESHOLD, ALPHA))


def verdict(sd: float | None, two: bool) -> str:
    if sd is None:
        return "unknown"
    if sd >= NOISY_SD:
        return "very noisy"
    return "noisy" if sd >= QUIET_SD or two else "quiet"


def _sd(values: np.ndarray) -> float | None:
    return _num(float(values.std(ddof=1))) if len(values) >= 2 else None


def summarize(records: Sequence[dict], alternating: Sequence[dict] = ()) -> dict[str, Any]:
    """The probe's numbers from its records (`probe`'s, or any of the same shape)."""
    in_time = sorted(records, key=lambda r: r["t"])
    medians = np.array([r["median"] for r in in_time], dtype=float)
    logs = np.log(medians) if len(medians) else medians
    sd = _sd(logs)
    a, b = _slot_pairs(records)
    rho = None
    if len(a) >= 3 and a.std() > 0 and b.std() > 0:
        rho = _num(float(np.corrcoef(a, b)[0, 1]))
    alt = np.array([r["log_ratio"] for r in alternating], dtype=float)
    sd_alt = _sd(alt)
    two = two_speeds(logs)
    return {
        "processes": len(records),
        "slots": len({r["slot"] for r in records}),
        "median_s": _num(float(np.median(medians))) if len(medians) else None,
        "min_s": _num(float(medians.min())) if len(medians) else None,
        "max_s": _num(float(medians.max())) if len(medians) else None,
        "sd_log": sd,
        "robust_sd_log": _num(robust_sd(logs)) if len(logs) else None,
        "two_speeds": two,
        "lag1_autocorr": lag1_autocorrelation(logs),
        "slot_pairs": len(a),
        "slot_correlation": rho,
        "sd_slot_log_ratio": _sd(b - a),
        "alternating_processes": len(alt),
        "sd_alternating_log_ratio": sd_alt,
        "detectable": {
            "alpha": ALPHA,
            "threshold": THRESHOLD,
            "unpaired": {str(k): detectable(sd, k, False) for k in UNPAIRED_N},
            "alternating": {str(k): detectable(sd_alt, k, True) for k in ALTERNATING_N},
        },
        "verdict": verdict(sd, two["detected"]),
    }


def rules() -> dict[str, str]:
    """Each rule the summary applies, in words (the text and JSON state them)."""
    share = f"{MIN_CLUSTER_SHARE:.0%}"
    return {
        "two_speeds": (
            f"log medians split in two clusters (least within-cluster sum of squares, each "
            f"at least {MIN_CLUSTER} processes and {share}); two speeds when the gap between "
            f"their means is >= {TWO_SPEEDS_D:g} of their pooled SD"
        ),
        "verdict": (
            f"SD of log process medians < {QUIET_SD:g} and one speed: quiet; "
            f"< {NOISY_SD:g}: noisy; >= {NOISY_SD:g}: very noisy"
        ),
        "detectable": (
            f"the threshold ({THRESHOLD:.0%}) plus the half width of the {1 - ALPHA:.0%} "
            f"t interval the measured SD would give at n: a normal model of the measured "
            f"spread, an approximation"
        ),
    }
