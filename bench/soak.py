"""The long soak: 50,000 real client cycles and 1,000 dynamic namespaces in one process.

Two python-socketio servers (Uvicorn ASGI and aiohttp, each with its adapter) share a
private redis-server (or, with ``--adapter sharded``, a private 3-master Redis Cluster); real
``socketio.AsyncClient``s over websockets connect, join a room, sometimes get a broadcast or
are fetched through Redis, leave and disconnect, and every ``--namespace-every`` cycles a
client visits a dynamic namespace of its own. Every ``--sample-every`` cycles (and at 0,
1,000 and 2,000, to see warm-up) the run pauses and prints RSS, tasks, gc objects, the
adapter's objects, Redis subscriptions and the request tables; ``--trace`` adds tracemalloc
(slower) and the traced growth per owning package between samples. Exit status 1 if the
curve after ``--warmup`` is not flat (``--rss-slope`` KiB per 1,000 cycles).

    .venv/bin/python bench/soak.py [--cycles 50000] [--sample-every 5000] [--warmup 5000]
        [--namespace-every 50] [--adapter classic|sharded] [--trace] [--time-limit SECONDS]
        [--rss-slope KIB]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import tracemalloc  # noqa: E402

from support.leaks import MiB, start_pair  # noqa: E402
from support.redis_procs import RedisCluster, RedisServer  # noqa: E402
from support.soak import HEADER, Sample, flatness, print_owner_growth, run_soak  # noqa: E402

from socketio_redis_async import AsyncShardedRedisAdapter  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=50_000)
    parser.add_argument("--sample-every", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=5_000, help="cycles before the baseline")
    parser.add_argument("--namespace-every", type=int, default=50)
    parser.add_argument("--adapter", choices=("classic", "sharded"), default="classic")
    parser.add_argument("--trace", action="store_true", help="tracemalloc, by owning package")
    parser.add_argument("--time-limit", type=float, help="stop after the first sample past it")
    parser.add_argument(
        "--rss-slope", type=float, default=64.0, help="KiB per 1,000 cycles after warm-up"
    )
    return parser.parse_args(argv)


async def soak(args: argparse.Namespace, redis: RedisServer | RedisCluster) -> list[Sample]:
    prefix = ""
    managers = None
    if isinstance(redis, RedisCluster):
        prefix = f"soak-{uuid.uuid4().hex[:8]}"
        managers = (
            AsyncShardedRedisAdapter(redis.startup_url, channel_prefix=prefix),
            AsyncShardedRedisAdapter(redis.startup_url, channel_prefix=prefix),
        )
        url = ""
    else:
        url = redis.url
    servers = await start_pair(url, managers)
    points = [1_000, 2_000, *range(args.sample_every, args.cycles + 1, args.sample_every)]
    previous: list[Sample] = []

    def report(sample: Sample) -> None:
        print(sample.row(), flush=True)
        if args.trace and previous:
            print_owner_growth(previous[-1], sample)
        previous.append(sample)

    print(HEADER, flush=True)
    try:
        return await run_soak(
            redis,
            servers,
            cycles=args.cycles,
            sample_at=points,
            namespace_every=args.namespace_every,
            prefix=prefix,
            trace=args.trace,
            time_limit=args.time_limit,
            report=report,
        )
    finally:
        for server in servers:
            await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.trace:
        tracemalloc.start(16)
    with RedisCluster() if args.adapter == "sharded" else RedisServer() as redis:
        samples = asyncio.run(soak(args, redis))
    done = samples[-1].cycle
    namespaces = done // args.namespace_every + 1 if args.namespace_every else 0
    print(f"{done} cycles, {namespaces} dynamic namespaces in {samples[-1].seconds:.0f}s")
    if args.trace:
        print_owner_growth(samples[0], samples[-1], top=20)
    result = flatness(samples, args.warmup)
    print(
        f"after warm-up ({args.warmup} cycles): {result.cycles} cycles, RSS "
        f"{result.rss_growth / MiB:+.2f} MiB, slope {result.rss_slope / 1024:+.1f} KiB per "
        f"1,000 cycles (bound {args.rss_slope:.0f}); "
        + ("; ".join(result.problems) if result.problems else "tasks, subscriptions flat")
    )
    flat = not result.problems and result.rss_slope <= args.rss_slope * 1024
    print("FLAT" if flat else "NOT FLAT")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
