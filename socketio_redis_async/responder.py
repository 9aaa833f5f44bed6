"""Answering the requests other servers (Node or Python) and emitters publish.

Every request type of the classic protocol is honoured with exactly the fields Node expects,
including empty answers: a server that stays silent makes a Node requester wait for its
timeout (or reject), since each subscribed server counts in ``PUBSUB NUMSUB``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import socketio

from . import protocol as p
from .errors import ProtocolError
from .handshake import build_handshake
from .local import encode_event, select_targets
from .parser import to_js_value

__all__ = ["RequestResponder", "ServerSideHandler"]

ServerSideHandler = Callable[..., Any]


class RequestResponder:
    """Mixin of :class:`AsyncRedisAdapter`: the request side of the protocol."""

    if TYPE_CHECKING:
        rooms: dict[str, dict[Any, Any]]
        server: Any
        logger: logging.Logger
        _uid: str
        _connected_at: dict[tuple[str, str], float]
        _server_side_handlers: dict[tuple[str, str], ServerSideHandler]

        def _hosts(self, sid: str, namespace: str) -> bool: ...
        def _spawn(self, coro: Any) -> None: ...
        def basic_enter_room(
            self, sid: str, namespace: str, room: Any, eio_sid: Any = ...
        ) -> None: ...
        def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None: ...
        def get_rooms(self, sid: str, namespace: str) -> list[Any]: ...
        def _generate_ack_id(self, sid: str, callback: Callable[..., Any]) -> int: ...
        async def _publish_response(
            self,
            namespace: str,
            requester: str | None,
            response: p.AnyResponse,
            *,
            shared: bool = False,
        ) -> None: ...

    async def _on_request(self, namespace: str, request: p.AnyRequest) -> None:
        """Honour a request another server (or an emitter) published, whatever its wire."""
        if request.uid == self._uid:
            return  # our own: applied locally before publishing, or answered locally
        match request:
            case p.JoinLeaveRequest():
                self._join_or_leave(namespace, request.target, request.rooms, request.join)
            case p.LegacyJoinLeaveRequest():
                if self._hosts(request.sid, namespace):
                    self._join_or_leave(
                        namespace, p.Target((request.sid,)), (request.room,), request.join
                    )
                    await self._answer_legacy(namespace, request.uid, request.request_id)
            case p.DisconnectRequest():
                await self._disconnect_targets(namespace, request.target, request.close)
            case p.LegacyDisconnectRequest():
                if self._hosts(request.sid, namespace):
                    await self._disconnect_targets(
                        namespace, p.Target((request.sid,)), request.close
                    )
                    await self._answer_legacy(namespace, request.uid, request.request_id)
            case p.BroadcastRequest():
                await self._broadcast_with_acks(namespace, request)
            case p.SocketsRequest():
                sids = [sid for sid, _ in select_targets(self.rooms.get(namespace), request.rooms)]
                await self._publish_response(
                    namespace, request.uid, p.ValueResponse(request.request_id, {"sockets": sids})
                )
            case p.RoomsRequest():
                await self._publish_response(
                    namespace,
                    request.uid,
                    p.ValueResponse(request.request_id, {"rooms": self._local_rooms(namespace)}),
                )
            case p.FetchRequest():
                sockets = await self._socket_details(namespace, request.target)
                await self._publish_response(
                    namespace,
                    request.uid,
                    p.ValueResponse(request.request_id, {"sockets": sockets}),
                )
            case p.ServerSideEmitRequest():
                self._on_server_side_emit(namespace, request)

    def _local_rooms(self, namespace: str) -> list[Any]:
        return [room for room in self.rooms.get(namespace, {}) if room is not None]

    def _join_or_leave(
        self, namespace: str, target: p.Target, rooms: Iterable[p.Room], join: bool
    ) -> None:
        namespace_rooms = self.rooms.get(namespace)
        sids = namespace_rooms.get(None, {}) if namespace_rooms else {}
        for sid, eio_sid in select_targets(namespace_rooms, target.rooms, target.except_rooms):
            for room in rooms:
                if join:
                    if room in sids and room != sid:
                        continue  # python-socketio forbids entering another socket's room
                    self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
                else:
                    self.basic_leave_room(sid, namespace, room)

    async def _answer_legacy(
        self, namespace: str, requester: str | None, request_id: str | None
    ) -> None:
        if request_id is not None:
            await self._publish_response(namespace, requester, p.ValueResponse(request_id, {}))

    async def _disconnect_targets(self, namespace: str, target: p.Target, close: bool) -> None:
        if self.server is None:
            return
        for sid, eio_sid in select_targets(
            self.rooms.get(namespace), target.rooms, target.except_rooms
        ):
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
            if close:
                await self.server.eio.disconnect(eio_sid)

    async def _broadcast_with_acks(self, namespace: str, request: p.BroadcastRequest) -> None:
        """Node's BROADCAST: one client count, then one BROADCAST_ACK per acking client.

        Like Node, the count is published even when it is zero, so the requester can tell
        this server has answered; and like Node, only rooms/except apply, not the flags.
        """
        if self.server is None:
            return
        targets = select_targets(
            self.rooms.get(namespace), request.target.rooms, request.target.except_rooms
        )
        data = to_js_value(request.data)
        try:
            encode_event(self.server, namespace, data)
        except (TypeError, ValueError) as exc:  # refused before answering: no half-done work
            raise ProtocolError(f"broadcast cannot be sent to clients: {exc}") from exc
        await self._publish_response(
            namespace, request.uid, p.ClientCountResponse(request.request_id, len(targets))
        )
        for sid, eio_sid in targets:
            on_ack = functools.partial(self._forward_ack, namespace, request)
            ack_id = self._generate_ack_id(sid, on_ack)
            pkt = self.server.packet_class(
                socketio.packet.EVENT, namespace=namespace, data=data, id=ack_id
            )
            await self.server._send_packet(eio_sid, pkt)

    async def _forward_ack(self, namespace: str, request: p.BroadcastRequest, *args: Any) -> None:
        await self._publish_response(
            namespace, request.uid, p.AckResponse(request.request_id, list(args[:1]))
        )

    async def _socket_details(self, namespace: str, target: p.Target) -> list[dict[str, Any]]:
        """Node's SocketDetails for REMOTE_FETCH: id, handshake, rooms (sid first), data."""
        if self.server is None:
            return []
        details = []
        for sid, eio_sid in select_targets(
            self.rooms.get(namespace), target.rooms, target.except_rooms
        ):
            rooms = [sid, *(r for r in self.get_rooms(sid, namespace) if r != sid)]
            socket: dict[str, Any] = {
                "id": sid,
                "handshake": build_handshake(
                    self.server.environ.get(eio_sid, {}),
                    self._connected_at.get((namespace, sid), time.time()),
                ),
                "rooms": rooms,
            }
            try:
                session = await self.server.get_session(sid, namespace=namespace)
            except KeyError:
                session = None
            if session is not None:
                socket["data"] = session
            details.append(socket)
        return details

    def _on_server_side_emit(self, namespace: str, request: p.ServerSideEmitRequest) -> None:
        """Run the handler registered with ``on()`` in its own task (never in the reader).

        With a request id the handler's return value is the ack: like Node, the answer goes
        to the shared response channel. No handler means no answer, as in Node.
        """
        event, *args = request.data
        handler = self._server_side_handlers.get((namespace, event))
        if handler is None:
            return
        self._spawn(self._run_server_side_handler(namespace, request, handler, args))

    async def _run_server_side_handler(
        self,
        namespace: str,
        request: p.ServerSideEmitRequest,
        handler: ServerSideHandler,
        args: list[Any],
    ) -> None:
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
        if request.request_id is not None:
            answer = [] if result is None else [result]
            await self._publish_response(
                namespace,
                request.uid,
                p.ServerSideEmitResponse(request.request_id, answer),
                shared=True,
            )
