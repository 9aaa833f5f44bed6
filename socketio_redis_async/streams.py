"""``AsyncRedisStreamsAdapter``: Node's ``@socket.io/redis-streams-adapter`` 0.3.

Messages that must not be lost (plain broadcasts, sockets join/leave, disconnect) are
appended to a Redis stream and read by every server with XREAD, which resumes after the
last entry read when a connection comes back: an outage shorter than the stream's length
loses nothing. Requests that wait for answers (broadcast with ack, server-side emit, fetch)
are PUBLISHed to ``prefix#nsp#`` and answers to ``prefix#nsp#<uid>#``, as msgpack of the
whole ClusterAdapter message (:mod:`.cluster_protocol`). What the messages ask for is done
by the shared :class:`~.core.AdapterCore`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from . import cluster_protocol as cp
from . import protocol as p
from .cluster_core import ClusterAdapterCore
from .errors import ConnectionFailedError
from .options import check_common_options, parse_url_argument, redacted
from .slow_clients import DEFAULT_MAX_CLIENT_QUEUE
from .stream_io import StreamReader, StreamWriter
from .transport import Publisher, Subscriber, describe

__all__ = ["AsyncRedisStreamsAdapter"]

_DEFAULT_URL = "redis://localhost:6379/0"


@dataclass(frozen=True, kw_only=True)
class StreamsOptions:
    url: str | None
    client: aioredis.Redis | None
    stream_name: str
    max_len: int
    read_count: int
    block_time: float
    channel_prefix: str
    max_queue: int
    requests_timeout: float
    redis_options: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger | None = None
    on_error: Callable[[BaseException], object] | None = None
    max_message_size: int = 16 * 1024 * 1024
    strict: bool = False
    health_check_interval: float = 10.0
    max_client_queue: int = DEFAULT_MAX_CLIENT_QUEUE
    direct_writes: bool = True


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _non_empty_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def build_streams_options(
    url: object,
    *,
    host: object,
    port: object,
    client: object,
    stream_name: object,
    max_len: object,
    read_count: object,
    block_time: object,
    channel_prefix: object,
    max_queue: object,
    requests_timeout: object,
    redis_options: object,
    logger: object,
    on_error: object,
    max_message_size: object,
    strict: object,
    health_check_interval: object,
    max_client_queue: object = DEFAULT_MAX_CLIENT_QUEUE,
    direct_writes: object = True,
) -> StreamsOptions:
    """Validate every option; raise ``TypeError``/``ValueError`` naming the culprit."""
    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a string, got {type(host).__name__}")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
    ):
        raise ValueError(f"port must be an int between 1 and 65535, got {port!r}")
    if url is not None and (host is not None or port is not None):
        raise ValueError("pass either url or host/port, not both")
    if client is not None:
        if not isinstance(client, aioredis.Redis):
            raise TypeError(f"client must be a redis.asyncio.Redis, got {type(client).__name__}")
        if url is not None or host is not None or port is not None or redis_options:
            raise ValueError("client replaces url/host/port/redis_options; pass one or the other")
        resolved: str | None = None
    elif host is not None or port is not None:
        resolved = f"redis://{host or 'localhost'}:{port or 6379}/0"
    else:
        resolved = parse_url_argument(url) if isinstance(url, str) else _DEFAULT_URL
    if isinstance(block_time, bool) or not isinstance(block_time, (int, float)):
        raise TypeError("block_time must be a number of seconds")
    if not 0 < block_time < 3600:
        raise ValueError(f"block_time must be between 0 and 3600 seconds, got {block_time}")
    if redis_options is not None and not isinstance(redis_options, dict):
        raise TypeError("redis_options must be a dict of redis.asyncio.Redis keyword arguments")
    if (redis_options or {}).get("decode_responses"):
        raise ValueError("redis_options: decode_responses must stay False (payloads are bytes)")
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
    return StreamsOptions(
        url=resolved,
        client=client,
        stream_name=_non_empty_str("stream_name", stream_name),
        max_len=_positive_int("max_len", max_len),
        read_count=_positive_int("read_count", read_count),
        block_time=float(block_time),
        channel_prefix=_non_empty_str("channel_prefix", channel_prefix),
        max_queue=_positive_int("max_queue", max_queue),
        requests_timeout=float(requests_timeout),  # type: ignore[arg-type]
        redis_options=dict(redis_options or {}),
        logger=logger,  # type: ignore[arg-type]
        on_error=on_error,  # type: ignore[arg-type]
        max_message_size=max_message_size,  # type: ignore[arg-type]
        strict=strict,  # type: ignore[arg-type]
        health_check_interval=float(health_check_interval),  # type: ignore[arg-type]
        max_client_queue=common.max_client_queue,
        direct_writes=common.direct_writes,
    )


class AsyncRedisStreamsAdapter(ClusterAdapterCore):
    """Client manager clustering python-socketio servers over a Redis stream, compatible
    with Node's ``@socket.io/redis-streams-adapter`` 0.3 (one stream, ``streamCount=1``).

    :param url: ``redis://``/``rediss://``/``unix://`` URL or ``"host:port"``.
    :param host: alternative to ``url``, with ``port``.
    :param port: alternative to ``url``, with ``host``.
    :param client: a caller-owned ``redis.asyncio.Redis`` (``decode_responses`` off); the
                   adapter takes its connections from its pool and never closes it.
    :param stream_name: Node's ``streamName``.
    :param max_len: Node's ``maxLen``: ``XADD ... MAXLEN ~ max_len``. A server that falls
                    further behind than this loses entries (counted in
                    ``stats()["stream_entries_lost"]``).
    :param read_count: Node's ``readCount`` (entries per XREAD).
    :param block_time: seconds each XREAD blocks (Node's ``blockTimeInMs`` / 1000).
    :param channel_prefix: Node's ``channelPrefix`` (Pub/Sub of requests and responses).
    :param max_queue: stream entries kept while Redis is unreachable; beyond it new ones
                      are dropped and counted (``publish_failures``).

    ``requests_timeout``, ``redis_options``, ``logger``, ``on_error``, ``max_message_size``,
    ``strict``, ``health_check_interval``, ``max_client_queue`` and ``direct_writes`` work as for
    :class:`~socketio_redis_async.AsyncRedisAdapter`. In strict mode an emit waits until its
    entry is in the stream and raises :class:`PublishError` during an outage instead of
    queueing.

    Example::

        mgr = AsyncRedisStreamsAdapter("redis://localhost:6379/0")
        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        client: aioredis.Redis | None = None,
        stream_name: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        block_time: float = 5.0,
        channel_prefix: str = "socket.io",
        max_queue: int = 10_000,
        requests_timeout: float = 5.0,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        max_message_size: int = 16 * 1024 * 1024,
        strict: bool = False,
        health_check_interval: float = 10.0,
        max_client_queue: int | None = DEFAULT_MAX_CLIENT_QUEUE,
        direct_writes: bool = True,
    ) -> None:
        options = build_streams_options(
            url,
            host=host,
            port=port,
            client=client,
            stream_name=stream_name,
            max_len=max_len,
            read_count=read_count,
            block_time=block_time,
            channel_prefix=channel_prefix,
            max_queue=max_queue,
            requests_timeout=requests_timeout,
            redis_options=redis_options,
            logger=logger,
            on_error=on_error,
            max_message_size=max_message_size,
            strict=strict,
            health_check_interval=health_check_interval,
            max_client_queue=max_client_queue,
            direct_writes=direct_writes,
        )
        super().__init__(options)
        self._streams_options = options
        self._owns_client = options.client is None
        if options.client is not None:
            self._client = options.client
        else:
            assert options.url is not None
            defaults: dict[str, Any] = {"retry": Retry(NoBackoff(), retries=0), "protocol": 2}
            self._client = aioredis.Redis.from_url(
                options.url, **{**defaults, **options.redis_options}
            )
        self._stream = cp.stream_name("/", options.stream_name, 1).encode()
        common: dict[str, Any] = {
            "logger": self.logger,
            "on_error": self._report_error,
            "counters": self._counters,
        }
        self._reader = StreamReader(
            self._client,
            self._stream,
            self._on_entry,
            read_count=options.read_count,
            block_time=options.block_time,
            **common,
        )
        self._writer = StreamWriter(
            self._client,
            self._stream,
            self._uid.encode(),
            max_len=options.max_len,
            max_queue=options.max_queue,
            **common,
        )
        self._publisher = Publisher(self._client, **common)
        self._subscriber = Subscriber(
            self._client,
            self._on_pubsub_message,
            health_check_interval=options.health_check_interval,
            **common,
        )
        self._routes: dict[bytes, str] = {}

    # --- public, read-only ----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The Pub/Sub channel prefix (Node's ``channelPrefix``)."""
        return self._streams_options.channel_prefix

    @property
    def stream(self) -> str:
        """The stream key read and written."""
        return self._stream.decode()

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @property
    def connected(self) -> bool:
        """Whether the stream reader and the Pub/Sub subscriber are both connected."""
        return self._reader.connected and self._subscriber.connected

    # --- the transport: connection and subscriptions --------------------------------------

    async def _connect_transport(self) -> None:
        """Find the stream's end (reading starts after it) and start reading."""
        where = self._describe_server()
        try:
            position = await self._reader.start()
        except AuthenticationError as exc:
            raise ConnectionFailedError(
                f"Redis authentication failed at {where}: check the user and password"
            ) from exc
        except ResponseError as exc:
            raise ConnectionFailedError(
                f"Redis refused the adapter at {where} ({describe(exc)}): an ACL user needs "
                f"XINFO, XREAD, XRANGE and XADD on {self.stream!r}"
            ) from exc
        except (RedisError, OSError) as exc:
            raise ConnectionFailedError(
                f"cannot connect to Redis at {where}: {describe(exc)}"
            ) from exc
        self._writer.start(position)

    def _describe_server(self) -> str:
        if self._streams_options.url is not None:
            return redacted(self._streams_options.url)
        kwargs = self._client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

    async def _close_transport(self) -> None:
        await self._writer.aclose()
        await self._reader.aclose()
        await self._subscriber.aclose()
        await self._publisher.aclose()
        if self._owns_client:
            await self._client.aclose()

    async def flush(self) -> None:
        """Wait until every message published so far has reached Redis."""
        await self._writer.flush()
        await self._publisher.flush()

    async def _subscribe_namespace(self, namespace: str) -> None:
        ch = self._channels_of(namespace)
        wanted = [ch.main, ch.response(self._uid)]
        for channel in wanted:
            self._routes[channel] = namespace
        try:
            await self._subscriber.subscribe(channels=wanted)
        except ResponseError as exc:
            raise ConnectionFailedError(
                f"Redis refused the adapter's subscriptions ({describe(exc)}): an ACL user "
                f"needs the channels {self.prefix}#<nsp>#*"
            ) from exc
        self.logger.info(
            "Subscribed to namespace %s (stream %s, prefix %s)", namespace, self.stream, self.prefix
        )

    async def _unsubscribe_namespace(self, namespace: str) -> None:
        channels = [ch for ch, nsp in self._routes.items() if nsp == namespace]
        for channel in channels:
            del self._routes[channel]
        self._channels.pop(namespace, None)
        await self._subscriber.unsubscribe(channels=channels)

    async def _count_subscribers(self, namespace: str) -> int:
        reply = await self._client.pubsub_numsub(self._channels_of(namespace).main)
        return int(reply[0][1]) if reply else 0

    # --- the transport: publishing --------------------------------------------------------

    async def _send(self, namespace: str, body: cp.ClusterBody) -> None:
        """Ephemeral requests by Pub/Sub, everything else into the stream."""
        wait = self._options.strict
        if cp.is_ephemeral(body):
            payload = cp.encode_streams_pubsub(body, self._uid, namespace)
            self._check_outgoing(payload)
            await self._publisher.publish(self._channels_of(namespace).main, payload, wait=wait)
            return
        fields = cp.encode_stream_fields(body, self._uid, namespace)
        self._check_outgoing(fields[-1][1])
        await self._writer.add(fields, wait=wait)

    async def _publish_response(
        self,
        namespace: str,
        requester: str | None,
        response: p.AnyResponse,
        *,
        shared: bool = False,
    ) -> None:
        """To the requester's private channel; the reader never waits for Redis here."""
        if not requester:
            return
        payload = cp.encode_streams_pubsub(response, self._uid, namespace)
        self._check_outgoing(payload)
        await self._publisher.publish(self._channels_of(namespace).response(requester), payload)

    # --- the transport: receiving ---------------------------------------------------------

    async def _on_entry(self, entry_id: bytes, fields: list[Any]) -> None:
        """One stream entry: others' entries of namespaces we serve are decoded and acted on."""
        uid = nsp = data = None
        for i in range(0, len(fields) - 1, 2):
            name = fields[i]
            if name == b"uid":
                uid = fields[i + 1]
            elif name == b"nsp":
                nsp = fields[i + 1]
            elif name == b"data":
                data = fields[i + 1]
        if uid == self._uid.encode() or not isinstance(nsp, bytes):
            return
        namespace = nsp.decode(errors="replace")
        if namespace not in self._subscribed:
            return
        payload = data if isinstance(data, bytes) else b""

        async def handle() -> None:
            pairs = list(zip(fields[::2], fields[1::2], strict=False))
            await self._on_cluster_message(namespace, cp.decode_stream_fields(pairs), payload)

        await self._handle_incoming(self._stream, payload, handle)

    async def _on_pubsub_message(
        self, channel: bytes, payload: bytes, pattern: bytes | None
    ) -> None:
        namespace = self._routes.get(channel)
        if namespace is None:
            return
        await self._handle_incoming(
            channel,
            payload,
            lambda: self._on_cluster_message(namespace, cp.decode_streams_pubsub(payload), b"\x00"),
        )

    async def _on_cluster_message(
        self, namespace: str, message: cp.ClusterMessage, raw_data: bytes
    ) -> None:
        """``raw_data``: the JSON/base64 data field of an entry (``{`` = JSON), or a non-JSON
        marker for Pub/Sub messages, which are always msgpack."""
        if message.uid == self._uid or message.nsp != namespace or message.body is None:
            return
        body = message.body
        if isinstance(body, p.Broadcast):
            if namespace in self.rooms:
                await self._deliver_broadcast(
                    namespace, body.data, body.target, js_rendering=raw_data[:1] != b"{"
                )
        elif isinstance(
            body, (p.ValueResponse, p.ServerSideEmitResponse, p.ClientCountResponse, p.AckResponse)
        ):
            await self._on_response(namespace, body)
        else:
            await self._on_request(namespace, body)
