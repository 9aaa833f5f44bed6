"""Issue 12, slow clients: one websocket client that never reads while the server broadcasts
to N others at full speed. The server (python-socketio + AsyncRedisAdapter, Uvicorn) runs in
this process; the good clients run in ``--procs`` other processes, so their reading does not
eat the server's event loop. Three phases, each on a fresh server and fresh clients:

- ``baseline``: the good clients only;
- ``stuck, no limit``: plus one stuck client, ``max_client_queue=0`` (python-engineio alone);
- ``stuck, limit N``: plus one stuck client, ``max_client_queue=N``.

Every ``--sample-every`` seconds it prints this process's RSS, the stuck socket's Engine.IO
queue, and the good clients' delivery rate (per client) and p99 latency in that window
(the highest of the processes' p99s), then a summary table.

    python bench/slow_client.py --clients 100 --procs 2 --seconds 60 --rate 100 \\
        --payload 4000 --max-client-queue 1000 [--redis-url redis://...]

Without ``--redis-url`` a private redis-server is started on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import weakref
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.redis_procs import RedisServer
from support.sio_servers import eventually, start_server
from support.slow_clients import GoodClients, stuck_client


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def phase(
    name: str, redis_url: str, args: argparse.Namespace, *, stuck: bool, limit: int
) -> dict[str, Any]:
    server = await start_server(redis_url, max_client_queue=limit)
    server.sio.eio.ping_interval, server.sio.eio.ping_timeout = (
        args.ping_interval,
        args.ping_timeout,
    )
    per_proc = [
        args.clients // args.procs + (i < args.clients % args.procs) for i in range(args.procs)
    ]
    groups = [await GoodClients.start(server.url, n, every=args.sample_every) for n in per_proc]
    raw = None
    stuck_ref: weakref.ref[Any] | None = None
    if stuck:
        before = set(server.sio.eio.sockets)
        raw = await asyncio.to_thread(stuck_client, int(server.url.rsplit(":", 1)[1]))
        new = await eventually(lambda: set(server.sio.eio.sockets) - before)
        stuck_ref = weakref.ref(server.sio.eio.sockets[new.pop()])
        await asyncio.sleep(0.2)
    pad = "x" * args.payload
    rows: list[tuple[float, float, str, float, float | None]] = []
    print(f"--- {name}", flush=True)
    start = time.monotonic()
    sent = 0
    gone_at: float | None = None

    async def sampler() -> None:
        nonlocal gone_at
        seen = [0] * len(groups)
        last = start
        while True:
            await asyncio.sleep(args.sample_every)
            now = time.monotonic()
            sock = stuck_ref() if stuck_ref is not None else None
            if sock is None:
                queue = "-" if stuck_ref is None else "freed"
            else:
                queue = str(sock.queue.qsize()) + (" (closed)" if sock.closed else "")
                if sock.closed and gone_at is None:
                    gone_at = now - start
            delivered, p99s = 0, []
            for i, group in enumerate(groups):
                for window in group.windows[seen[i] :]:
                    delivered += window["delivered"]
                    if window["p99_ms"] is not None:
                        p99s.append(window["p99_ms"])
                seen[i] = len(group.windows)
            rate = delivered / (now - last) / args.clients
            p99 = max(p99s) if p99s else None
            rows.append((now - start, rss_mib(), queue, rate, p99))
            print(
                f"t={now - start:5.1f}s rss={rss_mib():6.1f} MiB stuck-queue={queue:>14s} "
                f"per-client rate={rate:6.0f}/s p99={p99 if p99 is None else round(p99, 1)} ms",
                flush=True,
            )
            last = now

    task = asyncio.create_task(sampler())
    while (elapsed := time.monotonic() - start) < args.seconds:
        for seq in range(sent, int(elapsed * args.rate)):
            await server.sio.emit("tick", (seq, time.time(), pad))
        sent = max(sent, int(elapsed * args.rate))
        await asyncio.sleep(0.002)
    task.cancel()
    await server.sio.emit("end", sent)
    finals = [await asyncio.wait_for(group.final, 120) for group in groups]
    for group in groups:
        await group.stop()
    if raw is not None:
        raw.close()
    stats = server.mgr.stats()
    await server.stop()
    counts = [c for final in finals for c in final["counts"]]
    steady = [r for r in rows if r[0] > 2 * args.sample_every]
    return {
        "name": name,
        "sent": sent,
        "min_count": min(counts),
        "in_order": all(final["in_order"] for final in finals),
        "p99_ms": max(final["p99_ms"] or 0 for final in finals),
        "rate": sum(r[3] for r in steady) / max(1, len(steady)),
        "rss_first": rows[0][1] if rows else float("nan"),
        "rss_peak": max((r[1] for r in rows), default=float("nan")),
        "rss_last": rows[-1][1] if rows else float("nan"),
        "gone_at": gone_at,
        "slow_disconnected": stats["slow_clients_disconnected"],
    }


async def run(redis_url: str, args: argparse.Namespace) -> None:
    results = [await phase("baseline", redis_url, args, stuck=False, limit=0)]
    results.append(await phase("stuck, no limit", redis_url, args, stuck=True, limit=0))
    if args.max_client_queue:
        name = f"stuck, limit {args.max_client_queue}"
        results.append(await phase(name, redis_url, args, stuck=True, limit=args.max_client_queue))
    print(
        f"\n{args.clients} good clients in {args.procs} processes, {args.rate} broadcasts/s "
        f"of {args.payload} B for {args.seconds:.0f} s, heartbeat "
        f"{args.ping_interval:.0f}+{args.ping_timeout:.0f} s\n"
    )
    print(
        "| phase | sent | slowest good client got | in order | per-client rate/s | "
        "p99 ms | RSS first/peak/last MiB | stuck client closed at | limit disconnects |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        gone = "-" if r["gone_at"] is None else f"~{r['gone_at']:.0f} s"
        print(
            f"| {r['name']} | {r['sent']} | {r['min_count']} | {r['in_order']} | "
            f"{r['rate']:.0f} | {r['p99_ms']:.1f} | {r['rss_first']:.1f} / {r['rss_peak']:.1f} / "
            f"{r['rss_last']:.1f} | {gone} | {r['slow_disconnected']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--procs", type=int, default=2, help="processes for the good clients")
    ap.add_argument("--seconds", type=float, default=60, help="per phase")
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--rate", type=int, default=100, help="broadcasts per second")
    ap.add_argument("--payload", type=int, default=4000, help="bytes of padding per broadcast")
    ap.add_argument("--max-client-queue", type=int, default=1000, help="0 skips that phase")
    ap.add_argument("--ping-interval", type=float, default=25)
    ap.add_argument("--ping-timeout", type=float, default=20)
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    if args.redis_url:
        asyncio.run(run(args.redis_url, args))
    else:
        with RedisServer() as redis:
            asyncio.run(run(redis.url, args))


if __name__ == "__main__":
    main()
