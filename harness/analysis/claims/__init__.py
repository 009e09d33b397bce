"""The article's claims beside this machine's measurements, from result frames only.

`claims_table(df)` returns one row per claim of the article (its comparison table, its
example timings, its race-condition example): what the article says, what was measured
here (and in which scenario), and whether the measurement supports the claim on this
machine. A claim whose scenario is not among the runs says so ("no data") rather than
guessing. `harness claims RUN_DIR...` prints it with `advice.recommendations`; the report
can carry the same frame as a page.

Here: the table and the list of claims. Each claim's measurement lives with its group:
`costs` (memory and creation of a worker), `communication` (moving data), `parallelism`
(CPU work, the GIL and the article's timed examples, asyncio), `shared_state` (the race and
its lock); `rules` holds the verdicts and how an interval decides them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from harness.analysis import advice
from harness.analysis.claims.communication import _communication
from harness.analysis.claims.costs import _creation, _memory
from harness.analysis.claims.parallelism import (
    _asyncio,
    _cpu_example,
    _cpu_parallelism,
    _gil_example,
    _io_example,
)
from harness.analysis.claims.rules import (
    DIFFERS,
    NO_BASIS,
    NO_DATA,
    NOT_MEASURED,
    PARTLY,
    SUPPORTS,
    UNDECIDED,
    Finding,
)
from harness.analysis.claims.shared_state import _lock_fixes, _race

__all__ = [
    "CLAIMS",
    "COLUMNS",
    "DIFFERS",
    "NO_BASIS",
    "NO_DATA",
    "NOT_MEASURED",
    "PARTLY",
    "SUPPORTS",
    "UNDECIDED",
    "Claim",
    "Finding",
    "claims_table",
]


COLUMNS = ["aspect", "article", "measured", "figure", "verdict", "basis", "scenario", "python"]


@dataclass
class Claim:
    aspect: str
    article: str
    #: Scenarios that can answer, best first ("a|b"), or all that are present together
    #: ("a+b"); empty: no benchmark can.
    scenario: str
    measure: Callable[[pd.DataFrame], Finding | None] | None


def claims_table(df: pd.DataFrame) -> pd.DataFrame:
    """The article's comparison table and example timings beside the measured values.

    Columns: aspect, article (what it claims), measured (this machine's numbers), figure
    (the figure and interval that decided), verdict (supports, partly, differs, not decided,
    no basis, no data, not measured), basis (the rule applied), scenario (which answered),
    python (the interpreter the verdict holds for). Each claim reads the first of its
    scenarios present in `df`. Runs of several interpreters get a verdict per interpreter
    (the GIL claims may hold on one build and not on another), next to each other; a claim
    no interpreter has data for is one row.
    """
    pythons = sorted(df["python"].astype(str).unique()) if "python" in df and len(df) else []
    if len(pythons) <= 1:
        return _claims_rows(df, pythons[0] if pythons else "")
    parts = {py: _claims_rows(df[df["python"].astype(str) == py], py) for py in pythons}
    rows = []
    for i in range(len(CLAIMS)):
        found = [part.iloc[i].to_dict() for part in parts.values()]
        measured = [r for r in found if r["verdict"] not in (NO_DATA, NOT_MEASURED)]
        if measured:
            rows += measured
        else:
            rows.append({**found[0], "python": ""})
    return pd.DataFrame(rows, columns=COLUMNS).reset_index(drop=True)


def _claims_rows(df: pd.DataFrame, python: str) -> pd.DataFrame:
    with advice.same_frames():  # each scenario's case table is made once for all its claims
        return _rows_of_claims(df, python)


def _rows_of_claims(df: pd.DataFrame, python: str) -> pd.DataFrame:
    rows = []
    scenarios = {name: part for name, part in df.groupby("scenario", observed=True)}
    for claim in CLAIMS:
        found: Finding | None = None
        source = claim.scenario.replace("|", " or ") or "-"
        if claim.measure is not None and "+" in claim.scenario:  # every one present answers
            present = [n for n in claim.scenario.split("+") if n in scenarios]
            source = " + ".join(present) or claim.scenario.replace("+", " or ")
            part = pd.concat([scenarios[n] for n in present]) if present else None
            found = claim.measure(part) if part is not None else None
        elif claim.measure is not None:
            present = [n for n in claim.scenario.split("|") if n in scenarios]
            found = claim.measure(scenarios[present[0]]) if present else None
            if found is not None:  # name the scenario that answered, not every candidate
                source = present[0]
        if found is None:
            verdict = NO_DATA if claim.measure is not None else NOT_MEASURED
            found = Finding("-", verdict, "-", "-")
        rows.append(
            {
                "aspect": claim.aspect,
                "article": claim.article,
                "measured": found.measured,
                "figure": found.figure,
                "verdict": found.verdict,
                "basis": found.basis,
                "scenario": source,
                "python": python if found.verdict not in (NO_DATA, NOT_MEASURED) else "",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


CLAIMS = [
    Claim(
        "memory per unit", "threads ~8 KB, processes ~30-50 MB", "memory|startup|cpu|io", _memory
    ),
    Claim(
        "creation time",
        "threads fast (ms), processes slow (100s of ms)",
        "startup|memory|cpu|io",
        _creation,
    ),
    Claim(
        "communication",
        "threads fast (shared memory), processes slow (serialization)",
        "transfer+broadcast+shuffle",
        _communication,
    ),
    Claim(
        "CPU parallelism",
        "threads limited (GIL), processes true parallelism",
        "gil|cpu",
        _cpu_parallelism,
    ),
    Claim("synchronization", "threads complex (locks, races), processes simple", "", None),
    Claim("debugging", "threads difficult, processes easier", "", None),
    Claim("example: I/O", "sequential ~6 s, threading ~2 s (3 URLs)", "io-http|io", _io_example),
    Claim("example: CPU", "sequential ~4 s, multiprocessing ~1 s (4 cores)", "cpu", _cpu_example),
    Claim("example: GIL", "single thread ~5 s, two threads ~5 s (not faster)", "gil", _gil_example),
    Claim(
        "example: race",
        "counter expected 200,000, actual ~150,000 (lost updates)",
        "shared-state",
        _race,
    ),
    Claim("example: lock", "with a lock the counter is correct", "shared-state", _lock_fixes),
    Claim("asyncio", "consider asyncio for many I/O operations", "io-http|io", _asyncio),
]
