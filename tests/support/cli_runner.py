"""Run ``python -m socketio_redis_async`` as a user would: a real subprocess, real output.

:func:`run_cli` runs a command to its end; :class:`Monitor` starts ``monitor``, waits until
it says it is listening (its stderr line), reads its stdout while the test makes traffic,
and stops it with Ctrl-C (SIGINT) or lets ``--count``/``--duration`` end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CliResult", "Monitor", "run_cli"]

ROOT = Path(__file__).resolve().parents[2]  # the checkout whose package is under test


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socketio_redis_async",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(*args: str, timeout: float = 20.0) -> CliResult:
    proc = await _spawn(*args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"{args} did not end in {timeout} s; stderr: {err.decode()}") from None
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


class Monitor:
    """A running ``monitor`` command; use as ``async with Monitor(url, "--json") as m``."""

    def __init__(self, *args: str) -> None:
        self.args = ("monitor", *args)
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.banner = ""

    async def __aenter__(self) -> Monitor:
        self.proc = await _spawn(*self.args)
        assert self.proc.stderr is not None
        line = await asyncio.wait_for(self.proc.stderr.readline(), 20)
        self.banner = line.decode()
        if not self.banner.startswith("monitoring"):
            rest = await self.proc.stderr.read()
            raise AssertionError(f"monitor did not start: {self.banner}{rest.decode()}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def read_until(self, predicate: Any, timeout: float = 10.0) -> list[str]:
        """Read stdout lines until one satisfies ``predicate``; return every line so far."""
        assert self.proc is not None and self.proc.stdout is not None
        while not self.lines or not predicate(self.lines[-1]):
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                raise AssertionError(f"monitor ended early; got {self.lines}")
            self.lines.append(raw.decode().rstrip("\n"))
        return self.lines

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    async def interrupt(self) -> CliResult:
        """Ctrl-C, as a person would stop it; return the exit code and the rest."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return await self.finish()

    async def finish(self, timeout: float = 10.0) -> CliResult:
        assert self.proc is not None
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            raise AssertionError("monitor did not stop") from None
        self.lines += out.decode().splitlines()
        assert self.proc.returncode is not None
        return CliResult(self.proc.returncode, "\n".join(self.lines), err.decode())
