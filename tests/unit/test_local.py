"""Local delivery: Node's ``apply()`` target selection, and ``socket.handshake`` building."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
import socketio
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_async import local
from socketio_redis_async.handshake import build_handshake, js_date_string
from socketio_redis_async.local import select_targets

# python-socketio's per-namespace room table: room -> {sid: eio_sid}; None holds everyone.
S1 = ("sidAAAAAAAAAAAAAAAA1", "e1")
S2 = ("sidBBBBBBBBBBBBBBBB2", "e2")
S3 = ("sidCCCCCCCCCCCCCCCC3", "e3")
S4 = ("sidDDDDDDDDDDDDDDDD4", "e4")
ROOMS: dict[Any, dict[str, str]] = {
    None: dict([S1, S2, S3, S4]),
    S1[0]: dict([S1]),
    S2[0]: dict([S2]),
    S3[0]: dict([S3]),
    S4[0]: dict([S4]),
    "red": dict([S1, S2]),
    "blue": dict([S2, S3]),
    "green": dict([S4]),
    42: dict([S3]),
    "42": dict([S1]),
    "empty": {},
}


def select(rooms: Any, except_rooms: Any = ()) -> list[tuple[str, str]]:
    targets = select_targets(ROOMS, rooms, except_rooms)
    assert len(targets) == len(set(targets)), f"duplicates in {targets}"
    return sorted(targets)


def test_empty_rooms_means_everyone() -> None:
    assert select(()) == [S1, S2, S3, S4]
    assert select([]) == [S1, S2, S3, S4]


def test_single_room() -> None:
    assert select(["red"]) == [S1, S2]
    assert select([S4[0]]) == [S4]


def test_rooms_are_a_union_without_duplicates() -> None:
    assert select(["red", "blue"]) == [S1, S2, S3]
    assert select(["red", "blue", "red", S2[0]]) == [S1, S2, S3]
    assert select(["blue", "green"]) == [S2, S3, S4]


def test_except_removes_members() -> None:
    assert select(["red", "blue"], ["red"]) == [S3]
    assert select([], ["blue"]) == [S1, S4]
    assert select([], [S1[0]]) == [S2, S3, S4]  # socket.broadcast: the sender's own sid
    assert select(["red"], ["green", "blue"]) == [S1]
    assert select(["red"], ["red"]) == []


def test_unknown_rooms() -> None:
    assert select(["nobody"]) == []
    assert select(["nobody", "green"]) == [S4]
    assert select(["empty"]) == []
    assert select([], ["nobody", "empty"]) == [S1, S2, S3, S4]


def test_numeric_and_string_rooms_are_distinct() -> None:
    assert select([42]) == [S3]
    assert select(["42"]) == [S1]
    assert select([42, "42"]) == [S1, S3]
    assert select([], [42]) == [S1, S2, S4]
    assert select([], ["42"]) == [S2, S3, S4]


def test_select_accepts_iterables_once() -> None:
    assert sorted(select_targets(ROOMS, iter(["red", "blue"]), iter(["red"]))) == [S3]


@pytest.mark.parametrize("namespace_rooms", [None, {}])
def test_missing_namespace_selects_nobody(namespace_rooms: Any) -> None:
    assert select_targets(namespace_rooms, []) == []
    assert select_targets(namespace_rooms, ["red"], ["blue"]) == []


def test_namespace_without_everyone_entry() -> None:
    assert select_targets({"red": dict([S1])}, []) == []
    assert select_targets({"red": dict([S1])}, ["red"]) == [S1]


# --- handshake -----------------------------------------------------------------------------

CONNECTED_AT = 1700000000.123  # Tue Nov 14 2023 22:13:20.123 UTC


async def _receive() -> dict[str, Any]:
    return {"type": "websocket.connect"}


def test_js_date_string() -> None:
    assert js_date_string(CONNECTED_AT) == (
        "Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)"
    )
    assert js_date_string(0) == "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"


def test_handshake_from_asgi_environ() -> None:
    # The environ python-engineio's ASGI driver builds: REMOTE_ADDR is hard-coded, the real
    # peer is in the ASGI scope.
    scope = {
        "type": "websocket",
        "path": "/socket.io/",
        "query_string": b"EIO=4&transport=websocket&t=a&t=b",
        "client": ("10.1.2.3", 51234),
        "headers": [(b"host", b"example.com"), (b"origin", b"http://example.com")],
    }
    environ = {
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": "EIO=4&transport=websocket&t=a&t=b",
        "RAW_URI": "/socket.io/?EIO=4&transport=websocket&t=a&t=b",
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": _receive,
        "asgi.send": print,
        "asgi.scope": scope,
        "HTTP_HOST": "example.com",
        "HTTP_ORIGIN": "http://example.com",
        "HTTP_X_FORWARDED_FOR": "1.2.3.4",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert build_handshake(environ, CONNECTED_AT) == {
        "headers": {
            "host": "example.com",
            "origin": "http://example.com",
            "x-forwarded-for": "1.2.3.4",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        "time": "Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)",
        "address": "10.1.2.3",
        "xdomain": True,
        "secure": False,
        "issued": 1700000000123,
        "url": "/socket.io/?EIO=4&transport=websocket&t=a&t=b",
        "query": {"EIO": "4", "transport": "websocket", "t": ["a", "b"]},
        "auth": {},
    }


def test_handshake_from_plain_environ() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": "EIO=4&transport=polling&token=",
        "REMOTE_ADDR": "192.168.0.7",
        "wsgi.url_scheme": "https",
        "CONTENT_TYPE": "text/plain;charset=UTF-8",
        "CONTENT_LENGTH": "",
        "HTTP_USER_AGENT": "node-XMLHttpRequest",
        "HTTP_ACCEPT": "*/*",
        "wsgi.input": io.BytesIO(),
    }
    handshake = build_handshake(environ, 0.5)
    assert handshake == {
        "headers": {
            "user-agent": "node-XMLHttpRequest",
            "accept": "*/*",
            "content-type": "text/plain;charset=UTF-8",
        },
        "time": "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",
        "address": "192.168.0.7",
        "xdomain": False,
        "secure": True,
        "issued": 500,
        "url": "/socket.io/?EIO=4&transport=polling&token=",
        "query": {"EIO": "4", "transport": "polling", "token": ""},
        "auth": {},
    }


def test_handshake_from_minimal_environ() -> None:
    assert build_handshake({}, 0) == {
        "headers": {},
        "time": "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",
        "address": "",
        "xdomain": False,
        "secure": False,
        "issued": 0,
        "url": "",
        "query": {},
        "auth": {},
    }


def test_handshake_is_json_safe() -> None:
    import json

    environ = {
        "PATH_INFO": "/socket.io/",
        "QUERY_STRING": "EIO=4",
        "asgi.scope": {"client": ["::1", 1]},
        "asgi.receive": _receive,
        "wsgi.input": io.BytesIO(),
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_WEIRD": b"not-a-str",
    }
    handshake = build_handshake(environ, CONNECTED_AT)
    assert handshake["address"] == "::1"
    assert handshake["headers"] == {"cookie": "a=1; b=2"}
    assert json.loads(json.dumps(handshake)) == handshake


# --- the JSON of an EVENT ------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_fast_json_writes_what_the_encoder_writes_or_refuses_alike(value: Any) -> None:
    try:
        expected: Any = local._JSON_ENCODER.encode(["ev", value])
    except (TypeError, ValueError) as exc:
        expected = type(exc)
    try:
        got: Any = local._encode_json(["ev", value])
    except (TypeError, ValueError) as exc:
        got = type(exc)
    assert got == expected


def test_a_circular_value_fails_as_in_python_socketio() -> None:
    loop: list[Any] = []
    loop.append(loop)
    server = socketio.AsyncServer(async_mode="asgi")
    assert local.encode_text_event(server, "/", ["ev", loop]) is None
    with pytest.raises(RecursionError):  # python-socketio's search for binary parts
        server.packet_class(2, namespace="/", data=["ev", loop]).encode()
    with pytest.raises(RecursionError):
        local.encode_event(server, "/", ["ev", loop])
