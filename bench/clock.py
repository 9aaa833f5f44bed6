"""The clock every benchmark process stamps and reads broadcasts with.

CLOCK_MONOTONIC in milliseconds: one clock for every process on the machine, Python's
``time.monotonic()`` and Node's ``process.hrtime`` alike, so a send time taken in one
process and a receive time taken in another subtract exactly. The wall clock would not do:
NTP slews it (5 ms per second was measured on a freshly booted machine), and Node's
``performance.timeOrigin + performance.now()`` follows the monotonic clock from the wall
time at process start, so the two drift apart over a long run.
"""

from __future__ import annotations

import time


def now_ms() -> float:
    return time.monotonic() * 1000
