"""Acceptance 4 (mixed): per-socket operations and acks across Python and Node servers."""

from __future__ import annotations

import asyncio

import pytest
from node_peer import NodeServer
from support.sio_servers import RecordingClient, SioServer, connect_recording_client, eventually

pytestmark = pytest.mark.interop


async def node_rooms(node: NodeServer, sid: str) -> list:
    for socket in await node.call("localSockets"):
        if socket["id"] == sid:
            return socket["rooms"]
    return []


async def wait_node_rooms(node: NodeServer, sid: str, check) -> None:
    for _ in range(250):
        if check(await node_rooms(node, sid)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"rooms of {sid} on Node: {await node_rooms(node, sid)}")


async def test_node_sockets_join_and_leave_move_a_python_socket(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> None:
    client = await connect_recording_client(py_clients, py_server)
    sid = client.sid()
    await node_server.call("socketsJoin", to=[sid], rooms=["from-node", 7])
    await eventually(lambda: {"from-node", 7} <= set(py_server.sio.rooms(sid)))
    await node_server.call("socketsLeave", to=[sid], rooms=["from-node"])
    await eventually(lambda: "from-node" not in py_server.sio.rooms(sid))
    await node_server.call("remoteSocket", sid=sid, action="join", rooms=["via-remote-socket"])
    await eventually(lambda: "via-remote-socket" in py_server.sio.rooms(sid))
    await node_server.call("remoteSocket", sid=sid, action="leave", rooms=["via-remote-socket"])
    await eventually(lambda: "via-remote-socket" not in py_server.sio.rooms(sid))


async def test_python_enter_leave_close_room_move_a_node_socket(
    py_server: SioServer, node_server: NodeServer
) -> None:
    _, sid = await node_server.connect_client()
    await py_server.sio.enter_room(sid, "from-py")
    await wait_node_rooms(node_server, sid, lambda rooms: "from-py" in rooms)
    await py_server.sio.leave_room(sid, "from-py")
    await wait_node_rooms(node_server, sid, lambda rooms: "from-py" not in rooms)
    await node_server.call("socketJoin", sid=sid, room="closing")
    await py_server.sio.close_room("closing")
    await wait_node_rooms(node_server, sid, lambda rooms: rooms and "closing" not in rooms)


async def test_node_disconnect_sockets_disconnects_python_sockets(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> None:
    soft = await connect_recording_client(py_clients, py_server)
    hard = await connect_recording_client(py_clients, py_server)
    await node_server.call("disconnectSockets", to=[soft.sid()], close=False)
    await eventually(lambda: not soft.client.connected)
    await node_server.call("remoteSocket", sid=hard.sid(), action="disconnect", close=True)
    await eventually(lambda: not hard.client.connected)
    assert py_server.mgr.rooms.get("/", {}).get(None, {}) == {}


async def test_python_disconnect_of_a_node_socket(
    py_server: SioServer, node_server: NodeServer
) -> None:
    client_id, sid = await node_server.connect_client()
    await py_server.sio.disconnect(sid)
    events = await node_server.wait_client_event(client_id, "__disconnect")
    assert events == [["io server disconnect"]]


async def test_python_call_to_a_node_hosted_client(
    py_server: SioServer, node_server: NodeServer
) -> None:
    client_id, sid = await node_server.connect_client(ackReply=["answer", "dropped"])
    # The Node protocol forwards only the first ack argument across servers.
    assert await py_server.sio.call("question", {"q": 1}, to=sid, timeout=5) == "answer"
    assert await node_server.client_events(client_id, "question") == [[{"q": 1}]]
    assert py_server.mgr.stats()["pending_requests"] == 0


async def test_node_remote_socket_emit_with_ack_to_a_python_client(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> None:
    client = await connect_recording_client(py_clients, py_server, ack_reply="py-answer")
    reply = await node_server.call(
        "remoteSocket",
        sid=client.sid(),
        action="emitWithAck",
        event="q",
        args=[b"\x01"],
        timeout=3000,
    )
    assert reply == "py-answer"
    assert client.events("q") == [(b"\x01",)]


async def test_node_broadcast_emit_with_ack_collects_python_acks(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> None:
    for n in range(2):
        await connect_recording_client(py_clients, py_server, ack_reply=f"py{n}")
    await node_server.connect_client(ackReply="node0")
    reply = await node_server.call("emitWithAck", event="all", args=[1], timeout=3000)
    assert sorted(reply["responses"]) == ["node0", "py0", "py1"]
    assert "error" not in reply


async def test_node_broadcast_emit_with_ack_completes_with_zero_python_clients(
    py_server: SioServer, node_server: NodeServer
) -> None:
    """We answer BROADCAST with a client count even when it is 0, so Node does not wait."""
    await node_server.connect_client(ackReply="node0")
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await node_server.call("emitWithAck", event="all", args=[], timeout=3000)
    assert reply == {"responses": ["node0"]}
    assert loop.time() - started < 2


async def test_node_fetch_sockets_sees_python_sockets(
    py_server: SioServer, node_server: NodeServer, py_clients: list[RecordingClient]
) -> None:
    client = RecordingClient()
    py_clients.append(client)
    await client.client.connect(
        py_server.url + "?team=blue",
        transports=["websocket"],
        auth={"data": {"user": "bob"}},
        headers={"X-Test": "yes"},
        wait_timeout=5,
    )
    await client.join("room1")
    await client.join(42)
    sockets = await node_server.call("fetchSockets")
    assert len(sockets) == 1
    socket = sockets[0]
    assert socket["id"] == client.sid()
    assert socket["rooms"] == [client.sid(), "room1", 42]
    assert socket["data"] == {"user": "bob"}
    handshake = socket["handshake"]
    assert handshake["query"]["team"] == "blue"
    assert handshake["headers"]["x-test"] == "yes"
    assert handshake["address"] == "127.0.0.1"
    assert set(handshake) >= {
        "headers",
        "time",
        "address",
        "xdomain",
        "secure",
        "issued",
        "url",
        "query",
        "auth",
    }
    assert set(await node_server.call("allRooms")) >= {client.sid(), "room1", 42}


async def test_emitter_join_leave_disconnect_python_sockets(
    py_server: SioServer, py_clients: list[RecordingClient], redis_url: str, peer
) -> None:
    client = await connect_recording_client(py_clients, py_server)
    sid = client.sid()
    await peer.call("emitter", redisUrl=redis_url, action="socketsJoin", to=[sid], rooms=["em"])
    await eventually(lambda: "em" in py_server.sio.rooms(sid))
    await peer.call("emitter", redisUrl=redis_url, action="socketsLeave", to=[sid], rooms=["em"])
    await eventually(lambda: "em" not in py_server.sio.rooms(sid))
    await peer.call("emitter", redisUrl=redis_url, action="disconnectSockets", to=[sid], close=True)
    await eventually(lambda: not client.client.connected)
