"""A bound on what this server queues for one client that stops reading.

python-engineio gives each socket an unbounded ``asyncio.Queue``; its writer task blocks in
``ws.send`` once the client's TCP window and the websocket write buffer are full, and from
then on every broadcast adds one entry until the ping timeout (``ping_interval +
ping_timeout``, 45 s by default) closes the socket: at 10k broadcasts/s that is 450,000
entries, each keeping a packet alive. Delivery stops queueing to a socket whose queue
holds more than ``max_client_queue`` packets and disconnects it, as Node's heartbeat does
for a dead client. Skipping packets instead would leave a live client with a silent hole
in its stream; a disconnect is visible, and a Socket.IO client reconnects and resyncs.

What the disconnect cannot free: python-engineio's writer task stays blocked in its send,
so the TCP connection, the bytes already in the kernel and websocket buffers and the
engine socket object remain until the peer reads or goes away (measured: still held after
150 s with Uvicorn and with aiohttp); neither python-engineio nor the adapter holds the
transport to abort it. That residue is bounded by the buffers, not by the broadcast rate.

The queue is python-engineio's internal attribute, read only on the versions checked below
(the layout was read in 4.11.0, 4.13.0 and 4.15.1, and is tested on the installed one);
on any other version the limit is off, with one warning, and delivery is as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .metrics import Counters

__all__ = ["DEFAULT_MAX_CLIENT_QUEUE", "VERIFIED_ENGINEIO", "ClientQueueLimit", "engineio_version"]

DEFAULT_MAX_CLIENT_QUEUE = 10_000
# [low, high): python-engineio versions whose AsyncSocket.queue is an asyncio.Queue fed by
# send() and drained by the websocket writer task, and whose close() takes abort/reason.
VERIFIED_ENGINEIO = ((4, 11), (4, 16))


def engineio_version() -> tuple[int, ...] | None:
    """The installed python-engineio's ``(major, minor, ...)``, or ``None`` if unreadable."""
    try:
        text = version("python-engineio")
    except PackageNotFoundError:
        return None
    parts = []
    for item in text.split("."):
        if not item.isdigit():
            break
        parts.append(int(item))
    return tuple(parts) or None


def _engine_sockets(server: Any) -> dict[str, Any] | None:
    """The Engine.IO socket table if its queues are the ones this module understands."""
    found = engineio_version()
    low, high = VERIFIED_ENGINEIO
    if found is None or not low <= found[:2] < high:
        return None
    eio = getattr(server, "eio", None)
    sockets = getattr(eio, "sockets", None)
    create_queue = getattr(eio, "create_queue", None)
    if not isinstance(sockets, dict) or not callable(create_queue):
        return None
    return sockets if isinstance(create_queue(), asyncio.Queue) else None


class ClientQueueLimit:
    """Decides, per target of a delivery, whether its Engine.IO queue is over the limit,
    and disconnects the sockets that are (once each, in a background task)."""

    __slots__ = ("_counters", "_dropping", "_logger", "_probed", "_spawn", "_supported", "limit")

    def __init__(
        self,
        limit: int,
        *,
        logger: logging.Logger,
        counters: Counters,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.limit = limit
        self._logger = logger
        self._counters = counters
        self._spawn = spawn
        self._probed: Any = None  # the server the check below was made for
        self._supported = False
        self._dropping: set[str] = set()

    def sockets(self, server: Any) -> dict[str, Any] | None:
        """``server.eio.sockets`` when the limit can be applied, else ``None`` (no limit)."""
        if self._probed is not server:
            self._probed = server
            self._supported = _engine_sockets(server) is not None
            if not self._supported:
                self._logger.warning(
                    "max_client_queue is off: python-engineio %s is not a version whose "
                    "socket queues this adapter knows (%s to below %s)",
                    ".".join(map(str, engineio_version() or ())) or "(unknown)",
                    ".".join(map(str, VERIFIED_ENGINEIO[0])),
                    ".".join(map(str, VERIFIED_ENGINEIO[1])),
                )
        # Read afresh: python-engineio replaces the dict when it disconnects everyone.
        return server.eio.sockets if self._supported else None

    def exceeded(self, server: Any, sid: str, eio_sid: str, socket: Any) -> None:
        """``socket`` holds more than ``limit`` packets: count, log and disconnect it once."""
        if eio_sid in self._dropping:
            return
        self._dropping.add(eio_sid)
        self._counters.slow_clients_disconnected += 1
        self._logger.warning(
            "Disconnecting client %s (sid %s): %d packets queued, more than "
            "max_client_queue=%d; it stopped reading",
            eio_sid,
            sid,
            socket.queue.qsize(),
            self.limit,
        )
        self._spawn(self._disconnect(server, eio_sid, socket))

    async def _disconnect(self, server: Any, eio_sid: str, socket: Any) -> None:
        """Close without waiting for the queue to drain (it never would), free the queued
        packets now, and let the blocked writer task end when its send returns."""
        eio = server.eio
        try:
            await socket.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
        finally:
            if eio.sockets.get(eio_sid) is socket:
                del eio.sockets[eio_sid]
            queue: asyncio.Queue[Any] = socket.queue
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
            queue.put_nowait(None)  # python-engineio's "stop" for the writer task
            self._dropping.discard(eio_sid)
