"""The ways `harness tune` tries to run a function: backend x workers x batching.

Why these and no more: each candidate costs fresh processes, so the set is what could win
on this machine. Worker counts go past the core count only where the probe saw the task
wait rather than compute (its CPU use under half a core): more workers than cores cannot
speed up work that needs the CPU. Past the cores, threads go up to the number of tasks (64
at most) and engines whose workers are processes to four times the cores: each such worker
is a process to start and to hold in memory (`--workers` sets the counts).

Batching: a thread pool runs one task per input (grouping cannot save it work a thread
pool does not do); engines whose workers are processes run one engine task per input, or
the inputs in groups: a process pool's `chunksize` of about four and of sixteen groups per
worker, and a Dask or Ray task per group of about four groups per worker (Pool.map's
choice; each of their processes costs seconds, so they race one size).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from harness import backends
from harness.backends.base import InProcessSharing
from harness.case import Case

#: Most workers a thread pool is given past the cores, and how many times the cores an
#: engine of processes is.
MAX_THREADS = 64
PROCESS_FACTOR = 4
#: Groups per worker of the two group sizes tried.
GROUPS_PER_WORKER = (4, 16)
#: Backends tried when --backends does not say (asyncio runs only coroutines; loky and
#: `executor` are there on request).
DEFAULT_BACKENDS = ["sequential", "threads", "processes", "dask", "ray"]
#: Rough seconds to start one fresh process of each engine on a small machine, before any
#: task: for the first check that a budget can hold one block, before anything ran.
START_GUESS_S = {"sequential": 0.2, "threads": 0.2, "processes": 0.5, "loky": 0.7,
                 "asyncio": 0.2, "executor": 0.5, "dask": 2.0, "ray": 7.0}  # fmt: skip
#: The same for a process that joins a warm engine (`Backend.warm_option`).
WARM_START_GUESS_S = 3.5


@dataclass(frozen=True)
class Candidate:
    """One way to run the function, as a case of the race."""

    case: Case
    backend: str
    workers: int
    #: "per_task" or "chunks" (a group of `chunk` inputs per engine task); "" for the
    #: sequential loop and thread pools, which do not batch.
    batching: str
    chunk: int
    #: The cluster its workers are, given by address; "" for one started on this machine.
    address: str = ""

    @property
    def name(self) -> str:
        return self.case.case_id

    @property
    def label(self) -> str:
        """'processes w2, chunks of 250': how the answer names it."""
        if self.backend == "sequential":
            return "sequential"
        how = {"per_task": ", a task per input", "chunks": f", chunks of {self.chunk}"}
        where = f" at {self.address}" if self.address else ""
        return f"{self.backend}{where} w{self.workers}{how.get(self.batching, '')}"

    def as_json(self) -> dict[str, object]:
        return {
            "case_id": self.name,
            "label": self.label,
            "backend": self.backend,
            "workers": self.workers,
            "batching": self.batching or "none",
            "chunk": self.chunk,
            "start_guess_s": START_GUESS_S.get(self.backend, 1.0),
            "address": self.address,
        }


def worker_counts(backend: str, cores: int, tasks: int, waiting: bool) -> list[int]:
    """The core count, and where tasks wait, doubling from it up to the backend's cap."""
    if not backends.get(backend).scalable:
        return [1]
    if not waiting:
        return [cores]
    cap = MAX_THREADS if _in_process(backend) else cores * PROCESS_FACTOR
    cap = max(cores, min(cap, tasks))
    counts, w = [], cores
    while w <= cap:
        counts.append(w)
        w *= 2
    return counts


def _in_process(backend: str) -> bool:
    """Whether the backend's workers are threads (or coroutines) of the driver."""
    return issubclass(backends.get(backend), InProcessSharing)


def chunk_sizes(tasks: int, workers: int, several: bool = True) -> list[int]:
    """Group sizes: about four and sixteen groups per worker, larger than one, distinct;
    only the first where not `several`."""
    groups = GROUPS_PER_WORKER if several else GROUPS_PER_WORKER[:1]
    sizes = {max(1, math.ceil(tasks / (workers * g))) for g in groups}
    return sorted((s for s in sizes if s > 1), reverse=True)


def generate(
    base: Case,
    names: list[str],
    cores: int,
    waiting: bool,
    workers: list[int] | None = None,
    clusters: dict[str, tuple[str, int]] | None = None,
) -> list[Candidate]:
    """Every candidate for the function of `base` (the sequential case of the spec);
    `clusters`: backend -> (address, its workers) for a backend run on a cluster given by
    address, whose candidates then use all its workers."""
    found = []
    for name in names:
        cls = backends.get(name)
        if cls.baseline:
            found.append(Candidate(base, name, 1, "", 0))
            continue
        address, size = (clusters or {}).get(name, ("", 0))
        counts = [size] if address else workers or worker_counts(name, cores, base.tasks, waiting)
        pooled = "chunksize" in cls.options_model.model_fields
        batches = not _in_process(name) and "batching" in cls.options_model.model_fields
        for w in counts if cls.scalable else [1]:
            ways: list[tuple[str, int, dict[str, object]]] = []
            if not batches:
                ways.append(("", 0, {}))
            else:
                ways.append(("per_task", 1, {"batching": "per_task"}))
                for size in chunk_sizes(base.tasks, w, several=pooled):
                    option: dict[str, object] = (
                        {"chunksize": size}
                        if pooled
                        else {"batching": "grouped", "group_size": size}
                    )
                    ways.append(("chunks", size, option))
            for batching, chunk, options in ways:
                variant = {"per_task": "per_task", "chunks": f"chunks={chunk}"}.get(batching, "")
                if address:
                    options = {**options, "address": address}
                case = dataclasses.replace(
                    base,
                    backend=name,
                    workers=w,
                    backend_options={**base.backend_options, **options},
                    variant=variant,
                    reference=True,
                )
                found.append(Candidate(case, name, w, batching, chunk, address))
    return found
