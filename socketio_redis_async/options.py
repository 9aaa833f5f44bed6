"""Constructor options of the adapter, validated once, with errors that name the option."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

from .parser import JSON, MSGPACK, Parser

__all__ = ["DEFAULT_URL", "AdapterOptions", "parse_url_argument", "resolve_parser"]

DEFAULT_URL = "redis://localhost:6379/0"
_URL_SCHEMES = ("redis://", "rediss://", "unix://")


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


def parse_url_argument(url: str) -> str:
    """Accept a Redis URL or the seed's ``"host:port"`` form; return a URL."""
    if "://" in url:
        if not url.startswith(_URL_SCHEMES):
            raise ValueError(f"url must start with one of {', '.join(_URL_SCHEMES)}: {url!r}")
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
    if isinstance(requests_timeout, bool) or not isinstance(requests_timeout, (int, float)):
        raise TypeError("requests_timeout must be a number of seconds")
    if not 0 < requests_timeout < float("inf"):
        raise ValueError(f"requests_timeout must be positive and finite, got {requests_timeout}")
    if not isinstance(publish_on_specific_response_channel, bool):
        raise TypeError("publish_on_specific_response_channel must be a bool")
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
    if pub is None:
        if host is not None or port is not None:
            url = f"redis://{host or 'localhost'}:{port or 6379}/0"
        url = parse_url_argument(url) if isinstance(url, str) else DEFAULT_URL
    return AdapterOptions(
        url=url if pub is None else None,
        pub_client=pub,
        sub_client=sub,
        key=key,
        requests_timeout=float(requests_timeout),
        publish_on_specific_response_channel=publish_on_specific_response_channel,
        parser=resolve_parser(parser),
        redis_options=options,
        logger=logger,
        on_error=on_error,
        max_message_size=max_message_size,
        strict=strict,
        health_check_interval=float(health_check_interval),
    )


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


def create_clients(options: AdapterOptions) -> tuple[aioredis.Redis, aioredis.Redis]:
    """The adapter's own clients, with retry policies that suit each role.

    The subscriber does not retry inside redis-py: the reader owns reconnection, so every
    outage is seen, logged once and counted; it speaks RESP2. The publishing client's other
    commands (PING, PUBSUB NUMSUB) retry briefly, then report: nothing may hang on an outage.
    ``redis_options`` may override both.
    """
    assert options.url is not None
    pub_defaults: dict[str, Any] = {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), retries=2),
    }
    # RESP2 for the subscriber: messages arrive as plain arrays, about 15% cheaper to read
    # than RESP3 push frames (measured), and it is what Node's adapter speaks.
    sub_defaults: dict[str, Any] = {"retry": Retry(NoBackoff(), retries=0), "protocol": 2}
    pub = aioredis.Redis.from_url(options.url, **{**pub_defaults, **options.redis_options})
    sub = aioredis.Redis.from_url(options.url, **{**sub_defaults, **options.redis_options})
    return pub, sub


def check_common_options(
    *,
    requests_timeout: object,
    logger: object,
    on_error: object,
    max_message_size: object,
    strict: object,
    health_check_interval: object,
) -> None:
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
