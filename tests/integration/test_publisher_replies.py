"""The publisher's batch replies against a real Redis: a refused message among accepted
ones, read straight from the hiredis reader or one reply at a time through redis-py (a
connection class with its own ``read_response``, as Sentinel's), with the same outcome."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import NoPermissionError
from support.redis_procs import HOST, RedisServer

from socketio_redis_async import PublishError
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
