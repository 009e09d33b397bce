"""The registry of workloads a spec may name.

A spec is data: it names a workload by its registry key and gives parameters, which the
workload's own pydantic model validates. Built-ins register here; installed packages
register theirs through the entry-point group `harness.workloads` (a name pointing at a
`Workload` or at a plain task function). A spec may also name a user's function as
`module:function`; `harness.user_code` decides whether that module may be imported.

Three kinds of workload exist. A *map* workload is a task function mapped over inputs, the
way pools, Dask and Ray are usually driven. A *program* workload (shared counters,
producer/consumer queues, rounds of tasks contending for a lock) cannot be written as one
map: its driver-side `program` uses the backend's small primitives (`backend.counter`,
`backend.queue`, `backend.lock`, `backend.map`) and returns a `ProgramResult` the harness
checks and records like a batch. A *graph* workload
(`harness.graph`) describes tasks that read other tasks' outputs; each backend runs the
graph its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness import user_code
from harness.graph import Graph


class WorkloadParams(BaseModel):
    """Base of every workload's parameters: unknown keys are errors, not silently ignored.

    Schemas are built on first use (`defer_build`): a case process imports a module of
    several models and validates one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
    #: `verify(input, output) -> bool`: checks each output instead of comparing it with
    #: expected outputs (a user's `check = "module:function"`).
    verify: Callable[[Any, Any], Any] | None = None
    #: Modules the case process imports before its memory baseline, beside the engine: what
    #: the workload's own driver side needs (NumPy to make payloads), so the baseline is
    #: "driver with imports" and the peak above it is the engine's, not an import's.
    imports: tuple[str, ...] = ()
    #: `graph(params, tasks) -> harness.graph.Graph`: makes this a graph workload, which
    #: each backend runs its own way (`Backend.run_graph`); outputs are the graph's, checked
    #: against the graph run in order in the driver.
    graph: Callable[[Any, int], Graph] | None = None
    #: `graph_metrics(outputs, t0)`: extra measurements of one repeat from the graph's raw
    #: outputs and the driver's clock when it was submitted (name -> (value, unit)); called
    #: only where workers share the driver's clock.
    graph_metrics: Callable[[list[Any], float], dict[str, tuple[float, str]]] | None = None

    def make_inputs(self, params: Any, tasks: int, context: Any = None) -> list[Any]:
        """The inputs of one batch; a workload with a fixture also gets what it yielded."""
        if self.fixture is not None:
            return self.inputs(params, tasks, context)
        return self.inputs(params, tasks)


#: The built-ins, named like a plugin's entry points ("module:OBJECT" in this package):
#: each module only defines its Workload objects, and importing it registers nothing. A
#: case process, which needs one workload, imports only that one's module.
BUILTINS = {
    "sum_of_squares": "cpu:SUM_OF_SQUARES",
    "identity": "cpu:IDENTITY",
    "count_loop": "cpu:COUNT_LOOP",
    "sha256": "cpu:SHA256",
    "square": "cpu:SQUARE",
    "lock_order_deadlock": "faults:LOCK_ORDER_DEADLOCK",
    "exit_process": "faults:EXIT_PROCESS",
    "raise_error": "faults:RAISE_ERROR",
    "spin": "granularity:SPIN",
    "sleep": "io:SLEEP",
    "http_get": "io:HTTP_GET",
    "file_io": "io:FILE_IO",
    "cpu_then_wait": "mixed:CPU_THEN_WAIT",
    "producer_consumer": "queues:PRODUCER_CONSUMER",
    "shared_counter": "shared:SHARED_COUNTER",
    "contention": "contention:CONTENTION",
    "echo": "transfer:ECHO",
    "tree_reduce": "graphs:TREE_REDUCE",
    "shuffle": "graphs:SHUFFLE",
    "broadcast": "graphs:BROADCAST",
    "pipeline": "graphs:PIPELINE",
}
#: Built-ins resolved so far, by name (a cache: filled by `get` and `names`).
WORKLOADS: dict[str, Workload] = {}


def _builtin(name: str) -> Workload:
    if name not in WORKLOADS:
        module, attr = BUILTINS[name].split(":")
        WORKLOADS[name] = getattr(import_module(f"{__package__}.{module}"), attr)
    return WORKLOADS[name]


class UserParams(WorkloadParams):
    """A user's `[params]`: free-form, passed on as they are to `inputs(tasks, **params)`."""

    model_config = ConfigDict(extra="allow", frozen=True)


def get(name: str, inputs: str = "", check: str = "") -> Workload:
    """A workload by name: built-in, registered by an installed package, or a user's
    `module:function` (with optional `inputs`/`check` references). References are imported
    without asking here: whether they may be is decided when the spec is validated."""
    if name in BUILTINS and not (inputs or check):
        return _builtin(name)
    if user_code.is_reference(name):
        found = user_code.resolve(name, callable_only=False)
        if isinstance(found, Workload):  # a whole workload of your own, a graph for one
            return replace(found, name=name)
        if not callable(found):
            raise ValueError(f"{name!r} is a {type(found).__name__}, not a function")
        return _user(name, found, inputs, check)
    registered = user_code.entry_points()
    if name in registered and name not in BUILTINS:
        obj: Any = user_code.resolve(registered[name], callable_only=False)
        if isinstance(obj, Workload):
            return replace(obj, name=name)
        if callable(obj):
            return _user(name, obj, inputs, check)
        raise ValueError(f"entry point {name} = {registered[name]}: not a Workload or function")
    if name in BUILTINS:
        raise ValueError(f"inputs/check are for your own workloads, not the built-in {name!r}")
    raise KeyError(f"unknown workload {name!r} (known: {', '.join(names())})")


def _user(name: str, task: Callable[[Any], Any], inputs: str, check: str) -> Workload:
    make = user_code.resolve(inputs) if inputs else None
    verify = user_code.resolve(check) if check else None

    def build(params: UserParams, tasks: int) -> list[Any]:
        if make is None:
            return list(range(tasks))
        made = make(tasks, **params.model_dump())
        if isinstance(made, str | bytes) or not hasattr(made, "__len__"):
            raise TypeError(f"inputs {inputs} returned a {type(made).__name__}, not a list")
        return list(made)

    return Workload(
        name=name,
        description=(task.__doc__ or "").strip().split("\n")[0] or f"your own {name}",
        task=task,
        params=UserParams,
        inputs=build,
        verify=verify,
    )


def names() -> list[str]:
    """Built-ins and the workloads installed packages register."""
    return sorted(set(BUILTINS) | set(user_code.entry_points()))
