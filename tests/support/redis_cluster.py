"""Re-export of :mod:`socketio_redis_async.testing.cluster` for older imports."""

from __future__ import annotations

from socketio_redis_async.testing.cluster import *  # noqa: F403
from socketio_redis_async.testing.cluster import __all__ as __all__
