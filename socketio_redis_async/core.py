"""The adapter core every transport shares: python-socketio's hooks, local delivery, the
responder, the cluster API and the request table.

A transport (classic Pub/Sub in ``adapter.py``, sharded Pub/Sub in ``sharded.py``, Redis
Streams in ``streams.py``) subclasses :class:`AdapterCore` and only decides how messages
reach Redis and come back: channel names, subscriptions, framing and reconnection. What it
reads it decodes into the message classes of :mod:`.protocol` and hands to
:meth:`AdapterCore._deliver_broadcast`, :meth:`~.responder.RequestResponder._on_request` and
:meth:`AdapterCore._on_response`; what the core wants sent it passes to the ``_publish_*``
hooks. The operations therefore exist once, whatever the wire looks like.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABCMeta, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol

import socketio

from . import protocol as p
from .cluster import ClusterAPI
from .direct_writes import DirectWriter
from .errors import AdapterClosedError, ProtocolError
from .local import encode_event, encode_text_event, select_targets, send_event, send_packets
from .metrics import Counters
from .parser import to_js_value
from .requests import ClientAckEntry, RequestTable
from .responder import ServerSideHandler
from .slow_clients import ClientQueueLimit

__all__ = ["AdapterCore", "CommonOptions"]

_default_logger = logging.getLogger("socketio_redis_async")
# How long acks of remote clients for emit(..., callback=cb) are awaited; python-socketio's
# call() gives up after 60 s by default, so waiting longer would only hold memory.
CALLBACK_ACK_TIMEOUT = 60.0


class CommonOptions(Protocol):
    """The options every transport has (validated by each transport's options builder)."""

    @property
    def requests_timeout(self) -> float: ...
    @property
    def logger(self) -> logging.Logger | None: ...
    @property
    def on_error(self) -> Callable[[BaseException], object] | None: ...
    @property
    def max_message_size(self) -> int: ...
    @property
    def strict(self) -> bool: ...
    @property
    def max_client_queue(self) -> int: ...
    @property
    def direct_writes(self) -> bool: ...


def _packet_data(event: str, data: Any) -> list[Any]:
    """``[event, *args]`` by python-socketio's convention: a tuple is several arguments,
    None is none."""
    if data is None:
        return [event]
    if isinstance(data, tuple):
        return [event, *data]
    return [event, data]


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


class AdapterCore(ClusterAPI, socketio.AsyncManager, metaclass=ABCMeta):  # type: ignore[misc]
    """python-socketio client manager clustered through Redis; transports subclass it."""

    name = "socketio-redis-async"
    # Whether the protocol has an ALL_ROOMS request (the classic one); the ClusterAdapter
    # protocol has none, and all_rooms() is answered from fetch_sockets() instead.
    _has_rooms_request: ClassVar[bool] = True

    def __init__(self, options: CommonOptions, uid: str) -> None:
        super().__init__()
        self.logger = options.logger or _default_logger
        self._options = options
        self._uid = uid
        self._counters = Counters()
        self._pending = RequestTable(self._counters)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._connected_at: dict[tuple[str, str], float] = {}
        self._server_side_handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._closed = False
        self._queue_limit = (
            ClientQueueLimit(
                options.max_client_queue,
                logger=self.logger,
                counters=self._counters,
                spawn=self._spawn,
            )
            if options.max_client_queue
            else None
        )
        self._direct: DirectWriter | None = None

    # --- the transport's part -------------------------------------------------------------

    @abstractmethod
    async def _connect_transport(self) -> None:
        """Check that Redis can be used; raise ``ConnectionFailedError`` if not."""

    @abstractmethod
    async def _subscribe_namespace(self, namespace: str) -> None:
        """Start receiving a namespace's messages; return once Redis confirmed it."""

    @abstractmethod
    async def _unsubscribe_namespace(self, namespace: str) -> None:
        """Stop receiving a namespace's messages (a dynamic namespace emptied)."""

    @abstractmethod
    async def _publish_broadcast(self, namespace: str, data: list[Any], target: p.Target) -> None:
        """Publish ``[event, *args]`` for the other servers' clients in ``target``."""

    @abstractmethod
    async def _publish_request(self, namespace: str, request: p.AnyRequest) -> None:
        """Publish a request (or a join/leave/disconnect order) to the other servers."""

    @abstractmethod
    async def _publish_response(
        self,
        namespace: str,
        requester: str | None,
        response: p.AnyResponse,
        *,
        shared: bool = False,
    ) -> None:
        """Answer ``requester``; ``shared`` marks a server-side emit ack, which the classic
        protocol sends on the shared response channel."""

    @abstractmethod
    async def _count_subscribers(self, namespace: str) -> int:
        """How many servers (this one included) Redis says receive the namespace's requests."""

    @abstractmethod
    async def _close_transport(self) -> None:
        """Unsubscribe, stop the transport's tasks, close the clients it created."""

    @abstractmethod
    async def flush(self) -> None:
        """Wait until every message published so far has reached Redis."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the transport is up with all its subscriptions in place."""

    def _room_created(self, namespace: str, room: p.Room, is_sid: bool) -> None:
        """A room got its first local member (the sharded transport subscribes to it)."""

    def _room_deleted(self, namespace: str, room: p.Room) -> None:
        """A room lost its last local member."""

    # --- public, read-only ----------------------------------------------------------------

    @property
    def uid(self) -> str:
        """This server's id in the cluster (Node's ``uid``)."""
        return self._uid

    def stats(self) -> dict[str, int]:
        """Counters since start: published, publish_failures, received, dropped_malformed,
        dropped_unknown_room, dropped_oversized, reconnects, output_buffer_disconnects
        (Redis closed the subscriber at client-output-buffer-limit pubsub),
        requests_timed_out, stream_entries_lost (streams transport),
        slow_clients_disconnected (a client's queue passed ``max_client_queue``),
        direct_writes (broadcast frames written straight to a websocket connection),
        pending_requests."""
        return {**self._counters.as_dict(), "pending_requests": len(self._pending)}

    @property
    def namespaces(self) -> frozenset[str]:
        """Namespaces this server is subscribed to."""
        return frozenset(ns for ns, done in self._subscribed.items() if done.done())

    # --- lifecycle ------------------------------------------------------------------------

    def set_server(self, server: Any) -> None:
        """Called by python-socketio when the server is built: learn its websocket
        connections, so broadcasts can be written to them directly."""
        super().set_server(server)
        if self._options.direct_writes:
            self._direct = DirectWriter.install(server, self._counters, self.logger)

    def initialize(self) -> None:
        """Called by python-socketio on the first connection: subscribe in the background."""
        super().initialize()
        if not self._closed:
            self._spawn(self.start())

    async def start(self) -> None:
        """Subscribe every namespace the server declares (and ``/``), then return.

        Call it at application start-up so this server counts in the cluster (and receives
        broadcasts) before its first client connects; it is idempotent.
        """
        if self._closed:
            raise AdapterClosedError("this adapter was closed; create a new one")
        await self._connect_transport()
        await asyncio.gather(*(self._ensure_namespace(ns) for ns in self._declared_namespaces()))

    async def aclose(self) -> None:
        """Unsubscribe, stop the background tasks and close the clients the adapter created.

        Idempotent. Clients passed in by the caller are left open.
        """
        if self._closed:
            return
        self._closed = True
        self._pending.close()
        await self._close_transport()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    close = aclose

    async def __aenter__(self) -> AdapterCore:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

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

    async def _ensure_namespace(self, namespace: str) -> None:
        """Subscribe a namespace once; concurrent callers share the wait."""
        done = self._subscribed.get(namespace)
        if done is None:
            done = self._subscribed[namespace] = asyncio.ensure_future(
                self._subscribe_once(namespace)
            )
        await asyncio.shield(done)

    async def _subscribe_once(self, namespace: str) -> None:
        try:
            await self._subscribe_namespace(namespace)
        except BaseException:
            self._subscribed.pop(namespace, None)
            raise

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
        await self._unsubscribe_namespace(namespace)
        self.logger.info("Unsubscribed from namespace %s (no sockets left)", namespace)

    # --- python-socketio hooks ------------------------------------------------------------

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

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        namespace_rooms = self.rooms.get(namespace)
        is_new = namespace_rooms is None or room not in namespace_rooms
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if is_new and room is not None:
            self._room_created(namespace, room, is_sid=room in self.rooms[namespace][None])

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        if room is not None and room not in self.rooms.get(namespace, {}):
            self._room_deleted(namespace, room)

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
        to = to if to is not None else room
        rooms = () if to is None else _as_rooms(to, "to")
        except_rooms = () if skip_sid is None else _as_rooms(skip_sid, "skip_sid")
        packet_data = _packet_data(event, data)
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
        if not (local or ignore_queue or (rooms and self._is_local_sid(namespace, rooms))):
            await self._publish_broadcast(namespace, packet_data, target)
        namespace_rooms = self.rooms.get(namespace)
        if self.server is not None and namespace_rooms:
            targets = select_targets(namespace_rooms, rooms, except_rooms)
            if targets:
                await send_event(
                    self.server, namespace, packet_data, targets, self._queue_limit, self._direct
                )

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

        The remote part is Node's broadcast-with-ack request, so a Node server hosting the
        target answers as well: one ack response per client, each calling ``callback``.
        """
        single_sid = self._single_sid(namespace, rooms)
        if not local and not self._is_local_sid(namespace, rooms):
            request_id = self._new_request_id()
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

    # --- what transports call -------------------------------------------------------------

    def _new_request_id(self) -> str:
        """A request id in the transport's format (the classic one: Node's ``uid2(6)``)."""
        return p.new_uid()

    def _check_outgoing(self, payload: bytes) -> None:
        """Refuse to publish after close, or a message other servers would drop as too big."""
        if self._closed:
            raise AdapterClosedError("this adapter was closed; create a new one")
        if len(payload) > self._options.max_message_size:
            raise ValueError(
                f"message of {len(payload)} bytes exceeds max_message_size "
                f"({self._options.max_message_size})"
            )

    def _dropped_oversized(self, channel: bytes, payload: bytes) -> None:
        self._counters.dropped_oversized += 1
        self.logger.warning(
            "Dropped a %d-byte message on %r: larger than max_message_size", len(payload), channel
        )

    def _dropped_malformed(self, channel: bytes, payload: bytes, exc: ProtocolError) -> None:
        self._counters.dropped_malformed += 1
        self.logger.warning(
            "Dropped a malformed message on %r (%d bytes): %s", channel, len(payload), exc
        )

    async def _handle_incoming(
        self,
        channel: bytes,
        payload: bytes,
        handle: Callable[[], Awaitable[None]],
    ) -> None:
        """Run a transport's handler for one message: oversized and malformed messages are
        counted, logged and dropped, never raised into the reader."""
        if len(payload) > self._options.max_message_size:
            self._dropped_oversized(channel, payload)
            return
        try:
            await handle()
        except ProtocolError as exc:
            self._dropped_malformed(channel, payload, exc)

    async def _deliver_broadcast(
        self, namespace: str, data: list[Any], target: p.Target, *, js_rendering: bool
    ) -> None:
        """Send a broadcast another server published to this server's matching clients.

        ``js_rendering`` says the data may hold values (dates, binary in a foreign shape,
        NaN) that must reach clients as a Node server would send them.
        """
        if self.server is None:
            return
        targets = select_targets(self.rooms.get(namespace), target.rooms, target.except_rooms)
        if not targets:
            return
        packets = encode_text_event(self.server, namespace, data)
        if packets is None:  # binary, dates, NaN: rendered as a Node server would
            if js_rendering:
                data = to_js_value(data)
            try:
                packets = encode_event(self.server, namespace, data)
            except (TypeError, ValueError) as exc:  # e.g. a map with binary keys: not JSON
                raise ProtocolError(f"broadcast cannot be sent to clients: {exc}") from exc
        await send_packets(self.server, packets, targets, self._queue_limit, self._direct)

    async def _on_response(self, namespace: str, response: p.AnyResponse) -> None:
        self._pending.feed(response.request_id, response)

    # --- errors and background tasks ------------------------------------------------------

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
