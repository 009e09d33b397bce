"""Graph workloads: tasks that read other tasks' outputs, data that moves between workers,
and one large object many tasks read.

Flat maps are where a pool shines; these are why people reach for Dask and Ray. Each
builds a `harness.graph.Graph` the backends run their own way (`Backend.run_graph`), and
each is checked against the same graph run in order in the driver.
"""

from __future__ import annotations

import zlib
from typing import Any, Literal

from pydantic import Field

from harness.graph import Graph, Shared
from harness.protocol import Metric
from harness.tasks import (
    apply_node,
    broadcast_read,
    pipeline_stage,
    shuffle_map,
    shuffle_reduce,
    tree_combine,
    tree_leaf,
)
from harness.workloads.registry import Workload, WorkloadParams

MiB = 2**20


def _digest(output: Any) -> Any:
    """Arrays as (length, CRC32) so outputs compare cheaply; anything else as it is."""
    if hasattr(output, "tobytes"):
        return len(output), zlib.crc32(output.tobytes())
    return output


def _no_inputs(params: Any, tasks: int) -> list[Any]:
    return []


# --- tree-reduce ---------------------------------------------------------------------------


class TreeParams(WorkloadParams):
    leaves: int = Field(default=16, ge=2, le=4096, description="leaves of the reduction")
    partial_bytes: int = Field(
        default=MiB, ge=1, le=256 * MiB, description="bytes each partial result carries"
    )
    work_s: float = Field(default=0.002, ge=0, le=10, description="CPU time of each node")


def _tree(params: TreeParams, tasks: int) -> Graph:
    """N leaves, then pairwise combines over ceil(log2 N) levels (an odd one out waits)."""
    g = Graph()
    work = params.work_s
    level = [g.add(tree_leaf, i, params.partial_bytes, work) for i in range(params.leaves)]
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)  # an odd last one waits a level
        paired = [g.add(tree_combine, a, b, work) for a, b in pairs]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    g.outputs = level
    return g


TREE_REDUCE = Workload(
    name="tree_reduce",
    description="N leaves, then pairwise combines over log2 N levels: partial results flow "
    "between tasks",
    task=apply_node,
    params=TreeParams,
    inputs=_no_inputs,
    tasks_for=lambda params, tasks: 2 * params.leaves - 1,
    digest=_digest,
    imports=("numpy",),
    graph=_tree,
)


# --- shuffle -------------------------------------------------------------------------------


class ShuffleParams(WorkloadParams):
    partitions: int = Field(
        default=8,
        ge=1,
        le=256,
        description="mappers, and reducers: each mapper's output is cut "
        "into this many parts, one per reducer",
    )
    partition_bytes: int = Field(default=MiB, ge=1, le=256 * MiB, description="bytes of one part")


def _shuffle(params: ShuffleParams, tasks: int) -> Graph:
    """M mappers each split into P parts; reducer k takes part k of every mapper."""
    g = Graph()
    p = params.partitions
    mappers = [g.add(shuffle_map, m, p, params.partition_bytes, returns=p) for m in range(p)]
    g.outputs = [g.add(shuffle_reduce, *(m[k] for m in mappers)) for k in range(p)]
    return g


SHUFFLE = Workload(
    name="shuffle",
    description="all-to-all: M mappers split their output into P parts, each of P reducers "
    "takes one part from every mapper",
    task=apply_node,
    params=ShuffleParams,
    inputs=_no_inputs,
    tasks_for=lambda params, tasks: 2 * params.partitions,
    imports=("numpy",),
    graph=_shuffle,
)


# --- broadcast -----------------------------------------------------------------------------


class BroadcastParams(WorkloadParams):
    size_bytes: int = Field(
        default=16 * MiB,
        ge=8,
        le=1024 * MiB,
        description="bytes of the read-only NumPy array every task reads",
    )
    pass_by: Literal["value", "reference"] = Field(
        default="value",
        description="value: the array travels with every task; reference: placed once "
        "(ray.put, client.scatter(broadcast=True), shared memory for pools; threads share "
        "the object either way) and tasks receive a handle",
    )


def _broadcast(params: BroadcastParams, tasks: int) -> Graph:
    import numpy as np

    data = Shared("data", np.arange(params.size_bytes // 8, dtype=np.float64))
    g = Graph(by_reference=params.pass_by == "reference")
    g.outputs = [g.add(broadcast_read, data, i, tasks) for i in range(tasks)]
    return g


def _first_start(outputs: list[Any], t0: float) -> dict[str, tuple[float, str]]:
    started = min(started for _, started in outputs)
    return {Metric.FIRST_START_S: (max(0.0, started - t0), "s")}


BROADCAST = Workload(
    name="broadcast",
    description="one large read-only array read by every task, passed by value or once by "
    "reference",
    task=apply_node,
    params=BroadcastParams,
    inputs=_no_inputs,
    # The sum each task read; when it began is a measurement, not an output.
    digest=lambda output: output[0],
    imports=("numpy",),
    graph=_broadcast,
    graph_metrics=_first_start,
)


# --- pipeline ------------------------------------------------------------------------------


class PipelineParams(WorkloadParams):
    items: int = Field(default=16, ge=1, le=4096, description="items streamed through")
    stages: int = Field(default=4, ge=1, le=64, description="stages each item goes through")
    item_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        le=256 * MiB,
        description="bytes each item carries from stage to stage",
    )
    work_s: float = Field(default=0.005, ge=0, le=10, description="CPU time of each stage")
    schedule: Literal["streaming", "stage_by_stage"] = Field(
        default="streaming",
        description="streaming: an item goes on to its next stage as soon as it is ready; "
        "stage_by_stage: every item finishes a stage before any starts the next",
    )


def _pipeline(params: PipelineParams, tasks: int) -> Graph:
    """`items` items, each a chain of `stages` dependent tasks."""
    import numpy as np

    g = Graph(barriers=params.schedule == "stage_by_stage")
    items = [np.full(params.item_bytes, i % 251, dtype=np.uint8) for i in range(params.items)]
    chains = [g.add(pipeline_stage, item, 0, params.work_s) for item in items]
    for stage in range(1, params.stages):
        chains = [g.add(pipeline_stage, prev, stage, params.work_s) for prev in chains]
    g.outputs = chains
    return g


PIPELINE = Workload(
    name="pipeline",
    description="items streamed through dependent stages, against running stage by stage",
    task=apply_node,
    params=PipelineParams,
    inputs=_no_inputs,
    tasks_for=lambda params, tasks: params.items * params.stages,
    digest=_digest,
    imports=("numpy",),
    graph=_pipeline,
)
