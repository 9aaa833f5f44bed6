"""A mixed cluster: examples/node_server.js (@socket.io/redis-adapter) and
examples/aiohttp_app.py share rooms through one Redis."""

from __future__ import annotations

import shutil
import signal

from support.example_procs import EXAMPLES, PYTHON, ROOT, Start
from support.redis_procs import free_port

NODE_MODULES = ROOT / "tests" / "interop" / "node" / "node_modules"


async def test_node_and_python_servers_share_rooms(start: Start, connect) -> None:
    node_binary = shutil.which("node")
    assert node_binary, "node not found (scripts/bootstrap.sh checks for Node.js >= 18)"
    assert (NODE_MODULES / "@socket.io" / "redis-adapter").is_dir(), "run scripts/bootstrap.sh"
    py_port, node_port = free_port(), free_port()
    python = start(PYTHON, str(EXAMPLES / "aiohttp_app.py"), "--port", str(py_port))
    node = start(node_binary, str(EXAMPLES / "node_server.js"), "--port", str(node_port),
                 NODE_PATH=str(NODE_MODULES))  # fmt: skip
    await python.wait_port(py_port)
    await node.wait_output("node server node on")

    on_python = await connect(f"http://127.0.0.1:{py_port}")
    on_node = await connect(f"http://127.0.0.1:{node_port}", transports=["polling"])
    outsider = await connect(f"http://127.0.0.1:{node_port}")
    assert (await on_python.call("whoami"))["server"] == "aiohttp"
    assert await on_node.call("whoami") == {"server": "node", "pid": node.pid}
    for client in (on_python, on_node):
        assert await client.call("join", "mixed") is True

    await on_python.call("say", {"room": "mixed", "text": "from python"})
    for client in (on_python, on_node):
        message = await client.next_said()
        assert (message["text"], message["server"]) == ("from python", "aiohttp")
    await on_node.call("say", {"room": "mixed", "text": "from node"})
    for client in (on_python, on_node):
        message = await client.next_said()
        assert message == {"text": "from node", "server": "node", "pid": node.pid}
    assert await outsider.nothing_said()

    for client in (on_node, outsider):
        await client.sio.disconnect()
    assert await node.stop(signal.SIGTERM, timeout=5) == 0
