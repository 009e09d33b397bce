"""Task graphs as data: nodes, the values they take, and which outputs feed which nodes.

A graph workload builds a `Graph` in the driver; every backend runs it its own way
(`Backend.run_graph`): Dask with futures passed to `client.submit`, Ray with object refs
passed to `.remote`, pools level by level through the driver, sequential in order. A graph
names functions the workers can import (module-level, like a map workload's task) and holds
plain values; it is never code from a spec.

    g = Graph()
    leaves = [g.add(make_leaf, i) for i in range(8)]
    while len(leaves) > 1:
        leaves = [g.add(combine, a, b) for a, b in zip(leaves[::2], leaves[1::2])]
    g.outputs = leaves

A node's arguments are plain values or `Ref`s to other nodes (or to one output of a node
that returns several, `g.add(split, x, returns=4)` then `ref[2]`), or `Shared` values:
one large read-only object every task reads, which the backend may place once and pass by
reference (`Graph.shared` says whether to).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """The output of node `key` (with `index`: one of a multi-output node's outputs)."""

    key: int
    index: int | None = None

    def __getitem__(self, index: int) -> Ref:
        return Ref(self.key, index)


@dataclass(frozen=True)
class Shared:
    """A value many nodes read: by value, each task carries a copy; by reference, the
    backend places it once (`Backend.share`) and tasks receive a handle."""

    key: str
    value: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Node:
    key: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    #: How many outputs `fn` returns as a tuple (Ray's num_returns; others index the tuple).
    returns: int = 1

    def refs(self) -> Iterator[Ref]:
        return (a for a in self.args if isinstance(a, Ref))


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    #: The nodes whose values are the graph's result, in order.
    outputs: list[Ref] = field(default_factory=list)
    #: Shared values: True places each once and passes a handle ("by reference").
    by_reference: bool = False
    #: True runs the graph level by level on every backend, each level waited for before
    #: the next starts (stage by stage), instead of letting an engine stream through it.
    barriers: bool = False

    def add(self, fn: Callable[..., Any], *args: Any, returns: int = 1) -> Ref:
        """A node running `fn(*args)`; nodes are added after the nodes they read."""
        node = Node(len(self.nodes), fn, args, returns)
        for ref in node.refs():
            if not 0 <= ref.key < node.key:
                raise ValueError(f"node {node.key} reads node {ref.key}, which is not before it")
        self.nodes.append(node)
        return Ref(node.key)

    def levels(self) -> list[list[Node]]:
        """Nodes grouped so that each level reads only earlier levels: the order a pool
        user runs a graph in, one map per level."""
        depth: dict[int, int] = {}
        out: list[list[Node]] = []
        for node in self.nodes:
            d = 1 + max((depth[r.key] for r in node.refs()), default=-1)
            depth[node.key] = d
            if d == len(out):
                out.append([])
            out[d].append(node)
        return out

    def shared_values(self) -> dict[str, Any]:
        return {a.key: a.value for n in self.nodes for a in n.args if isinstance(a, Shared)}


def pick(value: Any, index: int | None) -> Any:
    return value if index is None else value[index]


def bound(arg: Any, made: Callable[[Ref], Any], placed: dict[str, Any]) -> Any:
    """A node's argument as an engine receives it: for a Ref, what the engine made of that
    output (a value, a Dask future, a Ray object ref: `made`); for a Shared value, its
    handle where it was placed, else the value; anything else as it is."""
    if isinstance(arg, Ref):
        return made(arg)
    if isinstance(arg, Shared):
        return placed.get(arg.key, arg.value)
    return arg


def run_in_order(graph: Graph) -> list[Any]:
    """The graph's outputs, every node run in the driver in order: the sequential result
    the other backends are checked against."""
    values: dict[int, Any] = {}

    def made(ref: Ref) -> Any:
        return pick(values[ref.key], ref.index)

    for node in graph.nodes:
        values[node.key] = node.fn(*(bound(a, made, {}) for a in node.args))
    return [made(r) for r in graph.outputs]
