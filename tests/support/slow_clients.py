"""Clients for the slow-client scenario (issue 12): one raw websocket client that joins and
then never reads, and a process of well-behaved python-socketio clients.

The good clients run in their own process (``python tests/support/slow_clients.py URL N``)
so that the server's event loop is not also theirs: in one process, N clients reading
saturate the loop first and the figures say nothing about the server. The process prints
JSON lines on stdout: ``{"ready": N}`` once connected, ``{"window": ...}`` every
``--every`` seconds (deliveries and p99 latency in that window), and ``{"final": ...}`` after
the server's ``end`` event reached every client (counts, order, overall p99).

The server sends ``emit("tick", (seq, time.time(), pad))`` and finally ``emit("end", total)``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import sys
import time
from typing import Any

__all__ = ["GoodClients", "stuck_client"]


def _masked_text_frame(text: str) -> bytes:
    """One masked websocket text frame, client to server (payload < 126 bytes)."""
    data = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes([0x81, 0x80 | len(data)]) + mask + masked


def stuck_client(port: int, host: str = "127.0.0.1", rcvbuf: int = 4096) -> socket.socket:
    """Open an Engine.IO websocket, join the default namespace, and return the socket
    without reading it again: the server's sends fill its small receive window and stall."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed during the websocket handshake: {head!r}")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"websocket upgrade refused: {head!r}")
    opening = sock.recv(2)  # the Engine.IO OPEN packet: a short unmasked text frame
    if len(opening) < 2 or opening[0] != 0x81 or opening[1] >= 126:
        raise ConnectionError(f"unexpected first frame: {opening!r}")
    body = b""
    while len(body) < opening[1]:
        body += sock.recv(opening[1] - len(body))
    if not body.startswith(b"0{"):
        raise ConnectionError(f"expected the Engine.IO OPEN packet, got {body!r}")
    sock.sendall(_masked_text_frame("40"))  # Socket.IO CONNECT to "/"
    return sock


class GoodClients:
    """The good-client process, from the server's side: its window lines as they come,
    and its final report."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.windows: list[dict[str, Any]] = []
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.final: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, count: int, every: float = 1.0) -> GoodClients:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            url,
            str(count),
            "--every",
            str(every),
            stdout=asyncio.subprocess.PIPE,
        )
        clients = cls(process)
        try:
            await asyncio.wait_for(asyncio.shield(clients.ready), 30)
        except BaseException:
            await clients.stop()
            raise
        return clients

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            if "ready" in line and not self.ready.done():
                self.ready.set_result(line["ready"])
            elif "window" in line:
                self.windows.append(line["window"])
            elif "final" in line and not self.final.done():
                self.final.set_result(line["final"])
        for future in (self.ready, self.final):
            if not future.done():
                future.set_exception(
                    RuntimeError(f"good-client process ended ({self.process.returncode})")
                )

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._reader
        for future in (self.ready, self.final):
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning


def _p99(values: list[float]) -> float | None:
    return statistics.quantiles(values, n=100)[98] * 1000 if len(values) >= 100 else None


async def _run_good_clients(url: str, count: int, every: float) -> None:
    import socketio

    latencies: list[float] = []
    counts = [0] * count
    in_order = [True] * count
    last_seq = [-1] * count
    expected = [-1] * count
    ended = asyncio.Event()
    clients = []
    for i in range(count):
        client = socketio.AsyncClient(reconnection=False)

        async def on_tick(seq: int, sent: float, _pad: str, i: int = i) -> None:
            latencies.append(time.time() - sent)
            counts[i] += 1
            if seq != last_seq[i] + 1:
                in_order[i] = False
            last_seq[i] = seq

        async def on_end(total: int, i: int = i) -> None:
            expected[i] = total
            if min(expected) >= 0:
                ended.set()

        client.on("tick", on_tick)
        client.on("end", on_end)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        clients.append(client)
    print(json.dumps({"ready": count}), flush=True)

    async def windows() -> None:
        seen = 0
        while True:
            await asyncio.sleep(every)
            window = latencies[seen:]
            seen += len(window)
            line = {"t": time.time(), "delivered": len(window), "p99_ms": _p99(window)}
            print(json.dumps({"window": line}), flush=True)

    reporter = asyncio.create_task(windows())
    await ended.wait()
    reporter.cancel()
    final: dict[str, Any] = {
        "counts": counts,
        "expected": expected[0],
        "in_order": all(in_order),
        "p99_ms": _p99(latencies),
        "connected": sum(c.connected for c in clients),
    }
    print(json.dumps({"final": final}), flush=True)
    for client in clients:
        await client.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description="well-behaved clients for the slow-client scenario")
    ap.add_argument("url")
    ap.add_argument("count", type=int)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between window lines")
    args = ap.parse_args()
    asyncio.run(_run_good_clients(args.url, args.count, args.every))


if __name__ == "__main__":
    main()
