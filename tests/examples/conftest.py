"""Run the examples as a user would: real processes from their documented command lines,
real loopback ports, a private redis-server, and python-socketio clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from support.example_procs import EVENT_TIMEOUT, ROOT, Client, Process, Start


@pytest.fixture
def start(tmp_path: Path, redis_url: str) -> Iterator[Start]:
    """``start(*args, **env)`` runs a command in the repository root with ``$REDIS_URL`` set
    to the private Redis; everything still running at teardown is killed."""
    procs: list[Process] = []
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    def run(*args: str, **env: str) -> Process:
        full_env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": pythonpath, **env}
        log = tmp_path / f"proc{len(procs)}-{Path(args[min(2, len(args) - 1)]).name}.log"
        procs.append(Process(args, full_env, log))
        return procs[-1]

    yield run
    for proc in procs:
        proc.kill()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    """``await connect(url, transports=[...])`` -> a connected :class:`Client`; all are
    disconnected at teardown."""
    clients: list[Client] = []
    sessions: list[aiohttp.ClientSession] = []

    async def make(url: str, transports: Sequence[str] = ("websocket",)) -> Client:
        # Browsers keep cookies for 127.0.0.1; aiohttp's default jar drops cookies of IP
        # hosts, which would break cookie-based stickiness (see examples/nginx).
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(http)
        client = Client(socketio.AsyncClient(reconnection=False, http_session=http))
        client.sio.on("said", client.said.put_nowait)
        clients.append(client)
        await client.sio.connect(url, transports=list(transports), wait_timeout=EVENT_TIMEOUT)
        return client

    yield make
    # A polling client's disconnect() waits for its pending long-poll, which python-engineio
    # servers answer only at the next ping (25 s): tests stop those servers first. If a test
    # failed before that, do not wait for the ping here.
    disconnects = asyncio.gather(*(client.sio.disconnect() for client in clients))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(disconnects, 2)
    for http in sessions:
        await http.close()
