"""Two python-socketio servers in one process, joined only through Redis.

Server A runs on aiohttp, server B on Uvicorn (ASGI). Each has its own AsyncRedisAdapter and
nothing else in common, so a chat message sent to A reaches B's clients only by crossing
Redis, exactly as between two machines. Without ``--serve`` the demo proves it both ways
with two Socket.IO clients and exits 0 (PASS) or 1 (FAIL); with ``--serve`` it then stays up
so you can chat between the two servers in two browser tabs.

    python examples/demo.py [--serve] [--port-a 8001] [--port-b 8002]

Redis: ``$REDIS_URL`` if set, otherwise a private redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import socketio
import uvicorn
from aiohttp import web
from private_redis import PrivateRedis

from socketio_redis_async import AsyncRedisAdapter

CHAT_PAGE = Path(__file__).resolve().parent / "chat.html"
TIMEOUT = 5.0
STACKS = {"aiohttp": "aiohttp", "asgi": "Uvicorn"}
Inbox = asyncio.Queue[tuple[float, dict[str, Any]]]


def chat_server(label: str, async_mode: str, mgr: AsyncRedisAdapter) -> socketio.AsyncServer:
    """A Socket.IO server whose ``chat`` handler re-emits to everyone, cluster-wide.

    The server, not the browser, stamps each message with its own name and the time it
    arrived, so every client shows the same time and which server the message came through.
    """
    sio = socketio.AsyncServer(async_mode=async_mode, client_manager=mgr)
    stack = STACKS[async_mode]

    @sio.on("chat")  # type: ignore[untyped-decorator]
    async def chat(sid: str, data: Any) -> None:
        if not isinstance(data, dict):
            return
        message = {
            "name": str(data.get("name") or "anonymous")[:40],
            "text": str(data.get("text") or "")[:500],
            "id": str(data.get("id") or uuid.uuid4().hex),
            "server": label,  # the server that received it; the other one gets it via Redis
            "time": int(time.time() * 1000),  # ms since the epoch, as JavaScript's Date wants
        }
        await sio.emit("chat", message)

    @sio.on("whoami")  # type: ignore[untyped-decorator]
    async def whoami(sid: str) -> dict[str, str]:
        """Answered through the ack, so the page can say which server it is connected to."""
        return {"server": label, "stack": stack}

    return sio


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind here, so port 0 means "any free port" and the real port is known up front.

    The explicit IPPROTO_TCP matters: asyncio turns on TCP_NODELAY only for sockets whose
    ``proto`` says TCP, and without it Uvicorn's back-to-back writes wait ~40 ms (Nagle).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


@contextlib.asynccontextmanager
async def serve_aiohttp(sio: socketio.AsyncServer, mgr: AsyncRedisAdapter, sock: socket.socket
                        ) -> AsyncIterator[None]:  # fmt: skip
    """Server A. aiohttp's start-up and clean-up signals own the adapter's lifecycle."""
    app = web.Application()
    sio.attach(app)

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(CHAT_PAGE)

    async def start_adapter(app: web.Application) -> None:
        await mgr.start()

    async def close_adapter(app: web.Application) -> None:
        await mgr.aclose()

    app.router.add_get("/", page)
    app.on_startup.append(start_adapter)
    app.on_cleanup.append(close_adapter)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # runs on_startup
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()  # runs on_cleanup


class EmbeddedUvicorn(uvicorn.Server):
    """Uvicorn sharing the loop with aiohttp: signals belong to the demo, not to Uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_asgi(sio: socketio.AsyncServer, mgr: AsyncRedisAdapter, sock: socket.socket
                     ) -> AsyncIterator[None]:  # fmt: skip
    """Server B. The ASGI lifespan events own the adapter's lifecycle."""
    app = socketio.ASGIApp(
        sio, static_files={"/": str(CHAT_PAGE)}, on_startup=mgr.start, on_shutdown=mgr.aclose
    )
    server = EmbeddedUvicorn(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError("server B (uvicorn) failed to start")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task  # runs the lifespan shutdown


async def client(url: str) -> tuple[socketio.AsyncClient, Inbox]:
    """A Socket.IO client over WebSocket whose ``chat`` events land in a queue."""
    inbox: Inbox = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("chat", lambda data: inbox.put_nowait((time.perf_counter(), data)))
    await sio.connect(url, transports=["websocket"], wait_timeout=TIMEOUT)
    return sio, inbox


async def receive(inbox: Inbox, message_id: str) -> tuple[float, dict[str, Any]] | None:
    """The arrival time and body of one message, or None if it does not come in time."""

    async def find() -> tuple[float, dict[str, Any]]:
        while True:
            seen_at, data = await inbox.get()
            if data.get("id") == message_id:
                return seen_at, data

    try:
        return await asyncio.wait_for(find(), TIMEOUT)
    except asyncio.TimeoutError:
        return None


async def check(sender: str, clients: dict[str, tuple[socketio.AsyncClient, Inbox]]) -> bool:
    """Send from the client on ``sender``; every client, on both servers, must receive it."""
    message_id = uuid.uuid4().hex
    name = {"A": "alice", "B": "bob"}[sender]
    sent_at = time.perf_counter()
    await clients[sender][0].emit("chat", {"name": name, "text": f"hi from {sender}",
                                           "id": message_id})  # fmt: skip
    ok = True
    seen = []
    for label, (_, inbox) in clients.items():
        got = await receive(inbox, message_id)
        if got is None or got[1].get("server") != sender:
            seen.append(f"NOT seen on {label}")
            ok = False
        else:
            how = "locally" if label == sender else "via Redis"
            seen.append(f"seen on {label} {how} in {(got[0] - sent_at) * 1000:.1f} ms")
    print(f"  {name} -> server {sender}: " + ", ".join(seen))
    return ok


def shown(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def wait_for_ctrl_c() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run(args: argparse.Namespace, redis_url: str, redis_note: str) -> bool:
    """Start both servers and two clients, check both directions, then shut down in order."""
    async with contextlib.AsyncExitStack() as stack:
        sock_a = stack.enter_context(listening_socket(args.host, args.port_a))
        sock_b = stack.enter_context(listening_socket(args.host, args.port_b))
        url_a = f"http://{args.host}:{sock_a.getsockname()[1]}"
        url_b = f"http://{args.host}:{sock_b.getsockname()[1]}"
        mgr_a = AsyncRedisAdapter(redis_url)
        mgr_b = AsyncRedisAdapter(redis_url)
        sio_a = chat_server("A", "aiohttp", mgr_a)
        sio_b = chat_server("B", "asgi", mgr_b)
        await stack.enter_async_context(serve_aiohttp(sio_a, mgr_a, sock_a))
        await stack.enter_async_context(serve_asgi(sio_b, mgr_b, sock_b))
        print("socketio-redis-async demo")
        print(f"  Redis:    {shown(redis_url)}{redis_note}")
        print(f"  server A: {url_a}  (aiohttp)")
        print(f"  server B: {url_b}  (Uvicorn, ASGI)")
        clients = {}
        for label, url in (("A", url_a), ("B", url_b)):
            clients[label] = await client(url)
            stack.push_async_callback(clients[label][0].disconnect)
        passed = all([await check("A", clients), await check("B", clients)])
        print("PASS" if passed else "FAIL")
        if args.serve:
            print(f"\nChat in a browser: open {url_a}/ and {url_b}/ (Ctrl-C to stop)")
            sys.stdout.flush()
            await wait_for_ctrl_c()
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="keep serving after the check")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-a", type=int, default=8001, help="aiohttp server (0: any)")
    parser.add_argument("--port-b", type=int, default=8002, help="Uvicorn server (0: any)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    redis_url = os.environ.get("REDIS_URL")
    private = None if redis_url else PrivateRedis().start()
    note = "  ($REDIS_URL)" if private is None else "  (private redis-server, stopped on exit)"
    try:
        passed = asyncio.run(run(args, redis_url or private.url, note))  # type: ignore[union-attr]
        return 0 if passed else 1
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 130
    finally:
        if private is not None:
            private.stop()


if __name__ == "__main__":
    sys.exit(main())
