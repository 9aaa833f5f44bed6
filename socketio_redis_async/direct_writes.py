"""Broadcast frames written straight to idle websocket connections, as Node's socket.io does.

python-engineio sends every packet through the socket's ``asyncio.Queue`` and a writer task
per connection: for each recipient of a broadcast, a task wake-up, a ``wait_for`` (a task and
a timer on Python 3.11), the ASGI server building the same websocket frame again, and one
``write`` system call. A server-to-client frame is unmasked, so a broadcast's frame is the
same bytes for every recipient: here it is built once and appended to each recipient's
transport, and everything a connection got during one event-loop tick goes out in one write
(socket.io's ``wsPreEncodedFrame`` does the same in Node).

Order is kept by writing directly only to a connection whose writer task is parked on its
empty queue, that is, one that has already handed everything queued before to its transport;
any other connection (busy writer, slow reader with a full transport buffer, a polling
client, a connection being upgraded or closed) gets the packet through python-engineio's
queue as before, and so do all packets other code sends. A flush scheduled with
``call_soon`` at a tick's first direct frame runs before any writer woken later in the tick.

The connections are found by wrapping, on this server only, the websocket class of
python-engineio's ``asgi`` and ``aiohttp`` drivers; the transports are Uvicorn's wsproto
connection's and aiohttp's. This leans on internals of python-engineio (read in 4.11 to
4.15: the driver classes, ``AsyncSocket.queue`` and its writer task parking in
``queue.get()``), so it is on only for the versions verified below, and any other server,
driver or version keeps the plain path. On a connection that negotiated permessage-deflate,
frames of 1,024 bytes or more take the plain path and are compressed as before (Node's
``ws`` does not compress below that size either); smaller ones are sent uncompressed,
which RFC 7692 allows.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any

from .metrics import Counters
from .slow_clients import VERIFIED_ENGINEIO, engineio_version

__all__ = ["DirectWriter", "websocket_frame"]

# Frames this large keep the plain path on a compressed connection (ws's default threshold).
COMPRESSION_THRESHOLD = 1024
# A connection with more than this waiting in its transport is not keeping up: its packets
# go through python-engineio's queue, whose writer waits for the transport to drain.
WRITE_BUFFER_LIMIT = 64 * 1024

Targets = Sequence[tuple[str, str]]  # (sid, eio_sid)


def websocket_frame(message: str | bytes) -> bytes:
    """One unfragmented, unmasked websocket frame (server to client) carrying ``message``."""
    if isinstance(message, str):
        data = message.encode()
        first = 0x81  # FIN + text
    else:
        data = bytes(message)
        first = 0x82  # FIN + binary
    size = len(data)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + data


class _Sink:
    """One websocket connection that frames can be written to, with its engine socket."""

    __slots__ = ("compressed", "socket", "transport")

    def __init__(self, socket: Any, transport: asyncio.WriteTransport, compressed: bool) -> None:
        self.socket = socket
        self.transport = transport
        self.compressed = compressed

    def is_open(self) -> bool:
        """Whether the server still sends data frames on this connection."""
        return True

    def accepts(self, size: int) -> bool:
        """Whether a frame of ``size`` bytes may be written now, ahead of nothing queued."""
        socket = self.socket
        queue = socket.queue
        return bool(
            queue.empty()
            and queue._getters  # the writer task is parked on the empty queue
            and socket.upgraded
            and not socket.upgrading
            and not socket.closing
            and not socket.closed
            and (size < COMPRESSION_THRESHOLD or not self.compressed)
            and not self.transport.is_closing()
            and self.transport.get_write_buffer_size() <= WRITE_BUFFER_LIMIT
            and self.is_open()
        )


class _UvicornWsprotoSink(_Sink):
    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any, compressed: bool) -> None:
        super().__init__(None, protocol.transport, compressed)
        self._protocol = protocol

    def is_open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected)


class _AiohttpSink(_Sink):
    __slots__ = ("_response",)

    def __init__(self, response: Any, transport: asyncio.WriteTransport) -> None:
        super().__init__(None, transport, bool(response.compress))
        self._response = response

    def is_open(self) -> bool:
        return not self._response.closed


def _wsproto_deflates(protocol: Any) -> bool:
    """Whether Uvicorn's wsproto connection agreed on permessage-deflate (when it cannot
    tell, it answers yes: large frames then keep the compressing path)."""
    if not protocol.config.ws_per_message_deflate:
        return False
    try:
        extensions = protocol.conn.connection._proto.extensions
    except AttributeError:  # a wsproto whose layout is not this one
        return True
    return any(ext.name == "permessage-deflate" and ext.enabled() for ext in extensions)


def _uvicorn_wsproto_sink(ws: Any) -> _Sink | None:
    try:
        from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
    except ImportError:  # uvicorn or wsproto missing: nothing to wrap
        return None
    protocol = getattr(getattr(ws, "asgi_send", None), "__self__", None)
    if not isinstance(protocol, WSProtocol) or protocol.transport is None:
        return None
    return _UvicornWsprotoSink(protocol, _wsproto_deflates(protocol))


def _aiohttp_sink(ws: Any) -> _Sink | None:
    try:
        from aiohttp.web_ws import WebSocketResponse
    except ImportError:  # aiohttp missing
        return None
    response = getattr(ws, "_sock", None)
    request = (getattr(ws, "environ", None) or {}).get("aiohttp.request")
    if not isinstance(response, WebSocketResponse) or request is None:
        return None
    transport = request.transport
    return None if transport is None else _AiohttpSink(response, transport)


_SINK_FACTORIES: dict[str, Callable[[Any], _Sink | None]] = {
    "asgi": _uvicorn_wsproto_sink,
    "aiohttp": _aiohttp_sink,
}


class DirectWriter:
    """Direct frame writes for one python-socketio server's websocket connections."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._sinks: dict[str, _Sink] = {}  # eio sid -> its connection, while it is open
        self._pending: dict[_Sink, list[bytes]] = {}
        self._flush_scheduled = False

    @classmethod
    def install(
        cls, server: Any, counters: Counters, logger: logging.Logger
    ) -> DirectWriter | None:
        """Wrap ``server``'s websocket driver so its connections are known; ``None`` (plain
        path) when the server, driver or python-engineio version is not one verified here."""
        eio: Any = getattr(server, "eio", None)
        mode: Any = getattr(eio, "async_mode", None)
        drivers: Any = getattr(eio, "_async", None)
        found = engineio_version()
        low, high = VERIFIED_ENGINEIO
        reason = None
        if found is None or not low <= found[:2] < high:
            reason = f"python-engineio {'.'.join(map(str, found or ())) or '(unknown)'}"
        elif mode not in _SINK_FACTORIES or not isinstance(drivers, dict):
            reason = f"async_mode {mode!r}"
        elif not hasattr(asyncio.Queue(), "_getters"):  # CPython changed it
            reason = "this Python's asyncio.Queue"
        if reason is not None:
            logger.info("Broadcasts take python-engineio's send path: %s is not supported", reason)
            return None
        writer = cls(counters)
        eio._async = {**drivers, "websocket": writer._wrap(drivers["websocket"], mode)}
        return writer

    def _wrap(self, driver: type, mode: str) -> type:
        """A subclass of the driver's websocket class that records each open connection."""
        make_sink = _SINK_FACTORIES[mode]
        sinks = self._sinks

        class TrackedWebSocket(driver):  # type: ignore[misc]
            def __init__(self, handler: Any, server: Any) -> None:
                socket = getattr(handler, "__self__", None)

                async def tracked(ws: Any) -> Any:
                    sink = make_sink(ws)
                    if sink is None or socket is None:
                        return await handler(ws)
                    sink.socket = socket
                    sinks[socket.sid] = sink
                    try:
                        return await handler(ws)
                    finally:
                        if sinks.get(socket.sid) is sink:
                            del sinks[socket.sid]

                super().__init__(tracked, server)

        TrackedWebSocket.__qualname__ = f"Tracked{driver.__qualname__}"
        return TrackedWebSocket

    def write(self, packets: Sequence[Any], targets: Targets) -> Targets:
        """Queue ``packets``' frames for every target that accepts a direct write now;
        return the targets that must take python-engineio's path."""
        sinks = self._sinks
        if not sinks:
            return targets
        if len(packets) == 1:  # a text event: the common case, without a generator
            frame = websocket_frame(packets[0].encode())
        else:
            frame = b"".join(websocket_frame(pkt.encode()) for pkt in packets)
        size = len(frame)
        pending = self._pending
        rest: list[tuple[str, str]] = []
        written = 0
        for target in targets:
            sink = sinks.get(target[1])
            if sink is None or not sink.accepts(size):
                rest.append(target)
                continue
            frames = pending.get(sink)
            if frames is None:
                pending[sink] = [frame]
            else:
                frames.append(frame)
            written += 1
        if written:
            self._counters.direct_writes += written
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
        return rest

    def _flush(self) -> None:
        """Hand each connection what it got this tick, in one write."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for sink, frames in pending.items():
            transport = sink.transport
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
