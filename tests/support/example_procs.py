"""Helpers for tests/examples: example processes run from their documented command lines,
and python-socketio clients standing in for browsers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    async def wait_output(self, text: str, count: int = 1) -> None:
        """Until ``text`` has been printed ``count`` times."""
        deadline = time.monotonic() + START_TIMEOUT
        while self.output().count(text) < count:
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
