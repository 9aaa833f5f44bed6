"""The command line with real Node.js servers (socket.io 4.8 + @socket.io/redis-adapter 8.3,
classic and sharded) and the real @socket.io/redis-emitter next to Python servers.

``monitor`` must decode what Node puts on the wire (the records are compared with what each
side was told to send), ``emit`` must reach clients of both languages, and ``status`` must
count both and name their uids, all without changing the subscriber counts either side uses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from node_peer import NodePeer, NodeServer, start_node_server
from support.cli_runner import Monitor, run_cli
from support.redis_procs import RedisCluster
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncShardedRedisAdapter

pytestmark = pytest.mark.interop
DONE = "cli-interop-done"


def is_done(line: str) -> bool:
    return DONE in line


def by_event(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == event]


@dataclass
class Mixed:
    py: SioServer
    node: NodeServer
    py_client: RecordingClient
    node_client: int
    node_uid: str


@pytest.fixture
async def classic_mixed(
    node_server: NodeServer, py_server: SioServer, py_clients: list[RecordingClient]
) -> Mixed:
    client = RecordingClient()
    py_clients.append(client)
    await client.connect(py_server.url)
    await client.join("room1")
    node_client, _ = await node_server.connect_client()
    await node_server.join(node_client, "room1")
    uid = (await node_server.adapter_info())["uid"]
    return Mixed(py_server, node_server, client, node_client, uid)


def numsub(url: str) -> int:
    with redis.Redis.from_url(url) as r:
        return int(r.pubsub_numsub("socket.io-request#/#")[0][1])


async def test_monitor_decodes_node_server_and_node_emitter(
    redis_url: str, peer: NodePeer, classic_mixed: Mixed
) -> None:
    m = classic_mixed
    assert numsub(redis_url) == 2
    async with Monitor(redis_url, "--json") as monitor:
        assert numsub(redis_url) == 2
        await m.node.call(
            "emit", event="ev", args=[1, "a", {"x": 1.5}, b"\x01\x02\x03"], to=["room1"],
            except_=["room2"],
        )  # fmt: skip
        rooms = await m.node.call("allRooms")  # waits for NUMSUB answers: 2, not 3
        assert "room1" in rooms
        await peer.call("emitter", redisUrl=redis_url, action="emit", event="fromNode", to=["r"])
        await peer.call(
            "emitter", redisUrl=redis_url, action="socketsJoin", rooms=["x"], to=["room1"]
        )
        await m.py.sio.emit(DONE)
        await monitor.read_until(is_done)
        result = await monitor.interrupt()
    assert result.code == 0, result.stderr
    records = monitor.records()
    [ev] = by_event(records, "ev")
    assert ev == {
        "time": ev["time"],
        "protocol": "classic",
        "channel": "socket.io#/#room1#",
        "size": ev["size"],
        "kind": "broadcast",
        "type": "broadcast",
        "uid": m.node_uid,
        "nsp": "/",
        "rooms": ["room1"],
        "except": ["room2"],
        "event": "ev",
        "args": [1, "a", {"x": 1.5}, {"$bin": "010203"}],
    }
    [request] = [r for r in records if r["type"] == "ALL_ROOMS"]
    assert request["uid"] == m.node_uid
    [answer] = [r for r in records if r["type"] == "ALL_ROOMS_RESPONSE"]
    assert answer["request_id"] == request["request_id"]
    assert sorted(answer["details"]["rooms"]) == sorted([m.py_client.sid(), "room1"])
    [emitted] = by_event(records, "fromNode")
    assert (emitted["uid"], emitted["rooms"], emitted["args"]) == ("emitter", ["r"], [])
    [join] = [r for r in records if r["type"] == "REMOTE_JOIN"]
    assert (join["uid"], join["rooms"], join["details"]) == (None, ["room1"], {"join": ["x"]})
    assert by_event(records, DONE)[0]["uid"] == m.py.mgr.uid
    assert numsub(redis_url) == 2


async def test_emit_reaches_python_and_node_clients(redis_url: str, classic_mixed: Mixed) -> None:
    m = classic_mixed
    result = await run_cli(
        "emit", redis_url, "hello", '{"n": 1}', '{"$bin": "0102"}', "--to", "room1"
    )
    assert result.code == 0, result.stderr
    got = await m.node.wait_client_event(m.node_client, "hello")
    assert got == [[{"n": 1}, b"\x01\x02"]]
    await eventually(lambda: m.py_client.events("hello"))
    assert m.py_client.events("hello") == [({"n": 1}, b"\x01\x02")]


async def test_status_counts_python_and_node_servers(redis_url: str, classic_mixed: Mixed) -> None:
    m = classic_mixed
    result = await run_cli("status", redis_url, "--namespace", "/", "--json")
    assert result.code == 0, result.stderr
    [root] = result.json_lines()[0]["namespaces"]
    assert (root["servers"], root["answered"]) == (2, 2)
    assert root["uids"] == sorted([m.node_uid, m.py.mgr.uid])
    assert root["rooms"] == ["room1"] and root["sockets"] == 2
    assert numsub(redis_url) == 2


@pytest.fixture
async def sharded_mixed(
    redis_cluster: RedisCluster, peer: NodePeer
) -> AsyncIterator[tuple[str, Mixed]]:
    prefix = f"cli-ix-{uuid.uuid4().hex[:6]}"
    py = await start_server(
        "", manager=AsyncShardedRedisAdapter(redis_cluster.urls, channel_prefix=prefix)
    )
    node = await start_node_server(
        peer, adapter="sharded", cluster_urls=redis_cluster.urls, channelPrefix=prefix
    )
    client = RecordingClient()
    await client.connect(py.url)
    await client.join("red")
    node_client, _ = await node.connect_client()
    await node.join(node_client, "red")
    assert node.uid is not None
    yield prefix, Mixed(py, node, client, node_client, node.uid)
    await client.close()
    await node.stop()
    await py.stop()


async def test_sharded_monitor_emit_and_status_with_node(
    redis_cluster: RedisCluster, sharded_mixed: tuple[str, Mixed]
) -> None:
    prefix, m = sharded_mixed
    url = redis_cluster.startup_url
    async with Monitor(url, "--sharded", "--key", prefix, "--json") as monitor:
        await m.node.call("emit", event="nev", args=["z", b"\xff"], to=["red"])
        result = await run_cli(
            "emit", url, "cli", "[1]", "--sharded", "--key", prefix, "--to", "red"
        )
        assert result.code == 0, result.stderr
        got = await m.node.wait_client_event(m.node_client, "cli")
        assert got == [[[1]]]
        await eventually(lambda: m.py_client.events("cli"))
        assert m.py_client.events("cli") == [([1],)]
        status = await run_cli("status", url, "--sharded", "--key", prefix, "--json")
        assert status.code == 0, status.stderr
        await m.py.sio.emit(DONE)
        await monitor.read_until(is_done)
        stopped = await monitor.interrupt()
    assert stopped.code == 0, stopped.stderr
    records = monitor.records()
    [nev] = by_event(records, "nev")
    assert (nev["channel"], nev["uid"], nev["type"], nev["args"]) == (
        f"{prefix}#/#red#",
        m.node_uid,
        "broadcast",
        ["z", {"$bin": "ff"}],
    )
    [cli] = by_event(records, "cli")
    assert (cli["uid"], cli["rooms"], cli["args"]) == ("emitter", ["red"], [[1]])
    # the status command's FETCH_SOCKETS, answered by both languages to its private channel
    [fetch] = [r for r in records if r["type"] == "FETCH_SOCKETS"]
    answers = [r for r in records if r["type"] == "FETCH_SOCKETS_RESPONSE"]
    assert {a["uid"] for a in answers} == {m.node_uid, m.py.mgr.uid}
    assert {a["to_uid"] for a in answers} == {fetch["uid"]}

    [root] = status.json_lines()[0]["namespaces"]
    assert (root["servers"], root["answered"]) == (2, 2)
    assert root["uids"] == sorted([m.node_uid, m.py.mgr.uid])
    assert {s["uid"]: s["rooms"] for s in root["per_server"]} == {
        m.node_uid: ["red"],
        m.py.mgr.uid: ["red"],
    }
