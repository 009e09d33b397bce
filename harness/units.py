"""One place for units: seconds, bytes, ratios and intervals as people read them.

Every renderer (terminal, markdown, JSON captions, report pages) formats through here, so a
figure reads the same wherever it is printed.
"""

from __future__ import annotations

import math


def fmt_seconds(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(value) >= scale:
            return f"{fmt_number(value / scale)} {unit}"
    return f"{fmt_number(value / 1e-9)} ns"


def fmt_bytes(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{fmt_number(value / scale)} {unit}"
    return f"{value:.0f} B"


def fmt_number(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def fmt_interval(median: float, low: float, high: float) -> str:
    """'47.2 ms (42.1-49.7)': the interval in the median's unit, so it reads at a glance."""
    if median is None or not math.isfinite(median):
        return "-"
    text = fmt_seconds(median)
    unit = text.split()[-1]
    scale = {"s": 1, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}[unit]
    if math.isfinite(low) and math.isfinite(high):
        # never "1.01e+03": an end past 999 of the median's unit is written out
        text += f" ({fmt_number(low / scale)}-{fmt_number(high / scale)})"
    return text


def fmt_ratio(value: float, low: float = math.nan, high: float = math.nan) -> str:
    """'2.03x (1.9-2.1)': a speedup with its interval when it has one."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{fmt_number(value)}x"
    if math.isfinite(low) and math.isfinite(high):
        text += f" ({fmt_number(low)}-{fmt_number(high)})"
    return text


#: Marks on efficiency above 100%, and the footnote each gets.
EFFICIENCY_MARKS = {
    "above 1: noise or an effect to explain": (
        "?",
        "efficiency above 100% whose interval reaches 100% or below: noise, or an effect "
        "to explain; not a finding",
    ),
    "above 1 within one process: run --rounds 3 to call it": (
        "?",
        "efficiency above 100% from one process a side: repeats in one process cannot "
        "call it; run --rounds 3 or more",
    ),
    "superlinear": (
        "^",
        "superlinear: the whole interval of efficiency is above 100%; an effect to explain "
        "(caches, less contention), check it before trusting it",
    ),
}


def fmt_efficiency(value: float, note: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    mark = EFFICIENCY_MARKS.get(note or "", ("", ""))[0]
    if not mark:
        return f"{value:.0%}"
    return f"{value:.1%} {mark}" if round(value * 100) == 100 else f"{value:.0%} {mark}"


def fmt_value(value: float, unit: str = "") -> str:
    """A value in its catalogue unit: seconds and bytes scaled, rates with their unit."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "s":
        return fmt_seconds(value)
    if unit == "B":
        return fmt_bytes(value)
    if unit == "B/s":
        return fmt_bytes(value) + "/s"
    if unit == "1/s":
        return f"{fmt_number(value)}/s"
    return f"{value:.4g}"


def parse_duration(text: str, flag: str) -> float:
    """'90', '90s', '2m', '1m30s' -> seconds; anything else is a ValueError naming `flag`."""
    import re

    raw = text.strip().lower()
    found = re.fullmatch(r"(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", raw)
    if not raw or found is None or not any(found.groups()):
        raise ValueError(f"{flag}: expected seconds such as 90, 90s, 2m or 1m30s, got {text!r}")
    minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    total = 60 * minutes + seconds
    if total <= 0:
        raise ValueError(f"{flag}: must be more than 0 seconds, got {text!r}")
    return total


def parse_fraction(text: str, flag: str) -> float:
    """'5%' or '0.05' -> 0.05, strictly between 0 and 1; a ValueError naming `flag`."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{flag}: expected e.g. 5% or 0.05, got {text!r}") from None
    if not raw.endswith("%") and value >= 1:
        raise ValueError(f"{flag}: {text!r} is ambiguous; write {value:g}% or a fraction")
    if not 0 < value < 1:
        raise ValueError(f"{flag}: must be between 0% and 100%, got {text!r}")
    return value


def fmt_percent(fraction: float) -> str:
    """0.05 -> '5%', 0.001 -> '0.1%', 0.025 -> '2.5%': as many digits as it has, up to 3."""
    return f"{fraction * 100:.3g}%"
