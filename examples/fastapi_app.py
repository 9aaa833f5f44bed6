"""A FastAPI app with the Socket.IO ASGI app mounted at ``/socket.io``.

Starlette does not run the lifespan of mounted apps, so the FastAPI app's own lifespan starts
and closes the adapter. HTTP routes share the Socket.IO server: ``POST /rooms/{room}``
broadcasts to a room on every worker and every other server of the cluster::

    REDIS_URL=redis://localhost:6379/0 uvicorn --app-dir examples fastapi_app:app --workers 2
    curl -X POST localhost:8000/rooms/lobby -H 'content-type: application/json' \\
         -d '{"text": "hello"}'

As with any ``--workers`` setup, clients use the WebSocket transport (see ``asgi_app.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import socketio
from fastapi import FastAPI
from pydantic import BaseModel
from room_events import register

from socketio_redis_async import AsyncRedisAdapter

mgr = AsyncRedisAdapter(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
register(sio, "fastapi")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await mgr.start()
    try:
        yield
    finally:
        await mgr.aclose()


class Message(BaseModel):
    text: str


app = FastAPI(lifespan=lifespan)
app.mount("/socket.io", socketio.ASGIApp(sio))


@app.post("/rooms/{room}")
async def post_to_room(room: str, message: Message) -> dict[str, object]:
    """Broadcast ``said`` to a room, cluster-wide, from plain HTTP."""
    await sio.emit("said", {"text": message.text, "server": "fastapi", "pid": os.getpid()},
                   to=room)  # fmt: skip
    return {"room": room, "pid": os.getpid()}
