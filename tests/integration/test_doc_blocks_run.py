"""Run every ``<!-- run -->`` code block of README.md and docs/ as a user would paste it:
in a fresh interpreter, against a private redis-server, with a deadline. A block followed by
an ``<!-- output -->`` block must print exactly that.

The rule for markers lives in tests/support/doc_blocks.py; tests/unit/test_doc_blocks.py
checks that every block carries one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.doc_blocks import ROOT, Block, defines_tests, run_blocks_with_output

DEADLINE = 45.0  # seconds per block; each takes one to a few
LOCAL_URL = re.compile(r"redis://localhost:6379(?:/0)?")
ANY_URL = re.compile(r"rediss?://[^\s\"')]+")

# Runs a block as a script whose top level may await (like `python -m asyncio`).
RUNNER = """
import ast, asyncio, sys, types
source = open(sys.argv[1], encoding="utf-8").read()
code = compile(source, sys.argv[2], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
module = types.ModuleType("__main__")
sys.modules["__main__"] = module
result = eval(code, module.__dict__)
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""

PAIRS = run_blocks_with_output()


def _private(code: str, redis_url: str) -> str:
    """The block with the documented local URL replaced by the private server's; refuse a
    block that would still reach any other Redis (tests never touch one they did not start)."""
    code = LOCAL_URL.sub(redis_url.rstrip("/"), code)
    strangers = [url for url in ANY_URL.findall(code) if not url.startswith(redis_url.rstrip("/"))]
    assert strangers == [], f"a run block may only use redis://localhost:6379/0, found {strangers}"
    return code


def _run(block: Block, redis_url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    code = _private(block.code, redis_url)
    if defines_tests(block):
        target = workdir / "test_doc_block.py"
        target.write_text(code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target.name]
    else:
        target = workdir / "doc_block.py"
        target.write_text(code, encoding="utf-8")
        command = [sys.executable, "-c", RUNNER, str(target), block.where]
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=DEADLINE
    )


def test_there_are_run_blocks() -> None:
    assert len(PAIRS) >= 4


@pytest.mark.parametrize(("block", "output"), PAIRS, ids=[block.where for block, _ in PAIRS])
def test_run_block(block: Block, output: Block | None, redis_url: str, tmp_path: Path) -> None:
    done = _run(block, redis_url, tmp_path)
    assert done.returncode == 0, (
        f"{block.where} failed (exit {done.returncode})\n--- stdout\n{done.stdout}"
        f"\n--- stderr\n{done.stderr}"
    )
    if output is not None:
        assert done.stdout == output.code, (
            f"{block.where} printed something else than {output.where}"
        )
