"""Celery tasks that emit to Socket.IO clients when their work is done.

A worker runs no Socket.IO server: the synchronous :class:`Emitter` publishes to the
adapter's Redis channel, and the servers deliver the event to their clients. Redis is also
the broker here (``$CELERY_BROKER_URL``, by default ``$REDIS_URL``)::

    REDIS_URL=redis://localhost:6379/0 celery --workdir examples -A celery_tasks worker
    REDIS_URL=redis://localhost:6379/0 python examples/celery_web.py   # calls notify.delay()
"""

from __future__ import annotations

import functools
import os

from celery import Celery

from socketio_redis_async import Emitter

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")

app = Celery("celery_tasks", broker=os.environ.get("CELERY_BROKER_URL", REDIS_URL))
app.conf.broker_connection_retry_on_startup = True


@functools.cache
def emitter() -> Emitter:
    """One emitter per worker process, made on first use (so after the prefork pool forks)."""
    return Emitter(REDIS_URL)


@app.task  # type: ignore[untyped-decorator]
def notify(room: str, text: str) -> None:
    """The work a web request should not wait for, then a ``said`` event to the room."""
    emitter().to(room).emit("said", {"text": text.upper(), "server": "celery", "pid": os.getpid()})
