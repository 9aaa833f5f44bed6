"""Exceptions raised by socketio-redis-async.

::

    SocketIORedisError
     ├── ProtocolError        a message from Redis that does not follow the wire protocol
     ├── AdapterClosedError   the adapter was used after aclose()
     └── RequestTimeoutError  other servers did not all answer in time (also a TimeoutError)
"""

from __future__ import annotations

from typing import Any

__all__ = ["AdapterClosedError", "ProtocolError", "RequestTimeoutError", "SocketIORedisError"]


class SocketIORedisError(Exception):
    """Base class of every error this package raises on purpose."""


class ProtocolError(SocketIORedisError):
    """A message read from Redis is malformed; it is logged and dropped, never fatal."""


class AdapterClosedError(SocketIORedisError):
    """The adapter was closed; create a new one instead of reusing it."""


class RequestTimeoutError(SocketIORedisError, TimeoutError):
    """A cluster request ended at its deadline before every server answered.

    ``responses`` holds what did arrive, so a caller can still use a partial result.
    """

    def __init__(self, operation: str, responses: list[Any], answered: int, expected: int) -> None:
        super().__init__(
            f"{operation} timed out: {answered} of {expected} other server(s) answered"
        )
        self.operation = operation
        self.responses = responses
        self.answered = answered
        self.expected = expected
