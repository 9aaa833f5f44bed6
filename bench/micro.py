"""Micro-benchmarks of the adapter's hot paths (pyperf).

    .venv/bin/python bench/micro.py --fast -q              # every benchmark, about 6 minutes
    .venv/bin/python bench/micro.py -o micro.json          # pyperf's full run, kept as JSON
    .venv/bin/python bench/micro.py --fast --only 'fanout*'   # a subset (glob on the names)
    .venv/bin/python -m pyperf compare_to old.json new.json   # before/after an optimisation

Benchmarks (payload: the cluster benchmark's ``{"seq", "t", "pad"}``, about 100 bytes):
  encode broadcast [all|room]      ``protocol.encode_broadcast`` with the adapter's parser
  decode broadcast                 ``protocol.decode_broadcast``: unpack and validate
  js rendering scan                ``MsgpackParser.needs_js_rendering`` on a broadcast
  emit x100                        the emitting server's whole work for 100 ``sio.emit`` to
                                   a namespace it has no client in: encode, queue, one
                                   pipelined batch and its replies, then reading and dropping
                                   the 100 echoes the pattern subscription sends back
  publish x100                     ``transport.Publisher`` alone: 100 ``publish`` + ``flush``
  publish waited x100              the same, each publish awaited: 100 one-message batches
  receive echo x100                100 of the server's own broadcasts read by its subscriber
                                   and dropped undecoded (what an emitting server reads back)
  receive N=1 x100                 100 broadcasts of another server read, decoded and
                                   delivered to 1 socket (the receiving server of the S1
                                   scenario)
  dispatch N=...                   ``adapter._on_redis_message`` for a broadcast from another
                                   server: decode, select the targets, deliver to N sockets
  dispatch room-miss N=1000        a broadcast for a room this server lacks (dropped undecoded)
  fanout ours N=...                ``local.select_targets`` + ``local.send_event`` to N sockets
  fanout stock N=...               python-socketio's ``AsyncManager.emit`` to the same N sockets

The ``x100`` benchmarks go through a real redis-server (one round trip per 100 messages);
the messages they receive are published on a raw socket, so besides Redis only the
adapter's work is timed. The servers are real ``socketio.AsyncServer``s; ours has a real
``AsyncRedisAdapter``, started against a private redis-server (so it holds its routes and
subscriptions as in production); the stock one a plain ``socketio.AsyncManager``. Their N
clients are real ``engineio.async_socket.AsyncSocket`` objects in ``sio.eio.sockets``,
registered through the manager's ``pre_connect``/``connect`` (REDIS-PY-NOTES 5.6): delivery
ends in each socket's queue, which is emptied, untimed, after every iteration.
"""

from __future__ import annotations

import asyncio
import atexit
import fnmatch
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import socketio
from engineio.async_socket import AsyncSocket

try:
    import pyperf
except ImportError:  # pyperf is in the test extra; a bare install lacks it
    raise SystemExit("bench/micro.py needs pyperf: .venv/bin/pip install pyperf") from None

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socketio_redis_async import (
    AsyncRedisAdapter,
    local,
    protocol,
)
from socketio_redis_async.metrics import Counters
from socketio_redis_async.parser import MSGPACK
from socketio_redis_async.transport import Publisher

SIZES = (10, 100, 1000)
BATCH = 100  # messages per timed operation of the ``x100`` benchmarks
PAD = "x" * 55  # the cluster benchmark's 100-byte payload
OTHER_UID = "other1"  # the uid of the (imaginary) server that published the broadcast


def payload(seq: int = 1) -> dict[str, Any]:
    return {"seq": seq, "t": time.time() * 1000, "pad": PAD}


# --- fixtures, built lazily in each worker (pyperf runs one benchmark per worker process) ---

_loop: asyncio.AbstractEventLoop | None = None
_cache: dict[Any, Any] = {}


def loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop


async def add_sockets(sio: socketio.AsyncServer, n: int) -> list[AsyncSocket]:
    sockets = []
    for _ in range(n):
        eio_sid = sio.eio.generate_id()
        sock = AsyncSocket(sio.eio, eio_sid)
        sock.connected = True
        sio.eio.sockets[eio_sid] = sock
        sid = await sio.manager.pre_connect(eio_sid, "/")
        await sio.manager.connect(sid, "/")
        sockets.append(sock)
    return sockets


def drain(sockets: list[AsyncSocket]) -> None:
    now = time.time()
    for sock in sockets:
        queue = sock.queue
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()
        sock.last_ping = now  # never let the ping-timeout check close a socket


def ours(n: int, redis_url: str) -> tuple[socketio.AsyncServer, list[AsyncSocket]]:
    key = ("ours", n)
    if key not in _cache:

        async def build() -> tuple[socketio.AsyncServer, list[AsyncSocket]]:
            mgr = AsyncRedisAdapter(redis_url, key=f"micro-{os.getpid()}-{n}")
            sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
            await mgr.start()
            return sio, await add_sockets(sio, n)

        _cache[key] = loop().run_until_complete(build())
    return _cache[key]  # type: ignore[no-any-return]


def stock(n: int) -> tuple[socketio.AsyncServer, list[AsyncSocket]]:
    key = ("stock", n)
    if key not in _cache:

        async def build() -> tuple[socketio.AsyncServer, list[AsyncSocket]]:
            sio = socketio.AsyncServer(async_mode="asgi", client_manager=socketio.AsyncManager())
            return sio, await add_sockets(sio, n)

        _cache[key] = loop().run_until_complete(build())
    return _cache[key]  # type: ignore[no-any-return]


def close_fixtures() -> None:
    """Stop the adapters' reader tasks before the worker exits."""
    if _loop is None:
        return
    for (kind, _), (owner, client) in _cache.items():
        if kind == "ours":
            _loop.run_until_complete(owner.manager.aclose())
        elif kind == "publisher":
            _loop.run_until_complete(owner.aclose())
            _loop.run_until_complete(client.aclose())
    _loop.close()


def timed_async(loops: int, op: Callable[[], Awaitable[Any]], sockets: list[AsyncSocket]) -> float:
    """Run ``op`` ``loops`` times on the worker's loop; only ``op`` is timed."""

    async def run() -> float:
        total = 0.0
        clock = time.perf_counter
        for _ in range(loops):
            t0 = clock()
            await op()
            total += clock() - t0
            drain(sockets)
        return total

    return loop().run_until_complete(run())


# --- the benchmarks -----------------------------------------------------------------------


def bench_encode(loops: int, room: str | None) -> float:
    target = protocol.Target((room,) if room else ())
    data = ["m", payload()]
    encode = protocol.encode_broadcast
    t0 = time.perf_counter()
    for _ in range(loops):
        encode(MSGPACK, "server", "/", data, target)
    return time.perf_counter() - t0


def bench_dispatch(loops: int, n: int, redis_url: str, room_miss: bool) -> float:
    sio, sockets = ours(n, redis_url)
    mgr = sio.manager
    channels = protocol.Channels(mgr.prefix, "/")
    if room_miss:
        target = protocol.Target(("absent-room",))
        channel = channels.room("absent-room")
    else:
        target = protocol.Target(())
        channel = channels.broadcast
    message = protocol.encode_broadcast(MSGPACK, OTHER_UID, "/", ["m", payload()], target)
    pattern = channels.pattern

    def op() -> Awaitable[None]:
        return mgr._on_redis_message(channel, message, pattern)  # type: ignore[no-any-return]

    # Sanity check (untimed): the message reaches every socket, or none for a room miss.
    loop().run_until_complete(op())
    delivered = sum(sock.queue.qsize() for sock in sockets)
    expected = 0 if room_miss else n
    if delivered != expected:
        raise RuntimeError(f"dispatch delivered {delivered} packets, expected {expected}")
    drain(sockets)
    return timed_async(loops, op, sockets)


def bench_fanout_ours(loops: int, n: int, redis_url: str) -> float:
    sio, sockets = ours(n, redis_url)
    data = ["m", payload()]

    def op() -> Awaitable[None]:
        targets = local.select_targets(sio.manager.rooms.get("/"), ())
        return local.send_event(sio, "/", data, targets)

    return timed_async(loops, op, sockets)


def bench_fanout_stock(loops: int, n: int) -> float:
    sio, sockets = stock(n)
    data = payload()

    def op() -> Awaitable[None]:
        return sio.manager.emit("m", data, namespace="/")  # type: ignore[no-any-return]

    return timed_async(loops, op, sockets)


def broadcast_bytes(uid: str = OTHER_UID) -> bytes:
    """A broadcast to a whole namespace as server ``uid`` publishes it."""
    return protocol.encode_broadcast(MSGPACK, uid, "/", ["m", payload()], protocol.Target())


def bench_decode(loops: int) -> float:
    message = broadcast_bytes()
    decode = protocol.decode_broadcast
    t0 = time.perf_counter()
    for _ in range(loops):
        decode(MSGPACK, message)
    return time.perf_counter() - t0


def bench_js_scan(loops: int) -> float:
    message = broadcast_bytes()
    scan = MSGPACK.needs_js_rendering
    t0 = time.perf_counter()
    for _ in range(loops):
        scan(message)
    return time.perf_counter() - t0


async def until_received(mgr: AsyncRedisAdapter, count: int) -> None:
    """Yield to the adapter's reader until its subscriber has read ``count`` messages.

    The reader handles everything it read before it yields, so a count reached means that
    every message was also dispatched (or dropped)."""
    while mgr.stats()["received"] < count:  # noqa: ASYNC110 - nothing to wait on
        await asyncio.sleep(0)


def bench_emit(loops: int, redis_url: str) -> float:
    sio, _ = ours(0, redis_url)
    mgr = sio.manager
    data = payload()

    async def run() -> float:
        total = 0.0
        clock = time.perf_counter
        for _ in range(loops):
            expected = mgr.stats()["received"] + BATCH
            t0 = clock()
            for _ in range(BATCH):
                await sio.emit("m", data)
            await mgr.flush()
            await until_received(mgr, expected)
            total += clock() - t0
        return total

    return loop().run_until_complete(run())


def bench_publish(loops: int, redis_url: str, waited: bool) -> float:
    """100 publishes and a flush: one batch; ``waited``: each awaited, 100 one-message
    batches (a paced emitter's case, where the per-batch cost counts)."""
    key = ("publisher", 0)
    if key not in _cache:
        client = aioredis.Redis.from_url(redis_url)
        publisher = Publisher(
            client, logger=logging.getLogger("micro"), on_error=print, counters=Counters()
        )
        _cache[key] = (publisher, client)
    publisher = _cache[key][0]
    channel = f"micro-{os.getpid()}-nobody#/#".encode()
    message = broadcast_bytes()

    async def run() -> float:
        total = 0.0
        clock = time.perf_counter
        for _ in range(loops):
            t0 = clock()
            for _ in range(BATCH):
                await publisher.publish(channel, message, wait=waited)
            await publisher.flush()
            total += clock() - t0
        return total

    return loop().run_until_complete(run())


def bench_receive(loops: int, n: int, redis_url: str) -> float:
    """``n`` = 0: the server's own echoes; else another server's broadcasts to n sockets."""
    sio, sockets = ours(n, redis_url)
    mgr = sio.manager
    channel = protocol.Channels(mgr.prefix, "/").broadcast
    message = broadcast_bytes(mgr.uid if n == 0 else OTHER_UID)
    command = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(channel),
        channel,
        len(message),
        message,
    )
    blob = command * BATCH
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)

    async def run() -> float:
        reader, writer = await asyncio.open_connection(host, int(port))
        total = 0.0
        clock = time.perf_counter
        for _ in range(loops):
            expected = mgr.stats()["received"] + BATCH
            t0 = clock()
            writer.write(blob)
            await until_received(mgr, expected)
            total += clock() - t0
            replies = 0  # untimed: the raw publisher's own replies
            while replies < BATCH:
                replies += (await reader.readuntil(b"\r\n")).count(b"\r\n")
            if n and sum(sock.queue.qsize() for sock in sockets) != n * BATCH:
                raise RuntimeError("receive: a broadcast was not delivered")
            drain(sockets)
        writer.close()
        return total

    return loop().run_until_complete(run())


# --- a private redis-server for the adapter (started by the pyperf parent) -----------------


def start_redis() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: run ./scripts/bench.sh (it installs it)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="micro-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip

    def stop() -> None:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        raise SystemExit("redis-server did not start")
    return f"redis://127.0.0.1:{port}/0"


def main() -> None:
    def add_cmdline_args(cmd: list[str], args: Any) -> None:
        cmd.extend(["--redis-url", args.redis_url, "--only", args.only])

    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--redis-url", help="default: a private redis-server")
    runner.argparser.add_argument(
        "--only", default="*", help="run the benchmarks whose name matches this glob"
    )
    args = runner.parse_args()
    if not args.redis_url and not args.worker:
        args.redis_url = start_redis()
    url = args.redis_url
    runner.metadata["payload"] = "{seq, t, pad}, about 100 bytes"
    if args.worker:
        atexit.register(close_fixtures)

    benchmarks: list[tuple[str, Callable[..., float], tuple[Any, ...]]] = [
        ("encode broadcast all", bench_encode, (None,)),
        ("encode broadcast room", bench_encode, ("room-3",)),
        ("decode broadcast", bench_decode, ()),
        ("js rendering scan", bench_js_scan, ()),
        ("emit x100", bench_emit, (url,)),
        ("publish x100", bench_publish, (url, False)),
        ("publish waited x100", bench_publish, (url, True)),
        ("receive echo x100", bench_receive, (0, url)),
        ("receive N=1 x100", bench_receive, (1, url)),
        *((f"dispatch N={n}", bench_dispatch, (n, url, False)) for n in SIZES),
        ("dispatch room-miss N=1000", bench_dispatch, (1000, url, True)),
    ]
    for n in SIZES:
        benchmarks.append((f"fanout ours N={n}", bench_fanout_ours, (n, url)))
        benchmarks.append((f"fanout stock N={n}", bench_fanout_stock, (n,)))
    for name, func, bench_args in benchmarks:
        if fnmatch.fnmatchcase(name, args.only):
            runner.bench_time_func(name, func, *bench_args)


if __name__ == "__main__":
    main()
