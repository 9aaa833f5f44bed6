"""The ClusterAdapter wire protocol against bytes from Node (PROTOCOL.md 4 and 5).

Captures are copied verbatim from /work/shared/PROTOCOL.md 4.6, 5.3 and 5.5. The few
"generated" samples were produced in Node 20 by encoding the message exactly as
socket.io-adapter's ClusterAdapter builds it with the codec each adapter uses
(notepack.io 3.0.1 for the sharded adapter, @msgpack/msgpack 2.8.0 and JSON.stringify as in
@socket.io/redis-streams-adapter 0.3.1 ``encode()``), for cases the captures do not cover.
Decoding must give the exact model (types included) and encoding must give the same bytes.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketio_redis_async.cluster_protocol import (
    ClusterBody,
    ClusterMessage,
    MessageType,
    ShardedChannels,
    SubscriptionMode,
    decode_sharded,
    decode_stream_fields,
    decode_streams_pubsub,
    encode_sharded,
    encode_stream_fields,
    encode_streams_pubsub,
    has_binary,
    is_ephemeral,
    is_response,
    message_type,
    new_cluster_uid,
    stream_name,
    subscribes_to_room,
    to_wire_dict,
)
from socketio_redis_async.errors import ProtocolError
from socketio_redis_async.protocol import (
    AckResponse,
    Broadcast,
    BroadcastRequest,
    ClientCountResponse,
    DisconnectRequest,
    FetchRequest,
    JoinLeaveRequest,
    RoomsRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    Target,
    ValueResponse,
)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SENDER = "6a193832392232d5"  # sharded captures
RESPONDER = "32ffec886433ac08"
RS_SENDER = "b4651b1c72bb73c5"  # streams captures
RS_RESPONDER = "97f23c94d8f5156d"


def assert_identical(actual: Any, expected: Any, path: str = "$") -> None:
    """Deep equality that also compares types, so ``1 != True``, ``1.0 != 1``, list != tuple."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if dataclasses.is_dataclass(expected):
        for f in dataclasses.fields(expected):
            assert_identical(getattr(actual, f.name), getattr(expected, f.name), f"{path}.{f.name}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for k in expected:
            assert_identical(actual[k], expected[k], f"{path}.{k}")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def everyone(**flags: Any) -> Target:
    return Target((), (), flags)


# The handshake of the captured FETCH_SOCKETS_RESPONSE is elided ("{…}") in PROTOCOL.md; the
# test fills it with the section 2.6 shape, which changes nothing about the envelope.
HANDSHAKE = {
    "headers": {"host": "localhost:3000", "connection": "Upgrade"},
    "time": "Fri Nov 27 2026 11:37:14 GMT+0000 (Coordinated Universal Time)",
    "address": "::ffff:127.0.0.1",
    "xdomain": False,
    "secure": False,
    "issued": 1795779434483,
    "url": "/socket.io/?EIO=4&transport=websocket",
    "query": {"EIO": "4", "transport": "websocket"},
    "auth": {},
}
FETCHED_SOCKET = {
    "id": "ZoLRlkd_j7qTsgSWAAAB",
    "handshake": HANDSHAKE,
    "rooms": ["ZoLRlkd_j7qTsgSWAAAB", "room1", "room3"],
    "data": {"user": "bob"},
}

# --- section 4.6: sharded captures (dynamic mode) ----------------------------------------

# name -> (channel, payload, sender uid, body)
SHARDED_JSON: dict[str, tuple[bytes, bytes, str, ClusterBody]] = {
    "broadcast-room": (
        b"socket.io#/#room1#",
        b'{"type":3,"data":{"packet":{"type":2,"data":["ev",1,{"x":1.5}]},"opts":{"rooms":'
        b'["room1"],"except":[],"flags":{}}},"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        Broadcast(SENDER, "/", ["ev", 1, {"x": 1.5}], Target(("room1",), (), {})),
    ),
    "broadcast-volatile": (
        b"socket.io#/#",
        b'{"type":3,"data":{"packet":{"type":2,"data":["vol","x"]},"opts":{"rooms":[],'
        b'"except":[],"flags":{"volatile":true}}},"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        Broadcast(SENDER, "/", ["vol", "x"], everyone(volatile=True)),
    ),
    "fetch-sockets": (
        b"socket.io#/#",
        b'{"type":7,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"requestId":'
        b'"d24fe1d8da9541c9"},"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        FetchRequest(SENDER, "d24fe1d8da9541c9", everyone()),
    ),
    "fetch-sockets-response": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":8,"data":{"requestId":"d24fe1d8da9541c9","sockets":[{"id":'
        b'"ZoLRlkd_j7qTsgSWAAAB","handshake":'
        + json.dumps(HANDSHAKE, separators=(",", ":")).encode()
        + b',"rooms":["ZoLRlkd_j7qTsgSWAAAB","room1","room3"],"data":{"user":"bob"}}]},'
        b'"uid":"32ffec886433ac08","nsp":"/"}',
        RESPONDER,
        ValueResponse("d24fe1d8da9541c9", {"sockets": [FETCHED_SOCKET]}),
    ),
    "server-side-emit": (
        b"socket.io#/#",
        b'{"type":9,"data":{"packet":["hello",1]},"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        ServerSideEmitRequest(SENDER, None, ["hello", 1]),
    ),
    "server-side-emit-ack": (
        b"socket.io#/#",
        b'{"type":9,"data":{"requestId":"a87ab03a4a6827a8","packet":["p",1]},'
        b'"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        ServerSideEmitRequest(SENDER, "a87ab03a4a6827a8", ["p", 1]),
    ),
    "server-side-emit-response": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":10,"data":{"requestId":"a87ab03a4a6827a8","packet":"pong"},'
        b'"uid":"32ffec886433ac08","nsp":"/"}',
        RESPONDER,
        ServerSideEmitResponse("a87ab03a4a6827a8", ["pong"]),
    ),
    "broadcast-with-ack": (
        b"socket.io#/#",
        b'{"type":3,"data":{"packet":{"type":2,"data":["ack-me",1]},"requestId":'
        b'"0414e92245e3a242","opts":{"rooms":[],"except":[],"flags":{"timeout":1000}}},'
        b'"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        BroadcastRequest(SENDER, "0414e92245e3a242", ["ack-me", 1], everyone(timeout=1000)),
    ),
    "client-count": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":11,"data":{"requestId":"0414e92245e3a242","clientCount":1},'
        b'"uid":"32ffec886433ac08","nsp":"/"}',
        RESPONDER,
        ClientCountResponse("0414e92245e3a242", 1),
    ),
    "broadcast-ack": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":12,"data":{"requestId":"0414e92245e3a242","packet":"c2-answer"},'
        b'"uid":"32ffec886433ac08","nsp":"/"}',
        RESPONDER,
        AckResponse("0414e92245e3a242", ["c2-answer"]),
    ),
    "sockets-join": (
        b"socket.io#/#",
        b'{"type":4,"data":{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":'
        b'["roomX"]},"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        JoinLeaveRequest(SENDER, True, Target(("room1",), (), {}), ("roomX",)),
    ),
    "sockets-leave": (
        b"socket.io#/#",
        b'{"type":5,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["roomX"]},'
        b'"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        JoinLeaveRequest(SENDER, False, everyone(), ("roomX",)),
    ),
    "disconnect-sockets": (
        b"socket.io#/#",
        b'{"type":6,"data":{"opts":{"rooms":["room3"],"except":[],"flags":{}},"close":true},'
        b'"uid":"6a193832392232d5","nsp":"/"}',
        SENDER,
        DisconnectRequest(SENDER, Target(("room3",), (), {}), True),
    ),
    # generated: an ack/serverSideEmit answer without argument (JSON.stringify drops undefined)
    "broadcast-ack-without-argument": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":12,"data":{"requestId":"0414e92245e3a242"},"uid":"97f23c94d8f5156d","nsp":"/"}',
        RS_RESPONDER,
        AckResponse("0414e92245e3a242", []),
    ),
    "server-side-emit-response-without-argument": (
        b"socket.io#/#6a193832392232d5#",
        b'{"type":10,"data":{"requestId":"3e97341a4cdd31de"},"uid":"97f23c94d8f5156d","nsp":"/"}',
        RS_RESPONDER,
        ServerSideEmitResponse("3e97341a4cdd31de", []),
    ),
}

GENERATED_FETCHED_SOCKET = {
    "id": "ZoLRlkd_j7qTsgSWAAAB",
    "handshake": {"address": "::1", "issued": 1795779434483, "auth": {}},
    "rooms": ["ZoLRlkd_j7qTsgSWAAAB", "room1", 42],
    "data": {"user": "bob", "bin": b"\x09"},
}

SHARDED_MSGPACK: dict[str, tuple[bytes, str, str, ClusterBody]] = {
    # captured: to('room1').except('room2').emit('evb', Buffer.from([1,2,3]))
    "binary-broadcast": (
        b"socket.io#/#room1#",
        "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a3657662c403010203"
        "a46f70747383a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380a375"
        "6964b036613139333833323339323233326435a36e7370a12f",
        SENDER,
        Broadcast(SENDER, "/", ["evb", b"\x01\x02\x03"], Target(("room1",), ("room2",), {})),
    ),
    # captured: serverSideEmit('hb', Buffer.from([7]))
    "binary-server-side-emit": (
        b"socket.io#/#",
        "84a47479706509a46461746181a67061636b657492a26862c40107a3756964b036613139333833323339"
        "323233326435a36e7370a12f",
        SENDER,
        ServerSideEmitRequest(SENDER, None, ["hb", b"\x07"]),
    ),
    # generated (notepack): an ack whose argument is a Buffer
    "binary-broadcast-ack": (
        b"socket.io#/#6a193832392232d5#",
        "84a4747970650ca46461746182a9726571756573744964b030343134653932323435653361323432a670"
        "61636b6574c4020102a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        AckResponse("0414e92245e3a242", [b"\x01\x02"]),
    ),
    # generated (notepack): a fetched socket whose data holds a Buffer, and a numeric room
    "binary-fetch-sockets-response": (
        b"socket.io#/#6a193832392232d5#",
        "84a47479706508a46461746182a9726571756573744964b032313131316430346664343138306564a773"
        "6f636b6574739184a26964b45a6f4c526c6b645f6a3771547367535741414142a968616e647368616b65"
        "83a761646472657373a33a3a31a6697373756564cf000001a21ccb97f3a46175746880a5726f6f6d7393"
        "b45a6f4c526c6b645f6a3771547367535741414142a5726f6f6d312aa46461746182a475736572a3626f"
        "62a362696ec40109a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        ValueResponse("21111d04fd4180ed", {"sockets": [GENERATED_FETCHED_SOCKET]}),
    ),
}


def sharded_cases() -> list[tuple[str, bytes, bytes, str, ClusterBody]]:
    cases = [(name, *case) for name, case in SHARDED_JSON.items()]
    cases += [
        (name, channel, bytes.fromhex(hexa), uid, body)
        for name, (channel, hexa, uid, body) in SHARDED_MSGPACK.items()
    ]
    return cases


SHARDED = {case[0]: case[1:] for case in sharded_cases()}


@pytest.mark.parametrize("name", SHARDED)
def test_sharded_sample_decodes(name: str) -> None:
    _, payload, uid, body = SHARDED[name]
    assert_identical(decode_sharded(payload), ClusterMessage(uid, "/", body))


@pytest.mark.parametrize("name", SHARDED)
def test_sharded_sample_encodes_byte_identical(name: str) -> None:
    _, payload, uid, body = SHARDED[name]
    assert encode_sharded(body, uid, "/") == payload


@pytest.mark.parametrize("name", SHARDED)
def test_sharded_sample_channel(name: str) -> None:
    channel, _, _, body = SHARDED[name]
    channels = ShardedChannels("socket.io", "/")
    if is_response(body):  # every response sample answers a request of SENDER
        assert channels.response(SENDER) == channel
    else:
        assert channels.channel_for(body, "dynamic") == channel


def test_sharded_binary_only_for_binary_capable_types() -> None:
    # bytes in a join's flags: the type cannot carry binary, so JSON (a Buffer object) anyway
    body = JoinLeaveRequest(SENDER, True, everyone(b=b"\x01"), ("roomX",))
    payload = encode_sharded(body, SENDER, "/")
    assert b'"flags":{"b":{"type":"Buffer","data":[1]}}' in payload
    assert dict(encode_stream_fields(body, SENDER, "/"))[b"data"][:1] == b"{"
    fetched = {"id": "x", "data": {"b": b"\x01"}}
    payload = encode_sharded(ValueResponse("r", {"sockets": [fetched]}), SENDER, "/")
    assert payload[:1] == b"\x84"
    assert decode_sharded(payload).body == ValueResponse("r", {"sockets": [fetched]})


def test_sharded_json_writes_js_renderings() -> None:
    # no binary: JSON, so a datetime becomes its ISO string as JSON.stringify writes a Date
    when = dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.timezone.utc)
    payload = encode_sharded(ServerSideEmitRequest(SENDER, None, ["d", when]), SENDER, "/")
    assert b'"packet":["d","2023-11-14T22:13:20.123Z"]' in payload
    # with binary: msgpack, so the datetime travels as the timestamp extension
    payload = encode_sharded(ServerSideEmitRequest(SENDER, None, ["d", when, b""]), SENDER, "/")
    assert bytes.fromhex("d7ff") in payload
    decoded = decode_sharded(payload).body
    assert isinstance(decoded, ServerSideEmitRequest)
    assert decoded.data == ["d", when, b""]


def test_to_wire_dict_key_orders() -> None:
    wire = to_wire_dict(BroadcastRequest("a", "r", ["e"], everyone()), "u", "/n")
    assert list(wire) == ["type", "data", "uid", "nsp"]
    assert list(wire["data"]) == ["packet", "requestId", "opts"]
    assert list(wire["data"]["packet"]) == ["type", "data"]
    assert list(wire["data"]["opts"]) == ["rooms", "except", "flags"]
    assert wire["uid"] == "u" and wire["nsp"] == "/n"
    orders: list[tuple[ClusterBody, list[str]]] = [
        (Broadcast("a", "/", ["e"], everyone()), ["packet", "opts"]),
        (JoinLeaveRequest("a", False, everyone(), ()), ["opts", "rooms"]),
        (DisconnectRequest("a", everyone(), False), ["opts", "close"]),
        (FetchRequest("a", "r", everyone()), ["opts", "requestId"]),
        (ValueResponse("r", {"sockets": []}), ["requestId", "sockets"]),
        (ServerSideEmitRequest("a", None, ["e"]), ["packet"]),
        (ServerSideEmitRequest("a", "r", ["e"]), ["requestId", "packet"]),
        (ServerSideEmitResponse("r", [1, 2]), ["requestId", "packet"]),
        (ClientCountResponse("r", 0), ["requestId", "clientCount"]),
        (AckResponse("r", [None]), ["requestId", "packet"]),
        (AckResponse("r", []), ["requestId"]),
    ]
    for body, keys in orders:
        assert list(to_wire_dict(body, "u", "/")["data"]) == keys, body


def test_only_the_first_ack_argument_is_sent() -> None:
    wire = to_wire_dict(ServerSideEmitResponse("r", [1, 2]), "u", "/")
    assert wire["data"] == {"requestId": "r", "packet": 1}


def test_message_types() -> None:
    target = everyone()
    assert message_type(Broadcast("a", "/", ["e"], target)) is MessageType.BROADCAST
    assert message_type(BroadcastRequest("a", "r", ["e"], target)) is MessageType.BROADCAST
    assert message_type(JoinLeaveRequest("a", True, target, ())) is MessageType.SOCKETS_JOIN
    assert message_type(JoinLeaveRequest("a", False, target, ())) is MessageType.SOCKETS_LEAVE
    assert message_type(DisconnectRequest("a", target, True)) is MessageType.DISCONNECT_SOCKETS
    assert message_type(FetchRequest("a", "r", target)) is MessageType.FETCH_SOCKETS
    assert message_type(ValueResponse("r", {"sockets": []})) is MessageType.FETCH_SOCKETS_RESPONSE
    assert message_type(ServerSideEmitRequest("a", None, ["e"])) is MessageType.SERVER_SIDE_EMIT
    assert message_type(ServerSideEmitResponse("r", [])) is MessageType.SERVER_SIDE_EMIT_RESPONSE
    assert message_type(ClientCountResponse("r", 1)) is MessageType.BROADCAST_CLIENT_COUNT
    assert message_type(AckResponse("r", [])) is MessageType.BROADCAST_ACK
    assert [int(t) for t in MessageType] == list(range(1, 14))


def test_bodies_of_other_protocols_are_refused() -> None:
    with pytest.raises(TypeError):
        message_type(RoomsRequest("a", "r"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sockets"):
        encode_sharded(ValueResponse("r", {"rooms": ["a"]}), "u", "/")


def test_new_cluster_uid() -> None:
    uids = {new_cluster_uid() for _ in range(200)}
    assert len(uids) == 200
    for uid in uids:
        assert len(uid) == 16
        assert set(uid) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("text", False),
        ([1, "a", {"b": [2.5, None]}], False),
        (b"", True),
        (bytearray(b"x"), True),
        (memoryview(b"x"), True),
        ({"a": [1, {"b": (2, b"\x00")}]}, True),
        ({b"key": 1}, False),  # keys are names, not data (Node's keys are strings)
    ],
)
def test_has_binary(value: Any, expected: bool) -> None:
    assert has_binary(value) is expected


def test_has_binary_beyond_the_recursion_limit() -> None:
    value: Any = b"x"
    for _ in range(50_000):
        value = [value]
    assert has_binary(value)


def test_has_binary_ends_on_cyclic_values() -> None:
    cycle: list[Any] = [1, {"a": "b"}]
    cycle.append(cycle)
    cycle[1]["self"] = cycle[1]
    assert has_binary(cycle) is False
    cycle[1]["bin"] = b"x"
    assert has_binary(cycle) is True


# --- section 4.2: computeChannel ----------------------------------------------------------

SID = "ZoLRlkd_j7qTsgSWAAAB"  # 20 characters: a socket id to Node
MODES: tuple[SubscriptionMode, ...] = ("static", "dynamic", "dynamic-private")


def broadcast_to(*rooms: Any) -> Broadcast:
    return Broadcast(SENDER, "/", ["ev"], Target(tuple(rooms), (), {}))


# target -> channel suffix in (static, dynamic, dynamic-private); "" is the main channel
CHANNEL_TABLE: list[tuple[ClusterBody, tuple[str, str, str]]] = [
    (broadcast_to("room1"), ("", "room1#", "room1#")),
    (broadcast_to(SID), ("", "", SID + "#")),
    (broadcast_to("x" * 19), ("", "x" * 19 + "#", "x" * 19 + "#")),
    (broadcast_to("x" * 21), ("", "x" * 21 + "#", "x" * 21 + "#")),
    (broadcast_to("😀" * 10), ("", "", "😀" * 10 + "#")),  # 20 UTF-16 code units
    (broadcast_to("é" * 20), ("", "", "é" * 20 + "#")),
    (broadcast_to(42), ("", "42#", "42#")),
    (broadcast_to(1.5), ("", "1.5#", "1.5#")),
    (broadcast_to(12345678901234567890), ("", "12345678901234567890#", "12345678901234567890#")),
    (broadcast_to(), ("", "", "")),
    (broadcast_to("room1", "room2"), ("", "", "")),
    (broadcast_to("room1", SID), ("", "", "")),
    (BroadcastRequest(SENDER, "r", ["ev"], Target(("room1",), (), {})), ("", "", "")),
    (JoinLeaveRequest(SENDER, True, Target(("room1",), (), {}), ("x",)), ("", "", "")),
    (DisconnectRequest(SENDER, Target(("room1",), (), {}), True), ("", "", "")),
    (FetchRequest(SENDER, "r", Target(("room1",), (), {})), ("", "", "")),
    (ServerSideEmitRequest(SENDER, None, ["ev"]), ("", "", "")),
]


@pytest.mark.parametrize(("body", "suffixes"), CHANNEL_TABLE)
def test_channel_for(body: ClusterBody, suffixes: tuple[str, str, str]) -> None:
    channels = ShardedChannels("socket.io", "/")
    for mode, suffix in zip(MODES, suffixes, strict=True):
        assert channels.channel_for(body, mode) == b"socket.io#/#" + suffix.encode(), mode


def test_channel_names() -> None:
    channels = ShardedChannels("my-app", "/admin")
    assert channels.main == b"my-app#/admin#"
    assert channels.response(SENDER) == b"my-app#/admin#6a193832392232d5#"
    assert channels.room("room1") == b"my-app#/admin#room1#"
    assert channels.room(-3) == b"my-app#/admin#-3#"
    assert channels.room("\ud800") == "my-app#/admin#\ufffd#".encode()  # as Buffer.from writes
    with pytest.raises(dataclasses.FrozenInstanceError):
        channels.main = b"x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("number", "text"),
    # String(x) in Node 20 for each value
    [
        (1.5, "1.5"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.2345e-10, "1.2345e-10"),
        (-0.0, "0"),
        (2.0**53, "9007199254740992"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
    ],
)
def test_numeric_room_channel_is_written_as_javascript_writes_numbers(
    number: float, text: str
) -> None:
    channels = ShardedChannels("socket.io", "/")
    assert channels.room(number) == f"socket.io#/#{text}#".encode()  # type: ignore[arg-type]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        ShardedChannels("socket.io", "/").channel_for(broadcast_to("a"), "public")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        subscribes_to_room("a", "public", set())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("room", "expected"),
    # (static, dynamic, dynamic-private); SID is a local socket id, "x"*20 is not
    [
        ("room1", (False, True, True)),
        (SID, (False, False, True)),
        ("x" * 20, (False, True, True)),
        (42, (False, True, True)),
    ],
)
def test_subscribes_to_room(room: Any, expected: tuple[bool, bool, bool]) -> None:
    local_sids = {SID, "other-local-socket-id"}
    for mode, wanted in zip(MODES, expected, strict=True):
        assert subscribes_to_room(room, mode, local_sids) is wanted, mode


# --- section 5.3: stream entries ----------------------------------------------------------


def xadd(*words: str) -> list[tuple[bytes, bytes]]:
    """Field/value pairs of a captured ``XADD ... * f1 v1 f2 v2 ...`` tail."""
    encoded = [w.encode() for w in words]
    return list(zip(encoded[::2], encoded[1::2], strict=True))


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

STREAM_SAMPLES: dict[str, tuple[list[tuple[bytes, bytes]], ClusterBody]] = {
    "broadcast": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "3", "data"),
            '{"packet":{"type":2,"data":["ev",1,{"x":1.5}]},"opts":{"rooms":["room1"],'
            '"except":[],"flags":{}}}',
        ),
        Broadcast(RS_SENDER, "/", ["ev", 1, {"x": 1.5}], Target(("room1",), (), {})),
    ),
    "binary-broadcast": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "3", "data"),
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2V2YsQDAQIDpG9wdHODpXJvb21zkaVyb29tMaZleGNlcHSRpXJv"
            "b20ypWZsYWdzgA==",
        ),
        Broadcast(RS_SENDER, "/", ["evb", b"\x01\x02\x03"], Target(("room1",), ("room2",), {})),
    ),
    "sockets-join": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "4", "data"),
            '{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["roomX"]}',
        ),
        JoinLeaveRequest(RS_SENDER, True, Target(("room1",), (), {}), ("roomX",)),
    ),
    # generated with RS encode()'s rules
    "sockets-leave": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "5", "data"),
            '{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["roomX"]}',
        ),
        JoinLeaveRequest(RS_SENDER, False, everyone(), ("roomX",)),
    ),
    "disconnect-sockets": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "6", "data"),
            '{"opts":{"rooms":["room3"],"except":["a"],"flags":{}},"close":false}',
        ),
        DisconnectRequest(RS_SENDER, Target(("room3",), ("a",), {}), False),
    ),
    "binary-volatile-broadcast-with-date": (
        xadd(
            *("uid", RS_SENDER, "nsp", "/", "type", "3", "data"),
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGTo2V2YsQDAQIDgaFk1v8AAAAApG9wdHODpXJvb21zkKZleGNlcHSQ"
            "pWZsYWdzgah2b2xhdGlsZcM=",
        ),
        Broadcast(RS_SENDER, "/", ["evb", b"\x01\x02\x03", {"d": EPOCH}], everyone(volatile=True)),
    ),
}


@pytest.mark.parametrize("name", STREAM_SAMPLES)
def test_stream_sample_decodes(name: str) -> None:
    fields, body = STREAM_SAMPLES[name]
    expected = ClusterMessage(RS_SENDER, "/", body)
    assert_identical(decode_stream_fields(fields), expected)
    assert_identical(decode_stream_fields(dict(fields)), expected)  # redis-py gives a dict
    as_text = {k.decode(): v.decode() for k, v in fields}
    assert_identical(decode_stream_fields(as_text), expected)


@pytest.mark.parametrize("name", STREAM_SAMPLES)
def test_stream_sample_encodes_byte_identical(name: str) -> None:
    fields, body = STREAM_SAMPLES[name]
    assert encode_stream_fields(body, RS_SENDER, "/") == fields


def test_stream_base64_is_msgpack_of_data_only() -> None:
    fields = dict(STREAM_SAMPLES["binary-broadcast"][0])
    assert base64.b64decode(fields[b"data"]).hex().startswith("82a67061636b657482")


def test_stream_base64_is_read_leniently_like_node() -> None:
    # Buffer.from(s, "base64") skips characters outside the alphabet, such as a line break
    fields, body = STREAM_SAMPLES["binary-broadcast"]
    wrapped = [(k, v[:40] + b"\r\n" + v[40:] if k == b"data" else v) for k, v in fields]
    assert decode_stream_fields(wrapped) == ClusterMessage(RS_SENDER, "/", body)


def test_stream_entries_of_ignored_types() -> None:
    # PROTOCOL 5.7: 0.2.x heartbeats carry no data field
    for kind in ("1", "2", "13", "99", "0", "-3"):
        fields = xadd("uid", "ee42a70445d3cd52", "nsp", "/", "type", kind)
        assert_identical(
            decode_stream_fields(fields), ClusterMessage("ee42a70445d3cd52", "/", None)
        )


@pytest.mark.parametrize(
    ("text", "is_broadcast"),
    # parseInt(text, 10): leading blanks, a sign, then the leading digits
    [
        ("3", True),
        (" 3", True),
        ("\t+3", True),
        ("3abc", True),
        ("3.7", True),
        ("0003", True),
        ("\ufeff3", True),
        ("1", False),
        ("13x", False),
        ("-3", False),
        ("33", False),
    ],
)
def test_stream_type_is_read_like_parse_int(text: str, is_broadcast: bool) -> None:
    fields = {
        "uid": "u",
        "nsp": "/",
        "type": text,
        "data": '{"packet":{"type":2,"data":["e"]},"opts":{}}',
    }
    expected = Broadcast("u", "/", ["e"], Target()) if is_broadcast else None
    assert decode_stream_fields(fields) == ClusterMessage("u", "/", expected)


def test_stream_duplicate_field_last_wins() -> None:
    fields = [*xadd("uid", "a", "nsp", "/x", "type", "1"), (b"nsp", b"/")]
    assert decode_stream_fields(fields) == ClusterMessage("a", "/", None)


def test_stream_empty_data_is_no_data() -> None:
    # Node tests ``if (rawMessage.data)``: an empty string is no data at all
    with pytest.raises(ProtocolError, match="without data"):
        decode_stream_fields(xadd("uid", "a", "nsp", "/", "type", "3", "data", ""))
    assert decode_stream_fields(xadd("uid", "a", "nsp", "/", "type", "2", "data", "")).body is None


# --- section 5.5: streams Pub/Sub ---------------------------------------------------------

PUBSUB_SAMPLES: dict[str, tuple[str, str, ClusterBody]] = {
    "fetch-sockets": (
        "84a47479706507a46461746182a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a9"
        "726571756573744964b032313131316430346664343138306564a3756964b06234363531623163373262"
        "6237336335a36e7370a12f",
        RS_SENDER,
        FetchRequest(RS_SENDER, "21111d04fd4180ed", everyone()),
    ),
    "server-side-emit": (
        "84a47479706509a46461746181a67061636b657492a568656c6c6f01a3756964b0623436353162316337"
        "32626237336335a36e7370a12f",
        RS_SENDER,
        ServerSideEmitRequest(RS_SENDER, None, ["hello", 1]),
    ),
    "server-side-emit-response": (
        "84a4747970650aa46461746182a9726571756573744964b033653937333431613463646433316465a670"
        "61636b6574a4706f6e67a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        ServerSideEmitResponse("3e97341a4cdd31de", ["pong"]),
    ),
    "client-count": (
        "84a4747970650ba46461746182a9726571756573744964b035383361663562633536383832386264ab63"
        "6c69656e74436f756e7401a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        ClientCountResponse("583af5bc568828bd", 1),
    ),
    # generated with @msgpack/msgpack 2.8.0: an undefined ack argument is kept as nil
    "broadcast-ack-without-argument": (
        "84a4747970650ca46461746182a9726571756573744964b030343134653932323435653361323432a670"
        "61636b6574c0a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        AckResponse("0414e92245e3a242", [None]),
    ),
    "broadcast-with-ack": (
        "84a47479706503a46461746183a67061636b657482a47479706502a46461746192a661636b2d6d6501a9"
        "726571756573744964b030343134653932323435653361323432a46f70747383a5726f6f6d7390a66578"
        "6365707490a5666c61677381a774696d656f7574cd03e8a3756964b06234363531623163373262623733"
        "6335a36e7370a12f",
        RS_SENDER,
        BroadcastRequest(RS_SENDER, "0414e92245e3a242", ["ack-me", 1], everyone(timeout=1000)),
    ),
    "binary-fetch-sockets-response": (
        "84a47479706508a46461746182a9726571756573744964b032313131316430346664343138306564a773"
        "6f636b6574739184a26964b45a6f4c526c6b645f6a3771547367535741414142a968616e647368616b65"
        "83a761646472657373a33a3a31a6697373756564cf000001a21ccb97f3a46175746880a5726f6f6d7393"
        "b45a6f4c526c6b645f6a3771547367535741414142a5726f6f6d312aa46461746182a475736572a3626f"
        "62a362696ec40109a3756964b039376632336339346438663531353664a36e7370a12f",
        RS_RESPONDER,
        ValueResponse("21111d04fd4180ed", {"sockets": [GENERATED_FETCHED_SOCKET]}),
    ),
}


@pytest.mark.parametrize("name", PUBSUB_SAMPLES)
def test_streams_pubsub_sample_decodes(name: str) -> None:
    hexa, uid, body = PUBSUB_SAMPLES[name]
    assert_identical(decode_streams_pubsub(bytes.fromhex(hexa)), ClusterMessage(uid, "/", body))


@pytest.mark.parametrize("name", PUBSUB_SAMPLES)
def test_streams_pubsub_sample_encodes_byte_identical(name: str) -> None:
    hexa, uid, body = PUBSUB_SAMPLES[name]
    assert encode_streams_pubsub(body, uid, "/").hex() == hexa


def test_streams_pubsub_writes_an_argumentless_ack_as_nil() -> None:
    # Node's ack() with no argument: @msgpack/msgpack keeps ``packet: undefined`` as nil
    for body in (AckResponse("r", []), ServerSideEmitResponse("r", [])):
        message = msgpack.unpackb(encode_streams_pubsub(body, "u", "/"))
        assert message["data"] == {"requestId": "r", "packet": None}


def test_streams_pubsub_never_sniffs_json() -> None:
    json_payload = SHARDED_JSON["server-side-emit"][1]
    with pytest.raises(ProtocolError):
        decode_streams_pubsub(json_payload)


def test_ephemeral_and_response_bodies() -> None:
    target = everyone()
    stream_bodies: list[ClusterBody] = [
        Broadcast("a", "/", ["e"], target),
        JoinLeaveRequest("a", True, target, ()),
        JoinLeaveRequest("a", False, target, ()),
        DisconnectRequest("a", target, False),
    ]
    ephemeral: list[ClusterBody] = [
        BroadcastRequest("a", "r", ["e"], target),
        ServerSideEmitRequest("a", None, ["e"]),
        ServerSideEmitRequest("a", "r", ["e"]),
        FetchRequest("a", "r", target),
    ]
    responses: list[ClusterBody] = [
        ValueResponse("r", {"sockets": []}),
        ServerSideEmitResponse("r", []),
        ClientCountResponse("r", 0),
        AckResponse("r", []),
    ]
    for body in stream_bodies:
        assert not is_ephemeral(body) and not is_response(body), body
    for body in ephemeral:
        assert is_ephemeral(body) and not is_response(body), body
    for body in responses:
        assert not is_ephemeral(body) and is_response(body), body


# --- section 5.2: stream names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("nsp", "by_count"),
    # hashCode(nsp) % count as computed by the adapter's util.js in Node 20
    [
        ("/", ("socket.io-1", "socket.io-2", "socket.io-3")),
        ("/admin", ("socket.io-0", "socket.io-1", "socket.io-0")),
        ("/chat", ("socket.io-1", "socket.io-1", "socket.io-3")),
        ("/some-namespace", ("socket.io--1", "socket.io--1", "socket.io--3")),
        ("/é", ("socket.io-0", "socket.io-1", "socket.io-2")),
        ("/😀", ("socket.io-0", "socket.io-0", "socket.io-2")),
        (
            "/a-very-long-namespace-name-0123456789",
            ("socket.io-0", "socket.io-1", "socket.io-0"),
        ),
    ],
)
def test_stream_name(nsp: str, by_count: tuple[str, str, str]) -> None:
    assert stream_name(nsp) == "socket.io"
    assert stream_name(nsp, "other", 1) == "other"
    for count, expected in zip((2, 3, 4), by_count, strict=True):
        assert stream_name(nsp, count=count) == expected


def test_stream_name_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="count"):
        stream_name("/", count=0)


# --- malformed input ----------------------------------------------------------------------


def pack(value: Any) -> bytes:
    return msgpack.packb(value)  # type: ignore[no-any-return]


def envelope(kind: Any, data: Any, uid: Any = "u", nsp: Any = "/") -> dict[str, Any]:
    return {"type": kind, "data": data, "uid": uid, "nsp": nsp}


def no_data(kind: int) -> dict[str, Any]:
    return {"type": kind, "uid": "u", "nsp": "/"}


OPTS: dict[str, Any] = {"rooms": [], "except": [], "flags": {}}
PACKET = {"type": 2, "data": ["ev"]}

MALFORMED_ENVELOPES: dict[str, Any] = {
    "array": [3, {}, "u", "/"],
    "string": "hello",
    "integer": 3,
    "null": None,
    "no-type": {"data": {}, "uid": "u", "nsp": "/"},
    "type-string": envelope("3", {"packet": PACKET, "opts": OPTS}),
    "type-bool": envelope(True, {"packet": PACKET, "opts": OPTS}),
    "type-float": envelope(3.0, {"packet": PACKET, "opts": OPTS}),
    "type-list": envelope([3], {"packet": PACKET, "opts": OPTS}),
    "no-uid": {"type": 3, "data": {"packet": PACKET, "opts": OPTS}, "nsp": "/"},
    "uid-int": envelope(3, {"packet": PACKET, "opts": OPTS}, uid=1),
    "no-nsp": {"type": 3, "data": {"packet": PACKET, "opts": OPTS}, "uid": "u"},
    "nsp-list": envelope(3, {"packet": PACKET, "opts": OPTS}, nsp=["/"]),
    "broadcast-no-data": no_data(3),
    "broadcast-data-list": envelope(3, [PACKET, OPTS]),
    "broadcast-no-packet": envelope(3, {"opts": OPTS}),
    "broadcast-no-opts": envelope(3, {"packet": PACKET}),
    "broadcast-packet-type-5": envelope(3, {"packet": {"type": 5, "data": ["e"]}, "opts": OPTS}),
    "broadcast-empty-data": envelope(3, {"packet": {"type": 2, "data": []}, "opts": OPTS}),
    "broadcast-event-not-str": envelope(3, {"packet": {"type": 2, "data": [1]}, "opts": OPTS}),
    "broadcast-rooms-map": envelope(3, {"packet": PACKET, "opts": {"rooms": {"a": 1}}}),
    "broadcast-room-bool": envelope(3, {"packet": PACKET, "opts": {"rooms": [True]}}),
    "broadcast-room-null": envelope(3, {"packet": PACKET, "opts": {"rooms": [None]}}),
    "broadcast-flags-list": envelope(3, {"packet": PACKET, "opts": {"flags": []}}),
    "broadcast-request-id-int": envelope(3, {"packet": PACKET, "requestId": 7, "opts": OPTS}),
    "join-no-data": no_data(4),
    "join-no-opts": envelope(4, {"rooms": ["a"]}),
    "join-rooms-str": envelope(5, {"opts": OPTS, "rooms": "a"}),
    "disconnect-no-opts": envelope(6, {"close": True}),
    "fetch-no-request-id": envelope(7, {"opts": OPTS}),
    "fetch-no-opts": envelope(7, {"requestId": "r"}),
    "fetch-response-no-sockets": envelope(8, {"requestId": "r"}),
    "fetch-response-sockets-map": envelope(8, {"requestId": "r", "sockets": {"id": "x"}}),
    "fetch-response-socket-str": envelope(8, {"requestId": "r", "sockets": ["x"]}),
    "fetch-response-no-request-id": envelope(8, {"sockets": []}),
    "sse-packet-map": envelope(9, {"packet": {"e": 1}}),
    "sse-packet-empty": envelope(9, {"packet": []}),
    "sse-event-int": envelope(9, {"packet": [1]}),
    "sse-request-id-list": envelope(9, {"requestId": ["r"], "packet": ["e"]}),
    "sse-response-no-request-id": envelope(10, {"packet": 1}),
    "client-count-negative": envelope(11, {"requestId": "r", "clientCount": -1}),
    "client-count-bool": envelope(11, {"requestId": "r", "clientCount": True}),
    "client-count-float": envelope(11, {"requestId": "r", "clientCount": 1.5}),
    "client-count-missing": envelope(11, {"requestId": "r"}),
    "ack-request-id-int": envelope(12, {"requestId": 1, "packet": "x"}),
}


@pytest.mark.parametrize("name", MALFORMED_ENVELOPES)
def test_malformed_sharded_raises_protocol_error(name: str) -> None:
    value = MALFORMED_ENVELOPES[name]
    with pytest.raises(ProtocolError):
        decode_sharded(json.dumps(value).encode())
    with pytest.raises(ProtocolError):
        decode_sharded(pack(value))
    with pytest.raises(ProtocolError):
        decode_streams_pubsub(pack(value))


# The envelopes above whose only fault is in ``data``, written as stream entries.
MALFORMED_STREAM_DATA = {
    name: value
    for name, value in MALFORMED_ENVELOPES.items()
    if isinstance(value, dict)
    and type(value.get("type")) is int
    and isinstance(value.get("uid"), str)
    and isinstance(value.get("nsp"), str)
}


@pytest.mark.parametrize("name", MALFORMED_STREAM_DATA)
@pytest.mark.parametrize("as_json", [True, False])
def test_malformed_stream_data_raises_protocol_error(name: str, as_json: bool) -> None:
    value = MALFORMED_STREAM_DATA[name]
    fields = {"uid": value["uid"], "nsp": value["nsp"], "type": str(value["type"])}
    if "data" in value:
        data = json.dumps(value["data"]) if as_json else base64.b64encode(pack(value["data"]))
        fields["data"] = data if isinstance(data, str) else data.decode()
    with pytest.raises(ProtocolError):
        decode_stream_fields(fields)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{}",
        b"\xc1",
        b"{",
        b"{not json}",
        b'{"type":3,"uid":"u","nsp":"/","data":NaN}',
        b'{"type":3}garbage',
        b"\xef\xbb\xbf{}",  # a BOM: not JSON to Node, and not msgpack either
        b" {}",
        b'{"type":3,"uid":"\xff","nsp":"/"}',  # not UTF-8
        bytes.fromhex("84a474797065"),  # truncated map
        bytes.fromhex("84a47479706503a464617461"),  # truncated after a key
        pack(envelope(3, {"packet": PACKET, "opts": OPTS})) + b"\x00",  # trailing byte
        b"\xdf\xff\xff\xff\xff",  # map of 4 billion entries announced, none present
        b"\xc6\xff\xff\xff\xff",  # bin of 4 GiB announced
    ],
)
def test_garbage_raises_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_sharded(payload)
    with pytest.raises(ProtocolError):
        decode_streams_pubsub(payload)


@pytest.mark.parametrize("depth", [100, 1_000, 10_000, 100_000])
def test_deep_nesting_raises_protocol_error(depth: int) -> None:
    with pytest.raises(ProtocolError):
        decode_sharded(b"\x91" * depth + b"\xc0")
    with pytest.raises(ProtocolError):
        decode_streams_pubsub(b"\x91" * depth + b"\xc0")
    with pytest.raises(ProtocolError):
        decode_sharded(b'{"type":' + b"[" * depth + b"]" * depth + b"}")


@pytest.mark.parametrize("depth", [100, 1_000, 5_000])
def test_deeply_nested_argument_decodes_or_raises_protocol_error(depth: int) -> None:
    head = pack(envelope(9, {"packet": ["e", 0]}))
    payload = head.replace(b"\x92\xa1e\x00", b"\x92\xa1e" + b"\x91" * depth + b"\xc0")
    try:
        message = decode_sharded(payload)
    except ProtocolError:
        return
    assert isinstance(message.body, ServerSideEmitRequest)
    assert has_binary(message.body.data) is False


@pytest.mark.parametrize(
    "data",
    [
        b'{"requestId":"r","clientCount":' + b"9" * 5000 + b"}",  # beyond int's digit limit
        b'{"requestId":"r","clientCount":1e400}',
    ],
)
def test_huge_numbers_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_sharded(b'{"type":11,"uid":"u","nsp":"/","data":' + data + b"}")
    with pytest.raises(ProtocolError):
        decode_stream_fields({"uid": "u", "nsp": "/", "type": "11", "data": data})


def test_huge_valid_numbers_decode() -> None:
    count = 2**64 - 1
    message = decode_streams_pubsub(pack(envelope(11, {"requestId": "r", "clientCount": count})))
    assert message.body == ClientCountResponse("r", count)
    payload = b'{"type":11,"uid":"u","nsp":"/","data":{"requestId":"r","clientCount":%d}}'
    message = decode_sharded(payload % 10**30)
    assert message.body == ClientCountResponse("r", 10**30)


@pytest.mark.parametrize("kind", [1, 2, 13, 0, 14, 99, -1, 2**40])
def test_ignorable_types_decode_to_no_body(kind: int) -> None:
    for message in (
        decode_sharded(json.dumps(no_data(kind)).encode()),
        decode_sharded(pack(no_data(kind))),
        decode_sharded(json.dumps(envelope(kind, "anything")).encode()),
        decode_streams_pubsub(pack(no_data(kind))),
        decode_stream_fields({"uid": "u", "nsp": "/", "type": str(kind)}),
    ):
        assert message == ClusterMessage("u", "/", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"uid": "u", "type": "3", "data": "{}"},  # no nsp: Node skips the entry
        {"uid": "u", "nsp": "", "type": "1"},
        {"nsp": "/", "type": "1"},  # no uid
        {"uid": "u", "nsp": "/"},  # no type
        {"uid": "u", "nsp": "/", "type": "x3"},  # parseInt gives NaN
        {"uid": "u", "nsp": "/", "type": ""},
        {"uid": "u", "nsp": "/", "type": "9" * 5000},
        {"uid": "u", "nsp": b"\xff", "type": "1"},  # not UTF-8
        {"uid": 1, "nsp": "/", "type": "1"},
        {"uid": "u", "nsp": "/", "type": "3", "data": "not base64!"},
        {"uid": "u", "nsp": "/", "type": "3", "data": "gqZw"},  # base64 of truncated msgpack
        {"uid": "u", "nsp": "/", "type": "3", "data": "{broken"},
        {"uid": "u", "nsp": "/", "type": "3", "data": "kQ=="},  # msgpack [] : not a map
        {"uid": "u", "nsp": "/", "type": "3", "data": 5},
        {"uid": "u", "nsp": "/", "type": "3", "data": "{" + "[" * 100_000},
    ],
)
def test_malformed_stream_entry_raises_protocol_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        decode_stream_fields(fields)


@pytest.mark.parametrize("fields", [[b"uid", b"u"], [(b"uid",)], 5, [(1, 2, 3)], None])
def test_stream_fields_that_are_not_pairs_raise_protocol_error(fields: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_stream_fields(fields)


# --- property tests -----------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
BINARY_SCALARS = st.one_of(SCALARS, st.binary(max_size=8))
JSONISH = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
VALUES = st.recursive(
    BINARY_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "type",
        "data",
        "uid",
        "nsp",
        "packet",
        "opts",
        "rooms",
        "except",
        "flags",
        "requestId",
        "sockets",
        "clientCount",
        "close",
    ]
)
SHAPED_MAPS = st.recursive(
    st.one_of(SCALARS, st.integers(0, 14), st.sampled_from(["u", "/", "r"])),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=16,
)
ENVELOPES = st.fixed_dictionaries(
    {"type": st.integers(0, 14)},
    optional={"data": SHAPED_MAPS, "uid": st.just("u"), "nsp": st.just("/")},
)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=lambda b: list(b)).encode()


ARBITRARY_PAYLOADS = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"{" + b),
    ENVELOPES.map(pack),
    ENVELOPES.map(_json_bytes),
    SHAPED_MAPS.map(pack),
    SHAPED_MAPS.map(_json_bytes),
)
ARBITRARY_FIELDS = st.one_of(
    st.dictionaries(
        st.sampled_from([b"uid", b"nsp", b"type", b"data", b"x"]), st.binary(max_size=24)
    ),
    st.fixed_dictionaries(
        {"uid": st.just("u"), "nsp": st.just("/"), "type": st.integers(0, 14).map(str)},
        optional={
            "data": st.one_of(
                SHAPED_MAPS.map(lambda v: json.dumps(v, default=list)),
                SHAPED_MAPS.map(lambda v: base64.b64encode(pack(v)).decode()),
                st.text(max_size=16),
            )
        },
    ),
    st.lists(st.tuples(st.binary(max_size=4), st.binary(max_size=8)), max_size=5),
)


@PROPERTY
@given(ARBITRARY_PAYLOADS)
def test_decode_sharded_only_raises_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(decode_sharded(payload), ClusterMessage)


@PROPERTY
@given(ARBITRARY_PAYLOADS)
def test_decode_streams_pubsub_only_raises_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(decode_streams_pubsub(payload), ClusterMessage)


@PROPERTY
@given(ARBITRARY_FIELDS)
def test_decode_stream_fields_only_raises_protocol_error(fields: Any) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(decode_stream_fields(fields), ClusterMessage)


ROOMS = st.lists(
    st.one_of(st.text(max_size=21), st.integers(-(2**53), 2**53)), max_size=3, unique=True
).map(tuple)
TARGETS = st.builds(
    Target,
    ROOMS,
    ROOMS,
    st.fixed_dictionaries(
        {}, optional={"volatile": st.booleans(), "timeout": st.integers(0, 10**6)}
    ),
)
UIDS = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
EVENTS = st.tuples(st.text(max_size=8), st.lists(VALUES, max_size=3)).map(lambda t: [t[0], *t[1]])
SOCKET = st.fixed_dictionaries({"id": st.text(max_size=20), "data": VALUES})
BODIES = st.one_of(
    st.builds(Broadcast, UIDS, st.just("/"), EVENTS, TARGETS),
    st.builds(BroadcastRequest, UIDS, UIDS, EVENTS, TARGETS),
    st.builds(JoinLeaveRequest, UIDS, st.booleans(), TARGETS, ROOMS),
    st.builds(DisconnectRequest, UIDS, TARGETS, st.booleans()),
    st.builds(FetchRequest, UIDS, UIDS, TARGETS),
    st.builds(ValueResponse, UIDS, st.lists(SOCKET, max_size=2).map(lambda s: {"sockets": s})),
    st.builds(ServerSideEmitRequest, UIDS, st.one_of(st.none(), UIDS), EVENTS),
    st.builds(ServerSideEmitResponse, UIDS, st.lists(VALUES, max_size=1)),
    st.builds(ClientCountResponse, UIDS, st.integers(0, 2**32)),
    st.builds(AckResponse, UIDS, st.lists(VALUES, max_size=1)),
)


def _sent(body: ClusterBody, uid: str) -> ClusterBody:
    """What a receiver decodes: a request's uid is the envelope's."""
    if is_response(body):
        return body
    return dataclasses.replace(body, uid=uid)  # type: ignore[arg-type]


@PROPERTY
@given(BODIES, UIDS)
def test_sharded_round_trip(body: ClusterBody, uid: str) -> None:
    payload = encode_sharded(body, uid, "/")
    assert (payload[:1] == b"{") is not (
        int(message_type(body)) in {3, 8, 9, 10, 12} and has_binary(to_wire_dict(body, uid, "/"))
    )
    decoded = decode_sharded(payload)
    if payload[:1] == b"{":
        # JSON: what a Node peer would deliver (1.0 reads back as 1.0 in Python, still equal)
        assert decoded == ClusterMessage(uid, "/", _sent(body, uid))
    else:
        assert_identical(decoded, ClusterMessage(uid, "/", _sent(body, uid)))


@PROPERTY
@given(BODIES, UIDS)
def test_streams_pubsub_round_trip(body: ClusterBody, uid: str) -> None:
    decoded = decode_streams_pubsub(encode_streams_pubsub(body, uid, "/admin"))
    expected = _sent(body, uid)
    if isinstance(expected, (AckResponse, ServerSideEmitResponse)) and not expected.args:
        expected = dataclasses.replace(expected, args=[None])  # undefined became nil
    if isinstance(expected, Broadcast):
        expected = dataclasses.replace(expected, nsp="/admin")
    assert_identical(decoded, ClusterMessage(uid, "/admin", expected))


@PROPERTY
@given(BODIES, UIDS)
def test_stream_fields_round_trip(body: ClusterBody, uid: str) -> None:
    fields = encode_stream_fields(body, uid, "/")
    assert [name for name, _ in fields] == [b"uid", b"nsp", b"type", b"data"]
    assert decode_stream_fields(fields) == ClusterMessage(uid, "/", _sent(body, uid))
