"""The cluster API: Node's ``fetchSockets``, ``socketsJoin``, ``serverSideEmit``,
``emitWithAck``... for Python apps, over the same request/response protocol.

Requests expect one answer per other server, counted as Node counts them: ``PUBSUB NUMSUB``
of the namespace's request channel (every subscribed server, Node or Python, once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import socketio

from . import protocol as p
from .errors import RequestTimeoutError
from .local import select_targets
from .remote_socket import RemoteSocket
from .requests import BroadcastAckEntry, CollectEntry, RequestTable, run_bounded
from .responder import RequestResponder, ServerSideHandler
from .transport import CONNECTION_ERRORS

if TYPE_CHECKING:
    from .core import AdapterCore, CommonOptions
    from .metrics import Counters

__all__ = ["ClusterAPI"]

Handler = TypeVar("Handler", bound=ServerSideHandler)


def _rooms_arg(value: Any, name: str) -> tuple[p.Room, ...]:
    """A room, or an iterable of rooms; ``None`` means none."""
    if value is None:
        return ()
    items = (value,) if isinstance(value, (str, int)) else tuple(value)
    for room in items:
        if isinstance(room, bool) or not isinstance(room, (str, int)):
            raise TypeError(f"{name} must be a room (str or int) or a list of rooms, got {room!r}")
    return items


def _namespace_arg(namespace: object) -> str:
    if not isinstance(namespace, str) or not namespace.startswith("/"):
        raise ValueError(f"namespace must be a string starting with '/', got {namespace!r}")
    return namespace


def _timeout_arg(timeout: object, name: str = "timeout") -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _event_arg(event: object, reserved: frozenset[str] = p.RESERVED_EVENTS) -> str:
    if not isinstance(event, str):
        raise TypeError(f"event must be a string, got {type(event).__name__}")
    if event in reserved:
        raise ValueError(f'"{event}" is a reserved event name')
    return event


def _sockets_of(response: p.AnyResponse) -> list[Any]:
    if not isinstance(response, p.ValueResponse) or not isinstance(
        response.body.get("sockets"), list
    ):
        raise TypeError("not a REMOTE_FETCH answer")
    return list(response.body["sockets"])


def _rooms_of(response: p.AnyResponse) -> list[Any]:
    if not isinstance(response, p.ValueResponse) or not isinstance(
        response.body.get("rooms"), list
    ):
        raise TypeError("not an ALL_ROOMS answer")
    return list(response.body["rooms"])


def _server_side_answer(response: p.AnyResponse) -> Any:
    if not isinstance(response, p.ServerSideEmitResponse):
        raise TypeError("not a SERVER_SIDE_EMIT answer")
    return response.args[0] if response.args else None


class ClusterAPI(RequestResponder):
    """Mixin of :class:`AsyncRedisAdapter`: cluster-wide operations.

    It builds on :class:`RequestResponder`, whose local operations (details of the sockets,
    joins, disconnects) are the local half of every cluster-wide one.
    """

    if TYPE_CHECKING:
        _options: CommonOptions
        _pending: RequestTable
        _counters: Counters
        _has_rooms_request: ClassVar[bool]

        def _new_request_id(self) -> str: ...
        async def _count_subscribers(self, namespace: str) -> int: ...
        async def _ensure_namespace(self, namespace: str) -> None: ...
        async def _publish_request(self, namespace: str, request: p.AnyRequest) -> None: ...

    async def server_count(self, namespace: str = "/") -> int:
        """Servers (Node and Python) subscribed to the namespace, this one included."""
        namespace = _namespace_arg(namespace)
        await self._ensure_namespace(namespace)
        return await self._count_subscribers(namespace)

    async def _count_servers(self, namespace: str, operation: str, timeout: float) -> int:
        """``server_count`` bounded by the request's deadline (Redis may be unreachable)."""
        try:
            return await run_bounded(self.server_count(namespace), timeout)
        except (asyncio.TimeoutError, *CONNECTION_ERRORS) as exc:
            self._counters.requests_timed_out += 1
            raise RequestTimeoutError(operation, [], 0, None) from exc

    async def _collect(
        self,
        namespace: str,
        operation: str,
        make_request: Callable[[str], p.AnyRequest],
        accept: Callable[[p.AnyResponse], Any],
        timeout: float,
    ) -> list[Any]:
        """Publish a request and gather one answer per other server, within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        expected = await self._count_servers(namespace, operation, timeout) - 1
        if expected <= 0:
            return []
        request_id = self._new_request_id()
        entry = CollectEntry(operation, expected, accept)
        self._pending.add(request_id, entry, max(0.0, deadline - loop.time()))
        try:
            await self._publish_request(namespace, make_request(request_id))
            return await entry.future
        finally:
            self._pending.discard(request_id)

    async def fetch_sockets(
        self,
        namespace: str = "/",
        rooms: Any = None,
        except_rooms: Any = None,
        local: bool = False,
    ) -> list[RemoteSocket]:
        """Every socket of the cluster in ``rooms`` (all if none) minus ``except_rooms``.

        :raises RequestTimeoutError: if a server did not answer within ``requests_timeout``;
                                     its ``responses`` hold the sockets that did arrive.
        """
        namespace = _namespace_arg(namespace)
        target = p.Target(_rooms_arg(rooms, "rooms"), _rooms_arg(except_rooms, "except_rooms"))
        details = await self._socket_details(namespace, target)
        if not local:
            try:
                answers = await self._collect(
                    namespace,
                    "fetch_sockets",
                    lambda rid: p.FetchRequest(self._uid, rid, target),
                    _sockets_of,
                    self._options.requests_timeout,
                )
            except RequestTimeoutError as exc:
                exc.responses = self._remote_sockets(namespace, details, exc.responses)
                raise
            return self._remote_sockets(namespace, details, answers)
        return self._remote_sockets(namespace, details, [])

    def _remote_sockets(
        self, namespace: str, local: list[dict[str, Any]], answers: list[list[Any]]
    ) -> list[RemoteSocket]:
        sockets = []
        for detail in local + [d for answer in answers for d in answer]:
            if not isinstance(detail, dict) or not isinstance(detail.get("id"), str):
                self.logger.warning("Ignored a malformed socket in a fetch_sockets answer")
                continue
            rooms = detail.get("rooms")
            handshake = detail.get("handshake")
            sockets.append(
                RemoteSocket(
                    id=detail["id"],
                    namespace=namespace,
                    handshake=handshake if isinstance(handshake, dict) else {},
                    rooms=frozenset(
                        r
                        for r in (rooms if isinstance(rooms, list) else [])
                        if isinstance(r, (str, int)) and not isinstance(r, bool)
                    ),
                    data=detail.get("data"),
                    _adapter=cast("AdapterCore", self),
                )
            )
        return sockets

    async def all_rooms(self, namespace: str = "/") -> set[p.Room]:
        """Every room of every server (socket-id rooms included, as in Node).

        Protocols without an ALL_ROOMS request (sharded, streams) gather the rooms of every
        socket with ``fetch_sockets``: a room exists only while a socket is in it.
        """
        namespace = _namespace_arg(namespace)
        rooms: set[p.Room] = set(self._local_rooms(namespace))
        if not self._has_rooms_request:
            for socket in await self.fetch_sockets(namespace):
                rooms.update(socket.rooms)
            return rooms
        answers = await self._collect(
            namespace,
            "all_rooms",
            lambda rid: p.RoomsRequest(self._uid, rid),
            _rooms_of,
            self._options.requests_timeout,
        )
        for answer in answers:
            rooms.update(r for r in answer if isinstance(r, (str, int)) and not isinstance(r, bool))
        return rooms

    async def sockets_join(
        self, rooms: Any, namespace: str = "/", to: Any = None, except_rooms: Any = None
    ) -> None:
        """Make the matching sockets of every server join ``rooms``."""
        await self._join_or_leave_everywhere(rooms, namespace, to, except_rooms, join=True)

    async def sockets_leave(
        self, rooms: Any, namespace: str = "/", to: Any = None, except_rooms: Any = None
    ) -> None:
        """Make the matching sockets of every server leave ``rooms``."""
        await self._join_or_leave_everywhere(rooms, namespace, to, except_rooms, join=False)

    async def _join_or_leave_everywhere(
        self, rooms: Any, namespace: str, to: Any, except_rooms: Any, *, join: bool
    ) -> None:
        namespace = _namespace_arg(namespace)
        room_list = _rooms_arg(rooms, "rooms")
        target = p.Target(_rooms_arg(to, "to"), _rooms_arg(except_rooms, "except_rooms"))
        self._join_or_leave(namespace, target, room_list, join)
        await self._publish_request(
            namespace, p.JoinLeaveRequest(self._uid, join, target, room_list)
        )

    async def disconnect_sockets(
        self, namespace: str = "/", to: Any = None, except_rooms: Any = None, close: bool = False
    ) -> None:
        """Disconnect the matching sockets of every server; ``close`` ends their connection."""
        namespace = _namespace_arg(namespace)
        if not isinstance(close, bool):
            raise TypeError("close must be a bool")
        target = p.Target(_rooms_arg(to, "to"), _rooms_arg(except_rooms, "except_rooms"))
        await self._publish_request(namespace, p.DisconnectRequest(self._uid, target, close))
        await self._disconnect_targets(namespace, target, close)

    def on(self, event: str, handler: Handler | None = None, namespace: str = "/") -> Any:
        """Handle a server-side event from other servers (Node's ``io.on(event, ...)``).

        The handler gets the event's arguments; what it returns (or awaits to) is its ack for
        ``server_side_emit_with_ack``. Usable as a decorator::

            @mgr.on("ping")
            async def ping(n):
                return n + 1
        """
        event = _event_arg(event, p.RESERVED_SERVER_SIDE_EVENTS)
        namespace = _namespace_arg(namespace)

        def register(function: Handler) -> Handler:
            if not callable(function):
                raise TypeError("handler must be callable")
            self._server_side_handlers[(namespace, event)] = function
            return function

        return register if handler is None else register(handler)

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Emit an event to the other servers' ``on()`` handlers (not to clients)."""
        event = _event_arg(event, p.RESERVED_SERVER_SIDE_EVENTS)
        namespace = _namespace_arg(namespace)
        if args and callable(args[-1]):
            raise TypeError("use server_side_emit_with_ack() to get acknowledgements")
        await self._ensure_namespace(namespace)
        await self._publish_request(
            namespace, p.ServerSideEmitRequest(self._uid, None, [event, *args])
        )

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, namespace: str = "/", timeout: float | None = None
    ) -> list[Any]:
        """Emit to the other servers and return one ack per server (its first argument).

        :raises RequestTimeoutError: if some server did not answer in ``timeout`` seconds
                                     (default ``requests_timeout``); ``responses`` has the rest.
        """
        event = _event_arg(event, p.RESERVED_SERVER_SIDE_EVENTS)
        namespace = _namespace_arg(namespace)
        wait = self._options.requests_timeout if timeout is None else _timeout_arg(timeout)
        return await self._collect(
            namespace,
            "server_side_emit_with_ack",
            lambda rid: p.ServerSideEmitRequest(self._uid, rid, [event, *args]),
            _server_side_answer,
            wait,
        )

    async def emit_with_ack(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        namespace: str = "/",
        timeout: float = 5.0,
        *,
        except_rooms: Any = None,
        single: bool = False,
    ) -> Any:
        """Emit to clients of every server and return every client's ack (first argument).

        Returns when each server reported its client count and all those clients acked, or
        after ``timeout`` seconds with the acks that arrived. ``single=True`` (used by
        ``RemoteSocket.emit_with_ack``) returns the first ack itself, or raises
        ``TimeoutError`` if there was none.
        """
        event = _event_arg(event)
        namespace = _namespace_arg(namespace)
        wait = _timeout_arg(timeout)
        rooms = _rooms_arg(to, "to")
        except_list = _rooms_arg(except_rooms, "except_rooms")
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        flags: dict[str, Any] = {"timeout": int(wait * 1000)}
        if single:
            flags["expectSingleResponse"] = True
        target = p.Target(rooms, except_list, flags)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            expected_servers = await self._count_servers(namespace, "emit_with_ack", wait)
        except RequestTimeoutError:
            expected_servers = 1  # Redis is unreachable: this server's clients still answer
        request_id = self._new_request_id()
        entry = BroadcastAckEntry(max(expected_servers, 1))
        self._pending.add(request_id, entry, max(0.0, deadline - loop.time()))
        try:
            await self._publish_request(
                namespace, p.BroadcastRequest(self._uid, request_id, [event, *args], target)
            )
            await self._send_with_acks(namespace, request_id, [event, *args], target)
            responses = await entry.future
        finally:
            self._pending.discard(request_id)
        if entry.timed_out:
            self.logger.info(
                "emit_with_ack(%s) timed out: %d of %d acks",
                event,
                len(responses),
                entry.expected_acks,
            )
        if single:
            if not responses:
                raise TimeoutError(f"no ack for {event!r} within {wait}s")
            return responses[0]
        return responses

    async def _send_with_acks(
        self, namespace: str, request_id: str, data: list[Any], target: p.Target
    ) -> None:
        """The requester's own clients: counted and acked as if through Redis."""
        targets = select_targets(self.rooms.get(namespace), target.rooms, target.except_rooms)
        self._pending.feed(request_id, p.ClientCountResponse(request_id, len(targets)))
        if self.server is None:
            return
        for sid, eio_sid in targets:

            def on_ack(*ack: Any) -> None:
                self._pending.feed(request_id, p.AckResponse(request_id, list(ack[:1])))

            ack_id = self._generate_ack_id(sid, on_ack)
            pkt = self.server.packet_class(
                socketio.packet.EVENT, namespace=namespace, data=data, id=ack_id
            )
            await self.server._send_packet(eio_sid, pkt)
