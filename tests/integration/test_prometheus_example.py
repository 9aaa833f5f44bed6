"""The Prometheus example serves the adapter's counters in the text exposition format."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from prometheus_metrics import make_app


async def test_metrics_endpoint(redis_url):
    app: web.Application = make_app(redis_url)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics")
        text = await response.text()
    assert response.status == 200
    assert "socketio_redis_connected 1" in text
    assert "# TYPE socketio_redis_published_total counter" in text
    assert "socketio_redis_pending_requests 0" in text
