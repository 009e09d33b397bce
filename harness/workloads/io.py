"""I/O-bound workloads: waiting (sleep), HTTP requests and file reads/writes.

The HTTP and file workloads need something that lives as long as the case: a small threaded
HTTP server on 127.0.0.1 (the article's `fetch_url`, without the internet) and a temporary
folder. Their `fixture` starts it once per case in the case process and the tasks reach it
through their inputs (the URL, the folder), so workers in other local processes can use it
too. On a remote cluster these fixtures are out of reach: run these scenarios locally.
"""

from __future__ import annotations

import tempfile
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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
from harness.workloads.registry import Workload, WorkloadParams, register


class SleepParams(WorkloadParams):
    seconds: float = Field(ge=0, le=3600, description="how long one task waits")


register(
    Workload(
        name="sleep",
        description="time.sleep: a task that waits for I/O and releases the GIL",
        task=sleep_task,
        params=SleepParams,
        inputs=lambda params, tasks: [params.seconds] * tasks,
        expected=lambda params, inputs: list(inputs),
        async_task=sleep_async,
    )
)


# --- HTTP --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """GET /?bytes=N&delay=S: waits S seconds (a slow remote server), then sends N bytes."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        query = parse_qs(urlsplit(self.path).query)
        size = int(query.get("bytes", ["0"])[0])
        delay = float(query.get("delay", ["0"])[0])
        time.sleep(delay)
        body = b"x" * size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per request would drown the case log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many concurrent clients must not wait on a SYN retry


@contextmanager
def http_server(params: HttpParams) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 and a free port, for the life of one case."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="harness-http", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}/?bytes={params.response_bytes}&delay={params.server_delay_s}"
    finally:
        server.shutdown()
        server.server_close()


#: No proxies: an http_proxy in the environment must not carry requests for 127.0.0.1 away.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HttpParams(WorkloadParams):
    requests: int = Field(default=1, ge=1, description="GETs one task makes, one after another")
    response_bytes: int = Field(default=1024, ge=0, le=1 << 30)
    server_delay_s: float = Field(default=0.05, ge=0, le=60, description="server wait per GET")


register(
    Workload(
        name="http_get",
        description="HTTP GETs against a threaded server on 127.0.0.1 started by the case",
        task=http_get,
        params=HttpParams,
        inputs=lambda params, tasks, url: [(url, params.requests)] * tasks,
        expected=lambda params, inputs: [params.requests * params.response_bytes] * len(inputs),
        bytes_per_task=lambda params: params.requests * params.response_bytes,
        async_task=http_get_async,
        fixture=http_server,
    )
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


register(
    Workload(
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
)
