"""What a notebook calls: `harness.run`, `harness.load`, `harness.report`.

The CLI calls the same library objects (`runner.Run`, `results.load`, the report writers),
so a run from a notebook has the same run.json, checks and statuses as one from a shell.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness import results, spec, user_code
from harness.execute.runner import Run, RunObserver


def run(
    scenario: str | os.PathLike[str] | dict[str, Any] | spec.Spec,
    *,
    backends: Sequence[str] | None = None,
    workers: Sequence[int] | None = None,
    repeat: int | None = None,
    rounds: int | None = None,
    seed: int | None = None,
    quick: bool = False,
    out: str | os.PathLike[str] | None = None,
    observer: RunObserver | None = None,
    imports: Sequence[str] = (),
) -> pd.DataFrame:
    """Run a scenario (a name, a path, a dict or a Spec) and return its tidy frame.

    A dict's `workload` (and `inputs`, `check`) may be a function object: it is recorded as
    its "module:qualname" and its module is allowed, since the caller imported it already.
    It must live in an importable module, not in __main__ (see `user_code.reference_of`).
    `rounds` (fresh processes per case) defaults to the spec's, one with `quick`; `seed`
    fixes the random order of each round's cases.
    `imports` allows modules named by reference, like `harness run --import`.

    With `out=None` the run lives in a temporary folder that is gone when this returns:
    the frame is all that is kept, and nothing is left under results/.
    """
    allowed = list(imports)
    if isinstance(scenario, dict):
        scenario = _references(scenario, allowed)
    options = spec.RunOptions.parse(
        backends=list(backends) if backends else None,
        workers=list(workers) if workers else None,
        repeat=repeat,
        rounds=rounds,
        seed=seed,
        quick=quick,
        imports=allowed or None,
    )
    loaded = _spec(scenario, options.imports)
    command = f"harness.run({loaded.name!r})"
    if out is not None:
        the_run = Run.create(loaded, options, out=Path(out), command=command)
        the_run.execute(observer)
        return the_run.frame()
    with tempfile.TemporaryDirectory(prefix="harness-run-") as tmp:
        the_run = Run.create(loaded, options, out=Path(tmp), command=command)
        the_run.execute(observer)
        return the_run.frame()


def _references(data: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
    """Function objects in a dict spec become "module:qualname"; their modules are allowed.

    A dict without a description takes its workload's: the first line of the function's
    docstring, else its name (a file's spec must still say what it measures)."""
    data = dict(data)
    if "description" not in data and data.get("workload"):
        data["description"] = _describe(data["workload"])
    for key in ("workload", "inputs", "check"):
        if callable(data.get(key)):
            try:
                ref = user_code.reference_of(data[key])
            except ValueError as exc:
                raise spec.SpecError(f"spec: {key}: {exc}") from None
            data[key] = ref
            allowed.append(user_code.parse(ref).module)
    return data


def _describe(workload: Any) -> str:
    """What a notebook's workload says of itself: its docstring's first line, or its name."""
    if not callable(workload):
        return str(workload)
    doc = (getattr(workload, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else getattr(workload, "__qualname__", repr(workload))


def _spec(
    scenario: str | os.PathLike[str] | dict[str, Any] | spec.Spec, imports: list[str]
) -> spec.Spec:
    if isinstance(scenario, spec.Spec):
        return scenario
    if isinstance(scenario, dict):
        return spec.validate(scenario, "spec", imports)
    return spec.load(scenario, imports)


def load(*paths: str | os.PathLike[str]) -> pd.DataFrame:
    """Runs as one tidy frame: `harness.load("results/*")`."""
    return results.load(*paths)


def report(
    runs: pd.DataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
) -> Path:
    """Draw the report of a frame (from `run` or `load`) or of run folders: a PDF, or an
    HTML file when `path` ends in .html; an extension of no report format is refused
    (`harness.output.formats.for_output`)."""
    from harness.output import reports

    if isinstance(runs, pd.DataFrame):
        data = reports.from_frame(runs)
    else:
        items = [runs] if isinstance(runs, str | os.PathLike) else list(runs)
        data = reports.load_data(results.run_dirs(items))
    return reports.write(data, Path(path))[0]
