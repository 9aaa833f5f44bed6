"""``max_client_queue``: option validation, and the python-engineio internals it reads.

The internals tests use the installed python-engineio for real (a server and its sockets,
no network): if a release moves or changes the per-socket queue, they fail here loudly
instead of the limit silently reading something else.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import engineio
import pytest
import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from socketio_redis_async import AsyncRedisAdapter
from socketio_redis_async.local import send_packets
from socketio_redis_async.metrics import Counters
from socketio_redis_async.options import check_common_options
from socketio_redis_async.slow_clients import (
    DEFAULT_MAX_CLIENT_QUEUE,
    VERIFIED_ENGINEIO,
    ClientQueueLimit,
    engineio_version,
)

COMMON: dict[str, Any] = {
    "requests_timeout": 5,
    "logger": None,
    "on_error": None,
    "max_message_size": 1 << 20,
    "strict": False,
    "health_check_interval": 10,
}


def test_default_and_disabled_values() -> None:
    assert check_common_options(**COMMON).max_client_queue == DEFAULT_MAX_CLIENT_QUEUE
    assert check_common_options(**COMMON, max_client_queue=None).max_client_queue == 0
    assert check_common_options(**COMMON, max_client_queue=0).max_client_queue == 0
    assert check_common_options(**COMMON, max_client_queue=50).max_client_queue == 50


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("9", TypeError)]
)
def test_invalid_values_name_the_option(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_client_queue"):
        check_common_options(**COMMON, max_client_queue=value)


async def test_adapter_without_limit_has_none() -> None:
    mgr = AsyncRedisAdapter("redis://127.0.0.1:1/0", max_client_queue=None)
    try:
        assert mgr._queue_limit is None
        assert mgr.stats()["slow_clients_disconnected"] == 0
    finally:
        await mgr.aclose()


# --- python-engineio internals -----------------------------------------------------------


def test_installed_engineio_is_a_verified_version() -> None:
    found = engineio_version()
    assert found is not None
    low, high = VERIFIED_ENGINEIO
    assert low <= found[:2] < high, (
        f"python-engineio {found} is outside the versions whose socket queue was checked "
        f"({low} to below {high}): read its AsyncSocket again, then widen VERIFIED_ENGINEIO"
    )


def _server_with_socket() -> tuple[socketio.AsyncServer, AsyncSocket]:
    sio = socketio.AsyncServer(async_mode="asgi")
    sock = AsyncSocket(sio.eio, "eio-sid-1")
    sio.eio.sockets["eio-sid-1"] = sock
    return sio, sock


async def test_send_puts_on_an_asyncio_queue_of_the_socket() -> None:
    sio, sock = _server_with_socket()
    assert isinstance(sock.queue, asyncio.Queue)
    await sio._send_eio_packet("eio-sid-1", eio_packet.Packet(eio_packet.MESSAGE, "2[1]"))
    await sio._send_eio_packet("eio-sid-1", eio_packet.Packet(eio_packet.MESSAGE, "2[2]"))
    assert sock.queue.qsize() == 2
    assert sock.queue.get_nowait().data == "2[1]"


def test_close_takes_the_arguments_used() -> None:
    params = inspect.signature(AsyncSocket.close).parameters
    assert {"wait", "abort", "reason"} <= set(params)
    assert engineio.AsyncServer.reason.SERVER_DISCONNECT


def _limit(limit: int, counters: Counters, spawned: list[Any]) -> ClientQueueLimit:
    def spawn(coro: Any) -> None:
        spawned.append(asyncio.ensure_future(coro))

    return ClientQueueLimit(limit, logger=logging.getLogger("test"), counters=counters, spawn=spawn)


async def test_a_socket_over_the_limit_gets_nothing_more_and_is_closed() -> None:
    sio, sock = _server_with_socket()
    disconnected: list[str] = []
    sio.eio.on("disconnect", lambda sid, reason: disconnected.append(reason))
    counters, spawned = Counters(), list[Any]()
    limit = _limit(3, counters, spawned)
    packets = [eio_packet.Packet(eio_packet.MESSAGE, "2[0]")]
    targets = [("sid-1", "eio-sid-1")]
    for _ in range(6):
        await send_packets(sio, packets, targets, limit)
    assert sock.queue.qsize() == 4  # 3 is not over the limit, 4 is: nothing after that
    assert counters.slow_clients_disconnected == 1  # once, though two sends were refused
    await asyncio.gather(*spawned)
    assert sock.closed and "eio-sid-1" not in sio.eio.sockets
    assert disconnected == [sio.eio.reason.SERVER_DISCONNECT]
    assert sock.queue.get_nowait() is None  # packets freed; the writer's stop signal left


async def test_unknown_engineio_version_turns_the_limit_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        "socketio_redis_async.slow_clients.engineio_version", lambda: VERIFIED_ENGINEIO[1]
    )
    sio, sock = _server_with_socket()
    counters, spawned = Counters(), list[Any]()
    limit = _limit(1, counters, spawned)
    packets = [eio_packet.Packet(eio_packet.MESSAGE, "2[0]")]
    for _ in range(5):
        await send_packets(sio, packets, [("sid-1", "eio-sid-1")], limit)
    assert sock.queue.qsize() == 5 and not spawned  # the plain path
    assert [r.message for r in caplog.records].count(
        "max_client_queue is off: python-engineio 4.16 is not a version whose socket queues "
        "this adapter knows (4.11 to below 4.16)"
    ) == 1
