"""Constructor options of the adapter and emitters, validated once, with errors that name
the option.

Redis is named by a ``redis://``/``rediss://``/``unix://`` URL (or ``"host:port"``), by
``host``/``port``, by ready clients, or, for a Sentinel deployment, by a Sentinel URL or
``sentinels=[(host, port), ...]`` plus ``service_name=``. Sentinel URLs::

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/service_name[/db]

``sentinel://`` and ``valkey+sentinel://`` are accepted spellings of the scheme; a port left
out is 26379; IPv6 hosts go in brackets. python-socketio's order ``/db/service_name`` is
read too (the all-digits segment is the database, so a service name cannot be all digits
in a URL: pass ``sentinels=``/``service_name=`` for such a name). The credentials and the
database are the *master's*; the Sentinels' own (``requirepass`` on the Sentinels) go in
``sentinel_options``. Query parameters are refused: use ``redis_options``/``sentinel_options``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

from .parser import JSON, MSGPACK, Parser
from .sentinel import SentinelTarget, async_master_clients
from .slow_clients import DEFAULT_MAX_CLIENT_QUEUE

__all__ = [
    "DEFAULT_SENTINEL_PORT",
    "DEFAULT_URL",
    "AdapterOptions",
    "parse_sentinel_url",
    "parse_url_argument",
    "resolve_parser",
    "resolve_sentinel",
]

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_SENTINEL_PORT = 26379
_URL_SCHEMES = ("redis://", "rediss://", "unix://")
_SENTINEL_SCHEMES = ("redis+sentinel://", "valkey+sentinel://", "sentinel://")
_SENTINEL_FORM = "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]"
_MASTER_URL_KEYS = ("username", "password", "db")


@dataclass(frozen=True)
class AdapterOptions:
    url: str | None
    pub_client: aioredis.Redis | None
    sub_client: aioredis.Redis | None
    key: str
    requests_timeout: float
    publish_on_specific_response_channel: bool
    parser: Parser
    redis_options: Mapping[str, Any] = field(default_factory=dict)
    logger: logging.Logger | None = None
    on_error: Callable[[BaseException], object] | None = None
    max_message_size: int = 16 * 1024 * 1024
    strict: bool = False
    health_check_interval: float = 10.0
    sentinel: SentinelTarget | None = None
    max_client_queue: int = DEFAULT_MAX_CLIENT_QUEUE
    direct_writes: bool = True


def parse_url_argument(url: str) -> str:
    """Accept a Redis URL or the seed's ``"host:port"`` form; return a URL."""
    if "://" in url:
        if not url.startswith(_URL_SCHEMES):
            schemes = ", ".join(_URL_SCHEMES + _SENTINEL_SCHEMES)
            raise ValueError(f"url must start with one of {schemes}: {redacted(url)!r}")
        return url
    host, sep, port_text = url.rpartition(":")
    if not sep:
        host, port_text = url, "6379"
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"url must be a Redis URL or 'host:port' with a valid port, got {url!r}")
    return f"redis://{host}:{port_text}/0"


def _port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, got {port}")
    return port


def is_sentinel_url(url: object) -> bool:
    """Whether ``url`` names a Sentinel deployment (``redis+sentinel://`` and its aliases)."""
    return isinstance(url, str) and url.lower().startswith(_SENTINEL_SCHEMES)


def _bad_sentinel_url(reason: str) -> ValueError:
    # The URL itself is never echoed: a malformed one may hold a password in any position.
    return ValueError(f"url is not a valid Sentinel URL: {reason} (expected {_SENTINEL_FORM})")


def _sentinel_address(item: str, position: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[ipv6]:port`` of the Sentinel at ``position`` (1-based)."""
    if item.startswith("["):
        host, closed, rest = item[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise _bad_sentinel_url(f"Sentinel address #{position} has an unclosed IPv6 bracket")
        has_port, port_text = bool(rest), rest[1:]
    else:
        host, colon, port_text = item.partition(":")
        if ":" in port_text:
            raise _bad_sentinel_url(f"Sentinel address #{position}: put IPv6 hosts in brackets")
        has_port = bool(colon)
    if not host:
        raise _bad_sentinel_url(f"Sentinel address #{position} has no host")
    if not has_port:
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad_sentinel_url(f"Sentinel address #{position} has an invalid port (1-65535)")
    return host, int(port_text)


def _service_and_db(path: str) -> tuple[str, int | None]:
    """``/service[/db]``, or python-socketio's ``/db/service``: the digits are the db."""
    segments = [unquote(segment) for segment in path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if not segments or segments == [""]:
        raise _bad_sentinel_url("the service name is missing")
    if len(segments) > 2 or "" in segments:
        raise _bad_sentinel_url("the path must be /service_name or /service_name/db")
    names = [segment for segment in segments if not segment.isdigit()]
    numbers = [int(segment) for segment in segments if segment.isdigit()]
    if len(names) != 1:
        raise _bad_sentinel_url(
            "the service name is missing (a service name of digits only cannot be written "
            "in a URL: pass sentinels= and service_name=)"
            if not names
            else "the database must be a number"
        )
    return names[0], numbers[0] if numbers else None


def parse_sentinel_url(url: str) -> tuple[SentinelTarget, dict[str, Any]]:
    """The Sentinels and service named by a Sentinel URL, and the master's keyword
    arguments it carries (``username``, ``password``, ``db``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _bad_sentinel_url("it cannot be parsed") from None
    if parts.query or parts.fragment:
        raise _bad_sentinel_url(
            "query parameters are not supported; pass redis_options= and sentinel_options="
        )
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if not hostlist:
        raise _bad_sentinel_url("at least one Sentinel host is needed")
    sentinels = tuple(
        _sentinel_address(item, position)
        for position, item in enumerate(hostlist.split(","), start=1)
    )
    service_name, db = _service_and_db(parts.path)
    master: dict[str, Any] = {}
    if at:
        username, colon, password = userinfo.partition(":")
        if username:
            master["username"] = unquote(username)
        if colon and password:
            master["password"] = unquote(password)
    if db is not None:
        master["db"] = db
    return SentinelTarget(sentinels=sentinels, service_name=service_name), master


def _check_sentinels(sentinels: object) -> tuple[tuple[str, int], ...]:
    if isinstance(sentinels, (str, bytes)) or not isinstance(sentinels, (list, tuple)):
        raise TypeError(
            f"sentinels must be a list of (host, port) pairs, got {type(sentinels).__name__}"
        )
    if not sentinels:
        raise ValueError("sentinels must name at least one Sentinel")
    checked = []
    for index, item in enumerate(sentinels):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"sentinels[{index}] must be a (host, port) pair, got {item!r}")
        host, port = item
        if not isinstance(host, str) or not host:
            raise ValueError(f"sentinels[{index}]: the host must be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"sentinels[{index}]: the port must be an int from 1 to 65535")
        checked.append((host, port))
    return tuple(checked)


def resolve_sentinel(
    url: object,
    sentinels: object,
    service_name: object,
    sentinel_options: object,
    redis_options: dict[str, Any],
    *,
    exclusive: Mapping[str, bool],
) -> tuple[SentinelTarget | None, dict[str, Any]]:
    """The Sentinel deployment named by a Sentinel URL or ``sentinels=``/``service_name=``
    (``None`` for a plain Redis), and the master's keyword arguments: ``redis_options``
    plus the URL's credentials and database.

    ``exclusive`` names the other ways to reach Redis the caller was given (``host``,
    ``pub_client``, ``client``...): none of them may be mixed with ``sentinels``.
    """
    if sentinel_options is not None and not isinstance(sentinel_options, Mapping):
        raise TypeError("sentinel_options must be a dict of keyword arguments for the Sentinels")
    if service_name is not None and not isinstance(service_name, str):
        raise TypeError(f"service_name must be a string, got {type(service_name).__name__}")
    if service_name == "":
        raise ValueError("service_name must not be empty (the Sentinels' name of the master)")
    if sentinels is not None:
        if url is not None:
            raise ValueError("pass either url or sentinels, not both")
        for name, given in exclusive.items():
            if given:
                raise ValueError(f"sentinels replaces {name}; pass one or the other")
        addresses = _check_sentinels(sentinels)
        if service_name is None:
            raise ValueError("service_name is required with sentinels (the master's name)")
        target = SentinelTarget(addresses, service_name)
        master: dict[str, Any] = {}
    elif is_sentinel_url(url):
        assert isinstance(url, str)
        if service_name is not None:
            raise ValueError("service_name: the Sentinel URL already names the service")
        target, master = parse_sentinel_url(url)
    else:
        if service_name is not None:
            raise ValueError("service_name only applies with sentinels= or a Sentinel URL")
        if sentinel_options is not None:
            raise ValueError("sentinel_options only applies with sentinels= or a Sentinel URL")
        return None, redis_options
    for key in _MASTER_URL_KEYS:
        if key in master and key in redis_options:
            raise ValueError(f"the {key} is given both in url and in redis_options")
    if sentinel_options:
        target = SentinelTarget(target.sentinels, target.service_name, dict(sentinel_options))
    return target, {**redis_options, **master}


def resolve_parser(parser: object) -> Parser:
    """``None``/``"msgpack"`` (notepack-compatible), ``"json"``, or an encode/decode object."""
    if parser is None or parser == "msgpack":
        return MSGPACK
    if parser == "json":
        return JSON
    if isinstance(parser, str):
        raise ValueError(f"parser must be 'msgpack', 'json' or an object, got {parser!r}")
    if not (
        callable(getattr(parser, "encode", None)) and callable(getattr(parser, "decode", None))
    ):
        raise TypeError("parser must have callable encode(value) and decode(payload) methods")
    return parser  # type: ignore[return-value]


def _check_client(name: str, client: object) -> aioredis.Redis | None:
    if client is None:
        return None
    if not isinstance(client, aioredis.Redis):
        raise TypeError(f"{name} must be a redis.asyncio.Redis client, got {type(client).__name__}")
    return client


def build_options(
    url: object,
    *,
    host: object,
    port: object,
    key: object,
    pub_client: object,
    sub_client: object,
    requests_timeout: object,
    publish_on_specific_response_channel: object,
    parser: object,
    redis_options: object,
    logger: object,
    on_error: object,
    max_message_size: object = 16 * 1024 * 1024,
    strict: object = False,
    health_check_interval: object = 10.0,
    sentinels: object = None,
    service_name: object = None,
    sentinel_options: object = None,
    max_client_queue: object = DEFAULT_MAX_CLIENT_QUEUE,
    direct_writes: object = True,
) -> AdapterOptions:
    """Validate every option; raise ``TypeError``/``ValueError`` naming the culprit."""
    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a string, got {type(host).__name__}")
    if host == "":
        raise ValueError("host must not be empty")
    if port is not None:
        _port(port)
    if url is not None and (host is not None or port is not None):
        raise ValueError("pass either url or host/port, not both")
    pub = _check_client("pub_client", pub_client)
    sub = _check_client("sub_client", sub_client)
    if (pub or sub) and (url is not None or host is not None or port is not None):
        raise ValueError("pub_client/sub_client replace url/host/port; pass one or the other")
    if redis_options is not None and not isinstance(redis_options, Mapping):
        raise TypeError("redis_options must be a dict of redis.asyncio.Redis keyword arguments")
    options = dict(redis_options or {})
    if (pub or sub) and options:
        raise ValueError("redis_options only applies to clients the adapter creates itself")
    if options.get("decode_responses"):
        raise ValueError("redis_options: decode_responses must stay False (payloads are bytes)")
    sentinel, options = resolve_sentinel(
        url,
        sentinels,
        service_name,
        sentinel_options,
        options,
        exclusive={
            "host": host is not None,
            "port": port is not None,
            "pub_client": pub is not None,
            "sub_client": sub is not None,
        },
    )
    sub = sub or pub
    pub = pub or sub
    if sub is not None and sub.get_encoder().decode_responses:  # type: ignore[no-untyped-call]
        raise ValueError(
            "sub_client was created with decode_responses=True; the adapter reads raw bytes, "
            "create it with decode_responses=False"
        )
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, got {type(key).__name__}")
    if not key:
        raise ValueError("key must not be empty")
    if not isinstance(publish_on_specific_response_channel, bool):
        raise TypeError("publish_on_specific_response_channel must be a bool")
    common = check_common_options(
        requests_timeout=requests_timeout,
        logger=logger,
        on_error=on_error,
        max_message_size=max_message_size,
        strict=strict,
        health_check_interval=health_check_interval,
        max_client_queue=max_client_queue,
        direct_writes=direct_writes,
    )
    if sentinel is not None:
        url = sentinel.describe(options.get("db", 0))
    elif pub is None:
        if host is not None or port is not None:
            url = f"redis://{host or 'localhost'}:{port or 6379}/0"
        url = parse_url_argument(url) if isinstance(url, str) else DEFAULT_URL
    return AdapterOptions(
        url=url if pub is None else None,
        pub_client=pub,
        sub_client=sub,
        key=key,
        requests_timeout=common.requests_timeout,
        publish_on_specific_response_channel=publish_on_specific_response_channel,
        parser=resolve_parser(parser),
        redis_options=options,
        logger=common.logger,
        on_error=common.on_error,
        max_message_size=common.max_message_size,
        strict=common.strict,
        health_check_interval=common.health_check_interval,
        sentinel=sentinel,
        max_client_queue=common.max_client_queue,
        direct_writes=common.direct_writes,
    )


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages (several hosts too)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, hosts = rest[:end].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{hosts}{rest[end:]}"


def create_clients(options: AdapterOptions) -> tuple[aioredis.Redis, aioredis.Redis]:
    """The adapter's own clients, with retry policies that suit each role.

    The subscriber does not retry inside redis-py: the reader owns reconnection, so every
    outage is seen, logged once and counted; it speaks RESP2. The publishing client's other
    commands (PING, PUBSUB NUMSUB) retry briefly, then report: nothing may hang on an outage.
    ``redis_options`` may override both. On a Sentinel deployment both are clients of the
    master the Sentinels name, and follow it across failovers (see ``sentinel.py``).
    """
    pub_kwargs: dict[str, Any] = {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
        **options.redis_options,
    }
    # RESP2 for the subscriber: messages arrive as plain arrays, about 15% cheaper to read
    # than RESP3 push frames (measured), and it is what Node's adapter speaks.
    sub_kwargs: dict[str, Any] = {
        "retry": Retry(NoBackoff(), retries=0),
        "protocol": 2,
        **options.redis_options,
    }
    if options.sentinel is not None:
        pub, sub = async_master_clients(options.sentinel, pub_kwargs, sub_kwargs)
        return pub, sub
    assert options.url is not None
    return (
        aioredis.Redis.from_url(options.url, **pub_kwargs),
        aioredis.Redis.from_url(options.url, **sub_kwargs),
    )


@dataclass(frozen=True)
class CommonValues:
    """The validated options every transport shares."""

    requests_timeout: float
    logger: logging.Logger | None
    on_error: Callable[[BaseException], object] | None
    max_message_size: int
    strict: bool
    health_check_interval: float
    max_client_queue: int
    direct_writes: bool


def check_common_options(
    *,
    requests_timeout: object,
    logger: object,
    on_error: object,
    max_message_size: object,
    strict: object,
    health_check_interval: object,
    max_client_queue: object = DEFAULT_MAX_CLIENT_QUEUE,
    direct_writes: object = True,
) -> CommonValues:
    """Validate the options every transport shares; raise ``TypeError``/``ValueError``."""
    if isinstance(requests_timeout, bool) or not isinstance(requests_timeout, (int, float)):
        raise TypeError("requests_timeout must be a number of seconds")
    if not 0 < requests_timeout < float("inf"):
        raise ValueError(f"requests_timeout must be positive and finite, got {requests_timeout}")
    if logger is not None and not isinstance(logger, logging.Logger):
        raise TypeError("logger must be a logging.Logger")
    if on_error is not None and not callable(on_error):
        raise TypeError("on_error must be a callable taking the exception")
    if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
        raise TypeError("max_message_size must be an int (bytes)")
    if max_message_size < 1024:
        raise ValueError(f"max_message_size must be at least 1024 bytes, got {max_message_size}")
    if not isinstance(strict, bool):
        raise TypeError("strict must be a bool")
    if isinstance(health_check_interval, bool) or not isinstance(
        health_check_interval, (int, float)
    ):
        raise TypeError("health_check_interval must be a number of seconds (0 disables it)")
    if not 0 <= health_check_interval < float("inf"):
        raise ValueError(f"health_check_interval must be >= 0, got {health_check_interval}")
    if max_client_queue is None:
        max_client_queue = 0
    if isinstance(max_client_queue, bool) or not isinstance(max_client_queue, int):
        raise TypeError("max_client_queue must be an int (packets; 0 or None disables it)")
    if max_client_queue < 0:
        raise ValueError(f"max_client_queue must be >= 0, got {max_client_queue}")
    if not isinstance(direct_writes, bool):
        raise TypeError("direct_writes must be a bool")
    return CommonValues(
        requests_timeout=float(requests_timeout),
        logger=logger,
        on_error=on_error,
        max_message_size=max_message_size,
        strict=strict,
        health_check_interval=float(health_check_interval),
        max_client_queue=max_client_queue,
        direct_writes=direct_writes,
    )
