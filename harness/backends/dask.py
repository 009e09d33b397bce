"""Dask distributed: a LocalCluster of worker processes, or an existing cluster by address."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, BackendOptions, Batch, WorkerCrashed


class DaskOptions(BackendOptions):
    #: tcp://host:port of an existing scheduler; empty starts a LocalCluster on 127.0.0.1.
    address: str = ""
    threads_per_worker: int = 1
    dashboard: bool = False
    connect_timeout_s: float = 10.0


class DaskBackend(Backend):
    name = "dask"
    strategy = "client.map(pure=False) then client.gather"
    options_model = DaskOptions
    options: DaskOptions

    _cluster: Any = None
    _client: Any = None

    def start(self) -> None:
        from distributed import Client, LocalCluster

        if self.options.address:
            self._client = Client(
                self.options.address, timeout=self.options.connect_timeout_s, set_as_default=False
            )
        else:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=self.options.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0" if self.options.dashboard else None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster, set_as_default=False)
        self._client.wait_for_workers(self.workers, timeout=120)
        # One trivial task pinned to each worker: ready means it has run one.
        addresses = list(self._client.scheduler_info()["workers"])[: self.workers]
        probes = [
            self._client.submit(_noop, addr, workers=[addr], allow_other_workers=False, pure=False)
            for addr in addresses
        ]
        self._client.gather(probes)
        self._addresses = addresses
        # Restrict tasks to our workers only on a shared cluster: restrictions bypass the
        # scheduler's queuing (worker-saturation), which changes what is measured (3x on
        # tiny tasks here), and users of a LocalCluster do not write them.
        self._restrict = addresses if self.options.address else None

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self._client
        t0 = time.perf_counter()
        # pure=False: equal inputs must not be deduplicated into one computation.
        futures = client.map(task, inputs, pure=False, workers=self._restrict)
        index = {future.key: i for i, future in enumerate(futures)}
        outputs: list[Any] = [None] * len(inputs)
        arrival = [0.0] * len(inputs)
        try:
            for future, output in as_completed(futures, with_results=True, loop=client.loop):
                i = index[future.key]
                outputs[i] = output
                arrival[i] = time.perf_counter() - t0
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc
        finally:
            del futures
        return Batch(outputs, arrival)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        from distributed.scheduler import KilledWorker

        futures = self._client.map(task, inputs, pure=False, workers=self._restrict)
        try:
            return self._client.gather(futures)
        except KilledWorker as exc:
            raise WorkerCrashed(f"a Dask worker died: {exc}") from exc

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def worker_pids(self) -> list[int]:
        if self._client is None or self.options.address:
            return []
        import os

        return sorted(self._client.run(os.getpid, workers=self._addresses).values())

    def describe(self) -> dict[str, Any]:
        import distributed

        info: dict[str, Any] = {"strategy": self.strategy, "distributed": distributed.__version__}
        if self._client is not None:
            info["scheduler"] = self._client.scheduler.address
        return info


def _noop(x: Any) -> Any:
    return x
