"""Two python-socketio servers (one Uvicorn ASGI, one aiohttp) sharing one private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support.sio_servers import RecordingClient, SioServer, start_server


@pytest.fixture
async def servers(redis_url: str) -> AsyncIterator[tuple[SioServer, SioServer]]:
    a = await start_server(redis_url, kind="asgi", namespaces=["/", "/admin"])
    b = await start_server(redis_url, kind="aiohttp", namespaces=["/", "/admin"])
    yield a, b
    await a.stop()
    await b.stop()


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[..., Awaitable[RecordingClient]]]:
    """Connect recording clients; all are disconnected at teardown."""
    clients: list[RecordingClient] = []

    async def connect(
        server: SioServer, namespaces: list[str] | None = None, **kw: object
    ) -> RecordingClient:
        client = RecordingClient(**kw)  # type: ignore[arg-type]
        clients.append(client)
        await client.connect(server.url, namespaces=namespaces)
        return client

    yield connect
    for client in clients:
        await client.close()
