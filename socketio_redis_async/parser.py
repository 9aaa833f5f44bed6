"""Payload codecs: msgpack as notepack.io 3 writes it, and JSON as JavaScript writes it.

The Node adapter encodes broadcasts, BROADCAST requests and BROADCAST_ACK responses with its
``parser`` (notepack.io by default) and every other request and response with
``JSON.stringify``. Both codecs here reproduce those bytes and accept what Node produces.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import threading
from typing import Any, Protocol, runtime_checkable

import msgpack

__all__ = ["JSON", "MSGPACK", "JsonParser", "MsgpackParser", "Parser", "to_js_value"]

# Byte sequences that start a msgpack timestamp (ext -1, three sizes) or a float whose first
# byte is 0x7f/0xff (NaN, the infinities, and finite numbers above ~1e307). A payload with
# none of them holds nothing JavaScript would render differently from Python, so the walk
# in ``to_js_value`` is skipped on the hot path. Each of them holds a 0x7f or 0xff byte: two
# byte searches (memchr) rule most payloads out ~50x faster than the regex scan.
_JS_RENDERING = re.compile(b"\xd6\xff|\xd7\xff|\xc7\x0c\xff|[\xca\xcb][\x7f\xff]")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# ``msgpack.packb`` builds a Packer, and its 256 KiB buffer, on every call: a kept Packer
# encodes a broadcast about twice as fast. One per thread, as a Packer is not thread-safe
# (it resets itself when ``pack`` raises); dropped after a large message, whose buffer it
# would otherwise keep.
_packers = threading.local()
_KEEP_PACKER_UP_TO = 1 << 20


@runtime_checkable
class Parser(Protocol):
    """What ``AsyncRedisAdapter(parser=...)`` accepts: Node's ``{encode, decode}`` pair."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, payload: bytes) -> Any: ...


def _legacy_ext(code: int, data: bytes) -> Any:
    """Decode the ext types notepack.io still reads, the way it reads them.

    notepack 2.x wrote ``undefined`` as ``d4 00 00`` and dates as ext 0 holding milliseconds;
    any other ext type becomes ``[type, bytes]`` exactly as notepack 3 decodes it.
    """
    if code == 0:
        if len(data) == 1:
            return None
        if len(data) == 8:
            ms = int.from_bytes(data[:4], "big", signed=True) * 2**32 + int.from_bytes(
                data[4:], "big"
            )
            return _EPOCH + _dt.timedelta(milliseconds=ms)
        return data
    return [code, data]


def js_iso(value: _dt.datetime) -> str:
    """Render a datetime like JavaScript's ``Date.prototype.toISOString``."""
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_js_value(value: Any) -> Any:
    """Render values as a Node server would send them to its clients through JSON.

    Dates become ISO strings and non-finite numbers become ``null``; Python's ``json`` would
    otherwise fail on the first and write ``NaN``, which clients cannot parse, for the second.
    """
    if isinstance(value, _dt.datetime):
        return js_iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [to_js_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_js_value(v) for k, v in value.items()}
    return value


def integral_floats_as_ints(value: Any) -> Any:
    """What ``JSON.stringify`` does to numbers: ``1.0`` becomes ``1`` (used for JSON output)."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and abs(value) < 2**64 else value
    if kind is list or kind is tuple:
        return [integral_floats_as_ints(v) for v in value]
    if kind is dict:
        return {k: integral_floats_as_ints(v) for k, v in value.items()}
    return value


class MsgpackParser:
    """msgpack, byte-identical to notepack.io 3.0.1 for the values Socket.IO carries
    (integral Python floats aside, see :meth:`encode`).

    ``bytes`` travel as ``bin`` (a Buffer in Node), tz-aware datetimes as the timestamp
    extension (a ``Date`` in Node), and map keys of any type are accepted as Node sends them.
    """

    name = "msgpack"

    def encode(self, value: Any) -> bytes:
        """Python floats stay float64 (``1.0`` is not rewritten to ``1`` as notepack would):
        JavaScript reads the same number, and Python servers deliver ``1.0`` exactly as the
        sending server delivers it to its own clients."""
        try:
            packer = _packers.packer
        except AttributeError:
            packer = _packers.packer = msgpack.Packer(use_bin_type=True, datetime=True)
        encoded: bytes = packer.pack(value)
        if len(encoded) > _KEEP_PACKER_UP_TO:
            del _packers.packer
        return encoded

    def decode(self, payload: bytes) -> Any:
        return msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=False,
            timestamp=3,
            ext_hook=_legacy_ext,
        )

    @staticmethod
    def needs_js_rendering(payload: bytes) -> bool:
        """False when ``to_js_value`` would change nothing in this payload's decoded value."""
        if 0xFF not in payload and 0x7F not in payload:
            return False
        return _JS_RENDERING.search(payload) is not None


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, _dt.datetime):
        return js_iso(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} cannot be sent through Redis")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JavaScript's JSON.parse rejects it)")


class JsonParser:
    """JSON as ``JSON.stringify`` writes it: compact, raw UTF-8, no NaN, Buffers as objects.

    The encoder and decoder are built once: ``json.dumps``/``json.loads`` with options build
    new ones on every call, which doubled the cost of a small message.
    """

    name = "json"
    _encoder = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )
    # Without ``default``: fails fast (TypeError) on bytes, dates... for callers that can
    # take another path for such values (the sharded encoding switches to msgpack).
    plain_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    _decoder = json.JSONDecoder(parse_constant=_reject_constant)

    def encode(self, value: Any) -> bytes:
        return self._encoder.encode(value).encode()

    def decode(self, payload: bytes) -> Any:
        return self._decoder.decode(payload.decode())

    @staticmethod
    def needs_js_rendering(payload: bytes) -> bool:
        return False


MSGPACK = MsgpackParser()
JSON = JsonParser()
