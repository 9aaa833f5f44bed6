"""Issue 12: a server that reads Pub/Sub more slowly than others publish is dropped by Redis at
``client-output-buffer-limit pubsub``; the adapter says so in one line, counts it, comes
back, and serves its own clients throughout. Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from support.sio_servers import RecordingClient, eventually, start_server

from socketio_redis_async import AsyncEmitter, AsyncRedisStreamsAdapter

LIMIT = "pubsub 1mb 256kb 5"
PAYLOAD = "x" * 2000
BURST = 6000  # 12 MB: far beyond what the socket buffers and the 1 MB limit hold


def slow_down(mgr: Any, delay: float) -> dict[str, bool]:
    """Make the server's delivery of remote broadcasts take ``delay`` s each (an awaiting
    consumer: its event loop stays free for everything else) while ``switch["slow"]``."""
    switch = {"slow": True}
    deliver = mgr._deliver_broadcast

    async def slow_deliver(*args: Any, **kwargs: Any) -> None:
        if switch["slow"]:
            await asyncio.sleep(delay)
        await deliver(*args, **kwargs)

    mgr._deliver_broadcast = slow_deliver
    return switch


async def watch_pubsub_clients(client: aioredis.Redis, seen: list[tuple[float, int]]) -> None:
    while True:
        clients = await client.client_list(_type="pubsub")
        seen.append((time.monotonic(), len(clients)))
        await asyncio.sleep(0.01)


async def test_output_buffer_limit_is_named_counted_and_survived(fresh_redis, caplog):
    caplog.set_level(logging.INFO, logger="socketio_redis_async")
    admin = aioredis.Redis.from_url(fresh_redis.url)
    await admin.config_set("client-output-buffer-limit", LIMIT)
    b = await start_server(fresh_redis.url, health_check_interval=0)
    client = RecordingClient()
    local_latency: list[float] = []
    await client.connect(b.url)
    seqs: list[int] = []

    async def on_event(event: str, value: Any, *rest: Any) -> None:
        if event == "local":
            local_latency.append(time.monotonic() - value)
        else:
            seqs.append(value)

    client.client.on("*", on_event)
    emitter = AsyncEmitter(fresh_redis.url)
    switch = slow_down(b.mgr, 0.001)
    seen: list[tuple[float, int]] = []
    watcher = asyncio.create_task(watch_pubsub_clients(admin, seen))

    async def local_ticks() -> None:
        while True:
            await b.sio.emit("local", time.monotonic())
            await asyncio.sleep(0.05)

    ticker = asyncio.create_task(local_ticks())
    try:
        await eventually(lambda: seen and seen[-1][1] == 1)
        burst_start = time.monotonic()
        for seq in range(BURST):
            await emitter.emit("seq", seq, PAYLOAD)
        await eventually(lambda: b.mgr.stats()["output_buffer_disconnects"] == 1, timeout=30)
        noticed_at = time.monotonic()
        killed_at = next(t for t, n in seen if t > burst_start and n == 0)
        locals_during_backlog = len(local_latency)
        switch["slow"] = False
        # Delivery resumes: a steady stream after the loss gets through.
        seq = BURST
        while not seqs or seqs[-1] < BURST:
            if time.monotonic() - noticed_at > 10:
                raise AssertionError("delivery did not resume within 10 s")
            await emitter.emit("seq", seq, PAYLOAD)
            seq += 1
            await asyncio.sleep(0.005)
        resumed_at = time.monotonic()
    finally:
        ticker.cancel()
        watcher.cancel()
        await emitter.aclose()
        await client.close()
        await b.stop()
        await admin.aclose()

    got = seqs
    assert got == sorted(got) and len(got) == len(set(got))
    lost = BURST - len([s for s in got if s < BURST])
    stats = b.mgr.stats()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    named = [m for m in lines if "client-output-buffer-limit" in m]
    print(
        f"\nburst={BURST} x {len(PAYLOAD)} B, limit {LIMIT!r}: lost {lost}; Redis closed the "
        f"connection {killed_at - burst_start:.2f} s into the burst, the server noticed "
        f"{noticed_at - killed_at:.2f} s later (draining the socket), delivery resumed "
        f"{(resumed_at - noticed_at) * 1000:.0f} ms after that; local emits during the "
        f"backlog {locals_during_backlog}, worst latency {max(local_latency) * 1000:.0f} ms; "
        f"log: {named}"
    )
    assert len(named) == 1, lines  # one line, naming the limit
    assert not [m for m in lines if "connection lost" in m], lines
    assert stats["output_buffer_disconnects"] == 1 and stats["reconnects"] == 1
    assert 0 < lost < BURST
    assert resumed_at - noticed_at < 5
    # The server's own clients were served while it lagged behind Redis.
    assert locals_during_backlog >= 5 and max(local_latency) < 1.0


async def test_client_kill_is_not_blamed_on_the_limit(fresh_redis, caplog):
    """The other side of the verdict: a connection killed by an operator, with no backlog,
    is an ordinary loss."""
    caplog.set_level(logging.INFO, logger="socketio_redis_async")
    b = await start_server(fresh_redis.url, health_check_interval=0)
    try:
        assert await asyncio.to_thread(fresh_redis.client_kill_pubsub) == 1
        await eventually(lambda: b.mgr.stats()["reconnects"] == 1, timeout=10)
    finally:
        await b.stop()
    assert b.mgr.stats()["output_buffer_disconnects"] == 0
    assert [r for r in caplog.records if "connection lost" in r.getMessage()]
    assert not [r for r in caplog.records if "output-buffer" in r.getMessage()]


async def test_streams_adapter_pubsub_side_names_the_limit(fresh_redis, caplog):
    """The streams adapter's Pub/Sub subscriber (requests and answers) is the same reader."""
    caplog.set_level(logging.INFO, logger="socketio_redis_async")
    admin = aioredis.Redis.from_url(fresh_redis.url)
    await admin.config_set("client-output-buffer-limit", LIMIT)
    mgr = AsyncRedisStreamsAdapter(fresh_redis.url)
    b = await start_server(fresh_redis.url, manager=mgr)
    subscriber = mgr._subscriber
    on_message = subscriber._on_message

    async def slow(*args: Any) -> None:
        await asyncio.sleep(0.001)
        await on_message(*args)

    subscriber._on_message = slow
    try:
        channels = await admin.pubsub_channels()
        channel = channels[0]
        pipe = admin.pipeline(transaction=False)
        for _ in range(BURST):
            pipe.publish(channel, b"\x00" * 2000)  # not msgpack: dropped, but read first
        await pipe.execute()
        await eventually(lambda: mgr.stats()["output_buffer_disconnects"] == 1, timeout=30)
        await eventually(lambda: mgr.connected, timeout=10)
    finally:
        await b.stop()
        await admin.aclose()
    assert [r for r in caplog.records if "client-output-buffer-limit" in r.getMessage()]
