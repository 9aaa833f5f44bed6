"""The table of requests this server published and still expects responses for.

Every entry has a deadline, so the table cannot grow without bound: an entry leaves it when
its request is complete, when its deadline passes, or when the adapter closes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .protocol import AckResponse, AnyResponse

__all__ = ["ClientAckEntry", "PendingEntry", "RequestTable"]


class PendingEntry(Protocol):
    def feed(self, response: AnyResponse) -> bool:
        """Take one response; return True when the request needs no more."""

    def expire(self) -> None:
        """The deadline passed (or the adapter closed) before the request completed."""


class RequestTable:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[PendingEntry, asyncio.TimerHandle]] = {}

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
            self._remove(request_id)
        return True

    def _remove(self, request_id: str) -> PendingEntry | None:
        found = self._entries.pop(request_id, None)
        if found is None:
            return None
        found[1].cancel()
        return found[0]

    def _expire(self, request_id: str) -> None:
        entry = self._remove(request_id)
        if entry is not None:
            entry.expire()

    def close(self) -> None:
        for request_id in list(self._entries):
            self._expire(request_id)


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
