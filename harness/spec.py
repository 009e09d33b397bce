"""Scenario specs: TOML files validated by pydantic, expanded into a matrix of cases.

A spec is data. It names a workload from the registry and backends by name; unknown keys,
wrong types and impossible values are errors that name the file and the field.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from harness import backends, user_code, workloads
from harness.case import PYTHON_VERSION, Case  # noqa: F401 (Case re-exported)
from harness.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The shipped scenarios: package data, so an installed wheel has them too (the checkout's
#: top-level `scenarios` is a symlink to this folder).
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

Scalar = bool | int | float | str


class SpecError(InputError):
    """Bad input in a spec: the message names the file and the field."""


#: A node sweep's kind: the same tasks at every node count, or tasks growing with the nodes.
NodeScaling = Literal["strong", "weak"]


class QuickSettings(BaseModel):
    """Smaller sizes for smoke runs (`--quick`); each key overrides the spec's own."""

    model_config = ConfigDict(extra="forbid")

    tasks: int | None = Field(default=None, ge=1)
    params: dict[str, Scalar] = {}
    sweep: dict[str, list[Scalar]] = {}
    workers: list[int] | None = None
    repeat: int | None = Field(default=None, ge=1)
    warmup: int | None = Field(default=None, ge=0)
    #: A smoke run is one process a case: its figures say "within 1 process".
    rounds: int = Field(default=1, ge=1)


#: With a budget, a case needs no more processes once its interval's half-width is this
#: fraction of its estimate (a speedup's, or the wall time's where there is no speedup).
DEFAULT_PRECISION = 0.05

#: Fresh case processes per case by default: the process is the sampling unit, and three
#: is the fewest with which an interval or a test sees the spread between processes
#: with a degree of freedom to spare.
DEFAULT_ROUNDS = 3


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    workload: str = Field(
        description="a registered workload, or your own module:function (needs --import)"
    )
    inputs: str | None = Field(
        default=None, description="module:function(tasks, **params) -> the list of inputs"
    )
    check: str | None = Field(
        default=None, description="module:function(input, output) -> True when output is right"
    )
    tasks: int = Field(ge=1, description="tasks in one repeat")
    params: dict[str, Scalar] = {}
    sweep: dict[str, list[Scalar]] = Field(
        default={}, description="parameters whose values each make their own cases"
    )
    backends: Annotated[
        list[str],
        # "all" is resolved before the field is a list (`_every_backend`); the schema says so
        WithJsonSchema(
            {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"const": "all"}]}
        ),
    ] = Field(
        default_factory=lambda: list(backends.DEFAULT),
        description='backend names, or "all": every registered one that can run the workload',
    )
    workers: list[int] = Field(default=[1, 2], min_length=1)
    nodes: list[int] = Field(
        default=[],
        description="on a cluster given by address: node counts the dask and ray cases' "
        "workers span, each a case of `workers` workers per node (needs --dask-address or "
        "--ray-address)",
    )
    node_scaling: NodeScaling = Field(
        default="strong",
        description='with `nodes`: "strong" keeps `tasks` at every node count, "weak" runs '
        "`tasks` per node",
    )
    repeat: int = Field(default=5, ge=1)
    warmup: int = Field(default=1, ge=0)
    rounds: int = Field(
        default=DEFAULT_ROUNDS,
        ge=1,
        description="fresh case processes per case (rounds), each with its warm-up and repeats",
    )
    timeout_s: float = Field(default=600.0, gt=0)
    budget_s: float | None = Field(
        default=None,
        gt=0,
        description="seconds the whole run may take: after `rounds` processes a case, more "
        "fresh processes go to the cases whose intervals are widest until each reaches "
        "`precision` or the budget is spent",
    )
    precision: float = Field(
        default=DEFAULT_PRECISION,
        gt=0,
        lt=1,
        description="with a budget: the half-width (a fraction of the estimate) at which a "
        "case's interval needs no more processes",
    )
    reference: bool = Field(
        default=True,
        description="time the sequential loop on the same inputs beside each repeat, in the "
        "same process, for speedups paired in time",
    )
    backend_options: dict[str, dict[str, Scalar | list[Scalar]]] = Field(
        default={}, description="per backend; a list of values makes a case per value"
    )
    quick: QuickSettings = QuickSettings()
    python: list[str] = Field(
        default=[],
        description='Python versions to run the case processes under, e.g. ["3.12", '
        '"3.13t"]; an interpreter by path only with --python',
    )

    @field_validator("python")
    @classmethod
    def _python_versions(cls, value: list[str]) -> list[str]:
        """Versions only: a spec is data and never names a program to run (--python may)."""
        for name in value:
            if not PYTHON_VERSION.match(name):
                raise ValueError(
                    f"{name!r} is not a version such as 3.12 or 3.13t (a spec names versions; "
                    "an interpreter by path goes on the command line, --python PATH)"
                )
        return list(dict.fromkeys(value))

    @field_validator("workers", "nodes")
    @classmethod
    def _positive_workers(cls, value: list[int], info: ValidationInfo) -> list[int]:
        if any(w < 1 for w in value):
            raise ValueError(f"every {info.field_name} value must be at least 1")
        return sorted(set(value))

    @field_validator("backends", mode="before")
    @classmethod
    def _every_backend(cls, value: Any, info: ValidationInfo) -> Any:
        """`backends = "all"`: every registered backend that can run the workload, so that a
        scenario meant for every engine need not list them (nor miss a new one)."""
        if value != "all":
            return value
        name = info.data.get("workload")
        if name is None:  # the workload's own error says why
            return list(backends.DEFAULT)
        workload = workloads.get(name)
        return list(backends.every(workload.async_task is not None and workload.program is None))

    @field_validator("backends")
    @classmethod
    def _known_backends(cls, value: list[str]) -> list[str]:
        for name in value:
            if why := backends.why_unknown(name):
                raise ValueError(why)
        if not value:
            raise ValueError("at least one backend")
        return list(dict.fromkeys(value))

    @field_validator("workload", "inputs", "check")
    @classmethod
    def _known_workload(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A registered name, or a reference the caller allowed (`--import`) that resolves."""
        if value is None:
            return None
        if user_code.is_reference(value):
            imports = (info.context or {}).get("imports", ())
            found = user_code.resolve(value, imports, callable_only=False)
            # A workload may be a function to map, or a whole Workload (a graph of your own).
            if not callable(found) and not (
                info.field_name == "workload" and isinstance(found, workloads.Workload)
            ):
                raise ValueError(f"{value!r} is a {type(found).__name__}, not a function")
            return value
        if info.field_name != "workload":
            raise ValueError(f"{value!r} is not a reference: write module:function")
        if value not in workloads.names():
            raise ValueError(
                f"unknown workload {value!r} (known: {', '.join(workloads.names())}; "
                "or your own as module:function)"
            )
        return value

    def workload_obj(self) -> workloads.Workload:
        return workloads.get(self.workload, self.inputs or "", self.check or "")

    def code(self) -> list[str]:
        """Files/folders of the user's own code that workers must be able to import."""
        return user_code.code_units([self.workload, self.inputs or "", self.check or ""])

    @model_validator(mode="after")
    def _check_params_and_options(self, info: ValidationInfo) -> Spec:
        if not self.backends:  # the default is empty only when nothing is registered
            raise ValueError("; ".join(backends.problems()))
        workload = self.workload_obj()
        for params in self.param_sets(quick=False) + self.param_sets(quick=True):
            workload.params(**params)
        for name, options in self.backend_options.items():
            if why := backends.why_unknown(name):
                raise ValueError(f"backend_options: {why}")
            for key, value in options.items():
                if key == "nodes" and backends.get(name).address_flag:
                    raise ValueError(
                        f"backend_options.{name}.nodes: set by a node sweep, the spec's "
                        "`nodes` (or --nodes), which also records it"
                    )
                if isinstance(value, list) and not value:
                    raise ValueError(f"backend_options.{name}.{key}: give at least one value")
            for combo in option_sets(options):
                # The context carries --import: an option may name code (executor's class).
                model = backends.get(name).options_model
                try:
                    model.model_validate(combo, context=info.context)
                except ValidationError as exc:
                    where = f"backend_options.{name}."
                    raise ValueError("; ".join(where + m for m in _messages(exc))) from None
        check_backends_run(self.workload, self.backends, "backends")
        for key, values in {**self.sweep, **self.quick.sweep}.items():
            if not values:
                raise ValueError(f"sweep.{key}: give at least one value")
        return self

    def param_sets(self, quick: bool) -> list[dict[str, Scalar]]:
        """Every combination of the sweep, each merged over the fixed parameters."""
        params = {**self.params, **(self.quick.params if quick else {})}
        sweep = {**self.sweep, **(self.quick.sweep if quick else {})}
        keys = sorted(sweep)
        return [
            {**params, **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*(sweep[k] for k in keys))
        ]


def check_backends_run(workload_name: str, names: list[str], field_name: str) -> None:
    """A backend that runs coroutines needs the workload's `async_task`; say so by field."""
    workload = workloads.get(workload_name)
    for name in names:
        if backends.get(name).task_kind == "async" and (
            workload.async_task is None or workload.program is not None
        ):
            raise ValueError(
                f"{field_name}: backend {name!r} runs coroutines, and workload "
                f"{workload_name!r} has no async_task"
            )


def option_sets(options: dict[str, Any]) -> list[dict[str, Any]]:
    """Backend options with list values swept: one dict of scalars per combination."""
    keys = sorted(options)
    values = [v if isinstance(v, list) else [v] for v in (options[k] for k in keys)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


#: Field of RunOptions -> the command-line flag that sets it, for error messages.
FLAGS = {
    "backends": "--backends",
    "workers": "--workers",
    "nodes": "--nodes",
    "node_scaling": "--node-scaling",
    "repeat": "--repeat",
    "rounds": "--rounds",
    "seed": "--seed",
    "quick": "--quick",
    "timeout_s": "--timeout",
    "sample_interval_s": "--sample-interval",
    "addresses": "",  # its messages name the backend's own flag
    "imports": "--import",
    "python": "--python",
    "budget_s": "--budget",
    "precision": "--precision",
}


class RunOptions(BaseModel):
    """What a command line (or `harness.run`) changes of a spec, validated like the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backends: list[str] | None = Field(default=None, min_length=1)
    workers: list[int] | None = Field(default=None, min_length=1)
    #: Node counts of a sweep on a cluster given by address (`--nodes`), over the spec's
    #: `nodes`; `workers` is then per node.
    nodes: list[int] | None = Field(default=None, min_length=1)
    node_scaling: NodeScaling | None = None
    repeat: int | None = Field(default=None, ge=1)
    #: None: the spec's `rounds` (its `quick.rounds` with --quick).
    rounds: int | None = Field(default=None, ge=1)
    #: Seed of the order the cases of each round run in; None: drawn, and recorded.
    seed: int | None = Field(default=None, ge=0)
    quick: bool = False
    timeout_s: float | None = Field(default=None, gt=0)
    sample_interval_s: float = Field(default=0.05, gt=0)
    #: backend -> address of an existing cluster to run its cases on (its `address_flag`).
    addresses: dict[str, str] = {}
    #: Modules of the user's own code the harness may import (`--import`, repeatable).
    imports: list[str] = []
    #: Interpreters for the case processes, by path or version (`--python`): overrides the
    #: spec's `python`.
    python: list[str] | None = Field(default=None, min_length=1)
    #: Seconds the run may take (`--budget`), over the spec's `budget_s`.
    budget_s: float | None = Field(default=None, gt=0)
    #: The half-width a case's interval must reach before the budget stops buying it
    #: processes (`--precision`), over the spec's.
    precision: float | None = Field(default=None, gt=0, lt=1)

    @field_validator("python")
    @classmethod
    def _interpreters(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for name in value:
            if not PYTHON_VERSION.match(name) and not os.path.isfile(name):
                raise ValueError(f"{name!r} is neither an interpreter file nor a version (3.12)")
        return list(dict.fromkeys(value))

    @field_validator("backends")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for name in value:
            if why := backends.why_unknown(name):
                raise ValueError(why)
        return list(dict.fromkeys(value))

    @field_validator("workers", "nodes")
    @classmethod
    def _positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(w < 1 for w in value):
            raise ValueError("every value must be at least 1")
        return value

    @field_validator("imports")
    @classmethod
    def _modules(cls, value: list[str]) -> list[str]:
        for name in value:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a module name (e.g. mywork or mypkg.sub)")
        return list(dict.fromkeys(value))

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: dict[str, str]) -> dict[str, str]:
        """Each address as its backend takes it; the message names the backend's flag."""
        able = backends.with_address_flag()
        for name, address in value.items():
            if name not in able:
                raise ValueError(
                    f"backend {name!r} does not run on a cluster by address "
                    f"(those that do: {', '.join(able) or 'none'})"
                )
            try:
                able[name].check_address(address)
            except ValueError as exc:
                raise ValueError(f"{able[name].address_flag}: {exc}") from None
        return value

    def backend_options(self) -> dict[str, dict[str, Any]]:
        """The addresses as the backends take them."""
        return {name: {"address": address} for name, address in self.addresses.items()}

    @classmethod
    def parse(cls, **values: Any) -> RunOptions:
        """Validate; every error at once, each naming its flag."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise SpecError("; ".join(_messages(exc, FLAGS))) from None


def cases(loaded: Spec, options: RunOptions, pythons: list[str] | None = None) -> list[Case]:
    """The matrix of a spec under a command line's overrides, once per interpreter label."""
    return expand(
        loaded,
        quick=options.quick,
        backends_filter=options.backends,
        workers_override=options.workers,
        repeat=options.repeat,
        timeout_s=options.timeout_s,
        backend_options=options.backend_options(),
        pythons=pythons,
    )


def rounds(loaded: Spec, options: RunOptions) -> int:
    """Case processes per case: --rounds, else the spec's (its quick settings' with --quick)."""
    if options.rounds is not None:
        return options.rounds
    return loaded.quick.rounds if options.quick else loaded.rounds


def budget(loaded: Spec, options: RunOptions) -> float | None:
    """Seconds the run may take, or None for exactly `rounds` processes a case.

    --quick is a smoke run and spends none; --rounds alone asks for an exact number of
    processes, so the spec's budget yields to it (--budget with --rounds: at least that many).
    """
    if options.quick:
        return None
    if options.budget_s is not None:
        return options.budget_s
    return None if options.rounds is not None else loaded.budget_s


def precision(loaded: Spec, options: RunOptions) -> float:
    return options.precision if options.precision is not None else loaded.precision


def load(path_or_name: str | os.PathLike[str], imports: list[str] | None = None) -> Spec:
    """Load a spec from a path, or by scenario name from the scenarios folder; `imports`
    are the modules of the user's own code the caller allows it to import (`--import`)."""
    path = resolve(path_or_name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    return validate(data, str(path), imports)


def validate(data: dict[str, Any], where: str, imports: list[str] | None = None) -> Spec:
    """A spec from plain data; every error at once, each naming its field."""
    try:
        return Spec.model_validate(data, context={"imports": list(imports or ())})
    except ValidationError as exc:
        raise SpecError(f"{where}: " + "; ".join(_messages(exc))) from None


def json_schema() -> dict[str, Any]:
    """The spec's JSON Schema: the fields, types and bounds `load` enforces.

    Names that only the registries know (workloads, backends) are listed as enums, so an
    editor flags a typo before a run does.
    """
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "harness scenario spec"
    props = schema["properties"]
    props["workload"]["anyOf"] = [
        {"enum": workloads.names()},
        {"pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", "description": "module:function"},
    ]
    props["backends"]["items"] = {"enum": list(backends.NAMES), "type": "string"}
    return schema


def resolve(path_or_name: str | os.PathLike[str]) -> Path:
    text = str(path_or_name)
    candidate = Path(text)
    if text.endswith(".toml") or os.sep in text:
        if not candidate.is_file():
            raise SpecError(f"{text}: no such spec file")
        return candidate
    named = SCENARIO_DIR / f"{text}.toml"
    if not named.is_file():
        known = ", ".join(available()) or "none"
        raise SpecError(f"unknown scenario {text!r} (known: {known})")
    return named


def catalogue() -> list[dict[str, Any]]:
    """Every known scenario, as `harness list` shows it: name, workload, backends and
    description, or the error that keeps a spec from loading (one bad file never hides the
    others)."""
    entries = []
    for name in available():
        try:
            s = load(name)
        except SpecError as exc:
            entries.append(
                {"name": name, "workload": "", "backends": [], "description": "", "error": str(exc)}
            )
            continue
        entries.append(
            {
                "name": s.name,
                "workload": s.workload,
                "backends": list(s.backends),
                "description": s.description,
                "error": "",
            }
        )
    return entries


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def _messages(exc: ValidationError, names: dict[str, str] | None = None) -> list[str]:
    """One 'field: message' per error; `names` renames fields (to flags, for the CLI)."""
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if names and loc and loc[0] in names:
            loc = [names[loc[0]]]
        where = ".".join(loc)
        message = error["msg"].removeprefix("Value error, ")
        ctx = error.get("ctx", {})
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "missing field"
        elif error["type"] == "greater_than_equal":
            message = f"must be at least {ctx.get('ge')}"
        elif error["type"] == "greater_than":
            message = "must be positive" if ctx.get("gt") == 0 else f"must exceed {ctx.get('gt')}"
        out.append(f"{where}: {message}" if where else message)
    return list(dict.fromkeys(out))


def expand(
    spec: Spec,
    *,
    quick: bool = False,
    backends_filter: list[str] | None = None,
    workers_override: list[int] | None = None,
    repeat: int | None = None,
    timeout_s: float | None = None,
    backend_options: dict[str, dict[str, Any]] | None = None,
    pythons: list[str] | None = None,
) -> list[Case]:
    """The matrix: scenario x backend x workers x parameter set (x interpreter, when there
    are several), sequential once per set and interpreter.

    A backend given a cluster address runs under the harness's own Python only: its workers
    are the cluster's, whatever Python the driver would have."""
    q = spec.quick if quick else QuickSettings()
    workers = workers_override or q.workers or spec.workers
    chosen = backends_filter or spec.backends
    if backends_filter:
        try:
            check_backends_run(spec.workload, backends_filter, "--backends")
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    options = {**spec.backend_options, **(backend_options or {})}
    workload = spec.workload_obj()
    code = spec.code()
    cases = []
    for params in spec.param_sets(quick):
        tasks = q.tasks or spec.tasks
        if workload.tasks_for is not None:
            tasks = workload.tasks_for(workload.params(**params), tasks)
        for backend in chosen:
            scalable = backends.get(backend).scalable
            swept = sorted(k for k, v in options.get(backend, {}).items() if isinstance(v, list))
            remote = bool(options.get(backend, {}).get("address"))
            labels = [""] if remote or not pythons else pythons
            for opts, python, w in itertools.product(
                option_sets(options.get(backend, {})), labels, workers if scalable else [1]
            ):
                variant = ",".join(f"{k}={opts[k]}" for k in swept)
                cases.append(
                    Case(
                        scenario=spec.name,
                        workload=spec.workload,
                        backend=backend,
                        workers=w,
                        tasks=tasks,
                        params=params,
                        repeat=repeat or q.repeat or spec.repeat,
                        warmup=q.warmup if q.warmup is not None else spec.warmup,
                        timeout_s=timeout_s or spec.timeout_s,
                        backend_options=opts,
                        variant=variant,
                        inputs=spec.inputs or "",
                        check=spec.check or "",
                        code=code,
                        python=python,
                        python_in_id=len(labels) > 1,
                        reference=spec.reference and not backends.get(backend).baseline,
                    )
                )
    return cases
