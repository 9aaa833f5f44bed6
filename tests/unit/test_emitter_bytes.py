"""AsyncEmitter and Emitter, byte for byte against the @socket.io/redis-emitter 5.1 captures.

The Redis clients here are real ``redis.asyncio.Redis``/``redis.Redis`` objects whose
``publish`` records instead of sending: nothing connects, so this is a pure test of what
the emitters encode and on which channel. tests/interop/test_emitters_interop.py compares
against the real Node emitter and real servers.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
import redis
import redis.asyncio as aioredis

from socketio_redis_async import AdapterClosedError, AsyncEmitter, Emitter

# PROTOCOL.md section 3, captured from @socket.io/redis-emitter 5.1.0.
# em.to('room1').emit('fromEmitter', {a: 1}, Buffer.from([9])) on socket.io#/#room1#
SAMPLE_TO_ROOM = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746193ab66726f6d456d697474657281a16101c40109a36e73"
    "70a12f83a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490"
)
# em.volatile.compress(false).emit('fromEmitter2') on socket.io#/#
SAMPLE_FLAGS = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746191ac66726f6d456d697474657232a36e7370a12f83a572"
    "6f6f6d7390a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2a665786365707490"
)
JOIN = b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["roomE"]}'
LEAVE = b'{"type":3,"opts":{"rooms":["room1"],"except":[]},"rooms":["roomE"]}'
DISCONNECT = b'{"type":4,"opts":{"rooms":["room1"],"except":[]},"close":false}'
SERVER_SIDE = b'{"uid":"emitter","type":6,"data":["emSSE",1]}'

RESERVED = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
]


class RecordingAsyncRedis(aioredis.Redis):
    """A ``redis.asyncio.Redis`` that records publishes and closes instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[bytes, bytes]] = []
        self.closes = 0

    async def publish(self, channel: Any, message: Any, **kwargs: Any) -> int:
        self.published.append((channel, message))
        return 0

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        self.closes += 1
        await super().aclose(close_connection_pool)


class RecordingRedis(redis.Redis):
    """The same for redis-py's synchronous client."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[bytes, bytes]] = []
        self.closes = 0

    def publish(self, channel: Any, message: Any, **kwargs: Any) -> int:
        self.published.append((channel, message))
        return 0

    def close(self) -> None:
        self.closes += 1
        super().close()


class Flavor:
    """One emitter class with its recording client, so every test runs on both."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cls: type[AsyncEmitter] | type[Emitter] = AsyncEmitter if name == "async" else Emitter
        self.client: RecordingAsyncRedis | RecordingRedis = (
            RecordingAsyncRedis() if name == "async" else RecordingRedis()
        )

    def make(self, **kwargs: Any) -> Any:
        return self.cls(client=self.client, **kwargs)

    @property
    def published(self) -> list[tuple[bytes, bytes]]:
        return self.client.published


async def run(result: Awaitable[None] | None) -> None:
    """Await an AsyncEmitter call; an Emitter call has already run."""
    if inspect.isawaitable(result):
        await result


@pytest.fixture(params=["async", "sync"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return Flavor(request.param)


# --- the captured samples ------------------------------------------------------------------


async def test_emit_to_one_room_is_the_captured_sample(flavor: Flavor) -> None:
    em = flavor.make()
    await run(em.to("room1").emit("fromEmitter", {"a": 1}, b"\x09"))
    assert flavor.published == [(b"socket.io#/#room1#", SAMPLE_TO_ROOM)]


async def test_volatile_compress_false_is_the_captured_sample(flavor: Flavor) -> None:
    em = flavor.make()
    await run(em.volatile.compress(False).emit("fromEmitter2"))
    assert flavor.published == [(b"socket.io#/#", SAMPLE_FLAGS)]


async def test_join_leave_disconnect_are_the_captured_json(flavor: Flavor) -> None:
    op = flavor.make().to("room1")
    await run(op.sockets_join(["roomE"]))
    await run(op.sockets_leave("roomE"))  # a single room is wrapped in a list, as in Node
    await run(op.disconnect_sockets())
    channel = b"socket.io-request#/#"
    assert flavor.published == [(channel, JOIN), (channel, LEAVE), (channel, DISCONNECT)]


async def test_server_side_emit_is_the_captured_json(flavor: Flavor) -> None:
    await run(flavor.make().server_side_emit("emSSE", 1))
    assert flavor.published == [(b"socket.io-request#/#", SERVER_SIDE)]


async def test_emit_returns_none(flavor: Flavor) -> None:
    result = flavor.make().emit("ev")
    if inspect.isawaitable(result):
        result = await result
    assert result is None


# --- channels and typed rooms --------------------------------------------------------------


def decode(payload: bytes) -> Any:
    return msgpack.unpackb(payload, raw=False)


async def test_numeric_room_keeps_its_type(flavor: Flavor) -> None:
    em = flavor.make()
    await run(em.to(42).emit("num", 42))
    await run(em.to("42").emit("str", "42"))
    (ch_int, num), (ch_str, text) = flavor.published
    assert ch_int == ch_str == b"socket.io#/#42#"
    assert decode(num)[2]["rooms"] == [42]
    assert decode(text)[2]["rooms"] == ["42"]
    assert b"\x91\x2a" in num  # rooms: [42] as a msgpack int, as notepack writes it


async def test_two_rooms_and_no_room_use_the_bare_channel(flavor: Flavor) -> None:
    em = flavor.make()
    await run(em.to("a", "b").emit("two"))
    await run(em.except_("a").emit("none"))
    assert [channel for channel, _ in flavor.published] == [b"socket.io#/#", b"socket.io#/#"]
    assert decode(flavor.published[0][1])[2] == {"rooms": ["a", "b"], "flags": {}, "except": []}
    assert decode(flavor.published[1][1])[2] == {"rooms": [], "flags": {}, "except": ["a"]}


async def test_opts_key_order_is_rooms_flags_except(flavor: Flavor) -> None:
    await run(flavor.make().to("r").except_("x").compress(True).emit("ev"))
    opts = decode(flavor.published[0][1])[2]
    assert list(opts) == ["rooms", "flags", "except"]
    assert opts == {"rooms": ["r"], "flags": {"compress": True}, "except": ["x"]}


async def test_namespace_and_key(flavor: Flavor) -> None:
    em = flavor.make(key="myapp")
    await run(em.of("admin").emit("a"))
    await run(em.of("/admin").to("r").emit("b"))
    await run(em.of("").emit("c"))
    await run(em.of("admin").sockets_join("vip"))
    await run(em.of("admin").server_side_emit("ping"))
    channels = [channel for channel, _ in flavor.published]
    assert channels == [
        b"myapp#/admin#",
        b"myapp#/admin#r#",
        b"myapp#/#",
        b"myapp-request#/admin#",
        b"myapp-request#/admin#",
    ]
    assert decode(flavor.published[0][1])[1] == {"type": 2, "data": ["a"], "nsp": "/admin"}


async def test_binary_integral_floats_and_unicode_match_notepack(flavor: Flavor) -> None:
    await run(flavor.make().emit("t", b"\x00\xff", 1.0, -0.0, 1.5, "é", None, [1, {"k": True}]))
    payload = flavor.published[0][1]
    # notepack writes integral numbers as the smallest int and Buffers as bin
    data = "a174c40200ff0100cb3ff8000000000000a2c3a9c09201 81a16bc3".replace(" ", "")
    assert bytes.fromhex("98" + data) in payload


async def test_json_requests_keep_room_types_and_use_js_numbers(flavor: Flavor) -> None:
    em = flavor.make()
    await run(em.to(7, "7").except_(8).sockets_join([9, "x"]))
    await run(em.server_side_emit("ev", 1.0, 2.5, b"\x01\x02", {"é": [None]}))
    join, sse = (payload for _, payload in flavor.published)
    assert join == b'{"type":2,"opts":{"rooms":[7,"7"],"except":[8]},"rooms":[9,"x"]}'
    # JSON.stringify: 1.0 -> 1, a Buffer -> {"type":"Buffer","data":[...]}, raw UTF-8
    assert (
        sse
        == (
            '{"uid":"emitter","type":6,"data":["ev",1,2.5,'
            '{"type":"Buffer","data":[1,2]},{"é":[null]}]}'
        ).encode()
    )


async def test_disconnect_close_true(flavor: Flavor) -> None:
    await run(flavor.make().except_("keep").disconnect_sockets(close=True))
    assert flavor.published == [
        (b"socket.io-request#/#", b'{"type":4,"opts":{"rooms":[],"except":["keep"]},"close":true}')
    ]


async def test_json_parser_option_changes_only_broadcasts(flavor: Flavor) -> None:
    em = flavor.make(parser="json")
    await run(em.emit("ev", 1))
    await run(em.sockets_join("r"))
    broadcast, join = (payload for _, payload in flavor.published)
    assert json.loads(broadcast) == [
        "emitter",
        {"type": 2, "data": ["ev", 1], "nsp": "/"},
        {"rooms": [], "flags": {}, "except": []},
    ]
    assert join == b'{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["r"]}'


# --- immutable chaining --------------------------------------------------------------------


def test_chaining_returns_new_emitters_and_leaves_the_original_alone(flavor: Flavor) -> None:
    base = flavor.make()
    admin = base.of("admin")
    room = admin.to("a")
    both = room.in_(["b", 42]).except_("x", ["y"])
    vol = both.volatile
    cmp = vol.compress(False)
    assert type(cmp) is flavor.cls
    assert len({id(e) for e in (base, admin, room, both, vol, cmp)}) == 6
    assert (base.namespace, base.rooms, base.except_rooms, dict(base.flags)) == ("/", (), (), {})
    assert (admin.namespace, admin.rooms) == ("/admin", ())
    assert room.rooms == ("a",)
    assert both.rooms == ("a", "b", 42)
    assert both.except_rooms == ("x", "y")
    assert dict(both.flags) == {}
    assert dict(vol.flags) == {"volatile": True}
    assert dict(cmp.flags) == {"volatile": True, "compress": False}
    assert cmp.client is base.client


def test_rooms_are_deduplicated_in_order_and_typed(flavor: Flavor) -> None:
    op = flavor.make().to("a", 1).to(["a", "1", 1, "b"])
    assert op.rooms == ("a", 1, "1", "b")
    assert op.except_("x").except_("x", "y").except_rooms == ("x", "y")


def test_flags_keep_the_order_they_were_first_set(flavor: Flavor) -> None:
    em = flavor.make()
    assert list(em.compress(True).volatile.flags) == ["compress", "volatile"]
    assert dict(em.compress(True).volatile.compress(False).flags) == {
        "compress": False,
        "volatile": True,
    }


def test_of_keeps_targets_and_flags(flavor: Flavor) -> None:
    op = flavor.make().to("r").except_("x").volatile.of("/other")
    assert (op.namespace, op.rooms, op.except_rooms, dict(op.flags)) == (
        "/other",
        ("r",),
        ("x",),
        {"volatile": True},
    )


def test_flags_view_is_read_only(flavor: Flavor) -> None:
    flags = flavor.make().volatile.flags
    with pytest.raises(TypeError):
        flags["compress"] = True  # type: ignore[index]


def test_repr_shows_the_target(flavor: Flavor) -> None:
    text = repr(flavor.make().of("admin").to(42).except_("x").volatile)
    assert text == (
        f"{flavor.cls.__name__}(key='socket.io', namespace='/admin', rooms=[42], "
        "except_rooms=['x'], flags={'volatile': True})"
    )


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("event", RESERVED)
async def test_reserved_event_names_are_refused(flavor: Flavor, event: str) -> None:
    with pytest.raises(ValueError, match=f'"{event}" is a reserved event name'):
        await run(flavor.make().emit(event, 1))
    assert flavor.published == []


@pytest.mark.parametrize("event", ["connect", "connection", "new_namespace"])
async def test_server_side_emit_refuses_namespace_reserved_names(
    flavor: Flavor, event: str
) -> None:
    with pytest.raises(ValueError, match="reserved"):
        await run(flavor.make().server_side_emit(event))
    assert flavor.published == []


async def test_server_side_emit_allows_client_reserved_names_like_node(flavor: Flavor) -> None:
    await run(flavor.make().server_side_emit("disconnect"))
    assert flavor.published == [
        (b"socket.io-request#/#", b'{"uid":"emitter","type":6,"data":["disconnect"]}')
    ]


@pytest.mark.parametrize("method", ["emit", "server_side_emit"])
async def test_acknowledgement_callbacks_are_refused(flavor: Flavor, method: str) -> None:
    em = flavor.make()
    with pytest.raises(TypeError, match="acknowledgements are not supported"):
        await run(getattr(em, method)("ev", 1, lambda *a: None))
    assert flavor.published == []


@pytest.mark.parametrize("method", ["emit", "server_side_emit"])
@pytest.mark.parametrize("event", [1, None, b"ev"])
async def test_event_name_must_be_a_string(flavor: Flavor, method: str, event: Any) -> None:
    with pytest.raises(TypeError, match="event name must be a string"):
        await run(getattr(flavor.make(), method)(event))
    assert flavor.published == []


@pytest.mark.parametrize(
    "chain",
    [
        lambda em: em.to("r"),
        lambda em: em.except_("r"),
        lambda em: em.in_(1),
    ],
)
async def test_server_side_emit_refuses_room_targets(
    flavor: Flavor, chain: Callable[[Any], Any]
) -> None:
    with pytest.raises(ValueError, match="not rooms"):
        await run(chain(flavor.make()).server_side_emit("ev"))
    assert flavor.published == []


async def test_server_side_emit_ignores_flags_like_node(flavor: Flavor) -> None:
    await run(flavor.make().volatile.compress(False).server_side_emit("emSSE", 1))
    assert flavor.published == [(b"socket.io-request#/#", SERVER_SIDE)]


@pytest.mark.parametrize("room", [True, 1.5, None, b"r", {"r"}])
def test_room_names_must_be_str_or_int(flavor: Flavor, room: Any) -> None:
    em = flavor.make()
    with pytest.raises(TypeError, match="room names"):
        em.to(room)
    with pytest.raises(TypeError, match="room names"):
        em.except_(["ok", room])


@pytest.mark.parametrize("method", ["sockets_join", "sockets_leave"])
async def test_join_leave_rooms_must_be_str_or_int(flavor: Flavor, method: str) -> None:
    with pytest.raises(TypeError, match="room names"):
        await run(getattr(flavor.make(), method)(["ok", 2.5]))
    assert flavor.published == []


@pytest.mark.parametrize("rooms", [(), ([],), ((), [])])
def test_to_needs_a_room(flavor: Flavor, rooms: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="at least one room"):
        flavor.make().to(*rooms)


async def test_compress_and_close_must_be_bool(flavor: Flavor) -> None:
    em = flavor.make()
    with pytest.raises(TypeError, match="compress"):
        em.compress(1)
    with pytest.raises(TypeError, match="close"):
        await run(em.disconnect_sockets(close="yes"))
    assert flavor.published == []


def test_of_needs_a_string(flavor: Flavor) -> None:
    with pytest.raises(TypeError, match="namespace"):
        flavor.make().of(None)


# --- construction options ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AsyncEmitter, Emitter])
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"url": 6379}, TypeError, "url"),
        ({"url": "http://localhost:6379"}, ValueError, "url"),
        ({"url": "localhost:notaport"}, ValueError, "url"),
        ({"url": "localhost:70000"}, ValueError, "url"),
        ({"key": 1}, TypeError, "key"),
        ({"key": ""}, ValueError, "key"),
        ({"parser": "xml"}, ValueError, "parser"),
        ({"parser": object()}, TypeError, "parser"),
        ({"redis_options": ["socket_timeout", 1]}, TypeError, "redis_options"),
        ({"redis_options": {"no_such_option": 1}}, TypeError, "redis_options"),
        ({"client": "redis://localhost"}, TypeError, "client"),
    ],
)
def test_bad_options_are_refused_at_construction(
    cls: type[Any], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_the_client_must_match_the_flavor() -> None:
    with pytest.raises(TypeError, match=r"client must be a redis\.asyncio\.Redis"):
        AsyncEmitter(client=redis.Redis())
    with pytest.raises(TypeError, match=r"client must be a redis\.Redis"):
        Emitter(client=aioredis.Redis())


def test_client_excludes_url_and_redis_options(flavor: Flavor) -> None:
    with pytest.raises(ValueError, match="url or client"):
        flavor.make(url="redis://localhost:6379/0")
    with pytest.raises(ValueError, match="redis_options"):
        flavor.make(redis_options={"socket_timeout": 1})


@pytest.mark.parametrize("cls", [AsyncEmitter, Emitter])
@pytest.mark.parametrize(
    ("url", "host", "port", "db"),
    [
        (None, "localhost", 6379, 0),
        ("example.org:6390", "example.org", 6390, 0),
        ("redis://10.0.0.1:7000/3", "10.0.0.1", 7000, 3),
    ],
)
async def test_url_forms(cls: type[Any], url: str | None, host: str, port: int, db: int) -> None:
    em = cls(url, redis_options={"socket_timeout": 2})
    kwargs = em.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (
        host,
        port,
        db,
        2,
    )
    await run(em.aclose() if isinstance(em, AsyncEmitter) else em.close())


# --- lifecycle -----------------------------------------------------------------------------


async def test_async_emitter_owns_the_client_it_created() -> None:
    em = AsyncEmitter("redis://127.0.0.1:1/0")
    derived = em.to("r")
    assert not derived.closed
    await derived.aclose()  # shared by every emitter of the chain
    assert em.closed and derived.closed
    await em.aclose()
    await em.close()
    with pytest.raises(AdapterClosedError, match="emitter was closed"):
        await em.emit("ev")
    with pytest.raises(AdapterClosedError):
        await derived.sockets_join("r")


async def test_async_emitter_leaves_a_caller_client_open() -> None:
    client = RecordingAsyncRedis()
    async with AsyncEmitter(client=client) as em:
        await em.emit("ev")
    assert em.closed
    assert client.closes == 0
    with pytest.raises(AdapterClosedError):
        await em.server_side_emit("ev")
    assert len(client.published) == 1
    await client.aclose()


def test_sync_emitter_lifecycle() -> None:
    client = RecordingRedis()
    with Emitter(client=client) as em:
        em.emit("ev")
    em.close()
    assert em.closed
    assert client.closes == 0
    with pytest.raises(AdapterClosedError):
        em.to("r").disconnect_sockets()
    owned = Emitter("redis://127.0.0.1:1/0")
    owned.close()
    owned.close()
    assert owned.closed
