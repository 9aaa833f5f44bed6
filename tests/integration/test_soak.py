"""The short soak (issue 12): 5,000 real client cycles and 101 dynamic namespaces.

The long version is ``bench/soak.py`` (50,000 cycles, 1,000 namespaces). Samples every
1,000 cycles; the first 1,000 cycles are warm-up (RSS rises about 2.5 MiB there: the HTTP
stacks' caches, pymalloc arenas, the first dynamic namespaces' objects), then everything
must stay flat: tasks, Redis subscriptions (NUMSUB and NUMPAT), subscribed namespaces and
the request tables exactly, RSS within a bound.

The RSS bound: over the 4,000 measured cycles RSS moved by less than 0.2 MiB here (the
long run: +0.09 MiB over 45,000 cycles), with sample-to-sample noise of about 0.15 MiB. A
leak of 1 KiB per cycle, the size of one socket's session, would add 4 MiB; the bound of
2 MiB lies between the two with room for a noisier machine.
"""

from __future__ import annotations

import pytest
from support.leaks import MiB, start_pair
from support.redis_procs import RedisServer
from support.soak import HEADER, Sample, flatness, run_soak

CYCLES = 5_000
WARMUP = 1_000
RSS_BOUND = 2 * MiB


def check_flat(samples: list[Sample]) -> None:
    print("\n" + HEADER)
    for sample in samples:
        print(sample.row())
    result = flatness(samples, WARMUP)
    print(
        f"after warm-up: RSS {result.rss_growth / MiB:+.2f} MiB over {result.cycles} cycles, "
        f"slope {result.rss_slope / 1024:+.1f} KiB per 1,000 cycles"
    )
    assert samples[-1].cycle == CYCLES
    assert result.problems == []
    assert max(s.rss for s in samples if s.cycle >= WARMUP) - samples[1].rss < RSS_BOUND
    assert samples[-1].pending_requests == 0


@pytest.mark.timeout(240)
async def test_short_soak_classic(fresh_redis: RedisServer) -> None:
    servers = await start_pair(fresh_redis.url)
    try:
        samples = await run_soak(
            fresh_redis, servers, cycles=CYCLES, sample_at=range(1_000, CYCLES + 1, 1_000)
        )
    finally:
        for server in servers:
            await server.stop()
    check_flat(samples)
    assert samples[-1].patterns == 1  # "socket.io#/#*", both servers
    assert samples[-1].subscriptions == 6  # two request, four response channels of "/"
