"""AsyncRedisStreamsAdapter next to Node's @socket.io/redis-streams-adapter 0.3.1 on one Redis.

Both directions for every operation: broadcasts (all, room, except, sid, binary) travel in
the stream; fetch_sockets, server-side emit with ack and emit with ack over Pub/Sub; join,
leave and disconnect in the stream. The peer fixture also asserts no Node server threw on
anything we wrote.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from node_peer import NodePeer, NodeServer, start_node_server
from support.redis_procs import RedisServer
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncRedisStreamsAdapter

pytestmark = pytest.mark.interop

DONE = "__done__"


@pytest.fixture
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"stream": f"stream-{tag}", "prefix": f"sio-{tag}"}


@pytest.fixture
async def py(redis_url: str, names: dict[str, str]) -> AsyncIterator[SioServer]:
    mgr = AsyncRedisStreamsAdapter(
        redis_url,
        stream_name=names["stream"],
        channel_prefix=names["prefix"],
        redis_options={"client_name": names["stream"]},  # to find (and kill) its connections
    )
    server = await start_server("", manager=mgr)
    yield server
    await server.stop()


@pytest.fixture
async def node(peer: NodePeer, redis_url: str, names: dict[str, str]) -> AsyncIterator[NodeServer]:
    server = await start_node_server(
        peer,
        adapter="streams",
        redis_url=redis_url,
        streamName=names["stream"],
        channelPrefix=names["prefix"],
    )
    yield server
    await server.stop()


async def py_client(clients: list[RecordingClient], server: SioServer, *rooms: Any, **kw: Any):
    client = RecordingClient(**kw)
    clients.append(client)
    await client.connect(server.url)
    for room in rooms:
        await client.join(room)
    return client


async def node_client(node: NodeServer, *rooms: Any, **kw: Any) -> tuple[int, str]:
    client_id, sid = await node.connect_client(**kw)
    for room in rooms:
        await node.join(client_id, room)
    return client_id, sid


async def test_python_broadcasts_reach_node_clients(py, node, py_clients):
    n1, n1_sid = await node_client(node, "red")
    n2, n2_sid = await node_client(node, "blue")
    await py.sio.emit("all", {"x": 1.5})
    await py.sio.emit("room", b"\x01\x02", to="red")
    await py.sio.emit("rooms", [1, b"\x03"], to=["red", "blue"])
    await py.sio.emit("except", "e", skip_sid=n2_sid)
    await py.mgr.emit("except-room", None, skip_sid="red")
    await py.sio.emit("sid", {"b": b"\xff"}, to=n1_sid)
    await py.sio.emit(DONE)
    await node.wait_client_event(n1, DONE)
    await node.wait_client_event(n2, DONE)

    async def got(client_id: int) -> list[tuple[str, list[Any]]]:
        events = await node.peer.call("clientEvents", clientId=client_id)
        return [(e["event"], e["args"]) for e in events if e["event"] != DONE]

    assert await got(n1) == [
        ("all", [{"x": 1.5}]),
        ("room", [b"\x01\x02"]),
        ("rooms", [[1, b"\x03"]]),
        ("except", ["e"]),
        ("sid", [{"b": b"\xff"}]),
    ]
    assert await got(n2) == [
        ("all", [{"x": 1.5}]),
        ("rooms", [[1, b"\x03"]]),
        ("except-room", []),
    ]


async def test_node_broadcasts_reach_python_clients(py, node, py_clients):
    p1 = await py_client(py_clients, py, "red")
    p2 = await py_client(py_clients, py, "blue")
    await node.call("emit", event="all", args=[{"x": 1.5}])
    await node.call("emit", to=["red"], event="room", args=[b"\x01\x02"])
    await node.call("emit", to=["red", "blue"], event="rooms", args=[[1, b"\x03"]])
    await node.call("emit", except_=[p2.sid()], event="except", args=["e"])
    await node.call("emit", except_=["red"], event="except-room", args=[])
    await node.call("emit", to=[p1.sid()], event="sid", args=[{"b": b"\xff"}])
    await node.call("emit", event=DONE, args=[])
    await eventually(lambda: p1.events(DONE) and p2.events(DONE))

    def got(client: RecordingClient) -> list[tuple[str, tuple[Any, ...]]]:
        return [(ev, args) for _, ev, args in client.received if ev != DONE]

    assert got(p1) == [
        ("all", ({"x": 1.5},)),
        ("room", (b"\x01\x02",)),
        ("rooms", ([1, b"\x03"],)),
        ("except", ("e",)),
        ("sid", ({"b": b"\xff"},)),
    ]
    assert got(p2) == [("all", ({"x": 1.5},)), ("rooms", ([1, b"\x03"],)), ("except-room", ())]


async def test_requests_both_ways(py, node, py_clients):
    p1 = await py_client(py_clients, py, "red", ack_reply="p1-ack")
    _, n1_sid = await node_client(node, "red", ackReply="n1-ack")
    assert await py.mgr.server_count() == 2
    assert await node.call("serverCount") == 2

    sockets = await py.mgr.fetch_sockets(rooms="red")
    assert sorted(s.id for s in sockets) == sorted([p1.sid(), n1_sid])
    assert next(s for s in sockets if s.id == n1_sid).rooms == {n1_sid, "red"}
    fetched = await node.call("fetchSockets", to=["red"])
    assert sorted(s["id"] for s in fetched) == sorted([p1.sid(), n1_sid])
    assert set(next(s for s in fetched if s["id"] == p1.sid())["rooms"]) == {p1.sid(), "red"}

    await node.call("onServerSideEvent", event="ping", reply=["pong", 2])
    assert await py.mgr.server_side_emit_with_ack("ping", 1, b"\x07") == ["pong"]
    assert (await node.call("serverEvents"))[-1] == {"event": "ping", "args": [1, b"\x07"]}

    @py.mgr.on("inc")
    async def inc(n: int) -> int:
        return n + 1

    reply = await node.call("serverSideEmit", event="inc", args=[41], withAck=True)
    assert reply == {"responses": [42]}

    acks = await py.mgr.emit_with_ack("q", 1, to="red", timeout=3)
    assert sorted(acks) == ["n1-ack", "p1-ack"]
    reply = await node.call("emitWithAck", to=["red"], event="q", args=[b"\x01"], timeout=3000)
    assert sorted(reply["responses"]) == ["n1-ack", "p1-ack"]
    assert p1.events("q")[-1] == (b"\x01",)


async def test_join_leave_disconnect_both_ways(py, node, py_clients):
    p1 = await py_client(py_clients, py, "red")
    p2 = await py_client(py_clients, py, "blue")
    n1, n1_sid = await node_client(node, "red")
    n2, _ = await node_client(node, "blue")

    async def node_rooms(sid: str) -> set[Any]:
        sockets = await node.call("localSockets")
        return set(next(s for s in sockets if s["id"] == sid)["rooms"])

    async def node_has(sid: str, room: str) -> bool:
        return room in await node_rooms(sid)

    async def node_lacks(sid: str, room: str) -> bool:
        return room not in await node_rooms(sid)

    await py.mgr.sockets_join("vip", to="red")
    await eventually(lambda: node_has(n1_sid, "vip"))
    assert "vip" in py.mgr.get_rooms(p1.sid(), "/")
    await py.mgr.sockets_leave("vip", to="red")
    await eventually(lambda: node_lacks(n1_sid, "vip"))

    await node.call("socketsJoin", to=["red"], rooms=["vip2"])
    await eventually(lambda: "vip2" in py.mgr.get_rooms(p1.sid(), "/"))
    await node.call("socketsLeave", to=["red"], rooms=["vip2"])
    await eventually(lambda: "vip2" not in py.mgr.get_rooms(p1.sid(), "/"))

    await py.sio.enter_room(n1_sid, "green")  # a sid hosted by Node
    await eventually(lambda: node_has(n1_sid, "green"))

    await py.mgr.disconnect_sockets(to="blue")
    await node.wait_client_event(n2, "__disconnect")
    await eventually(lambda: not p2.client.connected)
    await node.call("disconnectSockets", to=["red"])
    await eventually(lambda: not p1.client.connected)
    await node.wait_client_event(n1, "__disconnect")


def python_connections(redis_server: RedisServer, name: str) -> list[str]:
    """Ids of the Python server's connections (reader, writer, subscriber)."""
    with redis_server.client(socket_timeout=2) as r:
        return [c["id"] for c in r.client_list() if c.get("name") == name]


async def kill_python_connections(redis_server: RedisServer, name: str) -> None:
    """Once the Python server is connected again (reader and subscriber at least), CLIENT
    KILL all its connections."""
    ids = await eventually(
        lambda: (
            len(python_connections(redis_server, name)) >= 2
            and python_connections(redis_server, name)
        )
    )
    with redis_server.client(socket_timeout=2) as r:
        for client_id in ids:
            r.execute_command("CLIENT", "KILL", "ID", client_id)


@pytest.mark.parametrize("direction", ["node-to-python", "python-to-node"])
async def test_no_loss_across_python_connection_kills(
    py, node, py_clients, redis_server, names, direction
):
    total, kills = 300, 10
    p1 = await py_client(py_clients, py)
    n1, _ = await node_client(node)
    for i in range(total):
        if direction == "node-to-python":
            await node.call("emit", event="n", args=[i])
        else:
            await py.sio.emit("n", i)
            await asyncio.sleep(0.005)
        if i % (total // kills) == total // kills // 2:
            await kill_python_connections(redis_server, names["stream"])
    if direction == "node-to-python":
        await eventually(lambda: len(p1.events("n")) >= total, timeout=15)
        got = [args[0] for args in p1.events("n")]
    else:
        events = await node.wait_client_event(n1, "n", count=total, timeout=15)
        await asyncio.sleep(0.3)  # a duplicate would arrive now
        got = [args[0] for args in await node.client_events(n1, "n")]
        assert len(events) <= len(got)
    print(f"\n[{direction}] {kills} kills: sent {total}, received {len(got)}")
    assert got == list(range(total))
    assert py.mgr.stats()["reconnects"] >= kills
