"""The table of requests this server published and still expects responses for.

Every entry has a deadline, so the table cannot grow without bound: an entry leaves it when
its request is complete, when its deadline passes, when its caller stops waiting, or when the
adapter closes. Responses carrying an id that is not in the table (other servers' requests,
late or replayed answers) are ignored.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .errors import RequestTimeoutError
from .metrics import Counters
from .protocol import AckResponse, AnyResponse, ClientCountResponse

__all__ = [
    "BroadcastAckEntry",
    "ClientAckEntry",
    "CollectEntry",
    "PendingEntry",
    "RequestTable",
    "run_bounded",
]


T = TypeVar("T")


async def run_bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """Await with a deadline that holds even if the awaited code ignores cancellation.

    ``asyncio.wait_for`` waits for the cancelled task to finish, and on Python <= 3.11 a
    redis-py 8 command can swallow the cancellation and run until its socket timeout.
    Here the caller gets ``asyncio.TimeoutError`` on time; the straggler finishes alone.
    """
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=timeout)
    if task in done:
        return task.result()
    task.cancel()
    task.add_done_callback(_consume_outcome)
    raise asyncio.TimeoutError


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log "never retrieved"


class PendingEntry(Protocol):
    def feed(self, response: AnyResponse) -> bool:
        """Take one response; return True when the request needs no more."""

    def expire(self) -> None:
        """The deadline passed (or the adapter closed) before the request completed."""


class RequestTable:
    def __init__(self, counters: Counters) -> None:
        self._entries: dict[str, tuple[PendingEntry, asyncio.TimerHandle]] = {}
        self._counters = counters

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._entries

    def add(self, request_id: str, entry: PendingEntry, timeout: float) -> None:
        timer = asyncio.get_running_loop().call_later(timeout, self._expire, request_id)
        self._entries[request_id] = (entry, timer)

    def feed(self, request_id: str, response: AnyResponse) -> bool:
        """Route a response; False if no request of ours has this id (someone else's)."""
        found = self._entries.get(request_id)
        if found is None:
            return False
        if found[0].feed(response):
            self.discard(request_id)
        return True

    def discard(self, request_id: str) -> None:
        """Forget a request (its caller was cancelled); later answers are ignored."""
        found = self._entries.pop(request_id, None)
        if found is not None:
            found[1].cancel()

    def _expire(self, request_id: str, *, timed_out: bool = True) -> None:
        found = self._entries.pop(request_id, None)
        if found is not None:
            found[1].cancel()
            if timed_out:
                self._counters.requests_timed_out += 1
            found[0].expire()

    def close(self) -> None:
        """End every request now, as if its deadline had passed (the adapter is closing)."""
        for request_id in list(self._entries):
            self._expire(request_id, timed_out=False)


class CollectEntry:
    """One answer from each of ``expected`` other servers (fetch, all rooms, server-side acks).

    ``accept`` turns a response into the value to collect, or raises ``TypeError`` for a
    response that does not answer this kind of request (it is then ignored).
    """

    def __init__(self, operation: str, expected: int, accept: Callable[[AnyResponse], Any]) -> None:
        self.operation = operation
        self.expected = expected
        self.responses: list[Any] = []
        self.future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._accept = accept

    def feed(self, response: AnyResponse) -> bool:
        try:
            value = self._accept(response)
        except TypeError:
            return False
        self.responses.append(value)
        if len(self.responses) < self.expected:
            return False
        if not self.future.done():
            self.future.set_result(self.responses)
        return True

    def expire(self) -> None:
        if not self.future.done():
            self.future.set_exception(
                RequestTimeoutError(
                    self.operation, self.responses, len(self.responses), self.expected
                )
            )


class BroadcastAckEntry:
    """Node's broadcast-with-ack bookkeeping: done when every server reported its client
    count and as many acks as those counts add up to have arrived.

    The requester's own clients count as one server's report. At the deadline the future
    resolves with the acks that arrived (``timed_out`` tells the two endings apart).
    """

    def __init__(self, expected_servers: int) -> None:
        self.expected_servers = expected_servers
        self.servers = 0
        self.expected_acks = 0
        self.responses: list[Any] = []
        self.timed_out = False
        self.future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

    def feed(self, response: AnyResponse) -> bool:
        if isinstance(response, ClientCountResponse):
            self.servers += 1
            self.expected_acks += response.client_count
        elif isinstance(response, AckResponse):
            self.responses.append(response.args[0] if response.args else None)
        else:
            return False
        if self.servers >= self.expected_servers and len(self.responses) >= self.expected_acks:
            if not self.future.done():
                self.future.set_result(self.responses)
            return True
        return False

    def expire(self) -> None:
        self.timed_out = True
        if not self.future.done():
            self.future.set_result(self.responses)


class ClientAckEntry:
    """Acks of clients on other servers for ``emit(..., callback=cb)``.

    ``cb`` runs once per acking client, with the ack's first argument only: the Node protocol
    forwards nothing more. ``single`` ends the request at the first ack (one sid targeted).
    """

    def __init__(
        self,
        callback: Callable[..., Any],
        *,
        single: bool,
        logger: logging.Logger,
        tasks: set[asyncio.Task[Any]],
    ) -> None:
        self._callback = callback
        self._single = single
        self._logger = logger
        self._tasks = tasks

    def feed(self, response: AnyResponse) -> bool:
        if not isinstance(response, AckResponse):
            return False
        try:
            result = self._callback(*response.args)
        except Exception:
            self._logger.exception("Ack callback raised")
            return self._single
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._single

    def expire(self) -> None:
        """Like python-socketio: a callback that is never called is simply dropped."""
