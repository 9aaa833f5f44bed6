"""``AsyncRedisAdapter``: the classic Pub/Sub transport of Node's ``@socket.io/redis-adapter``.

The operations live in :class:`~.core.AdapterCore`; this module decides how they travel:
broadcasts on ``key#nsp#[room#]`` (one PSUBSCRIBE per namespace), requests and responses on
``key-request#nsp#`` and ``key-response#nsp#[uid#]``, all on one subscriber connection and
one batching publisher (:mod:`.transport`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    RedisError,
    ResponseError,
)

from . import protocol as p
from .core import AdapterCore
from .errors import ConnectionFailedError, ProtocolError
from .options import build_options, create_clients, redacted
from .parser import MsgpackParser
from .slow_clients import DEFAULT_MAX_CLIENT_QUEUE
from .transport import Publisher, Subscriber, describe

__all__ = ["AsyncRedisAdapter"]


class AsyncRedisAdapter(AdapterCore):
    """Client manager that joins python-socketio servers, and Node ones, through Redis.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL, or the ``"host:port"`` form.
                Defaults to ``redis://localhost:6379/0``. A Sentinel deployment is named by
                ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``
                (``sentinel://`` too; the credentials and db are the master's).
    :param host: alternative to ``url``.
    :param port: alternative to ``url``.
    :param key: channel prefix shared with the other servers (Node's ``key``).
    :param pub_client: a ``redis.asyncio.Redis`` to publish with; the caller owns and closes it.
    :param sub_client: a ``redis.asyncio.Redis`` to subscribe with (``decode_responses`` off);
                       defaults to ``pub_client``, whose pool then gives the subscriber its
                       own connection.
    :param requests_timeout: seconds to wait for other servers' answers.
    :param publish_on_specific_response_channel: answer on the requester's own channel.
    :param parser: ``"msgpack"`` (default, notepack-compatible), ``"json"`` or an object with
                   ``encode``/``decode``; every server of the cluster must use the same.
    :param redis_options: keyword arguments for the Redis clients the adapter creates (on a
                          Sentinel deployment: for the connections to the master).
    :param sentinels: ``[(host, port), ...]`` of a Redis Sentinel deployment, instead of
                      ``url``: the adapter's clients connect to the master the Sentinels name
                      and follow it across failovers.
    :param service_name: the master's name in the Sentinels' configuration (with ``sentinels``).
    :param sentinel_options: keyword arguments for the connections to the Sentinels themselves
                             (``password``, ``username``, ``ssl``...).
    :param logger: where the adapter logs; defaults to ``socketio_redis_async``.
    :param on_error: called with every Redis error (after it is logged).
    :param max_message_size: bytes; larger messages from Redis are dropped unread, and
                             larger outgoing ones raise ``ValueError``.
    :param strict: make ``emit`` wait for Redis and raise :class:`PublishError` when a
                   publish fails; by default a failure is logged, counted and passed to
                   ``on_error``, and local clients are served regardless.
    :param health_check_interval: seconds of silence after which the subscriber connection
                                  is PINGed, and replaced if Redis does not answer; 0 = off.
    :param max_client_queue: packets python-engineio may hold for one client; a client
                             whose queue is over it (it stopped reading) gets no more and
                             is disconnected, counted in ``stats()["slow_clients_disconnected"]``.
                             0 or ``None`` disables the bound (see :mod:`.slow_clients`).
    :param direct_writes: write each broadcast's websocket frame once, straight to every
                          idle websocket connection (Uvicorn with wsproto, aiohttp), instead
                          of through python-engineio's queue and writer task per client;
                          the others keep python-engineio's path (see :mod:`.direct_writes`).

    Example::

        mgr = AsyncRedisAdapter("redis://localhost:6379/0", key="myapp")
        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
        app = socketio.ASGIApp(sio, on_startup=mgr.start, on_shutdown=mgr.aclose)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        key: str = "socket.io",
        pub_client: aioredis.Redis | None = None,
        sub_client: aioredis.Redis | None = None,
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        parser: Any = None,
        redis_options: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        max_message_size: int = 16 * 1024 * 1024,
        strict: bool = False,
        health_check_interval: float = 10.0,
        sentinels: Sequence[tuple[str, int]] | None = None,
        service_name: str | None = None,
        sentinel_options: dict[str, Any] | None = None,
        max_client_queue: int | None = DEFAULT_MAX_CLIENT_QUEUE,
        direct_writes: bool = True,
    ) -> None:
        options = build_options(
            url,
            host=host,
            port=port,
            key=key,
            pub_client=pub_client,
            sub_client=sub_client,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
            parser=parser,
            redis_options=redis_options,
            logger=logger,
            on_error=on_error,
            max_message_size=max_message_size,
            strict=strict,
            health_check_interval=health_check_interval,
            sentinels=sentinels,
            service_name=service_name,
            sentinel_options=sentinel_options,
            max_client_queue=max_client_queue,
            direct_writes=direct_writes,
        )
        super().__init__(options, p.new_uid())
        self._parser = options.parser
        # A cheap byte scan a parser may offer; a custom parser gets the safe answer.
        self._needs_js_rendering: Callable[[bytes], bool] = getattr(
            self._parser, "needs_js_rendering", lambda payload: True
        )
        # How our own broadcasts start in msgpack: [ (array of 3), then the 6-char uid.
        self._own_prefix = (
            b"\x93\xa6" + self._uid.encode() if isinstance(self._parser, MsgpackParser) else b""
        )
        self._owns_clients = options.pub_client is None
        if options.pub_client is None:
            pub, sub = create_clients(options)
        else:
            pub, sub = options.pub_client, options.sub_client or options.pub_client
        self._pub: aioredis.Redis = pub
        self._sub: aioredis.Redis = sub
        self._publisher = Publisher(
            pub, logger=self.logger, on_error=self._report_error, counters=self._counters
        )
        self._subscriber = Subscriber(
            sub,
            self._route,
            logger=self.logger,
            on_error=self._report_error,
            counters=self._counters,
            health_check_interval=options.health_check_interval,
        )
        self._classic_options = options
        self._channels: dict[str, p.Channels] = {}
        # pattern -> (namespace, length of its broadcast channel prefix); channel -> handler
        self._broadcast_routes: dict[bytes, tuple[str, int]] = {}
        self._routes: dict[bytes, tuple[str, Callable[[str, bytes, bytes], Any]]] = {}

    # --- public, read-only ----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The channel prefix (Node's ``key``)."""
        return self._classic_options.key

    @property
    def pub_client(self) -> aioredis.Redis:
        return self._pub

    @property
    def sub_client(self) -> aioredis.Redis:
        return self._sub

    @property
    def connected(self) -> bool:
        """Whether the subscriber connection is up with all its subscriptions in place."""
        return self._subscriber.connected

    # --- the transport: connection and subscriptions --------------------------------------

    async def _connect_transport(self) -> None:
        """Fail fast, and clearly, when Redis refuses us or cannot be reached at start-up."""
        where = self._describe_server()
        try:
            await self._pub.ping()
        except AuthenticationError as exc:
            raise ConnectionFailedError(
                f"Redis authentication failed at {where}: check the user and password"
            ) from exc
        except (NoPermissionError, ResponseError) as exc:
            raise ConnectionFailedError(f"Redis refused the adapter at {where}: {exc}") from exc
        except (RedisError, OSError) as exc:
            raise ConnectionFailedError(f"cannot connect to Redis at {where}: {exc}") from exc

    def _describe_server(self) -> str:
        if self._classic_options.url is not None:
            return redacted(self._classic_options.url)
        kwargs = self._pub.connection_pool.connection_kwargs
        return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

    async def _close_transport(self) -> None:
        await self._subscriber.aclose()
        await self._publisher.aclose()
        if self._owns_clients:
            await self._pub.aclose()
            await self._sub.aclose()

    async def flush(self) -> None:
        """Wait until every message published so far has reached Redis."""
        await self._publisher.flush()

    def _channels_of(self, namespace: str) -> p.Channels:
        channels = self._channels.get(namespace)
        if channels is None:
            channels = self._channels[namespace] = p.Channels(self.prefix, namespace)
        return channels

    async def _subscribe_namespace(self, namespace: str) -> None:
        ch = self._channels_of(namespace)
        specific = ch.specific_response(self._uid)
        self._broadcast_routes[ch.pattern] = (namespace, len(ch.broadcast))
        self._routes[ch.request] = (namespace, self._on_request_payload)
        self._routes[ch.response] = (namespace, self._on_response_payload)
        self._routes[specific] = (namespace, self._on_response_payload)
        try:
            await self._subscriber.subscribe(
                patterns=[ch.pattern], channels=[ch.request, ch.response, specific]
            )
        except ResponseError as exc:
            raise ConnectionFailedError(
                f"Redis refused the adapter's subscriptions at {self._describe_server()} "
                f"({describe(exc)}): an ACL user needs the channels "
                f"{self.prefix}#<nsp>#*, {self.prefix}-request#<nsp># and "
                f"{self.prefix}-response#<nsp>#* (pattern rules are matched literally)"
            ) from exc
        self.logger.info("Subscribed to namespace %s under key %s", namespace, self.prefix)

    async def _unsubscribe_namespace(self, namespace: str) -> None:
        ch = self._channels.pop(namespace, None) or p.Channels(self.prefix, namespace)
        specific = ch.specific_response(self._uid)
        self._broadcast_routes.pop(ch.pattern, None)
        for name in (ch.request, ch.response, specific):
            self._routes.pop(name, None)
        await self._subscriber.unsubscribe(
            patterns=[ch.pattern], channels=[ch.request, ch.response, specific]
        )

    async def _count_subscribers(self, namespace: str) -> int:
        reply = await self._pub.pubsub_numsub(self._channels_of(namespace).request)
        return int(reply[0][1]) if reply else 0

    # --- the transport: publishing --------------------------------------------------------

    async def _publish(self, channel: bytes, payload: bytes, *, from_app: bool = True) -> None:
        """Queue a message for Redis. Calls made by app code wait for Redis in strict mode;
        answers the reader sends never do (they would stall every other message)."""
        self._check_outgoing(payload)
        await self._publisher.publish(channel, payload, wait=from_app and self._options.strict)

    async def _publish_broadcast(self, namespace: str, data: list[Any], target: p.Target) -> None:
        payload = p.encode_broadcast(self._parser, self._uid, namespace, data, target)
        self._check_outgoing(payload)  # _publish, minus a coroutine on every emit
        channels = self._channels.get(namespace) or self._channels_of(namespace)
        await self._publisher.publish(
            channels.for_target(target.rooms), payload, wait=self._options.strict
        )

    async def _publish_request(self, namespace: str, request: p.AnyRequest) -> None:
        payload = p.encode_request(self._parser, request, namespace)
        await self._publish(self._channels_of(namespace).request, payload)

    async def _publish_response(
        self,
        namespace: str,
        requester: str | None,
        response: p.AnyResponse,
        *,
        shared: bool = False,
    ) -> None:
        """To the requester's own channel if so configured (and it has a uid), else shared."""
        channels = self._channels_of(namespace)
        channel = channels.response
        if requester and not shared and self._classic_options.publish_on_specific_response_channel:
            channel = channels.specific_response(requester)
        await self._publish(channel, p.encode_response(self._parser, response), from_app=False)

    # --- the transport: receiving ---------------------------------------------------------

    def _route(
        self, channel: bytes, payload: bytes, pattern: bytes | None
    ) -> Awaitable[None] | None:
        """What the subscriber runs for one message, or None for one dropped on sight.

        A broadcast for a room this server lacks, or this server's own echoed back by the
        pattern subscription, costs no coroutine at all: on an emitting server that is every
        message the subscriber reads.
        """
        if pattern is None:
            route = self._routes.get(channel)
            if route is None:
                return None
            namespace, handler = route
            return self._handle_incoming(
                channel, payload, lambda: handler(namespace, channel, payload)
            )
        broadcast_route = self._broadcast_routes.get(pattern)
        if broadcast_route is None:
            return None  # a namespace just unsubscribed
        namespace, prefix_length = broadcast_route
        if len(payload) > self._options.max_message_size:
            self._dropped_oversized(channel, payload)
            return None
        room_name = channel[prefix_length:-1]
        if room_name and not self._has_room(namespace, room_name):
            self._counters.dropped_unknown_room += 1
            return None  # a room this server lacks: dropped before decoding
        if self.server is None or namespace not in self.rooms:
            return None
        if self._own_prefix and payload.startswith(self._own_prefix):
            return None  # our own publication, echoed by the pattern subscription
        return self._on_broadcast(namespace, channel, payload)

    async def _on_redis_message(
        self, channel: bytes, payload: bytes, pattern: bytes | None
    ) -> None:
        """Handle one message as the subscriber does."""
        pending = self._route(channel, payload, pattern)
        if pending is not None:
            await pending

    def _has_room(self, namespace: str, room_name: bytes) -> bool:
        """Node's ``hasRoom`` pre-filter: the string room, or its numeric reading."""
        rooms = self.rooms.get(namespace)
        if not rooms:
            return False
        try:
            name = room_name.decode()
        except UnicodeDecodeError:
            return False
        if name in rooms:
            return True
        _, number = p.room_from_channel_suffix(name)
        return number is not None and number in rooms

    async def _on_broadcast(self, namespace: str, channel: bytes, payload: bytes) -> None:
        try:
            message = p.decode_broadcast(self._parser, payload)
            if message.uid == self._uid or message.nsp != namespace:
                return
            await self._deliver_broadcast(
                namespace,
                message.data,
                message.target,
                js_rendering=self._needs_js_rendering(payload),
            )
        except ProtocolError as exc:
            self._dropped_malformed(channel, payload, exc)

    async def _on_request_payload(self, namespace: str, channel: bytes, payload: bytes) -> None:
        await self._on_request(namespace, p.decode_request(self._parser, payload))

    async def _on_response_payload(self, namespace: str, channel: bytes, payload: bytes) -> None:
        await self._on_response(namespace, p.decode_response(self._parser, payload))
