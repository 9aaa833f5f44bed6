"""The raw ceiling: redis.asyncio PUBLISH -> a redis.asyncio subscriber reader, no Socket.IO.

    python bench/raw.py --role pub|sub --redis URL [--key K]

The publisher sends the benchmark's payload (``{"seq", "t", "pad"}``, msgpack) to the channels
our adapter would use (``key#/#`` or ``key#/#room#``), one awaited PUBLISH at a time or
pipelined (up to 100 due messages per round trip). The subscriber PSUBSCRIBEs ``key#/#*`` as
the adapter does, reads with ``get_message(timeout=None)``, unpacks each payload and counts it
(seq for losses, receive wall time - ``t`` for latency). It is what A and B would cost if
Socket.IO, the wire envelope and local delivery were free.

Driven by bench/run.py over stdin/stdout JSON lines like bench/node/loadgen.js:
  pub: run {count, rate, payload_size, rooms, pipelined} -> {first_send, last_send, count}
  sub: arm {count, idle_timeout_ms, hard_timeout_ms} -> {armed}; collect -> the run's counts
The first stdout line is {"ready": true}, once subscribed (sub) or connected (pub).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from typing import Any

import msgpack
import redis.asyncio as aioredis
from clock import now_ms

PIPELINE_BATCH = 100


def pad_for(payload_size: int) -> str:
    overhead = len('{"seq":12345,"t":12345678.123,"pad":""}')
    return "x" * max(0, payload_size - overhead)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    values.sort()
    n = len(values)

    def pick(q: float) -> float:  # nearest rank, as loadgen.js computes it
        return values[min(n - 1, max(0, math.ceil(q * n) - 1))]

    return {
        "mean": sum(values) / n,
        "p50": pick(0.5),
        "p90": pick(0.9),
        "p99": pick(0.99),
        "max": values[-1],
    }


class Publisher:
    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.client = client
        self.base = f"{key}#/#".encode()

    async def run(self, params: dict[str, Any]) -> dict[str, Any]:
        count = int(params["count"])
        rate = float(params.get("rate") or 0)
        rooms = list(params.get("rooms") or [])
        pipelined = bool(params.get("pipelined"))
        pad = pad_for(int(params.get("payload_size", 100)))
        channels = [self.base + str(r).encode() + b"#" for r in rooms] or [self.base]
        n_channels = len(channels)
        first_send = now_ms()
        start = time.perf_counter()
        i = 0
        while i < count:
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not pipelined:
                payload = msgpack.packb({"seq": i, "t": now_ms(), "pad": pad})
                await self.client.publish(channels[i % n_channels], payload)
                i += 1
                continue
            # Everything due now, up to PIPELINE_BATCH, in one round trip.
            if rate:
                due = int((time.perf_counter() - start) * rate) + 1
                end = min(count, max(i + 1, due), i + PIPELINE_BATCH)
            else:
                end = min(count, i + PIPELINE_BATCH)
            pipe = self.client.pipeline(transaction=False)
            for j in range(i, end):
                payload = msgpack.packb({"seq": j, "t": now_ms(), "pad": pad})
                pipe.publish(channels[j % n_channels], payload)
            await pipe.execute()
            i = end
        return {"first_send": first_send, "last_send": now_ms(), "count": count}


class Subscriber:
    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.client = client
        self.pattern = f"{key}#/#*".encode()
        self.pubsub: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.run: dict[str, Any] | None = None
        self.done = asyncio.Event()

    async def start(self) -> None:
        self.pubsub = self.client.pubsub()
        await self.pubsub.psubscribe(self.pattern)
        while True:  # the subscribe confirmation
            message = await self.pubsub.get_message(timeout=5)
            if message and message["type"] == "psubscribe":
                break
        self.reader = asyncio.create_task(self._read_forever())

    async def _read_forever(self) -> None:
        unpack = msgpack.unpackb
        get_message = self.pubsub.get_message
        while True:
            message = await get_message(timeout=None)
            if message is None or message["type"] != "pmessage":
                continue
            now = now_ms()
            run = self.run
            if run is None:
                continue
            data = unpack(message["data"])
            seq = data["seq"]
            run["last_recv"] = now
            if not 0 <= seq < run["count"]:
                run["unexpected"] += 1
                continue
            if run["seen"][seq]:
                run["duplicates"] += 1
                continue
            run["seen"][seq] = 1
            run["latencies"].append(now - data["t"])
            run["received"] += 1
            if run["received"] == run["count"]:
                self.done.set()

    def arm(self, params: dict[str, Any]) -> dict[str, Any]:
        count = int(params["count"])
        self.done = asyncio.Event()
        self.run = {
            "count": count,
            "seen": bytearray(count),
            "received": 0,
            "duplicates": 0,
            "unexpected": 0,
            "latencies": [],
            "last_recv": None,
            "idle_timeout_ms": float(params.get("idle_timeout_ms", 5000)),
            "hard_timeout_ms": float(params.get("hard_timeout_ms", 60000)),
            "armed_at": now_ms(),
        }
        if count == 0:
            self.done.set()
        return {"armed": True}

    async def collect(self) -> dict[str, Any]:
        run = self.run
        if run is None:
            raise RuntimeError("collect before arm")
        deadline = time.monotonic() + run["hard_timeout_ms"] / 1000
        timed_out = False
        while not self.done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), 0.05)
            now = now_ms()
            last = run["last_recv"] or run["armed_at"]
            if time.monotonic() > deadline or now - last > run["idle_timeout_ms"]:
                timed_out = not self.done.is_set()
                break
        completed_at = now_ms()
        self.run = None
        return {
            "clients": 1,
            "expected": run["count"],
            "received": run["received"],
            "lost": run["count"] - run["received"],
            "clients_short": int(run["received"] < run["count"]),
            "duplicates": run["duplicates"],
            "unexpected": run["unexpected"],
            "strays": 0,
            "disconnects": 0,
            "timed_out": timed_out,
            "completed_at": completed_at,
            "last_recv": run["last_recv"],
            "latency_ms": percentiles(run["latencies"]),
        }


async def serve(role: str, url: str, key: str) -> None:
    client = aioredis.Redis.from_url(url)
    handler: Any
    if role == "pub":
        await client.ping()
        handler = Publisher(client, key)
    else:
        handler = Subscriber(client, key)
        await handler.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    while line := await reader.readline():
        if not line.strip():
            continue
        request = json.loads(line)
        rid, op = request.pop("id", None), request.pop("op", None)
        try:
            if role == "pub" and op == "run":
                result = await handler.run(request)
            elif role == "sub" and op == "arm":
                result = handler.arm(request)
            elif role == "sub" and op == "collect":
                result = await handler.collect()
            else:
                raise ValueError(f"unknown op {op!r} for role {role}")
            reply({"id": rid, "ok": True, "result": result})
        except Exception as exc:
            reply({"id": rid, "ok": False, "error": repr(exc)})
    await client.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["pub", "sub"], required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--key", default="bench-raw")
    args = ap.parse_args()
    asyncio.run(serve(args.role, args.redis, args.key))


if __name__ == "__main__":
    main()
