"""Emitters: reach a Socket.IO cluster from code that runs no Socket.IO server.

:class:`AsyncEmitter` (on ``redis.asyncio``) and :class:`Emitter` (on redis-py's synchronous
client, for Celery tasks, Django views and scripts) publish exactly the bytes that
``@socket.io/redis-emitter`` 5.1 publishes for the same calls (PROTOCOL.md section 3), so
Python servers running :class:`~socketio_redis_async.AsyncRedisAdapter` and Node servers
running ``@socket.io/redis-adapter`` 8 both honour them. An emitter never subscribes: it
does not count as a server and receives no answers.

With ``sharded=True`` they speak the sharded adapter's protocol instead (Node's
``createShardedAdapter``, :class:`~socketio_redis_async.AsyncShardedRedisAdapter`):
ClusterAdapter messages from uid ``"emitter"``, SPUBLISHed on the channel those servers read
for the target in their ``subscription_mode``. Node has no sharded emitter; its sharded
servers accept these messages like any other server's.

Chaining is immutable, as in Node: ``of()``, ``to()``, ``in_()``, ``except_()``,
``volatile`` and ``compress()`` each return a new emitter sharing the same Redis client and
leave the one they were called on unchanged, so a configured emitter can be kept and reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from . import cluster_protocol as cp
from .errors import AdapterClosedError
from .options import DEFAULT_URL, parse_url_argument, resolve_parser, resolve_sentinel
from .parser import MsgpackParser, Parser, integral_floats_as_ints
from .protocol import (
    EMITTER_UID,
    RESERVED_EVENTS,
    RESERVED_SERVER_SIDE_EVENTS,
    Broadcast,
    Channels,
    DisconnectRequest,
    JoinLeaveRequest,
    Room,
    ServerSideEmitRequest,
    Target,
    encode_emitter_broadcast,
    encode_request,
)
from .sentinel import SentinelTarget, async_master_clients, sync_master_client

__all__ = ["AsyncEmitter", "Emitter"]

_E = TypeVar("_E", bound="_EmitterBase")


def _check_room(room: object, name: str) -> Room:
    if isinstance(room, bool) or not isinstance(room, (str, int)):
        raise TypeError(f"{name} takes room names (str or int), got {type(room).__name__}")
    return room


def _flatten_rooms(values: tuple[object, ...], name: str) -> list[Room]:
    """``to("a", "b")``, ``to(["a", "b"])`` and ``to("a", ["b"])`` all name rooms a and b."""
    rooms: list[Room] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            rooms.extend(_check_room(room, name) for room in value)
        else:
            rooms.append(_check_room(value, name))
    return rooms


def _add_rooms(current: tuple[Room, ...], new: list[Room]) -> tuple[Room, ...]:
    """Node's ``Set`` semantics: insertion order, no duplicates, ``42`` distinct from ``"42"``."""
    merged = dict.fromkeys((type(room), room) for room in current)
    merged.update(dict.fromkeys((type(room), room) for room in new))
    return tuple(room for _, room in merged)


def _room_argument(rooms: object, name: str) -> tuple[Room, ...]:
    """Node's ``Array.isArray(rooms) ? rooms : [rooms]`` (kept as given, duplicates too)."""
    if isinstance(rooms, (list, tuple)):
        return tuple(_check_room(room, name) for room in rooms)
    return (_check_room(rooms, name),)


def _check_no_ack(args: tuple[Any, ...], method: str) -> None:
    if args and callable(args[-1]):
        raise TypeError(
            f"{method}() got a callable last argument: acknowledgements are not supported by "
            "the emitter protocol (use an AsyncRedisAdapter server for acks)"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Scope:
    """What a chain of ``of``/``to``/``except_``/``volatile``/``compress`` accumulated."""

    nsp: str = "/"
    rooms: tuple[Room, ...] = ()
    except_rooms: tuple[Room, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()  # key order matters on the wire

    def with_flag(self, name: str, value: bool) -> _Scope:
        # Like JS ``Object.assign({}, flags, {name: value})``: an existing key keeps its place.
        flags = dict(self.flags)
        flags[name] = value
        return dataclasses.replace(self, flags=tuple(flags.items()))

    def target(self) -> Target:
        return Target(rooms=self.rooms, except_rooms=self.except_rooms, flags=dict(self.flags))


class _Shared:
    """State every emitter derived from one constructor call shares."""

    __slots__ = (
        "channels",
        "client",
        "closed",
        "key",
        "mode",
        "owns_client",
        "parser",
        "sharded_channels",
    )

    def __init__(
        self, client: Any, *, owns_client: bool, key: str, parser: Parser, mode: str | None
    ) -> None:
        self.client = client
        self.owns_client = owns_client
        self.key = key
        self.parser = parser
        self.mode = mode  # None: classic protocol; else the sharded servers' subscription mode
        self.closed = False
        self.channels: dict[str, Channels] = {}
        self.sharded_channels: dict[str, cp.ShardedChannels] = {}

    def sharded_channels_of(self, nsp: str) -> cp.ShardedChannels:
        channels = self.sharded_channels.get(nsp)
        if channels is None:
            channels = self.sharded_channels[nsp] = cp.ShardedChannels(self.key, nsp)
        return channels

    def sharded_message(self, nsp: str, body: cp.ClusterBody) -> tuple[bytes, bytes]:
        assert self.mode is not None
        channel = self.sharded_channels_of(nsp).channel_for(body, self.mode)  # type: ignore[arg-type]
        return channel, cp.encode_sharded(body, EMITTER_UID, nsp)

    def channels_of(self, nsp: str) -> Channels:
        channels = self.channels.get(nsp)
        if channels is None:
            channels = self.channels[nsp] = Channels(self.key, nsp)
        return channels

    def check_open(self) -> None:
        if self.closed:
            raise AdapterClosedError("this emitter was closed; create a new one")


class _EmitterBase:
    """Targeting and encoding shared by :class:`AsyncEmitter` and :class:`Emitter`."""

    __slots__ = ("_scope", "_shared")

    _shared: _Shared
    _scope: _Scope

    def _setup(
        self,
        url: object,
        client: object,
        key: object,
        parser: object,
        redis_options: object,
        sentinels: object,
        service_name: object,
        sentinel_options: object,
        sharded: object,
        subscription_mode: object,
        *,
        client_class: type[Any],
        client_name: str,
        cluster_class: type[Any],
        sentinel_client: Callable[[SentinelTarget, dict[str, Any]], Any],
    ) -> None:
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, got {type(url).__name__}")
        if not isinstance(sharded, bool):
            raise TypeError(f"sharded must be a bool, got {type(sharded).__name__}")
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError("subscription_mode must be one of static, dynamic, dynamic-private")
        if sharded:
            self._setup_sharded(
                url, client, key, parser, redis_options, sentinels, service_name,
                subscription_mode, client_class=client_class, cluster_class=cluster_class,
            )  # fmt: skip
            return
        if client is not None and not isinstance(client, client_class):
            raise TypeError(f"client must be a {client_name} client, got {type(client).__name__}")
        if client is not None and url is not None:
            raise ValueError("pass either url or client, not both")
        if not isinstance(key, str):
            raise TypeError(f"key must be a string, got {type(key).__name__}")
        if not key:
            raise ValueError("key must not be empty")
        resolved_parser = resolve_parser(parser)
        if redis_options is not None and not isinstance(redis_options, Mapping):
            raise TypeError(f"redis_options must be a dict of {client_name} keyword arguments")
        options = dict(redis_options or {})
        if client is not None and options:
            raise ValueError("redis_options only applies to a client the emitter creates itself")
        target, options = resolve_sentinel(
            url,
            sentinels,
            service_name,
            sentinel_options,
            options,
            exclusive={"client": client is not None},
        )
        owns_client = client is None
        if target is not None:
            client = sentinel_client(target, options)
        elif client is None:
            full_url = parse_url_argument(url) if isinstance(url, str) else DEFAULT_URL
            client = client_class.from_url(full_url, **options)
            _probe_redis_options(client, client_name)
        self._shared = _Shared(
            client, owns_client=owns_client, key=key, parser=resolved_parser, mode=None
        )
        self._scope = _Scope()

    def _setup_sharded(
        self,
        url: object,
        client: object,
        key: object,
        parser: object,
        redis_options: object,
        sentinels: object,
        service_name: object,
        subscription_mode: object,
        *,
        client_class: type[Any],
        cluster_class: type[Any],
    ) -> None:
        """Sharded mode: a cluster client (or one Redis 7), ClusterAdapter messages."""
        if parser is not None:
            raise ValueError("parser does not apply with sharded=True (the protocol fixes it)")
        if sentinels is not None or service_name is not None:
            raise ValueError("sentinels do not apply with sharded=True (a cluster has none)")
        if client is not None:
            if not isinstance(client, (cluster_class, client_class)):
                raise TypeError(
                    f"client must be a {cluster_class.__module__}.RedisCluster (or one Redis 7 "
                    f"client) with sharded=True, got {type(client).__name__}"
                )
            if url is not None or redis_options:
                raise ValueError("pass either url/redis_options or client, not both")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string (the servers' channel_prefix)")
        if redis_options is not None and not isinstance(redis_options, Mapping):
            raise TypeError("redis_options must be a dict of RedisCluster keyword arguments")
        owns_client = client is None
        if client is None:
            full_url = parse_url_argument(url) if isinstance(url, str) else DEFAULT_URL
            client = cluster_class.from_url(full_url, **dict(redis_options or {}))
        self._shared = _Shared(
            client,
            owns_client=owns_client,
            key=key,
            parser=resolve_parser(None),
            mode=str(subscription_mode),
        )
        self._scope = _Scope()

    def _derive(self: _E, scope: _Scope) -> _E:
        clone = object.__new__(type(self))
        clone._shared = self._shared
        clone._scope = scope
        return clone

    # --- read-only views ----------------------------------------------------------------

    @property
    def key(self) -> str:
        """The channel prefix (Node's ``key``)."""
        return self._shared.key

    @property
    def namespace(self) -> str:
        """The namespace this emitter addresses."""
        return self._scope.nsp

    @property
    def rooms(self) -> tuple[Room, ...]:
        """Rooms targeted by ``to()``/``in_()`` (empty: every socket of the namespace)."""
        return self._scope.rooms

    @property
    def except_rooms(self) -> tuple[Room, ...]:
        """Rooms excluded by ``except_()``."""
        return self._scope.except_rooms

    @property
    def flags(self) -> Mapping[str, bool]:
        """``volatile``/``compress`` flags, in the order they were set."""
        return MappingProxyType(dict(self._scope.flags))

    @property
    def closed(self) -> bool:
        """Whether ``close()``/``aclose()`` was called on this emitter or one it shares with."""
        return self._shared.closed

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(key={self.key!r}, namespace={self.namespace!r}, "
            f"rooms={list(self.rooms)!r}, except_rooms={list(self.except_rooms)!r}, "
            f"flags={dict(self._scope.flags)!r})"
        )

    # --- immutable chaining ---------------------------------------------------------------

    def of(self: _E, nsp: str) -> _E:
        """An emitter for namespace ``nsp`` (a leading ``/`` is added if missing).

        Rooms, exceptions and flags chosen so far are kept.

        :param nsp: the namespace name, e.g. ``"/admin"`` or ``"admin"``.
        """
        if not isinstance(nsp, str):
            raise TypeError(f"of() takes a namespace name (str), got {type(nsp).__name__}")
        return self._derive(
            dataclasses.replace(self._scope, nsp=nsp if nsp[:1] == "/" else "/" + nsp)
        )

    def to(self: _E, *rooms: Room | Sequence[Room]) -> _E:
        """An emitter that also targets ``rooms`` (a union with rooms targeted so far).

        :param rooms: room names (``str`` or ``int``; ``42`` and ``"42"`` are different
                      rooms), or lists/tuples of them. At least one is required: an empty
                      target would mean *every* socket.
        """
        new = _flatten_rooms(rooms, "to()")
        if not new:
            raise ValueError("to() needs at least one room (no room means every socket)")
        return self._derive(
            dataclasses.replace(self._scope, rooms=_add_rooms(self._scope.rooms, new))
        )

    def in_(self: _E, *rooms: Room | Sequence[Room]) -> _E:
        """The same as :meth:`to` (Node's ``in``)."""
        return self.to(*rooms)

    def except_(self: _E, *rooms: Room | Sequence[Room]) -> _E:
        """An emitter that excludes the sockets in any of ``rooms``.

        :param rooms: room names (``str`` or ``int``) or lists/tuples of them.
        """
        new = _flatten_rooms(rooms, "except_()")
        return self._derive(
            dataclasses.replace(self._scope, except_rooms=_add_rooms(self._scope.except_rooms, new))
        )

    @property
    def volatile(self: _E) -> _E:
        """An emitter whose events may be dropped by clients that are not ready for them."""
        return self._derive(self._scope.with_flag("volatile", True))

    def compress(self: _E, compress: bool) -> _E:
        """An emitter with the ``compress`` flag set to ``compress``.

        :param compress: whether the servers should compress the data they send.
        """
        if not isinstance(compress, bool):
            raise TypeError(f"compress() takes a bool, got {type(compress).__name__}")
        return self._derive(self._scope.with_flag("compress", compress))

    # --- encoding -------------------------------------------------------------------------

    def _emit_message(self, event: object, args: tuple[Any, ...]) -> tuple[bytes, bytes]:
        if not isinstance(event, str):
            raise TypeError(f"the event name must be a string, got {type(event).__name__}")
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        _check_no_ack(args, "emit")
        self._shared.check_open()
        scope = self._scope
        data = [event, *args]
        if self._shared.mode is not None:
            body = Broadcast(EMITTER_UID, scope.nsp, data, scope.target())
            return self._shared.sharded_message(scope.nsp, body)
        parser = self._shared.parser
        payload = encode_emitter_broadcast(parser, scope.nsp, data, scope.target())
        if isinstance(parser, MsgpackParser) and b"\xcb" in payload:
            # Maybe an integral float: @socket.io/redis-emitter (notepack) writes 1.0 as 1.
            # Unlike the adapter, an emitter has no local clients to stay consistent with.
            payload = encode_emitter_broadcast(
                parser, scope.nsp, integral_floats_as_ints(data), scope.target()
            )
        return self._shared.channels_of(scope.nsp).for_target(scope.rooms), payload

    def _request_message(
        self, request: JoinLeaveRequest | DisconnectRequest | ServerSideEmitRequest
    ) -> tuple[bytes, bytes]:
        self._shared.check_open()
        nsp = self._scope.nsp
        if self._shared.mode is not None:
            if not isinstance(request, ServerSideEmitRequest):
                request = dataclasses.replace(request, uid=EMITTER_UID)
            return self._shared.sharded_message(nsp, request)
        payload = encode_request(self._shared.parser, request, nsp)
        return self._shared.channels_of(nsp).request, payload

    def _join_leave_message(self, rooms: object, *, join: bool) -> tuple[bytes, bytes]:
        method = "sockets_join()" if join else "sockets_leave()"
        request = JoinLeaveRequest(
            uid=None,
            join=join,
            target=Target(rooms=self._scope.rooms, except_rooms=self._scope.except_rooms),
            rooms=_room_argument(rooms, method),
        )
        return self._request_message(request)

    def _disconnect_message(self, close: object) -> tuple[bytes, bytes]:
        if not isinstance(close, bool):
            raise TypeError(f"close must be a bool, got {type(close).__name__}")
        request = DisconnectRequest(
            uid=None,
            target=Target(rooms=self._scope.rooms, except_rooms=self._scope.except_rooms),
            close=close,
        )
        return self._request_message(request)

    def _server_side_emit_message(
        self, event: object, args: tuple[Any, ...]
    ) -> tuple[bytes, bytes]:
        if not isinstance(event, str):
            raise TypeError(f"the event name must be a string, got {type(event).__name__}")
        if event in RESERVED_SERVER_SIDE_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name for server-side events')
        _check_no_ack(args, "server_side_emit")
        if self._scope.rooms or self._scope.except_rooms:
            raise ValueError(
                "server_side_emit() reaches every server of the namespace, not rooms: "
                "call it on an emitter without to()/in_()/except_()"
            )
        # JSON.stringify writes integral numbers without ".0"; Python's json would not.
        data = integral_floats_as_ints([event, *args])
        return self._request_message(
            ServerSideEmitRequest(uid=EMITTER_UID, request_id=None, data=data)
        )


def _probe_redis_options(client: Any, client_name: str) -> None:
    """Fail at construction, not at the first publish, on keyword arguments redis-py rejects.

    Building a connection object opens no socket; it only runs the constructor that would
    otherwise raise on the first command.
    """
    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        raise TypeError(f"redis_options holds an argument {client_name} rejects: {exc}") from exc


class AsyncEmitter(_EmitterBase):
    """Publish events and cluster operations from asyncio code that runs no server.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL, or the ``"host:port"`` form.
                Defaults to ``redis://localhost:6379/0``. A Sentinel deployment is named by
                ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``
                (``sentinel://`` too; the credentials and db are the master's).
    :param client: a ``redis.asyncio.Redis`` to publish with instead of ``url``; the caller
                   owns it, so :meth:`aclose` leaves it open.
    :param key: the channel prefix of the cluster (Node's ``key``), default ``"socket.io"``.
    :param parser: ``"msgpack"`` (default, notepack-compatible), ``"json"`` or an object with
                   ``encode``/``decode``; it must match the servers'. Join, leave, disconnect
                   and server-side requests are always JSON, as in Node.
    :param redis_options: keyword arguments for the ``redis.asyncio.Redis`` the emitter
                          creates from ``url`` (on a Sentinel deployment: the master's).
    :param sentinels: ``[(host, port), ...]`` of a Redis Sentinel deployment, instead of
                      ``url``: the emitter publishes to the master the Sentinels name and
                      follows it across failovers (a publish made during one waits for the
                      new master, for up to 10 s).
    :param service_name: the master's name in the Sentinels' configuration (with ``sentinels``).
    :param sentinel_options: keyword arguments for the connections to the Sentinels themselves
                             (``password``, ``username``, ``ssl``...).
    :param sharded: speak the sharded adapter's protocol (servers running
                    :class:`~socketio_redis_async.AsyncShardedRedisAdapter` or Node's
                    ``createShardedAdapter``): ``url`` is then any cluster node (or one Redis 7),
                    ``client`` a ``redis.asyncio.RedisCluster``, and ``key`` the servers'
                    ``channel_prefix``.
    :param subscription_mode: with ``sharded``, the servers' mode, which decides the channel
                              a broadcast to one room is published on.

    Every method that publishes returns once Redis accepted the message; Redis errors
    (``redis.exceptions.RedisError``) propagate to the caller. A ``redis.asyncio`` client is
    bound to the event loop that first uses it: create the emitter in the loop that uses it.

    Example::

        async with AsyncEmitter("redis://localhost:6379/0") as em:
            await em.emit("news", {"a": 1})
            await em.of("/admin").to("room1").except_("room2").volatile.emit("ev", 1, 2)
            await em.to("room1").sockets_join("vip")
            await em.server_side_emit("ping")
    """

    __slots__ = ()

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        key: str = "socket.io",
        parser: str | Parser | None = None,
        redis_options: Mapping[str, Any] | None = None,
        sentinels: Sequence[tuple[str, int]] | None = None,
        service_name: str | None = None,
        sentinel_options: Mapping[str, Any] | None = None,
        sharded: bool = False,
        subscription_mode: str = "dynamic",
    ) -> None:
        self._setup(
            url,
            client,
            key,
            parser,
            redis_options,
            sentinels,
            service_name,
            sentinel_options,
            sharded,
            subscription_mode,
            client_class=aioredis.Redis,
            client_name="redis.asyncio.Redis",
            cluster_class=aioredis.RedisCluster,
            sentinel_client=lambda target, options: async_master_clients(target, options)[0],
        )

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client the emitter publishes with."""
        client: aioredis.Redis = self._shared.client
        return client

    async def _publish(self, message: tuple[bytes, bytes]) -> None:
        channel, payload = message
        if self._shared.mode is not None:
            await self._shared.client.spublish(channel, payload)
        else:
            await self.client.publish(channel, payload)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to the targeted clients of every server.

        :param event: the event name; ``connect``, ``connect_error``, ``disconnect``,
                      ``disconnecting``, ``newListener`` and ``removeListener`` are refused,
                      as in Node.
        :param args: the event's arguments: anything the parser encodes (``bytes`` arrive as
                     binary). A callable last argument is refused: the emitter cannot
                     receive acknowledgements.
        :raises ValueError: for a reserved event name.
        :raises TypeError: for a non-string event name or an acknowledgement callback.
        """
        await self._publish(self._emit_message(event, args))

    async def sockets_join(self, rooms: Room | Sequence[Room]) -> None:
        """Make the targeted sockets, wherever they are connected, join ``rooms``.

        :param rooms: a room name or a list of them.
        """
        await self._publish(self._join_leave_message(rooms, join=True))

    async def sockets_leave(self, rooms: Room | Sequence[Room]) -> None:
        """Make the targeted sockets, wherever they are connected, leave ``rooms``.

        :param rooms: a room name or a list of them.
        """
        await self._publish(self._join_leave_message(rooms, join=False))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets, wherever they are connected.

        :param close: also close the underlying connection (all namespaces of the client).
        """
        await self._publish(self._disconnect_message(close))

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every server of the namespace (their ``serverSideEmit`` handlers).

        The arguments travel as JSON, as in Node: ``bytes`` arrive as
        ``{"type": "Buffer", "data": [...]}``. Rooms make no sense here: an emitter with
        ``to()``/``except_()`` raises ``ValueError``; flags are ignored.

        :param event: the event name (``connect``, ``connection`` and ``new_namespace``
                      are refused: Node servers would mistake the event for their own).
        :param args: JSON-serialisable arguments; no acknowledgement callback.
        """
        await self._publish(self._server_side_emit_message(event, args))

    async def aclose(self) -> None:
        """Close the Redis client if the emitter created it. Idempotent.

        Every emitter derived from this one through chaining shares the client and is
        closed too.
        """
        if self._shared.closed:
            return
        self._shared.closed = True
        if self._shared.owns_client:
            await self.client.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncEmitter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Emitter(_EmitterBase):
    """The synchronous :class:`AsyncEmitter`, on redis-py's blocking ``redis.Redis``.

    For Celery tasks, Django views, cron jobs and scripts. It takes the same arguments, except
    that ``client`` must be a ``redis.Redis``; it is thread-safe as redis-py's client is. On
    a Sentinel deployment it has no background thread: before reusing a pooled connection
    it asks the Sentinels, at most once a second, whether the master moved; a publish made
    during a failover blocks until the new master answers (for up to 10 s).

    Example::

        em = Emitter("localhost:6379", key="socket.io")
        em.to("room1").emit("news", {"a": 1}, b"\\x01")
        em.of("admin").except_("banned").disconnect_sockets(close=True)
        em.close()
    """

    __slots__ = ()

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        key: str = "socket.io",
        parser: str | Parser | None = None,
        redis_options: Mapping[str, Any] | None = None,
        sentinels: Sequence[tuple[str, int]] | None = None,
        service_name: str | None = None,
        sentinel_options: Mapping[str, Any] | None = None,
        sharded: bool = False,
        subscription_mode: str = "dynamic",
    ) -> None:
        self._setup(
            url,
            client,
            key,
            parser,
            redis_options,
            sentinels,
            service_name,
            sentinel_options,
            sharded,
            subscription_mode,
            client_class=redis.Redis,
            client_name="redis.Redis",
            cluster_class=redis.RedisCluster,
            sentinel_client=sync_master_client,
        )

    @property
    def client(self) -> redis.Redis:
        """The Redis client the emitter publishes with."""
        client: redis.Redis = self._shared.client
        return client

    def _publish(self, message: tuple[bytes, bytes]) -> None:
        channel, payload = message
        if self._shared.mode is not None:
            self._shared.client.spublish(channel, payload)
        else:
            self.client.publish(channel, payload)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to the targeted clients (see :meth:`AsyncEmitter.emit`)."""
        self._publish(self._emit_message(event, args))

    def sockets_join(self, rooms: Room | Sequence[Room]) -> None:
        """Make the targeted sockets join ``rooms`` (see :meth:`AsyncEmitter.sockets_join`)."""
        self._publish(self._join_leave_message(rooms, join=True))

    def sockets_leave(self, rooms: Room | Sequence[Room]) -> None:
        """Make the targeted sockets leave ``rooms`` (see :meth:`AsyncEmitter.sockets_leave`)."""
        self._publish(self._join_leave_message(rooms, join=False))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets (see :meth:`AsyncEmitter.disconnect_sockets`)."""
        self._publish(self._disconnect_message(close))

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every server (see :meth:`AsyncEmitter.server_side_emit`)."""
        self._publish(self._server_side_emit_message(event, args))

    def close(self) -> None:
        """Close the Redis client if the emitter created it (see :meth:`AsyncEmitter.aclose`)."""
        if self._shared.closed:
            return
        self._shared.closed = True
        if self._shared.owns_client:
            self.client.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
