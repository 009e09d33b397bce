"""Fixtures that favour no backend: distinct transfer payloads, an HTTP server of its own.

None of these start an engine; the HTTP server is one small process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from harness import tasks, workloads
from harness.measure.proctree import tree


@pytest.mark.parametrize("kind", ["bytes", "numpy"])
def test_transfer_payloads_are_distinct_and_the_same_size(kind):
    work = workloads.get("echo")
    params = work.params(payload_bytes=65_536, kind=kind)
    inputs = work.make_inputs(params, 8)
    digests = [work.digest(x) for x in inputs]
    # a serializer that deduplicates equal objects (or caches by content) gains nothing
    assert len(set(digests)) == len(inputs), digests
    assert len({id(x) for x in inputs}) == len(inputs)
    assert {size for _, size, _ in digests} == {65_536}
    # and the same payloads every run, so a run can be repeated
    assert [work.digest(x) for x in work.make_inputs(params, 8)] == digests


def servers_of(owner: int) -> list[psutil.Process]:
    """HTTP server processes started for `owner` (their command line names it)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "harness.http_server" in cmd and cmd[-1] == str(owner):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.NoSuchProcess:
                continue
    return found


def test_http_server_runs_in_a_process_of_its_own_outside_the_case_tree():
    work = workloads.get("http_get")
    params = work.params(server_delay_s=0, response_bytes=4096)
    with work.fixture(params) as url:
        (server,) = servers_of(os.getpid())
        # not this process (no shared GIL) and not under it (not the case's memory or CPU)
        assert server.pid != os.getpid()
        assert server.pid not in {p.pid for p in tree(os.getpid())}
        assert url.startswith("http://127.0.0.1:")
        (item,) = work.make_inputs(params, 1, url)
        assert work.task(item) == 4096
    assert servers_of(os.getpid()) == []  # stopped when the case ends


OWNER = """
import sys
from harness import workloads
work = workloads.get("http_get")
with work.fixture(work.params(server_delay_s=0)) as url:
    print(url, flush=True)
    sys.stdin.readline()
"""


def test_http_server_stops_when_its_owner_is_killed():
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout.readline().startswith("http://127.0.0.1:")
        (server,) = servers_of(owner.pid)
        owner.send_signal(signal.SIGKILL)  # no chance to clean up, as on a case timeout
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while servers_of(owner.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert servers_of(owner.pid) == [], "the server outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()


def test_threads_and_asyncio_send_the_same_request():
    """One minimal HTTP/1.0 client for both, so the comparison is sockets vs event loop."""
    import asyncio

    seen: list[bytes] = []

    async def serve(reader, writer):
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        item = (f"http://127.0.0.1:{port}/?bytes=3&delay=0", 1)
        sync = await asyncio.to_thread(tasks.http_get, item)
        coro = await tasks.http_get_async(item)
        server.close()
        return sync, coro

    assert asyncio.run(main()) == (3, 3)
    assert len(seen) == 2 and seen[0] == seen[1], seen
    assert seen[0].startswith(b"GET /?bytes=3&delay=0 HTTP/1.0\r\n")
