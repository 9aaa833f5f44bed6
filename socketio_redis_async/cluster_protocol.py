"""Node's ClusterAdapter wire protocol (PROTOCOL.md sections 4 and 5), as pure data.

Two Node adapters speak it: the sharded adapter (``createShardedAdapter``, sharded Pub/Sub)
and the Redis Streams adapter 0.3 (stream entries plus Pub/Sub). Both carry the same envelope
``{type, data, uid, nsp}``; they differ in how it is put into bytes and where it is sent.
The message bodies are the classic codec's dataclasses (:mod:`.protocol`), so the adapter core
handles them the same way whichever protocol brought them:

==========================================  ===========================================
ClusterAdapter type                         body
==========================================  ===========================================
3 BROADCAST                                 :class:`Broadcast`
3 BROADCAST with ``requestId``              :class:`BroadcastRequest`
4 SOCKETS_JOIN / 5 SOCKETS_LEAVE            :class:`JoinLeaveRequest`
6 DISCONNECT_SOCKETS                        :class:`DisconnectRequest`
7 FETCH_SOCKETS                             :class:`FetchRequest`
8 FETCH_SOCKETS_RESPONSE                    ``ValueResponse(request_id, {"sockets": [...]})``
9 SERVER_SIDE_EMIT                          :class:`ServerSideEmitRequest`
10 SERVER_SIDE_EMIT_RESPONSE                :class:`ServerSideEmitResponse`
11 BROADCAST_CLIENT_COUNT                   :class:`ClientCountResponse`
12 BROADCAST_ACK                            :class:`AckResponse`
1, 2, 13 (heartbeat variant) and unknown    ``None``: ignore the message, as Node does
==========================================  ===========================================

Building messages:

* :func:`message_type` and :func:`to_wire_dict` give the type and the envelope, with Node's
  key order everywhere (envelope ``type, data, uid, nsp``; ``opts`` always ``rooms, except,
  flags``; the packet of a broadcast is ``{type: 2, data}`` without ``nsp``).
* Sharded: :func:`encode_sharded` / :func:`decode_sharded` (JSON, or notepack msgpack when a
  binary-capable type carries bytes) and :class:`ShardedChannels` for the channel names and
  Node's ``computeChannel`` rule (:meth:`ShardedChannels.channel_for`,
  :func:`subscribes_to_room`).
* Streams 0.3: :func:`encode_stream_fields` / :func:`decode_stream_fields` for XADD entries,
  :func:`encode_streams_pubsub` / :func:`decode_streams_pubsub` for the Pub/Sub messages
  (requests in :func:`is_ephemeral` and every response), :func:`stream_name`. The public and
  private Pub/Sub channels are :attr:`ShardedChannels.main` and :meth:`ShardedChannels.response`.

Decoders validate the shape of every known type and raise :class:`ProtocolError` for anything
else, so the caller can log and drop it; errors never quote the untrusted value. The uid and
nsp in the envelope are checked for type only: dropping one's own messages (same uid) and other
namespaces' is the caller's job. Encoders write values as given (integral Python floats stay
float64 in msgpack, as in the rest of the package) and raise ``TypeError``, ``ValueError`` or
``OverflowError`` for values that cannot be encoded.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Any, Literal, TypeAlias

from .errors import ProtocolError
from .parser import JSON, MSGPACK
from .protocol import (
    EVENT,
    AckResponse,
    AnyRequest,
    Broadcast,
    BroadcastRequest,
    ClientCountResponse,
    DisconnectRequest,
    FetchRequest,
    JoinLeaveRequest,
    LegacyDisconnectRequest,
    LegacyJoinLeaveRequest,
    Room,
    RoomsRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    Target,
    ValueResponse,
    _describe,
    _event_packet,
    _map,
    _room_list,
    _str,
)

__all__ = [
    "ClusterBody",
    "ClusterMessage",
    "MessageType",
    "ShardedChannels",
    "SubscriptionMode",
    "decode_sharded",
    "decode_stream_fields",
    "decode_streams_pubsub",
    "encode_sharded",
    "encode_stream_fields",
    "encode_streams_pubsub",
    "has_binary",
    "is_ephemeral",
    "is_response",
    "message_type",
    "new_cluster_uid",
    "request_body",
    "stream_name",
    "subscribes_to_room",
    "to_wire_dict",
]


class MessageType(IntEnum):
    """``MessageType`` of socket.io-adapter's ``cluster-adapter.ts``."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


ClusterBody: TypeAlias = (
    Broadcast
    | BroadcastRequest
    | JoinLeaveRequest
    | DisconnectRequest
    | FetchRequest
    | ValueResponse
    | ServerSideEmitRequest
    | ServerSideEmitResponse
    | ClientCountResponse
    | AckResponse
)
SubscriptionMode: TypeAlias = Literal["static", "dynamic", "dynamic-private"]

# The types whose data may hold binary: only these are ever msgpack in the stream/sharded codec.
_MAY_CONTAIN_BINARY = frozenset({3, 8, 9, 10, 12})
_MODES = frozenset({"static", "dynamic", "dynamic-private"})
_SOCKET_ID_LENGTH = 20  # Node's "looks like a socket id": a string of 20 UTF-16 code units
_JS_PARSE_INT = re.compile(r"[\s\ufeff]*([+-]?)([0-9]+)")


def new_cluster_uid() -> str:
    """16 lowercase hex characters, like Node's ``randomBytes(8).toString("hex")``.

    Used for a ClusterAdapter server uid and for its request ids.
    """
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One decoded envelope. ``body`` is ``None`` for types the receiver ignores."""

    uid: str
    nsp: str
    body: ClusterBody | None


# --- building the envelope ----------------------------------------------------------------


def message_type(body: ClusterBody) -> MessageType:
    """The ClusterAdapter type that carries this body."""
    match body:
        case Broadcast() | BroadcastRequest():
            return MessageType.BROADCAST
        case JoinLeaveRequest():
            return MessageType.SOCKETS_JOIN if body.join else MessageType.SOCKETS_LEAVE
        case DisconnectRequest():
            return MessageType.DISCONNECT_SOCKETS
        case FetchRequest():
            return MessageType.FETCH_SOCKETS
        case ValueResponse():
            return MessageType.FETCH_SOCKETS_RESPONSE
        case ServerSideEmitRequest():
            return MessageType.SERVER_SIDE_EMIT
        case ServerSideEmitResponse():
            return MessageType.SERVER_SIDE_EMIT_RESPONSE
        case ClientCountResponse():
            return MessageType.BROADCAST_CLIENT_COUNT
        case AckResponse():
            return MessageType.BROADCAST_ACK
    raise TypeError(f"no ClusterAdapter message carries a {type(body).__name__}")


def _data(body: ClusterBody, *, undefined_ack_as_nil: bool) -> dict[str, Any]:
    """``data`` of the message in Node's key order.

    An ack without argument is JS ``undefined``: JSON and notepack drop the key, while
    @msgpack/msgpack (streams Pub/Sub) writes it as nil, hence ``undefined_ack_as_nil``.
    """
    match body:
        case Broadcast():
            return {"packet": {"type": EVENT, "data": body.data}, "opts": body.target.to_wire()}
        case BroadcastRequest():
            return {
                "packet": {"type": EVENT, "data": body.data},
                "requestId": body.request_id,
                "opts": body.target.to_wire(),
            }
        case JoinLeaveRequest():
            return {"opts": body.target.to_wire(), "rooms": list(body.rooms)}
        case DisconnectRequest():
            return {"opts": body.target.to_wire(), "close": body.close}
        case FetchRequest():
            return {"opts": body.target.to_wire(), "requestId": body.request_id}
        case ValueResponse():
            if "sockets" not in body.body:
                raise ValueError("FETCH_SOCKETS_RESPONSE is the only untyped response: no sockets")
            return {"requestId": body.request_id, "sockets": list(body.body["sockets"])}
        case ServerSideEmitRequest():
            if body.request_id is None:
                return {"packet": body.data}
            return {"requestId": body.request_id, "packet": body.data}
        case ServerSideEmitResponse() | AckResponse():
            data: dict[str, Any] = {"requestId": body.request_id}
            if body.args:
                data["packet"] = body.args[0]  # Node forwards the first argument only
            elif undefined_ack_as_nil:
                data["packet"] = None
            return data
        case ClientCountResponse():
            return {"requestId": body.request_id, "clientCount": body.client_count}
    raise TypeError(f"no ClusterAdapter message carries a {type(body).__name__}")


def _envelope(
    body: ClusterBody, uid: str, nsp: str, *, undefined_ack_as_nil: bool
) -> dict[str, Any]:
    return {
        "type": int(message_type(body)),
        "data": _data(body, undefined_ack_as_nil=undefined_ack_as_nil),
        "uid": uid,
        "nsp": nsp,
    }


def to_wire_dict(body: ClusterBody, uid: str, nsp: str) -> dict[str, Any]:
    """The envelope ``{type, data, uid, nsp}`` as Node builds it (JSON/notepack view).

    ``uid`` is the sending server's; a request body's own ``uid`` field is not consulted.
    """
    return _envelope(body, uid, nsp, undefined_ack_as_nil=False)


_BINARY = (bytes, bytearray, memoryview)


def has_binary(value: Any) -> bool:
    """Whether bytes appear anywhere in lists, tuples and dict values (Node's ``hasBinary``).

    Iterative, so a value nested deeper than the recursion limit is no problem, and each
    container is visited once, so a cyclic value ends (its encoding then fails).
    """
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, _BINARY):
            return True
        if isinstance(item, (list, tuple, dict)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False


def _binary_encoded(kind: MessageType, data: Mapping[str, Any]) -> bool:
    return kind in _MAY_CONTAIN_BINARY and has_binary(data)


# --- decoding the envelope ----------------------------------------------------------------


def _request_id(data: Mapping[str, Any], kind: MessageType) -> str:
    value = data.get("requestId")
    if not isinstance(value, str):
        raise ProtocolError(f"{kind.name} needs a string requestId")
    return value


def _optional_request_id(data: Mapping[str, Any]) -> str | None:
    """Node tests ``requestId !== undefined``; nil (what @msgpack/msgpack makes of
    ``undefined``) is read as absent too."""
    value = data.get("requestId")
    return None if value is None else _str(value, "requestId")


def _ack_args(data: Mapping[str, Any]) -> list[Any]:
    return [data["packet"]] if "packet" in data else []


def _body(kind: MessageType, data: Any, uid: str, nsp: str) -> ClusterBody:
    """Validate ``data`` of a known type that has data, and build its body."""
    msg = _map(data, f"{kind.name} data")
    match kind:
        case MessageType.BROADCAST:
            event, _ = _event_packet(msg.get("packet"), "packet")
            target = Target.from_wire(msg.get("opts"))
            request_id = _optional_request_id(msg)
            if request_id is None:
                return Broadcast(uid, nsp, event, target)
            return BroadcastRequest(uid, request_id, event, target)
        case MessageType.SOCKETS_JOIN | MessageType.SOCKETS_LEAVE:
            target = Target.from_wire(msg.get("opts"))
            rooms = _room_list(msg.get("rooms"), "rooms")
            return JoinLeaveRequest(uid, kind is MessageType.SOCKETS_JOIN, target, rooms)
        case MessageType.DISCONNECT_SOCKETS:
            target = Target.from_wire(msg.get("opts"))
            return DisconnectRequest(uid, target, bool(msg.get("close")))
        case MessageType.FETCH_SOCKETS:
            return FetchRequest(uid, _request_id(msg, kind), Target.from_wire(msg.get("opts")))
        case MessageType.FETCH_SOCKETS_RESPONSE:
            request_id = _request_id(msg, kind)
            sockets = msg.get("sockets")
            if not isinstance(sockets, list) or not all(isinstance(s, dict) for s in sockets):
                raise ProtocolError("FETCH_SOCKETS_RESPONSE sockets must be an array of maps")
            return ValueResponse(request_id, {"sockets": sockets})
        case MessageType.SERVER_SIDE_EMIT:
            packet = msg.get("packet")
            if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
                raise ProtocolError("SERVER_SIDE_EMIT packet must be [event, ...args]")
            return ServerSideEmitRequest(uid, _optional_request_id(msg), packet)
        case MessageType.SERVER_SIDE_EMIT_RESPONSE:
            return ServerSideEmitResponse(_request_id(msg, kind), _ack_args(msg))
        case MessageType.BROADCAST_CLIENT_COUNT:
            count = msg.get("clientCount")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ProtocolError("clientCount must be a non-negative integer")
            return ClientCountResponse(_request_id(msg, kind), count)
        case MessageType.BROADCAST_ACK:
            return AckResponse(_request_id(msg, kind), _ack_args(msg))
    raise ProtocolError(f"{kind.name} carries no data")


_DATALESS = frozenset(
    {MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE}
)
_KNOWN_TYPES = frozenset(MessageType)
_MISSING = object()


def _message(raw_type: int, data: Any, uid: Any, nsp: Any) -> ClusterMessage:
    """Common tail of every decoder; ``data`` is ``_MISSING`` when the message had none."""
    uid = _str(uid, "uid")
    nsp = _str(nsp, "nsp")
    if raw_type not in _KNOWN_TYPES:
        return ClusterMessage(uid, nsp, None)  # Node's switch ignores unknown types
    kind = MessageType(raw_type)
    if kind in _DATALESS:
        return ClusterMessage(uid, nsp, None)
    if data is _MISSING:
        raise ProtocolError(f"{kind.name} without data")
    return ClusterMessage(uid, nsp, _body(kind, data, uid, nsp))


def _from_envelope(envelope: Any) -> ClusterMessage:
    msg = _map(envelope, "message")
    raw_type = msg.get("type")
    if isinstance(raw_type, bool) or not isinstance(raw_type, int):
        raise ProtocolError(f"message type {_describe(raw_type)} is not an integer")
    return _message(raw_type, msg.get("data", _MISSING), msg.get("uid"), msg.get("nsp"))


# --- sharded adapter (PROTOCOL.md 4) ------------------------------------------------------


def encode_sharded(body: ClusterBody, uid: str, nsp: str) -> bytes:
    """Bytes of the sharded adapter: notepack msgpack of the whole envelope when a type that
    may carry binary does, else compact JSON (which always starts with ``{``)."""
    message = to_wire_dict(body, uid, nsp)
    if message["type"] in _MAY_CONTAIN_BINARY:
        try:  # plain JSON data (the common case) needs no search for binary
            return JSON.plain_encoder.encode(message).encode()
        except TypeError:
            if has_binary(message["data"]):
                return MSGPACK.encode(message)
    return JSON.encode(message)


def decode_sharded(payload: bytes) -> ClusterMessage:
    """Decode a sharded message: ``{`` first means JSON, anything else msgpack (Node's rule)."""
    try:
        envelope = JSON.decode(payload) if payload[:1] == b"{" else MSGPACK.decode(payload)
    except Exception as exc:
        raise ProtocolError(f"undecodable sharded message: {type(exc).__name__}") from exc
    return _from_envelope(envelope)


def _js_number_string(value: float) -> str:
    """JavaScript's ``String(number)``: what Node puts in a channel name for a numeric room."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value == 0:
        return "0"
    _sign, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exponent)  # value = 0.text * 10**point
    prefix = "-" if value < 0 else ""
    if len(text) <= point <= 21:
        return prefix + text + "0" * (point - len(text))
    if 0 < point <= 21:
        return prefix + text[:point] + "." + text[point:]
    if -6 < point <= 0:
        return prefix + "0." + "0" * -point + text
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{prefix}{mantissa}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1)}"


def _js_string(room: Room | float) -> str:
    if isinstance(room, str):
        return room
    if isinstance(room, int):
        return str(room)
    return _js_number_string(room)


def _js_utf8(text: str) -> bytes:
    """UTF-8 as Node's ``Buffer.from`` writes it: a lone surrogate becomes U+FFFD."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode()


def _js_length(text: str) -> int:
    """``String.prototype.length``: UTF-16 code units, so an emoji counts twice."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _looks_like_socket_id(room: Room) -> bool:
    return isinstance(room, str) and _js_length(room) == _SOCKET_ID_LENGTH


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"unknown subscription mode {mode!r}")


@dataclass(frozen=True, slots=True)
class ShardedChannels:
    """Channel names of one namespace under one prefix, as the bytes Redis reports.

    Also the Streams 0.3 adapter's Pub/Sub names: its public channel is :attr:`main` and its
    private (response) channel :meth:`response`.
    """

    prefix: str
    nsp: str
    main: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "main", _js_utf8(f"{self.prefix}#{self.nsp}#"))

    def response(self, uid: str) -> bytes:
        """``prefix#nsp#uid#``: where responses to the server with this uid go."""
        return self.main + _js_utf8(uid) + b"#"

    def room(self, room: Room) -> bytes:
        """``prefix#nsp#room#``, a numeric room written as JavaScript writes the number."""
        return self.main + _js_utf8(_js_string(room)) + b"#"

    def channel_for(self, body: ClusterBody, mode: SubscriptionMode) -> bytes:
        """Node's ``computeChannel``: a plain broadcast to exactly one room goes to that
        room's channel (in ``dynamic`` mode only if the room is not a 20-character string,
        i.e. not a socket id); everything else goes to :attr:`main`. Responses are not sent
        through here but to :meth:`response` of the requester."""
        _check_mode(mode)
        if isinstance(body, Broadcast) and len(body.target.rooms) == 1:
            room = body.target.rooms[0]
            if mode == "dynamic-private" or (mode == "dynamic" and not _looks_like_socket_id(room)):
                return self.room(room)
        return self.main


def subscribes_to_room(room: Room, mode: SubscriptionMode, local_sids: Container[Any]) -> bool:
    """Whether a server in ``mode`` subscribes to ``room``'s channel while the room exists
    locally (Node's ``shouldUseASeparateNamespace``): in ``dynamic`` every room that is not
    one of its own socket ids, in ``dynamic-private`` every room, in ``static`` none."""
    _check_mode(mode)
    if mode == "dynamic-private":
        return True
    return mode == "dynamic" and room not in local_sids


# --- Redis Streams adapter 0.3 (PROTOCOL.md 5) --------------------------------------------


def is_ephemeral(body: ClusterBody) -> bool:
    """Node's ``isEphemeral``: requests that travel by Pub/Sub instead of the stream.

    They are BROADCAST with ``requestId``, SERVER_SIDE_EMIT and FETCH_SOCKETS. Responses
    (see :func:`is_response`) never enter the stream either: they are published to the
    requester's private channel.
    """
    return isinstance(body, (BroadcastRequest, ServerSideEmitRequest, FetchRequest))


def request_body(request: AnyRequest) -> ClusterBody:
    """A request of the core as a ClusterAdapter body; the classic protocol's legacy and
    ALL_ROOMS/SOCKETS requests have no form here (the core never sends them to it)."""
    if isinstance(
        request, (SocketsRequest, RoomsRequest, LegacyJoinLeaveRequest, LegacyDisconnectRequest)
    ):
        raise TypeError(f"{type(request).__name__} has no ClusterAdapter form")
    return request


def is_response(body: ClusterBody) -> bool:
    """Types 8, 10, 11 and 12, which go to ``prefix#nsp#<requester uid>#``."""
    return isinstance(
        body, (ValueResponse, ServerSideEmitResponse, ClientCountResponse, AckResponse)
    )


def encode_stream_fields(body: ClusterBody, uid: str, nsp: str) -> list[tuple[bytes, bytes]]:
    """The XADD field/value pairs in Node's order ``uid, nsp, type, data``.

    ``data`` is JSON, or standard base64 of msgpack when a type that may carry binary does.
    Only non-ephemeral, non-response bodies belong in the stream; this does not check it.
    """
    kind = message_type(body)
    data = _data(body, undefined_ack_as_nil=False)
    if _binary_encoded(kind, data):
        # @msgpack/msgpack, unlike JSON.stringify, keeps an undefined ack argument as nil
        encoded = base64.b64encode(MSGPACK.encode(_data(body, undefined_ack_as_nil=True)))
    else:
        encoded = JSON.encode(data)
    return [
        (b"uid", _js_utf8(uid)),
        (b"nsp", _js_utf8(nsp)),
        (b"type", str(int(kind)).encode()),
        (b"data", encoded),
    ]


def _field_text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, (bytes, bytearray)):
        raise ProtocolError(f"stream field {what} must be a string")
    try:
        return bytes(value).decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"stream field {what} is not UTF-8") from exc


def _js_parse_int(text: str) -> int:
    """``parseInt(text, 10)`` for the values a type can take; NaN is an error here."""
    match = _JS_PARSE_INT.match(text)
    if match is None:
        raise ProtocolError("stream field type is not a number")
    digits = match.group(2).lstrip("0") or "0"
    if len(digits) > 15:
        raise ProtocolError("stream field type is out of range")
    return -int(digits) if match.group(1) == "-" else int(digits)


def _stream_data(raw: bytes) -> Any:
    """``{`` first means JSON, anything else base64 of msgpack (Node's ``decode``)."""
    try:
        if raw[:1] == b"{":
            return JSON.decode(raw)
        # lenient like Buffer.from(s, "base64"): characters outside the alphabet are skipped
        return MSGPACK.decode(base64.b64decode(raw))
    except Exception as exc:  # binascii.Error, msgpack's and json's errors, RecursionError
        raise ProtocolError(f"undecodable stream data: {type(exc).__name__}") from exc


def decode_stream_fields(
    fields: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
) -> ClusterMessage:
    """Decode one stream entry's fields (bytes or str keys and values; a later duplicate
    field wins, as in Node). An entry without ``nsp`` (Node skips it) raises ProtocolError,
    and so does an unparseable ``type`` (Node would ignore the entry)."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    entry: dict[str, Any] = {}
    try:
        for key, value in pairs:
            name = key.decode() if isinstance(key, (bytes, bytearray)) else key
            if name in ("uid", "nsp", "type", "data"):
                entry[name] = value
    except (TypeError, ValueError) as exc:
        raise ProtocolError("stream fields must be name/value pairs") from exc
    nsp = _field_text(entry.get("nsp", b""), "nsp")
    if not nsp:
        raise ProtocolError("stream entry without nsp")
    raw_type = _js_parse_int(_field_text(entry.get("type", b""), "type"))
    raw_data = entry.get("data", b"")
    if isinstance(raw_data, str):
        raw_data = _js_utf8(raw_data)
    if not isinstance(raw_data, (bytes, bytearray)):
        raise ProtocolError("stream field data must be a string")
    data = _stream_data(bytes(raw_data)) if raw_data else _MISSING
    return _message(raw_type, data, _field_text(entry.get("uid"), "uid"), nsp)


def encode_streams_pubsub(body: ClusterBody, uid: str, nsp: str) -> bytes:
    """A Pub/Sub message of the streams adapter: msgpack of the whole envelope, always."""
    return MSGPACK.encode(_envelope(body, uid, nsp, undefined_ack_as_nil=True))


def decode_streams_pubsub(payload: bytes) -> ClusterMessage:
    """Decode a streams Pub/Sub message: always msgpack, never sniffed for JSON."""
    try:
        envelope = MSGPACK.decode(payload)
    except Exception as exc:
        raise ProtocolError(f"undecodable streams message: {type(exc).__name__}") from exc
    return _from_envelope(envelope)


def _java_hash_code(text: str) -> int:
    """Java's ``String.hashCode`` over UTF-16 code units, as a signed 32-bit int."""
    units = text.encode("utf-16-le", "surrogatepass")
    value = 0
    for i in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[i : i + 2], "little")) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def stream_name(nsp: str, name: str = "socket.io", count: int = 1) -> str:
    """The stream a namespace's messages go to (Node's ``computeStreamName``).

    With several streams, the index is ``hashCode(nsp) % count`` with JavaScript's signed
    ``%``: a negative hash gives a negative index (``socket.io--1``), which Node's readers
    never poll. That upstream bug is reproduced, so both sides write to the same stream.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if count == 1:
        return name
    hash_code = _java_hash_code(nsp)
    index = abs(hash_code) % count
    return f"{name}-{-index if hash_code < 0 else index}"
