"""Python and Node servers side by side on one private Redis.

The Node side is real: socket.io 4.8 with @socket.io/redis-adapter 8.3, socket.io-client 4.8
and @socket.io/redis-emitter 5.1 from tests/interop/node (committed lockfile). If Node or its
packages are missing the tests fail with the reason: a skipped interop test is not a pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from node_peer import NodePeer, node_available
from support.sio_servers import RecordingClient, SioServer, start_server


@pytest.fixture
async def peer() -> AsyncIterator[NodePeer]:
    reason = node_available()
    if reason is not None:
        pytest.fail(reason)
    async with NodePeer() as node:
        yield node
        # Whatever we published, no Node server may have thrown on it.
        assert await node.call("errors") == []


@dataclass
class NodeServer:
    """A Node socket.io server hosted by the peer, with helpers for its Node clients."""

    peer: NodePeer
    server_id: int
    url: str
    clients: list[int] = field(default_factory=list)

    async def call(self, op: str, **params: Any) -> Any:
        return await self.peer.call(op, serverId=self.server_id, **params)

    async def connect_client(self, nsp: str = "/", **params: Any) -> tuple[int, str]:
        reply = await self.peer.call("clientConnect", url=self.url, nsp=nsp, **params)
        self.clients.append(reply["clientId"])
        return reply["clientId"], reply["sid"]

    async def client_events(self, client_id: int, event: str | None = None) -> list[list[Any]]:
        events = await self.peer.call("clientEvents", clientId=client_id)
        return [e["args"] for e in events if event is None or e["event"] == event]

    async def wait_client_event(
        self, client_id: int, event: str, count: int = 1, timeout: float = 5.0
    ) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = await self.client_events(client_id, event)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"Node client {client_id} got {got!r}, wanted {count} {event}")
            await asyncio.sleep(0.02)

    async def join(self, client_id: int, room: Any, nsp: str = "/") -> None:
        reply = await self.peer.call(
            "clientEmit", clientId=client_id, event="join", args=[room], withAck=True
        )
        assert reply == ["joined"]


@pytest.fixture
async def node_server(peer: NodePeer, redis_url: str) -> NodeServer:
    started = await peer.call("startServer", redisUrl=redis_url, namespaces=["/", "/admin"])
    return NodeServer(peer, started["serverId"], f"http://127.0.0.1:{started['port']}")


@pytest.fixture
async def py_server(redis_url: str) -> AsyncIterator[SioServer]:
    server = await start_server(redis_url, kind="asgi", namespaces=["/", "/admin"])
    yield server
    await server.stop()


@pytest.fixture
async def py_clients() -> AsyncIterator[list[RecordingClient]]:
    clients: list[RecordingClient] = []
    yield clients
    for client in clients:
        await client.close()


async def connect_py(
    clients: list[RecordingClient],
    server: SioServer,
    namespaces: list[str] | None = None,
    **kw: Any,
) -> RecordingClient:
    client = RecordingClient(**kw)
    clients.append(client)
    await client.connect(server.url, namespaces=namespaces)
    return client
