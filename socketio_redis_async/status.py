"""The ``status`` command: servers per namespace, who answers, and the rooms.

The count is the one the servers themselves use (classic ``PUBSUB NUMSUB key-request#nsp#``,
sharded ``PUBSUB SHARDNUMSUB prefix#nsp#`` summed over the masters), and the status command
never adds to it:

* classic: server uids are read from the private response channels the servers subscribe
  to (``PUBSUB CHANNELS key-response#nsp#?*``); the rooms come from an ALL_ROOMS request whose
  answers are read through a pattern subscription. Classic answers carry no uid, so the
  rooms cannot be attributed to a server.
* sharded: a FETCH_SOCKETS request; the answers arrive on this command's own response
  channel (an SSUBSCRIBE to ``prefix#nsp#<its uid>#``, which SHARDNUMSUB of the main channel
  does not count) and name their server, its sockets and their rooms.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from . import cluster_protocol as cp
from . import protocol as p
from .errors import ProtocolError
from .monitor import classic_patterns, cluster_nodes, glob_escape
from .parser import Parser
from .sharded_transport import ClusterNodes
from .wire_format import Palette

__all__ = ["NamespaceStatus", "ServerInfo", "classic_status", "render_status", "sharded_status"]

_SOCKET_ID_LENGTH = 20  # Node's and python-socketio's session ids: 20 characters


@dataclass
class ServerInfo:
    """One answering server (sharded only: classic answers are anonymous)."""

    uid: str
    sockets: int
    rooms: list[p.Room]


@dataclass
class NamespaceStatus:
    nsp: str
    servers: int  # the subscriber count servers size their requests by
    uids: list[str] = field(default_factory=list)
    answered: int = 0
    rooms: list[p.Room] = field(default_factory=list)  # named rooms, without socket ids
    socket_ids: int = 0  # rooms that look like socket ids: one per connected socket
    per_server: list[ServerInfo] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.nsp,
            "servers": self.servers,
            "uids": self.uids,
            "answered": self.answered,
            "rooms": self.rooms,
            "sockets": self.socket_ids,
            "per_server": [vars(s) for s in self.per_server],
        }


def _looks_like_socket_id(room: Any) -> bool:
    return isinstance(room, str) and len(room) == _SOCKET_ID_LENGTH


def _sorted_rooms(rooms: set[Any]) -> list[p.Room]:
    return sorted(rooms, key=lambda r: (not isinstance(r, str), str(r)))


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def _collect(
    pubsub: Any, wanted: int, timeout: float, handle: Callable[[dict[str, Any]], bool]
) -> int:
    """Read ``pubsub`` until ``handle`` accepted ``wanted`` answers or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    got = 0
    while got < wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        reply = await pubsub.get_message(timeout=min(remaining, 0.5))
        if reply is not None and handle(reply):
            got += 1
    return got


async def classic_status(
    url: str, *, key: str, namespaces: Sequence[str], parser: Parser, timeout: float
) -> list[NamespaceStatus]:
    client = aioredis.Redis.from_url(url, protocol=2)
    try:
        if not namespaces:
            prefix = f"{key}-request#"
            found = await client.pubsub_channels(f"{glob_escape(prefix)}*")
            namespaces = sorted(_text(ch)[len(prefix) : -1] for ch in found)
        return [await _classic_namespace(client, key, nsp, parser, timeout) for nsp in namespaces]
    finally:
        await client.aclose()


async def _classic_namespace(
    client: aioredis.Redis, key: str, nsp: str, parser: Parser, timeout: float
) -> NamespaceStatus:
    channels = p.Channels(key, nsp)
    [(_, servers)] = await client.pubsub_numsub(channels.request)
    status = NamespaceStatus(nsp, int(servers))
    private = await client.pubsub_channels(glob_escape(channels.response.decode()) + "?*")
    status.uids = sorted(_text(ch)[len(channels.response) : -1] for ch in private)
    if status.servers == 0:
        return status
    pubsub = client.pubsub()
    rooms: set[Any] = set()
    try:
        # a pattern sees both the shared and this command's private response channel
        [pattern] = classic_patterns(key, [nsp])[2:]
        await pubsub.psubscribe(pattern)
        while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "psubscribe":
            pass
        request_id = p.new_uid()
        request = p.RoomsRequest(uid=p.new_uid(), request_id=request_id)
        await client.publish(channels.request, p.encode_request(parser, request, nsp))

        def handle(reply: dict[str, Any]) -> bool:
            if reply.get("type") != "pmessage":
                return False
            try:
                response = p.decode_response(parser, reply["data"])
            except ProtocolError:
                return False
            if not isinstance(response, p.ValueResponse) or response.request_id != request_id:
                return False
            answer = response.body.get("rooms")
            if isinstance(answer, list):
                rooms.update(r for r in answer if isinstance(r, (str, int, float)))
            return True

        status.answered = await _collect(pubsub, status.servers, timeout, handle)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
    status.rooms = _sorted_rooms({r for r in rooms if not _looks_like_socket_id(r)})
    status.socket_ids = sum(1 for r in rooms if _looks_like_socket_id(r))
    return status


async def sharded_status(
    url: str, *, key: str, namespaces: Sequence[str], timeout: float
) -> list[NamespaceStatus]:
    nodes = await cluster_nodes(url)
    try:
        if not namespaces:
            found: set[str] = set()
            head = f"{key}#"
            for address in nodes.masters:
                reply = await nodes.client(address).execute_command(  # type: ignore[no-untyped-call]
                    "PUBSUB", "SHARDCHANNELS", glob_escape(head) + "*"
                )
                for channel in reply:
                    rest = _text(channel)[len(head) :]
                    if rest.count("#") == 1 and rest.endswith("#"):  # prefix#nsp#: a main channel
                        found.add(rest[:-1])
            namespaces = sorted(found)
        return [await _sharded_namespace(nodes, key, nsp, timeout) for nsp in namespaces]
    finally:
        await nodes.aclose(close_fixed=True)


async def _sharded_namespace(
    nodes: ClusterNodes, key: str, nsp: str, timeout: float
) -> NamespaceStatus:
    channels = cp.ShardedChannels(key, nsp)
    servers = 0
    for address in nodes.masters:  # as servers count: summed over the masters
        reply = await nodes.client(address).execute_command(  # type: ignore[no-untyped-call]
            "PUBSUB", "SHARDNUMSUB", channels.main
        )
        servers += int(reply[1])
    status = NamespaceStatus(nsp, servers)
    if servers == 0:
        return status
    uid = cp.new_cluster_uid()
    response_channel = channels.response(uid)
    owner = nodes.owner(response_channel)
    main_owner = nodes.owner(channels.main)
    assert owner is not None and main_owner is not None  # refresh() covered every slot
    pubsub = nodes.client(owner).pubsub()
    per_server: dict[str, ServerInfo] = {}
    try:
        await pubsub.ssubscribe(response_channel)
        while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "ssubscribe":
            pass
        request_id = cp.new_cluster_uid()
        request = p.FetchRequest(uid=uid, request_id=request_id, target=p.Target())
        payload = cp.encode_sharded(request, uid, nsp)
        await nodes.client(main_owner).execute_command(  # type: ignore[no-untyped-call]
            "SPUBLISH", channels.main, payload
        )

        def handle(reply: dict[str, Any]) -> bool:
            if reply.get("type") != "smessage":
                return False
            try:
                message = cp.decode_sharded(reply["data"])
            except ProtocolError:
                return False
            body = message.body
            if not isinstance(body, p.ValueResponse) or body.request_id != request_id:
                return False
            sockets = body.body["sockets"]
            rooms: set[Any] = set()
            for socket in sockets:
                rooms.update(r for r in socket.get("rooms") or () if isinstance(r, (str, int)))
            ids = {s.get("id") for s in sockets}
            named = _sorted_rooms({r for r in rooms if r not in ids})
            per_server[message.uid] = ServerInfo(message.uid, len(sockets), named)
            return True

        await _collect(pubsub, servers, timeout, handle)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
    status.per_server = sorted(per_server.values(), key=lambda s: s.uid)
    status.uids = [s.uid for s in status.per_server]
    status.answered = len(per_server)
    status.rooms = _sorted_rooms({r for s in status.per_server for r in s.rooms})
    status.socket_ids = sum(s.sockets for s in status.per_server)
    return status


def render_status(
    statuses: Sequence[NamespaceStatus], *, protocol: str, colour: bool = False
) -> str:
    """The report for a person: one block per namespace."""
    pal = Palette(colour)
    if not statuses:
        return "no namespace has a server (no adapter channel is subscribed under this key)"
    asked = "ALL_ROOMS" if protocol == "classic" else "FETCH_SOCKETS"
    lines = []
    for st in statuses:
        plural = "" if st.servers == 1 else "s"
        lines.append(f"{pal.paint('namespace ' + st.nsp, 1)}  {st.servers} server{plural}")
        if protocol == "classic":
            lines.append("  uids: " + (", ".join(pal.paint(u, 36) for u in st.uids) or "-"))
        for server in st.per_server:
            rooms = ", ".join(map(str, server.rooms)) or "-"
            lines.append(f"  {pal.paint(server.uid, 36)}  {server.sockets} sockets  rooms: {rooms}")
        if st.servers:
            ok = st.answered == st.servers
            answered = f"{st.answered} of {st.servers}"
            lines.append(f"  answered {asked}: {pal.paint(answered, 32 if ok else 31)}")
        lines.append("  rooms: " + (", ".join(map(str, st.rooms)) or "-"))
        lines.append(f"  sockets: {st.socket_ids}")
    return "\n".join(lines)
