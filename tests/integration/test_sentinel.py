"""Issue 9: the adapter and both emitters on a Redis Sentinel deployment (one master, one
replica, three sentinels, all real processes on loopback), through real failovers: the
master SIGKILLed, or handed over with ``SENTINEL FAILOVER`` while it keeps running.

Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio
from support.redis_procs import RedisSentinelSetup, free_port
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncEmitter, AsyncRedisAdapter, ConnectionFailedError, Emitter

TRIALS = 5
DOWN_AFTER_MS = 1000
CLIENT_NAME = "sio-sentinel-test"  # CLIENT LIST shows which connections are ours
SYNC_CLIENT_NAME = "sio-sentinel-test-sync"


def sentinel_url(setup: RedisSentinelSetup, credentials: str = "") -> str:
    hosts = ",".join(f"{host}:{port}" for host, port in setup.sentinel_addresses())
    return f"redis+sentinel://{credentials}{hosts}/{setup.service_name}"


class Announcements:
    """``+switch-master`` as the sentinels publish it, with the time each one arrived."""

    def __init__(self, setup: RedisSentinelSetup) -> None:
        self._setup = setup
        self.events: list[tuple[float, tuple[str, int]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: list[aioredis.Redis] = []

    async def __aenter__(self) -> Announcements:
        for host, port in self._setup.sentinel_addresses():
            client = aioredis.Redis(host=host, port=port, password=self._setup.sentinel_password)
            self._clients.append(client)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe("+switch-master")
            self._tasks.append(asyncio.create_task(self._listen(pubsub)))
        return self

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                name, _, _, host, port = message["data"].decode().split()
                if name == self._setup.service_name:
                    self.events.append((time.monotonic(), (host, int(port))))
        finally:
            await pubsub.aclose()

    async def switch_from(
        self, old_port: int, since: float, timeout: float = 15
    ) -> tuple[float, int]:
        """When a sentinel first announced, after ``since``, a master other than
        ``old_port``; and that master's port."""

        def announced() -> tuple[float, int] | None:
            moves = [
                (t, address[1])
                for t, address in self.events
                if t > since and address[1] != old_port
            ]
            return min(moves) if moves else None

        result: tuple[float, int] = await eventually(announced, timeout=timeout, interval=0.005)
        return result

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients:
            await client.aclose()


class Stream:
    """A steady broadcast from ``sio``: ``seq`` every 10 ms, each send time recorded."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.sent: list[tuple[int, float]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        seq = 0
        while True:
            self.sent.append((seq, time.monotonic()))
            await self.sio.emit("seq", seq)
            seq += 1
            await asyncio.sleep(0.01)

    def first_sent_after(self, moment: float) -> int | None:
        return next((seq for seq, at in self.sent if at > moment), None)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Receiver:
    """The ``seq`` events a real client got, with the time each arrived."""

    def __init__(self, client: RecordingClient) -> None:
        self.got: list[tuple[int, float]] = []
        client.client.on("seq", self._on_seq)

    async def _on_seq(self, seq: int) -> None:
        self.got.append((seq, time.monotonic()))

    def first_at_or_after(self, seq: int) -> float | None:
        return next((at for got, at in self.got if got >= seq), None)

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.got]


@pytest.fixture
def sentinel_setup() -> Iterator[RedisSentinelSetup]:
    """The shared setup, with ``down-after-milliseconds`` 1000 instead of 500: on a busy
    2-core machine a promoted master that is slow to answer its first PINGs was sometimes
    failed over again (a second, spurious failover) with 500."""
    with RedisSentinelSetup(down_after_ms=DOWN_AFTER_MS) as setup:
        yield setup


@pytest.fixture
async def started() -> AsyncIterator[Callable[..., Awaitable[SioServer]]]:
    """Start python-socketio servers; all are stopped at teardown."""
    servers: list[SioServer] = []

    async def start(url: str, **kwargs: Any) -> SioServer:
        server = await start_server(url, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_broadcasts_resume_after_five_master_kills(
    sentinel_setup: RedisSentinelSetup, started: Any, client_factory: Any
) -> None:
    url = sentinel_url(sentinel_setup)
    a = await started(url, kind="asgi")
    b = await started(url, kind="aiohttp")
    receiver = Receiver(await client_factory(b))
    stream = Stream(a.sio)
    resume_times: list[float] = []
    detect_times: list[float] = []
    # per outage: the last seq delivered before the kill, and when delivery resumed
    outages: list[tuple[int, float]] = []
    async with Announcements(sentinel_setup) as announcements:
        try:
            await eventually(lambda: len(receiver.got) > 10)
            for _ in range(TRIALS):
                delivered = receiver.seqs[-1]
                killing_at = time.monotonic()
                killed = await asyncio.to_thread(sentinel_setup.kill_master)
                killed_at = time.monotonic()
                announced_at, _ = await announcements.switch_from(killed.port, killing_at)
                # the first message sent after the kill can only travel via the new master
                first_new = await eventually(lambda k=killed_at: stream.first_sent_after(k))
                resumed_at = await eventually(
                    lambda s=first_new: receiver.first_at_or_after(s), timeout=15, interval=0.002
                )
                detect_times.append(announced_at - killed_at)
                resume_times.append(resumed_at - announced_at)
                outages.append((delivered, resumed_at))
                await sentinel_setup.arestart_as_replica(killed)
            await stream.stop()
            await a.sio.emit("seq", -1)
            await eventually(lambda: receiver.seqs[-1:] == [-1])
        finally:
            await stream.stop()

    got = receiver.seqs[:-1]
    assert got == sorted(got), "messages arrived out of order"
    assert len(got) == len(set(got)), "a message arrived twice"
    received = set(got)
    lost = [(seq, at) for seq, at in stream.sent if seq not in received]
    # Lost: only what was sent between the last delivery before a kill (later ones may
    # have been in flight to the dying master) and the resumption. Nothing sent after
    # delivery resumed is lost.
    lost_per_outage = [
        sum(1 for seq, at in lost if seq > delivered and at <= resumed)
        for delivered, resumed in outages
    ]
    print(
        f"\nsentinel failovers={TRIALS}: master kill -> announced "
        f"{', '.join(f'{t * 1000:.0f}' for t in detect_times)} ms; announced -> delivery "
        f"resumed {', '.join(f'{t * 1000:.0f}' for t in resume_times)} ms "
        f"(median {statistics.median(resume_times) * 1000:.0f} ms); lost per outage "
        f"{lost_per_outage} of {len(stream.sent)} sent; reconnects "
        f"A={a.mgr.stats()['reconnects']} B={b.mgr.stats()['reconnects']}"
    )
    assert sum(lost_per_outage) == len(lost), "a message was lost outside an outage"
    assert max(resume_times) < 2.0
    assert b.mgr.stats()["reconnects"] >= TRIALS


async def test_nobody_stays_on_a_master_that_was_handed_over(
    sentinel_setup: RedisSentinelSetup, started: Any, client_factory: Any
) -> None:
    """``SENTINEL FAILOVER`` leaves the old master running, and a master, for seconds: every
    connection of ours must leave it, or publishes would go where nobody listens."""
    url = sentinel_url(sentinel_setup)
    options = {"redis_options": {"client_name": CLIENT_NAME}}
    a = await started(url, **options)
    b = await started(url, kind="aiohttp", **options)
    on_a, on_b = await client_factory(a), await client_factory(b)
    old = sentinel_setup.master()
    emitter = AsyncEmitter(url, **options)
    # The sync emitter runs no watcher: it re-checks the master before reusing a pooled
    # connection, at most once a second. Its connections are told apart by their name.
    sync_emitter = Emitter(url, redis_options={"client_name": SYNC_CLIENT_NAME})
    try:
        await emitter.emit("before", 1)
        await asyncio.to_thread(sync_emitter.emit, "before-sync", 1)
        sync_emitted_at = time.monotonic()
        await eventually(lambda: on_a.events("before") and on_b.events("before-sync"))
        assert len(ours(old)) >= 3  # both subscribers, the publisher and the emitter
        assert len(ours(old, SYNC_CLIENT_NAME)) == 1

        async with Announcements(sentinel_setup) as announcements:
            asked_at = time.monotonic()
            sentinel = sentinel_setup.sentinels[0].client()
            try:
                assert sentinel.sentinel_failover(sentinel_setup.service_name)
            finally:
                sentinel.close()
            announced_at, new_port = await announcements.switch_from(old.port, asked_at)

        # the old master still calls itself master...
        with old.client() as client:
            assert client.execute_command("ROLE")[0] == b"master"
        # ...yet none of our connections is left on it, well before Sentinel demotes it
        await eventually(lambda: not ours(old), timeout=3)
        left_after = time.monotonic() - announced_at
        with old.client() as client:
            assert client.execute_command("ROLE")[0] == b"master", "demoted before we left"

        new = server_at(sentinel_setup, new_port)
        await eventually(lambda: subscribers(new) == 2)  # both servers resubscribed there
        await a.sio.emit("from-a", 1)
        await b.sio.emit("from-b", 1)
        await emitter.emit("from-emitter", 1)
        await eventually(lambda: on_b.events("from-a") and on_a.events("from-b"))
        await eventually(lambda: on_a.events("from-emitter") and on_b.events("from-emitter"))
        # both subscribers, both publishers and the emitter are on the new master
        assert len(ours(new)) >= 5

        await asyncio.sleep(max(0.0, sync_emitted_at + 1.05 - time.monotonic()))
        await asyncio.to_thread(sync_emitter.emit, "from-sync", 1)
        await eventually(lambda: on_a.events("from-sync") and on_b.events("from-sync"))
        assert not ours(old, SYNC_CLIENT_NAME)
    finally:
        await emitter.aclose()
        sync_emitter.close()
    print(
        f"\nSENTINEL FAILOVER: all our connections left the old master {left_after * 1000:.0f} ms "
        "after the announcement (the old master still a master)"
    )


def ours(server: Any, name: str = CLIENT_NAME) -> list[dict[str, Any]]:
    with server.client() as client:
        return [c for c in client.client_list() if c.get("name") == name]


def subscribers(server: Any) -> int:
    """Servers subscribed on ``server`` (each adapter subscribes the request channel once)."""
    with server.client() as client:
        return int(dict(client.pubsub_numsub("socket.io-request#/#"))[b"socket.io-request#/#"])


def server_at(setup: RedisSentinelSetup, port: int) -> Any:
    return next(server for server in setup.servers if server.port == port)


async def test_emitters_reach_clients_after_a_failover(
    sentinel_setup: RedisSentinelSetup, started: Any, client_factory: Any
) -> None:
    url = sentinel_url(sentinel_setup)
    a = await started(url)
    client = await client_factory(a)
    async_emitter = AsyncEmitter(url)
    sync_emitter = Emitter(
        sentinels=sentinel_setup.sentinel_addresses(), service_name=sentinel_setup.service_name
    )
    try:
        await async_emitter.to(client.sid()).emit("async", 1)
        await asyncio.to_thread(sync_emitter.emit, "sync", 1)
        await eventually(lambda: client.events("async") == [(1,)] and client.events("sync"))

        async with Announcements(sentinel_setup) as announcements:
            killing_at = time.monotonic()
            killed = await asyncio.to_thread(sentinel_setup.kill_master)
            announced_at, _ = await announcements.switch_from(killed.port, killing_at)
        await eventually(lambda: a.mgr.connected, timeout=10)  # the server's own resumption
        started_at = time.monotonic()
        await async_emitter.to(client.sid()).emit("async", 2)
        await asyncio.to_thread(sync_emitter.emit, "sync", 2)
        await eventually(lambda: client.events("async")[-1:] == [(2,)])
        await eventually(lambda: client.events("sync")[-1:] == [(2,)])
        took = time.monotonic() - started_at
    finally:
        await async_emitter.aclose()
        sync_emitter.close()
    print(
        f"\nemitters after a failover: both delivered {took * 1000:.0f} ms after the server "
        f"resumed ({(started_at - announced_at) * 1000:.0f} ms after the announcement)"
    )


MASTER_PW, SENTINEL_PW = "m@ster pass", "sentinel-pass"


@pytest.fixture
def protected_sentinel() -> Iterator[RedisSentinelSetup]:
    """Master and replica with ``requirepass``, and Sentinels with a password of their own."""
    with RedisSentinelSetup(
        password=MASTER_PW, sentinel_password=SENTINEL_PW, down_after_ms=DOWN_AFTER_MS
    ) as setup:
        yield setup


async def test_password_protected_master_and_sentinels(
    protected_sentinel: RedisSentinelSetup, started: Any, client_factory: Any
) -> None:
    setup = protected_sentinel
    quoted = "m%40ster%20pass"
    url = sentinel_url(setup, credentials=f":{quoted}@")
    sentinel_options = {"password": SENTINEL_PW}
    a = await started(url, sentinel_options=sentinel_options)
    b = await started(
        sentinel_url(setup),
        kind="aiohttp",
        redis_options={"password": MASTER_PW},
        sentinel_options=sentinel_options,
    )
    on_b = await client_factory(b)
    await a.sio.emit("secret", 1)
    await eventually(lambda: on_b.events("secret") == [(1,)])
    emitter = Emitter(url, sentinel_options=sentinel_options)
    try:
        await asyncio.to_thread(emitter.emit, "from-sync", 2)
    finally:
        emitter.close()
    await eventually(lambda: on_b.events("from-sync") == [(2,)])

    # the wrong master password, and a missing Sentinel password, fail start() clearly
    cases = [
        (sentinel_url(setup, ":wr0ng-pw@"), sentinel_options, "Redis authentication failed"),
        (url, None, "127.0.0.1:"),
    ]
    for bad_url, bad_options, expected in cases:
        adapter = AsyncRedisAdapter(bad_url, sentinel_options=bad_options)
        try:
            with pytest.raises(ConnectionFailedError) as info:
                await adapter.start()
        finally:
            await adapter.aclose()
        message = str(info.value)
        assert expected in message, message
        for secret in (MASTER_PW, quoted, SENTINEL_PW, "wr0ng-pw"):
            assert secret not in message
    assert "Authentication required" in message  # what the Sentinels said, once per reason


async def test_unknown_service_fails_start_clearly(redis_sentinel: RedisSentinelSetup) -> None:
    adapter = AsyncRedisAdapter(
        sentinels=redis_sentinel.sentinel_addresses(), service_name="no-such-service"
    )
    try:
        started_at = time.monotonic()
        with pytest.raises(ConnectionFailedError) as info:
            await adapter.start()
        assert time.monotonic() - started_at < 2  # no waiting for a failover that never comes
    finally:
        await adapter.aclose()
    message = str(info.value)
    assert "no Sentinel knows a master named 'no-such-service'" in message
    assert "/no-such-service/0" in message  # the deployment it tried, as a URL


async def test_no_sentinel_answering_fails_start_clearly() -> None:
    ports = [free_port(), free_port()]  # nothing listens there
    secret = "s3cret"
    adapter = AsyncRedisAdapter(
        f"redis+sentinel://:{secret}@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/mymaster"
    )
    try:
        with pytest.raises(ConnectionFailedError) as info:
            await adapter.start()
    finally:
        await adapter.aclose()
    message = str(info.value)
    assert "no Sentinel could be asked about 'mymaster'" in message
    assert f"127.0.0.1:{ports[0]}" in message and f"127.0.0.1:{ports[1]}" in message
    assert secret not in message
