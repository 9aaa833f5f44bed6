"""Issue 5: every decode path of a live adapter fuzzed with generated hostile input.

Messages are fed straight into the adapter's dispatch (``_on_redis_message``, what the
reader task calls for each Pub/Sub message) on each route it listens to: the broadcast
pattern with and without a room, the request channel, and both response channels. The
adapter serves a server with sockets in rooms, so inputs that pass validation go all the
way through delivery, acks and answers (published to a private Redis). Nothing may escape,
every input must be either handled or counted as malformed, and nothing may be left behind.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections import Counter
from typing import Any

import msgpack
import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketio_redis_async import AsyncRedisAdapter

EXAMPLES = 1500  # per decode path

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.integers(-5, 5) | st.binary(max_size=3), inner, max_size=4
        )
    ),
    max_leaves=12,
)
rooms = st.lists(st.sampled_from(["r1", "r2", 42, "42"]) | values, max_size=3) | values
opts = (
    st.fixed_dictionaries(
        {}, optional={"rooms": rooms, "except": rooms, "flags": st.dictionaries(st.text(), values)}
    )
    | values
)
packet = (
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from([2, 5]) | values,
            "data": st.lists(st.text(max_size=6) | values, max_size=4) | values,
            "nsp": st.sampled_from(["/", "/admin"]) | values,
            "id": values,
        },
    )
    | values
)
# Nearly valid messages reach the deep paths (delivery, acks, answers); wild ones the checks.
event_data = st.lists(values, max_size=4).flatmap(
    lambda args: st.text(max_size=6).map(lambda event: [event, *args])
)
known_rooms = st.lists(st.sampled_from(["r1", "r2", 42, "42", "nobody"]), max_size=3)
good_opts = st.fixed_dictionaries(
    {"rooms": known_rooms, "except": known_rooms, "flags": st.dictionaries(st.text(), values)}
)
good_packet = st.fixed_dictionaries(
    {"type": st.just(2), "data": event_data, "nsp": st.sampled_from(["/", "/admin"])}
)
broadcasts = st.tuples(
    st.sampled_from(["other", "emitter"]) | values, good_packet | packet, good_opts | opts
).map(list)
good_requests = st.fixed_dictionaries(
    {
        "uid": st.sampled_from(["other", "emitter"]),
        "requestId": st.text(min_size=1, max_size=6),
        "type": st.integers(0, 9),
        "opts": good_opts,
        "rooms": known_rooms,
        "close": st.booleans(),
        "data": st.sampled_from([["sse"], ["sse", 1], ["nobody-listens"]]) | event_data,
        "packet": good_packet,
    }
)
requests = good_requests | st.fixed_dictionaries(
    {"type": st.integers(0, 12) | values},
    optional={
        "uid": st.sampled_from(["other", "emitter"]) | values,
        "requestId": st.text(max_size=6) | values,
        "opts": opts,
        "rooms": rooms,
        "sid": values,
        "room": values,
        "close": values,
        "data": st.lists(st.text(max_size=6) | values, max_size=3) | values,
        "packet": packet,
    },
)
responses = st.fixed_dictionaries(
    {"requestId": st.text(max_size=6) | values},
    optional={
        "type": st.sampled_from([6, 8, 9]) | values,
        "clientCount": values,
        "packet": values,
        "data": values,
        "sockets": values,
        "rooms": values,
    },
)


def encodings(structures: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """msgpack or JSON of a generated structure, damaged or not, or raw bytes."""

    def pack(value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True)

    def as_json(value: Any) -> bytes:
        try:
            return json.dumps(value).encode()
        except (TypeError, ValueError):
            return pack(value)

    encoded = structures.map(pack) | structures.map(as_json)
    damaged = st.tuples(encoded, st.integers(0, 64), st.binary(max_size=3)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
    )
    return encoded | damaged | st.binary(max_size=200)


class Fuzzed:
    def __init__(self, mgr: AsyncRedisAdapter, loop: asyncio.AbstractEventLoop) -> None:
        self.mgr = mgr
        self.loop = loop
        self.tried: Counter[str] = Counter()

    def feed(self, path: str, channel: bytes, payload: bytes, pattern: bytes | None) -> None:
        self.tried[path] += 1
        # Any exception escaping here would have escaped into the reader task.
        self.loop.run_until_complete(self.mgr._on_redis_message(channel, payload, pattern))


@pytest.fixture(scope="module")
def fuzzed(redis_server):
    logging.getLogger("socketio_redis_async").setLevel(logging.CRITICAL)
    logging.getLogger("engineio.server").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    mgr = AsyncRedisAdapter(redis_server.url, requests_timeout=0.2)
    sio = socketio.AsyncServer(client_manager=mgr, async_mode="asgi", logger=False)
    sio.on("connect", lambda sid, environ: None, namespace="/admin")
    mgr.on("sse", lambda *args: "answer")

    async def populate() -> list[str]:
        await mgr.start()
        sids = []
        for n, room in enumerate(["r1", "r2", 42, "42"]):
            for namespace in ("/", "/admin"):
                sid = await mgr.connect(f"eio{n}{namespace}", namespace)
                await mgr.enter_room(sid, namespace, room)
                sids.append(sid)
        return sids

    sids = loop.run_until_complete(populate())
    fuzz = Fuzzed(mgr, loop)
    yield fuzz
    before = mgr.stats()
    loop.run_until_complete(asyncio.sleep(0.3))  # let request deadlines pass
    stats = mgr.stats()
    print(f"\nfuzz inputs per path: {dict(fuzz.tried)}; stats: {stats}")
    assert stats["pending_requests"] == 0
    assert len(sids) == 8 and before["received"] == stats["received"]
    loop.run_until_complete(mgr.aclose())
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    assert pending == [], f"tasks left behind: {pending}"
    loop.close()
    logging.getLogger("socketio_redis_async").setLevel(logging.NOTSET)
    logging.getLogger("engineio.server").setLevel(logging.NOTSET)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(payload=encodings(broadcasts), namespace=st.sampled_from(["/", "/admin"]))
def test_broadcast_channel(fuzzed, payload, namespace):
    base = f"socket.io#{namespace}#".encode()
    fuzzed.feed("broadcast", base, payload, base + b"*")


@FUZZ
@given(
    payload=encodings(broadcasts),
    room=st.sampled_from([b"r1", b"42", b"nobody", b"\xff\xfe", b"1e3"]),
)
def test_room_channel(fuzzed, payload, room):
    fuzzed.feed("room", b"socket.io#/#" + room + b"#", payload, b"socket.io#/#*")


@FUZZ
@given(payload=encodings(requests), namespace=st.sampled_from(["/", "/admin"]))
def test_request_channel(fuzzed, payload, namespace):
    fuzzed.feed("request", f"socket.io-request#{namespace}#".encode(), payload, None)


@FUZZ
@given(payload=encodings(responses), specific=st.booleans())
def test_response_channels(fuzzed, payload, specific):
    channel = b"socket.io-response#/#" + (fuzzed.mgr.uid.encode() + b"#" if specific else b"")
    fuzzed.feed("response", channel, payload, None)


def test_memory_and_tasks_stay_bounded(fuzzed):
    """Runs after the fuzzers (same module): the loop holds no leftover work."""
    gc.collect()
    loop_tasks = [t for t in asyncio.all_tasks(fuzzed.loop) if not t.done()]
    # the reader, the watchdog and the publisher's writer; nothing per message
    assert len(loop_tasks) <= 3, loop_tasks
