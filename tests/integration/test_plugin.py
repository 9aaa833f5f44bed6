"""The pytest plugin as users meet it: cheap to load, clear when Redis is missing, and the
``sio_servers`` factory with the sharded adapter on the session's Redis Cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from socketio_redis_async.testing import RedisCluster, SioServers, eventually

ROOT = Path(__file__).resolve().parents[2]
# the subprocesses import this checkout's package, whatever the venv has installed
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
# python-socketio (which imports aiohttp itself), the servers and the adapter's transports
HEAVY = ("socketio", "engineio", "aiohttp", "uvicorn", "socketio_redis_async.adapter")


def _pytest(path: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "socketio_redis_async.testing", *args, str(path)],
        cwd=path.parent, env=env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_loading_the_plugin_imports_no_server_stack() -> None:
    code = (
        "import sys, pytest\n"
        "import socketio_redis_async.testing\n"
        f"print(sorted(m for m in sys.modules if m in {HEAVY!r} or m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.strip() == "[]"


def test_missing_redis_server_fails_with_what_to_install(tmp_path: Path) -> None:
    test = tmp_path / "test_needs_redis.py"
    test.write_text("def test_it(redis_url):\n    pass\n")
    out = _pytest(test, env={**ENV, "PATH": str(tmp_path)})  # no redis-server on PATH
    assert "1 error" in out, out
    assert "redis-server not found on PATH" in out
    assert "apt-get install redis-server" in out
    assert "Traceback" not in out  # pytest.fail(pytrace=False): the message, not a stack


def test_a_suite_not_using_the_fixtures_runs_without_redis(tmp_path: Path) -> None:
    test = tmp_path / "test_plain.py"
    test.write_text("def test_it():\n    assert 1 + 1 == 2\n")
    out = _pytest(test, env={**ENV, "PATH": str(tmp_path)})
    assert "1 passed" in out, out


async def test_sharded_servers_share_the_cluster(
    redis_cluster: RedisCluster, sio_servers: SioServers
) -> None:
    a, b, c = await sio_servers(3, sharded=True, kinds=("asgi", "aiohttp"), clients=2)
    assert [s.kind for s in (a, b, c)] == ["asgi", "aiohttp", "asgi"]
    assert all(len(s.clients) == 2 for s in (a, b, c))
    await c.clients[1].join("room-1")
    await a.sio.emit("news", {"n": 1}, room="room-1")
    await eventually(lambda: c.clients[1].events("news") == [({"n": 1},)])
    await a.sio.emit("all", 2)
    for server in (a, b, c):
        for client in server.clients:
            await eventually(lambda client=client: client.events("all") == [(2,)])
    assert c.clients[0].events("news") == []


async def test_classic_servers_on_namespaces(sio_servers: SioServers) -> None:
    a, b = await sio_servers(namespaces=["/admin"])
    extra = await sio_servers.connect(b, ["/admin"])
    assert b.clients[-1] is extra
    await a.sio.emit("hi", namespace="/admin")
    for client in (b.clients[0], extra):
        await eventually(lambda client=client: client.events("hi", "/admin") == [()])
