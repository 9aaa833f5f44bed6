"""What the ``monitor`` command shows: adapter messages decoded into one readable record.

Pure functions, no I/O. :func:`decode_classic` and :func:`decode_sharded_message` turn a
channel and payload (as Redis delivered them) into a :class:`WireMessage` with the package's
own decoders, so the monitor reads the wire exactly as the adapters do; a message they reject
is still shown, with the reason. :func:`render_text` makes one line for a person (ANSI colour
optional, values truncated, binary as ``<N bytes>``), :func:`render_json` one JSON object
for a program (bytes as ``{"$bin": hex}``, nothing truncated).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import cluster_protocol as cp
from . import protocol as p
from .errors import ProtocolError
from .parser import JSON, MSGPACK, Parser

__all__ = [
    "Palette",
    "WireMessage",
    "decode_classic",
    "decode_sharded_message",
    "format_value",
    "render_json",
    "render_text",
    "to_json_value",
]

_KNOWN_TYPES = frozenset(cp.MessageType)
_MAX_DEPTH = 4  # deeper values are shown as … (the wire is untrusted; keep output bounded)
_MAX_ITEMS = 10  # list items / map entries shown before "+N more"
_MAX_STRING = 60  # characters of one string before it is cut


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One adapter message as the monitor shows it.

    ``kind`` is ``broadcast``, ``request``, ``response`` or ``invalid``; ``type`` the name the
    protocol gives it (``broadcast`` for a plain broadcast, else ``RequestType`` names in the
    classic protocol and ``MessageType`` names in the sharded one). ``uid`` is the sender
    (``"emitter"`` for an emitter, ``None`` when the message carries none); ``to_uid`` the
    server a response is addressed to when its channel says so.
    """

    time: float
    protocol: str  # "classic" or "sharded"
    channel: bytes
    size: int
    kind: str
    type: str
    uid: str | None = None
    nsp: str | None = None
    to_uid: str | None = None
    request_id: str | None = None
    rooms: tuple[p.Room, ...] = ()
    except_rooms: tuple[p.Room, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)
    event: str | None = None
    args: tuple[Any, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def _target(target: p.Target) -> dict[str, Any]:
    return {"rooms": target.rooms, "except_rooms": target.except_rooms, "flags": target.flags}


def _event(data: Sequence[Any]) -> dict[str, Any]:
    return {"event": data[0], "args": tuple(data[1:])}


def _split_nsp(rest: bytes) -> tuple[str | None, bytes]:
    """``nsp#tail`` -> (nsp, tail); a channel without the ``#`` has no namespace."""
    nsp, sep, tail = rest.partition(b"#")
    if not sep:
        return None, b""
    return nsp.decode(errors="replace"), tail


def _uid_suffix(tail: bytes) -> str | None:
    """The uid of a private response channel's tail ``uid#``."""
    if tail.endswith(b"#") and len(tail) > 1:
        return tail[:-1].decode(errors="replace")
    return None


def _classic_request(message: p.AnyRequest) -> dict[str, Any]:
    match message:
        case p.SocketsRequest():
            return {"type": "SOCKETS", "request_id": message.request_id, "rooms": message.rooms}
        case p.RoomsRequest():
            return {"type": "ALL_ROOMS", "request_id": message.request_id}
        case p.JoinLeaveRequest():
            verb = "join" if message.join else "leave"
            return {
                "type": "REMOTE_JOIN" if message.join else "REMOTE_LEAVE",
                **_target(message.target),
                "details": {verb: list(message.rooms)},
            }
        case p.LegacyJoinLeaveRequest():
            verb = "join" if message.join else "leave"
            return {
                "type": "REMOTE_JOIN" if message.join else "REMOTE_LEAVE",
                "request_id": message.request_id,
                "details": {"sid": message.sid, verb: [message.room]},
            }
        case p.DisconnectRequest():
            return {
                "type": "REMOTE_DISCONNECT",
                **_target(message.target),
                "details": {"close": message.close},
            }
        case p.LegacyDisconnectRequest():
            return {
                "type": "REMOTE_DISCONNECT",
                "request_id": message.request_id,
                "details": {"sid": message.sid, "close": message.close},
            }
        case p.FetchRequest():
            return {
                "type": "REMOTE_FETCH",
                "request_id": message.request_id,
                **_target(message.target),
            }
        case p.ServerSideEmitRequest():
            return {
                "type": "SERVER_SIDE_EMIT",
                "request_id": message.request_id,
                **_event(message.data),
            }
        case p.BroadcastRequest():
            return {
                "type": "BROADCAST",
                "request_id": message.request_id,
                **_target(message.target),
                **_event(message.data),
            }
    raise TypeError(f"not a request: {type(message).__name__}")


def _sockets_summary(sockets: Sequence[Any]) -> dict[str, Any]:
    """FETCH responses: each socket's id and rooms (handshakes are too long for a line)."""
    summary = []
    for socket in sockets:
        if isinstance(socket, Mapping):
            summary.append({"id": socket.get("id"), "rooms": socket.get("rooms")})
        else:
            summary.append({"id": socket})
    return {"sockets": summary}


def _response(message: p.AnyResponse | p.ValueResponse) -> dict[str, Any]:
    match message:
        case p.ClientCountResponse():
            return {
                "type": "BROADCAST_CLIENT_COUNT",
                "request_id": message.request_id,
                "details": {"clientCount": message.client_count},
            }
        case p.AckResponse():
            return {"type": "BROADCAST_ACK", "request_id": message.request_id, "args": message.args}
        case p.ServerSideEmitResponse():
            return {
                "type": "SERVER_SIDE_EMIT_RESPONSE",
                "request_id": message.request_id,
                "args": message.args,
            }
        case p.ValueResponse():
            body = message.body
            sockets = body.get("sockets")
            if "rooms" in body:
                kind, details = "ALL_ROOMS_RESPONSE", {"rooms": body["rooms"]}
            elif isinstance(sockets, list) and all(isinstance(s, str) for s in sockets):
                kind, details = "SOCKETS_RESPONSE", {"sockets": sockets}
            elif isinstance(sockets, list):
                kind, details = "REMOTE_FETCH_RESPONSE", _sockets_summary(sockets)
            else:
                kind, details = "RESPONSE", {}
            return {"type": kind, "request_id": message.request_id, "details": details}
    raise TypeError(f"not a response: {type(message).__name__}")


def decode_classic(
    channel: bytes,
    payload: bytes,
    key: str = "socket.io",
    *,
    parser: Parser = MSGPACK,
    received: float | None = None,
) -> WireMessage | None:
    """Decode a message of the classic adapter or emitter, or ``None`` if ``channel`` is
    none of ``key``'s channels (``key#nsp#...``, ``key-request#nsp#``, ``key-response#...``)."""
    when = time.time() if received is None else received
    base: dict[str, Any] = {
        "time": when,
        "protocol": "classic",
        "channel": channel,
        "size": len(payload),
    }
    prefix = key.encode()
    fields: dict[str, Any]
    try:
        if channel.startswith(prefix + b"#"):
            nsp, _ = _split_nsp(channel[len(prefix) + 1 :])
            kind = "broadcast"
            broadcast = p.decode_broadcast(parser, payload)
            fields = {
                "type": "broadcast",
                "uid": broadcast.uid,
                "nsp": broadcast.nsp,
                **_target(broadcast.target),
                **_event(broadcast.data),
            }
        elif channel.startswith(prefix + b"-request#"):
            nsp, _ = _split_nsp(channel[len(prefix) + 9 :])
            kind = "request"
            request = p.decode_request(parser, payload)
            fields = {"uid": request.uid, "nsp": nsp, **_classic_request(request)}
        elif channel.startswith(prefix + b"-response#"):
            nsp, tail = _split_nsp(channel[len(prefix) + 10 :])
            kind = "response"
            response = p.decode_response(parser, payload)
            fields = {"nsp": nsp, "to_uid": _uid_suffix(tail), **_response(response)}
        else:
            return None
    except ProtocolError as exc:
        return WireMessage(**base, kind="invalid", type=kind, nsp=nsp, error=str(exc))
    return WireMessage(**base, kind=kind, **fields)


def _envelope_type(payload: bytes) -> str:
    """The type name of a message whose body the decoder ignores (heartbeats, unknown)."""
    envelope = JSON.decode(payload) if payload[:1] == b"{" else MSGPACK.decode(payload)
    raw = envelope["type"]  # decode_sharded checked: a map with an integer type
    return cp.MessageType(raw).name if raw in _KNOWN_TYPES else f"type {raw}"


def _sharded_body(body: cp.ClusterBody) -> dict[str, Any]:
    if isinstance(body, p.Broadcast):
        return {"type": "broadcast", **_target(body.target), **_event(body.data)}
    name = cp.message_type(body).name
    match body:
        case p.BroadcastRequest():
            return {
                "type": name,
                "request_id": body.request_id,
                **_target(body.target),
                **_event(body.data),
            }
        case p.JoinLeaveRequest():
            verb = "join" if body.join else "leave"
            return {"type": name, **_target(body.target), "details": {verb: list(body.rooms)}}
        case p.DisconnectRequest():
            return {"type": name, **_target(body.target), "details": {"close": body.close}}
        case p.FetchRequest():
            return {"type": name, "request_id": body.request_id, **_target(body.target)}
        case p.ValueResponse():
            return {
                "type": name,
                "request_id": body.request_id,
                "details": _sockets_summary(body.body["sockets"]),
            }
        case p.ServerSideEmitRequest():
            return {"type": name, "request_id": body.request_id, **_event(body.data)}
    return {**_response(body), "type": name}


def decode_sharded_message(
    channel: bytes, payload: bytes, prefix: str = "socket.io", *, received: float | None = None
) -> WireMessage | None:
    """Decode a sharded adapter (or sharded emitter) message, or ``None`` if ``channel`` is
    not under ``prefix#``. A response's channel ``prefix#nsp#uid#`` names its addressee."""
    if not channel.startswith(prefix.encode() + b"#"):
        return None
    when = time.time() if received is None else received
    base: dict[str, Any] = {
        "time": when,
        "protocol": "sharded",
        "channel": channel,
        "size": len(payload),
    }
    channel_nsp, tail = _split_nsp(channel[len(prefix) + 1 :])
    try:
        message = cp.decode_sharded(payload)
    except ProtocolError as exc:
        return WireMessage(**base, kind="invalid", type="message", nsp=channel_nsp, error=str(exc))
    common: dict[str, Any] = {"uid": message.uid, "nsp": message.nsp}
    if message.body is None:
        return WireMessage(**base, kind="ignored", type=_envelope_type(payload), **common)
    fields = _sharded_body(message.body)
    if cp.is_response(message.body):
        return WireMessage(**base, kind="response", to_uid=_uid_suffix(tail), **common, **fields)
    kind = "broadcast" if isinstance(message.body, p.Broadcast) else "request"
    return WireMessage(**base, kind=kind, **common, **fields)


# --- rendering ----------------------------------------------------------------------------


def _short_string(text: str, limit: int = _MAX_STRING) -> str:
    if len(text) > limit:
        text = text[:limit] + "…"
    return json.dumps(text, ensure_ascii=False)


def format_value(value: Any, depth: int = 0) -> str:
    """A compact, bounded rendering of a decoded value: JSON-like, strings cut, binary as
    ``<N bytes>``, dates in ISO 8601, lists and maps cut after a few items."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) and math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _short_string(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, (list, tuple)):
        items = [format_value(v, depth + 1) for v in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"+{len(value) - _MAX_ITEMS} more")
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        entries = [
            f"{_short_string(k) if isinstance(k, str) else format_value(k, depth + 1)}: "
            f"{format_value(v, depth + 1)}"
            for k, v in list(value.items())[:_MAX_ITEMS]
        ]
        if len(value) > _MAX_ITEMS:
            entries.append(f"+{len(value) - _MAX_ITEMS} more")
        return "{" + ", ".join(entries) + "}"
    return f"<{type(value).__name__}>"


def _rooms(rooms: Sequence[Any]) -> str:
    return "[" + ", ".join(str(r) for r in rooms[:_MAX_ITEMS]) + (
        f", +{len(rooms) - _MAX_ITEMS} more" if len(rooms) > _MAX_ITEMS else ""
    ) + "]"  # fmt: skip


@dataclass(frozen=True, slots=True)
class Palette:
    """ANSI styles; :data:`Palette.plain` has none (output that is not a terminal)."""

    enabled: bool

    def paint(self, text: str, *codes: int) -> str:
        if not self.enabled or not codes:
            return text
        return f"\x1b[{';'.join(map(str, codes))}m{text}\x1b[0m"


_KIND_COLOUR = {
    "broadcast": (32,),  # green
    "request": (33,),  # yellow
    "response": (35,),  # magenta
    "ignored": (2,),  # dim
    "invalid": (1, 31),  # bold red
}


def render_text(message: WireMessage, *, colour: bool = False, width: int = 160) -> str:
    """One line for a terminal: time, channel, sender, type, namespace, targets, event and
    arguments; the arguments are cut so that they take at most ``width`` characters
    (``0``: never cut)."""
    pal = Palette(colour)
    clock = _dt.datetime.fromtimestamp(message.time).strftime("%H:%M:%S.%f")[:-3]
    uid = message.uid if message.uid is not None else "(no uid)"
    parts = [
        pal.paint(clock, 2),
        pal.paint(message.channel.decode(errors="backslashreplace"), 34),
        pal.paint(uid, 36),
        pal.paint(message.type, 1, *_KIND_COLOUR.get(message.kind, ())),
    ]
    if message.nsp is not None:
        parts.append(f"nsp={message.nsp}")
    if message.to_uid is not None:
        parts.append(f"to={pal.paint(message.to_uid, 36)}")
    if message.request_id is not None:
        parts.append(f"req={message.request_id}")
    if message.rooms:
        parts.append(f"rooms={_rooms(message.rooms)}")
    if message.except_rooms:
        parts.append(f"except={_rooms(message.except_rooms)}")
    if message.flags:
        flags = ",".join(f"{k}={format_value(v)}" for k, v in message.flags.items())
        parts.append(f"flags={flags}")
    for name, value in message.details.items():
        parts.append(f"{name}={format_value(value)}")
    if message.error is not None:
        parts.append(pal.paint(f"undecodable ({message.size} bytes): {message.error}", 31))
    line = "  ".join(parts)
    if message.event is not None:
        line += "  " + pal.paint(_short_string(message.event), 1)
    if message.event is not None or message.args:
        args = ", ".join(format_value(arg) for arg in message.args)
        if width and len(args) > width:
            args = args[: width - 1] + "…"
        line += f"  ({args})"
    return line


def to_json_value(value: Any, depth: int = 0) -> Any:
    """A decoded value as JSON data: bytes as ``{"$bin": hex}``, dates in ISO 8601,
    non-finite numbers as strings, map keys as strings."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if depth > 200:  # far deeper than any real message; json.dumps would recurse out
        return "…"
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else json.dumps(to_json_value(k))): to_json_value(v, depth + 1)
            for k, v in value.items()
        }
    return value


def render_json(message: WireMessage) -> str:
    """One JSON object per message; absent fields are omitted."""
    record: dict[str, Any] = {
        "time": message.time,
        "protocol": message.protocol,
        "channel": message.channel.decode(errors="backslashreplace"),
        "size": message.size,
        "kind": message.kind,
        "type": message.type,
        "uid": message.uid,
    }
    optional = {
        "nsp": message.nsp,
        "to_uid": message.to_uid,
        "request_id": message.request_id,
        "rooms": list(message.rooms) or None,
        "except": list(message.except_rooms) or None,
        "flags": dict(message.flags) or None,
        "event": message.event,
        "details": dict(message.details) or None,
        "error": message.error,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    if message.event is not None or message.args:
        record["args"] = list(message.args)
    return json.dumps(to_json_value(record), ensure_ascii=False, separators=(",", ":"))
