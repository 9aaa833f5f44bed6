"""Fuzzing at volume: N generated inputs per decode path into live adapters, offline.

Starts a private redis-server (and a private 3-master Redis Cluster if the sharded path is
asked for), then feeds each path's inputs (tests/support/fuzzing.py: nearly-valid messages
and mutated Node samples) where the reader would, checking every delivery. Prints the
counts per path, the time, and every escape; exit status 1 if there was any.

    .venv/bin/python bench/fuzz.py [--inputs 100000] [--paths broadcast,room,...] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.fuzzing import PATHS, fuzz_paths  # noqa: E402
from support.redis_procs import RedisCluster, RedisServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="per path")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"of {','.join(PATHS)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths {sorted(unknown)}")
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer()) if set(paths) - {"sharded"} else None
        cluster = stack.enter_context(RedisCluster()) if "sharded" in paths else None
        report = asyncio.run(
            fuzz_paths(paths, args.inputs, redis=redis, cluster=cluster, seed=args.seed)
        )
    print(f"{'path':<16}{'inputs':>9}{'oracle':>9}{'deliv':>8}{'seconds':>9}{'escapes':>9}")
    for path in paths:
        escapes = sum(e.startswith(f"{path}:") for e in report.escapes)
        print(
            f"{path:<16}{report.inputs[path]:>9}{report.checked[path]:>9}"
            f"{report.delivered[path]:>8}{report.seconds[path]:>9.1f}{escapes:>9}"
        )
    for kind, stats in report.stats.items():
        print(f"stats {kind}: {stats}")
    for escape in report.escapes[:50]:
        print("ESCAPE", escape)
    total = sum(report.inputs.values())
    print(f"{total} inputs, {len(report.escapes)} escapes in {time.monotonic() - began:.0f}s")
    return 1 if report.escapes else 0


if __name__ == "__main__":
    sys.exit(main())
