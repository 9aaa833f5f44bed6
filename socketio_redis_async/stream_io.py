"""Redis Streams I/O: an XREAD reader that resumes exactly where it stopped, and an XADD
writer that keeps its entries through an outage and never writes one twice.

Both use one connection of their own, taken from the client's pool. The reader remembers
the id of the last entry it read and, after any reconnect, asks for what follows it, so
nothing the stream still holds is missed. Entries trimmed away (``MAXLEN ~``) before being
read are detected from ``XINFO STREAM`` and counted. The writer keeps an entry queued until
Redis acknowledged it; when a connection breaks with a batch in flight it counts the
entries of its own uid written after the last acknowledged id, so the ones that made it are
not sent again.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .errors import PublishError
from .metrics import Counters
from .transport import CONNECTION_ERRORS, PUBLISH_TIMEOUT, backoff_delay, describe

__all__ = ["EntryHandler", "StreamReader", "StreamWriter", "parse_id", "stream_position"]

# entry id, flat field list [name, value, name, value, ...]
EntryHandler = Callable[[bytes, list[Any]], Awaitable[None]]
ErrorHandler = Callable[[BaseException], None]

_READ_MARGIN = 5.0  # seconds past BLOCK after which a silent connection counts as dead
_SCAN_COUNT = 1000
_BATCH_MAX = 512


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` as a comparable pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _as_map(reply: Any) -> dict[str, Any]:
    """A RESP2 flat list or a RESP3 map with bytes keys, as a dict with str keys."""
    if isinstance(reply, dict):
        items = list(reply.items())
    else:
        items = list(zip(reply[::2], reply[1::2], strict=True))
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in items}


def _field(fields: Sequence[Any], name: bytes) -> Any:
    for i in range(0, len(fields) - 1, 2):
        if fields[i] == name:
            return fields[i + 1]
    return None


async def _command(connection: Any, *args: Any, limit: float = PUBLISH_TIMEOUT) -> Any:
    """One command on a raw connection; a reply that takes too long breaks the connection."""
    if not connection.is_connected:
        await connection.connect()
    with anyio.fail_after(limit):
        await connection.send_command(*args, check_health=False)
        return await connection.read_response(timeout=math.inf)


async def stream_position(connection: Any, stream: bytes) -> tuple[bytes, int, Any]:
    """(last generated id, entries added so far, the XINFO map) of ``stream``; a missing
    stream is at ``0-0`` with nothing added."""
    try:
        info = _as_map(await _command(connection, "XINFO", "STREAM", stream))
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return b"0-0", 0, None
        raise
    return info["last-generated-id"], int(info.get("entries-added", 0)), info


class _Outage:
    """One log line (and one ``on_error`` call) per outage, and a reconnect count."""

    def __init__(self, what: str, logger: logging.Logger, on_error: ErrorHandler) -> None:
        self._what = what
        self._logger = logger
        self._on_error = on_error
        self.started: float | None = None

    def lost(self, exc: BaseException) -> None:
        if self.started is None:
            self.started = time.monotonic()
            self._logger.error("Redis %s connection lost (%s); reconnecting", self._what, exc)
            self._on_error(exc)

    def restored(self, counters: Counters) -> None:
        if self.started is not None:
            downtime = time.monotonic() - self.started
            self.started = None
            counters.reconnects += 1
            self._logger.warning("Redis %s reconnected after %.1f s", self._what, downtime)


class StreamReader:
    """``XREAD COUNT n BLOCK ms STREAMS <stream> <last id>`` in a loop, on its own connection."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: bytes,
        on_entry: EntryHandler,
        *,
        read_count: int,
        block_time: float,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
    ) -> None:
        self._client = client
        self._stream = stream
        self._on_entry = on_entry
        self._read_count = read_count
        self._block_ms = max(1, int(block_time * 1000))
        self._read_timeout = block_time + _READ_MARGIN
        self._logger = logger
        self._counters = counters
        self._outage = _Outage("stream reader", logger, on_error)
        self._on_error = on_error
        self._connection: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_id = b"0-0"
        self._seen = 0  # entries-added count the last read id corresponds to
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_id(self) -> bytes:
        """The id of the last entry read (where the next XREAD starts)."""
        return self._last_id

    async def start(self) -> bytes:
        """Take the stream's current end as the starting point and start reading; returns
        that id. Raises the Redis error if Redis cannot be reached."""
        if self._task is not None:
            return self._last_id
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            self._last_id, self._seen, _ = await stream_position(connection, self._stream)
        except BaseException:
            await connection.disconnect(nowait=True)
            await pool.release(connection)
            raise
        self._connection = connection
        self._connected = True
        self._task = asyncio.create_task(self._read_forever(), name="redis-stream-reader")
        return self._last_id

    async def _read_forever(self) -> None:
        failures = 0
        check = False
        while True:
            connection = self._connection
            if connection is None:
                return  # closed while this task ignored its cancellation (redis-py, 3.11)
            try:
                if check:
                    await self._check_trimmed()
                reply = await _command(
                    connection,
                    "XREAD",
                    "COUNT",
                    self._read_count,
                    "BLOCK",
                    self._block_ms,
                    "STREAMS",
                    self._stream,
                    self._last_id,
                    limit=self._read_timeout,
                )
            except asyncio.CancelledError:
                raise
            except (*CONNECTION_ERRORS, TimeoutError) as exc:
                failures += 1
                self._connected = False
                self._outage.lost(exc)
                await connection.disconnect(nowait=True)
                check = True
                await asyncio.sleep(backoff_delay(failures))
                continue
            except Exception as exc:  # NOPERM, WRONGTYPE: nothing to read until fixed
                failures += 1
                self._logger.warning("Reading the stream failed: %s", describe(exc))
                self._on_error(exc)
                await asyncio.sleep(backoff_delay(failures))
                continue
            failures = 0
            self._connected = True
            self._outage.restored(self._counters)
            # a full batch means we are behind: look for trimmed entries before reading on
            check = await self._handle(self._entries(reply)) >= self._read_count
            del reply  # not kept (payloads and all) while XREAD blocks

    async def _handle(self, entries: list[tuple[bytes, list[Any]]]) -> int:
        """Hand each entry on, in order; one that fails is logged and dropped."""
        for entry_id, fields in entries:
            self._last_id = entry_id
            self._seen += 1
            self._counters.received += 1
            try:
                await self._on_entry(entry_id, fields)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._logger.exception("Error handling stream entry %r; dropped", entry_id)
        return len(entries)

    def _entries(self, reply: Any) -> list[tuple[bytes, list[Any]]]:
        if not reply:
            return []
        streams = reply.items() if isinstance(reply, dict) else reply
        for name, entries in streams:
            if name == self._stream:
                return [(entry[0], list(entry[1] or [])) for entry in entries]
        return []

    async def _check_trimmed(self) -> None:
        """Count entries trimmed away after the last one read (they cannot be read now).

        ``MAXLEN ~`` trims from the head, so once the first entry left is newer than our
        position every entry still there is unread, and the ones lost are those added
        minus those read minus those present.
        """
        last, added, info = await stream_position(self._connection, self._stream)
        if info is None or parse_id(last) < parse_id(self._last_id):
            if self._last_id != b"0-0":
                self._logger.warning(
                    "Stream %r lost its history (Redis restarted without persistence?); "
                    "reading it from the start",
                    self._stream,
                )
            self._last_id, self._seen = b"0-0", 0
            return
        first = info.get("first-entry")
        if not first or parse_id(first[0]) <= parse_id(self._last_id):
            return
        lost = max(0, added - self._seen - int(info.get("length", 0)))
        self._seen += lost
        if lost:
            self._counters.stream_entries_lost += lost
            self._logger.error(
                "%d entries of stream %r were trimmed (MAXLEN) before this server read them",
                lost,
                self._stream,
            )

    async def aclose(self) -> None:
        self._connected = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=5)
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)  # it may be blocked in XREAD
            await self._client.connection_pool.release(connection)


_Queued = tuple[list[bytes], "asyncio.Future[None] | None"]


class StreamWriter:
    """Ordered, batched ``XADD <stream> MAXLEN ~ <max_len> * field value ...``.

    An entry leaves the queue only once Redis acknowledged it (or refused it): during an
    outage entries wait, up to ``max_queue`` of them, and go out in order once Redis is back.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        stream: bytes,
        uid: bytes,
        *,
        max_len: int,
        max_queue: int,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
    ) -> None:
        self._client = client
        self._stream = stream
        self._uid = uid
        self._max_len = max_len
        self._max_queue = max_queue
        self._logger = logger
        self._on_error = on_error
        self._counters = counters
        self._outage = _Outage("stream writer", logger, on_error)
        self._queue: collections.deque[_Queued] = collections.deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._last_acked = b"0-0"
        self._uncertain = False  # a batch was in flight when the connection broke
        self._overflowing = False
        self._started = False

    def start(self, position: bytes) -> None:
        """Start after ``position`` (the stream's end when the adapter started); once."""
        if not self._started:
            self._started = True
            self._last_acked = position

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def add(self, fields: Sequence[tuple[bytes, bytes]], *, wait: bool = False) -> None:
        """Queue an entry; an entry beyond ``max_queue`` is dropped and counted.

        ``wait=True`` returns once Redis took it. It raises :class:`PublishError` at once
        during a known outage (nothing is queued), when Redis refuses the entry, or after
        ``PUBLISH_TIMEOUT`` without confirmation (the entry then stays queued)."""
        if wait and self._outage.started is not None:
            self._counters.publish_failures += 1
            raise PublishError("Redis is unavailable; the stream entry was not queued")
        if len(self._queue) >= self._max_queue:
            self._counters.publish_failures += 1
            if wait:
                raise PublishError("Redis is unavailable; the stream queue is full")
            if not self._overflowing:
                self._overflowing = True
                self._logger.error(
                    "Stream queue full (%d entries); new entries are dropped", self._max_queue
                )
            return
        flat = [value for pair in fields for value in pair]
        future = asyncio.get_running_loop().create_future() if wait else None
        self._queue.append((flat, future))
        self._idle.clear()
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="redis-stream-writer")
        if future is not None:
            try:
                await asyncio.wait_for(asyncio.shield(future), PUBLISH_TIMEOUT)
            except TimeoutError:
                raise PublishError(
                    f"XADD not confirmed within {PUBLISH_TIMEOUT:.0f} s; the entry stays "
                    "queued and is sent when Redis is back"
                ) from None

    async def flush(self) -> None:
        """Wait until every queued entry reached Redis (or was refused by it)."""
        await self._idle.wait()

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                try:
                    if self._connection is None:
                        pool = self._client.connection_pool
                        self._connection = await pool.get_connection()  # type: ignore[no-untyped-call]
                    if self._uncertain:
                        await self._reconcile()
                    if self._queue:
                        await self._send(list(itertools.islice(self._queue, _BATCH_MAX)))
                except asyncio.CancelledError:
                    raise
                except (*CONNECTION_ERRORS, TimeoutError) as exc:
                    failures += 1
                    self._uncertain = True
                    self._outage.lost(exc)
                    if self._connection is not None:
                        await self._connection.disconnect(nowait=True)
                    await asyncio.sleep(backoff_delay(failures))
                    continue
                failures = 0
                self._outage.restored(self._counters)
                if self._overflowing and len(self._queue) < self._max_queue // 2:
                    self._overflowing = False
            self._idle.set()

    async def _send(self, batch: list[_Queued]) -> None:
        connection = self._connection
        if not connection.is_connected:
            await connection.connect()
        head = ("XADD", self._stream, "MAXLEN", "~", self._max_len, "*")
        packed = connection.pack_commands([(*head, *flat) for flat, _ in batch])
        self._uncertain = True
        with anyio.fail_after(PUBLISH_TIMEOUT):
            await connection.send_packed_command(packed, check_health=False)
            for _ in batch:
                try:
                    reply = await connection.read_response(
                        timeout=math.inf, disconnect_on_error=False
                    )
                except ResponseError as exc:
                    self._done(error=exc)
                else:
                    self._done(entry_id=reply)
        self._uncertain = False

    def _done(self, *, entry_id: bytes | None = None, error: BaseException | None = None) -> None:
        """The queue's head was written (or refused by Redis, e.g. NOPERM or WRONGTYPE)."""
        _, future = self._queue.popleft()
        if error is None:
            assert entry_id is not None
            self._last_acked = entry_id
            self._counters.published += 1
            if future is not None and not future.done():
                future.set_result(None)
            return
        self._counters.publish_failures += 1
        self._logger.error("Redis refused a stream entry: %s", describe(error))
        self._on_error(error)
        if future is not None and not future.done():
            future.set_exception(PublishError(f"XADD failed: {describe(error)}"))

    async def _reconcile(self) -> None:
        """After a break with a batch in flight: drop from the queue the entries Redis did
        write (ours are the entries with our uid after the last acknowledged id, in order)."""
        start = b"(" + self._last_acked
        written: list[bytes] = []
        while True:
            reply = await _command(
                self._connection, "XRANGE", self._stream, start, "+", "COUNT", _SCAN_COUNT
            )
            if not reply:
                break
            for entry_id, fields in reply:
                if _field(fields or [], b"uid") == self._uid:
                    written.append(entry_id)
            start = b"(" + reply[-1][0]
        for entry_id in written[: len(self._queue)]:
            self._done(entry_id=entry_id)
        if written:
            self._logger.warning(
                "%d stream entries in flight during the outage had reached Redis; "
                "they are not sent again",
                len(written),
            )
        self._uncertain = False

    async def aclose(self) -> None:
        """Send what is queued (for at most ``PUBLISH_TIMEOUT``), then stop."""
        if self._queue and self._task is not None:
            flushing = asyncio.ensure_future(self.flush())
            await asyncio.wait([flushing], timeout=PUBLISH_TIMEOUT)
            flushing.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=5)
        for _, future in self._queue:
            if future is not None and not future.done():
                future.set_exception(PublishError("the adapter closed before this entry was sent"))
        self._queue.clear()
        self._idle.set()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)
            await self._client.connection_pool.release(connection)
