"""The cluster API between Python servers: fetch, join/leave, disconnect, rooms, counts,
server-side events and broadcast acks; timeouts that leave nothing behind."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from support.sio_servers import RecordingClient, eventually, start_server

from socketio_redis_async import RequestTimeoutError


@pytest.fixture
async def trio(redis_url, client_factory):
    """Three servers, one client each; the client on B is in room "r" with session data."""
    servers = [
        await start_server(redis_url, kind=kind, requests_timeout=1)
        for kind in ("asgi", "aiohttp", "asgi")
    ]
    clients = [await client_factory(s, ack_reply=f"ack-{i}") for i, s in enumerate(servers)]
    await clients[1].join("r")
    await servers[1].sio.save_session(clients[1].sid(), {"user": "bob"})
    yield servers, clients
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop()


async def test_server_count_counts_servers_without_clients(redis_url):
    a = await start_server(redis_url)
    b = await start_server(redis_url)
    try:
        assert await a.mgr.server_count() == 2
        assert await b.mgr.server_count() == 2
    finally:
        await b.stop()
    assert await a.mgr.server_count() == 1
    await a.stop()


async def test_fetch_sockets_across_servers(trio):
    servers, clients = trio
    sockets = await servers[0].mgr.fetch_sockets()
    assert {s.id for s in sockets} == {c.sid() for c in clients}
    [bob] = await servers[2].mgr.fetch_sockets(rooms="r")
    assert bob.id == clients[1].sid()
    assert bob.rooms == {bob.id, "r"}
    assert bob.data == {"user": "bob"}
    assert bob.handshake["url"].startswith("/socket.io/")
    others = await servers[0].mgr.fetch_sockets(except_rooms=["r"])
    assert {s.id for s in others} == {clients[0].sid(), clients[2].sid()}
    local = await servers[1].mgr.fetch_sockets(local=True)
    assert [s.id for s in local] == [clients[1].sid()]
    assert servers[0].mgr.stats()["pending_requests"] == 0


async def test_remote_socket_actions(trio):
    servers, clients = trio
    [bob] = await servers[0].mgr.fetch_sockets(rooms="r")
    await bob.join("vip", 7)
    await eventually(lambda: {"vip", 7} <= set(servers[1].sio.rooms(bob.id)))
    await bob.leave("vip")
    await eventually(lambda: "vip" not in servers[1].sio.rooms(bob.id))
    await bob.emit("hello", ("two", "args"))
    await eventually(lambda: clients[1].events("hello") == [("two", "args")])
    assert await bob.emit_with_ack("question", 1, timeout=3) == "ack-1"
    await bob.disconnect()
    await eventually(lambda: not clients[1].client.connected)


async def test_all_rooms_and_sockets_join_leave(trio):
    servers, clients = trio
    await servers[0].mgr.sockets_join(["blue", 42], except_rooms="r")
    expected = {c.sid() for c in clients} | {"r", "blue", 42}
    for server in servers:
        assert await server.mgr.all_rooms() == expected
    await servers[2].mgr.sockets_leave(42, to="blue")
    assert await servers[1].mgr.all_rooms() == expected - {42}


async def test_disconnect_sockets_everywhere(trio):
    servers, clients = trio
    await servers[0].mgr.disconnect_sockets(to=[clients[0].sid(), clients[1].sid()])
    await eventually(lambda: not clients[0].client.connected and not clients[1].client.connected)
    assert clients[2].client.connected
    await servers[2].mgr.disconnect_sockets(close=True)
    await eventually(lambda: not clients[2].client.connected)


async def test_server_side_emit_with_and_without_ack(trio):
    servers, _ = trio
    seen: list[tuple[int, tuple]] = []
    for n, server in enumerate(servers):

        @server.mgr.on("ping")
        async def ping(*args, n=n):
            seen.append((n, args))
            return f"pong-{n}"

    await servers[0].mgr.server_side_emit("ping", 1, {"a": [2]})
    await eventually(lambda: sorted(seen) == [(1, (1, {"a": [2]})), (2, (1, {"a": [2]}))])
    answers = await servers[1].mgr.server_side_emit_with_ack("ping", "x")
    assert sorted(answers) == ["pong-0", "pong-2"]
    assert servers[1].mgr.stats()["pending_requests"] == 0


async def test_emit_with_ack_collects_every_client(trio):
    servers, _clients = trio
    answers = await servers[0].mgr.emit_with_ack("q", {"n": 1}, timeout=3)
    assert sorted(answers) == ["ack-0", "ack-1", "ack-2"]
    only_r = await servers[2].mgr.emit_with_ack("q", None, to="r", timeout=3)
    assert only_r == ["ack-1"]
    none = await servers[2].mgr.emit_with_ack("q", None, to="empty-room", timeout=3)
    assert none == []


@pytest.fixture
async def mute_server(redis_url):
    """A subscriber on the request channel that never answers: it counts in NUMSUB."""
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe("socket.io-request#/#")
    await pubsub.get_message(timeout=1)
    yield
    await pubsub.aclose()
    await client.aclose()


async def test_requests_to_a_silent_server_time_out_with_partial_results(trio, mute_server):
    servers, clients = trio
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeoutError) as info:
        await servers[0].mgr.fetch_sockets()
    assert 0.9 < loop.time() - started < 3
    assert info.value.answered == 2 and info.value.expected == 3
    assert {s.id for s in info.value.responses} == {c.sid() for c in clients}
    assert "2 of 3" in str(info.value)
    with pytest.raises(RequestTimeoutError):
        await servers[0].mgr.all_rooms()
    with pytest.raises(TimeoutError):  # RequestTimeoutError is a TimeoutError too
        await servers[0].mgr.server_side_emit_with_ack("nobody-handles-this", timeout=0.3)
    assert servers[0].mgr.stats()["pending_requests"] == 0


async def test_emit_with_ack_returns_what_arrived_when_a_client_never_acks(trio, client_factory):
    servers, _ = trio
    silent = RecordingClient()
    await silent.connect(servers[1].url)

    @silent.client.on("q")
    async def never_acks(*args):
        await asyncio.sleep(10)

    try:
        answers = await servers[0].mgr.emit_with_ack("q", 1, timeout=0.5)
        assert sorted(answers) == ["ack-0", "ack-1", "ack-2"]
        assert servers[0].mgr.stats()["pending_requests"] == 0
    finally:
        await silent.close()


async def test_cancelled_request_leaves_no_entry(trio, mute_server):
    servers, _ = trio
    task = asyncio.create_task(servers[0].mgr.fetch_sockets())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert servers[0].mgr.stats()["pending_requests"] == 0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: m.fetch_sockets(namespace="admin"), ValueError),
        (lambda m: m.fetch_sockets(rooms=[{"a": 1}]), TypeError),
        (lambda m: m.sockets_join([1.5]), TypeError),
        (lambda m: m.sockets_leave("r", to=[None]), TypeError),
        (lambda m: m.disconnect_sockets(close="yes"), TypeError),
        (lambda m: m.server_side_emit(42), TypeError),
        (lambda m: m.server_side_emit("connection"), ValueError),
        (lambda m: m.server_side_emit("ev", lambda: None), TypeError),
        (lambda m: m.server_side_emit_with_ack("ev", timeout=-1), ValueError),
        (lambda m: m.emit_with_ack("disconnect", 1), ValueError),
        (lambda m: m.emit_with_ack("ev", 1, timeout="5"), ValueError),
        (lambda m: m.all_rooms(namespace=None), ValueError),
    ],
)
async def test_wrong_arguments_raise_clear_errors(redis_url, call, error):
    server = await start_server(redis_url)
    try:
        with pytest.raises(error):
            await call(server.mgr)
        with pytest.raises(TypeError):
            server.mgr.on("ev", handler=42)
    finally:
        await server.stop()
