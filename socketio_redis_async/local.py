"""Delivery to this server's own clients: select the sockets, encode once, send in a loop.

python-socketio's ``AsyncManager.emit`` starts one task per recipient; here the Socket.IO
packet is encoded once and the same Engine.IO packet objects are queued on every targeted
socket in order, which is several times cheaper and keeps per-socket ordering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from .direct_writes import DirectWriter
from .protocol import Room
from .slow_clients import ClientQueueLimit

__all__ = ["encode_event", "encode_text_event", "select_targets", "send_event", "send_packets"]

Targets = Sequence[tuple[str, str]]  # (sid, eio_sid)
# json.dumps with non-default options builds an encoder per call; this one is built once.
# Same output as python-socketio's dumps(data, separators=(",", ":")) for plain JSON data.
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _unsupported(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _fast_json() -> Callable[[Any], str]:
    """``_JSON_ENCODER.encode`` without its per-call setup: ``JSONEncoder.encode`` builds
    a C encoder and a circular-reference table on every call, which cost as much as the
    encoding of a small event. A circular value overflows the stack instead of failing the
    check: callers treat ``RecursionError`` as "not plain JSON" and take the general path,
    which reports it."""
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:  # an interpreter without the C accelerator
        return _JSON_ENCODER.encode
    encoder = make_encoder(
        None, _unsupported, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, False,
    )  # fmt: skip
    return lambda value: "".join(encoder(value, 0))


_encode_json = _fast_json()


def select_targets(
    namespace_rooms: Mapping[Any, Mapping[str, str]] | None,
    rooms: Iterable[Room],
    except_rooms: Iterable[Room] = (),
) -> list[tuple[str, str]]:
    """Node's ``apply()``: sockets in any of ``rooms`` (all if none), minus ``except_rooms``."""
    if not namespace_rooms:
        return []
    rooms = tuple(rooms)
    if not rooms:
        members: Mapping[str, str] = namespace_rooms.get(None) or {}
    elif len(rooms) == 1:
        members = namespace_rooms.get(rooms[0]) or {}
    else:
        merged: dict[str, str] = {}
        for room in rooms:
            merged.update(namespace_rooms.get(room) or {})
        members = merged
    excluded: set[str] = set()
    for room in except_rooms:
        excluded.update(namespace_rooms.get(room) or ())
    if not excluded:
        return list(members.items())
    return [(sid, eio_sid) for sid, eio_sid in members.items() if sid not in excluded]


def encode_text_event(server: Any, namespace: str, data: list[Any]) -> list[Any] | None:
    """The EVENT as one text packet, or ``None`` when ``data`` is not plain JSON.

    With python-socketio's default packet class and JSON module this writes exactly what
    ``Packet.encode`` writes, minus its search for binary parts: ``json.dumps`` fails fast
    on ``bytes`` (and on dates and NaN, which need care) and the caller takes the general
    path. One serialisation instead of a walk plus a serialisation.
    """
    packet_class = server.packet_class
    # python-socketio's default JSON module is engineio.json, whose dumps is the stdlib's.
    if packet_class is not sio_packet.Packet or packet_class.json.dumps is not json.dumps:
        return None
    try:
        text = _encode_json(data)
    except (TypeError, ValueError, RecursionError):
        return None
    prefix = "2" if namespace == "/" else f"2{namespace},"
    return [eio_packet.Packet(eio_packet.MESSAGE, prefix + text)]


def encode_event(server: Any, namespace: str, data: list[Any]) -> list[Any]:
    """The Engine.IO packets of one EVENT, built once for any number of recipients.

    Raises ``TypeError``/``ValueError`` when ``data`` cannot be sent to a client as JSON.
    """
    packets = encode_text_event(server, namespace, data)
    if packets is not None:
        return packets
    encoded = server.packet_class(sio_packet.EVENT, namespace=namespace, data=data).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]


async def send_packets(
    server: Any,
    packets: list[eio_packet.Packet],
    targets: Targets,
    limit: ClientQueueLimit | None = None,
    direct: DirectWriter | None = None,
) -> None:
    """Send the same packets to every target socket, in order, without a task per target.

    With a ``direct`` writer, idle websocket connections get the frames written straight to
    their transport (see :mod:`.direct_writes`); the others are queued on python-engineio.
    With a ``limit``, a socket whose Engine.IO queue is already over it gets nothing more
    and is disconnected (see :mod:`.slow_clients`): one dict lookup and one ``qsize()``
    per target.
    """
    if direct is not None:
        targets = direct.write(packets, targets)
        if not targets:
            return
    sockets = limit.sockets(server) if limit is not None else None
    if sockets is None:
        for _, eio_sid in targets:
            for pkt in packets:
                await server._send_eio_packet(eio_sid, pkt)
        return
    assert limit is not None
    max_packets = limit.limit
    for sid, eio_sid in targets:
        socket = sockets.get(eio_sid)
        if socket is not None and socket.queue.qsize() > max_packets:
            limit.exceeded(server, sid, eio_sid, socket)
            continue
        for pkt in packets:
            await server._send_eio_packet(eio_sid, pkt)


async def send_event(
    server: Any,
    namespace: str,
    data: list[Any],
    targets: Targets,
    limit: ClientQueueLimit | None = None,
    direct: DirectWriter | None = None,
) -> None:
    """Send ``data`` (``[event, *args]``) as one EVENT packet to every target, in order."""
    if targets:
        await send_packets(server, encode_event(server, namespace, data), targets, limit, direct)
