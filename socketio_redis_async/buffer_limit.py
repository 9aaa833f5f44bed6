"""Why Redis closed a subscriber connection: its ``client-output-buffer-limit pubsub``?

A server that reads its Pub/Sub connection more slowly than others publish makes Redis
queue the difference in that connection's output buffer; past the limit Redis closes the
connection, and the client sees the same end of stream as for a ``CLIENT KILL``. Two pieces
of evidence tell the limit apart, both taken without touching the subscriber connection:

* Redis 7.2 and later count these disconnections (``INFO stats``
  ``client_output_buffer_limit_disconnections``): the counter is read when this server is
  first seen behind (a backlog on its socket) and again after the loss. It counts for the
  whole server, so another client cut at its limit in between is blamed on us too.
* Older Redis (7.0 has no such counter) only leaves the local trace: this process was
  behind, i.e. unread bytes were waiting in the socket's kernel receive queue (sampled with
  ``FIONREAD``, where the platform has it) shortly before the connection ended.

Either way the Redis process must be the same one (``run_id``): a restart is no limit.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

try:
    import fcntl
    import termios

    _FIONREAD: int | None = termios.FIONREAD
except ImportError:  # Windows: no local evidence, only Redis's counter
    _FIONREAD = None

__all__ = ["BacklogProbe", "ServerState", "output_buffer_verdict"]

COUNTER = "client_output_buffer_limit_disconnections"
# Unread bytes in the kernel queue that mean "behind": a reader that keeps up leaves a few
# KiB at most; a full loopback receive window is 64 KiB and more.
BACKLOG_EVIDENCE = 64 * 1024
# How recent that backlog must be when the connection ends. Before seeing the end of the
# stream the reader still consumes what the kernel held, so the last large sample is a
# little older than the loss itself.
EVIDENCE_WINDOW = 5.0
_SAMPLE_EVERY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerState:
    """What ``INFO`` says about the Redis process: its identity and the limit counter."""

    run_id: str | None
    disconnections: int | None  # None: this Redis does not count them (< 7.2)

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ServerState:
        run_id = info.get("run_id")
        count = info.get(COUNTER)
        return cls(
            run_id=None if run_id is None else str(run_id),
            disconnections=int(count) if isinstance(count, (int, str)) else None,
        )


def output_buffer_verdict(
    before: ServerState | None, after: ServerState, backlog: int | None
) -> str | None:
    """Why we think Redis closed the connection at the output-buffer limit, or ``None``.

    ``backlog`` is the largest number of unread bytes seen on the socket shortly before the
    loss (``None`` when it could not be measured).
    """
    if before is None or before.run_id != after.run_id:
        return None  # no reference point, or Redis restarted
    if before.disconnections is not None and after.disconnections is not None:
        added = after.disconnections - before.disconnections
        if added <= 0:
            return None
        return f"INFO stats {COUNTER} rose by {added}"
    if backlog is not None and backlog >= BACKLOG_EVIDENCE:
        return f"{backlog // 1024} KiB were waiting unread on the socket; Redis did not restart"
    return None


class BacklogProbe:
    """Samples how many bytes wait unread in the subscriber's kernel receive queue.

    Sampling costs one ``ioctl`` per 64 KiB of payload read, so the reader's hot path is
    untouched; a connection whose socket cannot be reached is simply not measured.
    """

    def __init__(self) -> None:
        self._writer: Any = None
        self._fd: int | None = None
        self._unsampled = 0
        self._behind = 0  # the last large backlog seen, and when
        self._behind_at = -EVIDENCE_WINDOW

    def follow(self, connection: Any) -> None:
        """Measure the socket ``connection`` (redis-py, asyncio) currently has."""
        writer = getattr(connection, "_writer", None)  # redis-py keeps its streams private
        if writer is self._writer:
            return
        self._writer = writer
        sock = writer.get_extra_info("socket") if writer is not None else None
        self._fd = sock.fileno() if sock is not None and _FIONREAD is not None else None

    def count(self, size: int) -> bool:
        """Account for ``size`` bytes read; sample the queue every 64 KiB. True when that
        sample found this reader behind (a backlog of :data:`BACKLOG_EVIDENCE` or more)."""
        self._unsampled += size
        if self._unsampled < _SAMPLE_EVERY_BYTES:
            return False
        self._unsampled = 0
        waiting = self.sample()
        return waiting is not None and waiting >= BACKLOG_EVIDENCE

    def sample(self) -> int | None:
        """Bytes waiting in the kernel now, or ``None`` when not measurable."""
        if self._fd is None or _FIONREAD is None:
            return None
        try:
            raw = fcntl.ioctl(self._fd, _FIONREAD, b"\0\0\0\0")
        except OSError:
            self._fd = None  # closed under us
            return None
        waiting: int = struct.unpack("i", raw)[0]
        if waiting >= BACKLOG_EVIDENCE:
            now = time.monotonic()
            if waiting >= self._behind or now - self._behind_at > EVIDENCE_WINDOW:
                self._behind = waiting  # the largest of the window: draining lowers it
            self._behind_at = now
        return waiting

    def recent_backlog(self) -> int | None:
        """The largest backlog of a run of samples of at least :data:`BACKLOG_EVIDENCE` bytes
        that ended within :data:`EVIDENCE_WINDOW` seconds, 0 if none, ``None`` if nothing
        was measurable."""
        if time.monotonic() - self._behind_at <= EVIDENCE_WINDOW:
            return self._behind
        return None if self._fd is None and self._writer is None else 0
