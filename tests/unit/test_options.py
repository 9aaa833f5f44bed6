"""``AsyncRedisAdapter(...)`` construction: validation, accepted forms, read-only attributes.

Construction never connects, so none of these tests needs a Redis server. Every client that
gets created is closed (``aclose``) before the test ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from socketio_redis_async import AsyncRedisAdapter, JsonParser, MsgpackParser

UID = re.compile(r"[A-Za-z0-9_-]{6}")


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., aioredis.Redis]]:
    """Create unconnected ``redis.asyncio.Redis`` clients, closed at teardown."""
    created: list[aioredis.Redis] = []

    def make(**kwargs: Any) -> aioredis.Redis:
        client = aioredis.Redis(**kwargs)
        created.append(client)
        return client

    yield make
    for client in created:
        await client.aclose()


@pytest.fixture
async def adapters() -> AsyncIterator[list[AsyncRedisAdapter]]:
    """Adapters registered here are closed at teardown."""
    made: list[AsyncRedisAdapter] = []
    yield made
    for adapter in made:
        await adapter.aclose()


def pool_kwargs(client: aioredis.Redis) -> dict[str, Any]:
    return dict(client.connection_pool.connection_kwargs)


# --- invalid options: the message names the option --------------------------------------

INVALID: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("url-int", {"url": 6379}, TypeError, ("url",)),
    ("url-bytes", {"url": b"redis://localhost"}, TypeError, ("url",)),
    ("url-http-scheme", {"url": "http://localhost:6379"}, ValueError, ("url",)),
    ("url-bad-port", {"url": "localhost:notaport"}, ValueError, ("url",)),
    ("url-empty-host", {"url": ":6379"}, ValueError, ("url",)),
    ("url-port-out-of-range", {"url": "localhost:70000"}, ValueError, ("port",)),
    ("host-int", {"host": 127}, TypeError, ("host",)),
    ("port-str", {"port": "6379"}, TypeError, ("port",)),
    ("port-bool", {"port": True}, TypeError, ("port",)),
    ("port-float", {"port": 6379.0}, TypeError, ("port",)),
    ("port-zero", {"port": 0}, ValueError, ("port",)),
    ("port-negative", {"port": -1}, ValueError, ("port",)),
    ("port-too-big", {"port": 65536}, ValueError, ("port",)),
    ("url-and-host", {"url": "redis://a:1/0", "host": "b"}, ValueError, ("url", "host")),
    ("url-and-port", {"url": "redis://a:1/0", "port": 2}, ValueError, ("url", "port")),
    ("key-int", {"key": 1}, TypeError, ("key",)),
    ("key-none", {"key": None}, TypeError, ("key",)),
    ("pub-client-str", {"pub_client": "redis://localhost"}, TypeError, ("pub_client",)),
    ("pub-client-object", {"pub_client": object()}, TypeError, ("pub_client",)),
    ("sub-client-str", {"sub_client": "redis://localhost"}, TypeError, ("sub_client",)),
    ("timeout-str", {"requests_timeout": "5"}, TypeError, ("requests_timeout",)),
    ("timeout-bool", {"requests_timeout": True}, TypeError, ("requests_timeout",)),
    ("timeout-none", {"requests_timeout": None}, TypeError, ("requests_timeout",)),
    ("timeout-zero", {"requests_timeout": 0}, ValueError, ("requests_timeout",)),
    ("timeout-negative", {"requests_timeout": -1.5}, ValueError, ("requests_timeout",)),
    ("timeout-infinite", {"requests_timeout": math.inf}, ValueError, ("requests_timeout",)),
    ("timeout-nan", {"requests_timeout": math.nan}, ValueError, ("requests_timeout",)),
    (
        "specific-channel-int",
        {"publish_on_specific_response_channel": 1},
        TypeError,
        ("publish_on_specific_response_channel",),
    ),
    (
        "specific-channel-str",
        {"publish_on_specific_response_channel": "true"},
        TypeError,
        ("publish_on_specific_response_channel",),
    ),
    ("parser-unknown-name", {"parser": "xml"}, ValueError, ("parser",)),
    ("parser-object", {"parser": object()}, TypeError, ("parser",)),
    ("parser-int", {"parser": 1}, TypeError, ("parser",)),
    ("redis-options-list", {"redis_options": [("db", 1)]}, TypeError, ("redis_options",)),
    ("redis-options-str", {"redis_options": "db=1"}, TypeError, ("redis_options",)),
    (
        "redis-options-decode-responses",
        {"redis_options": {"decode_responses": True}},
        ValueError,
        ("redis_options", "decode_responses"),
    ),
    ("logger-str", {"logger": "socketio"}, TypeError, ("logger",)),
    (
        "logger-adapter",
        {"logger": logging.LoggerAdapter(logging.getLogger())},
        TypeError,
        ("logger",),
    ),
    ("on-error-int", {"on_error": 1}, TypeError, ("on_error",)),
    ("on-error-str", {"on_error": "print"}, TypeError, ("on_error",)),
]


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "names"),
    [pytest.param(kwargs, exc, names, id=name) for name, kwargs, exc, names in INVALID],
)
def test_invalid_option_is_rejected_by_name(
    kwargs: dict[str, Any], exc_type: type[Exception], names: tuple[str, ...]
) -> None:
    with pytest.raises(exc_type) as info:
        AsyncRedisAdapter(**kwargs)
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"host": ""}, "host"),
        ({"key": ""}, "key"),
    ],
)
def test_empty_strings_are_rejected_by_name(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises((TypeError, ValueError), match=name):
        AsyncRedisAdapter(**kwargs)


def test_url_positional_and_host_is_rejected() -> None:
    with pytest.raises(ValueError, match="url") as info:
        AsyncRedisAdapter("localhost:6379", host="localhost")
    assert "host" in str(info.value)


async def test_clients_and_url_together_are_rejected(
    make_client: Callable[..., aioredis.Redis],
) -> None:
    client = make_client()
    for kwargs in ({"url": "redis://localhost:6379/0"}, {"host": "localhost"}, {"port": 6379}):
        with pytest.raises(ValueError) as info:
            AsyncRedisAdapter(pub_client=client, **kwargs)
        assert "pub_client" in str(info.value)
        assert next(iter(kwargs)) in str(info.value)
    with pytest.raises(ValueError, match="sub_client"):
        AsyncRedisAdapter("redis://localhost:6379/0", sub_client=client)


async def test_clients_and_redis_options_together_are_rejected(
    make_client: Callable[..., aioredis.Redis],
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="redis_options"):
        AsyncRedisAdapter(pub_client=client, redis_options={"db": 1})


async def test_sub_client_with_decode_responses_is_rejected(
    make_client: Callable[..., aioredis.Redis],
) -> None:
    decoding = make_client(decode_responses=True)
    raw = make_client()
    with pytest.raises(ValueError, match="decode_responses") as info:
        AsyncRedisAdapter(pub_client=raw, sub_client=decoding)
    assert "sub_client" in str(info.value)
    # pub_client alone doubles as the subscriber, so it must not decode either.
    with pytest.raises(ValueError, match="decode_responses"):
        AsyncRedisAdapter(pub_client=decoding)
    with pytest.raises(ValueError, match="decode_responses"):
        AsyncRedisAdapter(sub_client=decoding)


def test_a_sync_redis_client_is_rejected() -> None:
    import redis

    client = redis.Redis()
    try:
        with pytest.raises(TypeError, match="pub_client"):
            AsyncRedisAdapter(pub_client=client)
        with pytest.raises(TypeError, match="sub_client"):
            AsyncRedisAdapter(sub_client=client)
    finally:
        client.close()


# --- valid forms --------------------------------------------------------------------------


def test_construction_needs_no_running_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    adapter = AsyncRedisAdapter("redis://localhost:6379/0")
    try:
        assert pool_kwargs(adapter.pub_client)["host"] == "localhost"
    finally:
        asyncio.run(adapter.aclose())


@pytest.mark.parametrize(
    ("args", "kwargs", "host", "port", "db"),
    [
        ((), {}, "localhost", 6379, 0),
        (("redis://example.invalid:6380/2",), {}, "example.invalid", 6380, 2),
        ((), {"url": "redis://10.0.0.1:7000/5"}, "10.0.0.1", 7000, 5),
        (("cache.internal:7001",), {}, "cache.internal", 7001, 0),
        (("cache.internal",), {}, "cache.internal", 6379, 0),
        ((), {"host": "h1", "port": 7002}, "h1", 7002, 0),
        ((), {"host": "h2"}, "h2", 6379, 0),
        ((), {"port": 7003}, "localhost", 7003, 0),
    ],
)
async def test_tcp_forms(
    adapters: list[AsyncRedisAdapter],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    host: str,
    port: int,
    db: int,
) -> None:
    adapter = AsyncRedisAdapter(*args, **kwargs)
    adapters.append(adapter)
    for client in (adapter.pub_client, adapter.sub_client):
        options = pool_kwargs(client)
        assert (options["host"], options["port"], options["db"]) == (host, port, db)
    # The adapter creates two clients of its own: publishing and subscribing.
    assert adapter.pub_client is not adapter.sub_client


async def test_unix_socket_url(adapters: list[AsyncRedisAdapter]) -> None:
    adapter = AsyncRedisAdapter("unix:///tmp/redis-test.sock")
    adapters.append(adapter)
    assert adapter.pub_client.connection_pool.connection_class is UnixDomainSocketConnection
    assert pool_kwargs(adapter.pub_client)["path"] == "/tmp/redis-test.sock"


async def test_rediss_url(adapters: list[AsyncRedisAdapter]) -> None:
    adapter = AsyncRedisAdapter("rediss://secure.invalid:6380/1")
    adapters.append(adapter)
    assert adapter.pub_client.connection_pool.connection_class is SSLConnection


async def test_redis_options_reach_the_created_clients(
    adapters: list[AsyncRedisAdapter],
) -> None:
    adapter = AsyncRedisAdapter(
        "redis://localhost:6379/0", redis_options={"socket_timeout": 3.5, "decode_responses": False}
    )
    adapters.append(adapter)
    for client in (adapter.pub_client, adapter.sub_client):
        assert pool_kwargs(client)["socket_timeout"] == 3.5


async def test_pub_client_only_doubles_as_sub_client(
    adapters: list[AsyncRedisAdapter], make_client: Callable[..., aioredis.Redis]
) -> None:
    client = make_client()
    adapter = AsyncRedisAdapter(pub_client=client)
    adapters.append(adapter)
    assert adapter.pub_client is client
    assert adapter.sub_client is client


async def test_sub_client_only_doubles_as_pub_client(
    adapters: list[AsyncRedisAdapter], make_client: Callable[..., aioredis.Redis]
) -> None:
    client = make_client()
    adapter = AsyncRedisAdapter(sub_client=client)
    adapters.append(adapter)
    assert adapter.pub_client is client
    assert adapter.sub_client is client


async def test_both_clients_are_kept(
    adapters: list[AsyncRedisAdapter], make_client: Callable[..., aioredis.Redis]
) -> None:
    pub, sub = make_client(), make_client()
    adapter = AsyncRedisAdapter(pub_client=pub, sub_client=sub)
    adapters.append(adapter)
    assert adapter.pub_client is pub
    assert adapter.sub_client is sub


async def test_other_valid_options(adapters: list[AsyncRedisAdapter]) -> None:
    errors: list[BaseException] = []
    adapter = AsyncRedisAdapter(
        key="myapp",
        requests_timeout=0.25,
        publish_on_specific_response_channel=True,
        parser="json",
        logger=logging.getLogger("test-options"),
        on_error=errors.append,
    )
    adapters.append(adapter)
    assert adapter.prefix == "myapp"
    assert adapter.logger is logging.getLogger("test-options")
    adapter2 = AsyncRedisAdapter(requests_timeout=3, parser=JsonParser())
    adapters.append(adapter2)
    adapter3 = AsyncRedisAdapter(parser=MsgpackParser())
    adapters.append(adapter3)


# --- read-only attributes -----------------------------------------------------------------


async def test_uid_and_prefix(adapters: list[AsyncRedisAdapter]) -> None:
    first, second = AsyncRedisAdapter(), AsyncRedisAdapter(key="other")
    adapters += [first, second]
    assert UID.fullmatch(first.uid)
    assert UID.fullmatch(second.uid)
    assert first.uid != second.uid
    assert first.uid == first.uid  # stable
    assert first.prefix == "socket.io"
    assert second.prefix == "other"


@pytest.mark.parametrize("attribute", ["uid", "prefix", "pub_client", "sub_client"])
async def test_attributes_are_read_only(adapters: list[AsyncRedisAdapter], attribute: str) -> None:
    adapter = AsyncRedisAdapter()
    adapters.append(adapter)
    before = getattr(adapter, attribute)
    with pytest.raises(AttributeError):
        setattr(adapter, attribute, "changed")
    assert getattr(adapter, attribute) is before


async def test_aclose_is_idempotent_without_start() -> None:
    adapter = AsyncRedisAdapter()
    await adapter.aclose()
    await adapter.aclose()
