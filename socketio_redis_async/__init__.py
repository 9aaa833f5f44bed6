"""socketio-redis-async: python-socketio servers clustered through Redis, speaking the wire
protocol of the Node.js ``@socket.io/redis-adapter`` so Python and Node servers mix freely."""

from .adapter import AsyncRedisAdapter
from .errors import AdapterClosedError, ProtocolError, SocketIORedisError
from .parser import JsonParser, MsgpackParser, Parser

__all__ = [
    "AdapterClosedError",
    "AsyncRedisAdapter",
    "JsonParser",
    "MsgpackParser",
    "Parser",
    "ProtocolError",
    "SocketIORedisError",
]

__version__ = "0.1.0"
