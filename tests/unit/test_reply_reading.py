"""Replies read straight from redis-py's hiredis reader (``transport._direct_parser``).

A real ``redis.asyncio.Connection`` reads from one end of a socket pair; the test writes the
bytes Redis would send at the other end, so batches, split reads, error replies among
messages and garbage are exact and repeatable.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio.connection import Connection
from redis.exceptions import BusyLoadingError, InvalidResponse, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from socketio_redis_async.metrics import Counters
from socketio_redis_async.transport import (
    Subscriber,
    _direct_parser,
    _read_replies,
    _reply_or_error,
)


def pmessage(channel: bytes, payload: bytes, pattern: bytes = b"k#/#*") -> bytes:
    parts = [b"pmessage", pattern, channel, payload]
    return b"*4\r\n" + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)


class Wire:
    """A redis-py connection whose peer is the test."""

    def __init__(self, connection: Connection, peer: socket.socket) -> None:
        self.connection = connection
        self.peer = peer

    def send(self, data: bytes) -> None:
        self.peer.sendall(data)


async def connect(connection_class: type[Connection] = Connection, **kwargs: Any) -> Wire:
    ours, peer = socket.socketpair()
    connection = connection_class(**kwargs)
    connection._reader, connection._writer = await asyncio.open_connection(sock=ours)
    connection._parser.on_connect(connection)
    return Wire(connection, peer)


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    pair = await connect()
    yield pair
    await pair.connection.disconnect(nowait=True)
    pair.peer.close()


class OwnReadResponse(Connection):
    """Like Sentinel's connections: a ``read_response`` of its own, never bypassed."""

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        return await super().read_response(*args, **kwargs)


async def test_direct_parser_only_for_redis_pys_own_hiredis_reading() -> None:
    plain = await connect()
    own = await connect(OwnReadResponse)
    python_parser = await connect(parser_class=_AsyncRESP2Parser)
    try:
        assert _direct_parser(plain.connection) is plain.connection._parser
        assert _direct_parser(own.connection) is None
        assert _direct_parser(python_parser.connection) is None
    finally:
        for pair in (plain, own, python_parser):
            await pair.connection.disconnect(nowait=True)
            pair.peer.close()


async def test_batch_replies_in_order_with_errors_as_values(wire: Wire) -> None:
    parser = _direct_parser(wire.connection)
    wire.send(b":1\r\n:0\r\n-NOPERM no channel\r\n:2\r\n-ERR x")

    async def rest() -> None:
        await asyncio.sleep(0.02)  # a reply split across two reads
        wire.send(b"\r\n:3\r\n")

    task = asyncio.create_task(rest())
    replies = await _read_replies(wire.connection, parser, 6)
    await task
    assert replies[:2] == [1, 0] and replies[3] == 2 and replies[5] == 3
    assert isinstance(replies[2], NoPermissionError)
    assert type(replies[4]) is ResponseError and str(replies[4]) == "x"
    assert wire.connection.is_connected


async def test_batch_through_redis_py_gives_the_same_values(wire: Wire) -> None:
    wire.send(b":1\r\n-NOPERM no channel\r\n:2\r\n")
    replies = [await _reply_or_error(wire.connection) for _ in range(3)]
    assert replies[0] == 1 and replies[2] == 2
    assert isinstance(replies[1], NoPermissionError)


async def test_a_connection_error_reply_is_raised_and_drops_the_connection(wire: Wire) -> None:
    parser = _direct_parser(wire.connection)
    wire.send(b":1\r\n-LOADING Redis is loading the dataset in memory\r\n:1\r\n")
    with pytest.raises(BusyLoadingError):
        await _read_replies(wire.connection, parser, 3)
    assert not wire.connection.is_connected


async def test_a_closed_socket_or_a_cancelled_read_drops_the_connection() -> None:
    closed = await connect()
    parser = _direct_parser(closed.connection)
    closed.send(b":1\r\n")
    closed.peer.close()
    with pytest.raises(RedisConnectionError):
        await _read_replies(closed.connection, parser, 2)
    assert not closed.connection.is_connected

    waiting = await connect()
    parser = _direct_parser(waiting.connection)
    read = asyncio.create_task(_read_replies(waiting.connection, parser, 2))
    await asyncio.sleep(0.01)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert not waiting.connection.is_connected  # its replies would reach the next batch
    waiting.peer.close()


def subscriber_on(wire: Wire) -> Subscriber:
    subscriber = Subscriber(
        aioredis.Redis(),  # never used: the test hands it the connection below
        lambda *args: asyncio.sleep(0),
        logger=logging.getLogger("test"),
        on_error=lambda exc: None,
        counters=Counters(),
    )

    class PubSub:
        connection = wire.connection

    subscriber._pubsub = PubSub()
    return subscriber


async def test_subscriber_takes_every_ready_message_and_defers_an_error(wire: Wire) -> None:
    subscriber = subscriber_on(wire)
    messages = [pmessage(b"k#/#", b"m%d" % i) for i in range(5)]
    wire.send(b"".join(messages[:3]) + b"-NOPERM refused\r\n" + b"".join(messages[3:]))
    await asyncio.sleep(0.01)  # everything arrives before the first read
    first = await subscriber._read()
    assert [reply[3] for reply in first] == [b"m0", b"m1", b"m2"]
    with pytest.raises(NoPermissionError):
        await subscriber._read()  # in order: after the messages before it
    assert wire.connection.is_connected
    assert [reply[3] for reply in await subscriber._read()] == [b"m3", b"m4"]


async def test_subscriber_hands_over_messages_before_garbage(wire: Wire) -> None:
    subscriber = subscriber_on(wire)
    wire.send(pmessage(b"k#/#", b"a") + pmessage(b"k#/#", b"b") + b"?garbage\r\n")
    await asyncio.sleep(0.01)
    assert [reply[3] for reply in await subscriber._read()] == [b"a", b"b"]
    assert not wire.connection.is_connected  # as redis-py drops a connection it cannot parse
    with pytest.raises(InvalidResponse):
        await subscriber._read()


async def test_subscriber_reads_one_at_a_time_through_redis_py() -> None:
    pair = await connect(OwnReadResponse)
    subscriber = subscriber_on(pair)
    pair.send(pmessage(b"k#/#", b"a") + pmessage(b"k#/#", b"b"))
    await asyncio.sleep(0.01)
    assert [reply[3] for reply in await subscriber._read()] == [b"a"]
    assert [reply[3] for reply in await subscriber._read()] == [b"b"]
    await pair.connection.disconnect(nowait=True)
    pair.peer.close()


async def test_subscriber_takes_resp3_push_messages_too() -> None:
    pair = await connect(protocol=3)
    subscriber = subscriber_on(pair)
    pushes = [pmessage(b"k#/#", b"p%d" % i).replace(b"*4", b">4", 1) for i in range(3)]
    pair.send(b"".join(pushes))
    await asyncio.sleep(0.01)
    replies = await subscriber._read()
    assert [(reply[0], reply[3]) for reply in replies] == [
        (b"pmessage", b"p0"),
        (b"pmessage", b"p1"),
        (b"pmessage", b"p2"),
    ]
    await pair.connection.disconnect(nowait=True)
    pair.peer.close()
