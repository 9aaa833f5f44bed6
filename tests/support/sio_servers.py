"""Real python-socketio servers (Uvicorn ASGI or aiohttp) and clients, in the test's loop.

Each server gets its own adapter (``AsyncRedisAdapter`` unless the test passes another);
clients are real ``socketio.AsyncClient``s over websockets that record every event they
receive, so tests assert on what crossed the network, not on internal calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
import uvicorn
from aiohttp import web

from socketio_redis_async import AsyncRedisAdapter
from socketio_redis_async.core import AdapterCore

from .redis_procs import free_port

__all__ = [
    "RecordingClient",
    "SioServer",
    "connect_recording_client",
    "eventually",
    "start_server",
]


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns a truthy value (or its assertion stops failing).

    ``check`` may be a coroutine function, for conditions read from Redis.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            error: BaseException | None = None
        except AssertionError as exc:
            error = exc
        if time.monotonic() > deadline:
            if error is not None:
                raise error
            raise AssertionError(f"condition still false after {timeout}s: {check}")
        await asyncio.sleep(interval)


@dataclass
class SioServer:
    """A running server: its ``sio``, its adapter ``mgr`` and its URL."""

    sio: socketio.AsyncServer
    mgr: Any  # AsyncRedisAdapter, or the adapter the test passed
    url: str
    kind: str
    _stop: Callable[[], Any] = field(repr=False)

    async def stop(self) -> None:
        await self._stop()


def _install_handlers(sio: socketio.AsyncServer, namespaces: list[str]) -> None:
    """Rooms are joined by the client asking; ``whoami`` answers the sid (for tests)."""
    for nsp in namespaces:

        async def connect(sid: str, environ: dict[str, Any], auth: Any, nsp: str = nsp) -> None:
            if isinstance(auth, dict) and "data" in auth:
                await sio.save_session(sid, auth["data"], namespace=nsp)

        async def join(sid: str, room: Any, nsp: str = nsp) -> str:
            await sio.enter_room(sid, room, namespace=nsp)
            return "joined"

        async def leave(sid: str, room: Any, nsp: str = nsp) -> str:
            await sio.leave_room(sid, room, namespace=nsp)
            return "left"

        sio.on("connect", connect, namespace=nsp)
        sio.on("join", join, namespace=nsp)
        sio.on("leave", leave, namespace=nsp)


async def start_server(
    redis_url: str,
    *,
    kind: str = "asgi",
    namespaces: list[str] | None = None,
    start_adapter: bool = True,
    manager: AdapterCore | None = None,
    **adapter_options: Any,
) -> SioServer:
    """Start a python-socketio server with the adapter on a free port; ``kind`` asgi|aiohttp.

    ``manager`` is a ready adapter of another kind (sharded, streams); by default the server
    gets ``AsyncRedisAdapter(redis_url, **adapter_options)``.
    """
    namespaces = namespaces or ["/"]
    mgr = manager if manager is not None else AsyncRedisAdapter(redis_url, **adapter_options)
    port = free_port()
    if kind == "asgi":
        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
        _install_handlers(sio, namespaces)
        config = uvicorn.Config(
            socketio.ASGIApp(sio),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

        async def stop() -> None:
            await mgr.aclose()
            server.should_exit = True
            await asyncio.wait([task], timeout=5)

    elif kind == "aiohttp":
        sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)
        _install_handlers(sio, namespaces)
        app = web.Application()
        sio.attach(app)
        # shutdown_timeout: clients still connected at stop must not hold it for a minute
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        async def stop() -> None:
            await mgr.aclose()
            await runner.cleanup()

    else:
        raise ValueError(f"unknown server kind {kind!r}")
    if start_adapter:
        await mgr.start()
    return SioServer(sio=sio, mgr=mgr, url=f"http://127.0.0.1:{port}", kind=kind, _stop=stop)


class RecordingClient:
    """A ``socketio.AsyncClient`` that records ``(namespace, event, args)`` it receives."""

    def __init__(self, *, ack_reply: Any = None) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, str, tuple[Any, ...]]] = []
        self.ack_reply = ack_reply

        @self.client.on("*", namespace="*")
        async def any_event(event: str, namespace: str, *args: Any) -> Any:
            self.received.append((namespace, event, args))
            return self.ack_reply

    async def connect(self, url: str, namespaces: list[str] | None = None, auth: Any = None) -> str:
        await self.client.connect(
            url,
            transports=["websocket"],
            namespaces=namespaces or ["/"],
            auth=auth,
            wait_timeout=5,
        )
        return self.sid(namespaces[0] if namespaces else "/")

    def sid(self, namespace: str = "/") -> str:
        sid = self.client.get_sid(namespace)
        assert sid is not None
        return sid

    async def join(self, room: Any, namespace: str = "/") -> None:
        assert await self.client.call("join", room, namespace=namespace, timeout=5) == "joined"

    async def leave(self, room: Any, namespace: str = "/") -> None:
        assert await self.client.call("leave", room, namespace=namespace, timeout=5) == "left"

    def events(self, event: str | None = None, namespace: str = "/") -> list[tuple[Any, ...]]:
        return [
            args
            for ns, ev, args in self.received
            if ns == namespace and (event is None or ev == event)
        ]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


async def connect_recording_client(
    clients: list[RecordingClient],
    server: SioServer,
    namespaces: list[str] | None = None,
    **kw: Any,
) -> RecordingClient:
    client = RecordingClient(**kw)
    clients.append(client)
    await client.connect(server.url, namespaces=namespaces)
    return client
