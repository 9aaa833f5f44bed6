"""examples/asgi_app.py and examples/fastapi_app.py under ``uvicorn --workers 2``: two worker
processes, each with its own adapter, form a cluster through Redis."""

from __future__ import annotations

import signal

import aiohttp
import pytest
from support.example_procs import PYTHON, Start
from support.redis_procs import free_port

MAX_CLIENTS = 30  # the kernel spreads connections over the workers; 30 never all on one


@pytest.mark.parametrize("app", ["asgi_app:app", "fastapi_app:app"])
async def test_two_workers_share_the_adapter(start: Start, connect, app: str) -> None:
    port = free_port()
    uvicorn = start(PYTHON, "-m", "uvicorn", "--app-dir", "examples", app, "--workers", "2",
                    "--host", "127.0.0.1", "--port", str(port))  # fmt: skip
    await uvicorn.wait_output("Application startup complete", count=2)  # both workers
    url = f"http://127.0.0.1:{port}"
    by_pid = {}
    for _ in range(MAX_CLIENTS):  # --workers shares one port: connect until both answered
        client = await connect(url)  # WebSocket only: see asgi_app.py
        by_pid.setdefault((await client.call("whoami"))["pid"], client)
        if len(by_pid) == 2:
            break
    assert len(by_pid) == 2, f"all {MAX_CLIENTS} clients reached one worker\n{uvicorn.describe()}"
    assert uvicorn.pid not in by_pid  # the workers answer, not the supervisor
    (pid_a, a), (pid_b, b) = by_pid.items()
    for client in (a, b):
        assert await client.call("join", "lobby") is True

    await a.call("say", {"room": "lobby", "text": "from a"})
    for client in (a, b):
        assert (await client.next_said())["pid"] == pid_a
    await b.call("say", {"room": "lobby", "text": "from b"})
    for client in (a, b):
        assert (await client.next_said())["pid"] == pid_b

    if app.startswith("fastapi"):  # an HTTP route reaches the clients of both workers
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/rooms/lobby", json={"text": "from http"}) as response,
        ):
            assert response.status == 200
        for client in (a, b):
            assert (await client.next_said())["text"] == "from http"

    for client in (a, b):
        await client.sio.disconnect()
    assert await uvicorn.stop(signal.SIGINT, timeout=10) == 0
    assert uvicorn.output().count("Application shutdown complete") == 2  # both lifespans ran
