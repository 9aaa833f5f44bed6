"""Run the examples as a user would: real processes from their documented command lines,
real loopback ports, a private redis-server, and python-socketio clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PYTHON = sys.executable
START_TIMEOUT = 15.0
EVENT_TIMEOUT = 5.0


class Process:
    """One example process; its output goes to a file, shown when something fails."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.args = list(args)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def describe(self) -> str:
        return f"$ {' '.join(self.args)}\n{self.output()}"

    async def wait_port(self, port: int) -> None:
        """Until something accepts on ``port``; fails early if the process exits."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                assert self.proc.poll() is None, f"exited {self.proc.returncode}\n{self.describe()}"
                assert time.monotonic() < deadline, f"not listening on {port}\n{self.describe()}"
                await asyncio.sleep(0.05)
            else:
                writer.close()
                await writer.wait_closed()
                return

    async def wait_output(self, text: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while text not in self.output():
            assert self.proc.poll() is None, f"exited {self.proc.returncode}\n{self.describe()}"
            assert time.monotonic() < deadline, f"{text!r} never printed\n{self.describe()}"
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the process (as Ctrl-C or a service manager would) and wait for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return await self.wait(timeout)

    async def wait(self, timeout: float = 10.0) -> int:
        """The exit status; the process is killed if it runs longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"did not end within {timeout} s\n{self.describe()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        """The whole process group: uvicorn's workers, Celery's pool, nginx's worker."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


Start = Callable[..., Process]


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


@dataclass
class Client:
    """A python-socketio client (the browser's stand-in) collecting ``said`` events."""

    sio: socketio.AsyncClient
    said: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def call(self, event: str, data: Any = None) -> Any:
        args = () if data is None else (data,)
        return await self.sio.call(event, *args, timeout=EVENT_TIMEOUT)

    async def next_said(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.said.get(), EVENT_TIMEOUT)

    async def nothing_said(self, wait: float = 0.3) -> bool:
        await asyncio.sleep(wait)
        return self.said.empty()


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
