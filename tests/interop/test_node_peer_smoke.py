"""Smoke tests of the Node interop harness itself: Node servers, clients and emitter only.

No Python adapter is involved here; these prove that ``node/peer.js`` and ``node_peer.py``
work, so that a failing interop test points at the adapter and not at the harness. The
``peer``, ``redis_url``, ``redis_server`` and ``redis_cluster`` fixtures come from the
conftest files. Each test uses channel and stream names of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from node_peer import NodePeer, NodePeerError, NodeServer, start_node_server
from support.redis_procs import RedisCluster, RedisServer

pytestmark = pytest.mark.interop

SAMPLE_A_HEX = (
    "93a65844676f6e2d83a47479706502a46461746195a2657601a16181a178cb3ff8000000000000c403010203"
    "a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380"
)


@dataclass
class Cluster:
    """Two Node servers sharing one Redis, one Node client connected to each."""

    peer: NodePeer
    redis_url: str
    key: str
    servers: list[int]
    clients: list[int]
    sids: list[str]

    async def wait_event(self, client: int, event: str, timeout: float = 5.0) -> list[Any]:
        """Poll the client's received events until ``event`` arrives; return its args."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for received in await self.peer.call("clientEvents", clientId=client):
                if received["event"] == event:
                    return list(received["args"])
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"client {client} never received {event!r}")
            await asyncio.sleep(0.02)

    async def join(self, client: int, room: str | int) -> None:
        """Make a client join a room through the server's "join" handler."""
        reply = await self.peer.call(
            "clientEmit", clientId=client, event="join", args=[room], withAck=True
        )
        assert reply == ["joined"]

    async def events(self, client: int) -> list[str]:
        return [e["event"] for e in await self.peer.call("clientEvents", clientId=client)]


@pytest.fixture
async def cluster(peer: NodePeer, redis_url: str) -> AsyncIterator[Cluster]:
    key = f"smoke-{uuid.uuid4().hex[:8]}"  # own channels, so earlier tests cannot interfere
    servers, clients, sids = [], [], []
    for n in (1, 2):
        started = await peer.call("startServer", redisUrl=redis_url, key=key)
        servers.append(started["serverId"])
        url = f"http://127.0.0.1:{started['port']}"
        auth = {"data": {"name": f"client{n}", "blob": b"\x00\xff"}}
        connected = await peer.call("clientConnect", url=url, auth=auth, ackReply=f"ack{n}")
        clients.append(connected["clientId"])
        sids.append(connected["sid"])
    yield Cluster(peer, redis_url, key, servers, clients, sids)
    assert await peer.call("errors") == []


async def test_peer_answers_and_survives_bad_requests(peer: NodePeer) -> None:
    assert await peer.call("ping") == "pong"
    with pytest.raises(NodePeerError, match="unknown op"):
        await peer.call("noSuchOp")
    with pytest.raises(NodePeerError, match="unknown serverId"):
        await peer.call("emit", serverId=999, event="x")
    with pytest.raises(NodePeerError, match="missing parameter"):
        await peer.call("notepackDecode")
    assert await peer.call("ping") == "pong"
    assert await peer.call("errors") == []


async def test_notepack_matches_captured_sample(peer: NodePeer) -> None:
    value = [
        "XDgon-",
        {"type": 2, "data": ["ev", 1, "a", {"x": 1.5}, b"\x01\x02\x03"], "nsp": "/"},
        {"rooms": ["room1"], "except": ["room2"], "flags": {}},
    ]
    assert await peer.call("notepackEncode", value=value) == SAMPLE_A_HEX
    assert await peer.call("notepackDecode", hex=SAMPLE_A_HEX) == value


async def test_broadcast_with_binary_crosses_servers(cluster: Cluster) -> None:
    peer, (s1, _), (c1, c2) = cluster.peer, cluster.servers, cluster.clients
    await cluster.join(c2, "room1")
    await cluster.join(c1, "room2")

    args = [1, "a", {"x": 1.5}, b"\x01\x02\x03"]
    rooms = {"to": ["room1", "room2"], "except_": ["room2"]}
    await peer.call("emit", serverId=s1, **rooms, event="ev", args=args)
    assert await cluster.wait_event(c2, "ev") == args

    # Rooms keep their type: "42" and 42 are different rooms.
    await cluster.join(c2, 42)
    await peer.call("emit", serverId=s1, to=["42"], event="string-room")
    await peer.call("emit", serverId=s1, to=[42], event="int-room")
    await cluster.wait_event(c2, "int-room")
    assert "string-room" not in await cluster.events(c2)
    assert "ev" not in await cluster.events(c1)


async def test_fetch_sockets_rooms_and_server_count(cluster: Cluster) -> None:
    peer, (s1, s2), c2 = cluster.peer, cluster.servers, cluster.clients[1]
    sid1, sid2 = cluster.sids
    await cluster.join(c2, 7)

    assert await peer.call("serverCount", serverId=s1) == 2
    sockets = await peer.call("fetchSockets", serverId=s1)
    by_id = {s["id"]: s for s in sockets}
    assert set(by_id) == {sid1, sid2}
    assert by_id[sid2]["rooms"] == [sid2, 7]
    # The CONNECT packet is plain JSON, so a Buffer in `auth` is mangled by the client already.
    blob = {"type": "Buffer", "data": [0, 255]}
    assert by_id[sid1]["data"] == {"name": "client1", "blob": blob}  # local Socket instance
    assert by_id[sid2]["data"] == {"name": "client2", "blob": blob}  # RemoteSocket, via JSON
    assert by_id[sid2]["handshake"]["auth"]["data"]["name"] == "client2"

    assert [s["id"] for s in await peer.call("fetchSockets", serverId=s1, to=[7])] == [sid2]
    assert set(await peer.call("allRooms", serverId=s2)) == {sid1, sid2, 7}
    assert await peer.call("localSockets", serverId=s2) == [{"id": sid2, "rooms": [sid2, 7]}]


async def test_emitter_reaches_clients_and_servers(cluster: Cluster) -> None:
    peer, (_, s2), (c1, c2) = cluster.peer, cluster.servers, cluster.clients
    emitter = {"redisUrl": cluster.redis_url, "key": cluster.key}

    await peer.call("emitter", **emitter, action="emit", event="hello", args=[b"\x09", {"a": 1}])
    assert await cluster.wait_event(c1, "hello") == [b"\x09", {"a": 1}]
    assert await cluster.wait_event(c2, "hello") == [b"\x09", {"a": 1}]

    await peer.call("emitter", **emitter, action="socketsJoin", to=[cluster.sids[0]], rooms=["em"])
    await peer.call("emitter", **emitter, action="emit", to=["em"], event="in-em")
    await cluster.wait_event(c1, "in-em")

    await peer.call("onServerSideEvent", serverId=s2, event="emSSE")
    await peer.call("emitter", **emitter, action="serverSideEmit", event="emSSE", args=[1, "x"])
    for _ in range(250):
        if events := await peer.call("serverEvents", serverId=s2):
            break
        await asyncio.sleep(0.02)
    assert events == [{"event": "emSSE", "args": [1, "x"]}]
    assert "in-em" not in await cluster.events(c2)


async def test_acknowledgements(cluster: Cluster) -> None:
    peer, (s1, s2), _ = cluster.peer, cluster.servers, cluster.clients
    sid2 = cluster.sids[1]

    await peer.call("onServerSideEvent", serverId=s2, event="ping", reply=["pong", "ignored"])
    reply = await peer.call("serverSideEmit", serverId=s1, event="ping", args=[1], withAck=True)
    assert reply == {"responses": ["pong"]}  # only the first ack argument crosses servers

    reply = await peer.call("emitWithAck", serverId=s1, event="ask", args=["q"], timeout=2000)
    assert sorted(reply["responses"]) == ["ack1", "ack2"]
    assert "error" not in reply

    response = await peer.call(
        "remoteSocket", serverId=s1, sid=sid2, action="emitWithAck", event="ask1", timeout=2000
    )
    assert response == "ack2"


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def _two_servers_with_clients(
    peer: NodePeer, **start: Any
) -> tuple[list[NodeServer], list[int], list[str]]:
    servers, clients, sids = [], [], []
    for n in (1, 2):
        server = await start_node_server(peer, **start)
        client, sid = await server.connect_client(ackReply=f"ack{n}")
        servers.append(server)
        clients.append(client)
        sids.append(sid)
    return servers, clients, sids


@pytest.mark.parametrize("mode", ["dynamic", "static", "dynamic-private"])
async def test_sharded_servers_share_a_cluster(
    peer: NodePeer, redis_cluster: RedisCluster, mode: str
) -> None:
    prefix = _unique("smoke-sharded")
    (s1, s2), (c1, c2), (sid1, sid2) = await _two_servers_with_clients(
        peer,
        adapter="sharded",
        cluster_urls=redis_cluster.urls,
        channelPrefix=prefix,
        subscriptionMode=mode,
    )
    assert (s1.kind, s2.kind) == ("sharded", "sharded")
    await s2.join(c2, "room1")

    await s1.call("emit", to=["room1"], event="ev", args=[1, b"\x02"])
    assert await s2.wait_client_event(c2, "ev") == [[1, b"\x02"]]
    await s1.call("emit", to=[sid2], event="direct")
    await s2.wait_client_event(c2, "direct")

    sockets = await s1.call("fetchSockets")
    assert {s["id"]: s["rooms"] for s in sockets} == {sid1: [sid1], sid2: [sid2, "room1"]}
    assert await s1.call("serverCount") == 2
    # Both servers hold their one subscription to the main channel on the master of its slot;
    # only s2 subscribed to room1's channel, and only in the dynamic modes.
    main, room = f"{prefix}#/#", f"{prefix}#/#room1#"
    for channel, count in ((main, 2), (room, 0 if mode == "static" else 1)):
        with redis_cluster.master_for_key(channel).client() as redis:
            reply = redis.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        assert reply == [channel.encode(), count]
    # The same, asked through Node's cluster client, routed by the channel's slot.
    reply = await s1.call("redisCommand", args=["PUBSUB", "SHARDNUMSUB", main], key=main)
    assert reply == [main, 2]
    info = await s2.adapter_info()
    assert (info["uid"], info["mainChannel"]) == (s2.uid, main)
    assert info["privateChannel"] == f"{main}{s2.uid}#"
    assert info["options"] == {"channelPrefix": prefix, "subscriptionMode": mode}
    with pytest.raises(NodePeerError, match="has no allRooms"):
        await s1.call("allRooms")
    assert await s1.client_events(c1) == []


async def test_streams_servers_share_one_redis(peer: NodePeer, redis_server: RedisServer) -> None:
    name = _unique("smoke-streams")
    (s1, s2), (c1, c2), _ = await _two_servers_with_clients(
        peer,
        adapter="streams",
        redis_url=redis_server.url,
        streamName=name,
        channelPrefix=name,
        blockTimeInMs=1000,
    )
    await s2.join(c2, "room1")

    await s1.call("emit", to=["room1"], event="ev", args=[1, b"\x02"])
    assert await s2.wait_client_event(c2, "ev") == [[1, b"\x02"]]
    with redis_server.client() as redis:
        ((_, entry),) = redis.xrange(name)
    assert (entry[b"uid"], entry[b"nsp"], entry[b"type"]) == (s1.uid.encode(), b"/", b"3")

    await s2.call("onServerSideEvent", event="ping", reply=["pong"])
    reply = await s1.call("serverSideEmit", event="ping", args=[1], withAck=True)
    assert reply == {"responses": ["pong"]}
    assert await s2.call("serverEvents") == [{"event": "ping", "args": [1]}]
    assert await s1.call("serverCount") == 2
    assert await s1.client_events(c1) == []


@pytest.fixture(
    params=["classic", "sharded-cluster", "sharded-single", "streams", "streams-sharded-pubsub"]
)
def adapter_start(request: pytest.FixtureRequest) -> dict[str, Any]:
    """startServer arguments for each adapter kind, with names of the test's own (the
    cluster is only started for the test that needs it)."""
    name = _unique("smoke-ops")
    if request.param == "sharded-cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return {"adapter": "sharded", "cluster_urls": cluster.urls, "channelPrefix": name}
    url = request.getfixturevalue("redis_server").url
    if request.param == "classic":
        return {"adapter": "classic", "redis_url": url, "key": name}
    if request.param == "sharded-single":
        return {"adapter": "sharded", "redis_url": url, "channelPrefix": name}
    return {
        "adapter": "streams",
        "redis_url": url,
        "streamName": name,
        "channelPrefix": name,
        "blockTimeInMs": 1000,
        "useShardedPubSub": request.param == "streams-sharded-pubsub",
    }


async def test_every_operation_with_each_adapter(
    peer: NodePeer, adapter_start: dict[str, Any]
) -> None:
    (s1, s2), (c1, c2), (sid1, sid2) = await _two_servers_with_clients(peer, **adapter_start)

    reply = await s1.call("emitWithAck", event="ask", args=["q"], timeout=2000)
    assert sorted(reply["responses"]) == ["ack1", "ack2"]

    await s1.call("socketsJoin", rooms=["j"])
    await s2.wait_subscriptions()  # the sharded adapter subscribes to "j" on the remote join
    await s1.call("emit", to=["j"], event="in-j")
    await s2.wait_client_event(c2, "in-j")
    await s1.call("socketsLeave", rooms=["j"])
    assert await s1.call("fetchSockets", to=["j"]) == []

    await s1.call("remoteSocket", sid=sid2, action="emit", event="rs", args=["x"])
    assert await s2.wait_client_event(c2, "rs") == [["x"]]
    assert await s1.call("remoteSocket", sid=sid2, action="emitWithAck", event="a") == "ack2"

    await s2.call("onServerSideEvent", event="sse")
    await s1.call("serverSideEmit", event="sse", args=[1, "x"])
    for _ in range(250):
        if events := await s2.call("serverEvents"):
            break
        await asyncio.sleep(0.02)
    assert events == [{"event": "sse", "args": [1, "x"]}]

    await s2.call("socketJoin", sid=sid2, room="local")
    assert await s2.call("localSockets") == [{"id": sid2, "rooms": [sid2, "local"]}]
    await s1.call("disconnectSockets", to=["local"])
    assert await s2.wait_client_event(c2, "__disconnect") == [["io server disconnect"]]
    assert [s["id"] for s in await s1.call("fetchSockets")] == [sid1]
    assert await s1.client_events(c1, "in-j") == [[]]


async def test_streams_recovery_offsets_reach_clients(
    peer: NodePeer, redis_server: RedisServer
) -> None:
    name = _unique("smoke-csr")
    server = await start_node_server(
        peer,
        adapter="streams",
        redis_url=redis_server.url,
        streamName=name,
        channelPrefix=name,
        blockTimeInMs=1000,
        connectionStateRecovery={"maxDisconnectionDuration": 60000},
    )
    client, _ = await server.connect_client()
    await server.call("emit", event="ev", args=[1])
    with redis_server.client() as redis:
        ((entry_id, _),) = redis.xrange(name)
    # With connection state recovery on, the XADD id is appended to every event.
    assert await server.wait_client_event(client, "ev") == [[1, entry_id.decode()]]
