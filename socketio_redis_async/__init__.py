"""socketio-redis-async: python-socketio servers clustered through Redis, speaking the wire
protocol of the Node.js ``@socket.io/redis-adapter`` so Python and Node servers mix freely.

The public names load on first use (PEP 562), so importing a submodule, such as the pytest
plugin :mod:`socketio_redis_async.testing` or the version below, does not pull in
python-socketio and the transports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import AsyncRedisAdapter
    from .emitter import AsyncEmitter, Emitter
    from .errors import (
        AdapterClosedError,
        ConnectionFailedError,
        ProtocolError,
        PublishError,
        RequestTimeoutError,
        SocketIORedisError,
    )
    from .parser import JsonParser, MsgpackParser, Parser
    from .remote_socket import RemoteSocket
    from .sharded import AsyncShardedRedisAdapter
    from .streams import AsyncRedisStreamsAdapter

# The one place the version is written: setuptools reads it for the distribution's metadata.
__version__ = "0.1.0"

_HOMES = {
    "AdapterClosedError": "errors",
    "AsyncEmitter": "emitter",
    "AsyncRedisAdapter": "adapter",
    "AsyncRedisStreamsAdapter": "streams",
    "AsyncShardedRedisAdapter": "sharded",
    "ConnectionFailedError": "errors",
    "Emitter": "emitter",
    "JsonParser": "parser",
    "MsgpackParser": "parser",
    "Parser": "parser",
    "ProtocolError": "errors",
    "PublishError": "errors",
    "RemoteSocket": "remote_socket",
    "RequestTimeoutError": "errors",
    "SocketIORedisError": "errors",
}

__all__ = [
    "AdapterClosedError",
    "AsyncEmitter",
    "AsyncRedisAdapter",
    "AsyncRedisStreamsAdapter",
    "AsyncShardedRedisAdapter",
    "ConnectionFailedError",
    "Emitter",
    "JsonParser",
    "MsgpackParser",
    "Parser",
    "ProtocolError",
    "PublishError",
    "RemoteSocket",
    "RequestTimeoutError",
    "SocketIORedisError",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
