"""CPU-bound workloads: the article's pure-Python loop holds the GIL the whole time."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from harness.tasks import count_loop, identity, sha256_rounds, square, sum_of_squares  # noqa: F401 (the worker side)
from harness.workloads.registry import Workload, WorkloadParams


class SumOfSquaresParams(WorkloadParams):
    n: int = Field(gt=0, description="loop length of one task")


def _sum_inputs(params: SumOfSquaresParams, tasks: int) -> list[int]:
    return [params.n] * tasks


def _sum_expected(params: SumOfSquaresParams, inputs: Sequence[int]) -> list[int]:
    return [(n - 1) * n * (2 * n - 1) // 6 for n in inputs]


class IdentityParams(WorkloadParams):
    pass


SUM_OF_SQUARES = Workload(
    name="sum_of_squares",
    description="pure-Python loop sum(i**2), holds the GIL (the article's cpu_intensive)",
    task=sum_of_squares,
    params=SumOfSquaresParams,
    inputs=_sum_inputs,
    expected=_sum_expected,
)

IDENTITY = Workload(
    name="identity",
    description="returns its argument: the cost of scheduling a task and nothing else",
    task=identity,
    params=IdentityParams,
    inputs=lambda params, tasks: list(range(tasks)),
    expected=lambda params, inputs: list(inputs),
)


class CountLoopParams(WorkloadParams):
    n: int = Field(gt=0, description="loop length of one task")


COUNT_LOOP = Workload(
    name="count_loop",
    description="the article's GIL example: total += i in a pure-Python loop",
    task=count_loop,
    params=CountLoopParams,
    inputs=lambda params, tasks: [params.n] * tasks,
    expected=lambda params, inputs: [n * (n - 1) // 2 for n in inputs],
)


class Sha256Params(WorkloadParams):
    buffer_bytes: int = Field(default=1 << 20, ge=4096, le=1 << 30)
    rounds: int = Field(gt=0, description="buffers hashed by one task")


def _sha_expected(params: Sha256Params, inputs: Sequence[tuple[int, int]]) -> list[str]:
    once = {item: sha256_rounds(item) for item in set(inputs)}  # equal inputs: hash once
    return [once[item] for item in inputs]


SHA256 = Workload(
    name="sha256",
    description="hashlib.sha256 over 1 MiB buffers: CPU work that releases the GIL",
    task=sha256_rounds,
    params=Sha256Params,
    inputs=lambda params, tasks: [(params.buffer_bytes, params.rounds)] * tasks,
    expected=_sha_expected,
    bytes_per_task=lambda params: params.buffer_bytes * params.rounds,
)


class SquareParams(WorkloadParams):
    pass


SQUARE = Workload(
    name="square",
    description="the article's pool.map(square, range(n)): tiny tasks, pure overhead",
    task=square,
    params=SquareParams,
    inputs=lambda params, tasks: list(range(tasks)),
    expected=lambda params, inputs: [x * x for x in inputs],
)
