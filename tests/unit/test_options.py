"""``AsyncRedisAdapter(...)`` construction: validation, accepted forms, read-only attributes;
the Sentinel forms of the adapter and of both emitters.

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
import redis
import redis.asyncio as aioredis
import redis.sentinel
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from socketio_redis_async import (
    AsyncEmitter,
    AsyncRedisAdapter,
    Emitter,
    JsonParser,
    MsgpackParser,
)
from socketio_redis_async.options import redacted

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


# --- Redis Sentinel ------------------------------------------------------------------------


def sentinel_addresses(client: Any) -> list[tuple[str, int]]:
    manager = client.connection_pool.sentinel_manager
    return [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in manager.sentinels
    ]


SENTINEL_URLS: list[tuple[str, list[tuple[str, int]], str, dict[str, Any]]] = [
    (
        "redis+sentinel://s1:26380,s2:26381/mymaster",
        [("s1", 26380), ("s2", 26381)],
        "mymaster",
        {},
    ),
    ("redis+sentinel://s1,s2/mymaster/3", [("s1", 26379), ("s2", 26379)], "mymaster", {"db": 3}),
    ("sentinel://:pw@s1:1/svc", [("s1", 1)], "svc", {"password": "pw"}),
    (
        "valkey+sentinel://user:p%40ss@[::1]:5000,s2/svc/2/",
        [("::1", 5000), ("s2", 26379)],
        "svc",
        {"username": "user", "password": "p@ss", "db": 2},
    ),
    # python-socketio's order: /db/service_name
    ("redis+sentinel://s1:1/4/svc", [("s1", 1)], "svc", {"db": 4}),
    ("redis+sentinel://s1:1/my%2Fsvc", [("s1", 1)], "my/svc", {}),
    ("REDIS+SENTINEL://s1:1/svc", [("s1", 1)], "svc", {}),
]


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "master"),
    [pytest.param(*case, id=case[0]) for case in SENTINEL_URLS],
)
async def test_sentinel_url_forms(
    adapters: list[AsyncRedisAdapter],
    url: str,
    sentinels: list[tuple[str, int]],
    service: str,
    master: dict[str, Any],
) -> None:
    adapter = AsyncRedisAdapter(url)
    adapters.append(adapter)
    for client in (adapter.pub_client, adapter.sub_client):
        pool = client.connection_pool
        assert pool.service_name == service
        assert pool.is_master
        assert sentinel_addresses(client) == sentinels
        for name in ("username", "password", "db"):
            assert pool.connection_kwargs.get(name) == master.get(name), name
    # one Sentinel manager for both, so one watcher follows failovers for the adapter
    assert adapter.pub_client.connection_pool.sentinel_manager is (
        adapter.sub_client.connection_pool.sentinel_manager
    )


async def test_sentinel_clients_keep_the_role_defaults(adapters: list[AsyncRedisAdapter]) -> None:
    adapter = AsyncRedisAdapter(sentinels=[("s1", 26379)], service_name="mymaster")
    adapters.append(adapter)
    pub = pool_kwargs(adapter.pub_client)
    sub = pool_kwargs(adapter.sub_client)
    assert sub["protocol"] == 2
    assert sub["retry"].get_retries() == 0  # the reader owns reconnection
    assert pub["retry"].get_retries() == 2


async def test_sentinels_and_service_name(adapters: list[AsyncRedisAdapter]) -> None:
    adapter = AsyncRedisAdapter(
        sentinels=[("s1", 26379), ["s2", 26380]],
        service_name="cache",
        redis_options={"password": "master-pw", "db": 5, "socket_timeout": 2.5},
        sentinel_options={"password": "sentinel-pw", "username": "watcher"},
    )
    adapters.append(adapter)
    pool = adapter.pub_client.connection_pool
    assert pool.service_name == "cache"
    assert sentinel_addresses(adapter.pub_client) == [("s1", 26379), ("s2", 26380)]
    assert (pool.connection_kwargs["password"], pool.connection_kwargs["db"]) == ("master-pw", 5)
    assert pool.connection_kwargs["socket_timeout"] == 2.5
    # the Sentinels get their own credentials, never the master's
    for sentinel in pool.sentinel_manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("watcher", "sentinel-pw")


async def test_sentinel_options_override_the_sentinel_timeouts(
    adapters: list[AsyncRedisAdapter],
) -> None:
    adapter = AsyncRedisAdapter(
        "redis+sentinel://s1/m", sentinel_options={"socket_connect_timeout": 0.25}
    )
    adapters.append(adapter)
    manager = adapter.pub_client.connection_pool.sentinel_manager
    kwargs = manager.sentinels[0].connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == 0.25
    # the short defaults stay for what is not given; RESP2: no HELLO round trip
    assert (kwargs["socket_timeout"], kwargs["protocol"]) == (1.0, 2)
    assert kwargs["retry"].get_retries() == 0  # the next Sentinel is asked instead


SECRET = "s3cr3t-value"

INVALID_SENTINEL: list[tuple[str, dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("url-no-service", {"url": "redis+sentinel://s1:1"}, ValueError, ("url", "service")),
    ("url-slash-only", {"url": "redis+sentinel://s1:1/"}, ValueError, ("url", "service")),
    ("url-db-only", {"url": "redis+sentinel://s1:1/3"}, ValueError, ("url", "service")),
    ("url-two-names", {"url": "redis+sentinel://s1:1/a/b"}, ValueError, ("url", "database")),
    ("url-three-segments", {"url": "redis+sentinel://s1:1/a/1/2"}, ValueError, ("url",)),
    ("url-no-host", {"url": "redis+sentinel:///svc"}, ValueError, ("url", "host")),
    ("url-empty-host", {"url": "redis+sentinel://s1:1,/svc"}, ValueError, ("url", "#2")),
    ("url-port-zero", {"url": "redis+sentinel://s1:0/svc"}, ValueError, ("url", "port")),
    ("url-port-big", {"url": "redis+sentinel://s1:65536/svc"}, ValueError, ("url", "port")),
    ("url-port-text", {"url": "redis+sentinel://s1:x/svc"}, ValueError, ("url", "port")),
    ("url-port-empty", {"url": "redis+sentinel://s1:/svc"}, ValueError, ("url", "port")),
    ("url-bare-ipv6", {"url": "redis+sentinel://::1:5/svc"}, ValueError, ("url", "IPv6")),
    ("url-open-bracket", {"url": "redis+sentinel://[::1:5/svc"}, ValueError, ("url",)),
    ("url-query", {"url": "redis+sentinel://s1/svc?db=1"}, ValueError, ("url", "query")),
    (
        "url-and-sentinels",
        {"url": "redis://h:1/0", "sentinels": [("s", 1)], "service_name": "m"},
        ValueError,
        ("url", "sentinels"),
    ),
    (
        "sentinels-and-host",
        {"host": "h", "sentinels": [("s", 1)], "service_name": "m"},
        ValueError,
        ("sentinels", "host"),
    ),
    (
        "sentinels-and-port",
        {"port": 1, "sentinels": [("s", 1)], "service_name": "m"},
        ValueError,
        ("sentinels", "port"),
    ),
    ("sentinels-empty", {"sentinels": [], "service_name": "m"}, ValueError, ("sentinels",)),
    ("sentinels-str", {"sentinels": "s1:26379", "service_name": "m"}, TypeError, ("sentinels",)),
    ("sentinels-int", {"sentinels": 26379, "service_name": "m"}, TypeError, ("sentinels",)),
    ("sentinels-str-item", {"sentinels": ["s1:1"], "service_name": "m"}, TypeError, ("sentinels",)),
    ("sentinels-1-tuple", {"sentinels": [("s1",)], "service_name": "m"}, TypeError, ("sentinels",)),
    (
        "sentinels-3-tuple",
        {"sentinels": [("s1", 1, 2)], "service_name": "m"},
        TypeError,
        ("sentinels[0]",),
    ),
    (
        "sentinels-port-str",
        {"sentinels": [("s1", 1), ("s2", "2")], "service_name": "m"},
        ValueError,
        ("sentinels[1]", "port"),
    ),
    (
        "sentinels-port-bool",
        {"sentinels": [("s1", True)], "service_name": "m"},
        ValueError,
        ("sentinels[0]", "port"),
    ),
    (
        "sentinels-port-zero",
        {"sentinels": [("s1", 0)], "service_name": "m"},
        ValueError,
        ("sentinels[0]", "port"),
    ),
    (
        "sentinels-empty-host",
        {"sentinels": [("", 1)], "service_name": "m"},
        ValueError,
        ("sentinels[0]", "host"),
    ),
    ("sentinels-no-service", {"sentinels": [("s1", 1)]}, ValueError, ("service_name",)),
    (
        "service-empty",
        {"sentinels": [("s1", 1)], "service_name": ""},
        ValueError,
        ("service_name",),
    ),
    (
        "service-int",
        {"sentinels": [("s1", 1)], "service_name": 1},
        TypeError,
        ("service_name",),
    ),
    ("service-without-sentinels", {"service_name": "m"}, ValueError, ("service_name",)),
    (
        "service-and-sentinel-url",
        {"url": "redis+sentinel://s1/m", "service_name": "m"},
        ValueError,
        ("service_name",),
    ),
    (
        "sentinel-options-without-sentinels",
        {"sentinel_options": {"password": "x"}},
        ValueError,
        ("sentinel_options",),
    ),
    (
        "sentinel-options-list",
        {"url": "redis+sentinel://s1/m", "sentinel_options": [("password", "x")]},
        TypeError,
        ("sentinel_options",),
    ),
    (
        "sentinel-options-unknown",
        {"url": "redis+sentinel://s1/m", "sentinel_options": {"bogus_option": 1}},
        TypeError,
        ("sentinel_options", "bogus_option"),
    ),
    (
        "redis-options-unknown",
        {"url": "redis+sentinel://s1/m", "redis_options": {"bogus_option": 1}},
        TypeError,
        ("redis_options", "bogus_option"),
    ),
    (
        "password-twice",
        {"url": "redis+sentinel://:a@s1/m", "redis_options": {"password": "b"}},
        ValueError,
        ("password", "url", "redis_options"),
    ),
    (
        "db-twice",
        {"url": "redis+sentinel://s1/m/1", "redis_options": {"db": 2}},
        ValueError,
        ("db", "url", "redis_options"),
    ),
    (
        "sentinel-url-and-host",
        {"url": "redis+sentinel://s1/m", "host": "h"},
        ValueError,
        ("url", "host"),
    ),
    (
        "decode-responses",
        {"url": "redis+sentinel://s1/m", "redis_options": {"decode_responses": True}},
        ValueError,
        ("decode_responses",),
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "names"),
    [pytest.param(kwargs, exc, names, id=name) for name, kwargs, exc, names in INVALID_SENTINEL],
)
def test_invalid_sentinel_option_is_rejected_by_name(
    kwargs: dict[str, Any], exc_type: type[Exception], names: tuple[str, ...]
) -> None:
    with pytest.raises(exc_type) as info:
        AsyncRedisAdapter(**kwargs)
    for name in names:
        assert name in str(info.value)


async def test_sentinels_and_clients_are_rejected(
    make_client: Callable[..., aioredis.Redis],
) -> None:
    client = make_client()
    for name in ("pub_client", "sub_client"):
        with pytest.raises(ValueError) as info:
            AsyncRedisAdapter(sentinels=[("s1", 1)], service_name="m", **{name: client})
        assert name in str(info.value)
        assert "sentinels" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"redis+sentinel://user:{SECRET}@s1:1",  # no service
        f"redis+sentinel://:{SECRET}@s1:0/m",  # bad port
        f"redis+sentinel://:{SECRET}@s1/m?x=1",  # query
        f"redis+sentinel://:{SECRET}/x@s1/m",  # an unencoded "/" in the password
        f"redis+sentinel://:{SECRET}@[::1/m",  # unclosed bracket
        f"redis+sentinel://:{SECRET}@s1/a/b",  # two names
    ],
)
def test_malformed_sentinel_urls_never_show_the_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        AsyncRedisAdapter(url)
    assert SECRET not in str(info.value)
    assert "url" in str(info.value)
    with pytest.raises(ValueError) as info:
        AsyncEmitter(url)
    assert SECRET not in str(info.value)


def test_other_bad_urls_never_show_the_password() -> None:
    with pytest.raises(ValueError) as info:
        AsyncRedisAdapter(f"http://user:{SECRET}@h:1/0")
    assert SECRET not in str(info.value)
    assert "redis+sentinel://" in str(info.value)  # the accepted schemes are listed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@h:1/0", "redis://user:***@h:1/0"),
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://user@h:1/0", "redis://user@h:1/0"),
        (
            "rediss://u:p@[::1]:6380/2?ssl_cert_reqs=none",
            "rediss://u:***@[::1]:6380/2?ssl_cert_reqs=none",
        ),
        ("redis+sentinel://u:p%2F@s1:1,s2:2/m/0", "redis+sentinel://u:***@s1:1,s2:2/m/0"),
        ("unix://:pw@/tmp/redis.sock?db=1", "unix://:***@/tmp/redis.sock?db=1"),
        ("localhost:6379", "localhost:6379"),
    ],
)
def test_redacted(url: str, shown: str) -> None:
    assert redacted(url) == shown


# --- emitters take the same Sentinel options -------------------------------------------------


async def test_async_emitter_on_sentinels() -> None:
    emitter = AsyncEmitter(
        "redis+sentinel://:pw@s1:1,s2/mymaster/2", sentinel_options={"password": "spw"}
    )
    try:
        pool = emitter.client.connection_pool
        assert pool.service_name == "mymaster"
        assert sentinel_addresses(emitter.client) == [("s1", 1), ("s2", 26379)]
        assert (pool.connection_kwargs["password"], pool.connection_kwargs["db"]) == ("pw", 2)
        assert (
            pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs["password"]
            == "spw"
        )
    finally:
        await emitter.aclose()
    explicit = AsyncEmitter(sentinels=[("s1", 1)], service_name="m")
    await explicit.aclose()


def test_sync_emitter_on_sentinels() -> None:
    emitter = Emitter(sentinels=[("s1", 1), ("s2", 2)], service_name="mymaster")
    try:
        assert isinstance(emitter.client, redis.Redis)
        pool = emitter.client.connection_pool
        assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
        assert pool.service_name == "mymaster"
        assert sentinel_addresses(emitter.client) == [("s1", 1), ("s2", 2)]
    finally:
        emitter.close()
    Emitter("sentinel://s1/m", redis_options={"socket_timeout": 1}).close()


@pytest.mark.parametrize("emitter_class", [AsyncEmitter, Emitter])
@pytest.mark.parametrize(
    ("kwargs", "exc_type", "names"),
    [
        ({"url": "redis+sentinel://s1:1"}, ValueError, ("url", "service")),
        ({"sentinels": [], "service_name": "m"}, ValueError, ("sentinels",)),
        ({"sentinels": [("s1", 1)]}, ValueError, ("service_name",)),
        ({"service_name": "m"}, ValueError, ("service_name",)),
        (
            {"url": "redis://h/0", "sentinels": [("s", 1)], "service_name": "m"},
            ValueError,
            ("url",),
        ),
        ({"sentinel_options": {"password": "x"}}, ValueError, ("sentinel_options",)),
        (
            {"url": "redis+sentinel://s1/m", "sentinel_options": {"bogus_option": 1}},
            TypeError,
            ("sentinel_options",),
        ),
        (
            {"url": "redis+sentinel://s1/m", "redis_options": {"bogus_option": 1}},
            TypeError,
            ("redis_options",),
        ),
    ],
)
def test_emitters_reject_bad_sentinel_options(
    emitter_class: type[Any],
    kwargs: dict[str, Any],
    exc_type: type[Exception],
    names: tuple[str, ...],
) -> None:
    with pytest.raises(exc_type) as info:
        emitter_class(**kwargs)
    for name in names:
        assert name in str(info.value)


async def test_emitters_reject_sentinels_with_a_client(
    make_client: Callable[..., aioredis.Redis],
) -> None:
    with pytest.raises(ValueError, match="client") as info:
        AsyncEmitter(client=make_client(), sentinels=[("s1", 1)], service_name="m")
    assert "sentinels" in str(info.value)
    sync_client = redis.Redis()
    try:
        with pytest.raises(ValueError, match="client"):
            Emitter(client=sync_client, sentinels=[("s1", 1)], service_name="m")
    finally:
        sync_client.close()
