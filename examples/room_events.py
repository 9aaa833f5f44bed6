"""The few Socket.IO events every example server answers, so one client script fits all.

``whoami`` tells which server and process a client landed on (behind a load balancer or
``uvicorn --workers`` that is the only way to know), ``join`` puts the caller in a room, and
``say`` broadcasts a ``said`` event to a room through the adapter, so it reaches the room's
members on every server of the cluster. ``examples/node_server.js`` answers the same events.
"""

from __future__ import annotations

import os
from typing import Any

import socketio


def register(sio: socketio.AsyncServer, server: str) -> None:
    """Add ``whoami``, ``join`` and ``say`` to ``sio``; ``server`` names it in the answers."""

    @sio.event  # type: ignore[untyped-decorator]
    async def whoami(sid: str) -> dict[str, Any]:
        return {"server": server, "pid": os.getpid()}

    @sio.event  # type: ignore[untyped-decorator]
    async def join(sid: str, room: str) -> bool:
        await sio.enter_room(sid, str(room))
        return True

    @sio.event  # type: ignore[untyped-decorator]
    async def say(sid: str, data: dict[str, Any]) -> bool:
        message = {"text": str(data.get("text", "")), "server": server, "pid": os.getpid()}
        await sio.emit("said", message, to=str(data["room"]))
        return True
