"""AsyncShardedRedisAdapter next to Node's createShardedAdapter on a real Redis Cluster.

Two Python and two Node sharded servers (socket.io 4.8 + @socket.io/redis-adapter 8.3 on
node-redis 4.7 cluster clients), in each subscription mode, every server with one client in
rooms: broadcasts in both directions reach exactly the right clients (binary included), and
the cluster API works across languages, as do the sharded emitters.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from node_peer import NodePeer, NodeServer, start_node_server
from support.redis_cluster import RedisCluster
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncEmitter, AsyncShardedRedisAdapter, Emitter

pytestmark = pytest.mark.interop

MODES = ["static", "dynamic", "dynamic-private"]
DONE = "__done__"


@dataclass
class Mixed:
    py: list[SioServer]
    node: list[NodeServer]
    py_clients: list[RecordingClient]
    node_clients: list[tuple[NodeServer, int, str]]  # server, client id, sid
    prefix: str
    mode: str

    def sids(self) -> dict[str, str]:
        """name -> sid: p0, p1 (Python clients), n0, n1 (Node clients)."""
        names = {f"p{i}": c.sid() for i, c in enumerate(self.py_clients)}
        names.update({f"n{i}": sid for i, (_, _, sid) in enumerate(self.node_clients)})
        return names

    async def received(self, event: str) -> dict[str, list[list[Any]]]:
        got: dict[str, list[list[Any]]] = {}
        for i, client in enumerate(self.py_clients):
            if client.events(event):
                got[f"p{i}"] = [list(args) for args in client.events(event)]
        for i, (server, cid, _) in enumerate(self.node_clients):
            events = await server.client_events(cid, event)
            if events:
                got[f"n{i}"] = events
        return got

    async def settle(self, mark: str) -> None:
        """A sentinel broadcast everyone receives: what was sent before has arrived."""
        await self.py[0].sio.emit(DONE, mark)

        async def everyone() -> bool:
            got = await self.received(DONE)
            return len(got) == 4 and all([mark] in events for events in got.values())

        await eventually(everyone)


@pytest.fixture(params=MODES)
async def mixed(request, redis_cluster: RedisCluster, peer: NodePeer) -> AsyncIterator[Mixed]:
    mode = request.param
    prefix = f"ix-{uuid.uuid4().hex[:6]}"
    py = [
        await start_server(
            "",
            manager=AsyncShardedRedisAdapter(
                redis_cluster.urls, channel_prefix=prefix, subscription_mode=mode
            ),
        )
        for _ in range(2)
    ]
    node = [
        await start_node_server(
            peer,
            adapter="sharded",
            cluster_urls=redis_cluster.urls,
            channelPrefix=prefix,
            subscriptionMode=mode,
        )
        for _ in range(2)
    ]
    rooms = {0: ["red", "blue"], 1: ["red"]}
    py_clients = []
    for i, server in enumerate(py):
        client = RecordingClient(ack_reply=f"p{i}-ack")
        await client.connect(server.url)
        for room in rooms[i]:
            await client.join(room)
        py_clients.append(client)
    node_clients = []
    for i, server in enumerate(node):
        cid, sid = await server.connect_client(ackReply=f"n{i}-ack")
        for room in rooms[i]:
            await server.join(cid, room)
        node_clients.append((server, cid, sid))
    yield Mixed(py, node, py_clients, node_clients, prefix, mode)
    for client in py_clients:
        await client.close()
    for server in node:
        await server.stop()
    for s in py:
        await s.stop()


async def test_broadcasts_both_ways_reach_exactly_the_right_clients(mixed: Mixed):
    sids = mixed.sids()
    cases: list[tuple[str, dict[str, Any], set[str]]] = [
        ("all", {}, {"p0", "p1", "n0", "n1"}),
        ("room", {"to": ["blue"]}, {"p0", "n0"}),
        ("rooms", {"to": ["blue", "red"]}, {"p0", "p1", "n0", "n1"}),
        ("except", {"except_": ["blue"]}, {"p1", "n1"}),
        ("sid-py", {"to": [sids["p1"]]}, {"p1"}),
        ("sid-node", {"to": [sids["n1"]]}, {"n1"}),
    ]
    payload = ["x", b"\x01\x02\x03", {"b": b"\xff", "f": 1.5}]
    for origin in ("python", "node"):
        for name, target, _expected in cases:
            event = f"{origin}-{name}"
            if origin == "python":
                await mixed.py[0].sio.emit(
                    event, tuple(payload), to=target.get("to"), skip_sid=target.get("except_")
                )
            else:
                await mixed.node[0].call("emit", event=event, args=payload, **target)
        await mixed.settle(origin)
        for name, _, expected in cases:
            got = await mixed.received(f"{origin}-{name}")
            assert got == {who: [payload] for who in expected}, (origin, name, got)


async def test_cluster_api_across_languages(mixed: Mixed):
    sids = mixed.sids()
    p0, n0 = mixed.py[0], mixed.node[0]
    assert await p0.mgr.server_count() == 4
    assert await n0.call("serverCount") == 4

    # fetch_sockets from either side sees every socket with its rooms
    sockets = {s.id: set(s.rooms) for s in await p0.mgr.fetch_sockets()}
    assert sockets == {
        sids["p0"]: {sids["p0"], "red", "blue"},
        sids["p1"]: {sids["p1"], "red"},
        sids["n0"]: {sids["n0"], "red", "blue"},
        sids["n1"]: {sids["n1"], "red"},
    }
    from_node = {s["id"]: set(s["rooms"]) for s in await n0.call("fetchSockets", to=["blue"])}
    assert from_node == {sids["p0"]: sockets[sids["p0"]], sids["n0"]: sockets[sids["n0"]]}
    assert await p0.mgr.all_rooms() == set(sids.values()) | {"red", "blue"}

    # server-side emit with ack, both ways
    for server in mixed.node:
        await server.call("onServerSideEvent", event="ping", reply="node-pong")
    mixed.py[1].mgr.on("ping", lambda *args: "py-pong")
    assert sorted(await p0.mgr.server_side_emit_with_ack("ping", 1)) == [
        "node-pong",
        "node-pong",
        "py-pong",
    ]
    p0.mgr.on("ping", lambda *args: "py0-pong")
    result = await n0.call("serverSideEmit", event="ping", args=[2], withAck=True)
    assert "error" not in result
    assert sorted(result["responses"]) == ["node-pong", "py-pong", "py0-pong"]

    # broadcast with acks, both ways
    acks = await p0.mgr.emit_with_ack("q", 1, to="red", timeout=3)
    assert sorted(acks) == ["n0-ack", "n1-ack", "p0-ack", "p1-ack"]
    result = await n0.call("emitWithAck", event="q", args=[1], to=["blue"], timeout=3000)
    assert "error" not in result and sorted(result["responses"]) == ["n0-ack", "p0-ack"]

    # join / leave / disconnect across languages
    await p0.mgr.sockets_join("green", to=[sids["n1"]])
    await n0.call("socketsJoin", rooms=["green"], to=[sids["p1"]])

    async def green() -> set[str]:
        return {s.id for s in await p0.mgr.fetch_sockets(rooms="green")}

    await eventually(lambda: green(), timeout=5)
    await eventually(
        lambda: _eq(green(), {sids["n1"], sids["p1"]}),
    )
    await n0.call("socketsLeave", rooms=["green"])
    await eventually(lambda: _eq(green(), set()))
    await p0.mgr.disconnect_sockets(to=[sids["n1"]])
    await n0.call("disconnectSockets", to=[sids["p1"]])
    await eventually(lambda: not mixed.py_clients[1].client.connected)
    remaining = {s.id for s in await p0.mgr.fetch_sockets()}
    assert remaining == {sids["p0"], sids["n0"]}


async def _eq(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def test_sharded_emitters_reach_python_and_node_servers(
    mixed: Mixed, redis_cluster: RedisCluster
):
    em = AsyncEmitter(
        redis_cluster.startup_url, key=mixed.prefix, sharded=True, subscription_mode=mixed.mode
    )
    sync_em = Emitter(
        redis_cluster.startup_url, key=mixed.prefix, sharded=True, subscription_mode=mixed.mode
    )
    sids = mixed.sids()
    try:
        await em.to("blue").emit("em-room", b"\x07", 1)
        await em.emit("em-all")
        sync_em.to(sids["n1"]).emit("em-sid", "n1 only")
        await mixed.settle("emitters")
        assert await mixed.received("em-room") == {"p0": [[b"\x07", 1]], "n0": [[b"\x07", 1]]}
        assert set(await mixed.received("em-all")) == {"p0", "p1", "n0", "n1"}
        assert await mixed.received("em-sid") == {"n1": [["n1 only"]]}
        await em.to("red").sockets_join("purple")
        await eventually(
            lambda: _eq(_ids(mixed.py[0].mgr.fetch_sockets(rooms="purple")), set(sids.values()))
        )
    finally:
        await em.aclose()
        sync_em.close()


async def _ids(sockets: Any) -> set[str]:
    return {s.id for s in await sockets}
