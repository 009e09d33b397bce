"""Three functions whose fastest way to run on a small machine is known in advance.

`harness tune` should find it for each (tests/test_tune.py checks it on every CI run):

- `tiny`: about 25 us of pure Python per task. The GIL rules out threads, and a process
  pool's per-task message costs more than the task: a process pool **with chunks** wins.
- `wait`: sleeps 20 ms and computes nothing. CPU is not the limit: **many workers** win,
  and threads are the cheapest many workers.
- `digest`: SHA-256 of 8 MiB in 1 MiB updates. hashlib releases the GIL on large buffers,
  so any **parallel backend** wins, threads included (about the core count).
"""

from __future__ import annotations

import hashlib
import time

BLOCK = b"harness" * (1 << 17)  # 896 KiB


def tiny(x: int) -> int:
    total = 0
    for i in range(700):
        total += (i * x) % 7
    return total


def wait(x: int) -> int:
    time.sleep(0.02)
    return x


def digest(x: int) -> str:
    h = hashlib.sha256(x.to_bytes(8, "little"))
    for _ in range(9):
        h.update(BLOCK)
    return h.hexdigest()
