"""``python -m socketio_redis_async``: the same command line as ``socketio-redis-async``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
