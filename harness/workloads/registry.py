"""The registry of workloads a spec may name.

A spec is data: it names a workload by its registry key and gives parameters, which the
workload's own pydantic model validates. Nothing a spec says is ever imported or evaluated.

Two kinds of workload exist. A *map* workload is a task function mapped over inputs, the
way pools, Dask and Ray are usually driven. A *program* workload (shared counters,
producer/consumer queues) cannot be written as one map: its driver-side `program` uses the
backend's small primitives (`backend.counter`, `backend.queue`, `backend.map`) and returns
a `ProgramResult` the harness checks and records like a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class WorkloadParams(BaseModel):
    """Base of every workload's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class ProgramResult:
    """What one repeat of a program workload produced.

    `outputs` are checked against `expected` exactly like a map batch (a mismatch is an
    error); `metrics` are extra measurements, name -> (value, unit), e.g. the lost updates
    of an unsynchronised counter, which are a finding and not an error.
    """

    outputs: list[Any]
    expected: list[Any]
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """A function every worker can import, plus how to build its inputs and check its outputs.

    `task` takes one input and returns one output; it lives at module level so that pools,
    Dask and Ray can all ship it by reference. `expected` gives the correct outputs cheaply
    (a closed form); without it the harness computes them once in the driver.

    Optional hooks, each general and each off by default:
    - `async_task`: a coroutine variant of `task`, what the asyncio backend runs.
    - `fixture`: a context manager factory `fixture(params)`, entered once per case in the
      case process before the backend starts (an HTTP server, a temporary directory); what
      it yields is passed to `inputs` as a third argument, so tasks reach it through inputs.
    - `tasks_for(params, tasks)`: the batch size, when the workload sizes its own batch from
      its parameters (a fixed total work split into tasks of a swept duration).
    - `digest(output)`: a small comparable summary of one output, for outputs that `==`
      cannot compare or that are too large to keep twice (NumPy arrays, 64 MB buffers).
    - `program`: makes this a program workload (see the module docstring).
    """

    name: str
    description: str
    task: Callable[[Any], Any]
    params: type[WorkloadParams]
    inputs: Callable[..., list[Any]]
    expected: Callable[[Any, Sequence[Any]], list[Any]] | None = None
    unit: str = "task"
    bytes_per_task: Callable[[Any], int] | None = None
    async_task: Callable[[Any], Any] | None = None
    fixture: Callable[[Any], AbstractContextManager[Any]] | None = None
    tasks_for: Callable[[Any, int], int] | None = None
    digest: Callable[[Any], Any] | None = None
    program: Callable[[Any, Any, int, list[Any]], ProgramResult] | None = None

    def make_inputs(self, params: Any, tasks: int, context: Any = None) -> list[Any]:
        """The inputs of one batch; a workload with a fixture also gets what it yielded."""
        if self.fixture is not None:
            return self.inputs(params, tasks, context)
        return self.inputs(params, tasks)


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
    from harness.workloads import (  # noqa: F401
        cpu,
        faults,
        granularity,
        io,
        mixed,
        queues,
        shared,
        transfer,
    )
