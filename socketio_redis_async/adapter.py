"""``AsyncRedisAdapter``: python-socketio's client manager, clustered over Redis.

It subclasses ``socketio.AsyncManager`` and keeps its local bookkeeping; what it adds is the
Node ``@socket.io/redis-adapter`` protocol on top: every emit is published for the other
servers (Node or Python), every broadcast they publish is delivered to the local clients,
and per-socket operations on sockets hosted elsewhere become requests the host honours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
import socketio
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    RedisError,
    ResponseError,
)

from . import protocol as p
from .cluster import ClusterAPI
from .errors import AdapterClosedError, ConnectionFailedError, ProtocolError
from .local import encode_event, encode_text_event, select_targets, send_event, send_packets
from .metrics import Counters
from .options import build_options, create_clients, redacted
from .parser import MsgpackParser, to_js_value
from .requests import ClientAckEntry, RequestTable
from .responder import ServerSideHandler
from .transport import Publisher, Subscriber, describe

__all__ = ["AsyncRedisAdapter"]

_default_logger = logging.getLogger("socketio_redis_async")
# How long acks of remote clients for emit(..., callback=cb) are awaited; python-socketio's
# call() gives up after 60 s by default, so waiting longer would only hold memory.
CALLBACK_ACK_TIMEOUT = 60.0


def _as_args(data: Any) -> list[Any]:
    """python-socketio's convention: a tuple is several arguments, None is none."""
    if isinstance(data, tuple):
        return list(data)
    return [] if data is None else [data]


def _as_rooms(value: Any, name: str) -> tuple[p.Room, ...]:
    """``to``/``skip_sid`` as python-socketio reads them: falsy = none, list/tuple = many."""
    if not value and value != 0:
        return ()
    rooms = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    for room in rooms:
        if isinstance(room, bool) or not isinstance(room, (str, int)):
            raise TypeError(
                f"{name} must be a room name (str or int) or a list of them, got {room!r}"
            )
    return rooms


class AsyncRedisAdapter(ClusterAPI, socketio.AsyncManager):  # type: ignore[misc]
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

    Example::

        mgr = AsyncRedisAdapter("redis://localhost:6379/0", key="myapp")
        sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
        app = socketio.ASGIApp(sio, on_startup=mgr.start, on_shutdown=mgr.aclose)
    """

    name = "socketio-redis-async"

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
        )
        super().__init__()
        self.logger = options.logger or _default_logger
        self._options = options
        self._uid = p.new_uid()
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
        self._counters = Counters()
        self._publisher = Publisher(
            pub, logger=self.logger, on_error=self._report_error, counters=self._counters
        )
        self._subscriber = Subscriber(
            sub,
            self._on_redis_message,
            logger=self.logger,
            on_error=self._report_error,
            counters=self._counters,
            health_check_interval=options.health_check_interval,
        )
        self._channels: dict[str, p.Channels] = {}
        self._routes: dict[bytes, tuple[str, Callable[[str, bytes, bytes], Any]]] = {}
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._pending = RequestTable(self._counters)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected_at: dict[tuple[str, str], float] = {}
        self._server_side_handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._closed = False

    # --- public, read-only --------------------------------------------------------------

    @property
    def uid(self) -> str:
        """This server's id in the cluster (Node's ``uid``)."""
        return self._uid

    @property
    def prefix(self) -> str:
        """The channel prefix (Node's ``key``)."""
        return self._options.key

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

    def stats(self) -> dict[str, int]:
        """Counters since start: published, publish_failures, received, dropped_malformed,
        dropped_unknown_room, reconnects, pending_requests."""
        return {**self._counters.as_dict(), "pending_requests": len(self._pending)}

    @property
    def namespaces(self) -> frozenset[str]:
        """Namespaces this server is subscribed to."""
        return frozenset(ns for ns, done in self._subscribed.items() if done.done())

    # --- lifecycle ---------------------------------------------------------------------

    def initialize(self) -> None:
        """Called by python-socketio on the first connection: subscribe in the background."""
        super().initialize()
        if not self._closed:
            self._spawn(self.start())

    async def start(self) -> None:
        """Subscribe every namespace the server declares (and ``/``), then return.

        Call it at application start-up so this server counts in ``PUBSUB NUMSUB`` (and
        receives broadcasts) before its first client connects; it is idempotent.
        """
        if self._closed:
            raise AdapterClosedError("this adapter was closed; create a new one")
        await self._check_connection()
        try:
            await asyncio.gather(
                *(self._ensure_namespace(ns) for ns in self._declared_namespaces())
            )
        except ResponseError as exc:
            raise ConnectionFailedError(
                f"Redis refused the adapter's subscriptions at {self._describe_server()} "
                f"({describe(exc)}): an ACL user needs the channels "
                f"{self._options.key}#<nsp>#*, {self._options.key}-request#<nsp># and "
                f"{self._options.key}-response#<nsp>#* (pattern rules are matched literally)"
            ) from exc

    async def _check_connection(self) -> None:
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
        if self._options.url is not None:
            return redacted(self._options.url)
        kwargs = self._pub.connection_pool.connection_kwargs
        return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

    async def aclose(self) -> None:
        """Unsubscribe, stop the background tasks and close the clients the adapter created.

        Idempotent. Clients passed as ``pub_client``/``sub_client`` are left open.
        """
        if self._closed:
            return
        self._closed = True
        self._pending.close()
        await self._subscriber.aclose()
        await self._publisher.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._owns_clients:
            await self._pub.aclose()
            await self._sub.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncRedisAdapter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def flush(self) -> None:
        """Wait until every message published so far has reached Redis."""
        await self._publisher.flush()

    def _declared_namespaces(self) -> set[str]:
        names = {"/"}
        server = self.server
        if server is not None:
            names.update(k for k in server.handlers if isinstance(k, str))
            names.update(k for k in server.namespace_handlers if isinstance(k, str))
            if isinstance(server.namespaces, (list, tuple, set)):
                names.update(server.namespaces)
        names.update(namespace for namespace, _ in self._server_side_handlers)
        return names

    def _channels_of(self, namespace: str) -> p.Channels:
        channels = self._channels.get(namespace)
        if channels is None:
            channels = self._channels[namespace] = p.Channels(self._options.key, namespace)
        return channels

    async def _ensure_namespace(self, namespace: str) -> None:
        """Subscribe a namespace's channels once; concurrent callers share the wait."""
        done = self._subscribed.get(namespace)
        if done is None:
            done = self._subscribed[namespace] = asyncio.ensure_future(self._subscribe(namespace))
        await asyncio.shield(done)

    async def _subscribe(self, namespace: str) -> None:
        ch = self._channels_of(namespace)
        specific = ch.specific_response(self._uid)
        self._routes[ch.pattern] = (namespace, self._on_broadcast)
        self._routes[ch.request] = (namespace, self._on_request)
        self._routes[ch.response] = (namespace, self._on_response)
        self._routes[specific] = (namespace, self._on_response)
        try:
            await self._subscriber.subscribe(
                patterns=[ch.pattern], channels=[ch.request, ch.response, specific]
            )
        except BaseException:
            self._subscribed.pop(namespace, None)
            raise
        self.logger.info("Subscribed to namespace %s under key %s", namespace, self._options.key)

    # --- python-socketio hooks ---------------------------------------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> Any:
        await self._ensure_namespace(namespace)
        sid = await super().pre_connect(eio_sid, namespace)
        if sid is not None:
            self._connected_at[(namespace, sid)] = time.time()
        return sid

    async def connect(self, sid: str, namespace: str) -> Any:
        """Runs on python-socketio < 5.18 with an eio sid; dynamic namespaces subscribe here."""
        await self._ensure_namespace(namespace)
        result = await super().connect(sid, namespace)
        if result is not None:
            self._connected_at.setdefault((namespace, result), time.time())
        return result

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        self._connected_at.pop((namespace, sid), None)
        super().basic_disconnect(sid, namespace, **kwargs)
        if (
            namespace not in self.rooms
            and namespace in self._subscribed
            and namespace not in self._declared_namespaces()
            and not self._closed
        ):
            self._spawn(self._release_namespace(namespace))

    async def _release_namespace(self, namespace: str) -> None:
        """Unsubscribe a dynamic namespace whose last socket left, so namespaces that come
        and go (one per user, say) do not pile up subscriptions. Declared namespaces stay
        subscribed for the adapter's lifetime, as in Node."""
        subscribing = self._subscribed.get(namespace)
        if subscribing is None:
            return
        await asyncio.wait([subscribing])
        if namespace in self.rooms or self._subscribed.get(namespace) is not subscribing:
            return  # a socket arrived meanwhile, or someone else released it
        del self._subscribed[namespace]  # from here on, a new socket subscribes afresh
        ch = self._channels.pop(namespace, None) or p.Channels(self._options.key, namespace)
        for name in (ch.pattern, ch.request, ch.response, ch.specific_response(self._uid)):
            self._routes.pop(name, None)
        await self._subscriber.unsubscribe(
            patterns=[ch.pattern],
            channels=[ch.request, ch.response, ch.specific_response(self._uid)],
        )
        self.logger.info("Unsubscribed from namespace %s (no sockets left)", namespace)

    async def emit(
        self,
        event: str,
        data: Any = None,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        ignore_queue: bool = False,
        *,
        volatile: bool = False,
        compress: bool | None = None,
        local: bool = False,
        **kwargs: Any,
    ) -> None:
        """Emit to the whole cluster (``sio.emit`` lands here).

        Beyond python-socketio's arguments: ``volatile`` and ``compress`` are carried to the
        other servers as Node's flags (Node servers honour them); ``local=True`` (or
        ``ignore_queue=True``) delivers to this server's clients only and publishes nothing.
        Call it on the adapter to use them: ``await mgr.emit("ev", data, to="room",
        volatile=True)``.
        """
        if not isinstance(event, str):
            raise TypeError(f"event must be a string, got {type(event).__name__}")
        namespace = namespace or "/"
        rooms = _as_rooms(to if to is not None else room, "to")
        except_rooms = _as_rooms(skip_sid, "skip_sid")
        packet_data = [event, *_as_args(data)]
        if callback is not None:
            await self._emit_with_callback(
                namespace, packet_data, rooms, except_rooms, callback, local or ignore_queue
            )
            return
        flags: dict[str, bool] = {}
        if volatile:
            flags["volatile"] = True
        if compress is not None:
            flags["compress"] = bool(compress)
        target = p.Target(rooms, except_rooms, flags)
        if not (local or ignore_queue or self._is_local_sid(namespace, rooms)):
            payload = p.encode_broadcast(self._parser, self._uid, namespace, packet_data, target)
            await self._publish(self._channels_of(namespace).for_target(rooms), payload)
        if self.server is not None:
            targets = select_targets(self.rooms.get(namespace), rooms, except_rooms)
            await send_event(self.server, namespace, packet_data, targets)

    async def _emit_with_callback(
        self,
        namespace: str,
        packet_data: list[Any],
        rooms: tuple[p.Room, ...],
        except_rooms: tuple[p.Room, ...],
        callback: Callable[..., Any],
        local: bool,
    ) -> None:
        """Local recipients get python-socketio's per-client ack ids; remote ones a request.

        The remote part is Node's BROADCAST request (type 7), so a Node server hosting the
        target answers as well: one BROADCAST_ACK per client, each calling ``callback``.
        """
        single_sid = self._single_sid(namespace, rooms)
        if not local and not self._is_local_sid(namespace, rooms):
            request_id = p.new_uid()
            entry = ClientAckEntry(
                callback, single=single_sid, logger=self.logger, tasks=self._tasks
            )
            self._pending.add(request_id, entry, CALLBACK_ACK_TIMEOUT)
            flags: dict[str, Any] = {"timeout": int(CALLBACK_ACK_TIMEOUT * 1000)}
            if single_sid:
                flags["expectSingleResponse"] = True
            request = p.BroadcastRequest(
                self._uid, request_id, packet_data, p.Target(rooms, except_rooms, flags)
            )
            await self._publish_request(namespace, request)
        await super().emit(
            packet_data[0],
            tuple(packet_data[1:]),
            namespace,
            room=None if not rooms else rooms[0] if len(rooms) == 1 else list(rooms),
            skip_sid=list(except_rooms),
            callback=callback,
        )

    def _is_local_sid(self, namespace: str, rooms: Sequence[p.Room]) -> bool:
        """A single sid of this server: nothing to publish, nobody else has it."""
        return len(rooms) == 1 and self.eio_sid_from_sid(rooms[0], namespace) is not None

    def _single_sid(self, namespace: str, rooms: Sequence[p.Room]) -> bool:
        """Best guess that ``rooms`` names one socket: python-socketio's 20-char sids."""
        return len(rooms) == 1 and isinstance(rooms[0], str) and len(rooms[0]) == 20

    def _hosts(self, sid: str, namespace: str) -> bool:
        return self.eio_sid_from_sid(sid, namespace) is not None

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        """Join a room; a socket hosted elsewhere is joined by its own server."""
        if eio_sid is not None or self._hosts(sid, namespace):
            await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
            return
        target = p.Target((sid,))
        room_name = _as_rooms(room, "room")
        await self._publish_request(
            namespace, p.JoinLeaveRequest(self._uid, True, target, room_name)
        )

    async def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        if self._hosts(sid, namespace):
            await super().leave_room(sid, namespace, room)
            return
        target = p.Target((sid,))
        room_name = _as_rooms(room, "room")
        await self._publish_request(
            namespace, p.JoinLeaveRequest(self._uid, False, target, room_name)
        )

    async def close_room(self, room: Any, namespace: str | None = None) -> None:
        """Empty a room on every server (Node: ``io.in(room).socketsLeave(room)``)."""
        namespace = namespace or "/"
        rooms = _as_rooms(room, "room")
        await super().close_room(room, namespace)
        await self._publish_request(
            namespace, p.JoinLeaveRequest(self._uid, False, p.Target(rooms), rooms)
        )

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        """python-socketio asks this before a disconnect: a remote sid is asked to go."""
        if self._hosts(sid, namespace):
            return bool(await super().can_disconnect(sid, namespace))
        await self._publish_request(
            namespace, p.DisconnectRequest(self._uid, p.Target((sid,)), close=False)
        )
        return False

    # --- publishing --------------------------------------------------------------------

    async def _publish(self, channel: bytes, payload: bytes, *, from_app: bool = True) -> None:
        """Queue a message for Redis. Calls made by app code wait for Redis in strict mode;
        answers the reader sends never do (they would stall every other message)."""
        if self._closed:
            raise AdapterClosedError("this adapter was closed; create a new one")
        if len(payload) > self._options.max_message_size:
            raise ValueError(
                f"message of {len(payload)} bytes exceeds max_message_size "
                f"({self._options.max_message_size})"
            )
        await self._publisher.publish(channel, payload, wait=from_app and self._options.strict)

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
        if requester and not shared and self._options.publish_on_specific_response_channel:
            channel = channels.specific_response(requester)
        await self._publish(channel, p.encode_response(self._parser, response), from_app=False)

    # --- receiving ---------------------------------------------------------------------

    async def _on_redis_message(
        self, channel: bytes, payload: bytes, pattern: bytes | None
    ) -> None:
        route = self._routes.get(pattern if pattern is not None else channel)
        if route is None:
            return
        if len(payload) > self._options.max_message_size:
            self._counters.dropped_oversized += 1
            self.logger.warning(
                "Dropped a %d-byte message on %r: larger than max_message_size",
                len(payload),
                channel,
            )
            return
        namespace, handler = route
        try:
            await handler(namespace, channel, payload)
        except ProtocolError as exc:
            self._counters.dropped_malformed += 1
            self.logger.warning(
                "Dropped a malformed message on %r (%d bytes): %s", channel, len(payload), exc
            )

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
        prefix_length = len(self._channels_of(namespace).broadcast)
        room_name = channel[prefix_length:-1]
        if room_name and not self._has_room(namespace, room_name):
            self._counters.dropped_unknown_room += 1
            return  # a room this server lacks: dropped before decoding
        if self.server is None or namespace not in self.rooms:
            return
        if self._own_prefix and payload.startswith(self._own_prefix):
            return  # our own publication, echoed by the pattern subscription: not decoded
        message = p.decode_broadcast(self._parser, payload)
        if message.uid == self._uid or message.nsp != namespace:
            return
        targets = select_targets(
            self.rooms.get(namespace), message.target.rooms, message.target.except_rooms
        )
        if not targets:
            return
        packets = encode_text_event(self.server, namespace, message.data)
        if packets is None:  # binary, dates, NaN: rendered as a Node server would
            data = message.data
            if self._needs_js_rendering(payload):
                data = to_js_value(data)
            try:
                packets = encode_event(self.server, namespace, data)
            except (TypeError, ValueError) as exc:  # e.g. a map with binary keys: not JSON
                raise ProtocolError(f"broadcast cannot be sent to clients: {exc}") from exc
        await send_packets(self.server, packets, targets)

    async def _on_response(self, namespace: str, channel: bytes, payload: bytes) -> None:
        response = p.decode_response(self._parser, payload)
        self._pending.feed(response.request_id, response)

    # --- errors and background tasks ---------------------------------------------------

    def _report_error(self, exc: BaseException) -> None:
        callback = self._options.on_error
        if callback is None:
            return
        try:
            callback(exc)
        except Exception:
            self.logger.exception("on_error callback raised")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("Background task failed", exc_info=task.exception())
            self._report_error(task.exception())  # type: ignore[arg-type]
