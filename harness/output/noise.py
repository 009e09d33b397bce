"""`harness env --noise` as plain lines: each number with what it means."""

from __future__ import annotations

import math
from typing import Any

from harness.measure import noise_probe as probe
from harness.units import fmt_seconds


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _spread(sd: float | None) -> str:
    """0.10 -> ' (one SD: a factor of 1.105)': what one SD of logs stands for."""
    return "" if sd is None else f" (one SD: a factor of {math.exp(sd):.3f})"


def lines(result: dict[str, Any]) -> list[str]:
    """The probe's report, one finding a line."""
    p, m, s = result["probe"], result["machine"], result["summary"]
    load = m.get("loadavg")
    load_text = " ".join(f"{x:.2f}" for x in load) + " (1, 5, 15 min)" if load else "unknown"
    out = [
        f"noise probe: {s['slots']} slots of a fresh process A and B, random order "
        f"({s['processes']} processes), and {s['alternating_processes']} processes "
        f"alternating A and B, in {p['seconds_taken']:.1f} s; Python {p['python_version']}",
        f"  each process: a loop sized to about {fmt_seconds(p['call_s_target'])} a call here "
        f"(n={p['loop_n']}), 1 warm-up and {p['timed_calls']} timed calls, median kept; "
        f"A and B run the same code",
        f"machine: {m['cpus']} usable CPUs; load average before the probe {load_text}",
        f"process medians: median {fmt_seconds(s['median_s'])}, "
        f"range {fmt_seconds(s['min_s'])} to {fmt_seconds(s['max_s'])}",
        f"spread between processes: SD of log medians {_f(s['sd_log'])}{_spread(s['sd_log'])}; "
        f"robust SD (MAD x 1.4826) {_f(s['robust_sd_log'])}, which a few outliers or a "
        f"minority speed do not move",
        _two_speeds_line(s["two_speeds"]),
        f"drift: lag-1 autocorrelation of log medians in time order {_f(s['lag1_autocorr'], 2)} "
        f"(0: each process on its own; towards 1: slow swings that neighbours share)",
        _pairing_line(s),
        f"alternation in one process: SD of the median log ratio B/A over {p['pairs']} ABAB "
        f"pairs {_f(s['sd_alternating_log_ratio'])} across {s['alternating_processes']} "
        f"processes (against {_f(s['sd_log'])} between fresh processes)",
    ]
    d = s["detectable"]
    unpaired = ", ".join(f"n={k}: {_pct(v)}" for k, v in d["unpaired"].items())
    alternating = ", ".join(f"n={k}: {_pct(v)}" for k, v in d["alternating"].items())
    out += [
        f"smallest change a comparison could call here (alpha {d['alpha']:g}, threshold "
        f"{d['threshold']:.0%}; an approximation from a normal model of the spreads above):",
        f"  fresh processes a side, unpaired: {unpaired}",
        f"  processes alternating A and B, one pair ratio each: {alternating}",
        f"verdict: {s['verdict']} (rule: {result['rules']['verdict']})",
    ]
    return out


def _two_speeds_line(two: dict[str, Any]) -> str:
    rule = (
        f"rule: gap between two clusters of log medians >= {probe.TWO_SPEEDS_D:g} pooled "
        f"SDs, smaller cluster >= {probe.MIN_CLUSTER} and {probe.MIN_CLUSTER_SHARE:.0%}"
    )
    if two["fast_n"] is None:
        return f"two speeds: too few processes to tell ({rule})"
    d = "inf" if two["d"] is None else f"{two['d']:.1f}"
    clusters = (
        f"{fmt_seconds(two['fast_s'])} ({two['fast_n']} processes) and "
        f"{fmt_seconds(two['slow_s'])} ({two['slow_n']})"
    )
    if two["detected"]:
        return f"two speeds: yes, processes run at {clusters}, gap {d} SDs ({rule})"
    return f"two speeds: no; the best split, {clusters}, is {d} SDs apart ({rule})"


def _pairing_line(s: dict[str, Any]) -> str:
    unpaired = None if s["sd_log"] is None else s["sd_log"] * math.sqrt(2)
    return (
        f"pairing in time: correlation of A and B in the same slot {_f(s['slot_correlation'], 2)}; "
        f"SD of their log ratio {_f(s['sd_slot_log_ratio'])} against {_f(unpaired)} "
        f"unpaired (SD x sqrt 2): pairing neighbours helps as far as the correlation is above 0"
    )
