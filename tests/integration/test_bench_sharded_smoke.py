"""Smoke run of ``bench/sharded.py --quick`` for the two Python implementations.

It starts its own Redis Cluster, both servers of each implementation and the client process;
the numbers mean nothing here. What is checked is that the table printed a row per
implementation with every broadcast delivered and a nonzero throughput.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_quick_sharded_bench_prints_nonzero_throughput_for_python_impls() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "sharded.py"),
            "--quick",
            "--impls",
            "classic,sharded",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, f"bench/sharded.py failed:\n{proc.stdout}\n{proc.stderr}"
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    for impl in ("classic", "sharded"):
        cells = rows[impl]
        delivered, expected = cells[1].split("/")
        assert delivered == expected == "300", cells
        assert float(cells[4]) > 0 and float(cells[5]) > 0, cells
        assert float(cells[6]) > 0, cells  # Redis CPU per 1,000 broadcasts, summed over nodes
    assert "median:sharded" in proc.stdout
    assert "ratio sharded/classic" in proc.stdout
