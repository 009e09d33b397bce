"""Dask's side of `ClusterNodes`: the cluster's hosts, reached through `client.run` (no task).

Each host's facts come from one of its workers; one sampler process per host watches the
case's workers there; each host's clock is read on one of them; the case's tasks per host
come from the scheduler's task stream since sampling began.
"""

from __future__ import annotations

import functools
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from harness.measure.nodes import ClusterNodes


def _run_on(client: Any, addr: str) -> float:
    """The clock of the worker at `addr`, read there (`client.run`, no task)."""
    return float(client.run(time.perf_counter, workers=[addr])[addr])


class DaskNodes(ClusterNodes):
    """What `ClusterNodes` needs, for `DaskBackend`. It reads the backend's `_client`,
    `_workers_info` (the scheduler's workers by address), `_addresses` (the case's workers)
    and `_task_names` (the names of the tasks it submitted), all set by `start`."""

    _client: Any
    _workers_info: dict[str, dict[str, Any]]
    _addresses: list[str]
    _task_names: set[str]

    def _connected(self) -> bool:
        return self._client is not None

    def _node_records(self) -> list[dict[str, Any]]:
        """Every host of the cluster: its facts (from one of its workers) and worker counts."""
        from harness.measure.nodes import node_facts

        facts = self._client.run(node_facts, self.packages, workers=list(self._workers_info))
        by_host: dict[str, list[str]] = defaultdict(list)
        for addr, w in self._workers_info.items():
            by_host[w["host"]].append(addr)
        used = self._workers_per_node()
        nodes = []
        for host in sorted(by_host):
            first = facts[sorted(by_host[host])[0]]
            nodes.append(
                {
                    "address": host,
                    **{k: v for k, v in first.items() if k != "pid"},
                    "cluster_workers": len(by_host[host]),
                    "workers": used.get(host, 0),
                    "worker_pids": sorted(facts[a]["pid"] for a in by_host[host] if a in facts),
                }
            )
        self._worker_pid = {a: f["pid"] for a, f in facts.items()}
        return nodes

    def _workers_per_node(self) -> dict[str, int]:
        return dict(Counter(self._workers_info[a]["host"] for a in self._addresses))

    def _start_samplers(self, token: str, interval_s: float, max_s: float) -> None:
        """One sampler process per host, started by one of the case's workers, over the
        case's workers there."""
        from harness.measure.nodes import start_sampling

        if not hasattr(self, "_worker_pid"):
            self._node_records()
        per_host: dict[str, list[str]] = defaultdict(list)
        for addr in self._addresses:
            per_host[self._workers_info[addr]["host"]].append(addr)
        self._sampler_at: dict[str, str] = {}
        for host, addrs in per_host.items():
            pids = [self._worker_pid[a] for a in addrs]
            self._sampler_at[host] = addrs[0]  # first: stopped even if this start fails
            self._client.run(start_sampling, token, pids, interval_s, max_s, workers=[addrs[0]])
        self._stream_start = self._client.sync(self._client.scheduler.get_task_stream_index)

    def _clock_readers(self) -> dict[str, Callable[[], float]]:
        """One of the case's workers per host: `client.run` calls it directly, no task."""
        if not hasattr(self, "_worker_pid"):
            self._node_records()
        at = {self._workers_info[a]["host"]: a for a in sorted(self._addresses, reverse=True)}
        return {host: functools.partial(_run_on, self._client, addr) for host, addr in at.items()}

    def _stop_samplers(self, token: str, timeout_s: float) -> dict[str, dict[str, float]]:
        from harness.measure.nodes import stop_sampling

        at = getattr(self, "_sampler_at", {})
        answers = self._client.run(stop_sampling, token, workers=sorted(set(at.values())))
        return {host: answers.get(addr, {}) for host, addr in at.items()}

    def _node_tasks(self) -> dict[str, int]:
        """The case's tasks per host, from the scheduler's task stream since sampling began."""
        stream = self._client.sync(
            self._client.scheduler.get_task_stream, start_index=self._stream_start
        )
        host_of = {a: w["host"] for a, w in self._workers_info.items()}
        return dict(
            Counter(
                host_of.get(t.get("worker"), "")
                for t in stream
                if str(t.get("key", "")).split("-")[0] in self._task_names
            )
        )
