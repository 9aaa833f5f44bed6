"""Smoke run of the scale benchmark: ``bench/scale.py --quick`` end to end, then
``--plot-only`` on its JSON.

It starts its own redis-server, fresh servers of every implementation (ours, python-socketio's
AsyncRedisManager, Node socket.io + @socket.io/redis-adapter) at one point of each curve and
the Node load generator, with tiny counts. The numbers mean nothing here; what is checked is
that every point ran for every implementation without loss, and that the table and the plots
are written (to a temporary directory: the committed plots in docs/performance/ stay as they
are).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CURVES = ("servers", "clients", "rooms", "payload")
IMPLS = ("ours", "manager", "node")
PLOTS = [f"scale-{c}.png" for c in CURVES] + ["scale-memory.png"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.interop


def run_scale(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"bench/scale.py {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.timeout(150)
def test_quick_scale_run_measures_every_curve_and_draws_the_plots(tmp_path: Path) -> None:
    node_modules = ROOT / "tests" / "interop" / "node" / "node_modules"
    if shutil.which("node") is None or not (node_modules / "socket.io-client").is_dir():
        pytest.fail("the benchmark needs node and `npm ci` in tests/interop/node")
    docs_plots = {p: p.stat().st_mtime_ns for p in (ROOT / "docs" / "performance").glob("*.png")}
    out = tmp_path / "scale.json"
    plots = tmp_path / "plots"
    proc = run_scale("--quick", "--out", str(out), "--plots-dir", str(plots), timeout=120)
    report = json.loads(out.read_text())

    assert report["quick"] is True
    assert report["curves"] == list(CURVES)
    rows = report["summary"]
    assert {(r["curve"], r["impl"]) for r in rows} == {(c, i) for c in CURVES for i in IMPLS}
    for row in rows:
        where = (row["curve"], row["x"], row["impl"])
        assert row["lost"] == 0, (where, row)
        assert row["deliveries_per_s"] and row["deliveries_per_s"] > 0, where
        assert row["p99_ms"] is not None and row["p50_ms"] is not None, where
        assert row["paced_rate"] and row["paced_rate"] > 0, where
        assert row["kib_per_client"] is not None, where
        if row["curve"] == "rooms":
            assert row["kib_per_room"] is not None, where
    # every implementation of a point is paced at the same rate
    for curve in CURVES:
        assert len({r["paced_rate"] for r in rows if r["curve"] == curve}) == 1, curve
    for result in report["results"]:
        where = (result["curve"], result["impl"], result["phase"])
        assert result["received"] == result["expected"] > 0, where
        assert result["duplicates"] == 0 and result["unexpected"] == 0, where
        assert result["disconnects"] == 0 and not result["timed_out"], where
        assert len(result["cpu_s"]) == result["point"]["servers"] + 2, where  # + loadgen, redis

    for name in PLOTS:
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC, name
    table = (plots / "scale-table.md").read_text()
    assert table.strip() in proc.stdout
    for impl in IMPLS:
        assert f"| {impl} |" in table
    assert table.count("|---|---|") == len(CURVES)

    # --plot-only redraws the same table from the saved JSON
    again = tmp_path / "again"
    run_scale("--plot-only", str(out), "--plots-dir", str(again), timeout=60)
    assert (again / "scale-table.md").read_text() == table
    for name in PLOTS:
        assert (again / name).read_bytes()[:8] == PNG_MAGIC, name
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "docs" / "performance").glob("*.png")}
    assert after == docs_plots
