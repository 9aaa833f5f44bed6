"""AsyncEmitter and Emitter against the real ``@socket.io/redis-emitter`` 5.1 and real servers.

First the bytes: for each call, the Node emitter (driven by the peer), our AsyncEmitter and
our Emitter publish once each while a PSUBSCRIBE sniffer records them; all three must be the
same bytes on the same channel. Then delivery: what our emitters publish must reach the
clients of a Python server and of a Node server alike, move and disconnect sockets hosted by
both, and reach server-side event handlers. The synchronous ``Emitter`` runs in a thread
(``asyncio.to_thread``), as it would in a Celery worker next to an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest
from support.sio_servers import RecordingClient, SioServer, connect_recording_client, eventually
from support.sniffer import sniff

from socketio_redis_async import AsyncEmitter, Emitter

if TYPE_CHECKING:
    # Only for annotations: importing ``conftest`` at run time picks whichever conftest
    # module pytest loaded first (tests/unit's when both folders are collected).
    from node_peer import NodeServer

pytestmark = pytest.mark.interop

KEY = "emk"  # a prefix of these tests' own, so the sniffer sees nothing else

# (id, parameters of the peer's "emitter" op, the channel every emitter must publish to)
CASES: list[tuple[str, dict[str, Any], bytes]] = [
    (
        "to-one-room-binary",  # the PROTOCOL.md section 3 capture
        {"action": "emit", "to": ["room1"], "event": "fromEmitter", "args": [{"a": 1}, b"\x09"]},
        b"emk#/#room1#",
    ),
    (
        "volatile-compress-false",  # the other PROTOCOL.md capture
        {"action": "emit", "volatile": True, "compress": False, "event": "fromEmitter2"},
        b"emk#/#",
    ),
    (
        "two-rooms-except-flags-and-number-types",
        {
            "action": "emit",
            "to": ["room1", "room3"],
            "except_": ["room2", 7],
            "volatile": True,
            "compress": True,
            "event": "many",
            "args": [None, 1.0, -0.0, 1.5, -5, 2**40, -(2**40), "é ☃", [1, {"k": True}], ""],
        },
        b"emk#/#",
    ),
    ("numeric-room", {"action": "emit", "to": [42], "event": "num", "args": [42]}, b"emk#/#42#"),
    ("string-room", {"action": "emit", "to": ["42"], "event": "str", "args": ["42"]}, b"emk#/#42#"),
    ("except-only", {"action": "emit", "except_": [42, "x"], "event": "ex"}, b"emk#/#"),
    (
        "namespace-without-slash",
        {"action": "emit", "nsp": "admin", "event": "adm", "args": [b"\x01\x02", {"b": b""}]},
        b"emk#/admin#",
    ),
    (
        "namespace-room-except",
        {
            "action": "emit",
            "nsp": "/admin",
            "to": ["r"],
            "except_": ["a", 7],
            "compress": False,
            "event": "x",
            "args": [{"nested": [b"\x00", {"deep": 0.25}]}],
        },
        b"emk#/admin#r#",
    ),
    (
        "sockets-join",
        {"action": "socketsJoin", "to": ["room1"], "rooms": ["roomE"]},
        b"emk-request#/#",
    ),
    ("sockets-join-one-room", {"action": "socketsJoin", "rooms": "solo"}, b"emk-request#/#"),
    (
        "sockets-join-numeric-and-flags-ignored",
        {"action": "socketsJoin", "to": [42, "42"], "volatile": True, "rooms": [7, "7"]},
        b"emk-request#/#",
    ),
    (
        "sockets-leave",
        {"action": "socketsLeave", "nsp": "admin", "except_": ["x"], "rooms": ["a", 5]},
        b"emk-request#/admin#",
    ),
    (
        "disconnect",
        {"action": "disconnectSockets", "to": ["room3"], "close": False},
        b"emk-request#/#",
    ),
    ("disconnect-close", {"action": "disconnectSockets", "close": True}, b"emk-request#/#"),
    ("disconnect-default", {"action": "disconnectSockets"}, b"emk-request#/#"),
    (
        "server-side-emit",
        {"action": "serverSideEmit", "event": "emSSE", "args": [1]},
        b"emk-request#/#",
    ),
    (
        "server-side-emit-types",
        {
            "action": "serverSideEmit",
            "nsp": "admin",
            "event": "t",
            "args": [1.0, 2.5, -0.0, b"\x01\x02", {"é": [None, True]}, "x", 2**40],
        },
        b"emk-request#/admin#",
    ),
]


def call_like_the_peer(em: Any, case: dict[str, Any]) -> Any:
    """Build the same chain as ``buildOperator`` in peer.js, then make the call.

    Returns a coroutine for an AsyncEmitter; an Emitter has published when it returns.
    """
    op = em.of(case.get("nsp", "/"))
    for room in case.get("to", []):
        op = op.to(room)
    if case.get("except_"):
        op = op.except_(case["except_"])
    if case.get("volatile"):
        op = op.volatile
    if "compress" in case:
        op = op.compress(case["compress"])
    args = case.get("args", [])
    match case["action"]:
        case "emit":
            return op.emit(case["event"], *args)
        case "socketsJoin":
            return op.sockets_join(case["rooms"])
        case "socketsLeave":
            return op.sockets_leave(case["rooms"])
        case "disconnectSockets":
            return op.disconnect_sockets(case.get("close", False))
        case "serverSideEmit":
            return op.server_side_emit(case["event"], *args)
    raise AssertionError(f"unknown action {case['action']}")


@pytest.mark.parametrize(("case", "channel"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_our_emitters_publish_the_node_emitter_bytes(
    peer: Any, redis_url: str, case: dict[str, Any], channel: bytes
) -> None:
    async with sniff(redis_url, f"{KEY}*") as sniffer:
        await peer.call("emitter", redisUrl=redis_url, key=KEY, **case)
        await eventually(lambda: len(sniffer.messages) == 1)

        async with AsyncEmitter(redis_url, key=KEY) as async_em:
            await call_like_the_peer(async_em, case)
        await eventually(lambda: len(sniffer.messages) == 2)

        sync_em = Emitter(redis_url, key=KEY)
        try:
            await asyncio.to_thread(call_like_the_peer, sync_em, case)
        finally:
            sync_em.close()
        await eventually(lambda: len(sniffer.messages) == 3)
        await asyncio.sleep(0.05)  # nothing else may follow
    node, ours_async, ours_sync = sniffer.messages
    assert node[0] == channel
    assert ours_async == node
    assert ours_sync == node


# --- delivery to Python and Node servers ----------------------------------------------------


class Driver:
    """One of our emitters; the synchronous one is driven from a worker thread."""

    def __init__(self, flavor: str, redis_url: str) -> None:
        self.em: AsyncEmitter | Emitter = (
            AsyncEmitter(redis_url) if flavor == "async" else Emitter(redis_url)
        )

    async def __call__(self, call: Callable[[Any], Any]) -> None:
        if isinstance(self.em, AsyncEmitter):
            await call(self.em)
        else:
            await asyncio.to_thread(call, self.em)

    async def aclose(self) -> None:
        if isinstance(self.em, AsyncEmitter):
            await self.em.aclose()
        else:
            await asyncio.to_thread(self.em.close)


@pytest.fixture(params=["async", "sync"])
async def emit(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Driver]:
    driver = Driver(request.param, redis_url)
    yield driver
    await driver.aclose()


LAYOUT = {"r1": ["room1"], "r12": ["room1", "room2"], "i42": [42], "s42": ["42"]}


@pytest.fixture
async def mixed(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> tuple[dict[str, RecordingClient], NodeServer, dict[str, int]]:
    """On each side: a client in room1, one in room1+room2, one in int 42, one in "42"."""
    py: dict[str, RecordingClient] = {}
    node: dict[str, int] = {}
    for name, rooms in LAYOUT.items():
        py[name] = await connect_recording_client(py_clients, py_server)
        node[name], _ = await node_server.connect_client()
        for room in rooms:
            await py[name].join(room)
            await node_server.join(node[name], room)
    return py, node_server, node


async def settle(
    emit: Driver, py: dict[str, RecordingClient], node: NodeServer, nodes: dict[str, int]
) -> None:
    """A last event from the same emitter to everyone: once all have it, the rest is in."""
    await emit(lambda em: em.emit("__done__"))
    await eventually(lambda: all(c.events("__done__") for c in py.values()))
    for client_id in nodes.values():
        await node.wait_client_event(client_id, "__done__")


def py_got(clients: dict[str, RecordingClient], event: str) -> dict[str, list[list[Any]]]:
    return {
        name: [list(a) for a in c.events(event)] for name, c in clients.items() if c.events(event)
    }


async def node_got(node: NodeServer, clients: dict[str, int], event: str) -> dict[str, Any]:
    got = {}
    for name, client_id in clients.items():
        if events := await node.client_events(client_id, event):
            got[name] = events
    return got


async def test_rooms_except_binary_and_flags_reach_python_and_node_clients(
    emit: Driver, mixed: tuple[dict[str, RecordingClient], NodeServer, dict[str, int]]
) -> None:
    py, node, nodes = mixed
    await emit(lambda em: em.to("room1").except_("room2").emit("em", {"a": 1}, b"\x09", 1.0))
    await emit(lambda em: em.compress(False).emit("em-all", "x"))
    await emit(lambda em: em.to(42).emit("em-num", 42))
    await emit(lambda em: em.to("42").emit("em-str", "42"))
    await emit(lambda em: em.to("room2", 42).emit("em-multi"))  # two rooms: the bare channel
    await emit(lambda em: em.except_(42, "room2").emit("em-except"))
    await settle(emit, py, node, nodes)
    expected = {
        "em": {"r1": [[{"a": 1}, b"\x09", 1]]},
        "em-all": {name: [["x"]] for name in LAYOUT},
        "em-num": {"i42": [[42]]},
        "em-str": {"s42": [["42"]]},
        "em-multi": {"r12": [[]], "i42": [[]]},
        "em-except": {"r1": [[]], "s42": [[]]},
    }
    for event, receivers in expected.items():
        assert py_got(py, event) == receivers, event
        assert await node_got(node, nodes, event) == receivers, event

    # Volatile: a Node server drops it for a client whose transport is still busy writing,
    # so it is sent alone, once every connection is idle.
    await emit(lambda em: em.volatile.emit("em-vol", b"\x07"))
    await eventually(lambda: py_got(py, "em-vol") == {n: [[b"\x07"]] for n in LAYOUT})
    for client_id in nodes.values():
        assert await node.wait_client_event(client_id, "em-vol") == [[b"\x07"]]


async def test_admin_namespace_reaches_only_admin_clients(
    emit: Driver,
    py_server: SioServer,
    node_server: NodeServer,
    py_clients: list[RecordingClient],
) -> None:
    py_client = await connect_recording_client(py_clients, py_server, namespaces=["/", "/admin"])
    node_admin, _ = await node_server.connect_client(nsp="/admin")
    node_root, _ = await node_server.connect_client(nsp="/")
    await py_client.join("ar", namespace="/admin")
    await node_server.peer.call("clientEmit", clientId=node_admin, event="join", args=["ar"])
    await emit(lambda em: em.of("admin").emit("adm", b"\x01"))
    await emit(lambda em: em.of("/admin").to("ar").emit("adm-room", 2))
    await emit(lambda em: em.emit("root"))
    await eventually(lambda: py_client.events("root") == [()])
    await node_server.wait_client_event(node_root, "root")
    await eventually(lambda: py_client.events("adm-room", "/admin") == [(2,)])
    assert await node_server.wait_client_event(node_admin, "adm-room") == [[2]]
    assert py_client.events("adm", "/admin") == [(b"\x01",)]
    assert await node_server.client_events(node_admin, "adm") == [[b"\x01"]]
    assert py_client.events("adm", "/") == []
    assert py_client.events("root", "/admin") == []
    assert await node_server.client_events(node_root, "adm") == []
    assert await node_server.client_events(node_admin, "root") == []


async def node_rooms(node: NodeServer, sid: str) -> list[Any]:
    for socket in await node.call("localSockets"):
        if socket["id"] == sid:
            rooms: list[Any] = socket["rooms"]
            return rooms
    raise AssertionError(f"no Node socket {sid}")


async def test_sockets_join_and_leave_move_python_and_node_sockets(
    emit: Driver,
    py_server: SioServer,
    node_server: NodeServer,
    py_clients: list[RecordingClient],
) -> None:
    py_client = await connect_recording_client(py_clients, py_server)
    node_client, node_sid = await node_server.connect_client()
    py_sid = py_client.sid()
    await py_client.join("base")
    await node_server.join(node_client, "base")

    await emit(lambda em: em.to("base").sockets_join(["vip", 7]))
    await eventually(lambda: {"vip", 7} <= set(py_server.sio.rooms(py_sid)))
    await eventually(lambda: _has(node_server, node_sid, {"vip", 7}))
    assert "7" not in py_server.sio.rooms(py_sid)  # an int room stays an int
    assert "7" not in await node_rooms(node_server, node_sid)

    # Leave only where the Node socket is excluded by its own sid room.
    await emit(lambda em: em.to("vip").except_(node_sid).sockets_leave("vip"))
    await eventually(lambda: "vip" not in py_server.sio.rooms(py_sid))
    await emit(lambda em: em.to(node_sid).sockets_join("sentinel"))
    await eventually(lambda: _has(node_server, node_sid, {"sentinel"}))
    assert "vip" in await node_rooms(node_server, node_sid)

    await emit(lambda em: em.sockets_leave(7))  # no target: every socket
    await eventually(lambda: 7 not in py_server.sio.rooms(py_sid))
    await eventually(lambda: _lacks(node_server, node_sid, 7))

    await emit(lambda em: em.to("vip").emit("vip-only"))
    await emit(lambda em: em.emit("all"))
    await eventually(lambda: py_client.events("all") == [()])
    await node_server.wait_client_event(node_client, "all")
    assert await node_server.client_events(node_client, "vip-only") == [[]]
    assert py_client.events("vip-only") == []


async def _has(node: NodeServer, sid: str, rooms: set[Any]) -> bool:
    return rooms <= set(await node_rooms(node, sid))


async def _lacks(node: NodeServer, sid: str, room: Any) -> bool:
    return room not in await node_rooms(node, sid)


async def test_disconnect_sockets_on_python_and_node_servers(
    emit: Driver,
    py_server: SioServer,
    node_server: NodeServer,
    py_clients: list[RecordingClient],
) -> None:
    soft_py = await connect_recording_client(py_clients, py_server, namespaces=["/", "/admin"])
    hard_py = await connect_recording_client(py_clients, py_server, namespaces=["/", "/admin"])
    stay_py = await connect_recording_client(py_clients, py_server)
    soft_node, _ = await node_server.connect_client()
    hard_node, _ = await node_server.connect_client()
    stay_node, _ = await node_server.connect_client()
    await soft_py.join("soft")
    await hard_py.join("hard")
    await node_server.join(soft_node, "soft")
    await node_server.join(hard_node, "hard")

    await emit(lambda em: em.to("soft").disconnect_sockets())
    assert await node_server.wait_client_event(soft_node, "__disconnect") == [
        ["io server disconnect"]
    ]
    await eventually(lambda: soft_py.client.get_sid("/") is None)
    # close=False leaves the client's other namespaces (its connection) alone
    assert soft_py.client.connected
    assert soft_py.client.get_sid("/admin") is not None

    await emit(lambda em: em.to("hard").disconnect_sockets(close=True))
    # Node sends DISCONNECT to every namespace of the connection before closing it, so its
    # client reports the same reason; the Python client shows the connection is gone.
    assert await node_server.wait_client_event(hard_node, "__disconnect") == [
        ["io server disconnect"]
    ]
    await eventually(lambda: not hard_py.client.connected)
    assert hard_py.client.get_sid("/admin") is None

    await emit(lambda em: em.emit("still-here"))
    await eventually(lambda: stay_py.events("still-here") == [()])
    await node_server.wait_client_event(stay_node, "still-here")
    assert stay_py.client.connected
    assert await node_server.client_events(stay_node, "__disconnect") == []


async def test_server_side_emit_reaches_node_and_python_handlers(
    emit: Driver, py_server: SioServer, node_server: NodeServer
) -> None:
    await node_server.call("onServerSideEvent", event="em-sse")
    await node_server.call("onServerSideEvent", nsp="/admin", event="em-adm")
    py_events: list[tuple[str, tuple[Any, ...]]] = []
    py_server.mgr.on("em-sse", lambda *args: py_events.append(("em-sse", args)))
    py_server.mgr.on("em-adm", lambda *args: py_events.append(("em-adm", args)), namespace="/admin")

    await emit(lambda em: em.of("admin").server_side_emit("em-sse", "wrong namespace"))
    await emit(lambda em: em.of("admin").server_side_emit("em-adm", 2))
    await emit(lambda em: em.server_side_emit("em-sse", 1, {"x": "é"}, b"\x01", 1.0, None))

    buffer = {"type": "Buffer", "data": [1]}  # arguments travel as JSON, as in Node
    expected = [("em-adm", (2,)), ("em-sse", (1, {"x": "é"}, buffer, 1, None))]
    await eventually(lambda: len(py_events) == 2)
    assert sorted(py_events, key=lambda e: e[0]) == expected
    node_events = await eventually(lambda: _events_when(node_server, 2), timeout=5)
    assert sorted((e["event"], tuple(e["args"])) for e in node_events) == expected


async def _events_when(node: NodeServer, count: int) -> list[dict[str, Any]] | None:
    events: list[dict[str, Any]] = await node.call("serverEvents")
    return events if len(events) >= count else None
