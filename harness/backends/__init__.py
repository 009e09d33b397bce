"""Backends by name. Adding one: a module with a Backend subclass, and a line here."""

from __future__ import annotations

from importlib import import_module

from harness.backends.base import Backend, BackendOptions, Batch, WorkerCrashed

# name -> "module:Class"; imported only when used, so `harness list` never imports Ray.
_REGISTRY: dict[str, str] = {
    "sequential": "harness.backends.sequential:SequentialBackend",
    "threads": "harness.backends.threads:ThreadsBackend",
    "processes": "harness.backends.processes:ProcessesBackend",
    "dask": "harness.backends.dask:DaskBackend",
    "ray": "harness.backends.ray:RayBackend",
    "asyncio": "harness.backends.asyncio:AsyncioBackend",
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)
#: What a spec runs on when it names no backends: those that run any workload's plain task.
#: asyncio needs a coroutine variant, so a spec opts in by naming it.
DEFAULT: tuple[str, ...] = tuple(n for n in NAMES if n != "asyncio")


def get(name: str) -> type[Backend]:
    try:
        module_name, class_name = _REGISTRY[name].split(":")
    except KeyError:
        raise KeyError(f"unknown backend {name!r} (known: {', '.join(NAMES)})") from None
    return getattr(import_module(module_name), class_name)


__all__ = ["DEFAULT", "NAMES", "Backend", "BackendOptions", "Batch", "WorkerCrashed", "get"]
