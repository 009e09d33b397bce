"""Round trips of a payload to a task and back: the article's "communication is slow".

Threads hand the same object back (no copy); pools pickle it both ways; Dask ships it in the
task and back; Ray puts large arguments into its shared-memory object store, and hands NumPy
arrays back without copying them. `bytes_per_s` counts both directions. Every task gets a
payload of its own (same size, different random content), so no engine is faster for
having seen the object before.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from harness.tasks import echo  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams

if TYPE_CHECKING:
    import numpy as np

# NumPy is imported where a payload is made or summed up, not here: the registry imports
# this module in every case process. The workload's `imports` bring it in before the
# memory baseline, as a module-level import did.


class TransferParams(WorkloadParams):
    payload_bytes: int = Field(ge=1, le=1 << 31, description="size of one payload")
    kind: Literal["bytes", "numpy"] = "bytes"


def make_payload(params: TransferParams, index: int = 0) -> bytes | np.ndarray:
    """Payload number `index`: the same size for every index, random content seeded by it.

    Distinct per task, so a serializer or object store that deduplicates equal objects (or
    caches by content) gets no shortcut, and incompressible, so one that compresses does not
    either: real payloads rarely repeat a 256-byte pattern.
    """
    import numpy as np

    rng = np.random.default_rng(index)
    if params.kind == "numpy":
        return rng.random(max(1, params.payload_bytes // 8))
    return rng.bytes(params.payload_bytes)


def payload_digest(payload: Any) -> tuple[str, int, int]:
    """Type, size and CRC-32: equal digests mean the payload came back intact."""
    import numpy as np

    if isinstance(payload, np.ndarray):
        data = np.ascontiguousarray(payload)
        return (f"ndarray[{data.dtype}]", data.nbytes, zlib.crc32(data.data))
    return (type(payload).__name__, len(payload), zlib.crc32(payload))


def _bytes(params: TransferParams) -> int:
    size = params.payload_bytes if params.kind == "bytes" else max(1, params.payload_bytes // 8) * 8
    return 2 * size  # there and back


ECHO = Workload(
    name="echo",
    description="round-trip a bytes or NumPy payload to a task and back",
    task=echo,
    params=TransferParams,
    # A payload of its own per task (same size, different content): the driver holds all.
    inputs=lambda params, tasks: [make_payload(params, i) for i in range(tasks)],
    expected=lambda params, inputs: list(inputs),
    bytes_per_task=_bytes,
    digest=payload_digest,
    imports=("numpy",),
)
