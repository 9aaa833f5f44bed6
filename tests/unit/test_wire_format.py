"""The monitor's pure parts: decoding PROTOCOL.md's captured Node bytes into records, the
text and JSON renderings, the MONITOR line parser, and the CLI's JSON arguments."""

from __future__ import annotations

import json

import pytest

from socketio_redis_async.cli import CliError, parse_json_argument
from socketio_redis_async.monitor import classic_patterns, glob_escape, parse_monitor_line
from socketio_redis_async.parser import JSON
from socketio_redis_async.wire_format import (
    decode_classic,
    decode_sharded_message,
    format_value,
    render_json,
    render_text,
)

# PROTOCOL.md 2.3 (A): io.to('room1').except('room2').emit('ev', 1, 'a', {x: 1.5}, Buffer[1,2,3])
SAMPLE_A = bytes.fromhex(
    "93a65844676f6e2d83a47479706502a46461746195a2657601a16181a178cb3ff8000000000000c403010203"
    "a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380"
)
# PROTOCOL.md 3: em.volatile.compress(false).emit('fromEmitter2') on socket.io#/#
EMITTER = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746191ac66726f6d456d697474657232a36e7370a12f83a5726f"
    "6f6d7390a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2a665786365707490"
)
# PROTOCOL.md 4.6: binary sharded broadcast to room1 except room2
SHARDED_BIN = bytes.fromhex(
    "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a3657662c403010203a46f70"
    "747383a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380a3756964b0366131"
    "39333833323339323233326435a36e7370a12f"
)


def test_classic_broadcast_sample() -> None:
    msg = decode_classic(b"socket.io#/#room1#", SAMPLE_A, received=0.0)
    assert msg is not None
    assert (msg.kind, msg.type, msg.uid, msg.nsp) == ("broadcast", "broadcast", "XDgon-", "/")
    assert (msg.rooms, msg.except_rooms, msg.event) == (("room1",), ("room2",), "ev")
    assert msg.args == (1, "a", {"x": 1.5}, b"\x01\x02\x03")
    record = json.loads(render_json(msg))
    assert record["args"] == [1, "a", {"x": 1.5}, {"$bin": "010203"}]
    assert record["except"] == ["room2"] and "to_uid" not in record
    line = render_text(msg)
    assert "socket.io#/#room1#  XDgon-  broadcast  nsp=/  rooms=[room1]  except=[room2]" in line
    assert line.endswith('"ev"  (1, "a", {"x": 1.5}, <3 bytes>)')


def test_emitter_broadcast_and_flags() -> None:
    msg = decode_classic(b"socket.io#/#", EMITTER)
    assert msg is not None and msg.uid == "emitter" and msg.event == "fromEmitter2"
    assert dict(msg.flags) == {"volatile": True, "compress": False}
    assert "flags=volatile=true,compress=false" in render_text(msg)


@pytest.mark.parametrize(
    ("channel", "payload", "kind", "type_", "extra"),
    [
        (
            b"socket.io-request#/#",
            b'{"uid":"XDgon-","requestId":"wwSU_3","type":1}',
            "request",
            "ALL_ROOMS",
            {"uid": "XDgon-", "request_id": "wwSU_3"},
        ),
        (
            b"socket.io-response#/#",
            b'{"requestId":"wwSU_3","rooms":["lRhBi8xUR_d5t__XAAAB","room1","room3",42]}',
            "response",
            "ALL_ROOMS_RESPONSE",
            {"details": {"rooms": ["lRhBi8xUR_d5t__XAAAB", "room1", "room3", 42]}},
        ),
        (
            b"socket.io-request#/#",
            b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["roomE"]}',
            "request",
            "REMOTE_JOIN",
            {"uid": None, "rooms": ("room1",), "details": {"join": ["roomE"]}},
        ),
        (
            b"socket.io-response#/#FOREIGN#",
            b'{"requestId":"req002","sockets":["lTuUxoiRrKaMH0tZAAAA"]}',
            "response",
            "SOCKETS_RESPONSE",
            {"to_uid": "FOREIGN"},
        ),
        (
            b"socket.io-response#/#",
            b'{"type":8,"requestId":"nAn9x6","clientCount":1}',
            "response",
            "BROADCAST_CLIENT_COUNT",
            {"details": {"clientCount": 1}},
        ),
        (
            b"socket.io-request#/admin#",
            b'{"uid":"emitter","type":6,"data":["emSSE",1]}',
            "request",
            "SERVER_SIDE_EMIT",
            {"nsp": "/admin", "event": "emSSE", "args": (1,)},
        ),
    ],
)
def test_classic_requests_and_responses(
    channel: bytes, payload: bytes, kind: str, type_: str, extra: dict[str, object]
) -> None:
    msg = decode_classic(channel, payload)
    assert msg is not None and (msg.kind, msg.type) == (kind, type_)
    for name, value in extra.items():
        assert getattr(msg, name) == value, name


def test_other_channels_are_not_ours_and_garbage_is_shown_not_raised() -> None:
    assert decode_classic(b"other#/#", SAMPLE_A) is None
    assert decode_classic(b"socket.io#/#", SAMPLE_A, key="sio") is None
    bad = decode_classic(b"socket.io#/#", b"\xc1garbage")
    assert bad is not None and bad.kind == "invalid" and bad.error
    assert "undecodable (8 bytes)" in render_text(bad)
    assert json.loads(render_json(bad))["kind"] == "invalid"


def test_sharded_samples() -> None:
    msg = decode_sharded_message(b"socket.io#/#room1#", SHARDED_BIN)
    assert msg is not None
    assert (msg.protocol, msg.type, msg.uid, msg.event) == (
        "sharded",
        "broadcast",
        "6a193832392232d5",
        "evb",
    )
    assert msg.args == (b"\x01\x02\x03",) and msg.except_rooms == ("room2",)
    response = decode_sharded_message(
        b"socket.io#/#6a193832392232d5#",
        b'{"type":11,"data":{"requestId":"0414e92245e3a242","clientCount":1},'
        b'"uid":"32ffec886433ac08","nsp":"/"}',
    )
    assert response is not None
    assert (response.kind, response.type, response.uid, response.to_uid) == (
        "response",
        "BROADCAST_CLIENT_COUNT",
        "32ffec886433ac08",
        "6a193832392232d5",
    )
    join = decode_sharded_message(
        b"socket.io#/#",
        b'{"type":4,"data":{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["roomX"]},'
        b'"uid":"6a193832392232d5","nsp":"/"}',
    )
    assert join is not None and join.type == "SOCKETS_JOIN" and join.details == {"join": ["roomX"]}
    heartbeat = decode_sharded_message(b"socket.io#/#", b'{"type":2,"uid":"u","nsp":"/"}')
    assert heartbeat is not None and (heartbeat.kind, heartbeat.type) == ("ignored", "HEARTBEAT")
    assert decode_sharded_message(b"x#/#", b"{}") is None


def test_values_are_bounded() -> None:
    assert format_value("x" * 100) == json.dumps("x" * 60 + "…", ensure_ascii=False)
    assert format_value(list(range(12))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, +2 more]"
    assert format_value([[[[[["deep"]]]]]]) == "[[[[…]]]]"
    assert format_value({1: b"ab", "k": None}) == '{1: <2 bytes>, "k": null}'
    assert format_value(float("nan")) == "nan"
    msg = decode_classic(
        b"socket.io#/#", JSON.encode(["u", {"type": 2, "data": ["e", "y" * 50]}, {}]), parser=JSON
    )
    assert msg is not None
    assert render_text(msg, width=10).endswith('("yyyyyyyy…)')
    assert render_text(msg, width=0).endswith('"' + "y" * 50 + '")')


def test_colour_only_when_asked() -> None:
    msg = decode_classic(b"socket.io#/#room1#", SAMPLE_A)
    assert msg is not None
    assert "\x1b[" not in render_text(msg)
    assert "\x1b[1;32mbroadcast\x1b[0m" in render_text(msg, colour=True)


def test_monitor_lines() -> None:
    line = rb'1700000000.123456 [0 127.0.0.1:5000] "SPUBLISH" "socket.io#/#" "\x93\xa6\"q\\ \n"'
    assert parse_monitor_line(line) == (
        1700000000.123456,
        [b"SPUBLISH", b"socket.io#/#", b'\x93\xa6"q\\ \n'],
    )
    assert parse_monitor_line(b'1.5 [0 lua] "spublish" "a" "{}"') == (
        1.5,
        [b"spublish", b"a", b"{}"],
    )
    assert parse_monitor_line(b'1.5 [0 unix:/tmp/r.sock] "PING"') == (1.5, [b"PING"])
    assert parse_monitor_line(b"OK") is None
    assert parse_monitor_line(b'1.5 [0 x] "unterminated') is None


def test_patterns_escape_glob_characters() -> None:
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"
    assert classic_patterns("socket.io") == [
        "socket.io#*",
        "socket.io-request#*",
        "socket.io-response#*",
    ]
    assert classic_patterns("k", ["/a"]) == ["k#/a#*", "k-request#/a#*", "k-response#/a#*"]


def test_json_arguments() -> None:
    assert parse_json_argument('{"a": [1, {"$bin": "ff"}]}', 1) == {"a": [1, b"\xff"]}
    assert parse_json_argument("[1, 2]", 1) == [1, 2]  # one argument, an array
    with pytest.raises(CliError, match=r"JSON argument 3 \('hello'\).*strings need quotes"):
        parse_json_argument("hello", 3)
    with pytest.raises(CliError, match="NaN is not JSON"):
        parse_json_argument("NaN", 1)
    with pytest.raises(CliError, match="hexadecimal"):
        parse_json_argument('{"$bin": "zz"}', 1)
