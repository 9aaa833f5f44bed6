"""Drive ``tests/interop/node/peer.js``: real Node.js Socket.IO servers, clients and emitters.

The peer is one Node process spoken to over stdin/stdout with JSON lines. Binary values cross
the pipe as ``{"$bin": "<hex>"}`` and dates as ``{"$date": <ms epoch>}``; :class:`NodePeer`
converts them to and from :class:`bytes` and :class:`~datetime.datetime`.

Usage::

    async with NodePeer() as peer:
        server = await peer.call("startServer", redisUrl="redis://127.0.0.1:6390")
        await peer.call("emit", serverId=server["serverId"], to=["room1"], except_=["room2"],
                        event="ev", args=[1, b"\\x01"])
        sharded = await start_node_server(
            peer, adapter="sharded", cluster_urls=cluster.urls, subscriptionMode="static"
        )

``except`` is a Python keyword, so any parameter name ending in ``_`` is sent without it.
Adapter options keep the peer's (and Node's) camelCase names: ``channelPrefix``,
``subscriptionMode``, ``streamName``, ``blockTimeInMs``...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "NODE_DIR",
    "NodePeer",
    "NodePeerError",
    "NodeServer",
    "from_wire",
    "node_available",
    "start_node_server",
    "to_wire",
]

ADAPTER_KINDS = ("classic", "sharded", "streams")

NODE_DIR = Path(__file__).resolve().parent / "node"

logger = logging.getLogger("tests.interop.node")


class NodePeerError(Exception):
    """The Node peer answered ``ok: false``, timed out, or is not running."""


def node_available() -> str | None:
    """Return why the Node peer cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "`node` is not on PATH (Node.js >= 18 is needed for the interop tests)"
    package = json.loads((NODE_DIR / "package.json").read_text())
    missing = [
        name
        for name in package["dependencies"]
        if not (NODE_DIR / "node_modules" / name / "package.json").is_file()
    ]
    if missing:
        return f"run `npm ci` in {NODE_DIR} (missing: {', '.join(missing)})"
    return None


def to_wire(value: Any) -> Any:
    """Python value -> JSON value for the peer (bytes and datetimes become markers)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return {"$date": round(value.timestamp() * 1000)}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """JSON value from the peer -> Python value (markers become bytes and aware datetimes)."""
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {"$bin"} and isinstance(value["$bin"], str):
            return bytes.fromhex(value["$bin"])
        if value.keys() == {"$date"} and isinstance(value["$date"], int | float):
            return datetime.fromtimestamp(value["$date"] / 1000, tz=timezone.utc)
        return {key: from_wire(item) for key, item in value.items()}
    return value


class NodePeer:
    """One ``node peer.js`` process.

    :param node_dir: the folder holding ``peer.js`` and its ``node_modules``.
    :param call_timeout: default seconds to wait for a reply in :meth:`call`.
    :param ready_timeout: seconds to wait for the peer's ``{"ready": true}`` line.
    """

    def __init__(
        self,
        *,
        node_dir: Path = NODE_DIR,
        call_timeout: float = 15.0,
        ready_timeout: float = 20.0,
    ) -> None:
        self._node_dir = node_dir
        self._call_timeout = call_timeout
        self._ready_timeout = ready_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._closed = False

    async def __aenter__(self) -> NodePeer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Spawn the peer and wait until it says it is ready."""
        if self._proc is not None:
            raise NodePeerError("the Node peer was already started")
        reason = node_available()
        if reason is not None:
            raise NodePeerError(reason)
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            "peer.js",
            cwd=self._node_dir,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name="node-peer-stdout"),
            asyncio.create_task(self._read_stderr(), name="node-peer-stderr"),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self._ready_timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise NodePeerError(f"the Node peer was not ready: {self._describe_exit()}") from None
        except BaseException:
            await self.close()
            raise

    async def call(self, op: str, /, *, call_timeout: float | None = None, **params: Any) -> Any:
        """Run ``op`` in the peer and return its result.

        Parameter names ending in ``_`` are sent without it (``except_`` -> ``except``).

        :raises NodePeerError: if the peer replied with an error, timed out, or is gone.
        """
        proc = self._proc
        if proc is None or proc.stdin is None or self._closed:
            raise NodePeerError("the Node peer is not running")
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "op": op}
        request.update({key.removesuffix("_"): to_wire(value) for key, value in params.items()})
        timeout = self._call_timeout if call_timeout is None else call_timeout
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            proc.stdin.write(json.dumps(request, allow_nan=False).encode() + b"\n")
            await proc.stdin.drain()
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise NodePeerError(f"no reply to {op!r} within {timeout} s") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise NodePeerError(f"the Node peer is gone: {self._describe_exit()}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def close(self) -> None:
        """Close stdin so that the peer exits; kill it if it is still there after 5 s."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    await proc.stdin.wait_closed()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                logger.warning("node peer did not exit within 5 s, killing it")
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending(NodePeerError("the Node peer was closed"))

    def _describe_exit(self) -> str:
        code = self._proc.returncode if self._proc is not None else None
        tail = "\n".join(self._stderr_tail)
        return f"exit code {code}; last stderr lines:\n{tail}"

    def _fail_pending(self, error: NodePeerError) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # consumed here, so asyncio does not warn when nobody waits
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    async def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                logger.warning("node peer wrote a non-JSON stdout line: %r", raw)
                continue
            if message.get("ready") is True and self._ready is not None:
                if not self._ready.done():
                    self._ready.set_result(None)
                continue
            future = self._pending.get(message.get("id"))
            if future is None or future.done():
                logger.warning("node peer reply nobody waits for: %r", message)
            elif message.get("ok"):
                future.set_result(from_wire(message.get("result")))
            else:
                future.set_exception(NodePeerError(str(message.get("error"))))
        await self._proc.wait()
        self._fail_pending(NodePeerError(f"the Node peer exited: {self._describe_exit()}"))

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr_tail.append(line)
            logger.info("node: %s", line)


@dataclass
class NodeServer:
    """A Node socket.io server hosted by the peer, with helpers for its Node clients.

    ``kind`` is its adapter (``"classic"``, ``"sharded"`` or ``"streams"``) and ``uid`` the
    adapter uid of its main namespace (the server id on the wire).
    """

    peer: NodePeer
    server_id: int
    url: str
    kind: str = "classic"
    uid: str | None = None
    clients: list[int] = field(default_factory=list)

    async def call(self, op: str, **params: Any) -> Any:
        return await self.peer.call(op, serverId=self.server_id, **params)

    async def stop(self) -> None:
        await self.peer.call("stopServer", serverId=self.server_id)

    async def adapter_info(self, nsp: str = "/") -> dict[str, Any]:
        """uid, channel names and options of the adapter of ``nsp`` (see peer.js)."""
        info: dict[str, Any] = await self.call("adapterInfo", nsp=nsp)
        return info

    async def wait_subscriptions(self) -> None:
        """Wait until Redis confirmed every (un)subscription the server's adapter issued,
        e.g. the room channels a sharded adapter subscribes to on a remote join."""
        await self.call("waitSubscriptions")

    async def connect_client(self, nsp: str = "/", **params: Any) -> tuple[int, str]:
        reply = await self.peer.call("clientConnect", url=self.url, nsp=nsp, **params)
        self.clients.append(reply["clientId"])
        return reply["clientId"], reply["sid"]

    async def client_events(self, client_id: int, event: str | None = None) -> list[list[Any]]:
        events = await self.peer.call("clientEvents", clientId=client_id)
        return [e["args"] for e in events if event is None or e["event"] == event]

    async def wait_client_event(
        self, client_id: int, event: str, count: int = 1, timeout: float = 5.0
    ) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = await self.client_events(client_id, event)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"Node client {client_id} got {got!r}, wanted {count} {event}")
            await asyncio.sleep(0.02)

    async def join(self, client_id: int, room: Any, nsp: str = "/") -> None:
        """Make a Node client join ``room``; the server acks once its subscription (if the
        adapter makes one for rooms) is confirmed by Redis."""
        reply = await self.peer.call(
            "clientEmit", clientId=client_id, event="join", args=[room], withAck=True
        )
        assert reply == ["joined"], reply

    async def leave(self, client_id: int, room: Any) -> None:
        reply = await self.peer.call(
            "clientEmit", clientId=client_id, event="leave", args=[room], withAck=True
        )
        assert reply == ["left"], reply


async def start_node_server(
    peer: NodePeer,
    *,
    adapter: str = "classic",
    redis_url: str | None = None,
    cluster_urls: Iterable[str] | None = None,
    namespaces: Iterable[str] = ("/",),
    **options: Any,
) -> NodeServer:
    """Start a Node socket.io server in ``peer`` and wait until its adapter is subscribed.

    :param adapter: ``"classic"`` (``createAdapter``), ``"sharded"``
        (``createShardedAdapter``) or ``"streams"`` (``@socket.io/redis-streams-adapter``).
    :param redis_url: the one Redis to use (all kinds; sharded needs Redis 7).
    :param cluster_urls: root nodes of a Redis Cluster (sharded only), e.g.
        ``RedisCluster.urls``.
    :param options: adapter options by their Node names (``key``, ``channelPrefix``,
        ``subscriptionMode``, ``streamName``, ``maxLen``, ``readCount``, ``blockTimeInMs``,
        ``useShardedPubSub``...), and ``connectionStateRecovery`` for the socket.io server.
    """
    if adapter not in ADAPTER_KINDS:
        raise ValueError(f"adapter must be one of {ADAPTER_KINDS}: {adapter!r}")
    if (redis_url is None) == (cluster_urls is None):
        raise ValueError("give exactly one of redis_url and cluster_urls")
    params: dict[str, Any] = {"adapter": adapter, "namespaces": list(namespaces), **options}
    if redis_url is not None:
        params["redisUrl"] = redis_url
    if cluster_urls is not None:
        params["clusterUrls"] = list(cluster_urls)
    started = await peer.call("startServer", **params)
    return NodeServer(
        peer,
        started["serverId"],
        f"http://127.0.0.1:{started['port']}",
        kind=started["kind"],
        uid=started["uid"],
    )
