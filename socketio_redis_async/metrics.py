"""Counters a user can export (``mgr.stats()`` returns them as a plain dict)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Counters"]


@dataclass(slots=True)
class Counters:
    published: int = 0
    publish_failures: int = 0
    received: int = 0
    dropped_malformed: int = 0
    dropped_unknown_room: int = 0
    dropped_oversized: int = 0
    reconnects: int = 0
    output_buffer_disconnects: int = 0  # Redis dropped our subscriber: it fell behind
    requests_timed_out: int = 0
    stream_entries_lost: int = 0  # trimmed from a Redis stream before being read
    slow_clients_disconnected: int = 0  # over max_client_queue: stopped reading
    direct_writes: int = 0  # broadcast frames written straight to a websocket connection

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
