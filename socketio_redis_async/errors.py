"""Exceptions raised by socketio-redis-async.

::

    SocketIORedisError
     ├── ProtocolError        a message from Redis that does not follow the wire protocol
     ├── AdapterClosedError   the adapter was used after aclose()
     ├── ConnectionFailedError  Redis refused or could not be reached at start-up
     │                          (also a ConnectionError)
     ├── PublishError         a publish failed, raised only in strict mode
     └── RequestTimeoutError  other servers did not all answer in time (also a TimeoutError)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdapterClosedError",
    "ConnectionFailedError",
    "ProtocolError",
    "PublishError",
    "RequestTimeoutError",
    "SocketIORedisError",
]


class SocketIORedisError(Exception):
    """Base class of every error this package raises on purpose."""


class ProtocolError(SocketIORedisError):
    """A message read from Redis is malformed; it is logged and dropped, never fatal."""


class AdapterClosedError(SocketIORedisError):
    """The adapter was closed; create a new one instead of reusing it."""


class ConnectionFailedError(SocketIORedisError, ConnectionError):
    """Redis could not be used at start-up: unreachable, or it refused our credentials.

    The message names the server without its password.
    """


class PublishError(SocketIORedisError):
    """A message could not be handed to Redis (raised only with ``strict=True``)."""


class RequestTimeoutError(SocketIORedisError, TimeoutError):
    """A cluster request ended at its deadline before every server answered.

    ``responses`` holds what did arrive, so a caller can still use a partial result.
    """

    def __init__(
        self, operation: str, responses: list[Any], answered: int, expected: int | None
    ) -> None:
        if expected is None:
            detail = "Redis did not answer in time"
        else:
            detail = f"{answered} of {expected} other server(s) answered"
        super().__init__(f"{operation} timed out: {detail}")
        self.operation = operation
        self.responses = responses
        self.answered = answered
        self.expected = expected
