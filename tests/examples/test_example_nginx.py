"""examples/nginx_cluster.py: three aiohttp servers behind Debian's nginx, kept sticky by the
``io_server`` cookie nginx inserts, so Engine.IO long-polling works through it."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import aiohttp
from support.example_procs import EXAMPLES, PYTHON, Start
from support.redis_procs import free_port

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def nginx_found() -> str:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert binary, "nginx not found (scripts/bootstrap.sh installs Debian's nginx)"
    return binary


async def handshake(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    """A raw Engine.IO polling handshake: the new sid and the server named in the cookie."""
    async with http.get(url + HANDSHAKE) as response:
        assert response.status == 200
        sid = re.search(r'"sid":"([^"]+)"', await response.text())
        assert sid, await response.text()
        return sid.group(1), response.cookies["io_server"].value


async def test_polling_clients_through_nginx(start: Start, connect, tmp_path: Path) -> None:
    nginx_found()
    port = free_port()
    cluster = start(PYTHON, str(EXAMPLES / "nginx_cluster.py"), "--port", str(port),
                    "--prefix", str(tmp_path / "nginx"))  # fmt: skip
    await cluster.wait_output("nginx on http://")
    url = f"http://127.0.0.1:{port}"

    # Why stickiness is needed, and that the cookie provides it: a session's next request
    # fails on any other server, and succeeds on its own when the cookie is sent.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        wrong_sid, _ = await handshake(http, url)
        statuses = []
        for _ in range(3):  # round robin: at least two of these reach another server
            async with http.post(f"{url}{HANDSHAKE}&sid={wrong_sid}", data="40") as response:
                statuses.append(response.status)
        assert statuses.count(400) >= 2, statuses
        sid, server = await handshake(http, url)
        for _ in range(3):
            async with http.post(f"{url}{HANDSHAKE}&sid={sid}", data="40",
                                 cookies={"io_server": server}) as response:  # fmt: skip
                assert response.status == 200, await response.text()
        assert server in ("a", "b", "c")

    clients = [await connect(url, transports=["polling"]) for _ in range(6)]
    servers = [(await client.call("whoami"))["server"] for client in clients]
    assert sorted(set(servers)) == ["a", "b", "c"], servers
    for client in clients:
        assert await client.call("join", "everyone") is True
    for sender in clients[:3]:  # one sender per server
        text = f"hello from {(await sender.call('whoami'))['server']}"
        await sender.call("say", {"room": "everyone", "text": text})
        for client in clients:
            assert (await client.next_said())["text"] == text
    assert all(client.said.empty() for client in clients)  # exactly once each

    # Ctrl-C: the servers disconnect their clients (whose long-polls are pending) and exit.
    # (A polling client that disconnects itself from python-engineio waits for the pending
    # poll, up to the 25 s ping interval, so the servers go first here.)
    assert await cluster.stop(signal.SIGINT, timeout=10) == 0, cluster.describe()
    output = cluster.output()
    # Only the deliberate requests above met a server that did not know their session.
    assert set(re.findall(r"Invalid session (\S+)", output)) == {wrong_sid}, output
    assert "[error]" not in output and "[emerg]" not in output, output
