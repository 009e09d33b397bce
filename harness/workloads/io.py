"""I/O-bound workloads: waiting (sleep), HTTP requests and file reads/writes.

The HTTP and file workloads need something that lives as long as the case: a small threaded
HTTP server on 127.0.0.1 (the article's `fetch_url`, without the internet) and a temporary
folder. Their `fixture` starts it once per case in the case process and the tasks reach it
through their inputs (the URL, the folder), so workers in other local processes can use it
too. On a remote cluster these fixtures are out of reach: run these scenarios locally.
"""

from __future__ import annotations

import asyncio
import os
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

from harness.workloads.registry import Workload, WorkloadParams, register


def sleep_task(seconds: float) -> float:
    """Wait without using the CPU, like a network or disk request; returns what it waited."""
    time.sleep(seconds)
    return seconds


async def sleep_async(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


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


def http_get(item: tuple[str, int]) -> int:
    """The article's fetch_url: `requests` GETs one after another; returns bytes received."""
    url, requests = item
    received = 0
    for _ in range(requests):
        with _OPENER.open(url, timeout=60) as response:
            received += len(response.read())
    return received


async def http_get_async(item: tuple[str, int]) -> int:
    """The same GETs over asyncio streams (HTTP/1.0, so the server closes each connection)."""
    url, requests = item
    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n"
    received = 0
    for _ in range(requests):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(request.encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.split(b" ", 2)[1:2] == [b"200"]:
            raise OSError(f"HTTP request failed: {head[:80]!r}")
        received += len(body)
    return received


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


def file_write_read(item: tuple[str, int, int, bool]) -> int:
    """Write a file, read it back, delete it; returns the CRC-32 of what was read."""
    folder, index, size, fsync = item
    path = os.path.join(folder, f"task-{index}-{os.getpid()}-{threading.get_ident()}.bin")
    data = _file_data(index, size)
    with open(path, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    with open(path, "rb") as f:
        crc = zlib.crc32(f.read())
    os.unlink(path)
    return crc


async def file_write_read_async(item: tuple[str, int, int, bool]) -> int:
    """asyncio has no asynchronous files: like aiofiles, hand the blocking calls to a thread."""
    return await asyncio.to_thread(file_write_read, item)


def _file_data(index: int, size: int) -> bytes:
    return (bytes([index % 251]) + b"harness") * (size // 8) + b"\0" * (size % 8)


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
