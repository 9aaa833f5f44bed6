"""One python-socketio server of the benchmark cluster, run under Uvicorn (one worker).

    python bench/py_server.py --impl ours|manager --port P --redis URL --role NAME [--key K]
                              [--loop asyncio|uvloop] [--ping-interval S]

``--role`` only names the server in its log lines (bench/run.py: A or B). ``--ping-interval``
(seconds, default python-engineio's 25) is raised by bench/scale.py, whose idle clients of
the other implementations would otherwise be pinged during a measurement.

``ours`` is ``socketio_redis_async.AsyncRedisAdapter``; ``manager`` is python-socketio's own
``socketio.AsyncRedisManager``. Both get the same app, event loop and Uvicorn settings.

Events (the same in bench/node/server.js):
  ``join`` room | [rooms]  -> enter the room(s), ack ``true``               (namespace ``/``)
  ``bench:warm`` {k}       -> ``emit("w", {"k": k})`` to everyone on ``/``, ack ``true``
  ``bench:run`` {...}      -> the emit loop below, ack ``{first_send, last_send, count}``
The last two are sent by the load generator's control client, in namespace ``/bench`` so
that no broadcast reaches it; every broadcast goes to namespace ``/``.

The emit loop is deliberately plain: ``await sio.emit("m", {"seq", "t", "pad"}, to=room)``
back to back, or paced at ``rate`` broadcasts per second. ``t`` is the send time in
milliseconds on the clock of bench/clock.py, which the load generator subtracts from the
same clock on receipt.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import socketio
import uvicorn

# Run from a checkout without installing: the package is one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clock import now_ms

CONTROL_NAMESPACE = "/bench"


def build_manager(impl: str, redis_url: str, key: str) -> Any:
    if impl == "ours":
        from socketio_redis_async import AsyncRedisAdapter

        return AsyncRedisAdapter(redis_url, key=key)
    if impl == "manager":
        return socketio.AsyncRedisManager(redis_url, channel=key)
    raise SystemExit(f"unknown --impl {impl!r}")


def pad_for(payload_size: int) -> str:
    """Padding so that the JSON of ``{"seq", "t", "pad"}`` is about ``payload_size`` bytes."""
    overhead = len('{"seq":12345,"t":12345678.123,"pad":""}')
    return "x" * max(0, payload_size - overhead)


def build_app(
    impl: str, redis_url: str, key: str, role: str, ping_interval: float | None = None
) -> socketio.ASGIApp:
    mgr = build_manager(impl, redis_url, key)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=mgr,
        cors_allowed_origins="*",
        logger=False,
        **({"ping_interval": ping_interval} if ping_interval else {}),
    )

    @sio.on("join")
    async def join(sid: str, rooms: Any) -> bool:
        for room in rooms if isinstance(rooms, list) else [rooms]:
            await sio.enter_room(sid, room)
        return True

    # The control client lives in its own namespace, so that broadcasts on "/" never reach it.
    @sio.on("bench:warm", namespace=CONTROL_NAMESPACE)
    async def warm(sid: str, params: dict[str, Any]) -> bool:
        await sio.emit("w", {"k": params.get("k", 0)})
        return True

    @sio.on("bench:run", namespace=CONTROL_NAMESPACE)
    async def run(sid: str, params: dict[str, Any]) -> dict[str, Any]:
        count = int(params["count"])
        rate = float(params.get("rate") or 0)
        rooms = list(params.get("rooms") or [])
        pad = pad_for(int(params.get("payload_size", 100)))
        n_rooms = len(rooms)
        first_send = now_ms()
        start = time.perf_counter()
        for i in range(count):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sio.emit(
                "m",
                {"seq": i, "t": now_ms(), "pad": pad},
                to=rooms[i % n_rooms] if n_rooms else None,
            )
        last_send = now_ms()
        return {"first_send": first_send, "last_send": last_send, "count": count}

    async def on_startup() -> None:
        # Subscribe before the first client, the same way for both implementations:
        # python-socketio would only call initialize() on the first connection.
        sio.manager_initialized = True
        sio.manager.initialize()
        start = getattr(mgr, "start", None)
        if start is not None:
            await start()

    async def on_shutdown() -> None:
        close = getattr(mgr, "aclose", None)
        if close is not None:
            await close()

    return socketio.ASGIApp(sio, on_startup=on_startup, on_shutdown=on_shutdown)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=["ours", "manager"], required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--role", required=True)
    ap.add_argument("--key", default="bench")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--ping-interval", type=float, help="seconds (default: python-engineio's)")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s [{args.impl} {args.role}] %(message)s"
    )
    app = build_app(args.impl, args.redis, args.key, args.role, args.ping_interval)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop=args.loop,
        http="h11",
        ws="auto",
        ws_per_message_deflate=False,  # as Node's socket.io default; clients offer none either
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
