"""Issue 11: broadcast frames written straight to idle websocket connections.

Real Uvicorn and aiohttp servers, real python-socketio clients. These tests fail loudly if a
python-engineio or server upgrade silently turns the direct path off (``direct_writes``
stays 0), and check what must hold whichever path a packet takes: every message, in order,
intact, mixed with packets python-engineio sends itself (acks, pings, polling clients).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import socketio
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import direct_writes

KINDS = ["asgi", "aiohttp"]
N = 300


async def _servers(redis_url: str, kind: str, **options: Any) -> tuple[SioServer, SioServer]:
    return (
        await start_server(redis_url, kind=kind, **options),
        await start_server(redis_url, kind=kind, **options),
    )


async def _client(server: SioServer, transports: list[str] | None = None) -> RecordingClient:
    client = RecordingClient()
    await client.client.connect(server.url, transports=transports or ["websocket"], wait_timeout=5)
    return client


def _seqs(client: RecordingClient, event: str = "m") -> list[int]:
    return [args[0] for args in client.events(event)]


@pytest.mark.parametrize("kind", KINDS)
async def test_remote_and_local_broadcasts_are_written_directly_in_order(
    redis_url: str, kind: str
) -> None:
    a, b = await _servers(redis_url, kind)
    clients = [await _client(b) for _ in range(3)]
    try:
        for seq in range(N):
            # from the other server through Redis, and from this server to its own clients
            await a.sio.emit("m", (seq, "x" * (seq % 200), b"\x00\x01" if seq % 50 == 0 else 0))
            await b.sio.emit("local", seq)
        await a.mgr.flush()
        for client in clients:
            await eventually(lambda c=client: len(_seqs(c)) == N and len(_seqs(c, "local")) == N)
            assert _seqs(client) == list(range(N))
            assert _seqs(client, "local") == list(range(N))
            assert all(args[1] == "x" * (args[0] % 200) for args in client.events("m"))
            assert [args[2] for args in client.events("m")][::50] == [b"\x00\x01"] * (N // 50)
        stats = b.mgr.stats()
        # nearly all went direct; a few may have found a writer busy with a ping or an ack
        assert stats["direct_writes"] > 0.9 * 2 * N * len(clients), stats
    finally:
        for client in clients:
            await client.close()
        await a.stop()
        await b.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_acks_and_broadcasts_interleave_in_order(redis_url: str, kind: str) -> None:
    """Acks travel python-engineio's queue; a broadcast right after one must not pass it."""
    server = await start_server(redis_url, kind=kind)
    order: list[str] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("m", lambda seq: order.append(f"m{seq}"))

    @server.sio.on("ask")
    async def ask(sid: str, seq: int) -> int:
        # the ack is queued when this returns; the broadcast is sent first from here
        await server.sio.emit("m", seq)
        return seq

    try:
        await client.connect(server.url, transports=["websocket"], wait_timeout=5)
        for seq in range(100):
            reply = await client.call("ask", seq, timeout=5)
            order.append(f"a{reply}")
        await eventually(lambda: len(order) == 200)
        assert order == [item for seq in range(100) for item in (f"m{seq}", f"a{seq}")]
        assert server.mgr.stats()["direct_writes"] > 0
    finally:
        await client.disconnect()
        await server.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_polling_clients_take_the_plain_path_and_upgrades_keep_order(
    redis_url: str, kind: str
) -> None:
    server = await start_server(redis_url, kind=kind)
    # python-engineio's polling client disconnects once its pending GET returns, which the
    # server holds up to ping_interval + ping_timeout (45 s by default)
    server.sio.eio.ping_interval = server.sio.eio.ping_timeout = 1
    polling = await _client(server, transports=["polling"])
    upgrading = await _client(server, transports=["polling", "websocket"])
    try:
        for seq in range(N):
            await server.sio.emit("m", seq)
            if seq % 8 == 7:
                # python-engineio's client drops a polling response of more than 16 packets
                # (Payload.max_decode_packets); pausing also lets the upgrade happen mid-stream
                await asyncio.sleep(0.02)
        for client in (polling, upgrading):
            await eventually(lambda c=client: len(_seqs(c)) == N)
            assert _seqs(client) == list(range(N))
        assert upgrading.client.transport() == "websocket"
        assert polling.client.transport() == "polling"
        assert server.mgr.stats()["direct_writes"] > 0  # the upgraded client's
    finally:
        await polling.close()
        await upgrading.close()
        await server.stop()


async def test_direct_writes_false_keeps_python_engineio_s_path(redis_url: str) -> None:
    server = await start_server(redis_url, direct_writes=False)
    await _fifty_broadcasts_on_the_plain_path(server)
    assert server.mgr._direct is None


async def test_an_unverified_python_engineio_keeps_the_plain_path(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(direct_writes, "engineio_version", lambda: (4, 99, 0))
    caplog.set_level(logging.INFO, logger="socketio_redis_async")
    server = await start_server(redis_url)
    await _fifty_broadcasts_on_the_plain_path(server)
    assert "python-engineio 4.99.0 is not supported" in caplog.text


async def _fifty_broadcasts_on_the_plain_path(server: SioServer) -> None:
    """A client gets 50 broadcasts in order, none written directly; the server is stopped."""
    client = await _client(server)
    try:
        for seq in range(50):
            await server.sio.emit("m", seq)
        await eventually(lambda: _seqs(client) == list(range(50)))
        assert server.mgr.stats()["direct_writes"] == 0
    finally:
        await client.close()
        await server.stop()
