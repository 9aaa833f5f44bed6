"""Issue 12, slow clients: one websocket client joins and never reads while the server
broadcasts fast to others in another process. The adapter's ``max_client_queue`` ends the
stuck client once python-engineio holds more than that many packets for it; the others get
every message, in order, and the server's memory stays bounded. Figures are printed (-s).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from support.sio_servers import eventually, start_server
from support.slow_clients import GoodClients, stuck_client

LIMIT = 200
GOOD = 10
RATE = 1000  # broadcasts per second
PAYLOAD = "x" * 2000
# The kernel and the websocket write buffer absorb a few MB before python-engineio's queue
# grows (about 3 MB on a Linux loopback): broadcast until the stuck client is gone, then
# AFTER more, within MAX_TICKS.
AFTER = 1000
MAX_TICKS = 15_000


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_stuck_client_is_disconnected_others_get_every_message(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(redis_url, max_client_queue=LIMIT)
    # Heartbeats far beyond the test: only the adapter's limit can end the stuck client.
    server.sio.eio.ping_interval, server.sio.eio.ping_timeout = 120, 120
    good = None
    stuck = None
    try:
        good = await GoodClients.start(server.url, GOOD, every=0.5)
        before = set(server.sio.eio.sockets)
        stuck = await asyncio.to_thread(stuck_client, int(server.url.rsplit(":", 1)[1]))
        stuck_eio = (await eventually(lambda: set(server.sio.eio.sockets) - before)).pop()
        await eventually(lambda: stuck_eio in server.mgr.rooms["/"][None].values())
        assert len(server.mgr.rooms["/"][None]) == GOOD + 1
        rss_start = rss_peak = rss_mib()
        queue_peak = 0
        gone_at: int | None = None
        first_queued: int | None = None
        start = time.monotonic()
        sent = 0
        while sent < (MAX_TICKS if gone_at is None else min(MAX_TICKS, gone_at + AFTER)):
            due = min(MAX_TICKS, int((time.monotonic() - start) * RATE) + 1)
            for seq in range(sent, due):
                await server.sio.emit("tick", (seq, time.time(), PAYLOAD))
            sent = due
            sock = server.sio.eio.sockets.get(stuck_eio)
            if sock is not None and not sock.closed:
                queue_peak = max(queue_peak, sock.queue.qsize())
                if sock.queue.qsize() > 10 and first_queued is None:
                    first_queued = sent
            elif gone_at is None:
                gone_at = sent
            rss_peak = max(rss_peak, rss_mib())
            await asyncio.sleep(0.005)
        await server.sio.emit("end", sent)
        final = await asyncio.wait_for(good.final, 30)
        elapsed = time.monotonic() - start
        print(
            f"\nslow client: {sent} broadcasts of {len(PAYLOAD)} B at {RATE}/s to {GOOD} good "
            f"clients + 1 stuck in {elapsed:.1f} s; stuck queue peak {queue_peak} "
            f"(limit {LIMIT}), queue over 10 after {first_queued} and client disconnected "
            f"after {gone_at} broadcasts; RSS {rss_start:.1f} -> "
            f"peak {rss_peak:.1f} MiB; good clients p99 {final['p99_ms']:.1f} ms, "
            f"min count {min(final['counts'])}"
        )
        assert gone_at is not None, f"the stuck client was never disconnected (q {queue_peak})"
        assert server.mgr.stats()["slow_clients_disconnected"] == 1
        assert stuck_eio not in server.mgr.rooms["/"][None].values()
        assert queue_peak <= LIMIT + 1  # a broadcast is one packet: one past the limit at most
        warnings = [r for r in caplog.records if "max_client_queue=200" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert final["counts"] == [sent] * GOOD and final["in_order"]
        assert final["connected"] == GOOD
        assert rss_peak - rss_start < 40, f"RSS grew by {rss_peak - rss_start:.1f} MiB"
    finally:
        if stuck is not None:
            stuck.close()
        if good is not None:
            await good.stop()
        await server.stop()
