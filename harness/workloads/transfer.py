"""Round trips of a payload to a task and back: the article's "communication is slow".

Threads hand the same object back (no copy); pools pickle it both ways; Dask ships it in the
task and back; Ray puts large arguments into its shared-memory object store, and hands NumPy
arrays back without copying them. `bytes_per_s` counts both directions.
"""

from __future__ import annotations

import zlib
from typing import Any, Literal

import numpy as np
from pydantic import Field

from harness.tasks import echo  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams, register


class TransferParams(WorkloadParams):
    payload_bytes: int = Field(ge=1, le=1 << 31, description="size of one payload")
    kind: Literal["bytes", "numpy"] = "bytes"


def make_payload(params: TransferParams) -> bytes | np.ndarray:
    if params.kind == "numpy":
        return np.arange(max(1, params.payload_bytes // 8), dtype=np.float64)
    pattern = bytes(range(256))
    return (pattern * (params.payload_bytes // 256 + 1))[: params.payload_bytes]


def payload_digest(payload: Any) -> tuple[str, int, int]:
    """Type, size and CRC-32: equal digests mean the payload came back intact."""
    if isinstance(payload, np.ndarray):
        data = np.ascontiguousarray(payload)
        return (f"ndarray[{data.dtype}]", data.nbytes, zlib.crc32(data.data))
    return (type(payload).__name__, len(payload), zlib.crc32(payload))


def _bytes(params: TransferParams) -> int:
    size = params.payload_bytes if params.kind == "bytes" else max(1, params.payload_bytes // 8) * 8
    return 2 * size  # there and back


register(
    Workload(
        name="echo",
        description="round-trip a bytes or NumPy payload to a task and back",
        task=echo,
        params=TransferParams,
        # One payload object for the whole batch: the driver holds it once.
        inputs=lambda params, tasks: [make_payload(params)] * tasks,
        expected=lambda params, inputs: list(inputs),
        bytes_per_task=_bytes,
        digest=payload_digest,
    )
)
