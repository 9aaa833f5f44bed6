"""Smoke run of ``bench/streams.py --quick`` for the two Python implementations.

It starts its own redis-server (AOF on), both servers of each implementation and the client
process; the numbers mean nothing here. What is checked is that the table printed a row per
implementation with every broadcast delivered, nothing lost, a nonzero throughput, latencies,
Redis CPU, and (for the streams adapter only) the stream left in Redis.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_quick_streams_bench_prints_nonzero_throughput_for_python_impls() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "streams.py"),
            "--quick",
            "--impls",
            "classic,streams",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, f"bench/streams.py failed:\n{proc.stdout}\n{proc.stderr}"
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    for impl in ("classic", "streams"):
        cells = rows[impl]
        delivered, expected = cells[1].split("/")
        assert delivered == expected == "300", cells
        assert float(cells[4]) > 0 and float(cells[5]) > 0, cells  # broadcasts/s, deliveries/s
        assert 0 < float(cells[6]) <= float(cells[7]), cells  # latency p50 <= p99
        assert float(cells[8]) > 0, cells  # Redis CPU per 1,000 broadcasts
        assert cells[14] == "0", cells  # nothing lost
    publish, xadd = (int(c) for c in rows["classic"][15:17])
    assert publish >= 300 and xadd == 0, rows["classic"]
    assert rows["classic"][12:14] == ["0", "0"], rows["classic"]  # no stream
    assert int(rows["streams"][12]) >= 300 and float(rows["streams"][13]) > 0, rows["streams"]
    assert int(rows["streams"][16]) >= 300, rows["streams"]  # XADD calls
    assert "median:streams" in proc.stdout
    assert "ratio streams/classic" in proc.stdout
