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
import time
from collections.abc import AsyncIterator, Iterable

import pytest
import socketio
from support.leaks import (
    MiB,
    Snapshot,
    client_cycles,
    quiet_baseline,
    settled,
    start_pair,
)
from support.redis_procs import RedisServer
from support.sio_servers import RecordingClient, SioServer, eventually

from socketio_redis_async import AsyncRedisAdapter

# RSS may grow this much over a phase after warm-up: allocator and interpreter noise is
# about 1-2 MiB here; a leak of 1 KiB per cycle over 10,000 cycles would exceed it.
RSS_BOUND = 8 * MiB
# Objects of the adapter's own types (and bound methods of them) that may be alive after a
# phase beyond the baseline: a few in flight, never one per socket, room or namespace.
ADAPTER_OBJECTS_BOUND = 20


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
    """Two servers (ASGI, aiohttp) accepting any namespace."""
    a, b = await start_pair(fresh_redis.url)
    yield a, b
    await a.stop()
    await b.stop()


async def test_real_clients_connect_and_disconnect(fresh_redis, pair):
    a, b = pair
    mgrs = (a.mgr, b.mgr)
    # Warm-up long enough to fill the HTTP stack's bounded caches (yarl keeps ~250 URLs).
    await client_cycles(a, b, 300)
    baseline = await quiet_baseline(fresh_redis, mgrs)

    cycles = 300
    began = time.monotonic()
    await client_cycles(a, b, cycles, offset=300)
    seconds = time.monotonic() - began

    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"real clients, {cycles} cycles", after, seconds, RSS_BOUND)
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
    baseline = await quiet_baseline(fresh_redis, mgrs)
    assert baseline.patterns == 1  # "socket.io#/#*", held by both servers

    names = [f"/dyn-{i}" for i in range(200)]
    began = time.monotonic()
    await visit(names)
    seconds = time.monotonic() - began

    await eventually(lambda: a.mgr.namespaces == b.mgr.namespaces == {"/"})
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"{len(names)} dynamic namespaces", after, seconds, RSS_BOUND)
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
    baseline = await quiet_baseline(fresh_redis, mgrs)

    cycles = 10_000
    began = time.monotonic()
    await socket_cycles(mgrs, cycles, offset=1000)
    seconds = time.monotonic() - began
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report(f"manager API, {cycles} sockets", after, seconds, RSS_BOUND)
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)
    # No HTTP stack here, so every object counts: not one per 20 cycles may stay.
    assert after.objects - baseline.objects < cycles // 20, report

    began = time.monotonic()
    await room_churn(mgrs, 1000, "rooms")
    seconds = time.monotonic() - began
    after = await settled(fresh_redis, baseline, mgrs)
    report = baseline.report("manager API, 1000 rooms", after, seconds, RSS_BOUND)
    assert_nothing_left(baseline, after, mgrs, report)
    assert_no_adapter_objects_left(baseline, after, report)
    assert after.objects - baseline.objects < cycles // 20, report
    received = sum(mgr.stats()["received"] for mgr in mgrs)
    assert received > cycles // 10, "the broadcasts and requests did go through Redis"
