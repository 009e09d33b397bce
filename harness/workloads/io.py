"""I/O-bound workloads: waiting (sleep), HTTP requests and file reads/writes.

The HTTP and file workloads need something that lives as long as the case: a small threaded
HTTP server on 127.0.0.1 (the article's `fetch_url`, without the internet; in a process of
its own) and a temporary folder. Their `fixture` starts it once per case and the tasks reach
it through their inputs (the URL, the folder), so workers in other local processes can use
it too. On a remote cluster these fixtures are out of reach: run these scenarios locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil
from pydantic import Field

from harness.tasks import (  # noqa: F401 (the worker side)
    _file_data,
    file_write_read,
    file_write_read_async,
    http_get,
    http_get_async,
    sleep_async,
    sleep_task,
)
from harness.workloads.registry import Workload, WorkloadParams


class SleepParams(WorkloadParams):
    seconds: float = Field(ge=0, le=3600, description="how long one task waits")


SLEEP = Workload(
    name="sleep",
    description="time.sleep: a task that waits for I/O and releases the GIL",
    task=sleep_task,
    params=SleepParams,
    inputs=lambda params, tasks: [params.seconds] * tasks,
    expected=lambda params, inputs: list(inputs),
    async_task=sleep_async,
)


# --- HTTP --------------------------------------------------------------------------------


@contextmanager
def http_server(params: HttpParams) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 and a free port, in a process of its own, for one case.

    Its own process: a server thread in the case process would take the GIL from the
    sequential, threads and asyncio backends but not from processes, Dask or Ray. It runs
    outside the case's process tree, so neither its memory nor its CPU counts as the case's
    (see harness.http_server); it is always stopped here, and stops itself if the case
    process dies first.
    """
    launcher = subprocess.run(
        [sys.executable, "-m", "harness.http_server", str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        pid, port = map(int, launcher.stdout.split())
    except ValueError:
        raise RuntimeError(f"the HTTP server did not start: {launcher.stderr.strip()}") from None
    try:
        yield f"http://127.0.0.1:{port}/?bytes={params.response_bytes}&delay={params.server_delay_s}"
    finally:
        stop_process(pid)


def stop_process(pid: int, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; returns once the process is gone.

    Not our child, so not ours to reap: a zombie waiting for init to reap it is gone too.
    """
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for send in (proc.terminate, proc.kill):
        with suppress(psutil.NoSuchProcess):
            send()
        if _gone_within(proc, grace_s):
            return
    raise RuntimeError(f"the HTTP server (pid {pid}) did not stop")


def _gone_within(proc: psutil.Process, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


class HttpParams(WorkloadParams):
    requests: int = Field(default=1, ge=1, description="GETs one task makes, one after another")
    response_bytes: int = Field(default=1024, ge=0, le=1 << 30)
    server_delay_s: float = Field(default=0.05, ge=0, le=60, description="server wait per GET")


HTTP_GET = Workload(
    name="http_get",
    description="HTTP GETs against a threaded server on 127.0.0.1, in its own process",
    task=http_get,
    params=HttpParams,
    inputs=lambda params, tasks, url: [(url, params.requests)] * tasks,
    expected=lambda params, inputs: [params.requests * params.response_bytes] * len(inputs),
    bytes_per_task=lambda params: params.requests * params.response_bytes,
    async_task=http_get_async,
    fixture=http_server,
)


# --- files -------------------------------------------------------------------------------


@contextmanager
def temp_folder(params: FileParams) -> Iterator[str]:
    """A temporary folder for one case, removed with everything in it afterwards."""
    with tempfile.TemporaryDirectory(prefix="harness-files-") as folder:
        yield folder


class FileParams(WorkloadParams):
    file_bytes: int = Field(default=1 << 20, ge=1, le=1 << 30, description="size of one file")
    fsync: bool = Field(default=False, description="fsync each file before reading it back")


FILE_IO = Workload(
    name="file_io",
    description="write a file, read it back, delete it, in a temporary folder",
    task=file_write_read,
    params=FileParams,
    inputs=lambda params, tasks, folder: [
        (folder, i, params.file_bytes, params.fsync) for i in range(tasks)
    ],
    expected=lambda params, inputs: [zlib.crc32(_file_data(i, s)) for _, i, s, _ in inputs],
    bytes_per_task=lambda params: 2 * params.file_bytes,
    async_task=file_write_read_async,
    fixture=temp_folder,
)
