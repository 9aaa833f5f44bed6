"""``direct_writes``: the option, and the frames written directly, which must be the bytes
the servers' own websocket libraries write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from socketio_redis_async import (
    AsyncRedisAdapter,
    AsyncRedisStreamsAdapter,
    AsyncShardedRedisAdapter,
)
from socketio_redis_async.direct_writes import websocket_frame

# Payload lengths at and around the three length encodings (7-bit, 16-bit, 64-bit).
EDGES = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]


def wsproto_server_frame(message: str | bytes) -> bytes:
    """What Uvicorn's wsproto connection writes for one ``websocket.send``."""
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(message, fin=True))


@pytest.mark.parametrize("size", EDGES)
def test_text_frame_matches_wsproto(size: int) -> None:
    message = "4" + "x" * max(0, size - 1) if size else ""
    assert websocket_frame(message) == wsproto_server_frame(message)


@pytest.mark.parametrize("size", EDGES)
def test_binary_frame_matches_wsproto(size: int) -> None:
    message = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert websocket_frame(message) == wsproto_server_frame(message)


@given(st.text(max_size=300))
def test_any_text_is_framed_as_utf8(message: str) -> None:
    assert websocket_frame(message) == wsproto_server_frame(message)


def test_frame_of_a_socketio_event() -> None:
    # 42["m",{"a":1}] as python-engineio encodes a MESSAGE packet for the websocket transport
    frame = websocket_frame('42["m",{"a":1}]')
    assert frame == b'\x81\x0f42["m",{"a":1}]'


@pytest.mark.parametrize(
    "adapter_class", [AsyncRedisAdapter, AsyncShardedRedisAdapter, AsyncRedisStreamsAdapter]
)
@pytest.mark.parametrize("value", [1, "yes", None])
def test_direct_writes_must_be_a_bool(adapter_class: type, value: object) -> None:
    with pytest.raises(TypeError, match="direct_writes"):
        adapter_class("redis://127.0.0.1:1/0", direct_writes=value)


@pytest.mark.parametrize(
    "adapter_class", [AsyncRedisAdapter, AsyncShardedRedisAdapter, AsyncRedisStreamsAdapter]
)
async def test_every_transport_takes_the_option(adapter_class: type) -> None:
    on = adapter_class("redis://127.0.0.1:1/0")
    off = adapter_class("redis://127.0.0.1:1/0", direct_writes=False)
    try:
        assert on._options.direct_writes is True
        assert off._options.direct_writes is False
    finally:
        await on.aclose()
        await off.aclose()
