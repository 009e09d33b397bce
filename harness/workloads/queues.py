"""The article's producer/consumer through each backend's own queue.

`backend.queue()` gives `queue.Queue` in-process, a multiprocessing Manager queue for the
pool, a `distributed.Queue` for Dask and `ray.util.queue.Queue` for Ray. Producers and
consumers run as tasks of one batch; each producer ends with one sentinel, and a consumer
stops at the first sentinel it sees, so all messages are consumed once all sentinels are.
The queue is unbounded, so a backend with fewer workers than tasks still finishes (it runs
the producers first).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from harness.backends.base import Backend
from harness.protocol import Metric
from harness.tasks import queue_role  # noqa: F401 (the worker side)
from harness.workloads.registry import ProgramResult, Workload, WorkloadParams


class QueueParams(WorkloadParams):
    messages: int = Field(ge=1, description="messages each producer puts")
    payload_bytes: int = Field(ge=1, le=1 << 30, description="size of one message")


def queue_program(
    backend: Backend, params: QueueParams, tasks: int, inputs: list[Any]
) -> ProgramResult:
    q = backend.queue()
    pairs = max(1, tasks // 2)
    items = [("produce", q, params.messages, params.payload_bytes, p) for p in range(pairs)]
    items += [("consume", q, 0, 0, 0) for _ in range(pairs)]
    t0 = time.perf_counter()
    handled = backend.map(queue_role, items)
    wall = time.perf_counter() - t0
    produced = [sum(col) for col in zip(*handled[:pairs], strict=True)]
    consumed = [sum(col) for col in zip(*handled[pairs:], strict=True)]
    expected_checksum = sum((p + i) % 251 for p in range(pairs) for i in range(params.messages))
    total = pairs * params.messages
    return ProgramResult(
        outputs=[consumed, produced],
        expected=[[total, total * params.payload_bytes, expected_checksum]] * 2,
        metrics={
            Metric.MESSAGES_PER_S: (total / wall, "1/s"),
            Metric.BYTES_PER_S: (total * params.payload_bytes / wall, "B/s"),
        },
    )


PRODUCER_CONSUMER = Workload(
    name="producer_consumer",
    description="producers put messages into the backend's queue, consumers take them",
    task=queue_role,
    params=QueueParams,
    inputs=lambda params, tasks: [],
    program=queue_program,
)
