"""A user's test file: it uses only the fixtures of the socketio_redis_async.testing plugin.

The packaging test runs it from a clean venv with the built wheel, in a directory of its own
without any conftest or pytest configuration (so pytest-asyncio is in its default strict
mode); the project's own run collects it too.
"""

from __future__ import annotations

import pytest
import redis

from socketio_redis_async.testing import RedisServer, SioServers, eventually


def test_private_redis(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.port != 6379
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()


@pytest.mark.asyncio
async def test_event_crosses_servers(sio_servers: SioServers) -> None:
    a, b = await sio_servers(2, kinds=("asgi", "aiohttp"))

    async def say(sid: str, text: str) -> None:
        await a.sio.emit("said", text)  # a broadcast: it reaches b's client through Redis

    a.sio.on("say", say)
    await a.clients[0].client.emit("say", "hello")
    await eventually(lambda: b.clients[0].events("said") == [("hello",)])
    await eventually(lambda: a.clients[0].events("said") == [("hello",)])
