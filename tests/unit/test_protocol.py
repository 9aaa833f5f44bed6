"""The classic adapter wire protocol against the bytes captured from Node (PROTOCOL.md 2, 3).

Every sample below is copied verbatim from /work/shared/PROTOCOL.md. Decoding a capture must
give the exact model (types included: ``1`` is not ``True``, ``42`` is not ``"42"``), and
wherever this package can produce the same message, its bytes must equal the capture.
"""

from __future__ import annotations

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

from socketio_redis_async.errors import ProtocolError
from socketio_redis_async.parser import JSON, MSGPACK, to_js_value
from socketio_redis_async.protocol import (
    EMITTER_UID,
    AckResponse,
    Broadcast,
    BroadcastRequest,
    Channels,
    ClientCountResponse,
    DisconnectRequest,
    FetchRequest,
    JoinLeaveRequest,
    LegacyDisconnectRequest,
    LegacyJoinLeaveRequest,
    RoomsRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    Target,
    ValueResponse,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    new_uid,
    room_from_channel_suffix,
)

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


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
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# --- section 2.3: broadcasts captured from the 8.3.0 adapter -----------------------------

SID_F = "yboBwGDbpDRT0uYqAAAA"

# name: (hex, channel, uid, nsp, data, target)
BROADCASTS: dict[str, tuple[str, bytes, str, str, list[Any], Target]] = {
    "A": (
        "93a65844676f6e2d83a47479706502a46461746195a2657601a16181a178cb3ff8000000000000c40301"
        "0203a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380",
        b"socket.io#/#room1#",
        "XDgon-",
        "/",
        ["ev", 1, "a", {"x": 1.5}, b"\x01\x02\x03"],
        Target(rooms=("room1",), except_rooms=("room2",), flags={}),
    ),
    "B": (
        "93a65844676f6e2d83a47479706502a46461746192a3766f6ca568656c6c6fa36e7370a12f83a5726f6f"
        "6d7390a665786365707490a5666c61677381a8766f6c6174696c65c3",
        b"socket.io#/#",
        "XDgon-",
        "/",
        ["vol", "hello"],
        Target(flags={"volatile": True}),
    ),
    "C": (
        "93a65844676f6e2d83a47479706502a46461746192a3636d7002a36e7370a12f83a5726f6f6d7390a665"
        "786365707490a5666c61677381a8636f6d7072657373c2",
        b"socket.io#/#",
        "XDgon-",
        "/",
        ["cmp", 2],
        Target(flags={"compress": False}),
    ),
    "D": (
        "93a65844676f6e2d83a47479706502a46461746192a374776fc0a36e7370a12f83a5726f6f6d7392a572"
        "6f6f6d31a5726f6f6d33a665786365707490a5666c61677382a8766f6c6174696c65c3a8636f6d707265"
        "7373c3",
        b"socket.io#/#",
        "XDgon-",
        "/",
        ["two", None],
        Target(rooms=("room1", "room3"), flags={"volatile": True, "compress": True}),
    ),
    "E": (
        "93a65844676f6e2d83a47479706502a46461746192a36e756d2aa36e7370a12f83a5726f6f6d73912aa6"
        "65786365707490a5666c61677380",
        b"socket.io#/#42#",
        "XDgon-",
        "/",
        ["num", 42],
        Target(rooms=(42,)),
    ),
    "F": (
        "93a65844676f6e2d83a47479706502a46461746192a2626301a36e7370a12f83a5726f6f6d7390a66578"
        "6365707491b479626f4277474462704452543075597141414141a5666c61677380",
        b"socket.io#/#",
        "XDgon-",
        "/",
        ["bc", 1],
        Target(except_rooms=(SID_F,)),
    ),
    "G": (
        "93a671395267743583a47479706502a46461746192a361646d01a36e7370a62f61646d696e83a5726f6f"
        "6d7390a665786365707490a5666c61677380",
        b"socket.io#/admin#",
        "q9Rgt5",
        "/admin",
        ["adm", 1],
        Target(),
    ),
}

SAMPLE_H = (
    "93a65844676f6e2d83a47479706502a4646174619ea57479706573d7ff1d5353006553f100c081a16ec0808001"
    "00cf0000010000000000d3ffffff0000000000cb3fb999999999999ac4020405c4020000cb7ff8000000000000"
    "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"
)
SAMPLE_A = bytes.fromhex(BROADCASTS["A"][0])


@pytest.mark.parametrize("name", sorted(BROADCASTS))
def test_captured_broadcast_decodes(name: str) -> None:
    hex_bytes, _, uid, nsp, data, target = BROADCASTS[name]
    decoded = decode_broadcast(MSGPACK, bytes.fromhex(hex_bytes))
    assert_identical(decoded, Broadcast(uid=uid, nsp=nsp, data=data, target=target))


@pytest.mark.parametrize("name", sorted(BROADCASTS))
def test_captured_broadcast_encodes_byte_identical(name: str) -> None:
    hex_bytes, _, uid, nsp, data, target = BROADCASTS[name]
    assert encode_broadcast(MSGPACK, uid, nsp, data, target).hex() == hex_bytes


@pytest.mark.parametrize("name", sorted(BROADCASTS))
def test_captured_broadcast_channel(name: str) -> None:
    _, channel, _, nsp, _, target = BROADCASTS[name]
    assert Channels("socket.io", nsp).for_target(target.rooms) == channel


def test_sample_h_type_zoo_decodes() -> None:
    decoded = decode_broadcast(MSGPACK, bytes.fromhex(SAMPLE_H))
    date = dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.timezone.utc)
    expected_data = [
        "types",
        date,
        None,  # undefined
        {"n": None},  # {u: undefined, n: null}: the undefined key is dropped
        {},  # Map
        {},  # Set
        1,  # 1.0
        0,  # -0
        2**40,
        -(2**40),
        0.1,
        b"\x04\x05",  # Uint8Array
        b"\x00\x00",  # ArrayBuffer(2)
        math.nan,
    ]
    assert_identical(decoded, Broadcast("XDgon-", "/", expected_data, Target()))
    assert decoded.data[1].utcoffset() == dt.timedelta(0)


def test_sample_h_renders_like_node_for_clients() -> None:
    rendered = to_js_value(decode_broadcast(MSGPACK, bytes.fromhex(SAMPLE_H)).data)
    # What the Socket.IO clients of the Node server received (PROTOCOL.md 2.3 H).
    assert_identical(
        rendered,
        [
            "types",
            "2023-11-14T22:13:20.123Z",
            None,
            {"n": None},
            {},
            {},
            1,
            0,
            1099511627776,
            -1099511627776,
            0.1,
            b"\x04\x05",
            b"\x00\x00",
            None,
        ],
    )


# --- section 3: emitter broadcasts (opts key order rooms, flags, except) -----------------

EMITTER_1 = (
    "93a7656d697474657283a47479706502a46461746193ab66726f6d456d697474657281a16101c40109a36e73"
    "70a12f83a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490"
)
EMITTER_2 = (
    "93a7656d697474657283a47479706502a46461746191ac66726f6d456d697474657232a36e7370a12f83a572"
    "6f6f6d7390a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2a665786365707490"
)
# The same two broadcasts as the adapter (not the emitter) writes them, uid XDgon-: opts in
# the adapter's key order rooms, except, flags (PROTOCOL.md 2.3).
ADAPTER_1 = (
    "93a65844676f6e2d83a47479706502a46461746193ab66726f6d456d697474657281a16101c40109a36e73"
    "70a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"
)
ADAPTER_2 = (
    "93a65844676f6e2d83a47479706502a46461746191ac66726f6d456d697474657232a36e7370a12f83a572"
    "6f6f6d7390a665786365707490a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2"
)
EMITTER_BROADCASTS = {
    "to-room1-binary": (
        EMITTER_1,
        ADAPTER_1,
        b"socket.io#/#room1#",
        ["fromEmitter", {"a": 1}, b"\x09"],
        Target(rooms=("room1",)),
    ),
    "volatile-compress-false": (
        EMITTER_2,
        ADAPTER_2,
        b"socket.io#/#",
        ["fromEmitter2"],
        Target(flags={"volatile": True, "compress": False}),
    ),
}


@pytest.mark.parametrize("name", sorted(EMITTER_BROADCASTS))
def test_emitter_broadcast_decodes(name: str) -> None:
    emitter_hex, _, _, data, target = EMITTER_BROADCASTS[name]
    decoded = decode_broadcast(MSGPACK, bytes.fromhex(emitter_hex))
    assert_identical(decoded, Broadcast(EMITTER_UID, "/", data, target))


@pytest.mark.parametrize("name", sorted(EMITTER_BROADCASTS))
def test_emitter_broadcast_reencoded_in_adapter_key_order(name: str) -> None:
    emitter_hex, adapter_hex, channel, data, target = EMITTER_BROADCASTS[name]
    encoded = encode_broadcast(MSGPACK, "XDgon-", "/", data, target)
    assert encoded.hex() == adapter_hex
    assert Channels("socket.io", "/").for_target(target.rooms) == channel
    # Same message as the emitter's, apart from the uid and the opts key order.
    ours = decode_broadcast(MSGPACK, encoded)
    theirs = decode_broadcast(MSGPACK, bytes.fromhex(emitter_hex))
    assert_identical(dataclasses.replace(ours, uid=EMITTER_UID), theirs)


# --- section 2.5 and 3: JSON requests, verbatim -------------------------------------------

LRH = "lRhBi8xUR_d5t__XAAAB"
JSON_REQUESTS: list[tuple[bytes, Any]] = [
    (
        b'{"uid":"XDgon-","requestId":"6RTM1z","type":5,"opts":{"rooms":[],"except":[]}}',
        FetchRequest("XDgon-", "6RTM1z", Target()),
    ),
    (
        b'{"uid":"XDgon-","requestId":"YUNJQs","type":5,'
        b'"opts":{"rooms":["room3"],"except":["room9"]}}',
        FetchRequest("XDgon-", "YUNJQs", Target(rooms=("room3",), except_rooms=("room9",))),
    ),
    (
        b'{"uid":"XDgon-","requestId":"wwSU_3","type":1}',
        RoomsRequest("XDgon-", "wwSU_3"),
    ),
    (
        b'{"uid":"XDgon-","type":6,"data":["hello","world",1]}',
        ServerSideEmitRequest("XDgon-", None, ["hello", "world", 1]),
    ),
    (
        b'{"uid":"XDgon-","requestId":"bmEB0S","type":6,"data":["ping2","x"]}',
        ServerSideEmitRequest("XDgon-", "bmEB0S", ["ping2", "x"]),
    ),
    (
        b'{"uid":"XDgon-","type":2,"opts":{"rooms":["lRhBi8xUR_d5t__XAAAB"],"except":[]},'
        b'"rooms":["room5"]}',
        JoinLeaveRequest("XDgon-", True, Target(rooms=(LRH,)), ("room5",)),
    ),
    (
        b'{"uid":"XDgon-","type":3,"opts":{"rooms":["lRhBi8xUR_d5t__XAAAB"],"except":[]},'
        b'"rooms":["room5"]}',
        JoinLeaveRequest("XDgon-", False, Target(rooms=(LRH,)), ("room5",)),
    ),
    (
        b'{"uid":"XDgon-","type":2,"opts":{"rooms":["room1"],"except":[]},'
        b'"rooms":["roomA","roomB"]}',
        JoinLeaveRequest("XDgon-", True, Target(rooms=("room1",)), ("roomA", "roomB")),
    ),
    (
        b'{"uid":"XDgon-","type":4,"opts":{"rooms":["room3"],"except":[]},"close":false}',
        DisconnectRequest("XDgon-", Target(rooms=("room3",)), False),
    ),
    # Emitter (section 3): no uid on join/leave/disconnect, uid "emitter" on serverSideEmit.
    (
        b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["roomE"]}',
        JoinLeaveRequest(None, True, Target(rooms=("room1",)), ("roomE",)),
    ),
    (
        b'{"type":3,"opts":{"rooms":["room1"],"except":[]},"rooms":["roomE"]}',
        JoinLeaveRequest(None, False, Target(rooms=("room1",)), ("roomE",)),
    ),
    (
        b'{"type":4,"opts":{"rooms":["room1"],"except":[]},"close":false}',
        DisconnectRequest(None, Target(rooms=("room1",)), False),
    ),
    (
        b'{"uid":"emitter","type":6,"data":["emSSE",1]}',
        ServerSideEmitRequest(EMITTER_UID, None, ["emSSE", 1]),
    ),
    # The shapes of the legacy and type-0 forms listed in the 2.5 table.
    (
        b'{"uid":"FOREIGN","requestId":"req002","type":0,"rooms":["room1",42]}',
        SocketsRequest("FOREIGN", "req002", ("room1", 42)),
    ),
    (
        b'{"uid":"FOREIGN","requestId":"req004","type":2,"sid":"lTuUxoiRrKaMH0tZAAAA",'
        b'"room":"roomL"}',
        LegacyJoinLeaveRequest("FOREIGN", True, "req004", "lTuUxoiRrKaMH0tZAAAA", "roomL"),
    ),
    (
        b'{"uid":"FOREIGN","requestId":"req006","type":3,"sid":"lTuUxoiRrKaMH0tZAAAA","room":7}',
        LegacyJoinLeaveRequest("FOREIGN", False, "req006", "lTuUxoiRrKaMH0tZAAAA", 7),
    ),
    (
        b'{"uid":"FOREIGN","requestId":"req007","type":4,"sid":"lTuUxoiRrKaMH0tZAAAA",'
        b'"close":true}',
        LegacyDisconnectRequest("FOREIGN", "req007", "lTuUxoiRrKaMH0tZAAAA", True),
    ),
]


@pytest.mark.parametrize(("payload", "expected"), JSON_REQUESTS)
def test_json_request_decodes(payload: bytes, expected: Any) -> None:
    assert_identical(decode_request(MSGPACK, payload), expected)


@pytest.mark.parametrize(("payload", "expected"), JSON_REQUESTS)
def test_json_request_encodes_byte_identical(payload: bytes, expected: Any) -> None:
    assert encode_request(MSGPACK, expected, "/") == payload


@pytest.mark.parametrize(("payload", "expected"), JSON_REQUESTS)
def test_json_request_sent_as_msgpack_is_accepted(payload: bytes, expected: Any) -> None:
    # Receivers accept either encoding for every type (PROTOCOL.md 1.5, 2.4).
    repacked = msgpack.packb(json.loads(payload))
    assert_identical(decode_request(MSGPACK, repacked), expected)


BROADCAST_REQUEST = (
    "85a3756964a65844676f6e2da9726571756573744964a66e416e397836a47479706507a67061636b657483a4"
    "7479706502a46461746192a661636b2d6d6507a36e7370a12fa46f70747383a5726f6f6d7390a66578636570"
    "7490a5666c61677381a774696d656f7574cd03e8"
)
BROADCAST_REQUEST_MODEL = BroadcastRequest(
    "XDgon-", "nAn9x6", ["ack-me", 7], Target(flags={"timeout": 1000})
)


def test_msgpack_broadcast_request_decodes() -> None:
    decoded = decode_request(MSGPACK, bytes.fromhex(BROADCAST_REQUEST))
    assert_identical(decoded, BROADCAST_REQUEST_MODEL)


def test_msgpack_broadcast_request_encodes_byte_identical() -> None:
    assert encode_request(MSGPACK, BROADCAST_REQUEST_MODEL, "/").hex() == BROADCAST_REQUEST


def test_broadcast_request_sent_as_json_is_accepted() -> None:
    as_json = json.dumps(msgpack.unpackb(bytes.fromhex(BROADCAST_REQUEST))).encode()
    assert_identical(decode_request(MSGPACK, as_json), BROADCAST_REQUEST_MODEL)


# --- section 2.5: responses ----------------------------------------------------------------

RESPONSES: list[tuple[bytes, Any]] = [
    (
        b'{"requestId":"wwSU_3","rooms":["lRhBi8xUR_d5t__XAAAB","room1","room3",42]}',
        ValueResponse("wwSU_3", {"requestId": "wwSU_3", "rooms": [LRH, "room1", "room3", 42]}),
    ),
    (
        b'{"type":6,"requestId":"bmEB0S","data":{"pong":true}}',
        ServerSideEmitResponse("bmEB0S", [{"pong": True}]),
    ),
    (
        b'{"type":6,"requestId":"req005","data":"sse-reply"}',
        ServerSideEmitResponse("req005", ["sse-reply"]),
    ),
    (
        b'{"type":8,"requestId":"nAn9x6","clientCount":1}',
        ClientCountResponse("nAn9x6", 1),
    ),
    (
        b'{"requestId":"req002","sockets":["lTuUxoiRrKaMH0tZAAAA"]}',
        ValueResponse("req002", {"requestId": "req002", "sockets": ["lTuUxoiRrKaMH0tZAAAA"]}),
    ),
    (b'{"requestId":"req004"}', ValueResponse("req004", {"requestId": "req004"})),
    (
        bytes.fromhex(
            "83a47479706509a9726571756573744964a66e416e397836a67061636b6574a963322d616e73776572"
        ),
        AckResponse("nAn9x6", ["c2-answer"]),
    ),
]


@pytest.mark.parametrize(("payload", "expected"), RESPONSES)
def test_response_decodes(payload: bytes, expected: Any) -> None:
    assert_identical(decode_response(MSGPACK, payload), expected)


@pytest.mark.parametrize(("payload", "expected"), RESPONSES)
def test_response_encodes_byte_identical(payload: bytes, expected: Any) -> None:
    assert encode_response(MSGPACK, expected) == payload


def test_value_response_puts_request_id_first() -> None:
    response = ValueResponse("wwSU_3", {"rooms": ["room1", 42]})
    assert encode_response(MSGPACK, response) == b'{"requestId":"wwSU_3","rooms":["room1",42]}'


def test_data_less_acks_encode_without_the_field() -> None:
    assert encode_response(MSGPACK, ServerSideEmitResponse("r1", [])) == (
        b'{"type":6,"requestId":"r1"}'
    )
    assert encode_response(MSGPACK, AckResponse("r1", [])) == msgpack.packb(
        {"type": 9, "requestId": "r1"}
    )
    assert_identical(
        decode_response(MSGPACK, b'{"type":6,"requestId":"r1"}'), (ServerSideEmitResponse("r1", []))
    )


# --- channels -----------------------------------------------------------------------------


def test_channel_names_root_namespace() -> None:
    channels = Channels("socket.io", "/")
    assert channels.broadcast == b"socket.io#/#"
    assert channels.pattern == b"socket.io#/#*"
    assert channels.request == b"socket.io-request#/#"
    assert channels.response == b"socket.io-response#/#"
    assert channels.specific_response("XDgon-") == b"socket.io-response#/#XDgon-#"
    assert channels.room("room1") == b"socket.io#/#room1#"
    assert channels.room(42) == b"socket.io#/#42#"
    assert channels.room("42") == b"socket.io#/#42#"


def test_channel_names_custom_key_and_namespace() -> None:
    channels = Channels("myapp", "/admin")
    assert channels.broadcast == b"myapp#/admin#"
    assert channels.pattern == b"myapp#/admin#*"
    assert channels.request == b"myapp-request#/admin#"
    assert channels.response == b"myapp-response#/admin#"
    assert channels.specific_response("q9Rgt5") == b"myapp-response#/admin#q9Rgt5#"
    assert channels.room("salon é") == "myapp#/admin#salon é#".encode()


@pytest.mark.parametrize(
    ("rooms", "channel"),
    [
        ((), b"socket.io#/#"),
        (("room1",), b"socket.io#/#room1#"),
        ((42,), b"socket.io#/#42#"),
        (("room1", "room3"), b"socket.io#/#"),
        (("a", "b", "c"), b"socket.io#/#"),
        ([SID_F], f"socket.io#/#{SID_F}#".encode()),
    ],
)
def test_for_target_room_channel_iff_exactly_one_room(rooms: Any, channel: bytes) -> None:
    assert Channels("socket.io", "/").for_target(rooms) == channel


def test_channels_are_immutable() -> None:
    channels = Channels("socket.io", "/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        channels.broadcast = b"x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("suffix", "number"),
    [
        ("42", 42),
        ("0", 0),
        ("-7", -7),
        ("+5", 5),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1.", 1),
        ("1e3", 1000),
        ("room1", None),
        ("", None),
        ("12abc", None),
        ("4 2", None),
        (SID_F, None),
    ],
)
def test_room_from_channel_suffix(suffix: str, number: int | float | None) -> None:
    name, numeric = room_from_channel_suffix(suffix)
    assert name == suffix
    assert_identical(numeric, number)


def test_new_uid_alphabet_and_length() -> None:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    uids = {new_uid() for _ in range(200)}
    assert len(uids) > 190
    for uid in uids:
        assert len(uid) == 6
        assert set(uid) <= alphabet


# --- malformed input: always ProtocolError -------------------------------------------------

PACKET = {"type": 2, "data": ["ev", 1], "nsp": "/"}
OPTS = {"rooms": [], "except": [], "flags": {}}


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


MALFORMED_BROADCASTS: dict[str, bytes] = {
    "empty": b"",
    "c1-never-used": b"\xc1",
    "invalid-msgpack-in-array": b"\x93\xc1\xc1\xc1",
    "json": json.dumps(["XDgon-", PACKET, OPTS]).encode(),
    "json-object": b'{"uid":"XDgon-"}',
    "truncated-by-one": SAMPLE_A[:-1],
    "truncated-half": SAMPLE_A[: len(SAMPLE_A) // 2],
    "truncated-str-header": b"\x93\xa6XD",
    "trailing-bytes": SAMPLE_A + b"\x00",
    "array-of-2": pack(["XDgon-", PACKET]),
    "array-of-4": pack(["XDgon-", PACKET, OPTS, 1]),
    "not-an-array": pack({"uid": "XDgon-", "packet": PACKET, "opts": OPTS}),
    "scalar": pack(7),
    "uid-not-str": pack([5, PACKET, OPTS]),
    "uid-bytes": pack([b"XDgon-", PACKET, OPTS]),
    "packet-array": pack(["XDgon-", [2, ["ev"], "/"], OPTS]),
    "packet-str": pack(["XDgon-", "packet", OPTS]),
    "packet-nil": pack(["XDgon-", None, OPTS]),
    "opts-array": pack(["XDgon-", PACKET, [[], [], {}]]),
    "opts-str": pack(["XDgon-", PACKET, "opts"]),
    "opts-nil": pack(["XDgon-", PACKET, None]),
    "type-5": pack(["XDgon-", {**PACKET, "type": 5}, OPTS]),
    "type-0": pack(["XDgon-", {**PACKET, "type": 0}, OPTS]),
    "type-str": pack(["XDgon-", {**PACKET, "type": "2"}, OPTS]),
    "type-missing": pack(["XDgon-", {"data": ["ev"], "nsp": "/"}, OPTS]),
    "data-empty": pack(["XDgon-", {**PACKET, "data": []}, OPTS]),
    "data-missing": pack(["XDgon-", {"type": 2, "nsp": "/"}, OPTS]),
    "data-map": pack(["XDgon-", {**PACKET, "data": {"0": "ev"}}, OPTS]),
    "data-str": pack(["XDgon-", {**PACKET, "data": "ev"}, OPTS]),
    "event-int": pack(["XDgon-", {**PACKET, "data": [1, "x"]}, OPTS]),
    "event-nil": pack(["XDgon-", {**PACKET, "data": [None]}, OPTS]),
    "event-bin": pack(["XDgon-", {**PACKET, "data": [b"ev"]}, OPTS]),
    "nsp-not-str": pack(["XDgon-", {**PACKET, "nsp": 1}, OPTS]),
    "rooms-str": pack(["XDgon-", PACKET, {**OPTS, "rooms": "room1"}]),
    "rooms-map": pack(["XDgon-", PACKET, {**OPTS, "rooms": {"room1": True}}]),
    "rooms-holds-map": pack(["XDgon-", PACKET, {**OPTS, "rooms": ["room1", {"a": 1}]}]),
    "rooms-holds-list": pack(["XDgon-", PACKET, {**OPTS, "rooms": [["room1"]]}]),
    "rooms-holds-nil": pack(["XDgon-", PACKET, {**OPTS, "rooms": [None]}]),
    "except-holds-map": pack(["XDgon-", PACKET, {**OPTS, "except": [{}]}]),
    "except-int": pack(["XDgon-", PACKET, {**OPTS, "except": 3}]),
    "flags-array": pack(["XDgon-", PACKET, {**OPTS, "flags": []}]),
    # falsy, but not an empty array: never read as "no rooms" (= everyone)
    "rooms-zero": pack(["XDgon-", PACKET, {**OPTS, "rooms": 0}]),
    "rooms-empty-map": pack(["XDgon-", PACKET, {**OPTS, "rooms": {}}]),
    "except-empty-str": pack(["XDgon-", PACKET, {**OPTS, "except": ""}]),
    "except-false": pack(["XDgon-", PACKET, {**OPTS, "except": False}]),
    "flags-zero": pack(["XDgon-", PACKET, {**OPTS, "flags": 0}]),
    # [uid, {type: 2, data: [<str ff fe>], nsp: "/"}, {}] and [<str c3 28>, {...}, {}]
    "non-utf8-event": bytes.fromhex(
        "93a65844676f6e2d83a47479706502a46461746191a2fffea36e7370a12f80"
    ),
    "non-utf8-uid": bytes.fromhex("93a2c32883a47479706502a46461746191a26576a36e7370a12f80"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BROADCASTS))
def test_malformed_broadcast_raises_protocol_error(name: str) -> None:
    with pytest.raises(ProtocolError):
        decode_broadcast(MSGPACK, MALFORMED_BROADCASTS[name])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rooms-str", "opts.rooms must be an array"),
        ("except-holds-map", "opts.except holds a dict, not a room name"),
        ("flags-array", "opts.flags must be a map"),
        ("nsp-not-str", "packet.nsp must be a string"),
    ],
)
def test_malformed_broadcast_errors_name_the_field(name: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=f"^{message}$"):
        decode_broadcast(MSGPACK, MALFORMED_BROADCASTS[name])


def test_broadcast_decode_never_sniffs_json() -> None:
    # Even a JSON rendering of a perfectly valid broadcast is refused on key#nsp#.
    payload = JSON.encode(["XDgon-", PACKET, OPTS])
    with pytest.raises(ProtocolError):
        decode_broadcast(MSGPACK, payload)


def test_broadcast_defaults_missing_fields_like_node() -> None:
    # A missing nsp is "/", missing rooms/except/flags are empty (= everyone).
    decoded = decode_broadcast(MSGPACK, pack(["XDgon-", {"type": 2, "data": ["ev"]}, {}]))
    assert_identical(decoded, Broadcast("XDgon-", "/", ["ev"], Target()))


def test_one_megabyte_string_decodes() -> None:
    big = "é" * 500_000  # 1,000,000 UTF-8 bytes: str32
    payload = encode_broadcast(MSGPACK, "XDgon-", "/", ["big", big], Target())
    assert len(payload) > 1_000_000
    decoded = decode_broadcast(MSGPACK, payload)
    assert decoded.data[1] == big
    request = encode_request(MSGPACK, ServerSideEmitRequest("XDgon-", None, ["big", big]), "/")
    assert_identical(
        decode_request(MSGPACK, request), ServerSideEmitRequest("XDgon-", None, ["big", big])
    )


@pytest.mark.parametrize("depth", [100, 1_000, 10_000, 100_000])
def test_deeply_nested_array_does_not_crash(depth: int) -> None:
    payload = b"\x91" * depth + b"\xc0"
    with pytest.raises(ProtocolError):
        decode_broadcast(MSGPACK, payload)
    with pytest.raises(ProtocolError):
        decode_request(MSGPACK, payload)
    with pytest.raises(ProtocolError):
        decode_response(MSGPACK, payload)


@pytest.mark.parametrize("depth", [100, 1_000, 10_000])
def test_deeply_nested_event_argument_does_not_crash(depth: int) -> None:
    # [uid, {type, data: ["ev", [[[...]]]], nsp}, opts]: decodes or raises ProtocolError.
    payload = (
        bytes.fromhex("93a65844676f6e2d83a474797065 02a464617461 92a26576")
        + b"\x91" * depth
        + b"\xc0"
        + bytes.fromhex("a36e7370a12f 80")
    )
    try:
        decoded = decode_broadcast(MSGPACK, payload)
    except ProtocolError:
        return
    assert decoded.data[0] == "ev"


@pytest.mark.parametrize("depth", [990, 1_000, 5_000])
@pytest.mark.parametrize("field", ["type", "requestId", "uid"])
def test_deeply_nested_request_field_raises_protocol_error(field: str, depth: int) -> None:
    # A map {field: [[[...nil]]]} within msgpack's own depth limit: the value is not a valid
    # type/requestId/uid, and describing it in the error must not blow the recursion limit.
    body = {"uid": "XDgon-", "requestId": "r1", "type": 1}
    header = msgpack.packb({k: v for k, v in body.items() if k != field})
    payload = bytes([header[0] + 1]) + header[1:] + pack(field) + b"\x91" * depth + b"\xc0"
    with pytest.raises(ProtocolError):
        decode_request(MSGPACK, payload)


@pytest.mark.parametrize("depth", [990, 1_000, 5_000])
@pytest.mark.parametrize("field", ["type", "requestId", "clientCount"])
def test_deeply_nested_response_field_raises_protocol_error(field: str, depth: int) -> None:
    body = {"type": 8, "requestId": "r1", "clientCount": 1}
    header = msgpack.packb({k: v for k, v in body.items() if k != field})
    payload = bytes([header[0] + 1]) + header[1:] + pack(field) + b"\x91" * depth + b"\xc0"
    with pytest.raises(ProtocolError):
        decode_response(MSGPACK, payload)


@pytest.mark.parametrize("depth", [990, 10_000])
def test_deeply_nested_json_raises_protocol_error(depth: int) -> None:
    payload = b'{"type":' + b"[" * depth + b"]" * depth + b',"requestId":"r1"}'
    with pytest.raises(ProtocolError):
        decode_request(MSGPACK, payload)
    with pytest.raises(ProtocolError):
        decode_response(MSGPACK, payload)


MALFORMED_REQUESTS: dict[str, bytes] = {
    "empty": b"",
    "c1": b"\xc1",
    "json-truncated": b'{"uid":"XDgon-","type":1',
    "json-garbage": b"{not json}",
    "json-nan": b'{"uid":"XDgon-","requestId":"r1","type":1,"x":NaN}',
    "json-infinity": b'{"uid":"XDgon-","requestId":"r1","type":1,"x":-Infinity}',
    "json-non-utf8": b'{"uid":"\xff\xfe","requestId":"r1","type":1}',
    "json-leading-space": b' {"uid":"XDgon-","requestId":"r1","type":1}',
    "json-bom": b'\xef\xbb\xbf{"uid":"XDgon-","requestId":"r1","type":1}',
    "json-array": b'[{"uid":"XDgon-","requestId":"r1","type":1}]',
    "json-trailing": b'{"uid":"XDgon-","requestId":"r1","type":1}x',
    "msgpack-array": pack(["XDgon-", "r1", 1]),
    "msgpack-truncated": bytes.fromhex(BROADCAST_REQUEST)[:-2],
    "msgpack-trailing": bytes.fromhex(BROADCAST_REQUEST) + b"\xc0",
    "msgpack-non-utf8": bytes.fromhex("83a3756964a2fffea9726571756573744964a27231a47479706501"),
    "type-missing": b'{"uid":"XDgon-","requestId":"r1"}',
    "type-42": b'{"uid":"XDgon-","requestId":"r1","type":42}',
    "type-minus-1": b'{"uid":"XDgon-","requestId":"r1","type":-1}',
    "type-str": b'{"uid":"XDgon-","requestId":"r1","type":"1"}',
    "type-null": b'{"uid":"XDgon-","requestId":"r1","type":null}',
    "type-list": b'{"uid":"XDgon-","requestId":"r1","type":[1]}',
    "type-map": b'{"uid":"XDgon-","requestId":"r1","type":{"a":1}}',
    "type-8-is-a-response": b'{"type":8,"requestId":"r1","clientCount":1}',
    "type-9-is-a-response": b'{"type":9,"requestId":"r1","packet":1}',
    "uid-int": b'{"uid":5,"requestId":"r1","type":1}',
    "request-id-int": b'{"uid":"XDgon-","requestId":5,"type":1}',
    "sockets-without-request-id": b'{"uid":"XDgon-","type":0,"rooms":[]}',
    "sockets-rooms-str": b'{"uid":"XDgon-","requestId":"r1","type":0,"rooms":"room1"}',
    "all-rooms-without-request-id": b'{"uid":"XDgon-","type":1}',
    "fetch-without-request-id": b'{"uid":"XDgon-","type":5,"opts":{"rooms":[],"except":[]}}',
    "fetch-without-opts": b'{"uid":"XDgon-","requestId":"r1","type":5}',
    "fetch-opts-array": b'{"uid":"XDgon-","requestId":"r1","type":5,"opts":[]}',
    "fetch-rooms-str": b'{"uid":"XDgon-","requestId":"r1","type":5,"opts":{"rooms":"a"}}',
    "fetch-rooms-holds-map": (
        b'{"uid":"XDgon-","requestId":"r1","type":5,"opts":{"rooms":[{}],"except":[]}}'
    ),
    "join-rooms-holds-map": (
        b'{"uid":"XDgon-","type":2,"opts":{"rooms":["a"],"except":[]},"rooms":[{"x":1}]}'
    ),
    "join-opts-str": b'{"uid":"XDgon-","type":2,"opts":"room1","rooms":["a"]}',
    "legacy-join-without-sid": b'{"uid":"XDgon-","requestId":"r1","type":2,"room":"a"}',
    "legacy-join-room-map": b'{"uid":"XDgon-","requestId":"r1","type":2,"sid":"s","room":{}}',
    "legacy-join-room-bool": b'{"uid":"XDgon-","requestId":"r1","type":3,"sid":"s","room":true}',
    "legacy-disconnect-sid-int": b'{"uid":"XDgon-","requestId":"r1","type":4,"sid":1}',
    "disconnect-opts-array": b'{"uid":"XDgon-","type":4,"opts":[1],"close":false}',
    "sse-data-missing": b'{"uid":"XDgon-","type":6}',
    "sse-data-empty": b'{"uid":"XDgon-","type":6,"data":[]}',
    "sse-data-str": b'{"uid":"XDgon-","requestId":"r1","type":6,"data":"ev"}',
    "sse-event-int": b'{"uid":"XDgon-","type":6,"data":[1,2]}',
    "broadcast-without-request-id": pack(
        {"uid": "XDgon-", "type": 7, "packet": PACKET, "opts": OPTS}
    ),
    "broadcast-without-opts": pack(
        {"uid": "XDgon-", "requestId": "r1", "type": 7, "packet": PACKET}
    ),
    "broadcast-without-packet": pack({"uid": "XDgon-", "requestId": "r1", "type": 7, "opts": OPTS}),
    "broadcast-packet-type-5": pack(
        {
            "uid": "XDgon-",
            "requestId": "r1",
            "type": 7,
            "packet": {**PACKET, "type": 5},
            "opts": OPTS,
        }
    ),
    "broadcast-empty-data": pack(
        {
            "uid": "XDgon-",
            "requestId": "r1",
            "type": 7,
            "packet": {**PACKET, "data": []},
            "opts": OPTS,
        }
    ),
    "broadcast-event-int": pack(
        {
            "uid": "XDgon-",
            "requestId": "r1",
            "type": 7,
            "packet": {**PACKET, "data": [7]},
            "opts": OPTS,
        }
    ),
    "broadcast-rooms-holds-map": pack(
        {
            "uid": "XDgon-",
            "requestId": "r1",
            "type": 7,
            "packet": PACKET,
            "opts": {**OPTS, "rooms": [{"a": 1}]},
        }
    ),
    "broadcast-flags-str": pack(
        {
            "uid": "XDgon-",
            "requestId": "r1",
            "type": 7,
            "packet": PACKET,
            "opts": {**OPTS, "flags": "volatile"},
        }
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_REQUESTS))
def test_malformed_request_raises_protocol_error(name: str) -> None:
    with pytest.raises(ProtocolError):
        decode_request(MSGPACK, MALFORMED_REQUESTS[name])


MALFORMED_RESPONSES: dict[str, bytes] = {
    "empty": b"",
    "c1": b"\xc1",
    "json-truncated": b'{"type":8,"requestId":"r1"',
    "json-nan": b'{"type":8,"requestId":"r1","clientCount":NaN}',
    "json-non-utf8": b'{"type":8,"requestId":"\xff","clientCount":1}',
    "json-array": b'["r1"]',
    "msgpack-array": pack(["r1", 1]),
    "msgpack-non-utf8": bytes.fromhex("82a9726571756573744964a2fffea47479706509"),
    "msgpack-truncated": pack({"type": 9, "requestId": "r1", "packet": "x" * 40})[:-3],
    "request-id-missing": b'{"type":8,"clientCount":1}',
    "request-id-int": b'{"type":8,"requestId":1,"clientCount":1}',
    "request-id-null": b'{"requestId":null,"rooms":[]}',
    "client-count-negative": b'{"type":8,"requestId":"r1","clientCount":-1}',
    "client-count-str": b'{"type":8,"requestId":"r1","clientCount":"1"}',
    "client-count-float": b'{"type":8,"requestId":"r1","clientCount":1.5}',
    "client-count-bool": b'{"type":8,"requestId":"r1","clientCount":true}',
    "client-count-null": b'{"type":8,"requestId":"r1","clientCount":null}',
    "client-count-missing": b'{"type":8,"requestId":"r1"}',
    "type-42": b'{"type":42,"requestId":"r1"}',
    "type-str": b'{"type":"8","requestId":"r1","clientCount":1}',
    "type-map": b'{"type":{"a":[1]},"requestId":"r1"}',
    "type-7-is-a-request": b'{"type":7,"requestId":"r1"}',
}


@pytest.mark.parametrize("name", sorted(MALFORMED_RESPONSES))
def test_malformed_response_raises_protocol_error(name: str) -> None:
    with pytest.raises(ProtocolError):
        decode_response(MSGPACK, MALFORMED_RESPONSES[name])


def test_client_count_zero_is_valid() -> None:
    assert_identical(
        decode_response(MSGPACK, b'{"type":8,"requestId":"r1","clientCount":0}'),
        ClientCountResponse("r1", 0),
    )


def test_json_parser_also_decodes_captured_requests() -> None:
    # With parser="json" the sniffing rule still applies to requests and responses.
    payload, expected = JSON_REQUESTS[0]
    assert_identical(decode_request(JSON, payload), expected)
    with pytest.raises(ProtocolError):
        decode_broadcast(JSON, SAMPLE_A)


# --- properties ----------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "uid",
        "requestId",
        "type",
        "opts",
        "rooms",
        "except",
        "flags",
        "data",
        "packet",
        "nsp",
        "sid",
        "room",
        "close",
        "clientCount",
        "sockets",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
SHAPED_MAPS = st.dictionaries(
    KEYS,
    st.one_of(JSONISH, st.integers(0, 12), st.sampled_from(["XDgon-", "r1"])),
    max_size=7,
)


def _encoded(value: Any, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(value, default=lambda b: list(b)).encode()
    return pack(value)


ARBITRARY_PAYLOADS = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"{" + b),
    st.tuples(SHAPED_MAPS, st.booleans()).map(lambda t: _encoded(*t)),
    st.tuples(st.lists(JSONISH, max_size=4), st.booleans()).map(lambda t: _encoded(*t)),
    st.tuples(st.text(max_size=6), SHAPED_MAPS, SHAPED_MAPS).map(lambda t: pack(list(t))),
)


@PROPERTY
@given(ARBITRARY_PAYLOADS)
def test_decode_broadcast_only_raises_protocol_error(payload: bytes) -> None:
    try:
        decoded = decode_broadcast(MSGPACK, payload)
    except ProtocolError:
        return
    assert isinstance(decoded, Broadcast)


@PROPERTY
@given(ARBITRARY_PAYLOADS)
def test_decode_request_only_raises_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_request(MSGPACK, payload)


@PROPERTY
@given(ARBITRARY_PAYLOADS)
def test_decode_response_only_raises_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_response(MSGPACK, payload)


ROOMS = st.lists(
    st.one_of(st.text(max_size=20), st.integers(-(2**53), 2**53)), max_size=4, unique=True
)
FLAGS = st.fixed_dictionaries(
    {},
    optional={
        "volatile": st.booleans(),
        "compress": st.booleans(),
        "timeout": st.integers(0, 10**6),
        "expectSingleResponse": st.booleans(),
    },
)
UIDS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=6,
    max_size=6,
)
NSPS = st.text(max_size=10).map(lambda s: "/" + s)


@PROPERTY
@given(
    uid=UIDS,
    nsp=NSPS,
    event=st.text(max_size=10),
    args=st.lists(JSONISH, max_size=5),
    rooms=ROOMS,
    except_rooms=ROOMS,
    flags=FLAGS,
)
def test_broadcast_round_trip(
    uid: str,
    nsp: str,
    event: str,
    args: list[Any],
    rooms: list[Any],
    except_rooms: list[Any],
    flags: dict[str, Any],
) -> None:
    target = Target(tuple(rooms), tuple(except_rooms), flags)
    data = [event, *args]
    decoded = decode_broadcast(MSGPACK, encode_broadcast(MSGPACK, uid, nsp, data, target))
    assert decoded == Broadcast(uid, nsp, data, target)
    assert [type(r) for r in decoded.target.rooms] == [type(r) for r in rooms]


@PROPERTY
@given(
    uid=st.text(max_size=40),
    nsp=st.text(max_size=40),
    event=st.text(max_size=10),
    args=st.lists(JSONISH, max_size=5),
    rooms=ROOMS,
    except_rooms=ROOMS,
    flags=FLAGS,
)
def test_broadcast_encoding_in_parts_is_the_whole_message_packed(
    uid: str,
    nsp: str,
    event: str,
    args: list[Any],
    rooms: list[Any],
    except_rooms: list[Any],
    flags: dict[str, Any],
) -> None:
    # encode_broadcast packs only the data per call around fixed parts packed once: the
    # bytes must be those of packing [uid, packet, opts] whole, for any uid and namespace.
    target = Target(tuple(rooms), tuple(except_rooms), flags)
    data = [event, *args]
    whole = MSGPACK.encode([uid, {"type": 2, "data": data, "nsp": nsp}, target.to_wire()])
    assert encode_broadcast(MSGPACK, uid, nsp, data, target) == whole
