"""The web side of the Celery example: a socket event handler hands work to a Celery task.

The ``order`` event queues ``notify.delay(room, text)`` and answers at once; a Celery worker
(see ``celery_tasks.py``) runs the task and emits ``said`` to the room from its own process::

    REDIS_URL=redis://localhost:6379/0 python examples/celery_web.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from aiohttp import web
from aiohttp_app import SIO, make_app
from celery_tasks import notify


def make_celery_web(redis_url: str) -> web.Application:
    app = make_app(redis_url, "celery-web")
    sio = app[SIO]

    @sio.event  # type: ignore[untyped-decorator]
    async def order(sid: str, data: dict[str, Any]) -> str:
        # delay() sends to the broker with a blocking client: keep it off the event loop.
        result = await asyncio.to_thread(notify.delay, str(data["room"]), str(data["text"]))
        return str(result.id)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    app = make_celery_web(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    web.run_app(app, host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
