"""Subscription lifecycle: when the adapter subscribes, what it holds, and how it lets go."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
import socketio
import uvicorn
from aiohttp import web
from support.redis_procs import free_port
from support.sio_servers import RecordingClient, eventually, start_server

from socketio_redis_async import AdapterClosedError, AsyncRedisAdapter


@pytest.fixture
async def probe(fresh_redis):
    client = aioredis.Redis.from_url(fresh_redis.url)
    yield client
    await client.aclose()


async def numsub(probe: aioredis.Redis, namespace: str, key: str = "socket.io") -> int:
    [(_, count)] = await probe.pubsub_numsub(f"{key}-request#{namespace}#")
    return int(count)


async def no_subscriptions(probe: aioredis.Redis) -> bool:
    return await numsub(probe, "/") == 0 and await probe.pubsub_numpat() == 0


async def pubsub_connections(probe: aioredis.Redis) -> int:
    return sum(
        1 for c in await probe.client_list() if "P" in c["flags"] or int(c["sub"]) or int(c["psub"])
    )


async def test_start_subscribes_declared_namespaces_on_one_connection(fresh_redis, probe):
    mgr = AsyncRedisAdapter(fresh_redis.url)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    sio.on("connect", lambda sid, environ: None, namespace="/chat")
    await mgr.start()
    assert mgr.namespaces == {"/", "/chat"}
    assert await numsub(probe, "/") == 1
    assert await numsub(probe, "/chat") == 1
    assert await probe.pubsub_numpat() == 2
    for channel in ("socket.io-response#/#", f"socket.io-response#/#{mgr.uid}#"):
        assert (await probe.pubsub_numsub(channel))[0][1] == 1
    assert await pubsub_connections(probe) == 1
    await mgr.start()  # idempotent: nothing subscribed twice
    assert await numsub(probe, "/") == 1
    await mgr.aclose()
    await eventually(lambda: no_subscriptions(probe))


async def test_dynamic_namespace_is_subscribed_on_first_connect(fresh_redis, probe):
    a = await start_server(fresh_redis.url, kind="asgi")
    a.sio.namespaces = "*"
    b = await start_server(fresh_redis.url, kind="aiohttp")
    client = RecordingClient()
    try:
        assert await numsub(probe, "/dyn") == 0
        await client.connect(a.url, namespaces=["/dyn"])
        assert await numsub(probe, "/dyn") == 1
        await b.sio.emit("hello-dyn", 1, namespace="/dyn")
        await eventually(lambda: client.events("hello-dyn", "/dyn") == [(1,)])
    finally:
        await client.close()
        await a.stop()
        await b.stop()


async def test_first_connection_subscribes_without_start(fresh_redis, probe):
    server = await start_server(fresh_redis.url, start_adapter=False)
    client = RecordingClient()
    try:
        assert await numsub(probe, "/") == 0
        await client.connect(server.url)
        await eventually(lambda: server.mgr.namespaces == {"/"})
        assert await numsub(probe, "/") == 1
    finally:
        await client.close()
        await server.stop()


async def test_aclose_is_idempotent_and_closed_adapter_refuses_work(fresh_redis):
    mgr = AsyncRedisAdapter(fresh_redis.url)
    socketio.AsyncServer(client_manager=mgr)
    async with mgr:
        assert mgr.namespaces == {"/"}
    await mgr.aclose()
    with pytest.raises(AdapterClosedError):
        await mgr.start()
    with pytest.raises(AdapterClosedError):
        await mgr.emit("late", 1)


async def test_caller_owned_clients_stay_open(fresh_redis):
    pub = aioredis.Redis.from_url(fresh_redis.url)
    sub = aioredis.Redis.from_url(fresh_redis.url)
    mgr = AsyncRedisAdapter(pub_client=pub, sub_client=sub)
    assert mgr.pub_client is pub and mgr.sub_client is sub
    socketio.AsyncServer(client_manager=mgr)
    await mgr.start()
    await mgr.aclose()
    assert await pub.ping() and await sub.ping()
    await pub.aclose()
    await sub.aclose()


async def test_aiohttp_startup_and_cleanup_hooks(fresh_redis, probe):
    mgr = AsyncRedisAdapter(fresh_redis.url)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)
    app = web.Application()
    sio.attach(app)

    async def on_startup(app: web.Application) -> None:
        await mgr.start()

    async def on_cleanup(app: web.Application) -> None:
        await mgr.aclose()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    runner = web.AppRunner(app)
    await runner.setup()  # runs on_startup
    assert await numsub(probe, "/") == 1
    await runner.cleanup()  # runs on_cleanup
    await eventually(lambda: no_subscriptions(probe))


async def test_asgi_lifespan_hooks(fresh_redis, probe):
    mgr = AsyncRedisAdapter(fresh_redis.url)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    app = socketio.ASGIApp(sio, on_startup=mgr.start, on_shutdown=mgr.aclose)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    assert await numsub(probe, "/") == 1
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    await eventually(lambda: no_subscriptions(probe))
