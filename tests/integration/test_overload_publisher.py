"""Issue 12: the app emits at 10k/s while Redis answers slowly (``DEBUG SLEEP`` in a loop) or
not at all (``CLIENT PAUSE WRITE``). The publish queue stays bounded, what does not fit is
dropped and counted, ``strict=True`` raises :class:`PublishError` instead of waiting, and
the event loop never blocks. Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from support.redis_procs import RedisServer
from support.sio_servers import start_server

from socketio_redis_async import PublishError

RATE = 10_000  # emits per second


@pytest.fixture
def debug_redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--enable-debug-command", "yes"]) as server:
        yield server


class Probe:
    """Samples the loop's lag (a 5 ms sleep that overran) and the publish queue's length."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher
        self.max_lag = 0.0
        self.max_queue = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.005)
            self.max_lag = max(self.max_lag, time.monotonic() - start - 0.005)
            self.max_queue = max(self.max_queue, len(self.publisher._queue))

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def emit_at_rate(sio: Any, seconds: float, rate: int = RATE) -> int:
    """``sio.emit`` from one task at ``rate`` per second for ``seconds``; returns the count."""
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        for _ in range(int(elapsed * rate) - sent):
            await sio.emit("tick", sent)
            sent += 1
        await asyncio.sleep(0.001)
    return sent


async def keep_redis_busy(client: aioredis.Redis, sleep: float) -> None:
    while True:
        await client.execute_command("DEBUG", "SLEEP", sleep)


async def test_slow_and_paused_redis_bound_the_queue_and_never_block(debug_redis):
    server = await start_server(debug_redis.url)
    admin = aioredis.Redis.from_url(debug_redis.url)
    publisher = server.mgr._publisher
    high_water = publisher._high_water
    try:
        # 1. Redis answers every 200 ms: batches grow, nothing is lost.
        probe = Probe(publisher)
        busy = asyncio.create_task(keep_redis_busy(admin, 0.2))
        slow_sent = await emit_at_rate(server.sio, 2.0)
        busy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy
        await server.mgr.flush()
        await probe.stop()
        slow = dict(server.mgr.stats()), probe.max_queue, probe.max_lag
        assert slow[0]["publish_failures"] == 0 and slow[0]["published"] == slow_sent
        # 2. Redis takes no writes for 2.5 s: the queue fills to its bound, the rest drops.
        probe = Probe(publisher)
        await admin.execute_command("CLIENT", "PAUSE", 2500, "WRITE")
        paused_sent = await emit_at_rate(server.sio, 2.0)
        await server.mgr.flush()
        await probe.stop()
        paused = server.mgr.stats()
    finally:
        await server.stop()
        await admin.aclose()
    dropped = paused["publish_failures"]
    print(
        f"\nDEBUG SLEEP 0.2 loop, {RATE}/s for 2 s: sent {slow_sent}, published "
        f"{slow[0]['published']}, dropped 0, queue max {slow[1]}, loop lag max "
        f"{slow[2] * 1000:.1f} ms\nCLIENT PAUSE 2500 WRITE, {RATE}/s for 2 s: sent "
        f"{paused_sent}, published {paused['published'] - slow[0]['published']}, dropped "
        f"{dropped}, queue max {probe.max_queue} (high_water {high_water}), loop lag max "
        f"{probe.max_lag * 1000:.1f} ms"
    )
    assert probe.max_queue <= high_water
    assert dropped > 0  # counted, not queued without bound
    assert paused["published"] + dropped == slow_sent + paused_sent  # every emit accounted for
    assert max(slow[2], probe.max_lag) < 0.1  # the loop never stalled on Redis


async def test_strict_emits_raise_instead_of_waiting_when_redis_stalls(fresh_redis):
    server = await start_server(fresh_redis.url, strict=True)
    admin = aioredis.Redis.from_url(fresh_redis.url)
    probe = Probe(server.mgr._publisher)
    outcomes: list[tuple[str, float]] = []

    async def one_emit(i: int) -> None:  # e.g. one per request handler
        start = time.monotonic()
        try:
            await server.sio.emit("tick", i)
            outcomes.append(("ok", time.monotonic() - start))
        except PublishError:
            outcomes.append(("raised", time.monotonic() - start))

    try:
        await admin.execute_command("CLIENT", "PAUSE", 2500, "WRITE")
        tasks = []
        start = time.monotonic()
        while time.monotonic() - start < 2.0:  # 10k/s, each emit its own task
            tasks.extend(asyncio.create_task(one_emit(len(tasks))) for _ in range(10))
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        await probe.stop()
    finally:
        await server.stop()
        await admin.aclose()
    raised = [t for kind, t in outcomes if kind == "raised"]
    waited = [t for kind, t in outcomes if kind == "ok"]
    print(
        f"\nstrict=True, CLIENT PAUSE 2500 WRITE, {len(outcomes)} concurrent emits: "
        f"{len(waited)} waited for Redis (longest {max(waited):.2f} s), {len(raised)} raised "
        f"PublishError (slowest raise {max(raised) * 1000:.1f} ms); queue max "
        f"{probe.max_queue}; loop lag max {probe.max_lag * 1000:.1f} ms"
    )
    assert raised and waited
    assert max(raised) < 1.5  # refused at once once the queue is full and Redis stalled
    assert server.mgr.stats()["publish_failures"] == len(raised)
    # The worst lag is the moment Redis takes writes again and ~10,000 waiting app tasks
    # resume in one loop iteration; the adapter's own steps stay in the tens of ms.
    assert probe.max_lag < 0.3
