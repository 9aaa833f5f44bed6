"""The payload codecs: notepack.io 3.0.1-compatible msgpack and JSON.stringify-like JSON.

Expected bytes come from PROTOCOL.md section 7 (notepack's encoding table and decoder rules)
and section 1.6 (JavaScript JSON conventions).
"""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from socketio_redis_async.options import resolve_parser
from socketio_redis_async.parser import (
    JSON,
    MSGPACK,
    JsonParser,
    MsgpackParser,
    Parser,
    to_js_value,
)

UTC = dt.timezone.utc
DATE_H = dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)  # new Date(1700000000123)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- msgpack decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # timestamp 32: d6 ff <u32 sec>
        ("d6ff 00000000", dt.datetime(1970, 1, 1, tzinfo=UTC)),
        ("d6ff 6553f100", dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("d6ff ffffffff", dt.datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)),
        # timestamp 64: d7 ff <30-bit ns><34-bit sec> (sample H's Date)
        ("d7ff 1d5353006553f100", DATE_H),
        # timestamp 96: c7 0c ff <u32 ns><i64 sec>
        ("c70cff 075bcd00 000000006553f100", dt.datetime(2023, 11, 14, 22, 13, 20, 123456, UTC)),
        ("c70cff 00000000 ffffffffffffffff", dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("c70cff 00000000 00000004a0fe7280", dt.datetime(2600, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_ext_decodes_to_aware_datetime(payload: str, expected: dt.datetime) -> None:
    value = MSGPACK.decode(h(payload))
    assert type(value) is dt.datetime
    assert value == expected
    assert value.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("payload", ["d40000", "d40001", "d400ff"])
def test_legacy_undefined_ext0_decodes_to_none(payload: str) -> None:
    # notepack 2.x wrote undefined as d4 00 00; notepack 3 still reads it as undefined.
    assert MSGPACK.decode(h(payload)) is None
    assert MSGPACK.decode(h("92" + payload + "01")) == [None, 1]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("d700 0000018bcfe5687b", DATE_H),  # 1700000000123 ms
        ("d700 0000000000000000", dt.datetime(1970, 1, 1, tzinfo=UTC)),
        ("d700 fffffffffffffc18", dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),  # -1000 ms
    ],
)
def test_legacy_date_ext0_decodes_to_datetime(payload: str, expected: dt.datetime) -> None:
    value = MSGPACK.decode(h(payload))
    assert type(value) is dt.datetime
    assert value == expected
    assert value.utcoffset() == dt.timedelta(0)


def test_legacy_ext0_of_other_sizes_is_the_array_buffer() -> None:
    # ext8 type 0 (notepack: ArrayBuffer) keeps its bytes.
    assert MSGPACK.decode(h("c703 00 010203")) == b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("d405 0a", [5, b"\x0a"]),
        ("d5fe 0102", [-2, b"\x01\x02"]),
        ("d67f 01020304", [127, b"\x01\x02\x03\x04"]),
        ("c703 11 aabbcc", [17, b"\xaa\xbb\xcc"]),
        ("c700 22", [34, b""]),
    ],
)
def test_unknown_ext_decodes_to_type_and_bytes(payload: str, expected: list[Any]) -> None:
    value = MSGPACK.decode(h(payload))
    assert value == expected
    assert type(value[0]) is int
    assert type(value[1]) is bytes


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("c403 010203", b"\x01\x02\x03"),
        ("c400", b""),
        ("c50003 040506", b"\x04\x05\x06"),
        ("c600000001 07", b"\x07"),
    ],
)
def test_bin_decodes_to_bytes(payload: str, expected: bytes) -> None:
    value = MSGPACK.decode(h(payload))
    assert type(value) is bytes
    assert value == expected


def test_str_decodes_to_str_and_bin_is_not_coerced() -> None:
    assert MSGPACK.decode(h("a26576")) == "ev"
    assert MSGPACK.decode(h("c4026576")) == b"ev"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("81 01 02", {1: 2}),
        ("81 c3 a161", {True: "a"}),
        ("82 a161 01 ff 02", {"a": 1, -1: 2}),
        ("81 c401 00 c0", {b"\x00": None}),
    ],
)
def test_non_str_map_keys_are_accepted(payload: str, expected: dict[Any, Any]) -> None:
    assert MSGPACK.decode(h(payload)) == expected


def test_floats_and_wide_ints_decode() -> None:
    assert MSGPACK.decode(h("cb3ff8000000000000")) == 1.5
    assert MSGPACK.decode(h("ca3fc00000")) == 1.5  # float32 from other encoders
    assert MSGPACK.decode(h("cf0000010000000000")) == 2**40
    assert MSGPACK.decode(h("d3ffffff0000000000")) == -(2**40)
    assert math.isnan(MSGPACK.decode(h("cb7ff8000000000000")))


@pytest.mark.parametrize("payload", ["c1", "92 01", "a3 6576", "a1 61 00"])
def test_invalid_or_truncated_or_trailing_msgpack_raises(payload: str) -> None:
    with pytest.raises(ValueError):
        MSGPACK.decode(h(payload))


# --- msgpack encoding (notepack.io 3.0.1 table) --------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "c0"),
        (False, "c2"),
        (True, "c3"),
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (256, "cd0100"),
        (65536, "ce00010000"),
        (2**32, "cf0000000100000000"),
        (2**53, "cf0020000000000000"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-129, "d1ff7f"),
        (-32769, "d2ffff7fff"),
        (-(2**40), "d3ffffff0000000000"),
        (1.5, "cb3ff8000000000000"),  # float64, never float32
        (0.1, "cb3fb999999999999a"),
        (math.nan, "cb7ff8000000000000"),
        ("ev", "a26576"),
        ("a" * 32, "d920" + "61" * 32),
        ("é", "a2c3a9"),
        (b"\x01\x02\x03", "c403010203"),
        (bytearray(b"\x04\x05"), "c4020405"),
        ([], "90"),
        ({}, "80"),
        ({"b": 1, "a": 2}, "82a16201a16102"),  # insertion order kept
    ],
)
def test_msgpack_encodes_like_notepack(value: Any, expected: str) -> None:
    assert MSGPACK.encode(value).hex() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DATE_H, "d7ff1d5353006553f100"),  # sample H: ms fraction -> timestamp 64
        (dt.datetime(1970, 1, 1, tzinfo=UTC), "d6ff00000000"),  # PROTOCOL.md 5.6 Date(0)
        (dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), "d6ff6553f100"),
        (dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "c70cff00000000ffffffffffffffff"),
    ],
)
def test_aware_datetime_encodes_as_timestamp_ext(value: dt.datetime, expected: str) -> None:
    assert MSGPACK.encode(value).hex() == expected
    assert MSGPACK.decode(MSGPACK.encode(value)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "cb3ff0000000000000"),
        (-0.0, "cb8000000000000000"),
        (1, "01"),
        ([1.0, {"x": 2}], "92cb3ff000000000000081a17802"),
    ],
)
def test_python_floats_stay_float64(value: Any, expected: str) -> None:
    # Deliberate difference from notepack (which writes 1.0 as 01): JavaScript reads the
    # same number either way, and a Python receiver then delivers 1.0 as the sending
    # server delivers it to its own clients. Python ints are the smallest int, as notepack.
    assert MSGPACK.encode(value).hex() == expected
    assert MSGPACK.decode(MSGPACK.encode(value)) == value


def test_huge_integral_float_still_encodes() -> None:
    # 1e20 does not fit a uint64: it must not raise, and must decode back to the same number.
    assert MSGPACK.decode(MSGPACK.encode(1e20)) == 1e20


def test_needs_js_rendering_markers() -> None:
    assert MSGPACK.needs_js_rendering(MSGPACK.encode(["ev", DATE_H])) is True
    assert MSGPACK.needs_js_rendering(MSGPACK.encode(["ev", math.nan])) is True
    assert MSGPACK.needs_js_rendering(MSGPACK.encode(["ev", math.inf])) is True
    assert MSGPACK.needs_js_rendering(MSGPACK.encode(["ev", 1, "a", 1.5, b"\x00"])) is False
    assert JSON.needs_js_rendering(b'{"a":1}') is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (127, False),  # the byte 0x7f alone: the prefilter passes, the regex does not match
        (b"\xff\x7f\xff", False),
        ("\x7f", False),
        (-1e308, True),  # cb ff ...: the first byte of the float is 0xff
        ([b"\x00" * 300, 1e308], True),
        (dt.datetime(2500, 1, 1, tzinfo=UTC), True),  # timestamp 64: d7 ff
        (dt.datetime(1960, 1, 1, tzinfo=UTC), True),  # timestamp 96: c7 0c ff
    ],
)
def test_needs_js_rendering_agrees_with_the_full_scan(value: Any, expected: bool) -> None:
    payload = MSGPACK.encode(["ev", value])
    assert MSGPACK.needs_js_rendering(payload) is expected


def test_encode_after_a_failed_encode_and_a_large_message() -> None:
    # The encoder keeps a Packer per thread: a refused value must not leave bytes behind,
    # and a large message must not change what comes after it.
    with pytest.raises(TypeError):
        MSGPACK.encode(["ev", object()])
    assert MSGPACK.encode(["ev", 1]).hex() == "92a2657601"
    big = MSGPACK.encode(["ev", "x" * (2 << 20)])
    assert MSGPACK.decode(big) == ["ev", "x" * (2 << 20)]
    assert MSGPACK.encode(["ev", 1]).hex() == "92a2657601"


def test_encode_from_many_threads() -> None:
    values = [["ev", i, "x" * (i % 300), {"k": [i] * (i % 7)}] for i in range(2000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        encoded = list(pool.map(MSGPACK.encode, values))
    assert [MSGPACK.decode(b) for b in encoded] == values


# --- JavaScript rendering ------------------------------------------------------------------


def test_to_js_value_renders_dates_and_non_finite_numbers() -> None:
    value = [
        DATE_H,
        {"n": math.nan, "p": math.inf, "m": -math.inf, "d": [DATE_H]},
        1.5,
        b"\x01",
        None,
        "s",
    ]
    assert to_js_value(value) == [
        "2023-11-14T22:13:20.123Z",
        {"n": None, "p": None, "m": None, "d": ["2023-11-14T22:13:20.123Z"]},
        1.5,
        b"\x01",
        None,
        "s",
    ]


def test_to_js_value_iso_string_is_utc_with_milliseconds() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert to_js_value(dt.datetime(2024, 1, 1, 2, 0, 0, 999999, plus_two)) == (
        "2024-01-01T00:00:00.999Z"
    )
    assert to_js_value(dt.datetime(1970, 1, 1, tzinfo=UTC)) == "1970-01-01T00:00:00.000Z"


# --- JSON ----------------------------------------------------------------------------------


def test_json_is_compact() -> None:
    value = {"uid": "XDgon-", "type": 5, "opts": {"rooms": [], "except": []}}
    assert JSON.encode(value) == (b'{"uid":"XDgon-","type":5,"opts":{"rooms":[],"except":[]}}')


def test_json_writes_raw_utf8() -> None:
    encoded = JSON.encode({"é": "日本", "emoji": "\U0001f600"})
    assert encoded == '{"é":"日本","emoji":"\U0001f600"}'.encode()
    assert b"\\u" not in encoded
    assert JSON.decode(encoded) == {"é": "日本", "emoji": "\U0001f600"}


def test_json_bytes_become_node_buffers() -> None:
    assert JSON.encode({"b": b"\x01\x02\xff"}) == b'{"b":{"type":"Buffer","data":[1,2,255]}}'
    assert JSON.encode([b""]) == b'[{"type":"Buffer","data":[]}]'


def test_json_dates_become_iso_strings() -> None:
    assert JSON.encode([DATE_H]) == b'["2023-11-14T22:13:20.123Z"]'


def test_json_integers_have_no_fraction() -> None:
    assert JSON.encode([1, -0, 2**53, 1.5]) == b"[1,0,9007199254740992,1.5]"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"a": [math.nan]}])
def test_json_refuses_to_encode_nan_and_infinity(value: Any) -> None:
    with pytest.raises(ValueError):
        JSON.encode(value)


@pytest.mark.parametrize("payload", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b"[NaN]"])
def test_json_refuses_to_decode_nan_and_infinity(payload: bytes) -> None:
    with pytest.raises(ValueError):
        JSON.decode(payload)


def test_json_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError):
        JSON.encode({"x": object()})


# --- parser selection ----------------------------------------------------------------------


class CustomParser:
    def encode(self, value: Any) -> bytes:
        return repr(value).encode()

    def decode(self, payload: bytes) -> Any:
        return payload.decode()


class EncodeOnly:
    def encode(self, value: Any) -> bytes:
        return b""


class NotCallable:
    encode = "x"
    decode = "y"


def test_resolve_parser_choices() -> None:
    assert resolve_parser(None) is MSGPACK
    assert resolve_parser("msgpack") is MSGPACK
    assert resolve_parser("json") is JSON
    custom = CustomParser()
    assert resolve_parser(custom) is custom
    assert isinstance(MSGPACK, MsgpackParser)
    assert isinstance(JSON, JsonParser)
    assert isinstance(MSGPACK, Parser)
    assert isinstance(JSON, Parser)
    assert isinstance(custom, Parser)


@pytest.mark.parametrize("value", ["xml", "MSGPACK", "", "notepack"])
def test_resolve_parser_rejects_unknown_names(value: str) -> None:
    with pytest.raises(ValueError, match="parser"):
        resolve_parser(value)


@pytest.mark.parametrize("value", [object(), 42, EncodeOnly(), NotCallable(), b"json"])
def test_resolve_parser_rejects_objects_without_codec(value: object) -> None:
    with pytest.raises(TypeError, match="parser"):
        resolve_parser(value)
