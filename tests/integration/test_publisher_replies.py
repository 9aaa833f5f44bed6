"""The publisher's batch replies against a real Redis: a refused message among accepted
ones, read straight from the hiredis reader or one reply at a time through redis-py (a
connection class with its own ``read_response``, as Sentinel's), with the same outcome; and
a batch a paused Redis never answers, failed at the deadline."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import NoPermissionError
from support.redis_procs import HOST, RedisServer

from socketio_redis_async import PublishError, transport
from socketio_redis_async.metrics import Counters
from socketio_redis_async.transport import Publisher, _direct_parser


class OwnReadResponse(Connection):
    async def read_response(self, *args, **kwargs):
        return await super().read_response(*args, **kwargs)


@pytest.mark.parametrize("connection_class", [Connection, OwnReadResponse])
async def test_a_refused_message_fails_its_batch_and_spares_the_connection(
    fresh_redis: RedisServer, connection_class: type[Connection]
) -> None:
    fresh_redis.acl_setuser("pub", "on", ">pw", "resetchannels", "&ok*", "+publish", "+ping")
    pool = aioredis.ConnectionPool(
        connection_class=connection_class, host=HOST, port=fresh_redis.port,
        username="pub", password="pw",
    )  # fmt: skip
    client = aioredis.Redis(connection_pool=pool)
    admin = aioredis.Redis(host=HOST, port=fresh_redis.port)
    listener = admin.pubsub()
    await listener.subscribe("ok1", "ok2", "ok3")
    errors: list[BaseException] = []
    counters = Counters()
    publisher = Publisher(
        client, logger=logging.getLogger("test"), on_error=errors.append, counters=counters
    )
    try:
        # One batch: nothing yields between these three, the writer sends them together.
        await publisher.publish(b"ok1", b"a")
        await publisher.publish(b"nope", b"b")
        await publisher.publish(b"ok2", b"c")
        await publisher.flush()
        direct = _direct_parser(publisher._connection) is not None
        assert direct is (connection_class is Connection)
        assert [type(e) for e in errors] == [NoPermissionError]
        assert counters.publish_failures == 3 and counters.published == 0  # per batch

        with pytest.raises(PublishError, match="no permissions"):
            await publisher.publish(b"nope", b"d", wait=True)
        await publisher.publish(b"ok3", b"e", wait=True)  # the connection is fine
        assert counters.published == 1

        received = []
        deadline = asyncio.get_running_loop().time() + 5
        while len(received) < 3 and asyncio.get_running_loop().time() < deadline:
            message = await listener.get_message(timeout=1)
            if message is not None and message["type"] == "message":
                received.append((message["channel"], message["data"]))
        assert received == [(b"ok1", b"a"), (b"ok2", b"c"), (b"ok3", b"e")]
    finally:
        await publisher.aclose()
        await client.aclose()
        await pool.disconnect()  # a pool passed in is not closed with its client
        await listener.aclose()
        await admin.aclose()


async def test_a_batch_redis_does_not_answer_fails_at_the_deadline_and_the_writer_goes_on(
    fresh_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "PUBLISH_TIMEOUT", 0.5)
    client = aioredis.Redis(host=HOST, port=fresh_redis.port)
    errors: list[BaseException] = []
    counters = Counters()
    publisher = Publisher(
        client, logger=logging.getLogger("test"), on_error=errors.append, counters=counters
    )
    try:
        await publisher.publish(b"ch", b"before", wait=True)
        writer = publisher._writer
        # Many batches, one deadline timer, not one per batch (call_later goes to call_at).
        loop = asyncio.get_running_loop()
        timers = 0
        call_at = loop.call_at

        def counting_call_at(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            nonlocal timers
            timers += 1
            return call_at(*args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(loop, "call_at", counting_call_at)
            for i in range(200):
                await publisher.publish(b"ch", b"%d" % i, wait=True)
        assert timers < 20  # one per batch would be 200
        assert counters.published == 201

        fresh_redis.pause()
        began = time.monotonic()
        with pytest.raises(PublishError, match="did not answer within"):
            await publisher.publish(b"ch", b"while-paused", wait=True)
        assert 0.4 < time.monotonic() - began < 2.0
        assert [type(e) for e in errors] == [TimeoutError]
        fresh_redis.resume()

        await publisher.publish(b"ch", b"after", wait=True)  # a new connection, same writer
        assert publisher._writer is writer and not writer.done()
        assert counters.published == 202 and counters.publish_failures == 1

        # Closing while a batch waits on a paused Redis: the writer ends, it is not
        # mistaken for a deadline and kept running.
        fresh_redis.pause()
        await publisher.publish(b"ch", b"stuck")
        await asyncio.sleep(0.1)
        connection = publisher._connection
        began = time.monotonic()
        await publisher.aclose()
        assert time.monotonic() - began < 2.0
        assert writer.done()
        # The publisher's deadline replaced redis-py's socket_timeout on its connection;
        # the pool gets the connection back as it lent it.
        assert connection.socket_timeout == client.connection_pool.connection_kwargs.get(
            "socket_timeout"
        )
    finally:
        fresh_redis.resume()
        await publisher.aclose()
        await client.aclose()
