"""Ray's side of `ClusterNodes`: one zero-CPU probe actor pinned to each node.

Each node's facts come from Ray's view (address, CPUs) and its probe actor; the actor starts
and stops that node's sampler process and reads its clock; the case's workers per node are
its placement group's CPUs there.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.measure.nodes import ClusterNodes


class RayNodes(ClusterNodes):
    """What `ClusterNodes` needs, for `RayBackend`. It reads the backend's `_started` and
    `_pg` (the case's placement group, None on a local Ray), both set by `start`; the probe
    actors (`_probes`, by node id) and node addresses (`_address_of`) are its own."""

    _started: bool
    _pg: Any
    _probes: dict[str, Any] | None = None
    _address_of: dict[str, str]

    def _connected(self) -> bool:
        return self._started

    def _node_records(self) -> list[dict[str, Any]]:
        """Every alive node: Ray's view (address, CPUs, memory) plus its probe actor's facts."""
        import ray

        alive = self._probe_nodes()
        probes = self._probes or {}
        ids = list(probes)
        answers = ray.get([probes[i].facts.remote(self.packages) for i in ids], timeout=120)
        facts = dict(zip(ids, answers, strict=True))
        used = self._bundles_per_node()
        return [
            {
                "address": n["NodeManagerAddress"],
                "node_id": n["NodeID"],
                **{k: v for k, v in facts.get(n["NodeID"], {}).items() if k != "pid"},
                "cluster_cpus": n["Resources"].get("CPU", 0.0),
                "workers": used.get(n["NodeID"], 0),
                "head": "node:__internal_head__" in n["Resources"],
            }
            for n in sorted(alive, key=lambda n: n["NodeManagerAddress"])
        ]

    def _probe_nodes(self) -> list[dict[str, Any]]:
        """The alive nodes; starts one probe actor on each, once."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from harness.measure.nodes import NodeProbe

        alive = [n for n in ray.nodes() if n.get("Alive")]
        if self._probes is None:
            actor = ray.remote(num_cpus=0)(NodeProbe)
            self._probes = {
                n["NodeID"]: actor.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                ).remote()
                for n in alive
            }
        self._address_of = {n["NodeID"]: n["NodeManagerAddress"] for n in alive}
        return alive

    def _bundles_per_node(self) -> Counter[str]:
        """The case's CPUs per node id: its placement group's bundles there (one CPU each,
        or in a node sweep one bundle of `workers / nodes` CPUs a node)."""
        from ray.util.placement_group import placement_group_table

        table = placement_group_table(self._pg) if self._pg else {}
        cpus = {int(i): b.get("CPU", 1) for i, b in table.get("bundles", {}).items()}
        used: Counter[str] = Counter()
        for i, node in table.get("bundles_to_node_id", {}).items():
            used[node] += int(cpus.get(int(i), 1))
        return used

    def _workers_per_node(self) -> dict[str, int]:
        return {self._address_of.get(i, i): n for i, n in self._bundles_per_node().items()}

    def _start_samplers(self, token: str, interval_s: float, max_s: float) -> None:
        """Each node's probe actor starts a sampler process over that node's raylet and its
        worker processes (the actor dies with this driver, and its sampler with it)."""
        import ray

        self._probe_nodes()
        assert self._probes is not None
        ray.get([p.start.remote(token, interval_s, max_s) for p in self._probes.values()])

    def _clock_readers(self) -> dict[str, Callable[[], float]]:
        """The probe actor pinned to each node of the case's workers reads its clock."""
        import ray

        self._probe_nodes()
        assert self._probes is not None
        used = self._bundles_per_node()
        return {
            self._address_of[i]: functools.partial(
                lambda actor: ray.get(actor.clock.remote()), actor
            )
            for i, actor in self._probes.items()
            if used.get(i)
        }

    def _stop_samplers(self, token: str, timeout_s: float) -> dict[str, dict[str, float]]:
        import ray

        probes = self._probes or {}
        ids = list(probes)
        samples = ray.get([probes[i].stop.remote(token) for i in ids], timeout=timeout_s)
        return {self._address_of[i]: s for i, s in zip(ids, samples, strict=True)}
