"""harness: benchmark threads, processes, Dask and Ray on the same scenario spec.

In a notebook: `harness.run("cpu", quick=True)` returns the tidy frame,
`harness.load("results/*")` reads stored runs, `harness.report(frame, "r.pdf")` draws one.
Workers import this package too, so the API is imported only when first used.
"""

from typing import Any

__version__ = "0.3.0"
__all__ = ["load", "report", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
