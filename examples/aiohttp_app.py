"""An aiohttp app with Socket.IO clustered through Redis.

The adapter's lifecycle belongs to the app's signals: ``on_startup`` connects it to Redis
before the first request is served, ``on_shutdown`` disconnects the clients (so pending
long-polls do not hold the stop up for the ping interval), ``on_cleanup`` unsubscribes and
closes the adapter after the last request, so a stopped server leaves the cluster at once
instead of after a timeout::

    REDIS_URL=redis://localhost:6379/0 python examples/aiohttp_app.py --port 8080

``--name`` labels the server in ``whoami`` answers (``examples/nginx_cluster.py`` starts
three of these as ``a``, ``b`` and ``c``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

import socketio
from aiohttp import web
from room_events import register

from socketio_redis_async import AsyncRedisAdapter

SHUTDOWN_GRACE = 1.0  # seconds for clients to take their CLOSE packet when the server stops
SIO = web.AppKey("sio", socketio.AsyncServer)  # for apps that add their own events


def make_app(redis_url: str, name: str) -> web.Application:
    mgr = AsyncRedisAdapter(redis_url)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)
    register(sio, name)
    app = web.Application()
    app[SIO] = sio
    sio.attach(app)

    async def start_adapter(app: web.Application) -> None:
        await mgr.start()

    async def disconnect_clients(app: web.Application) -> None:
        # Before aiohttp waits for open requests: ends the long-polls that would hold it up.
        # Every client gets a CLOSE packet (Engine.IO: no sid = all); one that stopped polling
        # never takes it, and is not waited for beyond the grace period.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(sio.eio.disconnect(), SHUTDOWN_GRACE)
        await sio.shutdown()

    async def close_adapter(app: web.Application) -> None:
        await mgr.aclose()

    app.on_startup.append(start_adapter)
    app.on_shutdown.append(disconnect_clients)
    app.on_cleanup.append(close_adapter)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--name", default="aiohttp", help="server name in whoami answers")
    args = parser.parse_args()
    app = make_app(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), args.name)
    web.run_app(app, host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
