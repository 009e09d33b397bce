"""A graph workload of your own: count the words of generated text in chunks, then merge
the counts pairwise, a map then a tree of reductions.

Run from this folder:  harness run wordcount.toml --import wordcount
"""

from __future__ import annotations

import random
from collections import Counter

from pydantic import Field

from harness.graph import Graph
from harness.workloads import Workload, WorkloadParams

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex".split()


def count_words(seed: int, words: int) -> Counter:
    """One chunk: `words` words drawn from a fixed vocabulary, counted."""
    rng = random.Random(seed)
    return Counter(rng.choice(WORDS) for _ in range(words))


def merge(left: Counter, right: Counter) -> Counter:
    return left + right


class WordCountParams(WorkloadParams):
    chunks: int = Field(default=16, ge=1, description="chunks counted in parallel")
    words: int = Field(default=50_000, ge=1, description="words per chunk")


def build(params: WordCountParams, tasks: int) -> Graph:
    """Nodes name module-level functions workers can import; arguments are plain values or
    the Refs `add` returned. The outputs are checked against the graph run in order."""
    g = Graph()
    level = [g.add(count_words, seed, params.words) for seed in range(params.chunks)]
    while len(level) > 1:
        merged = [g.add(merge, a, b) for a, b in zip(level[::2], level[1::2], strict=False)]
        level = merged + ([level[-1]] if len(level) % 2 else [])
    g.outputs = level
    return g


WORDCOUNT = Workload(
    name="wordcount",
    description="count words in chunks, then merge the counts pairwise",
    task=count_words,
    params=WordCountParams,
    inputs=lambda params, tasks: [],
    tasks_for=lambda params, tasks: 2 * params.chunks - 1,
    graph=build,
)
