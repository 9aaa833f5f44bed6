"""A plain ASGI app (no framework) for Uvicorn, Hypercorn or any ASGI server.

The ASGI lifespan protocol owns the adapter: ``on_startup`` connects it to Redis in each
worker process before it accepts connections, ``on_shutdown`` closes it when the worker
stops. Several workers form a cluster like several machines do::

    REDIS_URL=redis://localhost:6379/0 uvicorn --app-dir examples asgi_app:app --workers 2

``uvicorn --workers`` spreads connections, not sessions: each HTTP request may reach a
different worker, so clients must use the WebSocket transport only (or put the workers behind
a load balancer with sticky sessions, see ``examples/nginx_cluster.py``).
"""

from __future__ import annotations

import os

import socketio
from room_events import register

from socketio_redis_async import AsyncRedisAdapter

mgr = AsyncRedisAdapter(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
register(sio, "asgi")
app = socketio.ASGIApp(sio, on_startup=mgr.start, on_shutdown=mgr.aclose)
