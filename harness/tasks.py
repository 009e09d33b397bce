"""Every function that runs on a worker, in a module that imports only the standard library.

Pool processes, Dask and Ray workers import the module of each function they are sent.
Were these beside the workloads' pydantic models, every worker would import pydantic and
the whole registry (17 MiB of unique memory per process here) and the harness would
measure itself instead of the engine. The registry (harness.workloads) says how to build
inputs and check outputs; this module is all that crosses to a worker.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

# asyncio and hashlib cost 4-8 MiB each: imported where they are used.


# --- one task, timed where it runs ---------------------------------------------------------


def timed(task: Callable[[Any], Any], item: Any) -> tuple[Any, float]:
    """`task(item)` and the seconds it ran, read inside the worker: the task's service time,
    free of everything the engine adds around it (submit, transport, scheduling, result)."""
    t0 = time.perf_counter()
    output = task(item)
    return output, time.perf_counter() - t0


async def timed_async(task: Callable[[Any], Awaitable[Any]], item: Any) -> tuple[Any, float]:
    """The coroutine variant of `timed`: from the first step of the coroutine to its end."""
    t0 = time.perf_counter()
    output = await task(item)
    return output, time.perf_counter() - t0


# --- one task, stamped for the timeline ---------------------------------------------------

#: What a stamped task returns beside its output: the node, process and OS thread it ran
#: in, and its start and end on that node's monotonic clock (`time.perf_counter`, which on
#: Linux, macOS and Windows is one clock for every process of a host).
Stamp = tuple[str, int, int, float, float]


def stamped(pair: tuple[Callable[[Any], Any], Any]) -> tuple[Any, Stamp]:
    """`task(item)` with where and when it ran: one timeline record's worker half.

    The task travels inside the input, as in `run_group`: Ray remotes only plain functions.
    """
    task, item = pair
    t0 = time.perf_counter()
    output = task(item)
    t1 = time.perf_counter()
    return output, (node_name(), os.getpid(), threading.get_native_id(), t0, t1)


async def stamped_async(pair: tuple[Callable[[Any], Awaitable[Any]], Any]) -> tuple[Any, Stamp]:
    """The coroutine variant of `stamped`: from the coroutine's first step to its end."""
    task, item = pair
    t0 = time.perf_counter()
    output = await task(item)
    t1 = time.perf_counter()
    return output, (node_name(), os.getpid(), threading.get_native_id(), t0, t1)


def stamped_group(group: tuple[Callable[[Any], Any], list[Any]]) -> list[tuple[Any, Stamp]]:
    """`stamped` on each input of a group run as one engine task (batching = "grouped")."""
    task, items = group
    return [stamped((task, item)) for item in items]


def clock_probe(_: Any = None) -> tuple[str, float]:
    """The node a probe ran on and its clock then: the driver brackets it with its own
    clock to bound that node's offset."""
    return node_name(), time.perf_counter()


_NODE: dict[int, str] = {}


def node_name() -> str:
    """The node this process runs on, as its engine names nodes: a Dask worker's host, a
    Ray node's IP address, else the host name. Read once per process (keyed by pid, so a
    forked child reads its own)."""
    pid = os.getpid()
    if pid not in _NODE:
        _NODE[pid] = _engine_node() or socket.gethostname()
    return _NODE[pid]


def _engine_node() -> str:
    """The engine's name for this node, from engines this process has already imported
    (importing one here would cost the worker what it never needed)."""
    import sys

    if "distributed" in sys.modules:
        try:
            address = sys.modules["distributed"].get_worker().address
            return urlsplit(address).hostname or ""
        except (ValueError, AttributeError):  # not inside a Dask worker
            pass
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        try:
            return str(ray.util.get_node_ip_address())
        except Exception:  # noqa: BLE001 - a driver between inits: the host name will do
            pass
    return ""


# --- CPU ---------------------------------------------------------------------------------


def sum_of_squares(n: int) -> int:
    """The article's `cpu_intensive`: sum of i**2 for i < n, in pure Python."""
    result = 0
    for i in range(n):
        result += i**2
    return result


def identity(x: int) -> int:
    """A task that does nothing: measures pure scheduling overhead, like `ray microbenchmark`."""
    return x


def count_loop(n: int) -> int:
    """The article's GIL example `cpu_work`: total += i for i < n, in pure Python."""
    total = 0
    for i in range(n):
        total += i
    return total


def sha256_rounds(item: tuple[int, int]) -> str:
    """Hash a buffer `rounds` times, chaining digests. hashlib releases the GIL while it
    hashes more than 2 KiB, so threads can run these on several cores at once."""
    from hashlib import sha256

    size, rounds = item
    buffer = bytes(size)
    digest = b""
    for _ in range(rounds):
        h = sha256(digest)
        h.update(buffer)
        digest = h.digest()
    return digest.hex()


def square(x: int) -> int:
    """The article's `pool.map(square, range(10))` task: far less work than its dispatch."""
    return x**2


# --- faults on purpose -------------------------------------------------------------------


def lock_order_deadlock(hold_s: float) -> int:
    """Never returns: thread one holds A and wants B, thread two holds B and wants A."""
    lock_a, lock_b = threading.Lock(), threading.Lock()

    def one() -> None:
        with lock_a:
            time.sleep(hold_s)
            with lock_b:
                pass

    def two() -> None:
        with lock_b:
            time.sleep(hold_s)
            with lock_a:
                pass

    threads = [threading.Thread(target=one, daemon=True), threading.Thread(target=two, daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


def exit_process(code: int) -> int:
    """Ends the process running the task at once, as a segfault or the OOM killer would."""
    os._exit(code)


def raise_error(message: str) -> None:
    raise ValueError(message)


# --- granularity -------------------------------------------------------------------------


def spin(seconds: float) -> float:
    """Busy CPU work for `seconds` of this thread's CPU time; returns what it was asked."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return seconds


# --- waiting: sleeps, HTTP, files --------------------------------------------------------


def sleep_task(seconds: float) -> float:
    """Wait without using the CPU, like a network or disk request; returns what it waited."""
    time.sleep(seconds)
    return seconds


async def sleep_async(seconds: float) -> float:
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


# Threads and asyncio speak the same minimal HTTP/1.0 client (one connection per GET, read
# until the server closes it): the comparison is blocking sockets against an event loop, not
# urllib's machinery against a hand-written client.


def _http_request(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode()
    return parts.hostname or "127.0.0.1", parts.port or 80, request


def _http_body(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        raise OSError(f"HTTP request failed: {head[:80]!r}")
    return body


def http_get(item: tuple[str, int]) -> int:
    """The article's fetch_url: `requests` GETs one after another; returns bytes received."""
    url, requests = item
    host, port, request = _http_request(url)
    received = 0
    for _ in range(requests):
        with socket.create_connection((host, port), timeout=60) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(1 << 16):
                chunks.append(chunk)
        received += len(_http_body(b"".join(chunks)))
    return received


async def http_get_async(item: tuple[str, int]) -> int:
    """The same GETs over asyncio streams."""
    import asyncio

    url, requests = item
    host, port, request = _http_request(url)
    received = 0
    for _ in range(requests):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        await writer.drain()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        received += len(_http_body(data))
    return received


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
    import asyncio

    return await asyncio.to_thread(file_write_read, item)


def _file_data(index: int, size: int) -> bytes:
    return (bytes([index % 251]) + b"harness") * (size // 8) + b"\0" * (size % 8)


# --- CPU then waiting --------------------------------------------------------------------


def cpu_then_wait(item: tuple[float, float]) -> tuple[float, float]:
    """Burn `cpu_s` of CPU time, then wait `io_s` (a request whose answer is slow)."""
    cpu_s, io_s = item
    spin(cpu_s)
    time.sleep(io_s)
    return item


async def cpu_then_wait_async(item: tuple[float, float]) -> tuple[float, float]:
    """The CPU part blocks the event loop: asyncio overlaps only the waiting."""
    import asyncio

    cpu_s, io_s = item
    spin(cpu_s)
    await asyncio.sleep(io_s)
    return item


# --- data transfer -----------------------------------------------------------------------


def echo(payload: Any) -> Any:
    """Return the payload: all the cost is in getting it to the task and back."""
    return payload


# --- queues ------------------------------------------------------------------------------


def queue_role(item: tuple[Any, ...]) -> tuple[int, int, int]:
    """Produce or consume; returns (messages, payload bytes, checksum) it handled."""
    role, q, messages, size, seed = item
    count = nbytes = checksum = 0
    if role == "produce":
        buffer = bytearray(size)
        for i in range(messages):
            buffer[0] = (seed + i) % 251
            q.put(bytes(buffer))
            count, nbytes, checksum = count + 1, nbytes + size, checksum + buffer[0]
        q.put(None)
    else:
        while (message := q.get()) is not None:
            count, nbytes, checksum = count + 1, nbytes + len(message), checksum + message[0]
    return count, nbytes, checksum


# --- shared state ------------------------------------------------------------------------


class Incrementable(Protocol):
    """What a task needs of a shared counter (each backend's `SharedCounter` is one): said
    here, so the worker side names no backend, not even in an annotation."""

    def increment(self) -> None: ...


def increment_task(item: tuple[Incrementable, int, float]) -> int:
    """The article's `increment`: `increments` times `counter += 1`, stopping early after
    `max_s` seconds (slow shared counters would otherwise take minutes); returns how many."""
    counter, increments, max_s = item
    deadline = time.perf_counter() + max_s
    done = 0
    while done < increments:
        batch = min(256, increments - done)
        for _ in range(batch):
            counter.increment()
        done += batch
        if time.perf_counter() > deadline:
            break
    return done


# --- contention: the Universal Scalability Law by construction ---------------------------


class Counted(Incrementable, Protocol):
    """A shared counter a task can also read (each backend's `SharedCounter` is one)."""

    def value(self) -> int: ...


def contention_task(item: tuple[Any, Counted | None, int, float, float, float]) -> int:
    """One task of a round of `contention` (`harness.workloads.contention` derives the law):
    `(1 - serial) x task_s` alone, then `coherency x task_s` for each ordered pair of the `n`
    tasks of its round that have begun, then `serial x task_s` holding the shared `lock`.

    `begun` counts tasks as they begin, `base` is its count before this round began; without
    it (no coherency cost) nothing is counted. Returns `n`, or 0 when not counted."""
    lock, begun, base, task_s, serial, coherency = item
    if begun is not None:
        begun.increment()
    time.sleep((1.0 - serial) * task_s)
    n = 0
    if begun is not None:
        n = begun.value() - base
        time.sleep(coherency * task_s * n * (n - 1))
    with lock:
        time.sleep(serial * task_s)
    return n


# --- readiness probes of the backends --------------------------------------------------


def ready_probe(barrier_timeout_s: float = 60.0) -> int:
    """A trivial task that waits at the process-wide readiness barrier, if one is set.

    Used by pool backends: once `workers` probes have passed the barrier together, every
    worker exists and has run a task.
    """
    barrier = _READY_BARRIER
    if barrier is not None:
        barrier.wait(barrier_timeout_s)
    return os.getpid()


def install_ready_barrier(barrier: Any) -> None:
    """Pool initializer: remember the barrier the readiness probe waits at."""
    global _READY_BARRIER
    _READY_BARRIER = barrier


_READY_BARRIER: Any = None


def ray_where_after(seconds: float) -> tuple[str, int]:
    """Readiness probe: the node and process a task ran in."""
    import ray

    time.sleep(seconds)
    try:
        node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (never in practice)
        node = ""
    return node, os.getpid()


# --- task graphs (harness.graph) ---------------------------------------------------------


def apply_node(fn: Callable[..., Any], *args: Any) -> Any:
    """One graph node where it runs: `fn(*args)`, shared arrays attached first. Dask and Ray
    pass futures and object refs as top-level arguments and resolve them to values here."""
    return fn(*(local(a) for a in args))


def apply_call(call: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    """`apply_node` for a pool's map: one input per node, the function inside it."""
    fn, args = call
    return apply_node(fn, *args)


def pick(value: Any, index: int) -> Any:
    """One output of a node that returns several (a Dask task beside its producer)."""
    return value[index]


class SharedArray:
    """A NumPy array in shared memory (`multiprocessing.shared_memory`), passed by name:
    what a process pool's task receives instead of the array's bytes ("by reference").

    The segment is created by the driver with mode 0600 and removed after the graph ran;
    a worker maps it read-only and keeps only the latest one mapped."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: str) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype

    def attach(self) -> Any:
        held = _ATTACHED.get(os.getpid())
        if held is not None and held[0] == self.name:
            return held[2]
        _release_attached()
        import numpy as np

        segment = _attach_untracked(self.name)
        array = np.ndarray(self.shape, dtype=self.dtype, buffer=segment.buf)
        array.flags.writeable = False
        _ATTACHED[os.getpid()] = (self.name, segment, array)
        return array


_ATTACHED: dict[int, tuple[str, Any, Any]] = {}


def _attach_untracked(name: str) -> Any:
    """Map the driver's segment without registering it with a resource tracker, which would
    remove it when this worker exits (Python before 3.13 has no `track=False`). Pool
    workers run one task at a time, so the brief patch is seen by no other thread."""
    from multiprocessing import resource_tracker, shared_memory

    try:
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg]
    except TypeError:
        pass
    register = resource_tracker.register
    resource_tracker.register = lambda *args, **kwargs: None
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = register


def _release_attached() -> None:
    held = _ATTACHED.pop(os.getpid(), None)
    if held is not None:
        name, segment, array = held
        del array, held
        try:
            segment.close()
        except BufferError:  # a task still holds a view: the mapping goes with the process
            pass


def local(arg: Any) -> Any:
    """A node argument as the function sees it: shared arrays attached, else as given."""
    return arg.attach() if isinstance(arg, SharedArray) else arg


def run_group(group: tuple[Callable[[Any], Any], list[Any]]) -> list[Any]:
    """One engine task that runs a task on a group of inputs (batching = "grouped")."""
    task, items = group
    return [task(item) for item in items]


# --- graph workloads: tree-reduce, shuffle, broadcast, pipeline -----------------------------


def _busy(seconds: float) -> None:
    """Hold the CPU for `seconds`: a node's own work, beside the data it moves."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _block(seed: int, nbytes: int) -> Any:
    """`nbytes` of reproducible bytes as a NumPy array: the same on every backend."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


def tree_leaf(seed: int, nbytes: int, work_s: float) -> Any:
    """A leaf of the reduction: a partial result of `nbytes`."""
    _busy(work_s)
    return _block(seed, nbytes)


def tree_combine(left: Any, right: Any, work_s: float) -> Any:
    """Two partial results into one of the same size (bytewise sum, wrapping)."""
    import numpy as np

    _busy(work_s)
    return np.add(left, right, dtype=np.uint8)


def shuffle_map(seed: int, partitions: int, nbytes: int) -> tuple[Any, ...]:
    """One mapper: its output cut into `partitions` parts of `nbytes`, one per reducer."""
    return tuple(_block(seed * 1_000 + p, nbytes) for p in range(partitions))


def shuffle_reduce(*parts: Any) -> tuple[int, int]:
    """One reducer: one part from every mapper, summarised (length, CRC of their bytes)."""
    crc = 0
    for part in parts:
        crc = zlib.crc32(part.tobytes(), crc)
    return sum(len(p) for p in parts), crc


def broadcast_read(data: Any, index: int, readers: int) -> tuple[float, float]:
    """Read every `readers`-th element of the shared array from `index`: its sum, and when
    this task began on this host's clock (for the time to the first task's start)."""
    started = time.perf_counter()
    return float(data[index::readers].sum()), started


def pipeline_stage(item: Any, stage: int, work_s: float) -> Any:
    """One stage of an item's chain: some work, then the item's bytes transformed."""
    import numpy as np

    _busy(work_s)
    return np.add(item, stage + 1, dtype=np.uint8)
