"""AsyncShardedRedisAdapter between Python servers on a real local Redis Cluster.

Every emit form, the cluster API and the dynamic subscriptions, in each subscription mode;
subscriptions are checked on the nodes themselves (PUBSUB SHARDCHANNELS), not in our
bookkeeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.crc import key_slot
from support.redis_procs import RedisCluster
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncShardedRedisAdapter, RequestTimeoutError

MODES = ["static", "dynamic", "dynamic-private"]
DONE = "__done__"


def shard_channels(cluster: RedisCluster, prefix: str) -> dict[int, set[bytes]]:
    """Each node's sharded channels under ``prefix``, as the nodes report them."""
    found = {}
    for node in cluster.nodes:
        if not node.is_running:
            continue
        with node.client() as r:
            found[node.port] = set(r.execute_command("PUBSUB", "SHARDCHANNELS", f"{prefix}#*"))
    return found


def owner_port(cluster: RedisCluster, channel: bytes) -> int:
    """The port of the master serving ``channel``'s slot, from CLUSTER SLOTS."""
    slot = key_slot(channel)
    with next(n for n in cluster.nodes if n.is_running).client() as r:
        for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
    raise AssertionError(f"slot {slot} not served")


def all_shard_channels(cluster: RedisCluster, prefix: str) -> set[bytes]:
    return set().union(*shard_channels(cluster, prefix).values())


@pytest.fixture
def prefix() -> str:
    return f"sio-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_servers(
    redis_cluster: RedisCluster, prefix: str
) -> AsyncIterator[Callable[..., Any]]:
    started: list[SioServer] = []
    clients: list[RecordingClient] = []

    async def make(mode: str, count: int = 2, **options: Any) -> list[SioServer]:
        for i in range(count):
            mgr = AsyncShardedRedisAdapter(
                redis_cluster.startup_url,
                channel_prefix=prefix,
                subscription_mode=mode,
                **options,
            )
            started.append(
                await start_server("", manager=mgr, kind="asgi" if i % 2 == 0 else "aiohttp")
            )
        return started[-count:]

    async def client(server: SioServer, rooms: list[Any] = (), **kw: Any) -> RecordingClient:
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


@pytest.mark.parametrize("mode", MODES)
async def test_every_emit_form_reaches_exactly_the_right_clients(make_servers, mode):
    a, b = await make_servers(mode)
    a1 = await make_servers.client(a, ["red", 42])
    a2 = await make_servers.client(a, ["blue"])
    b1 = await make_servers.client(b, ["red"])
    b2 = await make_servers.client(b, ["blue", "green"])
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


@pytest.mark.parametrize("mode", MODES)
async def test_subscriptions_follow_the_mode(make_servers, redis_cluster, prefix, mode):
    (a,) = await make_servers(mode, count=1)
    main = f"{prefix}#/#".encode()
    response = f"{prefix}#/#{a.mgr.uid}#".encode()
    assert all_shard_channels(redis_cluster, prefix) == {main, response}
    c = await make_servers.client(a, ["room1", 7])
    sid_channel = f"{prefix}#/#{c.sid()}#".encode()
    expected = {main, response}
    if mode != "static":
        expected |= {f"{prefix}#/#room1#".encode(), f"{prefix}#/#7#".encode()}
    if mode == "dynamic-private":
        expected.add(sid_channel)
    await eventually(lambda: all_shard_channels(redis_cluster, prefix) == expected)
    # every channel is subscribed once, on the node that owns its slot
    for port, channels in shard_channels(redis_cluster, prefix).items():
        node = next(n for n in redis_cluster.nodes if n.port == port)
        with node.client() as r:
            for channel in channels:
                assert owner_port(redis_cluster, channel) == port
                assert r.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1] == 1
    await c.leave("room1")
    expected.discard(f"{prefix}#/#room1#".encode())
    await eventually(lambda: all_shard_channels(redis_cluster, prefix) == expected)
    await c.close()
    await eventually(lambda: all_shard_channels(redis_cluster, prefix) == {main, response})
    assert await a.mgr.server_count() == 1


async def test_a_thousand_rooms_leave_no_subscription_and_no_task(
    make_servers, redis_cluster, prefix
):
    (a,) = await make_servers("dynamic", count=1)
    c = await make_servers.client(a)
    sid = c.sid()
    base = all_shard_channels(redis_cluster, prefix)
    rooms = [f"r{i}" for i in range(1000)]
    for room in rooms:
        await a.sio.enter_room(sid, room)
    await eventually(
        lambda: len(all_shard_channels(redis_cluster, prefix)) == len(base) + 1000, timeout=15
    )
    for room in rooms:
        await a.sio.leave_room(sid, room)
    await eventually(lambda: all_shard_channels(redis_cluster, prefix) == base, timeout=15)
    assert len(a.mgr.channels) == len(base)
    # no task left behind: the adapter's own, and at most one reader per node
    shard_readers = [t for t in asyncio.all_tasks() if t.get_name().startswith("redis-shard-")]
    assert len(shard_readers) <= len(redis_cluster.nodes)
    assert not a.mgr._tasks
    assert a.mgr.stats()["pending_requests"] == 0


async def test_cluster_api_between_python_servers(make_servers):
    a, b = await make_servers("dynamic")
    a1 = await make_servers.client(a, ["red"], ack_reply="a1-ack")
    b1 = await make_servers.client(b, ["red", "blue"], ack_reply="b1-ack")
    assert await a.mgr.server_count() == 2

    sockets = await a.mgr.fetch_sockets(rooms="red")
    assert sorted(s.id for s in sockets) == sorted([a1.sid(), b1.sid()])
    remote = next(s for s in sockets if s.id == b1.sid())
    assert remote.rooms == {b1.sid(), "red", "blue"}
    assert await a.mgr.all_rooms() == {a1.sid(), b1.sid(), "red", "blue"}

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


async def test_request_times_out_cleanly_when_a_server_never_answers(make_servers):
    a, b = await make_servers("dynamic", requests_timeout=0.5)

    @b.mgr.on("slow")
    async def slow() -> None:
        await asyncio.sleep(5)

    with pytest.raises(RequestTimeoutError, match="0 of 1"):
        await a.mgr.server_side_emit_with_ack("slow")
    assert a.mgr.stats()["pending_requests"] == 0


def test_options_are_checked_at_construction():
    with pytest.raises(ValueError, match="subscription_mode"):
        AsyncShardedRedisAdapter("redis://127.0.0.1:7000", subscription_mode="private")
    with pytest.raises(ValueError, match="channel_prefix"):
        AsyncShardedRedisAdapter("redis://127.0.0.1:7000", channel_prefix="")
    with pytest.raises(ValueError, match="url"):
        AsyncShardedRedisAdapter("http://127.0.0.1:7000")
    with pytest.raises(TypeError, match="startup_nodes"):
        AsyncShardedRedisAdapter(startup_nodes=["127.0.0.1:7000"])
    with pytest.raises(ValueError, match="url or startup_nodes"):
        AsyncShardedRedisAdapter("redis://a:1", startup_nodes=[("a", 1)])
    with pytest.raises(TypeError, match="client"):
        AsyncShardedRedisAdapter(client=object())
    with pytest.raises(ValueError, match="requests_timeout"):
        AsyncShardedRedisAdapter("redis://127.0.0.1:7000", requests_timeout=0)


def _stat(node: Any, section: str, field: str) -> int:
    """One counter of a node: INFO commandstats 'calls' of a command, or a CLUSTER INFO field."""
    with node.client() as r:
        if section == "commandstats":
            stats = r.info("commandstats").get(f"cmdstat_{field}", {})
            return int(stats.get("calls", 0))
        text = r.execute_command("CLUSTER", "INFO")
        text = text.decode() if isinstance(text, bytes) else text
        for line in text.splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":")[1])
    return 0


async def test_each_room_broadcast_is_handled_by_its_shard_only(
    make_servers, redis_cluster, prefix
):
    """The point of sharding, seen from the nodes: a room broadcast costs one shard only.

    With 8 rooms over the 3 masters, each room's SPUBLISH is counted by the node owning the
    room's slot and by no other; the classic adapter's PUBLISH on the same cluster is copied
    to every node over the cluster bus.
    """
    a, b = await make_servers("dynamic")
    rooms = [f"room-{i}" for i in range(8)]
    receiver = await make_servers.client(b, rooms)
    owners = {room: owner_port(redis_cluster, f"{prefix}#/#{room}#".encode()) for room in rooms}
    assert len(set(owners.values())) == 3, owners  # the rooms really span the 3 shards
    await eventually(
        lambda: (
            all_shard_channels(redis_cluster, prefix)
            >= {f"{prefix}#/#{room}#".encode() for room in rooms}
        )
    )
    nodes = {n.port: n for n in redis_cluster.nodes}
    for room in rooms:
        before = {port: _stat(n, "commandstats", "spublish") for port, n in nodes.items()}
        await a.sio.emit("hello", room, to=room)
        await a.mgr.flush()
        await eventually(lambda room=room: (room,) in receiver.events("hello"))
        after = {port: _stat(n, "commandstats", "spublish") for port, n in nodes.items()}
        handled = {port for port in nodes if after[port] > before[port]}
        assert handled == {owners[room]}, (room, before, after)

    # The classic adapter on the same cluster: one PUBLISH reaches every node.
    classic_a = await start_server(redis_cluster.startup_url, key=prefix + "-classic")
    classic_b = await start_server(redis_cluster.startup_url, key=prefix + "-classic")
    try:
        client = RecordingClient()
        await client.connect(classic_b.url)
        await client.join("room-0")
        before = {
            p: _stat(n, "cluster", "cluster_stats_messages_publish_received")
            for p, n in nodes.items()
        }
        await classic_a.sio.emit("hello", "classic", to="room-0")
        await eventually(lambda: client.events("hello"))
        after = {
            p: _stat(n, "cluster", "cluster_stats_messages_publish_received")
            for p, n in nodes.items()
        }
        assert sum(after[p] > before[p] for p in nodes) >= len(nodes) - 1  # all but the entry node
        await client.close()
    finally:
        await classic_a.stop()
        await classic_b.stop()


@pytest.mark.parametrize("mode", MODES)
async def test_sharded_emitters_reach_python_sharded_servers(
    make_servers, redis_cluster, prefix, mode
):
    from socketio_redis_async import AsyncEmitter, Emitter

    a, b = await make_servers(mode)
    a1 = await make_servers.client(a, ["red"])
    b1 = await make_servers.client(b, ["red", "blue"])
    got: list[Any] = []
    b.mgr.on("from-emitter", lambda *args: got.append(args))
    em = AsyncEmitter(redis_cluster.startup_url, key=prefix, sharded=True, subscription_mode=mode)
    sync_em = Emitter(redis_cluster.startup_url, key=prefix, sharded=True, subscription_mode=mode)
    try:
        await em.to("red").emit("e1", b"\x01", {"n": 1})
        await asyncio.to_thread(sync_em.to("blue").emit, "e2", 2)
        await em.to(a1.sid()).emit("e3", "just a1")
        await em.except_("blue").emit("e4")
        await em.to("blue").sockets_join("green")
        await em.server_side_emit("from-emitter", 1, "x")
        await eventually(lambda: b1.events("e1") and a1.events("e1") and b1.events("e2"))
        await eventually(lambda: a1.events("e3") and a1.events("e4"))
        await eventually(lambda: "green" in b.mgr.get_rooms(b1.sid(), "/"))
        await eventually(lambda: got == [(1, "x")])
        assert a1.events("e1") == [(b"\x01", {"n": 1})]
        assert not a1.events("e2") and not b1.events("e3") and not b1.events("e4")
    finally:
        await em.aclose()
        sync_em.close()


async def test_a_node_subscription_that_comes_and_goes_returns_its_connection(
    make_servers, redis_cluster, prefix
):
    """A node whose only channel is a room's is closed when the room empties and reopened
    when it fills again: its connection must go back to the node's bounded pool each time
    (found by the soak: after ~100 cycles no room on that node could be subscribed)."""
    (a,) = await make_servers("dynamic", count=1, redis_options={"max_connections": 3})
    busy = {
        owner_port(redis_cluster, f"{prefix}#/#".encode()),
        owner_port(redis_cluster, f"{prefix}#/#{a.mgr.uid}#".encode()),
    }
    room = next(
        r
        for r in (f"lonely-{i}" for i in range(1000))
        if owner_port(redis_cluster, f"{prefix}#/#{r}#".encode()) not in busy
    )
    channel = f"{prefix}#/#{room}#".encode()
    c = await make_servers.client(a)
    for _ in range(8):
        await a.sio.enter_room(c.sid(), room)
        await eventually(lambda: channel in all_shard_channels(redis_cluster, prefix))
        await a.sio.leave_room(c.sid(), room)
        await eventually(lambda: channel not in all_shard_channels(redis_cluster, prefix))
    assert a.mgr.connected


async def test_the_documented_acl_rules_are_enough(redis_cluster, prefix):
    """docs/deployment.md's ACL rule for the sharded adapter, on every node: two servers
    subscribe, broadcast to a room, answer fetch_sockets and count each other, and no node
    logs a refused command."""
    user, password = f"app-{prefix}", "s3cret-pw"
    rule = (
        f"on >{password} resetchannels &{prefix}#/#* resetkeys -@all +ping +spublish "
        "+ssubscribe +sunsubscribe +pubsub|shardnumsub +cluster|slots"
    )
    for node in redis_cluster.nodes:
        with node.client() as r:
            r.execute_command("ACL", "SETUSER", user, *rule.split())
            r.execute_command("ACL", "LOG", "RESET")
    servers = []
    clients: list[RecordingClient] = []
    try:
        for _ in range(2):
            mgr = AsyncShardedRedisAdapter(
                redis_cluster.urls,
                channel_prefix=prefix,
                redis_options={"username": user, "password": password},
            )
            servers.append(await start_server("", manager=mgr))
        a, b = servers
        for server in servers:
            c = RecordingClient()
            await c.connect(server.url)
            await c.join("room")
            clients.append(c)
        await a.sio.emit("hello", 1, to="room")
        await eventually(lambda: all(c.events("hello") == [(1,)] for c in clients))
        assert len(await a.mgr.fetch_sockets(rooms="room")) == 2
        assert await b.mgr.server_count() == 2
        await clients[1].leave("room")
        refused = []
        for node in redis_cluster.nodes:
            with node.client() as r:
                refused += [e for e in r.execute_command("ACL", "LOG") if user.encode() in e]
        assert not refused, refused
    finally:
        for c in clients:
            await c.close()
        for server in servers:
            await server.stop()
        for node in redis_cluster.nodes:
            with node.client() as r:
                r.execute_command("ACL", "DELUSER", user)
