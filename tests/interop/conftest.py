"""Python and Node servers side by side on one private Redis.

The Node side is real: socket.io 4.8 with @socket.io/redis-adapter 8.3, socket.io-client 4.8
and @socket.io/redis-emitter 5.1 from tests/interop/node (committed lockfile). If Node or its
packages are missing the tests fail with the reason: a skipped interop test is not a pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from node_peer import NodePeer, NodeServer, node_available
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
