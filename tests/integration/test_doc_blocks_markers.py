"""Every code block in README.md and docs/ says what it is: run by a test, or a fragment on
purpose (the rule is written in tests/support/doc_blocks.py)."""

from __future__ import annotations

from support.doc_blocks import KINDS, all_blocks, blocks_of, compile_block, documents


def test_docs_have_code_blocks_to_check() -> None:
    assert len(all_blocks()) >= 15  # the extraction itself works: README alone has more


def test_every_block_carries_a_known_marker() -> None:
    unmarked = [
        f"{b.where}: ```{b.language} block has no <!-- run --> / <!-- fragment --> / "
        f"<!-- output --> marker on the line above (found {b.marker_text!r})"
        for b in all_blocks()
        if b.marker not in KINDS
    ]
    assert unmarked == []


def test_run_blocks_are_python_and_output_blocks_follow_one() -> None:
    problems: list[str] = []
    for path in documents():
        blocks = blocks_of(path)
        for position, block in enumerate(blocks):
            if block.marker == "run" and not block.is_python:
                problems.append(f"{block.where}: only Python blocks can be marked run")
            if block.marker == "output" and (position == 0 or blocks[position - 1].marker != "run"):
                problems.append(f"{block.where}: an output block must follow a run block")
    assert problems == []


def test_python_fragments_and_run_blocks_compile() -> None:
    errors: list[str] = []
    for block in all_blocks():
        if not block.is_python or block.language == "pycon":
            continue
        try:
            compile_block(block)
        except SyntaxError as exc:
            errors.append(f"{block.where}: {exc.msg} (block line {exc.lineno})")
    assert errors == []


def test_the_rule_rejects_what_it_should(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nprint(1)\n```\n\n<!-- fragment: needs mgr -->\n```python\nmgr\n```\n"
        "<!-- later -->\n```sh\nls\n```\n",
        encoding="utf-8",
    )
    found = blocks_of(page)
    assert [(b.line, b.language, b.marker) for b in found] == [
        (3, "python", None),
        (8, "python", "fragment"),
        (12, "sh", "later"),
    ]
    assert found[1].code == "mgr\n"
