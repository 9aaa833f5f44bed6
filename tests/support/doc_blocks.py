"""The fenced code blocks of README.md and docs/*.md, with the marker that says what each is.

Every block is preceded (on the nearest non-blank line above its opening fence) by one of:

- ``<!-- run -->``: a Python block that works on its own; tests/integration/test_doc_blocks_run.py
  executes it (top-level ``await`` allowed) against a private redis-server, so
  ``redis://localhost:6379/0`` in it is replaced by that server's URL. A block that defines
  ``test_*`` functions is run with pytest instead, as a user's test file.
- ``<!-- output -->``: the exact standard output of the ``run`` block right above it.
- ``<!-- fragment -->`` (optionally ``<!-- fragment: why -->``): on purpose not runnable alone
  (it needs a server, a cluster or names defined elsewhere); a Python fragment must still
  compile.

Anything else -- no marker, or an unknown one -- is an error the unit test reports with the
file and line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = frozenset({"python", "py", "python3", "pycon"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
_MARKER = re.compile(r"^<!--\s*(?P<kind>[a-z]+)\s*(?::\s*(?P<why>.*?))?\s*-->$")
KINDS = frozenset({"run", "output", "fragment"})


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: str | None  # the marker's kind, or None when the line above is not a marker
    marker_text: str  # the line above the fence, for error messages

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON


def documents() -> list[Path]:
    """README.md and every Markdown page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block of one Markdown file (nested fences are not used in these docs)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        language = opening["info"].strip().split(" ")[0].lower()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: code block is never closed")
        body = [
            line[len(indent) :] if line.startswith(indent) else line
            for line in lines[index + 1 : end]
        ]
        above = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.match(above)
        found.append(
            Block(
                path=path,
                line=index + 1,
                language=language,
                code="\n".join(body) + "\n",
                marker=marker["kind"] if marker else None,
                marker_text=above,
            )
        )
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks_of(path)]


def compile_block(block: Block) -> object:
    """Compile a Python block as a module that may ``await`` at top level."""
    return compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def defines_tests(block: Block) -> bool:
    tree = ast.parse(block.code)
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
        for node in tree.body
    )


def run_blocks_with_output() -> list[tuple[Block, Block | None]]:
    """Each ``run`` block with the ``output`` block that follows it, if any."""
    pairs: list[tuple[Block, Block | None]] = []
    for path in documents():
        blocks = blocks_of(path)
        for position, block in enumerate(blocks):
            if block.marker != "run":
                continue
            following = blocks[position + 1] if position + 1 < len(blocks) else None
            pairs.append((block, following if following and following.marker == "output" else None))
    return pairs
