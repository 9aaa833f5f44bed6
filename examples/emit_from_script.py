"""Emit to a Socket.IO cluster from a plain synchronous script: a cron job, a CLI, a
migration. No server, no event loop: the :class:`Emitter` publishes one message to Redis and
every server of the cluster (Python or Node) delivers it to the room's members::

    REDIS_URL=redis://localhost:6379/0 python examples/emit_from_script.py lobby "deploy done"
"""

from __future__ import annotations

import argparse
import os

from socketio_redis_async import Emitter


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("room", help="the room to emit to")
    parser.add_argument("text", help="the message")
    parser.add_argument("--event", default="said")
    args = parser.parse_args()
    with Emitter(os.environ.get("REDIS_URL", "redis://localhost:6379/0")) as emitter:
        emitter.to(args.room).emit(
            args.event, {"text": args.text, "server": "script", "pid": os.getpid()}
        )
    print(f"emitted {args.event!r} to room {args.room!r}")


if __name__ == "__main__":
    main()
