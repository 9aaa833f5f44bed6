"""Re-export of :mod:`socketio_redis_async.testing.socketio_servers` for the tests importing it."""

from __future__ import annotations

from socketio_redis_async.testing.socketio_servers import *  # noqa: F403
from socketio_redis_async.testing.socketio_servers import __all__ as __all__
