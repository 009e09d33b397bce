"""The registry of workloads a spec may name.

A spec is data: it names a workload by its registry key and gives parameters, which the
workload's own pydantic model validates. Nothing a spec says is ever imported or evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class WorkloadParams(BaseModel):
    """Base of every workload's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Workload:
    """A function every worker can import, plus how to build its inputs and check its outputs.

    `task` takes one input and returns one output; it lives at module level so that pools,
    Dask and Ray can all ship it by reference. `expected` gives the correct outputs cheaply
    (a closed form); without it the harness computes them once in the driver.
    """

    name: str
    description: str
    task: Callable[[Any], Any]
    params: type[WorkloadParams]
    inputs: Callable[[Any, int], list[Any]]
    expected: Callable[[Any, Sequence[Any]], list[Any]] | None = None
    unit: str = "task"
    bytes_per_task: Callable[[Any], int] | None = None


WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} registered twice")
    WORKLOADS[workload.name] = workload
    return workload


def get(name: str) -> Workload:
    _load_builtin()
    try:
        return WORKLOADS[name]
    except KeyError:
        known = ", ".join(sorted(WORKLOADS))
        raise KeyError(f"unknown workload {name!r} (known: {known})") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(WORKLOADS)


def _load_builtin() -> None:
    # Importing the modules registers their workloads; done lazily to keep imports cheap.
    from harness.workloads import cpu, faults, io  # noqa: F401
