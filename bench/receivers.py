"""The receiving side of bench/sharded.py and bench/streams.py: real websocket clients in
child processes, the broadcast plan they expect, and CPU time read from /proc.

Every implementation is measured by the same clients, outside the servers' process, so the
receiving cost is not charged to the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import socketio
from clock import now_ms

DELIVERY_TIMEOUT = 300.0
IDLE_TIMEOUT = 10.0  # clients give up once nothing came for this long (lost messages)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is index 0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def room_order(rooms: int, broadcasts: int) -> list[str]:
    """The K room names in round-robin order, rotated so that the last broadcast goes to
    ``room-0``, which always has clients: its delivery closes the timed window."""
    return [f"room-{(j - (broadcasts - 1)) % rooms}" for j in range(rooms)]


def per_room(order: list[str], broadcasts: int) -> dict[str, int]:
    """How many of ``broadcasts`` sent round-robin over ``order`` each room gets."""
    counts = {room: broadcasts // len(order) for room in order}
    for room in order[: broadcasts % len(order)]:
        counts[room] += 1
    return counts


@dataclass
class Report:
    """What one client process saw: deliveries, first/last (monotonic) and latencies (ms),
    the latter only when broadcasts carry a send stamp as their second argument."""

    got: int
    first: float
    last: float
    latencies: list[float] = field(default_factory=list)


def _clients_main(url: str, rooms: list[str], expected: int, conn: Connection) -> None:
    asyncio.run(_clients(url, rooms, expected, conn))


async def _clients(url: str, rooms: list[str], expected: int, conn: Connection) -> None:
    """Connect one client per entry of ``rooms`` (joining it); report warm-up, then a
    :class:`Report`."""
    count = len(rooms)
    report = Report(0, 0.0, 0.0)
    warm = 0
    done = asyncio.Event()
    warmed = asyncio.Event()
    clients: list[socketio.AsyncClient] = []

    async def on_bench(*args: Any) -> None:
        report.last = time.monotonic()
        if len(args) > 1 and isinstance(args[1], (int, float)):
            report.latencies.append(now_ms() - args[1])
        if report.got == 0:
            report.first = report.last
        report.got += 1
        if report.got >= expected:
            done.set()

    async def on_warm(*_args: Any) -> None:
        nonlocal warm
        warm += 1
        if warm >= count:
            warmed.set()

    for room in rooms:
        client = socketio.AsyncClient(reconnection=False)
        client.on("bench", on_bench)
        client.on("warm", on_warm)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        reply = await client.call("join", room, timeout=10)
        assert reply == "joined", reply
        clients.append(client)
    conn.send("ready")
    await asyncio.wait_for(warmed.wait(), 30)
    conn.send("warm")
    started = time.monotonic()
    while expected and not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 1.0)
        now = time.monotonic()
        if now - (report.last or started) > IDLE_TIMEOUT or now - started > DELIVERY_TIMEOUT:
            break
    conn.send(report)
    for client in clients:
        await client.disconnect()


class Receivers:
    """``processes`` child processes sharing the clients of ``client_rooms`` (one client
    per entry, in that room), each expecting the broadcasts ``counts`` sends its rooms."""

    def __init__(
        self, url: str, client_rooms: list[str], counts: dict[str, int], processes: int
    ) -> None:
        ctx = mp.get_context("spawn")
        self.expected = 0
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for part in range(processes):
            mine = client_rooms[part::processes]
            expected = sum(counts[room] for room in mine)
            self.expected += expected
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_clients_main, args=(url, mine, expected, child))
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    async def _recv_all(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(None, p.recv) for p in self._pipes]

    async def ready(self) -> None:
        """Every client connected and in its room."""
        assert await self._recv_all() == ["ready"] * len(self._pipes)

    async def warmed(self) -> None:
        """Every client got its warm-up broadcast."""
        assert await self._recv_all() == ["warm"] * len(self._pipes)

    def reports(self) -> asyncio.Future[list[Any]]:
        """The processes' :class:`Report`s, once they have all they expect (or gave up)."""
        return asyncio.ensure_future(self._recv_all())

    async def close(self) -> None:
        """Join the processes off the loop: their disconnects need the servers in it."""
        loop = asyncio.get_running_loop()
        for proc in self._procs:
            await loop.run_in_executor(None, proc.join, 30)
            if proc.is_alive():
                proc.terminate()
