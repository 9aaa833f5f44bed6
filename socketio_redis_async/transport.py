"""Redis I/O for the adapter: one subscriber connection and one ordered, batching publisher.

The subscriber holds every pattern and channel of every namespace on a single connection,
read by a single task, so each server counts exactly once in ``PUBSUB NUMSUB`` as Node
servers expect. The publisher queues messages and sends whatever accumulated while the
previous round trip was in flight as one pipeline: emits never wait behind each other's
round trips, yet leave Redis in the order they were made.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .metrics import Counters

__all__ = ["MessageHandler", "Publisher", "Subscriber"]

# channel, payload, matched pattern (None for a plain channel message)
MessageHandler = Callable[[bytes, bytes, "bytes | None"], Awaitable[None]]
ErrorHandler = Callable[[BaseException], None]

_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
SUBSCRIBE_TIMEOUT = 10.0
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 5.0


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with full jitter: 50 ms, 100 ms, ... up to 5 s."""
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


class Subscriber:
    """One PubSub connection, its subscriptions, and the task that reads it."""

    def __init__(
        self,
        client: aioredis.Redis,
        on_message: MessageHandler,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
    ) -> None:
        self._client = client
        self._counters = counters
        self._on_message = on_message
        self._logger = logger
        self._on_error = on_error
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[tuple[str, bytes], asyncio.Future[None]] = {}
        self._running = False
        # redis-py opens the PubSub connection lazily on the first command: two concurrent
        # first subscribes would open two connections, one of them never read.
        self._command_lock = asyncio.Lock()

    async def subscribe(
        self, *, patterns: Iterable[bytes] = (), channels: Iterable[bytes] = ()
    ) -> None:
        """Subscribe and return once Redis confirmed every pattern and channel."""
        patterns, channels = list(patterns), list(channels)
        if self._pubsub is None:
            self._pubsub = self._client.pubsub()
        keys = [("psubscribe", p) for p in patterns] + [("subscribe", c) for c in channels]
        waiters = [self._expect(*key) for key in keys]
        try:
            async with self._command_lock:
                if patterns:
                    await self._pubsub.psubscribe(*patterns)
                if channels:
                    await self._pubsub.subscribe(*channels)
            self._ensure_reader()
            await asyncio.wait_for(asyncio.gather(*waiters), SUBSCRIBE_TIMEOUT)
        except BaseException:
            for key in keys:
                self._confirmations.pop(key, None)
            raise

    async def unsubscribe(
        self, *, patterns: Iterable[bytes] = (), channels: Iterable[bytes] = ()
    ) -> None:
        patterns, channels = list(patterns), list(channels)
        if self._pubsub is None:
            return
        async with self._command_lock:
            if patterns:
                await self._pubsub.punsubscribe(*patterns)
            if channels:
                await self._pubsub.unsubscribe(*channels)

    def _expect(self, kind: str, name: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations[(kind, name)] = future
        return future

    def _ensure_reader(self) -> None:
        if self._reader is None:
            self._running = True
            self._reader = asyncio.create_task(self._read_forever(), name="socketio-redis-reader")

    async def _read_forever(self) -> None:
        failures = 0
        while self._running:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except _CONNECTION_ERRORS as exc:
                if failures == 0:
                    self._logger.error("Redis subscriber connection lost, reconnecting: %s", exc)
                    self._on_error(exc)
                failures += 1
                await asyncio.sleep(backoff_delay(failures))
                continue
            except Exception as exc:
                self._logger.exception("Unexpected error reading from Redis")
                self._on_error(exc)
                await asyncio.sleep(backoff_delay(1))
                continue
            if failures:
                self._logger.warning("Redis subscriber reconnected after %d retries", failures)
                self._counters.reconnects += 1
                failures = 0
            if message is not None:
                await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pmessage":
            channel, pattern = message["channel"], message["pattern"]
        elif kind == "message":
            channel, pattern = message["channel"], None
        else:
            future = self._confirmations.pop((kind, message["channel"]), None)
            if future is not None and not future.done():
                future.set_result(None)
            return
        self._counters.received += 1
        try:
            await self._on_message(channel, message["data"], pattern)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A handler bug must cost one message, never the listener.
            self._logger.exception("Error handling a message on %r; message dropped", channel)

    async def aclose(self) -> None:
        self._running = False
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:
                self._logger.debug("Error closing the subscriber connection", exc_info=True)
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader], timeout=5)
        for future in self._confirmations.values():
            future.cancel()
        self._confirmations.clear()


class Publisher:
    """Ordered, pipelined PUBLISH: each round trip carries everything queued meanwhile."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
        high_water: int = 10_000,
    ) -> None:
        self._client = client
        self._counters = counters
        self._logger = logger
        self._on_error = on_error
        self._high_water = high_water
        self._queue: list[tuple[bytes, bytes]] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    async def publish(self, channel: bytes, payload: bytes) -> None:
        """Queue a message; waits only when the queue is full (Redis slower than the app)."""
        self._queue.append((channel, payload))
        self._idle.clear()
        self._wakeup.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="socketio-redis-writer")
        if len(self._queue) >= self._high_water:
            await self._idle.wait()

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to Redis (or failed)."""
        await self._idle.wait()

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
            self._idle.set()

    async def _send(self, batch: list[tuple[bytes, bytes]]) -> None:
        try:
            if len(batch) == 1:
                await self._client.publish(*batch[0])
            else:
                pipe = self._client.pipeline(transaction=False)
                for channel, payload in batch:
                    pipe.publish(channel, payload)
                await pipe.execute()
            self._counters.published += len(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._counters.publish_failures += len(batch)
            self._logger.error("Failed to publish %d message(s) to Redis: %s", len(batch), exc)
            self._on_error(exc)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Send what is queued (bounded by ``timeout``), then stop the writer."""
        if self._queue:
            flushing = asyncio.ensure_future(self.flush())
            await asyncio.wait([flushing], timeout=timeout)
            flushing.cancel()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.wait([writer], timeout=timeout)
