"""``RemoteSocket``: a socket of the cluster, wherever it is hosted (Node's RemoteSocket)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .protocol import Room

if TYPE_CHECKING:
    from .core import AdapterCore

__all__ = ["RemoteSocket"]


@dataclass(frozen=True, eq=False)
class RemoteSocket:
    """A snapshot of one socket, as ``fetch_sockets`` found it, and actions on it.

    ``handshake`` has Node's shape (headers, time, address, xdomain, secure, issued, url,
    query, auth); ``data`` is the python-socketio session (Node's ``socket.data``). The
    actions go through the cluster, so they work on whichever server hosts the socket.
    """

    id: str
    namespace: str
    handshake: Mapping[str, Any]
    rooms: frozenset[Room]
    data: Any = None
    _adapter: AdapterCore | None = field(default=None, repr=False)

    def _require_adapter(self) -> AdapterCore:
        if self._adapter is None:
            raise RuntimeError("this RemoteSocket is not attached to an adapter")
        return self._adapter

    async def emit(self, event: str, data: Any = None) -> None:
        """Emit to this socket (python-socketio's ``data`` convention: a tuple is many args)."""
        await self._require_adapter().emit(event, data, self.namespace, to=self.id)

    async def emit_with_ack(self, event: str, data: Any = None, *, timeout: float = 5.0) -> Any:
        """Emit and return the client's ack (its first argument, as Node forwards it)."""
        return await self._require_adapter().emit_with_ack(
            event, data, to=self.id, namespace=self.namespace, timeout=timeout, single=True
        )

    async def join(self, *rooms: Room) -> None:
        await self._require_adapter().sockets_join(list(rooms), self.namespace, to=self.id)

    async def leave(self, *rooms: Room) -> None:
        await self._require_adapter().sockets_leave(list(rooms), self.namespace, to=self.id)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from the namespace; ``close=True`` closes the whole connection."""
        await self._require_adapter().disconnect_sockets(self.namespace, to=self.id, close=close)
