"""The io-http scenario's server, run in a process of its own, outside the measured tree.

A server thread inside the case process would share the driver's GIL with the sequential,
threads and asyncio backends but not with processes, Dask or Ray: an unfair fixture. Run as
a child of the case process, it would count in the case's memory and CPU instead. So the
launcher binds 127.0.0.1 on a free port, forks the server, prints "PID PORT" and exits: the
server is re-parented away from the case's process tree (a remote server, as far as the
measurements go) and its owner, `harness.workloads.io.http_server`, stops it by pid.

It cannot outlive the case: it exits when the process that started it (the case process)
is gone, and it carries the case's token in its environment, by which the runner stops
every process a case left. Standard library only, so it starts in a few milliseconds.

Usage: python -m harness.http_server OWNER_PID
"""

from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: Seconds between checks that the owner is still alive.
OWNER_POLL_S = 0.2


class Handler(BaseHTTPRequestHandler):
    """GET /?bytes=N&delay=S: waits S seconds (a slow remote server), then sends N bytes.

    HTTP/1.0 (the handler's default): the server closes the connection after each answer.
    """

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        query = parse_qs(urlsplit(self.path).query)
        size = int(query.get("bytes", ["0"])[0])
        delay = float(query.get("delay", ["0"])[0])
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"x" * size)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per request would drown the case log


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many concurrent clients must not wait on a SYN retry


def _exit_with(owner: int) -> None:
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass  # the pid exists (reused by another user's process is as good as gone: rare)
        time.sleep(OWNER_POLL_S)


def main(argv: list[str]) -> int:
    owner = int(argv[1])
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    pid = os.fork()
    if pid:  # the launcher: say where the server is, and leave
        sys.stdout.write(f"{pid} {port}\n")
        sys.stdout.flush()
        os._exit(0)
    os.setsid()  # the case's Ctrl-C or terminal never reaches it; its owner stops it
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the launcher's pipe must close when the launcher exits
        os.dup2(devnull, fd)
    threading.Thread(target=_exit_with, args=(owner,), daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
