"""AsyncRedisStreamsAdapter between Python servers on a private Redis.

Every emit form and the cluster API, then the point of the adapter: a steady stream of
numbered broadcasts crosses repeated connection kills and Redis restarts with nothing lost,
duplicated or reordered; and a server cut off for longer than the stream holds counts
exactly the entries it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from support.redis_procs import RedisServer, free_port
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncRedisStreamsAdapter, ConnectionFailedError, PublishError

DONE = "__done__"
RATE = 100  # broadcasts per second in the fault tests
FAULTS = 10


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"stream_name": f"stream-{tag}", "channel_prefix": f"sio-{tag}"}


@pytest.fixture
async def cluster() -> AsyncIterator[Callable[..., Any]]:
    """``make(url, count, **options)`` starts streams servers; ``make.client`` connects."""
    started: list[SioServer] = []
    clients: list[RecordingClient] = []

    async def make(url: str, count: int = 2, **options: Any) -> list[SioServer]:
        for i in range(count):
            mgr = AsyncRedisStreamsAdapter(url, **options)
            kind = "asgi" if i % 2 == 0 else "aiohttp"
            started.append(await start_server("", manager=mgr, kind=kind))
        return started[-count:]

    async def client(server: SioServer, rooms: Any = (), **kw: Any) -> RecordingClient:
        c = RecordingClient(**kw)
        clients.append(c)
        await c.connect(server.url)
        for room in rooms:
            await c.join(room)
        return c

    make.client = client  # type: ignore[attr-defined]
    yield make
    for c in clients:
        await c.close()
    for server in started:
        await server.stop()


async def settle(sender: SioServer, clients: list[RecordingClient]) -> None:
    await sender.sio.emit(DONE)
    await eventually(lambda: all(c.events(DONE) for c in clients))


async def test_every_emit_form_reaches_exactly_the_right_clients(cluster, redis_url, names):
    a, b = await cluster(redis_url, **names)
    a1 = await cluster.client(a, ["red", 42])
    a2 = await cluster.client(a, ["blue"])
    b1 = await cluster.client(b, ["red"])
    b2 = await cluster.client(b, ["blue", "green"])
    everyone = {"a1": a1, "a2": a2, "b1": b1, "b2": b2}
    for sender in (a, b):
        for c in everyone.values():
            c.received.clear()
        await sender.sio.emit("all", {"x": 1.5})
        await sender.sio.emit("room", b"\x01\x02", to="red")
        await sender.sio.emit("rooms", [1, b"\x03"], to=["blue", 42])
        await sender.sio.emit("except", "e", skip_sid=[b1.sid(), a2.sid()])
        await sender.mgr.emit("except-room", None, to="blue", skip_sid="green")
        await sender.sio.emit("sid", {"b": b"\xff"}, to=b2.sid())
        await sender.sio.emit("sid", {"b": b"\xff"}, to=a1.sid())
        await settle(sender, list(everyone.values()))

        def got(event: str) -> dict[str, list[Any]]:
            return {n: c.events(event) for n, c in everyone.items() if c.events(event)}

        assert got("all") == {n: [({"x": 1.5},)] for n in everyone}
        assert got("room") == {"a1": [(b"\x01\x02",)], "b1": [(b"\x01\x02",)]}
        assert got("rooms") == {n: [([1, b"\x03"],)] for n in ("a1", "a2", "b2")}
        assert got("except") == {"a1": [("e",)], "b2": [("e",)]}
        assert got("except-room") == {"a2": [()]}
        assert got("sid") == {"a1": [({"b": b"\xff"},)], "b2": [({"b": b"\xff"},)]}


async def test_broadcasts_travel_in_the_stream_and_requests_by_pubsub(cluster, redis_server, names):
    (a,) = await cluster(redis_server.url, count=1, **names)
    await a.sio.emit("evb", b"\x01\x02\x03", to="room1", skip_sid="room2")
    await a.mgr.sockets_join("roomX", to="room1")
    await a.mgr.flush()
    with redis_server.client() as r:
        entries = r.xrange(names["stream_name"])
        numsub = r.pubsub_numsub(f"{names['channel_prefix']}#/#")
    fields = [e[1] for e in entries]
    assert [f[b"type"] for f in fields] == [b"3", b"4"]
    assert {f[b"uid"] for f in fields} == {a.mgr.uid.encode()}
    assert all(f[b"nsp"] == b"/" for f in fields)
    # binary: base64 of msgpack, the same bytes as PROTOCOL.md 5.3's Node capture
    assert fields[0][b"data"] == (
        b"gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2V2YsQDAQIDpG9wdHODpXJvb21zkaVyb29tMaZleGNlcHSRpXJvb20ypWZsYWdzgA=="
    )
    assert (
        fields[1][b"data"]
        == b'{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["roomX"]}'
    )
    assert numsub == [(f"{names['channel_prefix']}#/#".encode(), 1)]


async def test_cluster_api_between_python_servers(cluster, redis_url, names):
    a, b = await cluster(redis_url, **names)
    a1 = await cluster.client(a, ["red"], ack_reply="a1-ack")
    b1 = await cluster.client(b, ["red", "blue"], ack_reply="b1-ack")
    assert await a.mgr.server_count() == 2

    sockets = await a.mgr.fetch_sockets(rooms="red")
    assert sorted(s.id for s in sockets) == sorted([a1.sid(), b1.sid()])
    remote = next(s for s in sockets if s.id == b1.sid())
    assert remote.rooms == {b1.sid(), "red", "blue"}

    @b.mgr.on("ping")
    async def ping(n: int) -> int:
        return n + 1

    assert await a.mgr.server_side_emit_with_ack("ping", 41) == [42]
    assert sorted(await a.mgr.emit_with_ack("q", 1, to="red", timeout=3)) == ["a1-ack", "b1-ack"]
    assert await remote.emit_with_ack("q2", timeout=3) == "b1-ack"

    await a.mgr.sockets_join("vip", to="red")
    await eventually(lambda: "vip" in b.mgr.get_rooms(b1.sid(), "/"))
    assert "vip" in a.mgr.get_rooms(a1.sid(), "/")
    await a.mgr.sockets_leave("vip")
    await eventually(lambda: "vip" not in b.mgr.get_rooms(b1.sid(), "/"))

    await a.sio.enter_room(b1.sid(), "green")  # a sid hosted on the other server
    await eventually(lambda: "green" in b.mgr.get_rooms(b1.sid(), "/"))

    await a.mgr.disconnect_sockets(to="blue")
    await eventually(lambda: not b1.client.connected)
    assert a1.client.connected
    assert a.mgr.stats()["pending_requests"] == 0


async def test_a_caller_owned_client_of_either_protocol_is_used_and_left_open(
    cluster, redis_url, names
):
    clients = [aioredis.Redis.from_url(redis_url, protocol=v) for v in (2, 3)]
    servers: list[SioServer] = []
    try:
        for client in clients:
            mgr = AsyncRedisStreamsAdapter(client=client, **names)
            servers.append(await start_server("", manager=mgr))
        a, b = servers
        a1 = await cluster.client(a, ["red"])
        b1 = await cluster.client(b, ["red"])
        await a.sio.emit("ab", b"\x01", to="red")
        await b.sio.emit("ba", {"n": 1}, to="red")
        await eventually(lambda: b1.events("ab") == [(b"\x01",)])
        await eventually(lambda: a1.events("ba") == [({"n": 1},)])
        assert await b.mgr.server_count() == 2
        assert await b.mgr.fetch_sockets() != []
        while servers:
            await servers.pop().stop()
        for client in clients:
            assert await client.ping()  # the adapter left it open
    finally:
        for server in servers:
            await server.stop()
        for client in clients:
            await client.aclose()


async def test_malformed_entries_are_counted_and_skipped(cluster, redis_server, names):
    """Node's reader stalls on an entry it cannot handle; ours counts it and reads on."""
    (b,) = await cluster(redis_server.url, count=1, **names)
    c = await cluster.client(b)
    stream, uid = names["stream_name"], "f" * 16
    good = b'{"packet":{"type":2,"data":["ok",1]},"opts":{"rooms":[],"except":[],"flags":{}}}'
    with redis_server.client() as r:
        r.xadd(stream, {"uid": uid, "nsp": "/", "type": "3"})  # a broadcast without data
        r.xadd(stream, {"uid": uid, "nsp": "/", "type": "3", "data": "!!not base64"})
        r.xadd(stream, {"uid": uid, "nsp": "/", "type": "3", "data": b"{" + b"\xff" * 10})
        r.xadd(stream, {"uid": uid, "nsp": "/other", "type": "3", "data": good})  # not ours
        r.xadd(stream, {"uid": uid, "type": "3", "data": good})  # no nsp: skipped
        r.xadd(stream, {"uid": uid, "nsp": "/", "type": "3", "data": good})
    await eventually(lambda: c.events("ok") == [(1,)])
    assert b.mgr.stats()["dropped_malformed"] == 3


# --- no loss under faults -------------------------------------------------------------------


async def _kill_connections(server: RedisServer) -> int:
    """CLIENT KILL every connection but the test's own: readers, writers, subscribers."""
    killed = 0
    with server.client(socket_timeout=2) as r:
        for kind in ("normal", "pubsub"):
            killed += int(r.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"))
    return killed


async def _numbered_stream(sender: SioServer, stop: asyncio.Event) -> int:
    """Emit ``n`` 0, 1, 2, ... at RATE per second until ``stop``; returns how many."""
    sent = 0
    started = time.monotonic()
    while not stop.is_set():
        await sender.sio.emit("n", sent)
        sent += 1
        await asyncio.sleep(max(0.0, started + sent / RATE - time.monotonic()))
    return sent


@pytest.mark.parametrize("fault", ["client-kill", "redis-restart"])
async def test_no_broadcast_is_lost_across_faults(cluster, names, fault):
    persistent = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    with persistent:
        a, b = await cluster(persistent.url, **names, block_time=1.0)
        receiver = await cluster.client(b)
        stop = asyncio.Event()
        emitting = asyncio.create_task(_numbered_stream(a, stop))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        for _ in range(FAULTS):
            if fault == "client-kill":
                assert await _kill_connections(persistent) >= 4
                await asyncio.sleep(0.4)
            else:
                await persistent.arestart()
                await asyncio.sleep(0.4)
        await asyncio.sleep(0.3)
        stop.set()
        sent = await emitting
        faults_took = time.monotonic() - began
        await eventually(lambda: len(receiver.events("n")) >= sent, timeout=20)
        await asyncio.sleep(0.3)  # a duplicate would arrive now
        got = [args[0] for args in receiver.events("n")]
        lost = sorted(set(range(sent)) - set(got))
        duplicated = len(got) - len(set(got))
        print(
            f"\n[{fault}] {FAULTS} faults in {faults_took:.1f} s; sent {sent}, received "
            f"{len(got)}, lost {len(lost)}, duplicated {duplicated}, in order "
            f"{got == sorted(got)}; sender stats {a.mgr.stats()}; receiver stats "
            f"{b.mgr.stats()}"
        )
        assert lost == [] and duplicated == 0 and got == list(range(sent))
        assert a.mgr.stats()["publish_failures"] == 0
        assert b.mgr.stats()["reconnects"] >= FAULTS  # the reader and the subscriber
        assert b.mgr.stats()["stream_entries_lost"] == 0
        await eventually(lambda: a.mgr.connected and b.mgr.connected, timeout=10)
        assert await a.mgr.server_count() == 2  # subscriptions came back


# --- a server cut off longer than the stream holds ------------------------------------------


class CuttableProxy:
    """A TCP relay to Redis that can cut every connection and refuse new ones (a partition)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self._open = False
        for writer in list(self._writers):
            writer.transport.abort()

    def heal(self) -> None:
        self._open = True

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_entries_trimmed_before_being_read_are_counted(cluster, fresh_redis, names):
    proxy = CuttableProxy(fresh_redis.port)
    await proxy.start()
    try:
        (a,) = await cluster(fresh_redis.url, count=1, **names, max_len=10)
        (b,) = await cluster(f"redis://127.0.0.1:{proxy.port}/0", count=1, **names)
        receiver = await cluster.client(b)
        await a.sio.emit("n", -1)
        await eventually(lambda: receiver.events("n"))
        proxy.cut()
        await eventually(lambda: not b.mgr.connected)
        sent = 1000
        for i in range(sent):
            await a.sio.emit("n", i)
        await a.mgr.flush()
        with fresh_redis.client() as r:
            kept = r.xlen(names["stream_name"])
        assert kept < sent  # MAXLEN ~ trimmed whole nodes away
        proxy.heal()
        await eventually(lambda: b.mgr.connected, timeout=10)
        await eventually(lambda: len(receiver.events("n")) == 1 + kept, timeout=10)
        got = [args[0] for args in receiver.events("n")]
        assert got == [-1, *range(sent - kept, sent)]  # the newest ones, in order
        assert b.mgr.stats()["stream_entries_lost"] == sent - kept
        print(
            f"\n[trim] cut off for {sent} entries, stream kept {kept}, counted lost "
            f"{b.mgr.stats()['stream_entries_lost']}"
        )
    finally:
        await proxy.aclose()


async def test_an_outage_never_blocks_emits_and_strict_mode_raises(cluster, fresh_redis, names):
    strict = AsyncRedisStreamsAdapter(fresh_redis.url, strict=True, **names)
    (a,) = await cluster(fresh_redis.url, count=1, **names, max_queue=5)
    await strict.start()
    try:
        fresh_redis.kill()
        began = time.monotonic()
        for i in range(10):
            await a.sio.emit("queued", i)  # queued up to max_queue, then dropped
        assert time.monotonic() - began < 0.5
        assert a.mgr.stats()["publish_failures"] == 5
        with pytest.raises(PublishError, match="not confirmed"):
            await strict.emit("x", 1)  # waits at most PUBLISH_TIMEOUT
        with pytest.raises(PublishError, match="unavailable"):
            await strict.emit("x", 2)  # the outage is known now: refused at once
        await fresh_redis.astart()
        await asyncio.wait_for(asyncio.gather(a.mgr.flush(), strict.flush()), 10)
        with fresh_redis.client() as r:
            entries = r.xrange(names["stream_name"])
        by_uid = [e[1][b"uid"].decode() for e in entries]
        assert by_uid.count(a.mgr.uid) == 5 and by_uid.count(strict.uid) == 1
        assert [e[1][b"data"] for e in entries if e[1][b"uid"] == a.mgr.uid.encode()] == [
            b'{"packet":{"type":2,"data":["queued",%d]},"opts":{"rooms":[],"except":[],"flags":{}}}'
            % i
            for i in range(5)
        ]
    finally:
        await strict.aclose()


def test_options_are_checked_at_construction():
    with pytest.raises(ValueError, match="max_len"):
        AsyncRedisStreamsAdapter(max_len=0)
    with pytest.raises(TypeError, match="read_count"):
        AsyncRedisStreamsAdapter(read_count=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="block_time"):
        AsyncRedisStreamsAdapter(block_time=0)
    with pytest.raises(ValueError, match="stream_name"):
        AsyncRedisStreamsAdapter(stream_name="")
    with pytest.raises(ValueError, match="channel_prefix"):
        AsyncRedisStreamsAdapter(channel_prefix="")
    with pytest.raises(ValueError, match="url or host"):
        AsyncRedisStreamsAdapter("redis://a:1", host="b")
    with pytest.raises(TypeError, match="client"):
        AsyncRedisStreamsAdapter(client=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client replaces"):
        AsyncRedisStreamsAdapter("redis://a:1", client=aioredis.Redis())
    with pytest.raises(ValueError, match="requests_timeout"):
        AsyncRedisStreamsAdapter(requests_timeout=0)
    with pytest.raises(ValueError, match="url"):
        AsyncRedisStreamsAdapter("http://a:1")


async def test_start_fails_clearly_without_redis_and_works_once_it_is_there(names):
    server = RedisServer()
    mgr = AsyncRedisStreamsAdapter(server.url, **names)
    try:
        with pytest.raises(ConnectionFailedError, match="cannot connect to Redis"):
            await mgr.start()
        await server.astart()
        await mgr.start()
        await mgr.start()  # idempotent
        assert mgr.connected
    finally:
        await mgr.aclose()
        await server.astop()
