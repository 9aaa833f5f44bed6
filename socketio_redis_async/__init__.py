"""socketio-redis-async: python-socketio servers clustered through Redis, speaking the wire
protocol of the Node.js ``@socket.io/redis-adapter`` so Python and Node servers mix freely."""

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

__version__ = "0.1.0"
