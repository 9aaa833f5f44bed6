"""Broadcast throughput on one Redis: classic Pub/Sub vs our streams adapter vs Node's.

For each implementation: a sender server S and a receiver server R (real socket.io servers on
loopback), C websocket clients on R, and N room broadcasts emitted by S round-robin over K
rooms, of which only L have clients (``--listened-rooms``). Timed from the first send to the
last delivery. All three share ONE private ``redis-server`` started with ``--appendonly yes
--appendfsync everysec``, as a production Redis holding streams would be: XADD is written to
the AOF, PUBLISH is not.

* ``classic``: ``AsyncRedisAdapter`` (PUBLISH/SUBSCRIBE, key ``bench-classic``).
* ``streams``: ``AsyncRedisStreamsAdapter`` (XADD ``MAXLEN ~``, XREAD; stream and channel
  prefix ``bench-streams``).
* ``node``: socket.io 4.8 + ``@socket.io/redis-streams-adapter`` 0.3.1 hosted by
  tests/interop/node/peer.js (stream and prefix ``bench-node``); its ``emitMany`` op emits all
  N inside Node, so no pipe is timed.

Each broadcast carries its send time (wall clock, ms), so the clients measure per-delivery
latency (p50/p99). The sender does not pace itself: these latencies include the queueing of
a back-to-back run, they are not idle round trips. Besides throughput it reports Redis CPU
(``INFO cpu`` delta, per 1,000 broadcasts; it includes Redis's idle cost, printed in the
header), the CPU of the process hosting both servers (this one for Python, the peer for Node;
/proc/<pid>/stat) over the send phase and over the whole run, the AOF growth, and the stream
left in Redis at the end (``XLEN``, ``MEMORY USAGE``; each stream is deleted before its run).
The receiving clients run in ``--client-procs`` child processes for every implementation.
Runs are repeated (``--repeat``) round by round, order rotated, and medians are reported.
The machine is shared: compare the ratios within one run.

    .venv/bin/python bench/streams.py [--broadcasts N] [--clients C] [--rooms K]
        [--listened-rooms L] [--payload B] [--max-len M] [--repeat R]
        [--impls classic,streams,node] [--client-procs P] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from receivers import (  # noqa: E402
    DELIVERY_TIMEOUT,
    Receivers,
    now_ms,
    per_room,
    proc_cpu_s,
    room_order,
)

IMPLS = ("classic", "streams", "node")
REDIS_ARGS = ("--appendonly", "yes", "--appendfsync", "everysec")


# --- where the work landed -------------------------------------------------------------------

COMMANDS = ("publish", "xadd", "xread")


def _redis_stats(redis: Any) -> dict[str, float]:
    """CPU seconds (user + sys), calls of the commands that carry broadcasts, AOF size."""
    with redis.client() as c:
        cpu = c.info("cpu")
        cmd = c.info("commandstats")
        aof = c.info("persistence")
    row: dict[str, float] = {
        "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        "aof_bytes": int(aof.get("aof_current_size", 0)),
    }
    row.update({name: int(cmd.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in COMMANDS})
    return row


def _stream_size(redis: Any, key: str | None) -> tuple[int, int]:
    """XLEN and ``MEMORY USAGE ... SAMPLES 0`` (every entry counted) of a stream, in bytes."""
    if key is None:
        return 0, 0
    with redis.client() as c:
        length = int(c.xlen(key))
        memory = c.execute_command("MEMORY", "USAGE", key, "SAMPLES", 0)
    return length, int(memory or 0)


async def _idle_redis_cpu_ms_per_s(redis: Any, seconds: float = 1.0) -> float:
    """What Redis burns doing nothing (cron, AOF fsync every second): the figures' floor."""
    before = _redis_stats(redis)["cpu_s"]
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return (_redis_stats(redis)["cpu_s"] - before) * 1000 / (time.monotonic() - started)


# --- the servers -----------------------------------------------------------------------------


@dataclass
class Pair:
    """A sender and a receiver of one implementation, hosted by the process ``pid``."""

    receiver_url: str
    pid: int
    stream: str | None  # the stream key carrying broadcasts (None: Pub/Sub only)
    send_all: Any  # async (rooms, count, payload) -> None: count broadcasts round-robin
    warm: Any  # async (rooms) -> None
    lost: Any  # () -> int: entries the Python adapters know they lost or dropped
    stop: Any  # async () -> None


def _bench_data(index: int, padding: str | None) -> tuple[Any, ...]:
    """The emit's arguments: the index, the send time in wall-clock ms, then the padding."""
    stamp = now_ms()
    return (index, stamp) if padding is None else (index, stamp, padding)


async def _python_pair(impl: str, redis: Any, args: argparse.Namespace) -> Pair:
    from support.sio_servers import eventually, start_server

    from socketio_redis_async import AsyncRedisAdapter, AsyncRedisStreamsAdapter

    name = f"bench-{impl}"

    def manager() -> Any:
        if impl == "classic":
            return AsyncRedisAdapter(redis.url, key=name)
        return AsyncRedisStreamsAdapter(
            redis.url, stream_name=name, channel_prefix=name, max_len=args.max_len
        )

    sender = await start_server("", manager=manager())
    receiver = await start_server("", manager=manager())

    async def send_all(rooms: list[str], count: int, payload: int) -> None:
        padding = "x" * payload if payload else None
        for i in range(count):
            await sender.sio.emit("bench", _bench_data(i, padding), to=rooms[i % len(rooms)])
            if i % 100 == 99:
                await asyncio.sleep(0)  # as the Node sender does: let I/O run
        await sender.mgr.flush()  # as Node's emitMany: the send phase ends once Redis has all

    async def warm(rooms: list[str]) -> None:
        await eventually(lambda: receiver.mgr.connected, timeout=10)
        for room in rooms:
            await sender.sio.emit("warm", 0, to=room)

    def lost() -> int:
        s, r = sender.mgr.stats(), receiver.mgr.stats()
        return int(s["publish_failures"] + r.get("stream_entries_lost", 0))

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()

    stream = name if impl == "streams" else None
    return Pair(receiver.url, os.getpid(), stream, send_all, warm, lost, stop)


async def _node_pair(redis: Any, args: argparse.Namespace) -> Pair:
    from interop.node_peer import NodePeer, start_node_server

    peer = NodePeer(call_timeout=DELIVERY_TIMEOUT)
    await peer.start()
    assert peer._proc is not None  # the peer's process: its CPU is measured
    opts = {"streamName": "bench-node", "channelPrefix": "bench-node", "maxLen": args.max_len}
    sender = await start_node_server(peer, adapter="streams", redis_url=redis.url, **opts)
    receiver = await start_node_server(peer, adapter="streams", redis_url=redis.url, **opts)

    async def send_all(rooms: list[str], count: int, payload: int) -> None:
        await sender.call(
            "emitMany", rooms=rooms, count=count, event="bench", payloadSize=payload, stamp=True
        )

    async def warm(rooms: list[str]) -> None:
        await receiver.wait_subscriptions()
        for room in rooms:
            await sender.call("emit", to=[room], event="warm", args=[0])

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()
        await peer.close()

    return Pair(receiver.url, peer._proc.pid, "bench-node", send_all, warm, lambda: 0, stop)


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


STREAM_KEYS = {"streams": "bench-streams", "node": "bench-node"}


async def run_impl(impl: str, redis: Any, args: argparse.Namespace) -> dict[str, Any]:
    broadcasts = args.broadcasts
    order = room_order(args.rooms, broadcasts)
    listened = [f"room-{i}" for i in range(args.listened_rooms)]
    client_rooms = [listened[c % len(listened)] for c in range(args.clients)]
    if impl in STREAM_KEYS:  # each run starts from an empty stream: its size is this run's
        with redis.client() as c:
            c.delete(STREAM_KEYS[impl])
    pair = await (_node_pair(redis, args) if impl == "node" else _python_pair(impl, redis, args))
    receivers = Receivers(
        pair.receiver_url, client_rooms, per_room(order, broadcasts), args.client_procs
    )
    total = receivers.expected
    try:
        await receivers.ready()
        await pair.warm(listened)
        await receivers.warmed()
        before = _redis_stats(redis)
        result = receivers.reports()
        cpu0 = proc_cpu_s(pair.pid)
        start = time.monotonic()
        await pair.send_all(order, broadcasts, args.payload)
        sent = time.monotonic()
        cpu1 = proc_cpu_s(pair.pid)
        reports = await result
        done = max([sent, *(r.last for r in reports if r.got)])
        cpu2 = proc_cpu_s(pair.pid)
        after = _redis_stats(redis)
        xlen, memory = _stream_size(redis, pair.stream)
        lost = pair.lost()
    finally:
        await receivers.close()
        await pair.stop()
    got = sum(r.got for r in reports)
    latencies = sorted(lat for r in reports for lat in r.latencies)
    elapsed = done - start
    per_k = 1e6 / broadcasts  # seconds -> ms per 1,000 broadcasts
    delta = {k: after[k] - before[k] for k in after}
    return {
        "impl": impl,
        "expected": total,
        "delivered": got,
        "send_s": sent - start,
        "elapsed_s": elapsed,
        "bcast_per_s": broadcasts / elapsed if got >= total else 0.0,
        "deliv_per_s": got / elapsed,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "redis_cpu": delta["cpu_s"] * per_k,
        "send_cpu": (cpu1 - cpu0) * per_k,
        "srv_cpu": (cpu2 - cpu0) * per_k,
        "aof_kib": delta["aof_bytes"] / 1024,
        "xlen": xlen,
        "stream_kib": memory / 1024,
        "lost": lost,
        "calls": {name: delta[name] for name in COMMANDS},
    }


# --- the report ------------------------------------------------------------------------------

COLUMNS = ("bcast_per_s", "deliv_per_s", "p50_ms", "p99_ms", "redis_cpu", "send_cpu", "srv_cpu")
OTHER = ("send_s", "elapsed_s", "aof_kib", "xlen", "stream_kib", "delivered", "expected", "lost")


def _row(label: str, r: dict[str, Any]) -> str:
    return (
        f"{label:<15} {r['delivered']:>6.0f}/{r['expected']:<6.0f} {r['send_s']:>6.2f} "
        f"{r['elapsed_s']:>7.2f} {r['bcast_per_s']:>7.0f} {r['deliv_per_s']:>7.0f} "
        f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['redis_cpu']:>6.1f} {r['send_cpu']:>7.1f} "
        f"{r['srv_cpu']:>7.1f} {r['aof_kib']:>7.0f} {r['xlen']:>6.0f} {r['stream_kib']:>7.0f} "
        f"{r['lost']:>4.0f}"
    )


def print_table(results: list[dict[str, Any]], args: argparse.Namespace, idle: float) -> None:
    print(
        f"broadcasts={args.broadcasts} rooms={args.rooms} listened_rooms={args.listened_rooms} "
        f"clients={args.clients} payload={args.payload}B max_len={args.max_len} "
        f"repeat={args.repeat}; Python servers in-process, clients in {args.client_procs} "
        "child process(es)"
    )
    print(f"one redis-server {' '.join(REDIS_ARGS)}; idle Redis CPU {idle:.1f} ms/s")
    print(
        "p50/p99 = delivery latency ms (back-to-back sender: includes queueing); "
        "redis = Redis CPU ms, send/srv cpu = CPU ms of the process hosting both servers "
        "(send phase / whole run), all per 1,000 broadcasts; aof = AOF growth KiB; "
        "xlen/stream KiB = the stream at the end; lost = Python adapters' dropped/lost count"
    )
    head = (
        f"{'impl':<15} {'deliv':>13} {'send s':>6} {'total s':>7} {'bcast/s':>7} "
        f"{'deliv/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'redis':>6} {'sendcpu':>7} "
        f"{'srv cpu':>7} {'aof KiB':>7} {'xlen':>6} {'str KiB':>7} {'lost':>4}"
    )
    print(head + "  [" + " ".join(COMMANDS) + " calls]")
    for r in results:
        calls = " ".join(f"{r['calls'][name]:.0f}" for name in COMMANDS)
        print(f"{_row(r['impl'], r)}  {calls}")
    medians: dict[str, dict[str, Any]] = {}
    for impl in dict.fromkeys(r["impl"] for r in results):
        runs = [r for r in results if r["impl"] == impl]
        medians[impl] = {k: statistics.median(r[k] for r in runs) for k in (*COLUMNS, *OTHER)}
        print(_row(f"median:{impl}", medians[impl]))
    for num, den in (("streams", "classic"), ("streams", "node"), ("node", "classic")):
        if num in medians and den in medians:
            a, b = medians[num], medians[den]
            parts = [f"{c} {a[c] / b[c]:.2f}" for c in COLUMNS if b[c]]
            print(f"ratio {num}/{den} (medians): " + ", ".join(parts))


async def main(args: argparse.Namespace) -> int:
    from socketio_redis_async.testing import RedisServer

    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = set(impls) - set(IMPLS)
    if unknown:
        raise SystemExit(f"unknown implementations: {sorted(unknown)}")
    redis = RedisServer(extra_args=REDIS_ARGS)
    await redis.astart()
    results = []
    try:
        idle = await _idle_redis_cpu_ms_per_s(redis)
        for round_ in range(args.repeat):
            shift = round_ % len(impls)  # alternate who goes first, so drift hits all alike
            for impl in impls[shift:] + impls[:shift]:
                results.append(await run_impl(impl, redis, args))
    finally:
        await redis.astop()
    print_table(results, args, idle)
    ok = all(r["delivered"] >= r["expected"] and not r["lost"] for r in results)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broadcasts", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rooms", type=int, default=8, help="rooms broadcast to (K)")
    parser.add_argument(
        "--listened-rooms", type=int, default=2, help="rooms with clients (L, 1..K)"
    )
    parser.add_argument("--payload", type=int, default=0, help="extra string bytes per emit")
    parser.add_argument(
        "--max-len",
        type=int,
        default=100000,
        help="streams' MAXLEN ~ (the adapters' default, 10000, is shorter than the backlog "
        "of a back-to-back burst of 20000: the receiver then loses what was trimmed)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--client-procs", type=int, default=1, help="client processes")
    parser.add_argument("--quick", action="store_true", help="N=300, C=8, all 8 rooms, R=1")
    args = parser.parse_args(argv)
    if args.quick:
        args.broadcasts, args.clients, args.listened_rooms, args.repeat = 300, 8, 8, 1
        args.rooms = 8
    if not 1 <= args.listened_rooms <= args.rooms or args.clients < args.listened_rooms:
        parser.error("need 1 <= listened rooms <= rooms and at least one client per listened room")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
