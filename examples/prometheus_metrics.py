"""Expose the adapter's counters to Prometheus, without extra dependencies.

``mgr.stats()`` is a plain dict of counters; this serves it in Prometheus' text format at
``/metrics`` next to the Socket.IO endpoint of an aiohttp app::

    python examples/prometheus_metrics.py            # then: curl localhost:8080/metrics

With ``prometheus_client`` installed you would instead register a custom collector that
yields a ``CounterMetricFamily`` per key of ``mgr.stats()``.
"""

from __future__ import annotations

import os

import socketio
from aiohttp import web

from socketio_redis_async import AsyncRedisAdapter

GAUGES = {"pending_requests"}  # everything else only ever grows


def render(stats: dict[str, int], connected: bool) -> str:
    lines = [
        "# TYPE socketio_redis_connected gauge",
        f"socketio_redis_connected {int(connected)}",
    ]
    for name, value in sorted(stats.items()):
        kind = "gauge" if name in GAUGES else "counter"
        metric = f"socketio_redis_{name}" + ("" if kind == "gauge" else "_total")
        lines += [f"# TYPE {metric} {kind}", f"{metric} {value}"]
    return "\n".join(lines) + "\n"


def make_app(redis_url: str) -> web.Application:
    mgr = AsyncRedisAdapter(redis_url)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr)
    app = web.Application()
    sio.attach(app)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=render(mgr.stats(), mgr.connected), content_type="text/plain")

    async def start(app: web.Application) -> None:
        await mgr.start()

    async def stop(app: web.Application) -> None:
        await mgr.aclose()

    app.router.add_get("/metrics", metrics)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ.get("REDIS_URL", "redis://localhost:6379/0")), port=8080)
