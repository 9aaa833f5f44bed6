"""Nothing accumulates when sockets, rooms and namespaces come and go.

Each test warms up first (caches, lazily created tasks and connections), takes a baseline,
runs a phase of churn across two servers, then checks that everything came back: asyncio
tasks, ``mgr.rooms``, pending requests, the subscriptions Redis holds (``PUBSUB CHANNELS``,
``NUMSUB``, ``NUMPAT``), objects owned by the adapter, and process RSS within a stated
bound. The figures are printed (``pytest -s`` shows them).

Real websocket clients are used for a representative number of cycles; the 10,000-cycle and
1,000-room phases drive the manager API directly (``connect``,
``enter_room``, ``leave_room``, ``disconnect``), which is what python-socketio calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import types
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
import socketio
from support.redis_procs import RedisServer
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncRedisAdapter

MiB = 1024 * 1024
# RSS may grow this much over a phase after warm-up: allocator and interpreter noise is
# about 1-2 MiB here; a leak of 1 KiB per cycle over 10,000 cycles would exceed it.
RSS_BOUND = 8 * MiB
# Objects of the adapter's own types (and bound methods of them) that may be alive after a
# phase beyond the baseline: a few in flight, never one per socket, room or namespace.
ADAPTER_OBJECTS_BOUND = 20

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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


def pubsub_state(redis: RedisServer) -> tuple[dict[bytes, int], int]:
    """Every channel Redis holds a subscription for, with its NUMSUB, and NUMPAT."""
    with redis.client(socket_timeout=2) as probe:
        names = probe.pubsub_channels()
        channels = dict(probe.pubsub_numsub(*names)) if names else {}
        return channels, int(probe.pubsub_numpat())


@dataclass
class Snapshot:
    tasks: int
    rss: int
    objects: int
    adapter_objects: Counter[str]
    channels: dict[bytes, int]  # every Pub/Sub channel Redis holds -> its subscriber count
    patterns: int

    @classmethod
    async def take(cls, redis: RedisServer) -> Snapshot:
        gc.collect()
        objects = gc.get_objects()
        channels, patterns = pubsub_state(redis)
        return cls(
            tasks=len(asyncio.all_tasks()),
            rss=rss_bytes(),
            objects=len(objects),
            adapter_objects=Counter(filter(None, map(_adapter_kind, objects))),
            channels=channels,
            patterns=patterns,
        )

    def report(self, phase: str, after: Snapshot, seconds: float) -> str:
        line = (
            f"\n[leaks] {phase} in {seconds:.2f}s; "
            f"RSS {self.rss / MiB:.1f} -> {after.rss / MiB:.1f} MiB "
            f"(delta {(after.rss - self.rss) / 1024:+.0f} KiB, bound {RSS_BOUND // MiB} MiB); "
            f"gc objects {self.objects} -> {after.objects} ({after.objects - self.objects:+d}); "
            f"adapter objects {self.adapter_objects.total()} -> {after.adapter_objects.total()}; "
            f"tasks {self.tasks} -> {after.tasks}; "
            f"channels {len(self.channels)} -> {len(after.channels)}, "
            f"patterns {self.patterns} -> {after.patterns}"
        )
        print(line)
        return line


async def quiet_baseline(redis: RedisServer) -> Snapshot:
    """The baseline, once the warm-up's short-lived tasks are gone: the task count has not
    changed for half a second (longer than the servers' ping interval)."""
    deadline = time.monotonic() + 10
    count, since = len(asyncio.all_tasks()), time.monotonic()
    while time.monotonic() - since < 0.5 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if len(asyncio.all_tasks()) != count:
            count, since = len(asyncio.all_tasks()), time.monotonic()
    return await Snapshot.take(redis)


async def settled(
    redis: RedisServer, baseline: Snapshot, mgrs: Iterable[AsyncRedisAdapter]
) -> Snapshot:
    """Wait until tasks and subscriptions are back to the baseline (work in flight may take
    a moment to finish), then take the snapshot to compare."""
    mgrs = list(mgrs)
    for mgr in mgrs:
        await mgr.flush()

    def back() -> bool:
        return (
            len(asyncio.all_tasks()) <= baseline.tasks
            and pubsub_state(redis) == (baseline.channels, baseline.patterns)
            and all(mgr.stats()["pending_requests"] == 0 for mgr in mgrs)
        )

    # On a timeout, the assertions that follow say precisely what did not come back.
    with contextlib.suppress(AssertionError):
        await eventually(back, timeout=10, interval=0.1)
    return await Snapshot.take(redis)


def assert_nothing_left(
    baseline: Snapshot, after: Snapshot, mgrs: Iterable[AsyncRedisAdapter], report: str
) -> None:
    for mgr in mgrs:
        assert mgr.rooms == {}, report
        assert mgr.stats()["pending_requests"] == 0, report
    assert after.tasks == baseline.tasks, (
        f"{after.tasks - baseline.tasks} task(s) left: "
        f"{sorted(t.get_name() + ':' + repr(t.get_coro()) for t in asyncio.all_tasks())}"
    )
    assert after.channels == baseline.channels, report
    assert after.patterns == baseline.patterns, report
    assert after.rss - baseline.rss < RSS_BOUND, report


def assert_no_adapter_objects_left(baseline: Snapshot, after: Snapshot, report: str) -> None:
    grown = after.adapter_objects - baseline.adapter_objects
    assert grown.total() <= ADAPTER_OBJECTS_BOUND, (
        f"{grown.total()} more objects of socketio_redis_async (instances and bound methods) "
        f"are alive after the phase than before it: {dict(grown.most_common(8))}{report}"
    )


# --- real servers and clients -----------------------------------------------------------------


@pytest.fixture
async def pair(fresh_redis: RedisServer) -> AsyncIterator[tuple[SioServer, SioServer]]:
    """Two servers (ASGI, aiohttp) accepting any namespace.

    engine.io's server-side ping task of a closed socket sleeps out its ``ping_interval``
    (25 s by default) before it notices; a short interval lets the task count settle fast.
    """
    a = await start_server(fresh_redis.url, kind="asgi")
    b = await start_server(fresh_redis.url, kind="aiohttp")
    for server in (a, b):
        server.sio.namespaces = "*"
        server.sio.eio.ping_interval = 0.3
    yield a, b
    await a.stop()
    await b.stop()


async def client_cycles(a: SioServer, b: SioServer, cycles: int, offset: int = 0) -> None:
    """Connect a client to A or B in turn, join a room, sometimes receive a broadcast from
    the other server or be fetched by it, disconnect."""
    for i in range(offset, offset + cycles):
        here, there = (a, b) if i % 2 else (b, a)
        room = f"room-{i % 10}"
        client = RecordingClient()
        await client.connect(here.url)
        await client.join(room)
        if i % 10 == 0:
            await there.sio.emit("hello", i, to=room)
            await eventually(lambda client=client, i=i: client.events("hello") == [(i,)])
        if i % 25 == 0:
            fetched = await there.mgr.fetch_sockets(rooms=room)
            assert [s.id for s in fetched] == [client.sid()]
        await client.close()


async def test_real_clients_connect_and_disconnect(fresh_redis, pair):
    a, b = pair
    mgrs = (a.mgr, b.mgr)
    # Warm-up long enough to fill the HTTP stack's bounded caches (yarl keeps ~250 URLs).
    await client_cycles(a, b, 300)
    baseline = await quiet_baseline(fresh_redis)

    cycles = 300
    began = time.monotonic()
    await client_cycles(a, b, cycles, offset=300)
    seconds = time.monotonic() - began

    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"real clients, {cycles} cycles", after, seconds)
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)
    # A socket or session left behind would cost dozens of objects per cycle; what does
    # grow here (~200: weakrefs, timer handles) grows once, not with further cycles.
    assert after.objects - baseline.objects < 2 * cycles, report


async def test_dynamic_namespaces_come_and_go(fresh_redis, pair):
    """200 namespaces the servers never declared, each connected then left: each is
    subscribed on its first socket and unsubscribed after its last one, on either server;
    the declared namespace ``/`` stays subscribed."""
    a, b = pair
    mgrs = (a.mgr, b.mgr)

    async def visit(names: list[str]) -> None:
        for i, name in enumerate(names):
            here = (a, b)[i % 2]
            client = RecordingClient()
            await client.connect(here.url, namespaces=[name])
            assert name in here.mgr.namespaces
            await client.close()

    await visit([f"/warm-up-{i}" for i in range(20)])
    await eventually(lambda: a.mgr.namespaces == b.mgr.namespaces == {"/"})
    baseline = await quiet_baseline(fresh_redis)
    assert baseline.patterns == 1  # "socket.io#/#*", held by both servers

    names = [f"/dyn-{i}" for i in range(200)]
    began = time.monotonic()
    await visit(names)
    seconds = time.monotonic() - began

    await eventually(lambda: a.mgr.namespaces == b.mgr.namespaces == {"/"})
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"{len(names)} dynamic namespaces", after, seconds)
    with fresh_redis.client(socket_timeout=2) as probe:
        counts = probe.pubsub_numsub(*(f"socket.io-request#{n}#" for n in names))
    assert {count for _, count in counts} == {0}, report
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)


# --- the manager API, for volume ------------------------------------------------------------


@pytest.fixture
async def managers(fresh_redis: RedisServer) -> AsyncIterator[tuple[AsyncRedisAdapter, ...]]:
    """Two adapters on bare ``AsyncServer``s (no HTTP): python-socketio's calls, minus I/O."""
    mgrs = []
    for _ in range(2):
        mgr = AsyncRedisAdapter(fresh_redis.url)
        socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
        await mgr.start()
        mgrs.append(mgr)
    yield tuple(mgrs)
    for mgr in mgrs:
        await mgr.aclose()


async def connect(mgr: AsyncRedisAdapter, eio_sid: str, namespace: str = "/") -> str:
    """``connect(eio_sid)``: a complete connection on python-socketio 5.16 to 5.18+ alike."""
    sid = await mgr.connect(eio_sid, namespace)
    assert sid is not None
    return str(sid)


async def socket_cycles(mgrs: tuple[AsyncRedisAdapter, ...], cycles: int, offset: int) -> None:
    """Connect, join a room, leave it, disconnect; every 10th cycle the other server emits
    to the room and asks the socket's server to join it elsewhere (a request); every 100th
    it fetches the room's sockets (a request awaiting answers)."""
    for i in range(offset, offset + cycles):
        here, there = mgrs[i % 2], mgrs[(i + 1) % 2]
        room = f"room-{i % 50}"
        sid = await connect(here, f"eio-{i}")
        await here.enter_room(sid, "/", room)
        if i % 10 == 0:
            await there.emit("hello", i, to=room)
            await there.enter_room(sid, "/", "joined-remotely")
        if i % 100 == 0:
            assert [s.id for s in await there.fetch_sockets(rooms=room)] == [sid]
        await here.leave_room(sid, "/", room)
        await here.disconnect(sid, "/")


async def room_churn(mgrs: tuple[AsyncRedisAdapter, ...], rooms: int, tag: str) -> None:
    """50 sockets make ``rooms`` rooms between them, each room gets a broadcast from the
    other server; half the rooms are left one by one, the rest go with the disconnect."""
    sockets = []
    per_socket = rooms // 50
    for i in range(50):
        here = mgrs[i % 2]
        sid = await connect(here, f"{tag}-eio-{i}")
        sockets.append((here, sid))
        for j in range(per_socket):
            await here.enter_room(sid, "/", f"{tag}-{i}-{j}")
    made = [r for mgr in mgrs for r in mgr.rooms["/"] if str(r).startswith(f"{tag}-")]
    assert len(made) == rooms
    for i in range(50):
        for j in range(per_socket):
            await mgrs[(i + 1) % 2].emit("to-room", j, to=f"{tag}-{i}-{j}")
    for i, (here, sid) in enumerate(sockets):
        for j in range(per_socket // 2):
            await here.leave_room(sid, "/", f"{tag}-{i}-{j}")
        await here.disconnect(sid, "/")


async def test_manager_api_10000_sockets_and_1000_rooms(fresh_redis, managers):
    mgrs = managers
    await socket_cycles(mgrs, 1000, offset=0)
    await room_churn(mgrs, 1000, "warm-up")
    baseline = await quiet_baseline(fresh_redis)

    cycles = 10_000
    began = time.monotonic()
    await socket_cycles(mgrs, cycles, offset=1000)
    seconds = time.monotonic() - began
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"manager API, {cycles} sockets", after, seconds)
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)
    # No HTTP stack here, so every object counts: not one per 20 cycles may stay.
    assert after.objects - baseline.objects < cycles // 20, report

    began = time.monotonic()
    await room_churn(mgrs, 1000, "rooms")
    seconds = time.monotonic() - began
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report("manager API, 1000 rooms", after, seconds)
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)
    assert after.objects - baseline.objects < cycles // 20, report
    received = sum(mgr.stats()["received"] for mgr in mgrs)
    assert received > cycles // 10, "the broadcasts and requests did go through Redis"
