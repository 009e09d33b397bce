"""Ray: a local Ray started with `ray.init`, or an existing cluster by address."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, BackendOptions, Batch, WorkerCrashed


class RayOptions(BackendOptions):
    #: host:port of an existing cluster; empty starts a local Ray bound to 127.0.0.1.
    address: str = ""
    dashboard: bool = False
    #: Poll interval while collecting results as they arrive.
    poll_s: float = 0.002


class RayBackend(Backend):
    name = "ray"
    strategy = "remote tasks, one ray.get on the list"
    options_model = RayOptions
    options: RayOptions

    _started = False

    def start(self) -> None:
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.options.address:
            ray.init(address=self.options.address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=self.workers,
                include_dashboard=self.options.dashboard,
                _node_ip_address="127.0.0.1",
                log_to_driver=False,
                configure_logging=False,
            )
        self._started = True
        self._remote: dict[Callable[..., Any], Any] = {}
        probe = ray.remote(_pid_after)
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        # Ray starts workers lazily; short overlapping probes land on distinct workers.
        while len(pids) < self.workers and time.monotonic() < deadline:
            pids |= set(ray.get([probe.remote(0.01) for _ in range(self.workers)]))
        self._pids = sorted(pids)

    def _remote_fn(self, task: Callable[[Any], Any]) -> Any:
        import ray

        if task not in self._remote:
            self._remote[task] = ray.remote(task)
        return self._remote[task]

    def run(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> Batch:
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        remote = self._remote_fn(task)
        t0 = time.perf_counter()
        refs = [remote.remote(item) for item in inputs]
        index = {ref: i for i, ref in enumerate(refs)}
        arrival = [0.0] * len(inputs)
        pending = refs
        try:
            while pending:
                ready, pending = ray.wait(
                    pending, num_returns=len(pending), timeout=self.options.poll_s
                )
                now = time.perf_counter() - t0
                for ref in ready:
                    arrival[index[ref]] = now
            outputs = ray.get(refs)
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None
        return Batch(list(outputs), arrival)

    def map(self, task: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        remote = self._remote_fn(task)
        try:
            return ray.get([remote.remote(item) for item in inputs])
        except WorkerCrashedError as exc:
            raise WorkerCrashed(f"a Ray worker died: {exc}") from exc
        except RayTaskError as exc:
            raise _user_error(exc) from None

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def worker_pids(self) -> list[int]:
        return list(getattr(self, "_pids", [])) if not self.options.address else []

    def describe(self) -> dict[str, Any]:
        import ray

        info: dict[str, Any] = {"strategy": self.strategy, "ray": ray.__version__}
        if self._started:
            info["nodes"] = len(ray.nodes())
        return info


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _user_error(exc: Exception) -> Exception:
    """The task's own exception, so its status reads like any backend's (ValueError: ...)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else exc
