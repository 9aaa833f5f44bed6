"""Issue 3 acceptance 1-3: a mixed cluster of 2 Python and 2 Node servers.

Every cluster operation is started from each of the four servers in turn and must give the
same result wherever it starts: the same code drives a Python origin (our adapter's API)
and a Node origin (the real socket.io API through the peer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from node_peer import NodePeer, NodeServer
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import RequestTimeoutError

pytestmark = pytest.mark.interop


@dataclass
class PyOrigin:
    server: SioServer
    name: str

    async def fetch(self, **kw: Any) -> list[dict[str, Any]]:
        sockets = await self.server.mgr.fetch_sockets(
            rooms=kw.get("to"), except_rooms=kw.get("except_")
        )
        return [
            {"id": s.id, "rooms": set(s.rooms), "data": s.data, "hs": s.handshake} for s in sockets
        ]

    async def all_rooms(self) -> set[Any]:
        return await self.server.mgr.all_rooms()

    async def server_count(self) -> int:
        return await self.server.mgr.server_count()

    async def join(self, rooms: list[Any], to: list[Any]) -> None:
        await self.server.mgr.sockets_join(rooms, to=to)

    async def leave(self, rooms: list[Any], to: list[Any]) -> None:
        await self.server.mgr.sockets_leave(rooms, to=to)

    async def disconnect(self, to: list[Any], close: bool) -> None:
        await self.server.mgr.disconnect_sockets(to=to, close=close)

    async def sse_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.server.mgr.server_side_emit_with_ack(event, *args)

    async def sse(self, event: str, *args: Any) -> None:
        await self.server.mgr.server_side_emit(event, *args)

    async def emit_with_ack(self, event: str, arg: Any, to: list[Any] | None = None) -> list[Any]:
        return await self.server.mgr.emit_with_ack(event, arg, to=to, timeout=3)


@dataclass
class NodeOrigin:
    server: NodeServer
    name: str

    async def fetch(self, **kw: Any) -> list[dict[str, Any]]:
        sockets = await self.server.call("fetchSockets", **kw)
        return [
            {"id": s["id"], "rooms": set(s["rooms"]), "data": s.get("data"), "hs": s["handshake"]}
            for s in sockets
        ]

    async def all_rooms(self) -> set[Any]:
        return set(await self.server.call("allRooms"))

    async def server_count(self) -> int:
        return await self.server.call("serverCount")

    async def join(self, rooms: list[Any], to: list[Any]) -> None:
        await self.server.call("socketsJoin", rooms=rooms, to=to)

    async def leave(self, rooms: list[Any], to: list[Any]) -> None:
        await self.server.call("socketsLeave", rooms=rooms, to=to)

    async def disconnect(self, to: list[Any], close: bool) -> None:
        await self.server.call("disconnectSockets", to=to, close=close)

    async def sse_with_ack(self, event: str, *args: Any) -> list[Any]:
        reply = await self.server.call("serverSideEmit", event=event, args=list(args), withAck=True)
        assert "error" not in reply, reply
        return reply["responses"]

    async def sse(self, event: str, *args: Any) -> None:
        await self.server.call("serverSideEmit", event=event, args=list(args))

    async def emit_with_ack(self, event: str, arg: Any, to: list[Any] | None = None) -> list[Any]:
        reply = await self.server.call(
            "emitWithAck", event=event, args=[arg], to=to or [], timeout=3000
        )
        assert "error" not in reply, reply
        return reply["responses"]


@dataclass
class Fleet:
    origins: dict[str, Any]
    py_clients: dict[str, RecordingClient]
    node_clients: dict[str, tuple[int, str]]  # name -> (client id on the peer, sid)
    sse_seen: dict[str, list[Any]]

    def sids(self) -> dict[str, str]:
        return {
            **{n: c.sid() for n, c in self.py_clients.items()},
            **{n: sid for n, (_, sid) in self.node_clients.items()},
        }


@pytest.fixture
async def fleet(peer: NodePeer, redis_url: str):
    """P1 (ASGI), P2 (aiohttp), N1, N2; each hosts client "<server>-r" in room "r" and
    "<server>-s" in room "s" with session data {"who": name}; every server answers the
    server-side event "whoami" with its name."""
    p1 = await start_server(redis_url, kind="asgi", requests_timeout=3)
    p2 = await start_server(redis_url, kind="aiohttp", requests_timeout=3)
    nodes = []
    for _ in range(2):
        started = await peer.call("startServer", redisUrl=redis_url, requestsTimeout=3000)
        nodes.append(NodeServer(peer, started["serverId"], f"http://127.0.0.1:{started['port']}"))
    origins: dict[str, Any] = {
        "P1": PyOrigin(p1, "P1"),
        "P2": PyOrigin(p2, "P2"),
        "N1": NodeOrigin(nodes[0], "N1"),
        "N2": NodeOrigin(nodes[1], "N2"),
    }
    py_clients: dict[str, RecordingClient] = {}
    node_clients: dict[str, tuple[int, str]] = {}
    sse_seen: dict[str, list[Any]] = {name: [] for name in origins}
    for name, origin in origins.items():
        for room in ("r", "s"):
            client_name = f"{name}-{room}"
            if isinstance(origin, PyOrigin):
                client = RecordingClient(ack_reply=client_name)
                await client.client.connect(
                    origin.server.url,
                    transports=["websocket"],
                    auth={"data": {"who": client_name}},
                    wait_timeout=5,
                )
                await client.join(room)
                py_clients[client_name] = client

                async def whoami(*args: Any, me: str = name) -> str:
                    sse_seen[me].append(list(args))
                    return me

                origin.server.mgr.on("whoami", whoami)
            else:
                client_id, sid = await origin.server.connect_client(
                    auth={"data": {"who": client_name}}, ackReply=client_name
                )
                await origin.server.join(client_id, room)
                node_clients[client_name] = (client_id, sid)
                await origin.server.call("onServerSideEvent", event="whoami", reply=name)
    yield Fleet(origins, py_clients, node_clients, sse_seen)
    for client in py_clients.values():
        await client.close()
    await p1.stop()
    await p2.stop()


ORIGINS = ["P1", "P2", "N1", "N2"]


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_fetch_sockets_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    sids = fleet.sids()
    everyone = await origin.fetch()
    assert {s["id"] for s in everyone} == set(sids.values())
    by_id = {s["id"]: s for s in everyone}
    for name, sid in sids.items():
        socket = by_id[sid]
        assert socket["rooms"] == {sid, name[-1]}
        assert socket["data"] == {"who": name}
        assert {"headers", "time", "address", "issued", "url", "query", "auth"} <= set(socket["hs"])
    in_r = await origin.fetch(to=["r"])
    assert {s["id"] for s in in_r} == {sid for n, sid in sids.items() if n.endswith("-r")}
    not_r = await origin.fetch(except_=["r"])
    assert {s["id"] for s in not_r} == {sid for n, sid in sids.items() if n.endswith("-s")}


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_all_rooms_and_server_count_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    assert await origin.all_rooms() == set(fleet.sids().values()) | {"r", "s"}
    assert await origin.server_count() == 4


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_sockets_join_leave_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    await origin.join(["x", 9], to=["r"])
    expected_r = {sid for n, sid in fleet.sids().items() if n.endswith("-r")}

    async def members(room: Any) -> set[str]:
        return {s["id"] for s in await fleet.origins["P1"].fetch(to=[room])}

    await eventually(lambda: _eq(members("x"), expected_r))
    assert await members(9) == expected_r
    await origin.leave(["x"], to=["r"])
    await eventually(lambda: _eq(members("x"), set()))
    assert await members(9) == expected_r  # only "x" was left


async def _eq(awaitable: Any, expected: Any) -> bool:
    return await awaitable == expected


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_disconnect_sockets_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    sids = fleet.sids()
    victims = [sids["P2-s"], sids["N2-s"]]
    await origin.disconnect(to=victims, close=False)
    remaining = set(sids.values()) - set(victims)
    await eventually(lambda: _eq(_ids(fleet.origins["N1"].fetch()), remaining))
    await eventually(lambda: not fleet.py_clients["P2-s"].client.connected)


async def _ids(awaitable: Any) -> set[str]:
    return {s["id"] for s in await awaitable}


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_server_side_emit_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    answers = await origin.sse_with_ack("whoami", 1, "two")
    assert sorted(answers) == sorted(set(ORIGINS) - {origin_name})
    await origin.sse("whoami", "no-ack")
    for name in {"P1", "P2"} - {origin_name}:
        await eventually(lambda n=name: fleet.sse_seen[n] == [[1, "two"], ["no-ack"]])
    if origin_name in fleet.sse_seen and origin_name.startswith("P"):
        assert fleet.sse_seen[origin_name] == []  # like Node: never delivered to oneself


@pytest.mark.parametrize("origin_name", ORIGINS)
async def test_emit_with_ack_from_every_server(fleet: Fleet, origin_name: str) -> None:
    origin = fleet.origins[origin_name]
    answers = await origin.emit_with_ack("q", {"n": 1})
    assert sorted(answers) == sorted(fleet.sids())
    in_s = await origin.emit_with_ack("q", 2, to=["s"])
    assert sorted(in_s) == sorted(n for n in fleet.sids() if n.endswith("-s"))


async def test_server_count_includes_servers_without_clients(peer: NodePeer, redis_url: str):
    py = await start_server(redis_url)
    try:
        started = await peer.call("startServer", redisUrl=redis_url)
        assert await py.mgr.server_count() == 2
        assert await peer.call("serverCount", serverId=started["serverId"]) == 2
    finally:
        await py.stop()


async def test_node_handler_that_never_acks_times_out_python_request(
    peer: NodePeer, redis_url: str
) -> None:
    py = await start_server(redis_url, requests_timeout=0.5)
    try:
        for reply in ("n1", None):
            started = await peer.call("startServer", redisUrl=redis_url)
            if reply is None:  # registers the event but never calls the ack
                await peer.call("onServerSideEvent", serverId=started["serverId"], event="e")
            else:
                await peer.call(
                    "onServerSideEvent", serverId=started["serverId"], event="e", reply=reply
                )
        with pytest.raises(RequestTimeoutError) as info:
            await py.mgr.server_side_emit_with_ack("e")
        assert info.value.responses == ["n1"]
        assert (info.value.answered, info.value.expected) == (1, 2)
        assert py.mgr.stats()["pending_requests"] == 0
    finally:
        await py.stop()


async def test_publish_on_specific_response_channel_both_ways(
    peer: NodePeer, redis_url: str, py_clients: list[RecordingClient]
) -> None:
    py = await start_server(redis_url, publish_on_specific_response_channel=True)
    try:
        started = await peer.call(
            "startServer", redisUrl=redis_url, publishOnSpecificResponseChannel=True
        )
        node = NodeServer(peer, started["serverId"], f"http://127.0.0.1:{started['port']}")
        client = RecordingClient()
        py_clients.append(client)
        await client.connect(py.url)
        _, node_sid = await node.connect_client()
        assert {s["id"] for s in await node.call("fetchSockets")} == {client.sid(), node_sid}
        assert {s.id for s in await py.mgr.fetch_sockets()} == {client.sid(), node_sid}
    finally:
        await py.stop()


async def test_sse_from_node_reaches_python_handlers_with_binary(
    peer: NodePeer, redis_url: str
) -> None:
    py = await start_server(redis_url)
    got: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    py.mgr.on("bin", lambda *args: got.put_nowait(args))
    try:
        started = await peer.call("startServer", redisUrl=redis_url)
        await peer.call(
            "serverSideEmit", serverId=started["serverId"], event="bin", args=[b"\x01\x02", "x"]
        )
        # Classic server-side emits are JSON, so Node's Buffer arrives in its JSON form.
        assert await asyncio.wait_for(got.get(), 5) == ({"type": "Buffer", "data": [1, 2]}, "x")
    finally:
        await py.stop()
