"""Broadcast throughput over a local 3-master Redis Cluster: classic vs sharded vs Node sharded.

For each implementation: a sender server S and a receiver server R (real socket.io servers on
loopback), C websocket clients on R, and N room broadcasts emitted by S round-robin over K
rooms, of which only L have clients (``--listened-rooms``): broadcasts to the other rooms cost
Redis and the servers, but no client. Timed from the first send to the last delivery.

* ``classic``: ``AsyncRedisAdapter`` (S on node 0, R on node 1; a cluster copies PUBLISH to
  every node, replicas included, over the cluster bus, and R receives every broadcast).
* ``sharded``: ``AsyncShardedRedisAdapter``, SPUBLISH to the slot owner (and its replicas)
  only, subscription "dynamic" (R subscribes to the channels of its clients' rooms only).
* ``node``: socket.io 4.8 + ``createShardedAdapter`` (node-redis ``createCluster``) hosted by
  tests/interop/node/peer.js; its ``emitMany`` op emits all N inside Node, so no pipe is timed.

Besides throughput it reports where the CPU went: Redis (``INFO cpu`` delta per node, summed
and max, per 1,000 broadcasts; it includes the nodes' idle cost, printed in the header) and
the process hosting both servers (this one for Python, the peer for Node; /proc/<pid>/stat)
over the send phase and over the whole run. The Python servers run in this process's event
loop; the receiving clients run in ``--client-procs`` child processes for every
implementation. Runs are repeated (``--repeat``) round by round, and medians are reported.
The machine is shared: compare the ratios within one run.

    .venv/bin/python bench/sharded.py [--broadcasts N] [--clients C] [--rooms K]
        [--listened-rooms L] [--payload B] [--repeat R] [--impls classic,sharded,node]
        [--client-procs P] [--quick]
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
    per_room,
    proc_cpu_s,
    room_order,
)

IMPLS = ("classic", "sharded", "node")


# --- where the work landed -------------------------------------------------------------------

BUS_FIELDS = {
    "bus_publish_rx": "cluster_stats_messages_publish_received",
    "bus_publish_tx": "cluster_stats_messages_publish_sent",
    "bus_pshard_rx": "cluster_stats_messages_publishshard_received",
    "bus_pshard_tx": "cluster_stats_messages_publishshard_sent",
}


def _node_stats(cluster: Any) -> list[dict[str, float]]:
    """Per node: CPU seconds (user + sys), PUBLISH/SPUBLISH calls and cluster bus counters."""
    stats = []
    for node in cluster.nodes:
        with node.client() as c:
            cmd = c.info("commandstats")
            cpu = c.info("cpu")
            raw = c.execute_command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        row: dict[str, float] = {
            "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
            "publish": int(cmd.get("cmdstat_publish", {}).get("calls", 0)),
            "spublish": int(cmd.get("cmdstat_spublish", {}).get("calls", 0)),
        }
        row.update({name: int(fields.get(key, 0)) for name, key in BUS_FIELDS.items()})
        stats.append(row)
    return stats


def _delta(after: list[dict[str, float]], before: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: a[k] - b[k] for k in a} for a, b in zip(after, before, strict=True)]


async def _idle_redis_cpu_ms_per_s(cluster: Any, seconds: float = 1.0) -> list[float]:
    """What each node burns doing nothing (cron, cluster bus pings): the floor of the figures."""
    before = _node_stats(cluster)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    delta = _delta(_node_stats(cluster), before)
    return [d["cpu_s"] * 1000 / (time.monotonic() - started) for d in delta]


# --- the servers -----------------------------------------------------------------------------


@dataclass
class Pair:
    """A sender and a receiver of one implementation, hosted by the process ``pid``."""

    receiver_url: str
    pid: int
    send_all: Any  # async (rooms, count, payload) -> None: count broadcasts round-robin
    warm: Any  # async (rooms) -> None
    stop: Any  # async () -> None


def _bench_data(index: int, padding: str | None) -> Any:
    """The emit's arguments: the index, then the padding (a tuple is several arguments)."""
    return index if padding is None else (index, padding)


async def _python_pair(impl: str, cluster: Any) -> Pair:
    from support.sio_servers import eventually, start_server

    from socketio_redis_async import AsyncRedisAdapter, AsyncShardedRedisAdapter

    def manager(i: int) -> Any:
        if impl == "classic":
            return AsyncRedisAdapter(cluster.nodes[i].url, key=f"bench-{impl}")
        return AsyncShardedRedisAdapter(
            cluster.startup_url, channel_prefix=f"bench-{impl}", subscription_mode="dynamic"
        )

    sender = await start_server("", manager=manager(0))
    receiver = await start_server("", manager=manager(1))

    async def send_all(rooms: list[str], count: int, payload: int) -> None:
        padding = "x" * payload if payload else None
        for i in range(count):
            await sender.sio.emit("bench", _bench_data(i, padding), to=rooms[i % len(rooms)])
            if i % 100 == 99:
                await asyncio.sleep(0)  # as the Node sender does: let I/O run

    async def warm(rooms: list[str]) -> None:
        await eventually(lambda: getattr(receiver.mgr, "connected", True), timeout=10)
        for room in rooms:
            await sender.sio.emit("warm", 0, to=room)

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()

    return Pair(receiver.url, os.getpid(), send_all, warm, stop)


async def _node_pair(cluster: Any) -> Pair:
    from interop.node_peer import NodePeer, start_node_server

    peer = NodePeer(call_timeout=DELIVERY_TIMEOUT)
    await peer.start()
    assert peer._proc is not None  # the peer's process: its CPU is measured
    urls = [node.url for node in cluster.nodes]
    opts = {"channelPrefix": "bench-node", "subscriptionMode": "dynamic"}
    sender = await start_node_server(peer, adapter="sharded", cluster_urls=urls, **opts)
    receiver = await start_node_server(peer, adapter="sharded", cluster_urls=urls, **opts)

    async def send_all(rooms: list[str], count: int, payload: int) -> None:
        await sender.call("emitMany", rooms=rooms, count=count, event="bench", payloadSize=payload)

    async def warm(rooms: list[str]) -> None:
        await receiver.wait_subscriptions()
        for room in rooms:
            await sender.call("emit", to=[room], event="warm", args=[0])

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()
        await peer.close()

    return Pair(receiver.url, peer._proc.pid, send_all, warm, stop)


async def run_impl(impl: str, cluster: Any, args: argparse.Namespace) -> dict[str, Any]:
    broadcasts = args.broadcasts
    order = room_order(args.rooms, broadcasts)
    listened = [f"room-{i}" for i in range(args.listened_rooms)]
    client_rooms = [listened[c % len(listened)] for c in range(args.clients)]
    pair = await (_node_pair(cluster) if impl == "node" else _python_pair(impl, cluster))
    receivers = Receivers(
        pair.receiver_url, client_rooms, per_room(order, broadcasts), args.client_procs
    )
    total = receivers.expected
    try:
        await receivers.ready()
        await pair.warm(listened)
        await receivers.warmed()
        before = _node_stats(cluster)
        result = receivers.reports()
        cpu0 = proc_cpu_s(pair.pid)
        start = time.monotonic()
        await pair.send_all(order, broadcasts, args.payload)
        sent = time.monotonic()
        cpu1 = proc_cpu_s(pair.pid)
        reports = await result
        done = max([sent, *(r.last for r in reports if r.got)])
        cpu2 = proc_cpu_s(pair.pid)
        await asyncio.sleep(0.2)  # let the cluster bus counters settle
        stats = _delta(_node_stats(cluster), before)
    finally:
        await receivers.close()
        await pair.stop()
    got = sum(r.got for r in reports)
    elapsed = done - start
    per_k = 1e6 / broadcasts  # seconds -> ms per 1,000 broadcasts
    redis = [n["cpu_s"] * per_k for n in stats]
    return {
        "impl": impl,
        "expected": total,
        "delivered": got,
        "send_s": sent - start,
        "elapsed_s": elapsed,
        "bcast_per_s": broadcasts / elapsed if got >= total else 0.0,
        "deliv_per_s": got / elapsed,
        "redis_sum": sum(redis),
        "redis_max": max(redis),
        "send_cpu": (cpu1 - cpu0) * per_k,
        "srv_cpu": (cpu2 - cpu0) * per_k,
        "nodes": stats,
    }


# --- the report ------------------------------------------------------------------------------

COLUMNS = ("bcast_per_s", "redis_sum", "redis_max", "send_cpu", "srv_cpu")


def _row(label: str, r: dict[str, Any]) -> str:
    return (
        f"{label:<15} {r['delivered']:>6.0f}/{r['expected']:<6.0f} {r['send_s']:>6.2f} "
        f"{r['elapsed_s']:>7.2f} {r['bcast_per_s']:>8.0f} {r['deliv_per_s']:>8.0f} "
        f"{r['redis_sum']:>7.1f} {r['redis_max']:>7.1f} {r['send_cpu']:>7.1f} {r['srv_cpu']:>7.1f}"
    )


def print_table(results: list[dict[str, Any]], args: argparse.Namespace, idle: list[float]) -> None:
    print(
        f"broadcasts={args.broadcasts} rooms={args.rooms} listened_rooms={args.listened_rooms} "
        f"clients={args.clients} payload={args.payload}B repeat={args.repeat}; Python servers "
        f"in-process, clients in {args.client_procs} child process(es)"
    )
    print(
        f"cluster: {args.masters} masters x {args.replicas} replica(s); bus_rx/tx = cluster bus "
        "publish + publishshard messages received/sent"
    )
    print("idle Redis CPU per node (ms/s): " + " ".join(f"{ms:.1f}" for ms in idle))
    print(
        "redis = Redis CPU ms per 1,000 broadcasts (sum over nodes, max node); "
        "send/srv cpu = CPU ms per 1,000 broadcasts of the process hosting both servers, "
        "over the send phase / the whole run"
    )
    head = (
        f"{'impl':<15} {'deliv':>13} {'send s':>6} {'total s':>7} {'bcast/s':>8} "
        f"{'deliv/s':>8} {'redis':>7} {'r max':>7} {'sendcpu':>7} {'srv cpu':>7}"
    )
    print(head + "  per node, masters first [publish spublish bus_rx bus_tx cpu_ms]")
    for r in results:
        nodes = " | ".join(
            f"{n['publish']:.0f} {n['spublish']:.0f} "
            f"{n['bus_publish_rx'] + n['bus_pshard_rx']:.0f} "
            f"{n['bus_publish_tx'] + n['bus_pshard_tx']:.0f} {n['cpu_s'] * 1000:.0f}"
            for n in r["nodes"]
        )
        print(f"{_row(r['impl'], r)}  {nodes}")
    medians: dict[str, dict[str, Any]] = {}
    for impl in dict.fromkeys(r["impl"] for r in results):
        runs = [r for r in results if r["impl"] == impl]
        keys = (*COLUMNS, "send_s", "elapsed_s", "deliv_per_s", "delivered", "expected")
        medians[impl] = {k: statistics.median(r[k] for r in runs) for k in keys}
        print(_row(f"median:{impl}", medians[impl]))
    for num, den in (("sharded", "classic"), ("sharded", "node"), ("node", "classic")):
        if num in medians and den in medians:
            a, b = medians[num], medians[den]
            parts = [f"{c} {a[c] / b[c]:.2f}" for c in COLUMNS if b[c]]
            print(f"ratio {num}/{den} (medians): " + ", ".join(parts))


async def main(args: argparse.Namespace) -> int:
    from support.redis_procs import RedisCluster

    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = set(impls) - set(IMPLS)
    if unknown:
        raise SystemExit(f"unknown implementations: {sorted(unknown)}")
    cluster = RedisCluster(masters=args.masters, replicas_per_master=args.replicas)
    await cluster.astart()
    results = []
    try:
        idle = await _idle_redis_cpu_ms_per_s(cluster)
        for round_ in range(args.repeat):
            shift = round_ % len(impls)  # alternate who goes first, so drift hits all alike
            for impl in impls[shift:] + impls[:shift]:
                results.append(await run_impl(impl, cluster, args))
    finally:
        await cluster.astop()
    print_table(results, args, idle)
    return 0 if all(r["delivered"] >= r["expected"] for r in results) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broadcasts", type=int, default=100000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rooms", type=int, default=8, help="rooms broadcast to (K)")
    parser.add_argument(
        "--listened-rooms", type=int, default=2, help="rooms with clients (L, 1..K)"
    )
    parser.add_argument("--payload", type=int, default=0, help="extra string bytes per emit")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--masters", type=int, default=3, help="cluster masters")
    parser.add_argument("--replicas", type=int, default=1, help="replicas per master")
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
