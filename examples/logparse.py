"""A realistic task to benchmark: parse web-server access-log lines in pure Python.

`harness run examples/logparse.toml --import logparse` (from this folder) runs it on every
backend. Each task parses one generated chunk of log lines and returns a small summary,
so the work is CPU-bound Python (holds the GIL) and the data sent back is small.
"""

from __future__ import annotations

import re

_LINE = re.compile(
    r'(?P<ip>\S+) \S+ \S+ \[(?P<when>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" '
    r"(?P<status>\d{3}) (?P<size>\d+)"
)
_PATHS = ("/", "/index.html", "/api/items", "/api/items/42", "/static/app.js", "/login")


def chunks(tasks: int, lines: int = 20_000) -> list[tuple[int, int]]:
    """The inputs: one (seed, lines) chunk per task (the spec's `inputs`)."""
    return [(seed, lines) for seed in range(tasks)]


def _generate(seed: int, lines: int) -> list[str]:
    out = []
    for i in range(lines):
        k = (seed * 7919 + i * 104729) % 1_000_003
        status = (200, 200, 200, 304, 404, 500)[k % 6]
        out.append(
            f'10.0.{k % 256}.{(k >> 8) % 256} - - [26/Nov/2026:10:{i % 60:02d}:{k % 60:02d} +0000] '
            f'"GET {_PATHS[k % len(_PATHS)]} HTTP/1.1" {status} {k % 50_000}'
        )
    return out


def parse_chunk(item: tuple[int, int]) -> dict[str, int]:
    """The task: parse one chunk; return requests per status and the bytes served."""
    seed, lines = item
    per_status: dict[str, int] = {}
    served = 0
    for line in _generate(seed, lines):
        match = _LINE.match(line)
        if match is None:
            continue
        status = match["status"]
        per_status[status] = per_status.get(status, 0) + 1
        served += int(match["size"])
    return {"bytes": served, **dict(sorted(per_status.items()))}


def complete(item: tuple[int, int], output: dict[str, int]) -> bool:
    """The check: every line was parsed (no line dropped by the regular expression)."""
    return sum(v for k, v in output.items() if k != "bytes") == item[1]
