"""Broadcast throughput over a local 3-master Redis Cluster: classic vs sharded vs Node sharded.

For each implementation: a sender server S and a receiver server R (real socket.io servers on
loopback), C websocket clients on R spread over 8 rooms, and N room broadcasts emitted by S
round-robin over the rooms. Measured from the first send to the last delivery at R's clients.

* ``classic``: ``AsyncRedisAdapter`` (S on node 0, R on node 1; a cluster copies PUBLISH to
  every node over the cluster bus).
* ``sharded``: ``AsyncShardedRedisAdapter``, SPUBLISH routed by slot, subscription "dynamic".
* ``node``: socket.io 4.8 + ``createShardedAdapter`` (node-redis ``createCluster``) hosted by
  tests/interop/node/peer.js; its sender is driven through the peer's JSON pipe, 100 ``emit``
  calls in flight at a time, so it measures the pipe as well.

The Python servers run in this process's event loop; the receiving clients of all three run
in separate Python processes (``--client-procs``, python-socketio clients), so the receiving
side is the same for every implementation. The machine is shared: compare the ratios within one run.

    .venv/bin/python bench/sharded.py [--broadcasts N] [--clients C] [--quick]
                                      [--impls classic,sharded,node] [--pace-us U]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import socketio  # noqa: E402

ROOMS = [f"room-{i}" for i in range(8)]
IMPLS = ("classic", "sharded", "node")
DELIVERY_TIMEOUT = 120.0


# --- the receiving clients (a child process) -------------------------------------------------


def _clients_main(url: str, indexes: list[int], expected: int, conn: Connection) -> None:
    asyncio.run(_clients(url, indexes, expected, conn))


async def _clients(url: str, indexes: list[int], expected: int, conn: Connection) -> None:
    """Connect one client per index (in room ``index % 8``); report warm-up, then the
    delivery count and the times of the first and last delivery."""
    count = len(indexes)
    got = 0
    warm = 0
    first = last = 0.0
    done = asyncio.Event()
    warmed = asyncio.Event()
    clients: list[socketio.AsyncClient] = []

    async def on_bench(*_args: Any) -> None:
        nonlocal got, first, last
        last = time.monotonic()
        if got == 0:
            first = last
        got += 1
        if got >= expected:
            done.set()

    async def on_warm(*_args: Any) -> None:
        nonlocal warm
        warm += 1
        if warm >= count:
            warmed.set()

    for i in indexes:
        client = socketio.AsyncClient(reconnection=False)
        client.on("bench", on_bench)
        client.on("warm", on_warm)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        reply = await client.call("join", ROOMS[i % len(ROOMS)], timeout=10)
        assert reply == "joined", reply
        clients.append(client)
    conn.send("ready")
    await asyncio.wait_for(warmed.wait(), 30)
    conn.send("warm")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), DELIVERY_TIMEOUT)
    conn.send((got, first, last))
    for client in clients:
        await client.disconnect()


# --- where the work landed -------------------------------------------------------------------


def _node_stats(cluster: Any) -> list[dict[str, int]]:
    stats = []
    for node in cluster.nodes:
        with node.client() as c:
            cmd = c.info("commandstats")
            raw = c.execute_command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        stats.append(
            {
                "publish": int(cmd.get("cmdstat_publish", {}).get("calls", 0)),
                "spublish": int(cmd.get("cmdstat_spublish", {}).get("calls", 0)),
                "bus_publish_rx": int(fields.get("cluster_stats_messages_publish_received", 0)),
            }
        )
    return stats


def _delta(after: list[dict[str, int]], before: list[dict[str, int]]) -> list[dict[str, int]]:
    return [{k: a[k] - b[k] for k in a} for a, b in zip(after, before, strict=True)]


# --- the servers -----------------------------------------------------------------------------


@dataclass
class Pair:
    """A sender and a receiver of one implementation."""

    receiver_url: str
    send: Any  # async (room, index) -> None
    send_many: Any  # async (list[(room, index)]) -> None
    warm: Any  # async () -> None
    stop: Any  # async () -> None


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

    async def send(room: str, index: int) -> None:
        await sender.sio.emit("bench", index, to=room)

    async def send_many(batch: list[tuple[str, int]]) -> None:
        for room, index in batch:
            await send(room, index)

    async def warm() -> None:
        await eventually(lambda: getattr(receiver.mgr, "connected", True), timeout=10)
        for room in ROOMS:
            await sender.sio.emit("warm", 0, to=room)

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()

    return Pair(receiver.url, send, send_many, warm, stop)


async def _node_pair(cluster: Any) -> Pair:
    from interop.node_peer import NodePeer, start_node_server

    peer = NodePeer(call_timeout=60)
    await peer.start()
    urls = [node.url for node in cluster.nodes]
    opts = {"channelPrefix": "bench-node", "subscriptionMode": "dynamic"}
    sender = await start_node_server(peer, adapter="sharded", cluster_urls=urls, **opts)
    receiver = await start_node_server(peer, adapter="sharded", cluster_urls=urls, **opts)

    async def send(room: str, index: int) -> None:
        await sender.call("emit", to=[room], event="bench", args=[index])

    async def send_many(batch: list[tuple[str, int]]) -> None:
        await asyncio.gather(*(send(room, index) for room, index in batch))

    async def warm() -> None:
        await receiver.wait_subscriptions()
        for room in ROOMS:
            await sender.call("emit", to=[room], event="warm", args=[0])

    async def stop() -> None:
        await sender.stop()
        await receiver.stop()
        await peer.close()

    return Pair(receiver.url, send, send_many, warm, stop)


async def run_impl(
    impl: str, cluster: Any, broadcasts: int, clients: int, pace_us: int, client_procs: int = 1
) -> dict[str, Any]:
    pair = await (_node_pair(cluster) if impl == "node" else _python_pair(impl, cluster))
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    total = 0
    for part in range(client_procs):
        indexes = list(range(part, clients, client_procs))
        rooms = [c % len(ROOMS) for c in indexes]
        expected = sum(rooms.count(i % len(ROOMS)) for i in range(broadcasts))
        total += expected
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_clients_main, args=(pair.receiver_url, indexes, expected, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    expected = total
    loop = asyncio.get_running_loop()

    async def recv_all() -> list[Any]:
        return [await loop.run_in_executor(None, p.recv) for p in pipes]

    try:
        assert await recv_all() == ["ready"] * len(pipes)
        await pair.warm()
        assert await recv_all() == ["warm"] * len(pipes)
        before = _node_stats(cluster)
        jobs = [(ROOMS[i % len(ROOMS)], i) for i in range(broadcasts)]
        result = asyncio.ensure_future(recv_all())
        start = time.monotonic()
        if pace_us:
            for room, index in jobs:
                await pair.send(room, index)
                await asyncio.sleep(pace_us / 1e6)
        else:
            for at in range(0, len(jobs), 100):
                await pair.send_many(jobs[at : at + 100])
        sent = time.monotonic()
        reports = await result
        got = sum(r[0] for r in reports)
        last = max(r[2] for r in reports)
        await asyncio.sleep(0.2)  # let the cluster bus counters settle
        stats = _delta(_node_stats(cluster), before)
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
        await pair.stop()
    elapsed = (last if got else time.monotonic()) - start
    return {
        "impl": impl,
        "broadcasts": broadcasts,
        "expected": expected,
        "delivered": got,
        "send_s": sent - start,
        "elapsed_s": elapsed,
        "bcast_per_s": broadcasts / elapsed if got >= expected else 0.0,
        "deliv_per_s": got / elapsed,
        "nodes": stats,
    }


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"broadcasts={args.broadcasts} clients={args.clients} rooms={len(ROOMS)} "
        f"pace_us={args.pace_us}; Python servers in-process, "
        f"clients in {args.client_procs} child process(es)"
    )
    head = f"{'impl':<8} {'deliv':>11} {'send s':>7} {'total s':>8} {'bcast/s':>9} {'deliv/s':>9}"
    print(head + "  per node [publish spublish bus_publish_rx]")
    for r in results:
        nodes = " | ".join(
            f"{n['publish']} {n['spublish']} {n['bus_publish_rx']}" for n in r["nodes"]
        )
        print(
            f"{r['impl']:<8} {r['delivered']:>5}/{r['expected']:<5} {r['send_s']:>7.2f} "
            f"{r['elapsed_s']:>8.2f} {r['bcast_per_s']:>9.0f} {r['deliv_per_s']:>9.0f}  {nodes}"
        )
    by = {r["impl"]: r["bcast_per_s"] for r in results}
    for num, den in (("sharded", "classic"), ("sharded", "node")):
        if by.get(num) and by.get(den):
            print(f"ratio {num}/{den}: {by[num] / by[den]:.2f}")


async def main(args: argparse.Namespace) -> int:
    from support.redis_procs import RedisCluster

    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = set(impls) - set(IMPLS)
    if unknown:
        raise SystemExit(f"unknown implementations: {sorted(unknown)}")
    cluster = RedisCluster()
    await cluster.astart()
    try:
        results = [
            await run_impl(
                i, cluster, args.broadcasts, args.clients, args.pace_us, args.client_procs
            )
            for i in impls
        ]
    finally:
        await cluster.astop()
    print_table(results, args)
    return 0 if all(r["delivered"] >= r["expected"] for r in results) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broadcasts", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--pace-us", type=int, default=0, help="sleep between sends (µs)")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes")
    parser.add_argument("--quick", action="store_true", help="N=300, C=8")
    args = parser.parse_args(argv)
    if args.quick:
        args.broadcasts, args.clients = 300, 8
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
