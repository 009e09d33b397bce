"""Contention: tasks built so that the Universal Scalability Law holds exactly.

Gunther's USL gives the throughput of N workers as

    X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1))

and this workload's params `serial` and `coherency` are alpha and beta themselves (gamma is
1 / `task_s`). The work is waiting, not computing (every cost is a sleep), so 1 to 32
workers fit on 2 cores.

One task, alone, takes T = `task_s`: (1 - alpha) T on its own, then alpha T holding a lock
all the tasks share. With others in flight it also pays beta T for every ordered pair of
the N tasks in flight, beta T N (N - 1) in all: the cost of keeping N views of shared state
coherent, where each pair exchanges once and every task waits for the exchanges. A task
counts its N through a shared counter (`backend.counter(locked=True)`): the tasks of its
round that have begun, read once its own part is done, when all of them have.

Tasks run in rounds of N, one `backend.map` of N tasks per round, each round over when its
last task is; every round of N tasks then takes

    (1 - alpha) T + beta T N (N - 1) + N alpha T = T (1 + alpha (N - 1) + beta N (N - 1)):

the parts alone overlap, and then the N turns at the lock follow one another, the last task
waiting for the N - 1 before it. N tasks per round is exactly X(N) above, with gamma = 1 / T.
The rounds are what the law assumes: a fixed piece of work split among N, whose serial part
overlaps no parallel part. Tasks that do not wait for their round drift apart until each
one's turn at the lock falls while the others are on their own: with fixed times a free
pool settles at min(N / T, 1 / (alpha T)), the asymptote the law approaches, not the law
(measured with threads, alpha 0.2 and T 20 ms: 4 workers in one free pool do 188 tasks/s,
the bound 200, the law 125; in rounds they do the law's within 5%).

What an engine adds lies on top: its dispatch of each round and the cost of its lock and
counter (microseconds for threads; scheduler or actor round trips for Dask and Ray), each
task's sleeps overrunning by about 0.1 ms. All of it only slows a round: so does a busy
machine, which wakes each next holder of the lock late (N times a round) and may start a
task only after the others have done their own part (it then counts fewer than N: the
`in_flight` metric shows it). A partial last round (`tasks` not a multiple of the workers)
has fewer in flight. With no coherency cost nothing is counted, and the tasks
use only the lock.

The lock is each engine's own (`backend.lock()`): a `threading.Lock`, a multiprocessing
Manager `Lock`, a `distributed.Lock`, a Ray actor. The lock and counter are made once per
backend, on its first batch (the warm-up's), not in every timed repeat: a Ray actor costs a
process start.
"""

from __future__ import annotations

import weakref
from contextlib import AbstractContextManager
from typing import Any

from pydantic import Field

from harness.backends.base import Backend, SharedCounter
from harness.protocol import Metric
from harness.tasks import contention_task
from harness.workloads.registry import ProgramResult, Workload, WorkloadParams


class ContentionParams(WorkloadParams):
    task_s: float = Field(default=0.04, gt=0, le=60, description="T: one task alone (gamma = 1/T)")
    serial: float = Field(
        default=0.05, ge=0, le=1, description="alpha: the share of T a task holds the shared lock"
    )
    coherency: float = Field(
        default=0.0, ge=0, le=1, description="beta: each ordered pair in flight costs beta T"
    )


def usl_tasks_per_s(params: ContentionParams, workers: int) -> float:
    """The throughput the law gives this workload at `workers` tasks in flight."""
    n, alpha, beta = workers, params.serial, params.coherency
    return n / (params.task_s * (1 + alpha * (n - 1) + beta * n * (n - 1)))


#: A backend's lock, and its counter of tasks begun (None: not counting).
Shared = tuple[AbstractContextManager[Any], SharedCounter | None]
#: Each backend's, made on its first batch and kept while it lives.
_STATE: weakref.WeakKeyDictionary[Backend, Shared] = weakref.WeakKeyDictionary()


def _shared(backend: Backend, counted: bool) -> Shared:
    made = _STATE.get(backend)
    if made is None or (counted and made[1] is None):
        made = (backend.lock(), backend.counter(locked=True) if counted else None)
        _STATE[backend] = made
    return made[0], made[1] if counted else None


def contention_program(
    backend: Backend, params: ContentionParams, tasks: int, inputs: list[Any]
) -> ProgramResult:
    counted = params.coherency > 0
    lock, begun = _shared(backend, counted)
    base = begun.value() if begun is not None else 0
    width = backend.workers
    seen: list[int] = []
    possible: list[bool] = []
    for first in range(0, tasks, width):
        size = min(width, tasks - first)
        item = (lock, begun, base + first, params.task_s, params.serial, params.coherency)
        counts = backend.map(contention_task, [item] * size)
        seen += counts
        # each task counts at least itself and at most its round; uncounted, each says 0
        possible += [(1 <= n <= size) if counted else n == 0 for n in counts]
    metrics = {Metric.IN_FLIGHT: (sum(seen) / len(seen), "count")} if counted else {}
    return ProgramResult(outputs=possible, expected=[True] * tasks, metrics=metrics)


CONTENTION = Workload(
    name="contention",
    description="tasks that share a lock and pay per pair in flight: the USL's alpha and beta",
    task=contention_task,
    params=ContentionParams,
    inputs=lambda params, tasks: [],
    program=contention_program,
)
