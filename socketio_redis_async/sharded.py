"""``AsyncShardedRedisAdapter``: Node's ``createShardedAdapter`` on Redis 7 sharded Pub/Sub.

Each namespace has a main channel ``prefix#nsp#`` and a response channel per server
``prefix#nsp#<uid>#``; in the dynamic modes each room has its own channel, subscribed while
the room has a member here. SPUBLISH sends a message only to the shard that owns its
channel, so a Redis Cluster scales with its masters instead of copying every message to
every node. Messages are Node's ClusterAdapter messages (:mod:`.cluster_protocol`); what
they ask for is done by the shared :class:`~.core.AdapterCore`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from . import cluster_protocol as cp
from . import protocol as p
from .cluster_core import ClusterAdapterCore
from .errors import ConnectionFailedError
from .options import check_common_options, redacted
from .parser import MSGPACK
from .sharded_transport import Address, ClusterNodes, ShardedPublisher, ShardedSubscriber
from .slow_clients import DEFAULT_MAX_CLIENT_QUEUE
from .transport import describe

__all__ = ["AsyncShardedRedisAdapter", "SubscriptionMode"]

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]
_MODES = ("static", "dynamic", "dynamic-private")
_SCHEMES = ("redis://", "rediss://")


@dataclass(frozen=True, kw_only=True)
class ShardedOptions:
    seeds: tuple[str, ...]  # node URLs
    client: aioredis.Redis | aioredis.RedisCluster | None
    channel_prefix: str
    subscription_mode: SubscriptionMode
    requests_timeout: float
    redis_options: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger | None = None
    on_error: Callable[[BaseException], object] | None = None
    max_message_size: int = 16 * 1024 * 1024
    strict: bool = False
    health_check_interval: float = 10.0
    max_client_queue: int = DEFAULT_MAX_CLIENT_QUEUE
    direct_writes: bool = True


def _seed_urls(url: object, startup_nodes: object) -> tuple[str, ...]:
    if url is not None and startup_nodes is not None:
        raise ValueError("pass either url or startup_nodes, not both")
    if startup_nodes is not None:
        if isinstance(startup_nodes, (str, bytes)) or not isinstance(startup_nodes, Sequence):
            raise TypeError("startup_nodes must be a list of (host, port) pairs")
        urls = []
        for node in startup_nodes:
            if (
                not isinstance(node, tuple)
                or len(node) != 2
                or not isinstance(node[0], str)
                or isinstance(node[1], bool)
                or not isinstance(node[1], int)
            ):
                raise TypeError("startup_nodes must be a list of (host, port) pairs")
            urls.append(f"redis://{node[0]}:{node[1]}")
        if not urls:
            raise ValueError("startup_nodes must not be empty")
        return tuple(urls)
    if url is None:
        return ("redis://localhost:6379",)
    items = [url] if isinstance(url, str) else url
    if not isinstance(items, (list, tuple)) or not items:
        raise TypeError("url must be a Redis URL, 'host:port', or a list of them")
    urls = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError("url must be a Redis URL, 'host:port', or a list of them")
        full = item if "://" in item else f"redis://{item}"
        parts = urlsplit(full)
        if not full.startswith(_SCHEMES) or not parts.hostname:
            raise ValueError(
                f"url must be redis:// or rediss:// with a host (a cluster node), "
                f"got {redacted(item)!r}"
            )
        try:
            parts.port  # noqa: B018 - urlsplit validates the port lazily
        except ValueError as exc:
            raise ValueError(f"url has an invalid port: {redacted(item)!r}") from exc
        urls.append(full)
    return tuple(urls)


def build_sharded_options(
    url: object,
    *,
    startup_nodes: object,
    client: object,
    channel_prefix: object,
    subscription_mode: object,
    requests_timeout: object,
    redis_options: object,
    logger: object,
    on_error: object,
    max_message_size: object,
    strict: object,
    health_check_interval: object,
    max_client_queue: object = DEFAULT_MAX_CLIENT_QUEUE,
    direct_writes: object = True,
) -> ShardedOptions:
    """Validate every option; raise ``TypeError``/``ValueError`` naming the culprit."""
    if client is not None:
        if not isinstance(client, (aioredis.Redis, aioredis.RedisCluster)):
            raise TypeError(
                "client must be a redis.asyncio.RedisCluster or redis.asyncio.Redis, "
                f"got {type(client).__name__}"
            )
        if url is not None or startup_nodes is not None or redis_options:
            raise ValueError(
                "client replaces url/startup_nodes/redis_options; pass one or the other"
            )
        seeds: tuple[str, ...] = ()
    else:
        seeds = _seed_urls(url, startup_nodes)
    if not isinstance(channel_prefix, str):
        raise TypeError(f"channel_prefix must be a string, got {type(channel_prefix).__name__}")
    if not channel_prefix:
        raise ValueError("channel_prefix must not be empty")
    if subscription_mode not in _MODES:
        raise ValueError(f"subscription_mode must be one of {', '.join(_MODES)}")
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
    return ShardedOptions(
        seeds=seeds,
        client=client,
        channel_prefix=channel_prefix,
        subscription_mode=subscription_mode,  # type: ignore[arg-type]
        requests_timeout=common.requests_timeout,
        redis_options=dict(redis_options or {}),
        logger=common.logger,
        on_error=common.on_error,
        max_message_size=common.max_message_size,
        strict=common.strict,
        health_check_interval=common.health_check_interval,
        max_client_queue=common.max_client_queue,
        direct_writes=common.direct_writes,
    )


def _url_for(seed: str, address: Address) -> str:
    """The seed URL (scheme, credentials, options) pointed at another node."""
    parts = urlsplit(seed)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@" if auth else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}{address[0]}:{address[1]}", path=""))


def _node_factory(options: ShardedOptions) -> Callable[[Address], aioredis.Redis]:
    """How to reach any node: the seed URL's scheme and credentials, or the caller's cluster
    client's connection settings."""
    client = options.client
    if isinstance(client, aioredis.RedisCluster):
        template: dict[str, Any] = dict(client.get_connection_kwargs())
        template.pop("response_callbacks", None)
        connection_class = template.pop("connection_class", Connection)

        def from_cluster(address: Address) -> aioredis.Redis:
            pool = ConnectionPool(
                connection_class=connection_class,
                **{**template, "host": address[0], "port": address[1]},
            )
            return aioredis.Redis(connection_pool=pool)

        return from_cluster
    defaults: dict[str, Any] = {"retry": Retry(NoBackoff(), retries=0), "protocol": 2}

    def from_url(address: Address) -> aioredis.Redis:
        url = _url_for(options.seeds[0], address)
        return aioredis.Redis.from_url(url, **{**defaults, **options.redis_options})

    return from_url


class AsyncShardedRedisAdapter(ClusterAdapterCore):
    """Client manager clustering python-socketio servers over Redis 7 sharded Pub/Sub,
    compatible with Node's ``createShardedAdapter`` (``@socket.io/redis-adapter`` 8.3).

    :param url: a cluster node's ``redis://``/``rediss://`` URL or ``"host:port"``, or a list
                of them (any reachable node is enough to find the others).
    :param startup_nodes: alternative to ``url``: ``[(host, port), ...]``.
    :param client: a caller-owned ``redis.asyncio.RedisCluster`` (its connection settings
                   are reused for the adapter's own per-node connections), or one
                   ``redis.asyncio.Redis`` of a single Redis 7 outside a cluster.
    :param channel_prefix: Node's ``channelPrefix``.
    :param subscription_mode: ``"dynamic"`` (default: one channel per public room, subscribed
                              while it has a member here), ``"dynamic-private"`` (sid rooms
                              too) or ``"static"`` (everything on the main channel). Every
                              server of the cluster must use the same mode.
    :param requests_timeout: seconds to wait for other servers' answers.
    :param redis_options: keyword arguments for the per-node clients the adapter creates.

    ``logger``, ``on_error``, ``max_message_size``, ``strict``, ``health_check_interval``,
    ``max_client_queue`` and ``direct_writes`` work as for
    :class:`~socketio_redis_async.AsyncRedisAdapter`.

    Example::

        mgr = AsyncShardedRedisAdapter("redis://10.0.0.1:7000", subscription_mode="dynamic")
        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    """

    def __init__(
        self,
        url: str | Sequence[str] | None = None,
        *,
        startup_nodes: Sequence[tuple[str, int]] | None = None,
        client: aioredis.RedisCluster | aioredis.Redis | None = None,
        channel_prefix: str = "socket.io",
        subscription_mode: SubscriptionMode = "dynamic",
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
        options = build_sharded_options(
            url,
            startup_nodes=startup_nodes,
            client=client,
            channel_prefix=channel_prefix,
            subscription_mode=subscription_mode,
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
        self._sharded_options = options
        self._mode = options.subscription_mode
        fixed = options.client if isinstance(options.client, aioredis.Redis) else None
        seeds = [_address(url) for url in options.seeds]
        self._nodes = ClusterNodes(seeds, _node_factory(options), fixed=fixed)
        self._subscriber = ShardedSubscriber(
            self._nodes,
            self._on_shard_message,
            logger=self.logger,
            on_error=self._report_error,
            counters=self._counters,
            health_check_interval=options.health_check_interval,
        )
        self._publisher = ShardedPublisher(
            self._nodes, logger=self.logger, on_error=self._report_error, counters=self._counters
        )
        self._routes: dict[bytes, str] = {}

    # --- public, read-only ----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The channel prefix (Node's ``channelPrefix``)."""
        return self._sharded_options.channel_prefix

    @property
    def subscription_mode(self) -> SubscriptionMode:
        return self._mode

    @property
    def connected(self) -> bool:
        """Whether every wanted channel is subscribed on the node that owns it."""
        return self._subscriber.connected

    @property
    def channels(self) -> frozenset[bytes]:
        """The sharded channels this server wants subscribed (main, response, rooms)."""
        return self._subscriber.wanted

    # --- the transport: connection and subscriptions --------------------------------------

    async def _connect_transport(self) -> None:
        if isinstance(self._sharded_options.client, aioredis.RedisCluster):
            await self._adopt_cluster_client(self._sharded_options.client)
        try:
            await self._nodes.refresh()
        except AuthenticationError as exc:
            raise ConnectionFailedError(
                f"Redis authentication failed at {self._describe_seeds()}: "
                "check the user and password"
            ) from exc
        except (RedisError, OSError, ConnectionError) as exc:
            raise ConnectionFailedError(
                f"cannot reach the Redis cluster at {self._describe_seeds()}: {describe(exc)}"
            ) from exc

    async def _adopt_cluster_client(self, client: aioredis.RedisCluster) -> None:
        """A caller's cluster client: its known nodes become our seeds."""
        try:
            await client.initialize()
        except (RedisError, OSError) as exc:
            raise ConnectionFailedError(f"the cluster client cannot connect: {exc}") from exc
        self._nodes.add_seeds((node.host, int(node.port)) for node in client.get_nodes())

    def _describe_seeds(self) -> str:
        return ", ".join(redacted(url) for url in self._sharded_options.seeds) or "the client"

    async def _close_transport(self) -> None:
        await self._subscriber.aclose()
        await self._publisher.aclose()
        await self._nodes.aclose(close_fixed=False)

    async def flush(self) -> None:
        """Wait until every message published so far has reached Redis."""
        await self._publisher.flush()

    def _room_has_channel(self, is_sid: bool) -> bool:
        return self._mode == "dynamic-private" or (self._mode == "dynamic" and not is_sid)

    async def _subscribe_namespace(self, namespace: str) -> None:
        ch = self._channels_of(namespace)
        wanted = [ch.main, ch.response(self._uid)]
        sids = self.rooms.get(namespace, {}).get(None, {})
        for room in self.rooms.get(namespace, {}):
            if room is not None and self._room_has_channel(room in sids):
                wanted.append(ch.room(room))
        for channel in wanted:
            self._routes[channel] = namespace
        try:
            await self._subscriber.subscribe(wanted)
        except ResponseError as exc:
            raise ConnectionFailedError(
                f"Redis refused the adapter's sharded subscriptions ({describe(exc)}): an ACL "
                f"user needs the channels {self.prefix}#<nsp>#*"
            ) from exc
        self.logger.info(
            "Subscribed to namespace %s under prefix %s (%s mode)",
            namespace,
            self.prefix,
            self._mode,
        )

    async def _unsubscribe_namespace(self, namespace: str) -> None:
        channels = [ch for ch, nsp in self._routes.items() if nsp == namespace]
        for channel in channels:
            del self._routes[channel]
        self._channels.pop(namespace, None)
        self._subscriber.unsubscribe(channels)

    def _room_created(self, namespace: str, room: p.Room, is_sid: bool) -> None:
        if namespace in self._subscribed and self._room_has_channel(is_sid):
            channel = self._channels_of(namespace).room(room)
            self._routes[channel] = namespace
            self._subscriber.want([channel])

    def _room_deleted(self, namespace: str, room: p.Room) -> None:
        channel = self._channels_of(namespace).room(room)
        if self._routes.pop(channel, None) is not None:
            self._subscriber.unsubscribe([channel])

    async def _count_subscribers(self, namespace: str) -> int:
        main = self._channels_of(namespace).main
        address = self._nodes.owner(main)
        if address is None:
            await self._nodes.refresh()
            address = self._nodes.owner(main)
        if address is None:
            return 0
        reply = await self._nodes.client(address).execute_command(  # type: ignore[no-untyped-call]
            "PUBSUB", "SHARDNUMSUB", main
        )
        if isinstance(reply, dict):
            return int(next(iter(reply.values()), 0))
        return int(reply[1]) if len(reply) > 1 else 0

    # --- the transport: publishing --------------------------------------------------------

    async def _send(self, namespace: str, body: cp.ClusterBody, *, from_app: bool = True) -> None:
        channel = self._channels_of(namespace).channel_for(body, self._mode)
        await self._send_to(channel, namespace, body, from_app=from_app)

    async def _send_to(
        self, channel: bytes, namespace: str, body: cp.ClusterBody, *, from_app: bool = True
    ) -> None:
        payload = cp.encode_sharded(body, self._uid, namespace)
        self._check_outgoing(payload)
        await self._publisher.publish(channel, payload, wait=from_app and self._options.strict)

    async def _publish_response(
        self,
        namespace: str,
        requester: str | None,
        response: p.AnyResponse,
        *,
        shared: bool = False,
    ) -> None:
        """Always to the requester's own channel (the ClusterAdapter has no shared one)."""
        if not requester:
            return  # an emitter's order: nobody to answer
        channel = self._channels_of(namespace).response(requester)
        await self._send_to(channel, namespace, response, from_app=False)

    # --- the transport: receiving ---------------------------------------------------------

    async def _on_shard_message(self, channel: bytes, payload: bytes) -> None:
        namespace = self._routes.get(channel)
        if namespace is None:
            return  # a channel just unsubscribed
        await self._handle_incoming(
            channel, payload, lambda: self._on_cluster_message(namespace, payload)
        )

    async def _on_cluster_message(self, namespace: str, payload: bytes) -> None:
        message = cp.decode_sharded(payload)
        if message.uid == self._uid or message.nsp != namespace or message.body is None:
            return
        body = message.body
        if isinstance(body, p.Broadcast):
            if namespace in self.rooms:
                binary = payload[:1] != b"{"
                await self._deliver_broadcast(
                    namespace,
                    body.data,
                    body.target,
                    js_rendering=binary and MSGPACK.needs_js_rendering(payload),
                )
        elif isinstance(
            body, (p.ValueResponse, p.ServerSideEmitResponse, p.ClientCountResponse, p.AckResponse)
        ):
            await self._on_response(namespace, body)
        else:
            await self._on_request(namespace, body)


def _address(url: str) -> Address:
    parts = urlsplit(url)
    return (parts.hostname or "localhost", parts.port or 6379)
