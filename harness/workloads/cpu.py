"""CPU-bound workloads: the article's pure-Python loop holds the GIL the whole time."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from harness.workloads.registry import Workload, WorkloadParams, register


def sum_of_squares(n: int) -> int:
    """The article's `cpu_intensive`: sum of i**2 for i < n, in pure Python."""
    result = 0
    for i in range(n):
        result += i**2
    return result


class SumOfSquaresParams(WorkloadParams):
    n: int = Field(gt=0, description="loop length of one task")


def _sum_inputs(params: SumOfSquaresParams, tasks: int) -> list[int]:
    return [params.n] * tasks


def _sum_expected(params: SumOfSquaresParams, inputs: Sequence[int]) -> list[int]:
    return [(n - 1) * n * (2 * n - 1) // 6 for n in inputs]


def identity(x: int) -> int:
    """A task that does nothing: measures pure scheduling overhead, like `ray microbenchmark`."""
    return x


class IdentityParams(WorkloadParams):
    pass


register(
    Workload(
        name="sum_of_squares",
        description="pure-Python loop sum(i**2), holds the GIL (the article's cpu_intensive)",
        task=sum_of_squares,
        params=SumOfSquaresParams,
        inputs=_sum_inputs,
        expected=_sum_expected,
    )
)

register(
    Workload(
        name="identity",
        description="returns its argument: the cost of scheduling a task and nothing else",
        task=identity,
        params=IdentityParams,
        inputs=lambda params, tasks: list(range(tasks)),
        expected=lambda params, inputs: list(inputs),
    )
)
