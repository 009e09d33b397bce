"""joblib's process pool: loky's reusable executor, the workers scikit-learn users meet.

`joblib.Parallel(n_jobs=N)` runs on `loky.get_reusable_executor(N)`: fresh interpreters
(fork + exec, so nothing is inherited that a spawn would not send), cloudpickle for
functions, and a pool kept alive between calls. This backend uses the same executor
directly with its chunked `map`, the way a hand-written loop over loky would.

Two settings differ from joblib's and are recorded in run.json: idle workers never retire
(`timeout=None`; joblib's 300 s would replace a worker mid-case and look like a crash),
and the pool is shut down at the end of the case instead of being kept for the next call.
"""

from __future__ import annotations

from concurrent.futures import Executor
from importlib import metadata

from harness.backends._pools import PoolOptions
from harness.backends.executor import ExecutorBackend
from harness.protocol import BackendDescription


class LokyOptions(PoolOptions):
    """The chunk size only: the executor is loky's own."""


class LokyBackend(ExecutorBackend):
    name = "loky"
    strategy = "loky get_reusable_executor().map with chunking"
    options_model = LokyOptions
    options: LokyOptions  # type: ignore[assignment]
    engine_module = "loky"
    packages = ("loky", "cloudpickle")
    color = "#9467bd"
    display_order = 25
    default_member = True

    def make_executor(self) -> Executor:
        import loky

        return loky.get_reusable_executor(max_workers=self.workers, timeout=None)

    def shutdown(self, pool: Executor) -> None:
        pool.shutdown(wait=True)  # loky's shutdown has no cancel_futures

    def describe(self) -> BackendDescription:
        return BackendDescription(
            self.strategy,
            details={
                "loky": metadata.version("loky"),
                "start_method": "loky (fork + exec)",
                "idle_worker_timeout_s": None,
            },
        )
