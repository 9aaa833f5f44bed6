"""Issue 12, slow clients: one websocket client that never reads while the server broadcasts
to N others at full speed. Prints RSS and the stuck socket's Engine.IO queue over time, and
the other clients' delivery rate and p99 latency.

    python bench/slow_client.py --clients 100 --seconds 60 [--redis-url redis://...]

Without ``--redis-url`` a private redis-server is started on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import socketio
from support.redis_procs import RedisServer
from support.sio_servers import start_server


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _frame(text: str) -> bytes:
    """One masked websocket text frame (client to server), payload < 126 bytes."""
    data = text.encode()
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    )


def stuck_client(port: int) -> socket.socket:
    """Upgrade to websocket, join the default namespace, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head, head
    sock.recv(200)  # the Engine.IO OPEN packet
    sock.sendall(_frame("40"))  # Socket.IO CONNECT to "/"
    return sock


async def run(
    redis_url: str,
    clients: int,
    seconds: float,
    sample_every: float,
    payload_size: int,
    ping: tuple[float, float],
    kind: str,
    rate: int,
) -> dict[str, Any]:
    server = await start_server(redis_url, kind=kind)
    server.sio.eio.ping_interval, server.sio.eio.ping_timeout = ping
    port = int(server.url.rsplit(":", 1)[1])
    latencies: list[float] = []
    counts = [0] * clients
    good = []
    for i in range(clients):
        c = socketio.AsyncClient(reconnection=False)

        async def on_tick(sent: float, _pad: str, i: int = i) -> None:
            latencies.append(time.monotonic() - sent)
            counts[i] += 1

        c.on("tick", on_tick)
        await c.connect(server.url, transports=["websocket"], wait_timeout=10)
        good.append(c)
    stuck = await asyncio.to_thread(stuck_client, port)
    await asyncio.sleep(0.5)
    stuck_sid = next(iter(set(server.sio.eio.sockets) - {c.eio.sid for c in good}))
    pad = "x" * payload_size
    samples: list[tuple[float, float, int | None, float, float]] = []
    start = time.monotonic()
    sent = 0

    async def sampler() -> None:
        last_n, last_t = 0, start
        while True:
            await asyncio.sleep(sample_every)
            now = time.monotonic()
            sock = server.sio.eio.sockets.get(stuck_sid)
            q = sock.queue.qsize() if sock is not None else None
            window = latencies[last_n:]
            p99 = statistics.quantiles(window, n=100)[98] if len(window) > 100 else float("nan")
            rate = len(window) / (now - last_t) / clients
            samples.append((now - start, rss_mib(), q, rate, p99 * 1000))
            print(
                f"t={now - start:5.1f}s rss={rss_mib():6.1f} MiB stuck-queue={q} "
                f"per-client rate={rate:7.0f}/s p99={p99 * 1000:6.1f} ms",
                flush=True,
            )
            last_n, last_t = len(latencies), now

    task = asyncio.create_task(sampler())
    while (elapsed := time.monotonic() - start) < seconds:
        for _ in range(int(elapsed * rate) - sent):
            await server.sio.emit("tick", (time.monotonic(), pad))
            sent += 1
        await asyncio.sleep(0.002)
    task.cancel()
    result = {
        "sent": sent,
        "samples": samples,
        "stuck_gone": stuck_sid not in server.sio.eio.sockets,
        "min_count": min(counts),
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
    }
    stuck.close()
    for c in good:
        await c.disconnect()
    await server.stop()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--rate", type=int, default=200, help="broadcasts per second")
    ap.add_argument("--payload", type=int, default=200)
    ap.add_argument("--ping-interval", type=float, default=25)
    ap.add_argument("--ping-timeout", type=float, default=20)
    ap.add_argument("--kind", choices=["asgi", "aiohttp"], default="asgi")
    ap.add_argument("--redis-url")
    args = ap.parse_args()

    async def go(url: str) -> None:
        r = await run(
            url,
            args.clients,
            args.seconds,
            args.sample_every,
            args.payload,
            (args.ping_interval, args.ping_timeout),
            args.kind,
            args.rate,
        )
        print(
            f"sent {r['sent']}, slowest good client got {r['min_count']}, overall p99 "
            f"{r['p99_ms']:.1f} ms, stuck client disconnected: {r['stuck_gone']}"
        )

    if args.redis_url:
        asyncio.run(go(args.redis_url))
    else:
        with RedisServer() as redis:
            asyncio.run(go(redis.url))


if __name__ == "__main__":
    main()
