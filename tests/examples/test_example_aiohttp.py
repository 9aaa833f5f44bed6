"""examples/aiohttp_app.py and examples/emit_from_script.py, run from their command lines."""

from __future__ import annotations

import signal

from support.example_procs import EXAMPLES, PYTHON, Start
from support.redis_procs import free_port


async def test_two_aiohttp_servers_share_rooms_and_stop_cleanly(start: Start, connect) -> None:
    ports = [free_port(), free_port()]
    servers = [
        start(PYTHON, str(EXAMPLES / "aiohttp_app.py"), "--port", str(port), "--name", name)
        for port, name in zip(ports, ("one", "two"), strict=True)
    ]
    for server, port in zip(servers, ports, strict=True):
        await server.wait_port(port)
    alice = await connect(f"http://127.0.0.1:{ports[0]}", transports=["polling"])
    bob = await connect(f"http://127.0.0.1:{ports[1]}")
    outsider = await connect(f"http://127.0.0.1:{ports[1]}")
    assert (await alice.call("whoami"))["server"] == "one"
    assert (await bob.call("whoami"))["server"] == "two"
    assert await alice.call("join", "lobby") is True
    assert await bob.call("join", "lobby") is True

    assert await alice.call("say", {"room": "lobby", "text": "hi bob"}) is True
    for client in (alice, bob):
        message = await client.next_said()
        assert (message["text"], message["server"]) == ("hi bob", "one")
    assert await outsider.nothing_said()

    # SIGTERM with a long-poll pending: on_shutdown disconnects it, on_cleanup closes the
    # adapter; the server must not wait for the 25 s ping interval.
    assert await servers[0].stop(signal.SIGTERM, timeout=3) == 0
    # Ctrl-C with WebSocket clients: python-engineio sends them CLOSE but leaves closing the
    # socket to the client, which python-socketio's client does after about 5 s.
    assert await servers[1].stop(signal.SIGINT, timeout=10) == 0


async def test_emit_from_a_plain_script(start: Start, connect) -> None:
    port = free_port()
    server = start(PYTHON, str(EXAMPLES / "aiohttp_app.py"), "--port", str(port))
    await server.wait_port(port)
    member = await connect(f"http://127.0.0.1:{port}")
    outsider = await connect(f"http://127.0.0.1:{port}")
    await member.call("join", "ops")

    script = start(PYTHON, str(EXAMPLES / "emit_from_script.py"), "ops", "deploy done")
    assert await script.wait() == 0, script.describe()
    assert "emitted 'said' to room 'ops'" in script.output()
    message = await member.next_said()
    assert (message["text"], message["server"]) == ("deploy done", "script")
    assert message["pid"] == script.pid
    assert await outsider.nothing_said()
