"""Issue 11: the frames our servers write directly are read by the real socket.io-client.

Node's client (socket.io-client 4.8 on ``ws``) offers permessage-deflate by default, so on
Uvicorn (which accepts it by default) and aiohttp the connection is compressed: frames under
1,024 bytes are written directly and uncompressed, larger ones take python-engineio's path
and are compressed by the server; every message must still arrive, intact and in order.
"""

from __future__ import annotations

import asyncio

import pytest
from node_peer import NodePeer, NodeServer
from support.sio_servers import start_server

N = 200


def _payload(seq: int) -> list[object]:
    """Small and large (past the compression threshold) events, some with binary."""
    size = 3000 if seq % 3 == 0 else 40
    args: list[object] = [seq, "é" + "x" * size]
    if seq % 5 == 0:
        args.append(bytes([seq % 256]) * 10)
    return args


@pytest.mark.parametrize("kind", ["asgi", "aiohttp"])
@pytest.mark.parametrize("deflate", [True, False])
async def test_node_client_reads_direct_frames(
    peer: NodePeer, redis_url: str, kind: str, deflate: bool
) -> None:
    sender = await start_server(redis_url, kind=kind)
    receiver = await start_server(redis_url, kind=kind)
    try:
        node_view = NodeServer(peer, -1, receiver.url)
        params = {} if deflate else {"perMessageDeflate": False}
        client_id, _ = await node_view.connect_client(**params)
        # through Redis from the other server, then from the receiver itself
        for server, seqs in ((sender, range(N // 2)), (receiver, range(N // 2, N))):
            for seq in seqs:
                await server.sio.emit("m", tuple(_payload(seq)))
                # a pause lets a writer busy with a large (compressed) frame drain and park,
                # after which small frames can again be written directly
                await asyncio.sleep(0.002)
            await server.mgr.flush()
            got = await node_view.wait_client_event(client_id, "m", seqs[-1] + 1, timeout=10)
        assert got == [_payload(seq) for seq in range(N)]
        direct = receiver.mgr.stats()["direct_writes"]
        small = sum(1 for seq in range(N) if seq % 3)
        if deflate:  # the large ones were left to the server's compressing writer
            assert 0.9 * small <= direct <= small, direct
        else:
            assert direct >= 0.9 * N, direct
    finally:
        await asyncio.gather(sender.stop(), receiver.stop())
