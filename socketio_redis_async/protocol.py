"""The classic Redis adapter wire protocol (PROTOCOL.md sections 2 and 3), as pure data.

Channel names, message models, and ``encode_*``/``decode_*`` functions; no I/O. Every decoder
validates the shape it needs and raises :class:`ProtocolError`, so a hostile or malformed
message can be logged and dropped by the caller without any partial effect.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Any, TypeAlias

from .errors import ProtocolError
from .parser import JSON, MSGPACK, MsgpackParser, Parser

__all__ = [
    "EMITTER_UID",
    "EVENT",
    "RESERVED_EVENTS",
    "RESERVED_SERVER_SIDE_EVENTS",
    "AckResponse",
    "AnyRequest",
    "AnyResponse",
    "Broadcast",
    "BroadcastRequest",
    "Channels",
    "ClientCountResponse",
    "DisconnectRequest",
    "FetchRequest",
    "JoinLeaveRequest",
    "LegacyDisconnectRequest",
    "LegacyJoinLeaveRequest",
    "RequestType",
    "Room",
    "RoomsRequest",
    "ServerSideEmitRequest",
    "ServerSideEmitResponse",
    "SocketsRequest",
    "Target",
    "ValueResponse",
    "decode_broadcast",
    "decode_request",
    "decode_response",
    "encode_broadcast",
    "encode_emitter_broadcast",
    "encode_request",
    "encode_response",
    "new_uid",
    "room_from_channel_suffix",
]

Room: TypeAlias = "str | int"
EVENT = 2  # socket.io-parser PacketType.EVENT: the only packet type carried between servers
EMITTER_UID = "emitter"
# Event names no server or emitter may emit to clients (socket.io's socket RESERVED_EVENTS)
# and names a server-side emit may not use (its Namespace RESERVED_EVENTS).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
RESERVED_SERVER_SIDE_EVENTS = frozenset({"connect", "connection", "new_namespace"})
_UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_JSON_START = 0x7B  # "{": JSON on the request/response channels, anything else is the parser's


class RequestType(IntEnum):
    """Request and response types of the classic adapter (``RequestType`` in Node)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


_REQUEST_TYPES = frozenset(RequestType)


def new_uid() -> str:
    """A 6-character id like Node's ``uid2(6)``, used for server uids and request ids."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class Channels:
    """Every channel name of one namespace under one key, as the bytes Redis reports."""

    key: str
    nsp: str
    broadcast: bytes = field(init=False)
    pattern: bytes = field(init=False)
    request: bytes = field(init=False)
    response: bytes = field(init=False)

    def __post_init__(self) -> None:
        base = f"{self.key}#{self.nsp}#".encode()
        object.__setattr__(self, "broadcast", base)
        object.__setattr__(self, "pattern", base + b"*")
        object.__setattr__(self, "request", f"{self.key}-request#{self.nsp}#".encode())
        object.__setattr__(self, "response", f"{self.key}-response#{self.nsp}#".encode())

    def room(self, room: Room) -> bytes:
        """The channel of a broadcast to exactly one room: ``key#nsp#room#``."""
        return self.broadcast + str(room).encode() + b"#"

    def specific_response(self, uid: str) -> bytes:
        """The response channel private to the server with this uid."""
        return self.response + uid.encode() + b"#"

    def for_target(self, rooms: Sequence[Room]) -> bytes:
        """Node's rule: the room channel iff exactly one room, else the bare channel."""
        return self.room(rooms[0]) if len(rooms) == 1 else self.broadcast


# JavaScript's `!isNaN(s) && !isNaN(parseFloat(s))` for the strings a room channel can carry.
_JS_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def room_from_channel_suffix(suffix: str) -> tuple[str, int | float | None]:
    """The room named by a room channel, and its numeric reading if Node would make one.

    ``socket.io#/#42#`` may address the string room ``"42"`` or the number ``42``: the
    channel is only a pre-filter, so both readings are offered to the caller.
    """
    if _JS_NUMERIC.fullmatch(suffix.strip()):
        number = float(suffix)
        return suffix, int(number) if number.is_integer() else number
    return suffix, None


# --- shared validators --------------------------------------------------------------------


def _describe(value: Any) -> str:
    """A short, safe description of an untrusted value for an error message.

    Never ``repr()`` what came off the wire: it may be megabytes long or nested deeper
    than the interpreter's recursion limit.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return f"of type {type(value).__name__}"


def _room_list(value: Any, what: str, field: str = "") -> tuple[Room, ...]:
    """A list of room names; ``what + field`` names it in an error (joined only then: this
    runs for every broadcast received)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProtocolError(f"{what}{field} must be an array")
    for room in value:
        if isinstance(room, bool) or not isinstance(room, (str, int, float)):
            raise ProtocolError(f"{what}{field} holds a {type(room).__name__}, not a room name")
    return tuple(value)


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _map(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a map")
    return value


@dataclass(slots=True)  # not frozen: built for every message, and frozen __init__ is slow
class Target:
    """Node's BroadcastOptions: union of ``rooms`` (empty = everyone) minus ``except``."""

    rooms: tuple[Room, ...] = ()
    except_rooms: tuple[Room, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self, *, with_flags: bool = True) -> dict[str, Any]:
        wire: dict[str, Any] = {"rooms": list(self.rooms), "except": list(self.except_rooms)}
        if with_flags:
            wire["flags"] = dict(self.flags)
        return wire

    @classmethod
    def from_wire(cls, value: Any, what: str = "opts") -> Target:
        opts = _map(value, what)
        # Most broadcasts name no room and exclude none: no call for those.
        rooms = opts.get("rooms")
        rooms = () if rooms is None or rooms == [] else _room_list(rooms, what, ".rooms")
        excluded = opts.get("except")
        excluded = (
            () if excluded is None or excluded == [] else _room_list(excluded, what, ".except")
        )
        flags = opts.get("flags")
        if flags is None:
            flags = {}
        elif not isinstance(flags, dict):
            raise ProtocolError(f"{what}.flags must be a map")
        return cls(rooms, excluded, flags)


def _event_packet(value: Any, what: str) -> tuple[list[Any], str | None]:
    """Validate a Socket.IO packet map and return its ``data`` and ``nsp``."""
    packet = _map(value, what)
    if packet.get("type") != EVENT:
        raise ProtocolError(f"{what}.type must be {EVENT} (EVENT)")
    data = packet.get("data")
    if not isinstance(data, list) or not data:
        raise ProtocolError(f"{what}.data must be a non-empty array")
    if not isinstance(data[0], str):
        raise ProtocolError(f"{what}.data[0] (the event name) must be a string")
    # A packet ``id`` (Node's connection-state-recovery socket.emit with ack) is not carried
    # over: the ack could only reach the sending server's own socket, never one of ours.
    nsp = packet.get("nsp")
    if nsp is not None and not isinstance(nsp, str):
        raise ProtocolError(f"{what}.nsp must be a string")
    return data, nsp


# --- broadcasts (key#nsp#...) --------------------------------------------------------------


@dataclass(slots=True)
class Broadcast:
    """``[uid, {type, data, nsp}, {rooms, except, flags}]`` on the broadcast channels."""

    uid: str
    nsp: str
    data: list[Any]
    target: Target


def encode_broadcast(parser: Parser, uid: str, nsp: str, data: list[Any], target: Target) -> bytes:
    """Bytes identical to ``@socket.io/redis-adapter`` 8.3 for the same broadcast."""
    if type(parser) is MsgpackParser:
        head, nsp_entry = _msgpack_frame(uid, nsp)
        if target.rooms or target.except_rooms or target.flags:
            opts = parser.encode(target.to_wire())
        else:
            opts = _MSGPACK_NO_TARGET
        return b"".join((head, parser.encode(data), nsp_entry, opts))
    return parser.encode([uid, {"type": EVENT, "data": data, "nsp": nsp}, target.to_wire()])


# msgpack concatenates: the message is its fixed parts, packed once, around the packed data.
# Packing only ``data`` per emit is about 3x cheaper than packing the whole message.
_MSGPACK_NO_TARGET = MSGPACK.encode(Target().to_wire())


@lru_cache(maxsize=256)  # a server has one uid and a few namespaces (dynamic ones: many)
def _msgpack_frame(uid: str, nsp: str) -> tuple[bytes, bytes]:
    """What precedes ``data`` in a broadcast (``[uid, {type: 2, data:``) and what follows
    it before the opts (``nsp: <nsp>}``), as ``encode_broadcast``'s generic form packs them."""
    pack = MSGPACK.encode
    head = b"\x93" + pack(uid) + b"\x83" + pack("type") + pack(EVENT) + pack("data")
    return head, pack("nsp") + pack(nsp)


def encode_emitter_broadcast(parser: Parser, nsp: str, data: list[Any], target: Target) -> bytes:
    """Bytes identical to ``@socket.io/redis-emitter`` 5.1: uid ``"emitter"`` and its own
    opts key order ``rooms, flags, except``."""
    opts = {
        "rooms": list(target.rooms),
        "flags": dict(target.flags),
        "except": list(target.except_rooms),
    }
    return parser.encode([EMITTER_UID, {"type": EVENT, "data": data, "nsp": nsp}, opts])


def decode_broadcast(parser: Parser, payload: bytes) -> Broadcast:
    try:
        message = parser.decode(payload)
    except Exception as exc:
        raise ProtocolError(f"undecodable broadcast: {exc}") from exc
    if not isinstance(message, list) or len(message) != 3:
        raise ProtocolError("a broadcast must be an array [uid, packet, opts]")
    uid, packet, opts = message
    data, nsp = _event_packet(packet, "packet")
    return Broadcast(_str(uid, "uid"), nsp or "/", data, Target.from_wire(opts))


# --- requests (key-request#nsp#) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketsRequest:
    """Type 0 (legacy, never sent by adapter 8.x): the sids in ``rooms``."""

    uid: str | None
    request_id: str
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class RoomsRequest:
    """Type 1, ALL_ROOMS."""

    uid: str | None
    request_id: str


@dataclass(frozen=True, slots=True)
class JoinLeaveRequest:
    """Types 2 and 3 in the ``opts`` form: make the targeted sockets join/leave ``rooms``."""

    uid: str | None
    join: bool
    target: Target
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class LegacyJoinLeaveRequest:
    """Types 2 and 3 in the legacy form: one ``sid`` joins/leaves one ``room``."""

    uid: str | None
    join: bool
    request_id: str | None
    sid: str
    room: Room


@dataclass(frozen=True, slots=True)
class DisconnectRequest:
    """Type 4 in the ``opts`` form."""

    uid: str | None
    target: Target
    close: bool


@dataclass(frozen=True, slots=True)
class LegacyDisconnectRequest:
    """Type 4 in the legacy form: disconnect one ``sid``."""

    uid: str | None
    request_id: str | None
    sid: str
    close: bool


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """Type 5, REMOTE_FETCH: details of the targeted sockets."""

    uid: str | None
    request_id: str
    target: Target


@dataclass(frozen=True, slots=True)
class ServerSideEmitRequest:
    """Type 6: an event for the other servers, answered only when ``request_id`` is set."""

    uid: str | None
    request_id: str | None
    data: list[Any]


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """Type 7: a broadcast whose clients' acks travel back as responses 8 and 9."""

    uid: str | None
    request_id: str
    data: list[Any]
    target: Target


AnyRequest: TypeAlias = (
    "SocketsRequest | RoomsRequest | JoinLeaveRequest | LegacyJoinLeaveRequest"
    " | DisconnectRequest | LegacyDisconnectRequest | FetchRequest | ServerSideEmitRequest"
    " | BroadcastRequest"
)


def _decode_sniffed(parser: Parser, payload: bytes, what: str) -> Mapping[str, Any]:
    """Node's rule for the request/response channels: ``{`` means JSON, else the parser."""
    try:
        message = JSON.decode(payload) if payload[:1] == b"{" else parser.decode(payload)
    except Exception as exc:
        raise ProtocolError(f"undecodable {what}: {exc}") from exc
    return _map(message, what)


def _room(value: Any, what: str) -> Room:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"{what} must be a room name")
    return value


def decode_request(parser: Parser, payload: bytes) -> AnyRequest:
    msg = _decode_sniffed(parser, payload, "request")
    raw_type = msg.get("type")
    if (
        isinstance(raw_type, bool)
        or not isinstance(raw_type, int)
        or raw_type not in _REQUEST_TYPES
    ):
        raise ProtocolError(f"unknown request type {_describe(raw_type)}")
    kind = RequestType(raw_type)
    uid = _optional_str(msg.get("uid"), "uid")
    request_id = _optional_str(msg.get("requestId"), "requestId")

    def required_id() -> str:
        if request_id is None:
            raise ProtocolError(f"{kind.name} request without requestId")
        return request_id

    if kind is RequestType.SOCKETS:
        return SocketsRequest(uid, required_id(), _room_list(msg.get("rooms"), "rooms"))
    if kind is RequestType.ALL_ROOMS:
        return RoomsRequest(uid, required_id())
    if kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
        join = kind is RequestType.REMOTE_JOIN
        if msg.get("opts"):
            target = Target.from_wire(msg["opts"])
            return JoinLeaveRequest(uid, join, target, _room_list(msg.get("rooms"), "rooms"))
        return LegacyJoinLeaveRequest(
            uid, join, request_id, _str(msg.get("sid"), "sid"), _room(msg.get("room"), "room")
        )
    if kind is RequestType.REMOTE_DISCONNECT:
        close = bool(msg.get("close", False))
        if msg.get("opts"):
            return DisconnectRequest(uid, Target.from_wire(msg["opts"]), close)
        return LegacyDisconnectRequest(uid, request_id, _str(msg.get("sid"), "sid"), close)
    if kind is RequestType.REMOTE_FETCH:
        return FetchRequest(uid, required_id(), Target.from_wire(msg.get("opts")))
    if kind is RequestType.SERVER_SIDE_EMIT:
        data = msg.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ProtocolError("SERVER_SIDE_EMIT data must be [event, ...args]")
        return ServerSideEmitRequest(uid, request_id, data)
    if kind is RequestType.BROADCAST:
        data, _ = _event_packet(msg.get("packet"), "packet")
        return BroadcastRequest(uid, required_id(), data, Target.from_wire(msg.get("opts")))
    raise ProtocolError(f"{kind.name} is a response type, not a request")


def encode_request(parser: Parser, message: AnyRequest, nsp: str) -> bytes:
    """Node's encoding and key order for each request type (BROADCAST is the parser's)."""
    body: dict[str, Any] = {}
    if message.uid is not None:
        body["uid"] = message.uid
    match message:
        case SocketsRequest():
            body |= {"requestId": message.request_id, "type": 0, "rooms": list(message.rooms)}
        case RoomsRequest():
            body |= {"requestId": message.request_id, "type": 1}
        case JoinLeaveRequest():
            body |= {
                "type": 2 if message.join else 3,
                "opts": message.target.to_wire(with_flags=False),
                "rooms": list(message.rooms),
            }
        case LegacyJoinLeaveRequest():
            if message.request_id is not None:
                body["requestId"] = message.request_id
            body |= {"type": 2 if message.join else 3, "sid": message.sid, "room": message.room}
        case DisconnectRequest():
            body |= {
                "type": 4,
                "opts": message.target.to_wire(with_flags=False),
                "close": message.close,
            }
        case LegacyDisconnectRequest():
            if message.request_id is not None:
                body["requestId"] = message.request_id
            body |= {"type": 4, "sid": message.sid, "close": message.close}
        case FetchRequest():
            body |= {
                "requestId": message.request_id,
                "type": 5,
                "opts": message.target.to_wire(with_flags=False),
            }
        case ServerSideEmitRequest():
            if message.request_id is not None:
                body["requestId"] = message.request_id
            body |= {"type": 6, "data": message.data}
        case BroadcastRequest():
            body |= {
                "requestId": message.request_id,
                "type": 7,
                "packet": {"type": EVENT, "data": message.data, "nsp": nsp},
                "opts": message.target.to_wire(),
            }
            return parser.encode(body)
    return JSON.encode(body)


# --- responses (key-response#nsp# and key-response#nsp#<uid>#) -----------------------------


@dataclass(frozen=True, slots=True)
class ClientCountResponse:
    """Type 8: how many clients one server sent a BROADCAST request to."""

    request_id: str
    client_count: int


@dataclass(frozen=True, slots=True)
class AckResponse:
    """Type 9: one client's ack; Node forwards only its first argument (``args`` has 0-1)."""

    request_id: str
    args: list[Any]


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    """Type 6: one server's answer to a server-side emit with ack (first argument only)."""

    request_id: str
    args: list[Any]


@dataclass(frozen=True, slots=True)
class ValueResponse:
    """An untyped response (SOCKETS, ALL_ROOMS, REMOTE_FETCH, legacy join/leave/disconnect).

    Which field matters depends on the request it answers, so the body is kept whole and
    interpreted by whoever waits for ``request_id``.
    """

    request_id: str
    body: Mapping[str, Any]


AnyResponse: TypeAlias = (
    "ClientCountResponse | AckResponse | ServerSideEmitResponse | ValueResponse"
)


def decode_response(parser: Parser, payload: bytes) -> AnyResponse:
    msg = _decode_sniffed(parser, payload, "response")
    request_id = _str(msg.get("requestId"), "requestId")
    kind = msg.get("type")
    if kind is None:
        return ValueResponse(request_id, msg)
    if kind == RequestType.BROADCAST_CLIENT_COUNT:
        count = msg.get("clientCount")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ProtocolError("clientCount must be a non-negative integer")
        return ClientCountResponse(request_id, count)
    if kind == RequestType.BROADCAST_ACK:
        return AckResponse(request_id, [msg["packet"]] if "packet" in msg else [])
    if kind == RequestType.SERVER_SIDE_EMIT:
        return ServerSideEmitResponse(request_id, [msg["data"]] if "data" in msg else [])
    raise ProtocolError(f"unknown response type {_describe(kind)}")


def encode_response(parser: Parser, message: AnyResponse) -> bytes:
    """Node's encoding: JSON, except BROADCAST_ACK which is the parser's (msgpack)."""
    match message:
        case ClientCountResponse():
            return JSON.encode(
                {"type": 8, "requestId": message.request_id, "clientCount": message.client_count}
            )
        case AckResponse():
            body: dict[str, Any] = {"type": 9, "requestId": message.request_id}
            if message.args:
                body["packet"] = message.args[0]
            return parser.encode(body)
        case ServerSideEmitResponse():
            body = {"type": 6, "requestId": message.request_id}
            if message.args:
                body["data"] = message.args[0]
            return JSON.encode(body)
        case ValueResponse():
            return JSON.encode({"requestId": message.request_id, **message.body})
    raise TypeError(f"not a response: {type(message).__name__}")
