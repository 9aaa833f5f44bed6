"""The soak: many real client cycles in one process, sampled as they run.

Cycles are :func:`.leaks.client_cycles` (connect, join, maybe a broadcast or a fetch
through Redis, leave, disconnect), alternating between a Uvicorn and an aiohttp server,
with a dynamic namespace created and emptied every ``namespace_every`` cycles. At each
sample point the run pauses until short-lived tasks are gone, then records RSS, asyncio
tasks, gc objects, the adapter's own objects, the subscriptions Redis holds and the
adapters' request tables; with ``trace`` it also records tracemalloc's view, grouped by
the package that owns each allocation. Used by ``bench/soak.py`` (the long run) and
tests/integration/test_soak.py (the short one).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .leaks import (
    MiB,
    adapter_object_count,
    client_cycles,
    pubsub_state,
    rss_bytes,
)
from .redis_procs import RedisCluster, RedisServer
from .sio_servers import SioServer, eventually

__all__ = ["Sample", "flatness", "owner_of", "run_soak"]

_STDLIB = sysconfig.get_paths()["stdlib"]
_SITE = sysconfig.get_paths()["purelib"]


@dataclass
class Sample:
    cycle: int
    seconds: float
    rss: int
    tasks: int
    objects: int
    adapter_objects: int
    channels: int  # channels Redis holds a subscription for
    subscriptions: int  # the sum of their NUMSUB
    patterns: int  # NUMPAT
    pending_requests: int  # the adapters' request tables, summed
    namespaces: int  # namespaces the adapters are subscribed to, summed
    traced: int = 0  # tracemalloc's current total, when tracing
    owners: Counter[str] = field(default_factory=Counter)  # traced bytes per owner

    def row(self) -> str:
        traced = f" {self.traced / MiB:8.2f}" if self.traced else ""
        return (
            f"{self.cycle:>7} {self.seconds:8.1f} {self.rss / MiB:8.2f} {self.tasks:>5} "
            f"{self.objects:>8} {self.adapter_objects:>5} {self.channels:>4} "
            f"{self.subscriptions:>4} {self.patterns:>3} {self.pending_requests:>4} "
            f"{self.namespaces:>3}{traced}"
        )


HEADER = "  cycle  seconds  RSS MiB tasks  gc objs adapt chan nsub pat pend nsp (traced MiB)"


def owner_of(filename: str) -> str:
    """Who owns an allocation made in ``filename``: a site-packages distribution's top
    package (``engineio``, ``aiohttp``), ``stdlib:<module>``, our package, or the tests."""
    if "socketio_redis_async" in filename:
        return "socketio_redis_async"
    if filename.startswith(_SITE):
        return filename[len(_SITE) :].lstrip("/").split("/")[0].removesuffix(".py")
    if filename.startswith(_STDLIB):
        return "stdlib:" + filename[len(_STDLIB) :].lstrip("/").split("/")[0].removesuffix(".py")
    if "/tests/" in filename:
        return "tests"
    return filename


def _first_owner(frames: Sequence[tracemalloc.Frame]) -> str:
    """The innermost frame outside the standard library decides (asyncio and the
    socket module allocate for whoever called them); all-stdlib stacks stay stdlib."""
    for frame in frames:
        owner = owner_of(frame.filename)
        if not owner.startswith("stdlib:"):
            return owner
    return owner_of(frames[0].filename) if frames else "?"


def traced_by_owner() -> tuple[int, Counter[str]]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    owners: Counter[str] = Counter()
    for trace in snapshot.traces:
        owners[_first_owner(list(reversed(trace.traceback)))] += trace.size
    return tracemalloc.get_traced_memory()[0], owners


async def _quiet(timeout: float = 10.0) -> None:
    """Until the task count has not changed for half a second (longer than the servers'
    ping interval), so ended sockets' tasks are gone."""
    deadline = time.monotonic() + timeout
    count, since = len(asyncio.all_tasks()), time.monotonic()
    while time.monotonic() - since < 0.5 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if len(asyncio.all_tasks()) != count:
            count, since = len(asyncio.all_tasks()), time.monotonic()


async def take_sample(
    cycle: int,
    began: float,
    redis: RedisServer | RedisCluster,
    servers: Sequence[SioServer],
    *,
    prefix: str = "",
    trace: bool = False,
) -> Sample:
    mgrs = [server.mgr for server in servers]
    for mgr in mgrs:
        await mgr.flush()
    # Emptied dynamic namespaces are unsubscribed in the background.
    await eventually(lambda: all(mgr.namespaces == {"/"} for mgr in mgrs), timeout=10)
    await _quiet()
    gc.collect()
    objects = gc.get_objects()
    channels, patterns = pubsub_state(redis, prefix)
    traced, owners = traced_by_owner() if trace else (0, Counter[str]())
    sample = Sample(
        cycle=cycle,
        seconds=time.monotonic() - began,
        rss=rss_bytes(),
        tasks=len(asyncio.all_tasks()),
        objects=len(objects),
        adapter_objects=adapter_object_count(objects).total(),
        channels=len(channels),
        subscriptions=sum(channels.values()),
        patterns=patterns,
        pending_requests=sum(mgr.stats()["pending_requests"] for mgr in mgrs),
        namespaces=sum(len(mgr.namespaces) for mgr in mgrs),
        traced=traced,
        owners=owners,
    )
    del objects
    return sample


async def run_soak(
    redis: RedisServer | RedisCluster,
    servers: tuple[SioServer, SioServer],
    *,
    cycles: int,
    sample_at: Sequence[int],
    namespace_every: int = 50,
    prefix: str = "",
    trace: bool = False,
    time_limit: float | None = None,
    report: Callable[[Sample], None] = lambda sample: None,
) -> list[Sample]:
    """Run ``cycles`` client cycles across ``servers``, sampling at cycle 0 and at each of
    ``sample_at``; stop early (after a sample) once ``time_limit`` seconds have passed."""
    a, b = servers
    ready = room_subscribed(redis, prefix) if isinstance(redis, RedisCluster) else None
    points = sorted({0, *(n for n in sample_at if 0 < n <= cycles)})
    began = time.monotonic()
    samples: list[Sample] = []
    done = 0
    for point in points:
        await client_cycles(
            a, b, point - done, offset=done, namespace_every=namespace_every, before_broadcast=ready
        )
        done = point
        samples.append(await take_sample(done, began, redis, servers, prefix=prefix, trace=trace))
        report(samples[-1])
        if time_limit is not None and samples[-1].seconds > time_limit:
            break
    return samples


def room_subscribed(
    cluster: RedisCluster, prefix: str
) -> Callable[[SioServer, str], Awaitable[None]]:
    """Wait until the cluster reports a subscriber for a room's channel of ``/`` (the
    sharded adapter's dynamic mode subscribes after the join, in the background)."""

    def subscribers(channel: bytes) -> int:
        total = 0
        for node in cluster.masters():
            with node.client(socket_timeout=2) as probe:
                total += int(probe.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1])
        return total

    async def ready(server: SioServer, room: str) -> None:
        channel = f"{prefix}#/#{room}#".encode()
        await eventually(lambda: subscribers(channel) > 0, timeout=5)

    return ready


@dataclass
class Flatness:
    """What changed between the sample that ends warm-up and the last sample."""

    cycles: int  # measured cycles after warm-up
    rss_growth: int  # bytes, last minus warm-up sample
    rss_slope: float  # least-squares bytes per 1,000 cycles over the measured samples
    problems: list[str]


def flatness(samples: Sequence[Sample], warmup_cycles: int) -> Flatness:
    """Compare every sample after warm-up with the first sample at or after
    ``warmup_cycles``: tasks, subscriptions and namespaces equal, request tables empty;
    RSS is reported (growth and slope) for the caller to bound."""
    measured = [s for s in samples if s.cycle >= warmup_cycles]
    if len(measured) < 2:
        raise ValueError("need at least two samples after warm-up")
    base = measured[0]
    problems = []
    for s in measured[1:]:
        for name in ("tasks", "channels", "subscriptions", "patterns", "namespaces"):
            if getattr(s, name) != getattr(base, name):
                problems.append(
                    f"{name} {getattr(base, name)} -> {getattr(s, name)} at cycle {s.cycle}"
                )
    problems += [
        f"{s.pending_requests} pending requests at cycle {s.cycle}"
        for s in measured
        if s.pending_requests
    ]
    xs = [s.cycle / 1000 for s in measured]
    ys = [float(s.rss) for s in measured]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return Flatness(measured[-1].cycle - base.cycle, measured[-1].rss - base.rss, slope, problems)


def print_owner_growth(before: Sample, after: Sample, top: int = 12, out: Any = None) -> None:
    """Traced bytes gained or lost per owner between two samples, largest first."""
    out = out or sys.stdout
    delta = Counter(after.owners)
    delta.subtract(before.owners)
    rows = sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:top]
    print(f"  traced growth {before.cycle} -> {after.cycle}:", file=out)
    for owner, size in rows:
        print(
            f"    {size / 1024:+10.1f} KiB  {owner} (now {after.owners[owner] / 1024:.0f} KiB)",
            file=out,
        )
