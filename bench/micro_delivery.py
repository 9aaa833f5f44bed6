"""Micro-benchmark of delivery to real websocket clients: python-engineio's path vs direct writes.

    .venv/bin/python bench/micro_delivery.py --fast -q                 # about a minute
    .venv/bin/python bench/micro_delivery.py --fast -o delivery.json   # keep the figures

One process holds a real Uvicorn server (h11 + wsproto, no per-message deflate, as
bench/py_server.py) with a real ``AsyncRedisAdapter`` on a private redis-server, and N real
websocket clients (aiohttp) connected to it over loopback. One iteration sends the bench's
100-byte event to all N with ``local.send_event`` and waits until every client has read it,
so it times everything a broadcast costs this process: the server's delivery and writes and
the clients' reading. The clients' share is the same in both variants:

  deliver plain N=...    ``direct=None``: python-engineio's queue and writer task per socket,
                         the path before issue 11 (and the one ``direct_writes=False`` keeps)
  deliver direct N=...   the adapter's ``DirectWriter``: one frame, written to each transport

Compare with ``python -m pyperf compare_to`` on the saved JSON, or read the two rows.
"""

from __future__ import annotations

import asyncio
import atexit
import fnmatch
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import socketio
import uvicorn

try:
    import pyperf
except ImportError:  # pyperf is in the test extra; a bare install lacks it
    raise SystemExit("bench/micro_delivery.py needs pyperf: .venv/bin/pip install pyperf") from None

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from micro import PAD, loop, start_redis

from socketio_redis_async import AsyncRedisAdapter, local
from socketio_redis_async.testing.standalone import free_port

SIZES = (1, 100, 1000)


class Delivery:
    """A server and ``n`` connected clients counting the events they read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.received = 0
        self.goal = 0
        self.done = asyncio.Event()
        self.sio: Any = None
        self.mgr: Any = None
        self.server: Any = None
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, redis_url: str) -> None:
        self.mgr = AsyncRedisAdapter(redis_url, key=f"micro-delivery-{self.n}")
        self.sio = socketio.AsyncServer(async_mode="asgi", client_manager=self.mgr)
        await self.mgr.start()
        port = free_port()
        config = uvicorn.Config(
            socketio.ASGIApp(self.sio), host="127.0.0.1", port=port, http="h11", ws="wsproto",
            ws_per_message_deflate=False, log_level="warning", lifespan="off",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        serving = asyncio.ensure_future(self.server.serve())
        self.tasks.append(serving)
        while not self.server.started:
            if serving.done():
                serving.result()  # uvicorn failed to start: say why
            await asyncio.sleep(0.01)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        for _ in range(self.n):
            ws = await self.session.ws_connect(url, max_msg_size=0)
            assert (await ws.receive_str()).startswith("0")  # Engine.IO open
            await ws.send_str("40")  # Socket.IO connect to "/"
            assert (await ws.receive_str()).startswith("40")
            self.tasks.append(asyncio.ensure_future(self._read(ws)))
        # the "40" reply comes after python-socketio registered the client with the manager
        assert len(self.mgr.rooms["/"][None]) == self.n

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = msg.data
            if data.startswith("42"):
                self.received += 1
                if self.received == self.goal:
                    self.done.set()
            elif data == "2":  # Engine.IO ping
                await ws.send_str("3")

    async def deliver(self, data: list[Any], direct: bool) -> None:
        self.done.clear()
        self.goal = self.received + self.n
        targets = local.select_targets(self.mgr.rooms.get("/"), ())
        await local.send_event(
            self.sio, "/", data, targets, None, self.mgr._direct if direct else None
        )
        await self.done.wait()

    async def stop(self) -> None:
        assert self.session is not None
        await self.session.close()
        await self.mgr.aclose()
        self.server.should_exit = True
        await asyncio.wait(self.tasks, timeout=5)


_deliveries: dict[int, Delivery] = {}


def fixture(n: int, redis_url: str) -> Delivery:
    if n not in _deliveries:
        delivery = Delivery(n)
        loop().run_until_complete(delivery.start(redis_url))
        _deliveries[n] = delivery
    return _deliveries[n]


def close_fixtures() -> None:
    for delivery in _deliveries.values():
        loop().run_until_complete(delivery.stop())


def bench_deliver(loops: int, n: int, redis_url: str, direct: bool) -> float:
    delivery = fixture(n, redis_url)
    data = ["m", {"seq": 1, "t": time.time() * 1000, "pad": PAD}]

    async def run() -> float:
        written = delivery.mgr.stats()["direct_writes"]
        t0 = time.perf_counter()
        for _ in range(loops):
            await delivery.deliver(data, direct)
        elapsed = time.perf_counter() - t0
        # the variant really took the path it names
        wrote_directly = delivery.mgr.stats()["direct_writes"] - written
        if wrote_directly != (loops * n if direct else 0):
            raise RuntimeError(f"{wrote_directly} direct writes in {loops} x {n} deliveries")
        return elapsed

    return loop().run_until_complete(run())


def main() -> None:
    def add_cmdline_args(cmd: list[str], args: Any) -> None:
        cmd.extend(["--redis-url", args.redis_url, "--only", args.only])

    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--redis-url", help="default: a private redis-server")
    runner.argparser.add_argument("--only", default="*", help="glob on the benchmark names")
    args = runner.parse_args()
    if not args.redis_url and not args.worker:
        args.redis_url = start_redis()
    if args.worker:
        atexit.register(close_fixtures)
    for n in SIZES:
        for direct in (False, True):
            name = f"deliver {'direct' if direct else 'plain'} N={n}"
            if fnmatch.fnmatchcase(name, args.only):
                runner.bench_time_func(name, bench_deliver, n, args.redis_url, direct)


if __name__ == "__main__":
    main()
