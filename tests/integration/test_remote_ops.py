"""Acceptance 4 (Python side): per-socket operations on a socket hosted by the other server."""

from __future__ import annotations

import asyncio

import pytest
import socketio
from support.sio_servers import eventually


async def test_enter_and_leave_room_of_a_remote_socket(servers, client_factory):
    a, b = servers
    on_b = await client_factory(b)
    await a.sio.enter_room(on_b.sid(), "vip")
    await eventually(lambda: "vip" in b.sio.rooms(on_b.sid()))
    await a.sio.emit("vip-news", 1, to="vip")
    await eventually(lambda: on_b.events("vip-news") == [(1,)])
    await a.sio.leave_room(on_b.sid(), "vip")
    await eventually(lambda: "vip" not in b.sio.rooms(on_b.sid()))


async def test_close_room_empties_it_on_every_server(servers, client_factory):
    a, b = servers
    on_a, on_b = await client_factory(a), await client_factory(b)
    await on_a.join("doomed")
    await on_b.join("doomed")
    await a.sio.close_room("doomed")
    assert "doomed" not in a.sio.rooms(on_a.sid())
    await eventually(lambda: "doomed" not in b.sio.rooms(on_b.sid()))


async def test_disconnect_a_remote_socket(servers, client_factory):
    a, b = servers
    on_b = await client_factory(b)
    disconnected = asyncio.Event()
    b.sio.on("disconnect", lambda sid, reason: disconnected.set())
    await a.sio.disconnect(on_b.sid())
    await asyncio.wait_for(disconnected.wait(), 5)
    await eventually(lambda: not on_b.client.connected)


async def test_call_a_client_on_the_other_server(servers, client_factory):
    a, b = servers
    on_b = await client_factory(b, ack_reply="pong from b")
    assert await a.sio.call("ping", "x", to=on_b.sid(), timeout=5) == "pong from b"
    assert on_b.events("ping") == [("x",)]
    assert a.mgr.stats()["pending_requests"] == 0  # a single-sid call ends at its ack


async def test_call_a_local_client_still_works(servers, client_factory):
    a, _ = servers
    on_a = await client_factory(a, ack_reply=("two", "args"))
    assert await a.sio.call("ping", to=on_a.sid(), timeout=5) == ("two", "args")


async def test_emit_with_callback_to_a_room_spanning_servers(servers, client_factory):
    a, b = servers
    on_a = await client_factory(a, ack_reply="from-a")
    on_b = await client_factory(b, ack_reply="from-b")
    await on_a.join("acks")
    await on_b.join("acks")
    answers: list[str] = []
    await a.sio.emit("ask", 1, to="acks", callback=answers.append)
    await eventually(lambda: sorted(answers) == ["from-a", "from-b"])


async def test_call_to_a_sid_nobody_has_times_out(servers):
    a, _ = servers
    with pytest.raises(socketio.exceptions.TimeoutError):
        await a.sio.call("ping", to="X" * 20, timeout=0.5)


async def test_enter_room_with_a_bad_room_type_is_refused(servers, client_factory):
    a, b = servers
    on_b = await client_factory(b)
    with pytest.raises(TypeError, match="room"):
        await a.sio.enter_room(on_b.sid(), {"not": "a room"})
