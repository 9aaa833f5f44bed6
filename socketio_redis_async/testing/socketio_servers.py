"""Real python-socketio servers (Uvicorn ASGI or aiohttp) and clients, in the test's loop.

Each server gets its own adapter (``AsyncRedisAdapter`` unless the test passes another);
clients are real ``socketio.AsyncClient``s over websockets that record every event they
receive, so tests assert on what crossed the network, not on internal calls.

Uvicorn and aiohttp are imported only when a server of that kind starts, so loading the
pytest plugin costs nothing for suites that never start one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import socketio

from ..adapter import AsyncRedisAdapter
from ..core import AdapterCore
from ..sharded import AsyncShardedRedisAdapter
from .standalone import HOST, free_port

__all__ = [
    "RecordingClient",
    "SioServer",
    "SioServers",
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
    """A running server: its ``sio``, its adapter ``mgr``, its URL and, when started by
    :class:`SioServers`, the ``clients`` connected to it."""

    sio: socketio.AsyncServer
    mgr: Any  # AsyncRedisAdapter, or the adapter the test passed
    url: str
    kind: str
    _stop: Callable[[], Any] = field(repr=False)
    clients: list[RecordingClient] = field(default_factory=list)

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
        import uvicorn

        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
        _install_handlers(sio, namespaces)
        config = uvicorn.Config(
            socketio.ASGIApp(sio),
            host=HOST,
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
        from aiohttp import web

        sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)
        _install_handlers(sio, namespaces)
        app = web.Application()
        sio.attach(app)
        # shutdown_timeout: clients still connected at stop must not hold it for a minute
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()

        async def stop() -> None:
            await mgr.aclose()
            await runner.cleanup()

    else:
        raise ValueError(f"unknown server kind {kind!r}")
    if start_adapter:
        await mgr.start()
    return SioServer(sio=sio, mgr=mgr, url=f"http://{HOST}:{port}", kind=kind, _stop=stop)


class RecordingClient:
    """A ``socketio.AsyncClient`` that records ``(namespace, event, args)`` it receives."""

    def __init__(self, *, ack_reply: Any = None) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, str, tuple[Any, ...]]] = []
        self.ack_reply = ack_reply
        self.client.on("*", self._record, namespace="*")

    async def _record(self, event: str, namespace: str, *args: Any) -> Any:
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
        sid: str | None = self.client.get_sid(namespace)
        if sid is None:
            raise AssertionError(f"not connected to {namespace}")
        return sid

    async def join(self, room: Any, namespace: str = "/") -> None:
        """Ask the server to put this client in ``room`` (the handler every server has)."""
        await self._ask("join", room, namespace, "joined")

    async def leave(self, room: Any, namespace: str = "/") -> None:
        await self._ask("leave", room, namespace, "left")

    async def _ask(self, event: str, room: Any, namespace: str, expected: str) -> None:
        reply = await self.client.call(event, room, namespace=namespace, timeout=5)
        if reply != expected:
            raise AssertionError(f"{event} {room!r} answered {reply!r}, not {expected!r}")

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


class SioServers:
    """Starts servers that share one adapter channel, with clients connected to each, and
    stops them all at :meth:`aclose` (the ``sio_servers`` fixture does that at teardown).

    ``redis_url`` and ``cluster_url`` are called only when a test starts classic or sharded
    servers without naming a URL, so a private Redis or Cluster boots only if needed.
    """

    def __init__(self, redis_url: Callable[[], str], cluster_url: Callable[[], str]) -> None:
        self._redis_url = redis_url
        self._cluster_url = cluster_url
        self.servers: list[SioServer] = []

    async def __call__(
        self,
        count: int = 2,
        *,
        sharded: bool = False,
        url: str | None = None,
        kinds: Sequence[str] = ("asgi",),
        namespaces: Sequence[str] = ("/",),
        clients: int = 1,
        **adapter_options: Any,
    ) -> list[SioServer]:
        """Start ``count`` servers and connect ``clients`` recording clients to each.

        :param sharded: ``AsyncShardedRedisAdapter`` on a Redis Cluster instead of the
            classic ``AsyncRedisAdapter`` on a standalone Redis.
        :param url: the Redis (or a Cluster node's) URL; by default the ``redis_server``
            (or ``redis_cluster``) session fixture's.
        :param kinds: server kinds, ``"asgi"`` (Uvicorn) or ``"aiohttp"``, used in turn.
        :param namespaces: namespaces served, and joined by every client.
        :param adapter_options: passed to each adapter (``channel_prefix``, ``parser``...).
        """
        if count < 1 or clients < 0 or not kinds:
            raise ValueError("need count >= 1, clients >= 0 and at least one kind")
        started = []
        for i in range(count):
            kind = kinds[i % len(kinds)]
            if sharded:
                node_url = url or self._cluster_url()
                mgr = AsyncShardedRedisAdapter(node_url, **adapter_options)
                server = await start_server(
                    node_url, kind=kind, namespaces=list(namespaces), manager=mgr
                )
            else:
                server = await start_server(
                    url or self._redis_url(),
                    kind=kind,
                    namespaces=list(namespaces),
                    **adapter_options,
                )
            self.servers.append(server)
            started.append(server)
            for _ in range(clients):
                await self.connect(server, namespaces)
        return started

    async def connect(
        self,
        server: SioServer,
        namespaces: Sequence[str] | None = None,
        *,
        auth: Any = None,
        ack_reply: Any = None,
    ) -> RecordingClient:
        """Connect one more recording client to ``server`` (kept in ``server.clients``)."""
        client = RecordingClient(ack_reply=ack_reply)
        server.clients.append(client)
        await client.connect(server.url, list(namespaces or ["/"]), auth=auth)
        return client

    async def aclose(self) -> None:
        """Disconnect every client, then stop every server (and its adapter)."""
        for server in self.servers:
            for client in server.clients:
                await client.close()
        for server in self.servers:
            await server.stop()
        self.servers.clear()
