"""Smoke run of the cluster benchmark: ``bench/run.py --quick`` end to end.

It starts its own redis-server, both servers of every implementation (ours, python-socketio's
AsyncRedisManager, Node socket.io + @socket.io/redis-adapter, the raw redis.asyncio ceiling)
and the Node load generator, with tiny counts. The numbers mean nothing here; what is checked
is that every scenario ran for every implementation and every message arrived exactly once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("S1", "S2", "S3", "S4")
IMPLS = ("ours", "manager", "node", "raw", "raw-pipelined")
SOCKETIO_IMPLS = ("ours", "manager", "node")

pytestmark = pytest.mark.interop


@pytest.mark.timeout(120)
def test_quick_bench_runs_every_scenario_and_implementation_without_loss(
    tmp_path: Path,
) -> None:
    node_modules = ROOT / "tests" / "interop" / "node" / "node_modules"
    if shutil.which("node") is None or not (node_modules / "socket.io-client").is_dir():
        pytest.fail("the benchmark needs node and `npm ci` in tests/interop/node")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, f"bench/run.py --quick failed:\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(out.read_text())

    assert report["quick"] is True
    for scenario in SCENARIOS:
        summary = report["summary"][scenario]
        assert set(summary) == set(IMPLS), scenario
        for impl in IMPLS:
            row = summary[impl]
            assert row["expected"] > 0, (scenario, impl)
            assert row["lost"] == 0, (scenario, impl, row)
            assert row["received"] == row["expected"], (scenario, impl, row)
            assert row["delivered_per_s"] and row["delivered_per_s"] > 0, (scenario, impl)
            assert row["cpu_us_A"] is not None and row["cpu_us_B"] is not None
            assert row["p50_ms"] is not None and row["p99_ms"] is not None
    for run in report["runs"]:
        where = (run["scenario"], run["impl"])
        assert run["duplicates"] == 0 and run["unexpected"] == 0, where
        assert run["disconnects"] == 0 and not run["timed_out"], where
    assert set(report["memory"]) == set(SOCKETIO_IMPLS)
    # The table is printed with both ratios.
    assert "ours/manager" in proc.stdout and "ours/node" in proc.stdout
