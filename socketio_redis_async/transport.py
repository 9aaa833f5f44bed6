"""Redis I/O for the adapter: one subscriber connection and one ordered, batching publisher.

The subscriber holds every pattern and channel of every namespace on a single connection,
read by a single task, so each server counts exactly once in ``PUBSUB NUMSUB`` as Node
servers expect. When that connection drops, the reader reconnects with capped exponential
backoff and jitter; redis-py replays every subscription on reconnect. A watchdog PINGs an
idle connection, so a connection that died silently (a paused server, a dropped NAT entry)
is noticed and replaced instead of waiting forever. A connection Redis closed because this
server fell behind (``client-output-buffer-limit pubsub``) is told apart from other losses
(:mod:`.buffer_limit`), logged as such and counted.

The publisher queues messages and sends whatever accumulated while the previous round trip
was in flight as one pipeline: emits never wait behind each other's round trips, yet leave
Redis in the order they were made. While Redis is unreachable nothing waits on it: failed
batches are counted and reported, and a full queue drops new messages instead of stalling
the application (Pub/Sub delivers at most once anyway).

Both read many replies per socket read: the subscriber takes every message already
received in one go, the publisher a batch's replies. They read them from redis-py's hiredis
reader directly (:func:`_direct_parser`), which costs a fraction of a ``read_response`` call
per reply; error replies are still told apart and raised as redis-py would.

Both classes only depend on a ``redis.asyncio`` client and callbacks, so another Pub/Sub
flavour (sharded) reuses them with its own subscribe commands.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import AskError, MovedError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .buffer_limit import BacklogProbe, ServerState, output_buffer_verdict
from .errors import PublishError
from .metrics import Counters

__all__ = ["MessageHandler", "Publisher", "Subscriber", "backoff_delay", "describe"]

# For reading replies straight from redis-py's hiredis reader (_direct_parser). hiredis is
# a dependency; the parser module is redis-py's own, so a release that moves it only turns
# the fast path off.
try:
    import hiredis
    from redis._parsers import _AsyncHiredisParser
    from redis._parsers.hiredis import NOT_ENOUGH_DATA
except ImportError:  # a redis-py that moved its parser: the fast path stays off
    _HIREDIS_READER: Any = None
    _PUSH_TYPE: Any = None
else:
    _HIREDIS_READER = hiredis.Reader
    _PUSH_TYPE = getattr(hiredis, "PushNotification", None)  # RESP3 push frames, hiredis 3.2+

# INFO could not be read (e.g. an ACL user without +info): do not ask again this episode.
_UNKNOWN_STATE = ServerState(run_id=None, disconnections=None)

# channel, payload, matched pattern (None for a plain channel message); the handler returns
# what to await for it, or None when it had nothing more to do (a coroutine function fits)
MessageHandler = Callable[[bytes, bytes, "bytes | None"], "Awaitable[None] | None"]
ErrorHandler = Callable[[BaseException], None]
Queued = tuple[bytes, bytes, "asyncio.Future[None] | None"]  # channel, payload, waiter
# Messages one cluster node did not take: redirected (MOVED/ASK, error None) or undelivered
# because the node is unreachable (the error). The handler re-routes or drops them.
RedirectHandler = Callable[[list[Queued], "BaseException | None"], None]

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
SUBSCRIBE_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 5.0
INFO_TIMEOUT = 1.0  # asking Redis why the subscriber was dropped must not delay reconnecting
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 5.0


def describe(exc: BaseException) -> str:
    """An error's text, or its type when it has none (redis-py 8 ACL errors often do)."""
    return str(exc) or type(exc).__name__


def backoff_delay(attempt: int, base: float = _BACKOFF_BASE, cap: float = _BACKOFF_CAP) -> float:
    """Capped exponential backoff with equal jitter: about 50 ms, 100 ms, ... up to 5 s."""
    ceiling: float = min(cap, base * 2.0 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _direct_parser(connection: Any) -> Any:
    """redis-py's hiredis parser of ``connection`` when its replies may be taken from its
    ``hiredis.Reader`` directly, else None (read through ``connection.read_response``).

    ``read_response`` costs a few microseconds per reply (a timeout context, host string,
    protocol checks); ``Reader.gets()`` a tenth of that. Only for connection classes that
    keep redis-py's own ``read_response``: Sentinel's, for one, turns READONLY into a
    reconnect, which must not be bypassed.
    """
    if (
        _HIREDIS_READER is None
        or type(connection).read_response is not AbstractConnection.read_response
    ):
        return None
    parser = getattr(connection, "_parser", None)
    if not isinstance(parser, _AsyncHiredisParser):
        return None
    if not isinstance(getattr(parser, "_reader", None), _HIREDIS_READER):
        return None
    return parser


async def _read_replies(connection: Any, parser: Any, count: int) -> list[Any]:
    """The next ``count`` replies of a command pipeline, taken from ``parser``'s hiredis
    reader (:func:`_direct_parser`), error replies returned as exception objects.

    As ``read_response``: a connection error, in a reply or reading, is raised and drops
    the connection, and so does any interruption (a cancelled read leaves replies unread);
    push frames (RESP3) go to redis-py's handler and are not counted.
    """
    gets = parser._reader.gets
    replies: list[Any] = []
    append = replies.append
    try:
        while len(replies) < count:
            reply = gets()
            if type(reply) is int:  # PUBLISH's answer, by far the most common
                append(reply)
            elif reply is NOT_ENOUGH_DATA:
                await parser.read_from_socket()
            elif isinstance(reply, RedisConnectionError):
                raise reply
            elif _PUSH_TYPE is not None and isinstance(reply, _PUSH_TYPE):
                await parser.handle_push_response(reply)
            else:
                append(reply)
    except OSError as exc:
        await connection.disconnect(nowait=True)
        raise RedisConnectionError(f"Error while reading from Redis: {exc}") from exc
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    return replies


async def _reply_or_error(connection: Any) -> Any:
    """One reply through redis-py, an error reply returned as its exception object."""
    try:
        return await connection.read_response(timeout=math.inf)
    except ResponseError as exc:  # e.g. NOPERM: the connection itself is fine
        return exc


class Subscriber:
    """One PubSub connection, its subscriptions, the task that reads it and its watchdog."""

    def __init__(
        self,
        client: aioredis.Redis,
        on_message: MessageHandler,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
        health_check_interval: float = 10.0,
    ) -> None:
        self._client = client
        self._counters = counters
        self._on_message = on_message
        self._logger = logger
        self._on_error = on_error
        self._health_check_interval = health_check_interval
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._confirmations: dict[tuple[str, bytes], asyncio.Future[None]] = {}
        self._running = False
        self._connected = False
        self._outage_started: float | None = None
        self._last_activity = time.monotonic()
        self._backlog = BacklogProbe()
        self._server_state: ServerState | None = None  # INFO when the connection was made
        self._deferred: BaseException | None = None  # read behind messages: raised next
        # redis-py opens the PubSub connection lazily on the first command: two concurrent
        # first subscribes would open two connections, one of them never read.
        self._command_lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """True while the connection is up and its subscriptions are in place."""
        return self._connected

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
            self._ensure_tasks()
            await asyncio.wait_for(asyncio.gather(*waiters), SUBSCRIBE_TIMEOUT)
        except BaseException:
            for key in keys:
                self._confirmations.pop(key, None)
            raise
        self._connected = True

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

    def _ensure_tasks(self) -> None:
        if self._tasks:
            return
        self._running = True
        self._tasks.append(asyncio.create_task(self._read_forever(), name="redis-reader"))
        if self._health_check_interval > 0:
            self._tasks.append(asyncio.create_task(self._watch(), name="redis-watchdog"))

    async def _read_forever(self) -> None:
        failures = 0
        while self._running:
            try:
                responses = await self._read()
            except asyncio.CancelledError:
                raise
            except CONNECTION_ERRORS as exc:
                failures += 1
                await self._ended(exc)
                await asyncio.sleep(backoff_delay(failures))
                continue
            except ResponseError as exc:
                self._refused(exc)
                continue
            except Exception as exc:
                failures += 1
                self._logger.warning("Unexpected error reading from Redis: %s", describe(exc))
                self._on_error(exc)
                await asyncio.sleep(backoff_delay(failures))
                continue
            failures = 0
            self._last_activity = time.monotonic()
            await self._dispatch(responses)
            del responses  # not kept (payloads and all) while the next read waits

    async def _read(self) -> list[Any]:
        """The raw replies the PubSub connection has ready, at least one (waiting for it),
        reconnecting the connection first if needed.

        The first reply is read through redis-py, which waits, raises and drops a broken
        connection as usual; those already received behind it are taken from its hiredis
        reader directly (:func:`_direct_parser`), a fraction of the cost. An error reply
        among them is raised by the next call, once the messages before it are dispatched,
        as if read one at a time. This also skips ``PubSub.get_message``'s per-message
        wrapping (retry closures, a dict per message, metrics hooks); reconnecting still
        goes through redis-py, whose connect callback replays every subscription.
        """
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            raise deferred
        connection = self._pubsub.connection
        if connection is None:
            raise RedisConnectionError("the subscriber has no connection")
        if not connection.is_connected:
            await connection.connect()
        self._backlog.follow(connection)
        responses = [await connection.read_response(timeout=math.inf, push_request=True)]
        parser = _direct_parser(connection)
        if parser is not None:
            await self._take_ready(connection, parser, responses)
        return responses

    async def _take_ready(self, connection: Any, parser: Any, responses: list[Any]) -> None:
        """Append the replies ``parser`` holds complete, as ``read_response`` returns them;
        stop at the first error, kept for the next :meth:`_read` to raise."""
        gets = parser._reader.gets
        append = responses.append
        while True:
            try:
                reply = gets()
            except Exception as exc:  # not RESP: redis-py drops the connection as well
                await connection.disconnect(nowait=True)
                self._deferred = exc
                return
            if type(reply) is list:  # a RESP2 message, by far the most common
                append(reply)
            elif reply is NOT_ENOUGH_DATA:
                return
            elif isinstance(reply, Exception):
                if isinstance(reply, RedisConnectionError):
                    await connection.disconnect(nowait=True)
                self._deferred = reply
                return
            elif _PUSH_TYPE is not None and isinstance(reply, _PUSH_TYPE):
                append(await parser.handle_push_response(reply))
            else:
                append(reply)

    def _refused(self, exc: ResponseError) -> None:
        """Redis answered a (un)subscribe with an error, e.g. NOPERM for an ACL user whose
        channel rules do not cover the key: whoever waits for a confirmation learns why."""
        waiting = [f for f in self._confirmations.values() if not f.done()]
        self._confirmations.clear()
        for future in waiting:
            future.set_exception(exc)
        if not waiting:
            self._logger.warning("Redis refused a subscription command: %s", describe(exc))
            self._on_error(exc)

    async def _read_server_state(self) -> ServerState | None:
        """``INFO`` on another connection: the reference to tell a limit from a restart.

        Read only once this server is behind (see :meth:`_dispatch`) and after a loss, so a
        server that keeps up never sends INFO (an ACL user may lack ``+info``)."""
        try:
            with anyio.fail_after(INFO_TIMEOUT):
                info = await self._client.info()
        except asyncio.CancelledError:
            raise
        except Exception:
            self._logger.debug("INFO failed; losses cannot be explained", exc_info=True)
            return None
        return ServerState.from_info(info)

    async def _ended(self, exc: BaseException) -> None:
        """A lost connection: at the output-buffer limit (logged and counted as such) or
        anything else (:meth:`_lost`). Only the first failure of an outage is examined."""
        if self._outage_started is None and self._server_state not in (None, _UNKNOWN_STATE):
            backlog = self._backlog.recent_backlog()
            after = await self._read_server_state()
            reason = (
                None if after is None else output_buffer_verdict(self._server_state, after, backlog)
            )
            if reason is not None:
                self._connected = False
                self._outage_started = time.monotonic()
                self._counters.output_buffer_disconnects += 1
                self._logger.error(
                    "Redis closed the subscriber connection at its client-output-buffer-limit "
                    "for Pub/Sub: this server read messages more slowly than they were "
                    "published (%s); what was published meanwhile is lost; reconnecting",
                    reason,
                )
                self._on_error(exc)
                return
        self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        """One log line per outage, however many retries it takes."""
        self._connected = False
        if self._outage_started is None:
            self._outage_started = time.monotonic()
            self._logger.error("Redis subscriber connection lost (%s); reconnecting", exc)
            self._on_error(exc)

    async def _restored(self) -> None:
        if self._outage_started is not None:
            self._server_state = None  # the next episode of falling behind takes a new one
            downtime = time.monotonic() - self._outage_started
            self._outage_started = None
            self._counters.reconnects += 1
            self._logger.warning(
                "Redis subscriber reconnected after %.1f s; subscriptions restored", downtime
            )
        self._connected = True

    async def _dispatch(self, responses: list[Any]) -> None:
        """Hand each message to the handler, in order, and the other replies to
        :meth:`_control`: one coroutine per batch, none per message."""
        on_message = self._on_message
        for response in responses:
            if not isinstance(response, list):
                continue  # a PONG (RESP3 answers PING in subscribed mode with a plain reply)
            size = len(response)
            if size == 4 and response[0] == b"pmessage":
                pattern, channel, payload = response[1], response[2], response[3]
            elif size == 3 and response[0] == b"message":
                pattern, channel, payload = None, response[1], response[2]
            else:
                await self._control(response)
                continue
            self._counters.received += 1
            if self._backlog.count(len(payload)) and self._server_state is None:
                # Falling behind: take Redis's reference state now, while the connection is
                # still up. Only then: an ACL user without +info never sees it otherwise.
                self._server_state = await self._read_server_state() or _UNKNOWN_STATE
            try:
                pending = on_message(channel, payload, pattern)
                if pending is not None:
                    await pending
            except asyncio.CancelledError:
                raise
            except Exception:
                # A handler bug must cost one message, never the listener.
                self._logger.exception("Error handling a message on %r; message dropped", channel)

    async def _control(self, response: list[Any]) -> None:
        """A (un)subscribe confirmation; anything else is ignored."""
        kind = response[0] if response else None
        if kind in (b"subscribe", b"psubscribe"):
            future = self._confirmations.pop((kind.decode(), response[1]), None)
            if future is None:
                await self._restored()  # redis-py replayed our subscriptions on a new connection
            elif not future.done():
                future.set_result(None)
        elif kind in (b"unsubscribe", b"punsubscribe"):
            await self._pubsub.handle_message(response)  # redis-py's own bookkeeping

    async def _watch(self) -> None:
        """PING an idle connection; replace it if nothing at all came back in time.

        redis-py's own health check only sends a PING before a read and never times the
        answer, so a half-open connection would otherwise block the reader forever.
        """
        interval = self._health_check_interval
        while self._running:
            await asyncio.sleep(interval / 2)
            idle = time.monotonic() - self._last_activity
            if idle < interval or not self._connected:
                continue
            try:
                await asyncio.wait_for(self._pubsub.ping(), interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._logger.debug("Watchdog PING could not be sent", exc_info=True)
            await asyncio.sleep(interval)
            if self._running and time.monotonic() - self._last_activity > 1.5 * interval:
                self._lost(RedisTimeoutError(f"no reply from Redis for {interval * 1.5:.1f} s"))
                connection = getattr(self._pubsub, "connection", None)
                if connection is not None:
                    await connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        self._running = False
        self._connected = False
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:
                self._logger.debug("Error closing the subscriber connection", exc_info=True)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for future in self._confirmations.values():
            future.cancel()
        self._confirmations.clear()


class Publisher:
    """Ordered, pipelined PUBLISH (or SPUBLISH to one cluster node): each round trip carries
    everything queued meanwhile."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
        high_water: int = 10_000,
        stall_after: float = 1.0,
        command: bytes = b"PUBLISH",
        on_redirect: RedirectHandler | None = None,
    ) -> None:
        self._client = client
        self._on_redirect = on_redirect
        # RESP for "<command> <channel> <payload>", packed by hand (PUBLISH or SPUBLISH).
        self._format = b"*3\r\n$%d\r\n%b\r\n" % (len(command), command)
        self._format += b"$%d\r\n%b\r\n$%d\r\n%b\r\n"
        self._logger = logger
        self._on_error = on_error
        self._counters = counters
        self._high_water = high_water
        self._stall_after = stall_after
        self._queue: list[tuple[bytes, bytes, asyncio.Future[None] | None]] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._in_flight_since: float | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._overdue = False  # the writer was cancelled by _check_deadline
        self._failing = False
        self._connection: Any = None  # a pool connection kept for the publisher alone
        self._socket_timeout: float | None = None  # the pool's, given back with the connection

    async def publish(self, channel: bytes, payload: bytes, *, wait: bool = False) -> None:
        """Queue a message. ``wait=True`` returns once Redis took it and raises
        :class:`PublishError` if it could not; otherwise failures are only reported.

        A full queue makes the caller wait while Redis keeps up, and drops the message when
        Redis is failing or stalled, so app code never hangs on an outage.
        """
        if len(self._queue) >= self._high_water and not await self._room_in_queue():
            self._counters.publish_failures += 1
            if wait:
                raise PublishError("Redis is unavailable; the publish queue is full")
            return
        future = asyncio.get_running_loop().create_future() if wait else None
        queue = self._queue
        queue.append((channel, payload, future))
        if len(queue) == 1:  # else the writer was woken up already and has not taken them
            self._idle.clear()
            self._wakeup.set()
            if self._writer is None:
                self._writer = asyncio.create_task(self._write_forever(), name="redis-writer")
        if future is not None:
            await future
        elif len(queue) % 1024 == 0:
            await asyncio.sleep(0)  # an emit loop that never yields still lets batches go

    def _stalled(self) -> bool:
        started = self._in_flight_since
        return self._failing or (
            started is not None and time.monotonic() - started > self._stall_after
        )

    async def _room_in_queue(self) -> bool:
        while len(self._queue) >= self._high_water:
            if self._stalled():
                return False
            try:
                await asyncio.wait_for(self._idle.wait(), self._stall_after)
            except asyncio.TimeoutError:
                return False
        return True

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
                del batch  # not kept (payloads and all) while the writer waits
            self._idle.set()

    def _check_deadline(self) -> None:
        """Cancel the batch in flight once it has waited ``PUBLISH_TIMEOUT`` for Redis.

        One timer per publisher, re-armed for the batch in flight, instead of a timeout
        scope per batch: an anyio scope costs ~15 µs, more than the rest of sending a
        one-message batch (what a paced emitter sends), and leaves a cancelled timer."""
        self._deadline = None
        started, writer = self._in_flight_since, self._writer
        if started is None or writer is None:
            return  # idle: the next batch arms it again
        left = started + PUBLISH_TIMEOUT - time.monotonic()
        if left > 0:
            self._deadline = asyncio.get_running_loop().call_later(left, self._check_deadline)
        else:
            # The writer is suspended inside _write_batch (the only awaits while a batch
            # is in flight), so that is where the cancellation lands.
            self._overdue = True
            writer.cancel()

    def _take_overdue(self) -> bool:
        """Whether the cancellation being handled is :meth:`_check_deadline`'s (and not
        :meth:`aclose`'s, which clears ``_writer`` first); if so it is withdrawn."""
        overdue, self._overdue = self._overdue, False
        if not overdue or self._writer is None:
            return False
        task = asyncio.current_task()
        if sys.version_info >= (3, 11) and task is not None:
            task.uncancel()
            if task.cancelling():
                return False  # also cancelled by someone else: let it end
        return True

    async def _send(self, batch: list[Queued]) -> None:
        self._in_flight_since = time.monotonic()
        if self._deadline is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(PUBLISH_TIMEOUT, self._check_deadline)
        error: BaseException | None = None
        try:
            try:
                error, redirected = await self._write_batch(batch)
            except asyncio.CancelledError:
                if not self._take_overdue():
                    raise
                raise TimeoutError(f"Redis did not answer within {PUBLISH_TIMEOUT:.0f} s") from None
            if redirected and self._on_redirect is not None:
                self._on_redirect(redirected, None)  # not lost: re-sent to the new owner
                moved = {id(item) for item in redirected}
                batch = [item for item in batch if id(item) not in moved]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
            if self._connection is not None:
                await self._connection.disconnect(nowait=True)  # the next batch reconnects
            if self._on_redirect is not None and isinstance(exc, CONNECTION_ERRORS):
                self._on_redirect(batch, exc)  # a cluster node is gone: its owner decides
                return
        finally:
            self._in_flight_since = None
        if error is None:
            self._counters.published += len(batch)
            if self._failing:
                self._failing = False
                self._logger.warning("Publishing to Redis works again")
        else:
            self._counters.publish_failures += len(batch)
            if not self._failing:
                self._failing = True
                self._logger.error("Publishing to Redis failed (%s); messages are dropped", error)
            self._on_error(error)
        for _, _, future in batch:
            if future is not None and not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(PublishError(f"publish to Redis failed: {error}"))

    async def _write_batch(self, batch: list[Queued]) -> tuple[BaseException | None, list[Queued]]:
        """PUBLISH the whole batch in one write on the publisher's own connection, then read
        one reply per message, straight from the hiredis reader when possible (see
        :func:`_direct_parser`). The commands are packed here (RESP is trivial for PUBLISH):
        redis-py's pipeline costs several times more per command.

        Returns the error of a refused message, if any (e.g. NOPERM), and the messages a
        cluster node redirected elsewhere (MOVED/ASK), when there is a redirect handler."""
        connection = self._connection
        if connection is None:
            pool = self._client.connection_pool
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            # The deadline above bounds every wait on this connection. redis-py's
            # socket_timeout (5 s by default in 8.x) would wrap each batch's write in
            # asyncio.wait_for: a task and a timer per batch (~20 µs) and, on Python < 3.12,
            # a cancellation it can swallow (REDIS-PY-NOTES 2.5). Restored on release.
            self._socket_timeout = connection.socket_timeout
            connection.socket_timeout = None
            self._connection = connection
        elif not connection.is_connected:
            await connection.connect()
        fmt = self._format
        blob = b"".join([fmt % (len(ch), ch, len(pl), pl) for ch, pl, _ in batch])
        await connection.send_packed_command(blob, check_health=False)
        parser = _direct_parser(connection)
        if parser is None:
            replies = [await _reply_or_error(connection) for _ in batch]
        else:
            replies = await _read_replies(connection, parser, len(batch))
        error: BaseException | None = None
        redirected: list[Queued] = []
        for item, reply in zip(batch, replies, strict=True):
            if type(reply) is int or not isinstance(reply, ResponseError):
                continue
            if self._on_redirect is not None and isinstance(reply, (MovedError, AskError)):
                redirected.append(item)
            else:
                error = reply  # e.g. NOPERM: the connection itself is fine
        return error, redirected

    async def aclose(self) -> None:
        """Send what is queued (for at most ``PUBLISH_TIMEOUT``), then stop the writer."""
        if self._queue:
            flushing = asyncio.ensure_future(self.flush())
            await asyncio.wait([flushing], timeout=PUBLISH_TIMEOUT)
            flushing.cancel()
        writer, self._writer = self._writer, None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if writer is not None:
            writer.cancel()
            await asyncio.wait([writer], timeout=PUBLISH_TIMEOUT)
        for _, _, future in self._queue:
            if future is not None and not future.done():
                future.set_exception(PublishError("the adapter closed before this publish"))
        self._queue.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.socket_timeout = self._socket_timeout
            await self._client.connection_pool.release(connection)
