"""Grouping a batch's inputs into fewer, larger tasks: the `batching = "grouped"` option.

It lives apart from the backends so every engine groups the same way, and the granularity
scenario can put each backend's one-task-per-input cost beside its batched idiom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend
from harness.tasks import run_group


def run_map(backend: Backend, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
    """`backend.map`, with the inputs grouped first when the backend's options ask for it."""
    if backend.options.batching != "grouped":
        return backend.map(task, inputs)
    size = backend.options.group_of(len(inputs), backend.workers)
    # The task travels inside each input, not in a functools.partial: Ray remotes only
    # plain functions, and every engine pickles a module-level function by name.
    groups = [(task, list(inputs[i : i + size])) for i in range(0, len(inputs), size)]
    return [out for group in backend.map(run_group, groups) for out in group]
