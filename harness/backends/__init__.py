"""Backends by name, registered through the entry-point group `harness.backends`.

Built-ins and third-party backends register the same way: a module with a `Backend`
subclass, and one line in the package's metadata naming it, e.g. in pyproject.toml

    [project.entry-points."harness.backends"]
    pool = "my_package.pool:PoolBackend"

Entry points are read from the installed distributions (importlib.metadata) the first time
a name is asked for, and a class is imported only when needed. Backend modules import their
engines inside `start`, so listing backends never imports Ray. An entry point that cannot be
loaded is left out and reported by `problems()`; it never breaks the others. A built-in
name needs no reading at all (`BUILTINS`): a case process asks for one backend by name,
and the scan (each entry point's distribution name and version parsed from its METADATA)
cost each case ~25 ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.backends.base import Backend, BackendOptions, Batch, WorkerCrashed

GROUP = "harness.backends"
#: The distribution whose entry points are the built-ins: they win a clash of names.
BUILTIN_DIST = "concurrency-harness"
#: The built-ins' entry points, exactly as pyproject.toml declares them (a test holds the
#: two equal): a built-in name always wins, so it resolves from here without a scan.
BUILTINS = {
    "sequential": "harness.backends.sequential:SequentialBackend",
    "threads": "harness.backends.threads:ThreadsBackend",
    "processes": "harness.backends.processes:ProcessesBackend",
    "dask": "harness.backends.dask:DaskBackend",
    "ray": "harness.backends.ray:RayBackend",
    "asyncio": "harness.backends.asyncio:AsyncioBackend",
    "loky": "harness.backends.loky:LokyBackend",
    "executor": "harness.backends.executor:ExecutorBackend",
}
#: A backend's name: lowercase, as package and entry-point names are, hyphens allowed
#: (`my-pool`); it appears in case ids, columns, file names and on the command line.
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Registered:
    """One entry point of the group: a backend name and where its class lives."""

    name: str
    value: str  # "module:Class"
    dist: str  # "name version" of the distribution that declares it

    @property
    def builtin(self) -> bool:
        return self.dist.split(" ")[0] == BUILTIN_DIST


_entries: dict[str, Registered] | None = None
_classes: dict[str, type[Backend]] = {}
#: name -> why its class could not be loaded
_failed: dict[str, str] = {}
#: entry points left out when reading them (a bad name, a name taken by another package)
_skipped: list[str] = []


def _scan() -> dict[str, Registered]:
    """Every entry point of the group once; a built-in name wins over a plugin's."""
    global _entries
    if _entries is not None:
        return _entries
    from importlib import metadata  # only for a scan: ~35 ms where nothing imported it yet

    found: list[Registered] = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else "?"
        found.append(Registered(ep.name, ep.value, origin))
    found.sort(key=lambda r: (not r.builtin, r.name))
    entries: dict[str, Registered] = {}
    for entry in found:
        if not _NAME.match(entry.name):
            _skipped.append(
                f"backend {entry.name!r} of {entry.dist} ignored: name it with lowercase "
                "letters, digits, - and _, starting with a letter (e.g. 'my-pool')"
            )
        elif entry.name in entries:
            _skipped.append(
                f"backend {entry.name!r} of {entry.dist} ignored: "
                f"{entries[entry.name].dist} registers it too"
            )
        else:
            entries[entry.name] = entry
    _entries = entries
    return entries


def _load(entry: Registered) -> type[Backend]:
    """The class an entry point names, checked to be a usable backend (else ValueError)."""
    module_name, _, attr = entry.value.partition(":")
    obj: Any = import_module(module_name.strip())
    for part in attr.strip().split(".") if attr else []:
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        raise ValueError(f"{entry.value} is not a harness Backend subclass")
    if getattr(obj, "name", entry.name) != entry.name:
        raise ValueError(f"{entry.value} calls itself {obj.name!r}, not {entry.name!r}")
    obj.name = entry.name
    if obj.address_flag and "address" not in obj.options_model.model_fields:
        raise ValueError(f"{entry.value} has an address_flag but no `address` option")
    return obj


def _entry(name: str) -> Registered | None:
    """Where `name`'s class lives: a built-in without reading any metadata (it would win
    the scan anyway), else from the scan."""
    if name in BUILTINS:
        return Registered(name, BUILTINS[name], f"{BUILTIN_DIST} {__version__}")
    return _scan().get(name)


def _try(name: str) -> type[Backend] | None:
    if name in _classes:
        return _classes[name]
    entry = _entry(name)
    if entry is None or name in _failed:
        return None
    try:
        cls = _load(entry)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
        detail = str(exc).strip().splitlines()
        why = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
        _failed[name] = f"backend {name!r} of {entry.dist} cannot be loaded: {why}"
        return None
    _classes[name] = cls
    return cls


def reload() -> None:
    """Read the entry points again (after installing a package into this process)."""
    global _entries
    _entries = None
    _classes.clear()
    _failed.clear()
    _skipped.clear()


def names() -> tuple[str, ...]:
    """Every backend that loads, in display order (each class's `display_order`)."""
    return tuple(sorted((n for n in _scan() if _try(n) is not None), key=display_rank))


def get(name: str) -> type[Backend]:
    """The backend class registered as `name`; KeyError naming the known ones otherwise."""
    cls = _try(name)
    if cls is None:
        raise KeyError(why_unknown(name))
    return cls


def why_unknown(name: str) -> str | None:
    """Why `name` is no usable backend, in one line for the user; None when it is one."""
    if _try(name) is not None:
        return None
    if name in _failed:
        return _failed[name]
    known = ", ".join(names())
    if not known:
        return f"unknown backend {name!r}: no backends are registered ({_NOTHING})"
    return f"unknown backend {name!r} (known: {known})"


_NOTHING = (
    f"the installed harness metadata has no {GROUP!r} entry points; reinstall it: "
    "make .venv/.installed-stamp, or pip install -e ."
)


def problems() -> list[str]:
    """One line per entry point of the group that could not be used, after trying them all."""
    if not names():
        return [f"no backends are registered: {_NOTHING}"]
    return [*_skipped, *(_failed[n] for n in sorted(_failed))]


def origin(name: str) -> str:
    """The distribution ("name version") that registered a backend."""
    return _scan()[name].dist


def is_builtin(name: str) -> bool:
    """Whether the harness itself registered the backend (not a plugin package)."""
    return _scan()[name].builtin


def baseline() -> str:
    """The backend speedups are measured against: the built-in that declares itself the
    baseline (`Backend.baseline`). Built-ins only, so a plugin cannot move every speedup;
    reading it imports one small module, not the registry's entry points."""
    return next(name for name in BUILTINS if get(name).baseline)


def every(runs_coroutines: bool) -> tuple[str, ...]:
    """Every registered backend a scenario of "all" backends runs on: the default ones,
    and those that run coroutines when the workload has them; plugins included, which is
    how a new backend joins every such scenario by its entry point alone."""
    kinds = ("sync", "async") if runs_coroutines else ("sync",)
    return tuple(n for n in names() if get(n).default_member and get(n).task_kind in kinds)


def default() -> tuple[str, ...]:
    """What a spec runs on when it names no backends: those that run any workload's plain
    task. (asyncio needs a coroutine variant, so a spec opts in by naming it; so does one
    for `executor`, whose engine the spec names.)"""
    return every(runs_coroutines=False)


def with_address_flag() -> dict[str, type[Backend]]:
    """Backends that can run on an existing cluster given by address, by name."""
    return {n: get(n) for n in names() if get(n).address_flag}


def with_launcher() -> tuple[str, ...]:
    """Backends that can start a local multi-process cluster (`harness cluster up NAME`)."""
    return tuple(n for n in names() if get(n).launch_cluster is not None)


def packages() -> tuple[str, ...]:
    """Distributions the registered backends ask to be recorded with a run."""
    return tuple(dict.fromkeys(p for n in names() for p in get(n).packages))


#: Colours for backends that state none, picked by name so one backend keeps its colour in
#: every figure, whichever others share the figure.
SPARE_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8")


def color(name: str) -> str:
    """A backend's colour in every figure (also for names no longer installed here)."""
    cls = _try(name)
    if cls is not None and cls.color:
        return cls.color
    return SPARE_COLORS[sum(name.encode()) % len(SPARE_COLORS)]


def display_rank(name: str) -> tuple[int, str]:
    """Sort key for tables and legends: the class's `display_order`, then the name.
    Names not installed here (a run from elsewhere) come last."""
    cls = _try(name)
    return (cls.display_order if cls is not None else 1_000_000, name)


if TYPE_CHECKING:
    # Declared for the type checker, which otherwise types them through `__getattr__`
    # below (and mypy crashes on that return type when spec.py reads them).
    NAMES: tuple[str, ...]
    DEFAULT: tuple[str, ...]


def __getattr__(attr: str) -> tuple[str, ...]:
    # NAMES and DEFAULT stay module attributes for callers, computed on first use so that
    # importing this package (which workers on a cluster do) reads no metadata.
    if attr == "NAMES":
        return names()
    if attr == "DEFAULT":
        return default()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "DEFAULT",
    "GROUP",
    "NAMES",
    "Backend",
    "BackendOptions",
    "Batch",
    "WorkerCrashed",
    "color",
    "default",
    "display_rank",
    "get",
    "names",
    "problems",
    "reload",
    "why_unknown",
]
