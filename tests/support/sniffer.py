"""A raw-byte sniffer for the wire tests: PSUBSCRIBE to everything under a key prefix.

A pattern subscription does not count in ``PUBSUB NUMSUB``, so sniffing never changes how
many answers a requester waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

__all__ = ["Sniffer", "sniff"]


class Sniffer:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []

    def on(self, channel: bytes) -> list[bytes]:
        return [data for ch, data in self.messages if ch == channel]

    def channels(self) -> list[bytes]:
        return [ch for ch, _ in self.messages]


@contextlib.asynccontextmanager
async def sniff(redis_url: str, pattern: str = "*") -> AsyncIterator[Sniffer]:
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(pattern)
    sniffer = Sniffer()
    confirmed = asyncio.Event()

    async def read() -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] == "psubscribe":
                confirmed.set()
            elif message["type"] == "pmessage":
                sniffer.messages.append((message["channel"], message["data"]))

    reader = asyncio.create_task(read())
    await asyncio.wait_for(confirmed.wait(), 5)
    try:
        yield sniffer
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await pubsub.aclose()
        await client.aclose()
