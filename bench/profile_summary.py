"""Summarise a ``py-spy record --format raw`` profile: top functions by own (self) time.

    python bench/profile_summary.py FILE [--top 15]

py-spy samples only threads that are running (not idle in epoll), so a sample is CPU time.
A sample's own time goes to its innermost frame: time spent in C code (hiredis, msgpack,
json, socket writes) is counted in the Python function that called it. Inclusive time goes
to every distinct function on the stack. Functions are keyed by name and file (line numbers
are dropped); the package breakdown keys each sample's own time by the innermost frame's
package.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short_path(path: str, root: Path | None = None) -> str:
    """site-packages and stdlib files by their import path, the project's relative to root."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/lib/python3." in path:
        tail = path.split("/lib/python3.", 1)[1]
        return tail.split("/", 1)[1] if "/" in tail else tail
    if root is not None:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return path


def package_of(path: str) -> str:
    head = path.split("/", 1)[0]
    if head.endswith(".py"):
        return head[:-3]
    return head


def parse(text: str, root: Path | None = None) -> list[tuple[list[tuple[str, str, int]], int]]:
    stacks = []
    for raw in text.splitlines():
        raw = raw.rstrip()
        if not raw:
            continue
        stack_text, _, count_text = raw.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = []
        for part in stack_text.split(";") if stack_text else []:
            m = _FRAME.match(part)
            if m is None:
                frames.append((part, "?", 0))
            else:
                frames.append(
                    (m["func"], short_path(m["file"], root), int(m["line"]) if m["line"] else 0)
                )
        stacks.append((frames, count))
    return stacks


# Where py-spy's idle detection leaks: a thread blocked in epoll_wait is sometimes sampled as
# running, so these frames mix idle waits with the (real) cost of the epoll syscall. They are
# reported on their own line, not ranked.
WAIT_FRAMES = {("EpollSelector.select", "selectors.py"), ("<no Python frame>", "")}


def summarize(
    text: str,
    top: int = 15,
    root: Path | None = None,
    *,
    rate: float | None = None,
    count: int | None = None,
    cpu_s: float | None = None,
) -> dict[str, Any]:
    """Top functions by own time. With the sampling ``rate`` (Hz) and the number of
    broadcasts ``count``, each row also gets microseconds per broadcast (samples / rate /
    count), comparable with the CPU us/broadcast measured from /proc (``cpu_s``)."""
    stacks = parse(text, root)
    total = sum(count_ for _, count_ in stacks)
    own: Counter[tuple[str, str]] = Counter()
    own_lines: Counter[tuple[str, str, int]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    packages: Counter[str] = Counter()
    for frames, n in stacks:
        if not frames:
            own[("<no Python frame>", "")] += n
            continue
        func, path, line = frames[-1]
        own[(func, path)] += n
        own_lines[(func, path, line)] += n
        if (func, path) in WAIT_FRAMES:
            continue
        packages[package_of(path)] += n
        for key in {(f, p) for f, p, _ in frames}:
            inclusive[key] += n
    waiting = sum(own[key] for key in WAIT_FRAMES)
    working = total - waiting

    def pct(n: int) -> float:
        return 100.0 * n / working if working else 0.0

    def us_per_bc(n: int) -> float | None:
        # The measured CPU, shared out by samples: py-spy also samples a thread that is
        # runnable but waiting for a core (two cores, five busy processes), so its raw sample
        # count overstates CPU time; its proportions are unbiased.
        if count and cpu_s is not None and working:
            return n / working * cpu_s / count * 1e6
        if count and rate:
            return n / rate / count * 1e6
        return None

    ranked = [(key, n) for key, n in own.most_common() if key not in WAIT_FRAMES][:top]
    by_self = [
        {
            "function": func,
            "file": path,
            "self_samples": n,
            "self_pct": round(pct(n), 1),
            "self_us_per_broadcast": us_per_bc(n),
            "total_pct": round(pct(inclusive[(func, path)]), 1),
            "hottest_line": max(
                ((ln, c) for (f, p, ln), c in own_lines.items() if (f, p) == (func, path)),
                key=lambda item: item[1],
                default=(0, 0),
            )[0],
        }
        for (func, path), n in ranked
    ]
    # Inclusive ranking without the trunk every stack shares (event loop, Uvicorn, main).
    by_total = [
        {"function": func, "file": path, "total_pct": round(pct(n), 1)}
        for (func, path), n in inclusive.most_common()
        if (func, path) not in WAIT_FRAMES and pct(n) < 99.0
    ][:top]
    by_package = [
        {"package": name, "self_pct": round(pct(n), 1)} for name, n in packages.most_common()
    ]
    lines = [f"{total} samples, {waiting} of them in epoll wait (EpollSelector.select) or no frame"]
    if count and cpu_s is not None:
        lines.append(
            f"CPU from /proc: {cpu_s / count * 1e6:.1f} us/broadcast; us/bc below = that CPU "
            "shared out by samples"
            + (f" (raw sample time: {working / rate / count * 1e6:.1f} us/bc)" if rate else "")
        )
    lines.append("self% and total% are of the samples outside epoll wait")
    lines.append(f"{'self%':>6} {'us/bc':>6} {'total%':>7}  function (file:hottest line)")
    for row in by_self:
        us = row["self_us_per_broadcast"]
        lines.append(
            f"{row['self_pct']:>6.1f} {'' if us is None else f'{us:.2f}':>6} "
            f"{row['total_pct']:>7.1f}  {row['function']} ({row['file']}:{row['hottest_line']})"
        )
    lines.append(
        "own time by package: "
        + ", ".join(f"{p['package']} {p['self_pct']:.1f}%" for p in by_package[:10])
    )
    return {
        "samples": total,
        "wait_samples": waiting,
        "rate_hz": rate,
        "broadcasts": count,
        "cpu_s": cpu_s,
        "by_self": by_self,
        "by_total": by_total,
        "by_package": by_package,
        "text": "\n".join(lines),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--inclusive", action="store_true", help="also print top by inclusive time")
    ap.add_argument("--rate", type=float, help="py-spy's --rate, for us per broadcast")
    ap.add_argument("--count", type=int, help="broadcasts during the profile")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    result = summarize(args.file.read_text(), args.top, root, rate=args.rate, count=args.count)
    print(result["text"])
    if args.inclusive:
        print(f"\n{'total%':>7}  function (file)")
        for row in result["by_total"]:
            print(f"{row['total_pct']:>7.1f}  {row['function']} ({row['file']})")


if __name__ == "__main__":
    sys.exit(main())
