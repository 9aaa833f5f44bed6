"""Acceptance 1: every emit form between two Python servers reaches exactly the right clients.

Each test puts clients on both servers, emits from one, waits for a sentinel broadcast that
everyone receives (so "nothing more is coming"), then compares what every client got.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.sio_servers import RecordingClient, SioServer, eventually

DONE = "__done__"


async def settle(sender: SioServer, clients: list[RecordingClient], namespace: str = "/") -> None:
    """Emit a sentinel to everyone and wait until every client saw it (pub/sub is ordered)."""
    await sender.sio.emit(DONE, namespace=namespace)
    await eventually(lambda: all(c.events(DONE, namespace) for c in clients))


def got(client: RecordingClient, event: str, namespace: str = "/") -> list[tuple[Any, ...]]:
    return client.events(event, namespace)


@pytest.fixture
async def cluster(servers, client_factory):
    """Two clients per server: a1, a2 on A (ASGI), b1, b2 on B (aiohttp).

    Rooms: a1 and b1 in "red"; a2 and b2 in "blue"; b1 also in the numeric room 42, b2 in "42".
    """
    a, b = servers
    a1, a2 = await client_factory(a), await client_factory(a)
    b1, b2 = await client_factory(b), await client_factory(b)
    for client, room in (
        (a1, "red"),
        (b1, "red"),
        (a2, "blue"),
        (b2, "blue"),
        (b1, 42),
        (b2, "42"),
    ):
        await client.join(room)
    return a, b, {"a1": a1, "a2": a2, "b1": b1, "b2": b2}


def receivers(clients: dict[str, RecordingClient], event: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: got(c, event) for name, c in clients.items() if got(c, event)}


@pytest.mark.parametrize("sender_name", ["a", "b"])
async def test_emit_to_everyone_reaches_both_servers_once(cluster, sender_name):
    a, b, clients = cluster
    sender = a if sender_name == "a" else b
    await sender.sio.emit("news", {"n": 1})
    await sender.sio.send("plain message")
    await settle(sender, list(clients.values()))
    assert receivers(clients, "news") == {name: [({"n": 1},)] for name in clients}
    assert receivers(clients, "message") == {name: [("plain message",)] for name in clients}


async def test_emit_to_one_room(cluster):
    a, _b, clients = cluster
    await a.sio.emit("paint", "red!", to="red")
    await settle(a, list(clients.values()))
    assert receivers(clients, "paint") == {"a1": [("red!",)], "b1": [("red!",)]}


async def test_emit_to_several_rooms_deduplicates(cluster):
    _a, b, clients = cluster
    await clients["b1"].join("blue")  # in both rooms: must still get one copy
    await b.sio.emit("both", 7, to=["red", "blue"])
    await settle(b, list(clients.values()))
    assert receivers(clients, "both") == {name: [(7,)] for name in clients}


async def test_numeric_room_is_not_the_string_room(cluster):
    a, _b, clients = cluster
    await a.sio.emit("num", 42, to=42)
    await a.sio.emit("str", "42", to="42")
    await settle(a, list(clients.values()))
    assert receivers(clients, "num") == {"b1": [(42,)]}
    assert receivers(clients, "str") == {"b2": [("42",)]}


async def test_skip_sid_one_and_many(cluster):
    a, _b, clients = cluster
    a1, b1, b2 = clients["a1"], clients["b1"], clients["b2"]
    await a.sio.emit("skip1", 1, skip_sid=b1.sid())
    await a.sio.emit("skip2", 2, skip_sid=[a1.sid(), b2.sid()])
    await a.sio.emit("skip3", 3, to="red", skip_sid=a1.sid())
    await settle(a, list(clients.values()))
    assert set(receivers(clients, "skip1")) == {"a1", "a2", "b2"}
    assert set(receivers(clients, "skip2")) == {"a2", "b1"}
    assert receivers(clients, "skip3") == {"b1": [(3,)]}


async def test_emit_to_a_sid_on_the_other_server(cluster):
    a, b, clients = cluster
    await a.sio.emit("direct", "hi", to=clients["b2"].sid())
    await b.sio.emit("direct", "back", to=clients["a1"].sid())
    await settle(a, list(clients.values()))
    assert receivers(clients, "direct") == {"b2": [("hi",)], "a1": [("back",)]}


async def test_binary_in_any_position(cluster):
    _a, b, clients = cluster
    args = (b"\x00\x01", {"nested": [b"\xff", {"deep": b"x"}]}, "text", b"")
    await b.sio.emit("bin", args)
    await settle(b, list(clients.values()))
    assert receivers(clients, "bin") == {name: [args] for name in clients}


async def test_custom_namespace_stays_in_its_namespace(servers, client_factory):
    a, b = servers
    on_a = await client_factory(a, namespaces=["/", "/admin"])
    on_b = await client_factory(b, namespaces=["/", "/admin"])
    await a.sio.emit("secret", "x", namespace="/admin")
    await settle(a, [on_a, on_b], namespace="/admin")
    await settle(a, [on_a, on_b])
    for client in (on_a, on_b):
        assert client.events("secret", "/admin") == [("x",)]
        assert client.events("secret", "/") == []


async def test_local_flag_never_leaves_the_server(cluster):
    a, _b, clients = cluster
    await a.mgr.emit("only-here", 1, local=True)
    await a.sio.emit("only-here-too", 2, ignore_queue=True)
    await settle(a, list(clients.values()))
    assert set(receivers(clients, "only-here")) == {"a1", "a2"}
    assert set(receivers(clients, "only-here-too")) == {"a1", "a2"}


async def test_volatile_and_compress_flags_are_delivered(cluster):
    a, _b, clients = cluster
    await a.mgr.emit("vol", "v", volatile=True, compress=False)
    await a.mgr.emit("cmp", "c", to="blue", compress=True)
    await settle(a, list(clients.values()))
    assert set(receivers(clients, "vol")) == set(clients)
    assert set(receivers(clients, "cmp")) == {"a2", "b2"}


async def test_message_order_is_kept(cluster):
    a, _b, clients = cluster
    for i in range(200):
        await a.sio.emit("seq", i)
    await settle(a, list(clients.values()))
    for client in clients.values():
        assert [args[0] for args in got(client, "seq")] == list(range(200))


async def test_room_absent_on_a_server_is_dropped_before_decoding(cluster):
    a, b, clients = cluster
    dropped_before = b.mgr.stats()["dropped_unknown_room"]
    await a.sio.emit("nobody", 1, to="room-nobody-on-b-has")
    await settle(a, list(clients.values()))
    assert b.mgr.stats()["dropped_unknown_room"] == dropped_before + 1
    assert receivers(clients, "nobody") == {}
