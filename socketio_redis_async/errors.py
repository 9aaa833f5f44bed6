"""Exceptions raised by socketio-redis-async.

::

    SocketIORedisError
     ├── ProtocolError        a message from Redis that does not follow the wire protocol
     └── AdapterClosedError   the adapter was used after aclose()
"""

from __future__ import annotations

__all__ = ["AdapterClosedError", "ProtocolError", "SocketIORedisError"]


class SocketIORedisError(Exception):
    """Base class of every error this package raises on purpose."""


class ProtocolError(SocketIORedisError):
    """A message read from Redis is malformed; it is logged and dropped, never fatal."""


class AdapterClosedError(SocketIORedisError):
    """The adapter was closed; create a new one instead of reusing it."""
