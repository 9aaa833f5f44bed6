"""The ``monitor`` command's I/O: read adapter traffic without being counted as a server.

Servers size their requests by subscriber counts: classic servers wait for
``PUBSUB NUMSUB key-request#nsp#`` answers, sharded servers for ``PUBSUB SHARDNUMSUB
prefix#nsp#``. So the monitor must never subscribe to those channels:

* classic: only pattern subscriptions (``key#*``, ``key-request#*``, ``key-response#*``),
  which NUMSUB does not count;
* sharded: Redis has no sharded patterns, and SSUBSCRIBE would be counted, so the monitor
  runs ``MONITOR`` on every master (CLUSTER SLOTS; the one server outside a cluster) and
  picks the SPUBLISH commands out of the feed. MONITOR makes Redis format every command it
  runs for the monitor, which costs the server noticeable throughput while it is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from .parser import Parser
from .sharded_transport import Address, ClusterNodes
from .wire_format import WireMessage, decode_classic, decode_sharded_message

__all__ = [
    "classic_patterns",
    "cluster_nodes",
    "glob_escape",
    "monitor_classic",
    "monitor_sharded",
    "node_url",
    "parse_monitor_line",
]

_MONITOR_LINE = re.compile(rb"(\d+(?:\.\d+)?) \[\d+ [^\]]*\] (.*)", re.DOTALL)
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("a"): b"\a", ord("b"): b"\b"}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern (PSUBSCRIBE, PUBSUB CHANNELS)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def classic_patterns(key: str, namespaces: Sequence[str] = ()) -> list[str]:
    """The patterns that see every classic message of ``key`` (of ``namespaces`` only, if
    given): broadcasts and room broadcasts, requests, and shared and private responses."""
    k = glob_escape(key)
    if not namespaces:
        return [f"{k}#*", f"{k}-request#*", f"{k}-response#*"]
    patterns = []
    for nsp in namespaces:
        n = glob_escape(nsp)
        patterns += [f"{k}#{n}#*", f"{k}-request#{n}#*", f"{k}-response#{n}#*"]
    return patterns


def parse_monitor_line(line: bytes) -> tuple[float, list[bytes]] | None:
    """``1700000000.123456 [0 127.0.0.1:5000] "SPUBLISH" "ch" "\\x93..."`` -> (time, argv).

    Redis quotes each argument and escapes ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``,
    ``\\a``, ``\\b`` and any other non-printable byte as ``\\xHH``. ``None`` for a line
    that is not a command (e.g. the ``OK`` that starts the feed).
    """
    match = _MONITOR_LINE.fullmatch(line)
    if match is None:
        return None
    text = match.group(2)
    args: list[bytes] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == 0x20:
            i += 1
            continue
        if text[i] != 0x22:  # '"'
            return None
        i += 1
        arg = bytearray()
        while True:
            if i >= n:
                return None  # unterminated: not a line Redis wrote
            c = text[i]
            if c == 0x22:
                i += 1
                break
            if c == 0x5C and i + 1 < n:  # backslash
                nxt = text[i + 1]
                if nxt == ord("x") and i + 3 < n and text[i + 2] in _HEX and text[i + 3] in _HEX:
                    arg.append(int(text[i + 2 : i + 4], 16))
                    i += 4
                    continue
                arg += _ESCAPES.get(nxt, bytes([nxt]))
                i += 2
                continue
            arg.append(c)
            i += 1
        args.append(bytes(arg))
    return float(match.group(1)), args


def node_url(seed: str, address: Address) -> str:
    """The seed URL (scheme, credentials, query) pointed at another node."""
    parts = urlsplit(seed)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@" if auth else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}{address[0]}:{address[1]}", path=""))


async def cluster_nodes(url: str) -> ClusterNodes:
    """The masters behind ``url``: a Redis Cluster's from CLUSTER SLOTS, else ``url`` alone."""
    parts = urlsplit(url)
    seed = (parts.hostname or "localhost", parts.port or 6379)

    def client_for(address: Address) -> aioredis.Redis:
        return aioredis.Redis.from_url(node_url(url, address), protocol=2)

    nodes = ClusterNodes([seed], client_for)
    try:
        await nodes.refresh()
    except BaseException:
        await nodes.aclose(close_fixed=True)
        raise
    return nodes


@contextlib.asynccontextmanager
async def _reading(
    producers: Sequence[Callable[[asyncio.Queue[WireMessage]], Any]],
) -> AsyncIterator[asyncio.Queue[WireMessage]]:
    """Run one reader task per connection into one queue; a reader's failure is raised."""
    queue: asyncio.Queue[WireMessage] = asyncio.Queue()
    tasks = [asyncio.create_task(produce(queue)) for produce in producers]
    try:
        yield queue
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=2)


async def _consume(
    queue: asyncio.Queue[WireMessage],
    tasks_failed: Callable[[], BaseException | None],
    on_message: Callable[[WireMessage], None],
    *,
    count: int | None,
    duration: float | None,
) -> int:
    """Hand messages to ``on_message`` until ``count`` were shown or ``duration`` passed."""
    deadline = math.inf if duration is None else time.monotonic() + duration
    shown = 0
    while count is None or shown < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            message = await asyncio.wait_for(queue.get(), min(remaining, 0.5))
        except asyncio.TimeoutError:
            error = tasks_failed()
            if error is not None:
                raise error from None
            continue
        on_message(message)
        shown += 1
    return shown


async def monitor_classic(
    url: str,
    *,
    key: str,
    namespaces: Sequence[str],
    parser: Parser,
    on_message: Callable[[WireMessage], None],
    on_ready: Callable[[], None],
    count: int | None = None,
    duration: float | None = None,
) -> int:
    """Show classic traffic through pattern subscriptions; return how many were shown."""
    client = aioredis.Redis.from_url(url, protocol=2)
    pubsub = client.pubsub()
    failure: list[BaseException] = []
    try:
        patterns = classic_patterns(key, namespaces)
        await pubsub.psubscribe(*patterns)
        confirmed = 0
        while confirmed < len(patterns):
            reply = await pubsub.get_message(timeout=5.0)
            if reply is None:
                raise TimeoutError("Redis did not confirm the pattern subscriptions in 5 s")
            if reply["type"] == "psubscribe":
                confirmed += 1
        on_ready()

        async def read(queue: asyncio.Queue[WireMessage]) -> None:
            try:
                while True:
                    reply = await pubsub.get_message(timeout=None)
                    if reply is None or reply["type"] != "pmessage":
                        continue
                    decoded = decode_classic(reply["channel"], reply["data"], key, parser=parser)
                    if decoded is not None:
                        queue.put_nowait(decoded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure.append(exc)

        async with _reading([read]) as queue:
            return await _consume(
                queue,
                lambda: failure[0] if failure else None,
                on_message,
                count=count,
                duration=duration,
            )
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def monitor_sharded(
    url: str,
    *,
    key: str,
    namespaces: Sequence[str],
    on_message: Callable[[WireMessage], None],
    on_ready: Callable[[list[Address]], None],
    count: int | None = None,
    duration: float | None = None,
) -> int:
    """Show sharded traffic from MONITOR on every master; return how many were shown."""
    nodes = await cluster_nodes(url)
    monitors: list[Any] = []
    failure: list[BaseException] = []
    try:
        for address in nodes.masters:
            monitor = nodes.client(address).monitor()
            await monitor.__aenter__()  # type: ignore[no-untyped-call]  # MONITOR, then OK
            monitors.append(monitor)
        on_ready(nodes.masters)
        wanted = {ns.encode() for ns in namespaces}
        prefix = key.encode() + b"#"

        def reader(monitor: Any) -> Callable[[asyncio.Queue[WireMessage]], Any]:
            async def read(queue: asyncio.Queue[WireMessage]) -> None:
                try:
                    while True:
                        line = await monitor.connection.read_response(timeout=math.inf)
                        parsed = parse_monitor_line(line) if isinstance(line, bytes) else None
                        if parsed is None:
                            continue
                        when, argv = parsed
                        if len(argv) != 3 or argv[0].upper() != b"SPUBLISH":
                            continue
                        channel, payload = argv[1], argv[2]
                        if wanted and channel[len(prefix) :].split(b"#", 1)[0] not in wanted:
                            continue
                        decoded = decode_sharded_message(channel, payload, key, received=when)
                        if decoded is not None:
                            queue.put_nowait(decoded)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure.append(exc)

            return read

        async with _reading([reader(m) for m in monitors]) as queue:
            return await _consume(
                queue,
                lambda: failure[0] if failure else None,
                on_message,
                count=count,
                duration=duration,
            )
    finally:
        for monitor in monitors:
            # closing the socket first ends a read that ignores cancellation (py <= 3.11)
            with contextlib.suppress(Exception):
                await monitor.connection.disconnect()
        await nodes.aclose(close_fixed=True)
