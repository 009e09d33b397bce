"""Code a user can paste to run their function the way `harness tune` found fastest.

Each snippet runs the batch the way the harness measured it, with the engine's own API and
no harness: a process pool's `map` with the chunk size, Dask's `client.map` over groups, a
Ray remote function over groups. `f` is the user's function and `xs` its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_IMPORT = "from {module} import {function} as f"

_GROUPS = """\
def run_group(group):  # at module level: every engine pickles a function by its name
    return [f(x) for x in group]

groups = [xs[i:i + {chunk}] for i in range(0, len(xs), {chunk})]
"""


def snippet(
    candidate: Mapping[str, Any],
    workload: str,
    inputs: str = "",
    tasks: int = 0,
    params: Mapping[str, Any] | None = None,
) -> str:
    """The code for one candidate (`execute.candidates.Candidate.as_json`); `workload` and
    `inputs` are the spec's references ("module:function"), or a built-in's name; `tasks`
    and `params` what the spec hands `inputs`."""
    backend, w = str(candidate["backend"]), int(candidate["workers"])
    batching, chunk = str(candidate.get("batching", "none")), int(candidate.get("chunk", 0))
    lines = []
    if ":" in workload:
        module, function = workload.split(":", 1)
        lines.append(_IMPORT.format(module=module, function=function))
    else:
        lines.append(f"f = ...  # the task of the built-in workload {workload!r}")
    if inputs and ":" in inputs:
        module, function = inputs.split(":", 1)
        args = "".join(f", {k}={v!r}" for k, v in (params or {}).items())
        lines.append(f"from {module} import {function}\n\nxs = {function}({tasks}{args})")
    elif ":" in workload:
        lines.append(f"xs = list(range({tasks}))")
    else:
        lines.append("xs = [...]  # the inputs, one per task")
    body = _body(backend, w, batching, chunk, str(candidate.get("address") or ""))
    return "\n".join(lines) + "\n\n" + body.strip() + "\n"


def _body(backend: str, w: int, batching: str, chunk: int, address: str = "") -> str:
    grouped = batching == "chunks" and chunk > 1
    if backend == "sequential":
        return "results = [f(x) for x in xs]"
    if backend == "threads":
        return (
            "from concurrent.futures import ThreadPoolExecutor\n\n"
            f"with ThreadPoolExecutor({w}) as ex:\n"
            "    results = list(ex.map(f, xs))"
        )
    if backend in ("processes", "loky", "executor"):
        size = chunk if grouped else 1
        pool = {
            "processes": (
                "import multiprocessing\nfrom concurrent.futures import ProcessPoolExecutor\n\n"
                f"with ProcessPoolExecutor({w}, mp_context=multiprocessing.get_context("
                '"spawn")) as ex:'
            ),
            "loky": (
                f"from loky import get_reusable_executor\n\nwith get_reusable_executor({w}) as ex:"
            ),
            "executor": (
                "from concurrent.futures import ProcessPoolExecutor\n\n"
                f"with ProcessPoolExecutor({w}) as ex:"
            ),
        }[backend]
        return f"{pool}\n    results = list(ex.map(f, xs, chunksize={size}))"
    if backend == "dask":
        start = (
            "from dask.distributed import Client, LocalCluster\n\n"
            f"with LocalCluster(n_workers={w}, threads_per_worker=1, processes=True) as cluster, "
            "Client(cluster) as client:\n"
        )
        if address:
            start = f'from dask.distributed import Client\n\nwith Client("{address}") as client:\n'
        if grouped:
            return (
                _GROUPS.format(chunk=chunk)
                + start
                + "    parts = client.gather(client.map(run_group, groups))\n"
                "results = [y for part in parts for y in part]"
            )
        return start + "    results = client.gather(client.map(f, xs, pure=False))"
    if backend == "ray":
        start = f"import ray\n\nray.init(num_cpus={w})\n"
        if address:
            start = f'import ray\n\nray.init(address="{address}")\n'
        if grouped:
            return (
                _GROUPS.format(chunk=chunk) + start + "remote = ray.remote(run_group)\n"
                "parts = ray.get([remote.remote(g) for g in groups])\n"
                "results = [y for part in parts for y in part]"
            )
        return start + "remote = ray.remote(f)\nresults = ray.get([remote.remote(x) for x in xs])"
    if backend == "asyncio":
        return (
            "import asyncio\n\n"
            "async def main():\n"
            f"    limit = asyncio.Semaphore({w})\n"
            "    async def one(x):\n"
            "        async with limit:\n"
            "            return await f(x)\n"
            "    return await asyncio.gather(*(one(x) for x in xs))\n\n"
            "results = asyncio.run(main())"
        )
    return f"# {backend} with {w} workers: see the backend's documentation"
