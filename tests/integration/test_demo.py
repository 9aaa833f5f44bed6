"""examples/demo.py, as a user runs it: two servers, one Redis, PASS; the chat page works."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-u", str(ROOT / "examples" / "demo.py"), "--port-a", "0", "--port-b", "0"]


def demo_env(redis_url: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": path}


def test_demo_passes(redis_url: str) -> None:
    done = subprocess.run(
        DEMO, env=demo_env(redis_url), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout.splitlines()
    assert "seen on B via Redis" in done.stdout
    assert "seen on A via Redis" in done.stdout
    assert redis_url in done.stdout


async def test_chat_page_and_its_raw_websocket_protocol(redis_url: str) -> None:
    """What chat.html does in a browser, step by step, against both servers of --serve."""
    proc = await asyncio.create_subprocess_exec(
        *DEMO, "--serve", env=demo_env(redis_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    output = ""
    try:
        while "Ctrl-C" not in output:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, output
            output += line.decode()
        url_a, url_b = re.findall(r"open (http://\S+)/ and (http://\S+)/", output)[0]
        async with aiohttp.ClientSession() as http:
            sockets = []
            for url in (url_a, url_b):
                async with http.get(url + "/") as page:
                    assert page.status == 200
                    assert page.content_type == "text/html"
                    assert "new WebSocket(" in await page.text()
                ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
                ws = await http.ws_connect(ws_url)
                assert (await ws.receive_str()).startswith("0{")
                await ws.send_str("40")
                assert (await ws.receive_str()).startswith('40{"sid":')
                sockets.append(ws)
            a, b = sockets
            await a.send_str("42" + json.dumps(["chat", {"name": "web", "text": "hello"}]))
            for ws in (b, a):
                text = await asyncio.wait_for(ws.receive_str(), 5)
                event, message = json.loads(text[2:])
                assert (event, message["text"], message["server"]) == ("chat", "hello", "A")
            for ws in sockets:
                await ws.close()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
