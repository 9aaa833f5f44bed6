"""The CI slice of the volume fuzz (issue 12): 2,000 inputs per decode path.

``bench/fuzz.py --inputs 100000`` is the full run. Inputs are nearly-valid messages and
mutated Node samples (tests/support/fuzzing.py), fed to live adapters where their readers
would; no exception may escape, no delivery may cross namespaces or miss the sockets an
undamaged broadcast selects, and afterwards a real broadcast through Redis must still
arrive. A different seed per CI run would make failures unrepeatable, so the seed is fixed;
the offline run is where volume finds new inputs.
"""

from __future__ import annotations

from support.fuzzing import CLASSIC_PATHS, FuzzReport, fuzz_paths
from support.redis_procs import RedisCluster, RedisServer

INPUTS = 2_000


def check(report: FuzzReport, paths: list[str]) -> None:
    print(f"\nfuzz inputs {dict(report.inputs)}; checked {dict(report.checked)}")
    assert report.escapes == []
    assert {p: report.inputs[p] for p in paths} == dict.fromkeys(paths, INPUTS)
    for path in paths:
        assert report.delivered[path] > 0, f"no input of {path} reached a socket"
    for kind, stats in report.stats.items():
        assert stats["dropped_malformed"] > 0, kind
        assert stats["pending_requests"] == 0, kind


async def test_classic_decode_paths(fresh_redis: RedisServer) -> None:
    paths = list(CLASSIC_PATHS)
    report = await fuzz_paths(paths, INPUTS, redis=fresh_redis, seed=12)
    check(report, [p for p in paths if p != "response"])
    assert report.inputs["response"] == INPUTS
    # undamaged broadcasts were checked against the exact recipients
    assert report.checked["broadcast"] > INPUTS // 10


async def test_sharded_decode_path(redis_cluster: RedisCluster) -> None:
    report = await fuzz_paths(["sharded"], INPUTS, cluster=redis_cluster, seed=12)
    check(report, ["sharded"])


async def test_streams_decode_paths(fresh_redis: RedisServer) -> None:
    paths = ["streams-entry", "streams-pubsub"]
    report = await fuzz_paths(paths, INPUTS, redis=fresh_redis, seed=12)
    check(report, paths)
