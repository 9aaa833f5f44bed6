"""Acceptance 2 and 3: broadcasts between Python and Node servers, and from the Node emitter.

Python clients sit on the Python server, Node socket.io-client instances on the Node server;
both sides must receive exactly what a same-language cluster would deliver, and our published
bytes must equal the captures of PROTOCOL.md (apart from the 6-character uid).
"""

from __future__ import annotations

from typing import Any

import pytest
from node_peer import NodeServer
from support.sio_servers import RecordingClient, SioServer, connect_recording_client, eventually
from support.sniffer import sniff

pytestmark = pytest.mark.interop

# PROTOCOL.md section 2.3, captured from @socket.io/redis-adapter 8.3.0 with uid "XDgon-".
SAMPLE_A = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746195a2657601a16181a178cb3ff8000000000000c403010203"
    "a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380"
)
SAMPLE_B = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746192a3766f6ca568656c6c6fa36e7370a12f83a5726f6f6d73"
    "90a665786365707490a5666c61677381a8766f6c6174696c65c3"
)
SAMPLE_C = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746192a3636d7002a36e7370a12f83a5726f6f6d7390a6657863"
    "65707490a5666c61677381a8636f6d7072657373c2"
)
SAMPLE_D = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746192a374776fc0a36e7370a12f83a5726f6f6d7392a5726f6f"
    "6d31a5726f6f6d33a665786365707490a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c3"
)
SAMPLE_E = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746192a36e756d2aa36e7370a12f83a5726f6f6d73912aa66578"
    "6365707490a5666c61677380"
)
SAMPLE_A_ARGS = [1, "a", {"x": 1.5}, b"\x01\x02\x03"]


def with_uid(sample: bytes, uid: str) -> bytes:
    """The capture as our server would publish it: same bytes, our uid instead of XDgon-."""
    return sample.replace(b"XDgon-", uid.encode(), 1)


@pytest.fixture
async def mixed(py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]):
    """On each side: one client in room1, one in room1+room2, one in int room 42, one in "42"."""
    py: dict[str, RecordingClient] = {}
    node: dict[str, int] = {}
    layout = {"r1": ["room1"], "r12": ["room1", "room2"], "i42": [42], "s42": ["42"]}
    for name, rooms in layout.items():
        py[name] = await connect_recording_client(py_clients, py_server)
        node[name], _ = await node_server.connect_client(ackReply="node-ack")
        for room in rooms:
            await py[name].join(room)
            await node_server.join(node[name], room)
    return py_server, node_server, py, node


async def settle(py_server: SioServer, node: NodeServer, py: dict, nodes: dict) -> None:
    """A sentinel from each side to everyone; once all saw both, earlier messages are in."""
    await py_server.sio.emit("__done_py__")
    await node.call("emit", event="__done_node__")
    for marker in ("__done_py__", "__done_node__"):
        await eventually(lambda m=marker: all(c.events(m) for c in py.values()))
        for client_id in nodes.values():
            await node.wait_client_event(client_id, marker)


async def node_got(node: NodeServer, clients: dict[str, int], event: str) -> dict[str, Any]:
    got = {}
    for name, client_id in clients.items():
        if events := await node.client_events(client_id, event):
            got[name] = events
    return got


def py_got(clients: dict[str, RecordingClient], event: str) -> dict[str, Any]:
    return {
        name: [list(a) for a in c.events(event)] for name, c in clients.items() if c.events(event)
    }


async def test_node_broadcast_sample_a_reaches_python_clients(mixed) -> None:
    py_server, node, py, nodes = mixed
    await node.call("emit", to=["room1"], except_=["room2"], event="ev", args=SAMPLE_A_ARGS)
    await settle(py_server, node, py, nodes)
    assert py_got(py, "ev") == {"r1": [SAMPLE_A_ARGS]}
    assert await node_got(node, nodes, "ev") == {"r1": [SAMPLE_A_ARGS]}


async def test_python_broadcast_is_sample_a_and_reaches_node_clients(mixed, redis_url) -> None:
    py_server, node, py, nodes = mixed
    async with sniff(redis_url, "socket.io#/#room1#") as sniffer:
        # skip_sid takes rooms too: it becomes Node's "except" list
        await py_server.sio.emit("ev", tuple(SAMPLE_A_ARGS), to="room1", skip_sid="room2")
        await settle(py_server, node, py, nodes)
    assert sniffer.on(b"socket.io#/#room1#") == [with_uid(SAMPLE_A, py_server.mgr.uid)]
    assert py_got(py, "ev") == {"r1": [SAMPLE_A_ARGS]}
    assert await node_got(node, nodes, "ev") == {"r1": [SAMPLE_A_ARGS]}


@pytest.mark.parametrize(
    ("emit", "channel", "sample", "receivers"),
    [
        ({"event": "vol", "data": "hello", "volatile": True}, b"socket.io#/#", SAMPLE_B, "all"),
        ({"event": "cmp", "data": 2, "compress": False}, b"socket.io#/#", SAMPLE_C, "all"),
        (
            {
                "event": "two",
                "data": (None,),
                "to": ["room1", "room3"],
                "volatile": True,
                "compress": True,
            },
            b"socket.io#/#",
            SAMPLE_D,
            {"r1", "r12"},
        ),
        ({"event": "num", "data": 42, "to": 42}, b"socket.io#/#42#", SAMPLE_E, {"i42"}),
    ],
)
async def test_python_flags_and_numeric_room_match_node_bytes(
    mixed, redis_url, emit, channel, sample, receivers
) -> None:
    py_server, node, py, nodes = mixed
    emit = dict(emit)
    event, data = emit.pop("event"), emit.pop("data")
    async with sniff(redis_url, "socket.io#/#*") as sniffer:
        await py_server.mgr.emit(event, data, **emit)
        await settle(py_server, node, py, nodes)
    ours = [m for m in sniffer.on(channel) if py_server.mgr.uid.encode() in m[:8]]
    assert ours[0] == with_uid(sample, py_server.mgr.uid)
    expected = set(py) if receivers == "all" else receivers
    assert set(py_got(py, event)) == expected
    assert set(await node_got(node, nodes, event)) == expected


async def test_node_flags_numeric_room_and_string_room_reach_python(mixed) -> None:
    py_server, node, py, nodes = mixed
    await node.call("emit", volatile=True, event="vol", args=["hello"])
    await node.call("emit", compress=False, event="cmp", args=[2])
    await node.call(
        "emit", to=["room1", "room3"], volatile=True, compress=True, event="two", args=[None]
    )
    await node.call("emit", to=[42], event="num", args=[42])
    await node.call("emit", to=["42"], event="str", args=["42"])
    await settle(py_server, node, py, nodes)
    assert set(py_got(py, "vol")) == set(py)
    assert set(py_got(py, "cmp")) == set(py)
    assert py_got(py, "two") == {"r1": [[None]], "r12": [[None]]}
    assert py_got(py, "num") == {"i42": [[42]]}
    assert py_got(py, "str") == {"s42": [["42"]]}


async def test_local_flag_is_never_published(mixed, redis_url) -> None:
    py_server, node, py, nodes = mixed
    async with sniff(redis_url, "socket.io*") as sniffer:
        await py_server.mgr.emit("local-only", 1, local=True)
        await settle(py_server, node, py, nodes)
    assert not any(b"local-only" in data for _, data in sniffer.messages)
    assert set(py_got(py, "local-only")) == set(py)
    assert await node_got(node, nodes, "local-only") == {}


async def test_except_sender_in_both_directions(mixed) -> None:
    """``socket.broadcast.emit`` in Node puts the sender's sid in except; skip_sid in Python."""
    py_server, node, py, nodes = mixed
    node_sockets = await node.call("localSockets")
    first_node_sid = sorted(s["id"] for s in node_sockets)[0]
    await node.call("emit", except_=[py["r1"].sid()], event="from-node")
    await py_server.sio.emit("from-py", 1, skip_sid=[first_node_sid, py["i42"].sid()])
    await settle(py_server, node, py, nodes)
    assert set(py_got(py, "from-node")) == set(py) - {"r1"}
    assert set(py_got(py, "from-py")) == set(py) - {"i42"}
    node_from_py = await node_got(node, nodes, "from-py")
    assert len(node_from_py) == len(nodes) - 1


async def test_admin_namespace_both_ways(py_server, node_server, py_clients) -> None:
    py_client = await connect_recording_client(py_clients, py_server, namespaces=["/", "/admin"])
    node_admin, _ = await node_server.connect_client(nsp="/admin")
    node_root, _ = await node_server.connect_client(nsp="/")
    await node_server.call("emit", nsp="/admin", event="adm", args=[1])
    await py_server.sio.emit("adm", 2, namespace="/admin")
    await eventually(lambda: len(py_client.events("adm", "/admin")) == 2)
    assert await node_server.wait_client_event(node_admin, "adm", count=2) == [[1], [2]]
    await node_server.call("emit", event="root-sentinel")
    await py_server.sio.emit("root-sentinel")
    await eventually(lambda: len(py_client.events("root-sentinel")) == 2)
    assert py_client.events("adm", "/admin") == [(1,), (2,)]
    assert py_client.events("adm", "/") == []
    assert await node_server.client_events(node_root, "adm") == []


async def test_emitter_reaches_python_clients(mixed, redis_url) -> None:
    py_server, node, py, nodes = mixed
    peer = node.peer
    await peer.call(
        "emitter",
        redisUrl=redis_url,
        action="emit",
        to=["room1"],
        except_=["room2"],
        event="em",
        args=[{"a": 1}, b"\x09"],
    )
    await peer.call(
        "emitter",
        redisUrl=redis_url,
        action="emit",
        volatile=True,
        compress=False,
        event="em-all",
        args=[],
    )
    await peer.call(
        "emitter", redisUrl=redis_url, action="emit", to=[42], event="em-num", args=[42]
    )
    await settle(py_server, node, py, nodes)
    assert py_got(py, "em") == {"r1": [[{"a": 1}, b"\x09"]]}
    assert await node_got(node, nodes, "em") == {"r1": [[{"a": 1}, b"\x09"]]}
    assert set(py_got(py, "em-all")) == set(py)
    assert py_got(py, "em-num") == {"i42": [[42]]}


async def test_emitter_admin_namespace_reaches_python_clients(
    py_server, py_clients, redis_url, peer
) -> None:
    client = await connect_recording_client(py_clients, py_server, namespaces=["/", "/admin"])
    await peer.call(
        "emitter", redisUrl=redis_url, nsp="admin", action="emit", event="em-adm", args=[b"\x01"]
    )
    await eventually(lambda: client.events("em-adm", "/admin") == [(b"\x01",)])
    assert client.events("em-adm", "/") == []
