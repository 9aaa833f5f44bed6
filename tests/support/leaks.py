"""Measuring what a process keeps: RSS, tasks, gc objects, the adapter's own objects and the
subscriptions Redis holds, with helpers to wait until churn has settled.

Shared by the leak tests (tests/integration/test_leaks.py), the soak test and the long soak
(``bench/soak.py``), so that each measures the same things the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .redis_procs import RedisCluster, RedisServer
from .sio_servers import RecordingClient, SioServer, eventually, start_server

__all__ = [
    "MiB",
    "Snapshot",
    "adapter_object_count",
    "client_cycles",
    "pubsub_state",
    "quiet_baseline",
    "rss_bytes",
    "settled",
    "start_pair",
    "visit_namespace",
]

MiB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The Pub/Sub state Redis reports: every channel with its subscriber count, and NUMPAT.
PubSubState = tuple[dict[bytes, int], int]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def _is_adapter_type(cls: type) -> bool:
    module = getattr(cls, "__module__", None)
    return isinstance(module, str) and module.startswith("socketio_redis_async")


def _adapter_kind(obj: Any) -> str | None:
    """``"Channels"`` for an instance of one of the package's classes, ``"method
    AsyncRedisAdapter._on_request"`` for a method bound to one, else None."""
    cls = type(obj)
    if _is_adapter_type(cls):
        return cls.__name__
    if isinstance(obj, types.MethodType) and _is_adapter_type(type(obj.__self__)):
        return f"method {type(obj.__self__).__name__}.{obj.__func__.__name__}"
    return None


def pubsub_state(redis: RedisServer | RedisCluster, prefix: str = "") -> PubSubState:
    """Every channel Redis holds a subscription for, with its NUMSUB, and NUMPAT; on a
    cluster (shared by tests), the sharded channels starting with ``prefix`` (SHARDNUMSUB)
    of every running node, summed."""
    if isinstance(redis, RedisCluster):
        channels: Counter[bytes] = Counter()
        for node in redis.nodes:
            if not node.is_running:
                continue
            with node.client(socket_timeout=2) as probe:
                names = probe.execute_command("PUBSUB", "SHARDCHANNELS", f"{prefix}*")
                if names:
                    counts = probe.execute_command("PUBSUB", "SHARDNUMSUB", *names)
                    for name, count in zip(counts[::2], counts[1::2], strict=True):
                        channels[name] += int(count)
        return dict(channels), 0
    with redis.client(socket_timeout=2) as probe:
        names = probe.pubsub_channels()
        found = dict(probe.pubsub_numsub(*names)) if names else {}
        return found, int(probe.pubsub_numpat())


def adapter_object_count(objects: Iterable[Any]) -> Counter[str]:
    """How many of ``objects`` are the package's instances or methods bound to them, by kind."""
    return Counter(filter(None, map(_adapter_kind, objects)))


@dataclass
class Snapshot:
    tasks: int
    rss: int
    objects: int
    adapter_objects: Counter[str]
    channels: dict[bytes, int]  # every Pub/Sub channel Redis holds -> its subscriber count
    patterns: int

    @classmethod
    async def take(cls, redis: RedisServer | RedisCluster) -> Snapshot:
        gc.collect()
        objects = gc.get_objects()
        channels, patterns = pubsub_state(redis)
        return cls(
            tasks=len(asyncio.all_tasks()),
            rss=rss_bytes(),
            objects=len(objects),
            adapter_objects=adapter_object_count(objects),
            channels=channels,
            patterns=patterns,
        )

    def report(self, phase: str, after: Snapshot, seconds: float, rss_bound: int) -> str:
        line = (
            f"\n[leaks] {phase} in {seconds:.2f}s; "
            f"RSS {self.rss / MiB:.1f} -> {after.rss / MiB:.1f} MiB "
            f"(delta {(after.rss - self.rss) / 1024:+.0f} KiB, bound {rss_bound // MiB} MiB); "
            f"gc objects {self.objects} -> {after.objects} ({after.objects - self.objects:+d}); "
            f"adapter objects {self.adapter_objects.total()} -> {after.adapter_objects.total()}; "
            f"tasks {self.tasks} -> {after.tasks}; "
            f"channels {len(self.channels)} -> {len(after.channels)}, "
            f"patterns {self.patterns} -> {after.patterns}"
        )
        print(line)
        return line


async def _all_handled(mgrs: Iterable[Any]) -> None:
    """Return once every server has handled what was published to it so far.

    A request every other server answers is a barrier: each answers only once it has
    handled what it received before (in order, on one subscriber connection), so nothing
    published is still being read or dispatched. It also starts what a first publish
    starts lazily, so the baseline and the snapshot after a phase compare alike."""
    for mgr in mgrs:
        await mgr.flush()
    for mgr in mgrs:
        await mgr.all_rooms()


async def quiet_baseline(redis: RedisServer | RedisCluster, mgrs: Iterable[Any]) -> Snapshot:
    """A snapshot once ``mgrs`` have handled what was sent and short-lived tasks are gone:
    the task count has not changed for half a second (longer than the servers' ping
    interval)."""
    await _all_handled(mgrs)
    deadline = time.monotonic() + 10
    count, since = len(asyncio.all_tasks()), time.monotonic()
    while time.monotonic() - since < 0.5 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if len(asyncio.all_tasks()) != count:
            count, since = len(asyncio.all_tasks()), time.monotonic()
    return await Snapshot.take(redis)


async def settled(
    redis: RedisServer | RedisCluster, baseline: Snapshot, mgrs: Iterable[Any]
) -> Snapshot:
    """Wait until tasks and subscriptions are back to the baseline (work in flight may take
    a moment to finish), then take the snapshot to compare."""
    mgrs = list(mgrs)
    await _all_handled(mgrs)

    def back() -> bool:
        return (
            len(asyncio.all_tasks()) <= baseline.tasks
            and pubsub_state(redis) == (baseline.channels, baseline.patterns)
            and all(mgr.stats()["pending_requests"] == 0 for mgr in mgrs)
        )

    # On a timeout, the caller's assertions say precisely what did not come back.
    with contextlib.suppress(AssertionError):
        await eventually(back, timeout=10, interval=0.1)
    return await Snapshot.take(redis)


async def start_pair(
    redis_url: str, managers: tuple[Any, Any] | None = None
) -> tuple[SioServer, SioServer]:
    """Two servers (Uvicorn ASGI, aiohttp) accepting any namespace, each with its adapter
    (``AsyncRedisAdapter`` on ``redis_url`` unless ``managers`` are given).

    engine.io's server-side ping task of a closed socket sleeps out its ``ping_interval``
    (25 s by default) before it notices; a short interval lets the task count settle fast.
    """
    a_mgr, b_mgr = managers if managers is not None else (None, None)
    a = await start_server(redis_url, kind="asgi", manager=a_mgr)
    b = await start_server(redis_url, kind="aiohttp", manager=b_mgr)
    for server in (a, b):
        server.sio.namespaces = "*"
        server.sio.eio.ping_interval = 0.3
    return a, b


async def client_cycles(
    a: SioServer,
    b: SioServer,
    cycles: int,
    offset: int = 0,
    *,
    namespace_every: int = 0,
    before_broadcast: Callable[[SioServer, str], Awaitable[None]] | None = None,
) -> None:
    """Connect a client to A or B in turn, join a room, sometimes receive a broadcast from
    the other server or be fetched by it, leave the room, disconnect.

    With ``namespace_every`` N, every Nth cycle also visits a dynamic namespace of its own
    (``/dyn-<cycle>``, never declared): connected, a room joined and left, disconnected, so
    the namespace is created and emptied on that server. ``before_broadcast(server, room)``
    waits until a server that just joined a room can receive its broadcasts (the sharded
    adapter's dynamic mode subscribes to a room's channel in the background).
    """
    for i in range(offset, offset + cycles):
        here, there = (a, b) if i % 2 else (b, a)
        room = f"room-{i % 10}"
        client = RecordingClient()
        await client.connect(here.url)
        await client.join(room)
        if i % 10 == 0:
            if before_broadcast is not None:
                await before_broadcast(here, room)
            await there.sio.emit("hello", i, to=room)
            await eventually(lambda client=client, i=i: client.events("hello") == [(i,)])
        if i % 25 == 0:
            fetched = await there.mgr.fetch_sockets(rooms=room)
            assert [s.id for s in fetched] == [client.sid()]
        await client.leave(room)
        await client.close()
        if namespace_every and i % namespace_every == 0:
            await visit_namespace(here, f"/dyn-{i}")


async def visit_namespace(server: SioServer, name: str) -> None:
    """A client connects to the undeclared namespace ``name``, the server puts it in a room
    and takes it out again, it disconnects: the server creates the namespace (and its
    subscriptions), then it is empty again."""
    client = RecordingClient()
    sid = await client.connect(server.url, namespaces=[name])
    assert name in server.mgr.namespaces
    await server.sio.enter_room(sid, "dyn-room", namespace=name)
    await server.sio.leave_room(sid, "dyn-room", namespace=name)
    await client.close()
