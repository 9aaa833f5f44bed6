"""Cost of ``max_client_queue`` on the local delivery path: ``send_packets`` to 1,000 real
python-engineio sockets (no network), without and with the limit.

    python bench/queue_limit_cost.py [--targets 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from socketio_redis_async.local import send_packets
from socketio_redis_async.metrics import Counters
from socketio_redis_async.slow_clients import ClientQueueLimit


async def main(targets: int, repeat: int, loops: int) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    pairs = []
    for i in range(targets):
        sio.eio.sockets[f"e{i}"] = AsyncSocket(sio.eio, f"e{i}")
        pairs.append((f"s{i}", f"e{i}"))
    packets = [eio_packet.Packet(eio_packet.MESSAGE, '2["tick",1]')]
    limit = ClientQueueLimit(
        10_000, logger=logging.getLogger("bench"), counters=Counters(), spawn=lambda c: None
    )

    async def timed(lim: ClientQueueLimit | None) -> float:
        start = time.perf_counter()
        for _ in range(loops):
            await send_packets(sio, packets, pairs, lim)
        elapsed = time.perf_counter() - start
        for sock in sio.eio.sockets.values():
            sock.queue = sio.eio.create_queue()
        return elapsed / loops * 1e6

    results: dict[str, list[float]] = {"no limit": [], "max_client_queue": []}
    for _ in range(repeat):  # interleaved, so drift hits both alike
        results["no limit"].append(await timed(None))
        results["max_client_queue"].append(await timed(limit))
    base = statistics.median(results["no limit"])
    for name, values in results.items():
        med = statistics.median(values)
        print(
            f"{name:17s} median {med:8.1f} us per send_packets to {targets} targets "
            f"({med / targets * 1000:5.0f} ns/target, {100 * (med / base - 1):+5.1f}%)"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--loops", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(main(args.targets, args.repeat, args.loops))
