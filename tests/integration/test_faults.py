"""Issue 5: outages survived. Redis restarted, the subscriber killed, Redis paused; emits never
raise or hang because of Redis, local clients keep being served, requests end at their
deadline, and delivery resumes on its own. Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time

import pytest
import socketio
from support.sio_servers import RecordingClient, eventually, start_server

from socketio_redis_async import PublishError, RequestTimeoutError


async def wait_connected(*servers, timeout: float = 15.0) -> None:
    await eventually(lambda: all(s.mgr.connected for s in servers), timeout=timeout)


class Stream:
    """A steady broadcast stream from A: ``seq`` every ``period`` seconds."""

    def __init__(self, sio: socketio.AsyncServer, period: float = 0.01) -> None:
        self.sio = sio
        self.period = period
        self.sent: list[tuple[int, float]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        seq = 0
        while True:
            await self.sio.emit("seq", seq)
            self.sent.append((seq, time.monotonic()))
            seq += 1
            await asyncio.sleep(self.period)

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def received_seqs(client: RecordingClient) -> list[int]:
    return [args[0] for args in client.events("seq")]


async def test_redis_restarted_ten_times_under_a_broadcast_stream(fresh_redis, client_factory):
    a = await start_server(fresh_redis.url, kind="asgi", health_check_interval=1)
    b = await start_server(fresh_redis.url, kind="aiohttp", health_check_interval=1)
    on_b = await client_factory(b)
    stream = Stream(a.sio)
    resume_times: list[float] = []
    lost_per_outage: list[int] = []
    try:
        await eventually(lambda: len(received_seqs(on_b)) > 20)
        for _ in range(10):
            before = len(stream.sent)
            await asyncio.to_thread(fresh_redis.restart)
            up_at = time.monotonic()
            last_sent_while_down = stream.sent[-1][0]
            await eventually(lambda s=last_sent_while_down: received_seqs(on_b)[-1] > s, timeout=15)
            resume_times.append(time.monotonic() - up_at)
            first_after = next(seq for seq in received_seqs(on_b) if seq > last_sent_while_down)
            window = set(range(stream.sent[before - 1][0] + 1, first_after))
            lost_per_outage.append(len(window - set(received_seqs(on_b))))
            await asyncio.sleep(0.3)  # a stretch of normal traffic between outages
        await stream.stop()
        await a.sio.emit("seq", -1)
        await eventually(lambda: received_seqs(on_b)[-1] == -1)
    finally:
        if not stream.task.done():
            await stream.stop()
        await a.stop()
        await b.stop()

    got = received_seqs(on_b)[:-1]
    assert got == sorted(got), "messages arrived out of order"
    assert len(got) == len(set(got)), "a message arrived twice"
    # Nothing published once delivery resumed is lost: every gap lies inside an outage.
    sent = [seq for seq, _ in stream.sent]
    missing = set(sent) - set(got)
    assert len(missing) == sum(lost_per_outage)
    print(
        f"\nrestarts=10 resume median={statistics.median(resume_times) * 1000:.0f} ms "
        f"worst={max(resume_times) * 1000:.0f} ms; lost per outage={lost_per_outage} "
        f"(of {len(sent)} sent); reconnects A={a.mgr.stats()['reconnects']} "
        f"B={b.mgr.stats()['reconnects']}"
    )
    assert b.mgr.stats()["reconnects"] >= 10
    assert max(resume_times) < 10


async def test_killed_subscriber_connection_logs_once_and_recovers(
    fresh_redis, client_factory, caplog
):
    caplog.set_level(logging.INFO, logger="socketio_redis_async")
    a = await start_server(fresh_redis.url)
    b = await start_server(fresh_redis.url)
    on_b = await client_factory(b)
    try:
        killed = await asyncio.to_thread(fresh_redis.client_kill_pubsub)
        assert killed == 2
        await wait_connected(a, b)
        await eventually(lambda: b.mgr.stats()["reconnects"] == 1)
        await a.sio.emit("after-kill", 1)
        await eventually(lambda: on_b.events("after-kill") == [(1,)])
        lost = [r for r in caplog.records if "connection lost" in r.message]
        back = [r for r in caplog.records if "reconnected" in r.message]
        assert len(lost) == 2 and len(back) == 2  # one line each, per server
    finally:
        await a.stop()
        await b.stop()


async def test_paused_redis_never_blocks_the_loop(fresh_redis, client_factory):
    errors: list[BaseException] = []
    a = await start_server(
        fresh_redis.url, requests_timeout=1, health_check_interval=1, on_error=errors.append
    )
    b = await start_server(fresh_redis.url, requests_timeout=1, health_check_interval=1)
    on_a, on_b = await client_factory(a), await client_factory(b)
    max_lag = 0.0

    async def ticker() -> None:
        nonlocal max_lag
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            max_lag = max(max_lag, time.monotonic() - started - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.to_thread(fresh_redis.pause)
        paused_at = time.monotonic()
        # requests end at their deadline
        with pytest.raises(RequestTimeoutError):
            await asyncio.wait_for(a.mgr.fetch_sockets(), 5)
        # emits neither raise nor hang, and local clients are still served
        for n in range(50):
            started = time.monotonic()
            await a.sio.emit("during-pause", n)
            assert time.monotonic() - started < 1.5
        await eventually(lambda: len(on_a.events("during-pause")) == 50)
        await eventually(lambda: not b.mgr.connected, timeout=5)  # the watchdog noticed
        await asyncio.sleep(max(0.0, 10 - (time.monotonic() - paused_at)))
        await asyncio.to_thread(fresh_redis.resume)
        await wait_connected(a, b)
        await eventually(lambda: _delivered(a, on_b), timeout=15)
        assert len(await a.mgr.fetch_sockets()) == 2
    finally:
        tick.cancel()
        await a.stop()
        await b.stop()
    print(f"\npause=10s max loop lag={max_lag * 1000:.1f} ms; a.stats={a.mgr.stats()}")
    assert max_lag < 0.25
    assert a.mgr.stats()["pending_requests"] == 0
    assert a.mgr.stats()["requests_timed_out"] >= 1


async def _delivered(server, client: RecordingClient) -> bool:
    marker = f"probe-{time.monotonic()}"
    await server.sio.emit(marker)
    await asyncio.sleep(0.2)
    return bool(client.events(marker))


async def test_emit_during_an_outage_reports_and_strict_mode_raises(fresh_redis, client_factory):
    errors: list[BaseException] = []
    relaxed = await start_server(fresh_redis.url, on_error=errors.append)
    strict = await start_server(fresh_redis.url, strict=True)
    local = await client_factory(relaxed)
    try:
        await asyncio.to_thread(fresh_redis.stop)
        await relaxed.sio.emit("while-down", 1)  # does not raise
        await eventually(lambda: local.events("while-down") == [(1,)])
        await relaxed.mgr.flush()
        assert relaxed.mgr.stats()["publish_failures"] >= 1
        assert errors, "on_error was not called"
        with pytest.raises(PublishError):
            await strict.sio.emit("while-down", 2)
        await asyncio.to_thread(fresh_redis.start)
        await strict.sio.emit("back", 3)  # strict mode: returns once Redis took it
        await wait_connected(relaxed, strict)
    finally:
        await relaxed.stop()
        await strict.stop()
