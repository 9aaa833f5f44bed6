"""Fuzzing every decode path of live adapters at volume, with a delivery oracle.

Inputs come from two sources, mixed: a nearly-valid-message generator (messages of the
path's real shape, then sometimes one field replaced by an arbitrary value, a key dropped
or added, or the bytes damaged) and mutation of the captured Node samples (the byte
samples of tests/unit/test_protocol.py and test_cluster_protocol.py, from PROTOCOL.md).
Each input is fed to a live adapter exactly where its reader would hand it over
(``_on_redis_message``, ``_on_shard_message``, ``_on_entry``, ``_on_pubsub_message``); the
adapter serves sockets in rooms on two namespaces and every packet it sends to a socket is
recorded. An *escape* is any exception reaching the caller (malformed input must be
counted and dropped), a delivery to a socket of another namespace, or, for an undamaged
generated broadcast, recipients other than exactly the sockets its rooms and except-rooms
select (none for the adapter's own uid). After a run, a real message sent through Redis
by a peer adapter must still reach the sockets: the listener is alive.

Used by ``bench/fuzz.py`` (the volume run) and tests/integration/test_fuzz_volume.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import socketio

from socketio_redis_async import (
    AsyncRedisAdapter,
    AsyncRedisStreamsAdapter,
    AsyncShardedRedisAdapter,
)

from .redis_procs import RedisCluster, RedisServer
from .sio_servers import eventually

__all__ = ["PATHS", "FuzzReport", "fuzz_paths", "node_samples"]

CLASSIC_PATHS = ("broadcast", "room", "request", "response")
PATHS = (*CLASSIC_PATHS, "sharded", "streams-entry", "streams-pubsub")
NAMESPACES = ("/", "/admin")
ROOMS: tuple[Any, ...] = ("r1", "r2", 42, "42")
ROOM_CHOICES: tuple[Any, ...] = (*ROOMS, "nobody", 4.2, "")
OTHER_UID = "0123456789abcdef"
RESET_EVERY = 500  # inputs between restoring the sockets (requests may move or drop them)


# --- the captured Node samples ---------------------------------------------------------------


def node_samples() -> dict[str, list[Any]]:
    """The Node byte samples per path, read from the unit tests that pin them down (and
    that check each against PROTOCOL.md): payloads, and for stream entries field lists."""
    unit = str(Path(__file__).resolve().parents[1] / "unit")
    if unit not in sys.path:
        sys.path.append(unit)
    import test_cluster_protocol as tcp
    import test_protocol as tp

    broadcasts = [bytes.fromhex(case[0]) for case in tp.BROADCASTS.values()]
    broadcasts += [bytes.fromhex(tp.SAMPLE_H)]
    broadcasts += [bytes.fromhex(case[0]) for case in tp.EMITTER_BROADCASTS.values()]
    requests = [payload for payload, _ in tp.JSON_REQUESTS]
    requests.append(bytes.fromhex(tp.BROADCAST_REQUEST))
    requests += list(tp.MALFORMED_REQUESTS.values())
    responses = [payload for payload, _ in tp.RESPONSES]
    responses += list(tp.MALFORMED_RESPONSES.values())
    sharded = [case[1] for case in tcp.SHARDED.values()]
    entries = [
        [part for pair in fields for part in pair] for fields, _ in tcp.STREAM_SAMPLES.values()
    ]
    pubsub = [bytes.fromhex(case[0]) for case in tcp.PUBSUB_SAMPLES.values()]
    return {
        "broadcast": broadcasts + list(tp.MALFORMED_BROADCASTS.values()),
        "room": broadcasts,
        "request": requests,
        "response": responses,
        "sharded": sharded,
        "streams-entry": entries,
        "streams-pubsub": pubsub + sharded,
    }


# --- generation ------------------------------------------------------------------------------


class Gen:
    """Seeded random structures, damage and mutations (fast enough for 10^5 per path)."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def scalar(self, safe: bool = False) -> Any:
        """Any msgpack scalar; ``safe`` ones are deliverable to clients: dates within
        Python's range (Node's reach further; later ones are counted malformed)."""
        r = self.r
        seconds = 2**34 if safe else 2**40
        codes = (5, 127) if safe else (0, 5, 127)  # ext 0: notepack 2's dates (ms), too
        return r.choice(
            (
                lambda: None,
                lambda: r.random() < 0.5,
                lambda: r.randint(-5, 50),
                lambda: r.choice((2**31, -(2**63), 2**64 - 1, 2**53 + 1)),
                lambda: r.choice((math.nan, math.inf, -0.0, 1e308, 4.2)),
                lambda: "".join(r.choice("ab/#*\x00é\u2028😀{") for _ in range(r.randint(0, 8))),
                lambda: r.randbytes(r.randint(0, 8)),
                lambda: msgpack.ExtType(r.choice(codes), r.randbytes(r.choice((0, 1, 4, 8)))),
                lambda: msgpack.Timestamp(r.randint(-seconds, seconds), r.randrange(10**9)),
            )
        )()

    def value(self, depth: int = 0, safe: bool = False) -> Any:
        """A nested structure; ``safe`` ones have string keys only (clients get JSON)."""
        roll = self.r.random()
        if depth > 3 or roll < 0.6:
            return self.scalar(safe)
        if roll < 0.8:
            return [self.value(depth + 1, safe) for _ in range(self.r.randint(0, 4))]
        size = self.r.randint(0, 4)
        return {self.key(safe): self.value(depth + 1, safe) for _ in range(size)}

    def key(self, safe: bool = False) -> Any:
        keys = ("type", "data", "nsp", "uid", "rooms", "except", "flags", "x", "", 1, b"k")
        return self.r.choice(keys[:-2] if safe else keys)

    def room(self) -> Any:
        return self.r.choice(ROOM_CHOICES) if self.chance(0.9) else self.scalar()

    def rooms(self) -> list[Any]:
        return [self.r.choice(ROOM_CHOICES) for _ in range(self.r.randint(0, 2))]

    def event(self) -> list[Any]:
        args = [self.value(2, safe=True) for _ in range(self.r.randint(0, 3))]
        return [self.r.choice(("ev", "", "message", "é")), *args]

    def damage(self, data: bytes) -> bytes:
        """Flip, insert, delete, truncate, duplicate or splice bytes."""
        r = self.r
        out = bytearray(data)
        for _ in range(r.randint(1, 3)):
            at = r.randint(0, len(out))
            op = r.randrange(6)
            if op == 0 and at < len(out):
                out[at] ^= 1 << r.randrange(8)
            elif op == 1:
                out[at:at] = r.randbytes(r.randint(1, 4))
            elif op == 2:
                del out[at : at + r.randint(1, 4)]
            elif op == 3:
                del out[at:]
            elif op == 4:
                out[at:at] = out[at : at + r.randint(1, 16)]
            else:
                out[at : at + 1] = bytes([r.choice((0xC0, 0xC1, 0xDC, 0xDE, 0xFF, 0x7B, 0x22))])
        return bytes(out)

    def perturb(self, obj: Any) -> Any:
        """One structural change somewhere in ``obj``: a value replaced, a key dropped or
        added, a list shortened."""
        if isinstance(obj, dict) and obj and self.chance(0.7):
            key = self.r.choice(list(obj))
            obj = dict(obj)
            op = self.r.randrange(4)
            if op == 0:
                del obj[key]
            elif op == 1:
                obj[self.key()] = self.value()
            elif op == 2:
                obj[key] = self.value()
            else:
                obj[key] = self.perturb(obj[key])
            return obj
        if isinstance(obj, list) and obj and self.chance(0.7):
            at = self.r.randrange(len(obj))
            obj = list(obj)
            if self.chance(0.3):
                del obj[at:]
            else:
                obj[at] = self.perturb(obj[at]) if self.chance(0.5) else self.value()
            return obj
        return self.value()

    def encode(self, obj: Any, *, json_ok: bool) -> bytes:
        if json_ok and self.chance(0.4):
            try:
                return json.dumps(obj, allow_nan=False).encode()
            except (TypeError, ValueError):
                pass
        return bytes(msgpack.packb(obj, use_bin_type=True))


@dataclass
class Case:
    """One input: the path's arguments, and the broadcast it must deliver if undamaged
    (namespace, rooms, except-rooms; ``own`` = must deliver nothing)."""

    args: tuple[Any, ...]
    expect: tuple[str, list[Any], list[Any], bool] | None = None


def _target(gen: Gen) -> tuple[list[Any], list[Any], dict[str, Any]]:
    flags = gen.r.choice(({}, {"volatile": True}, {"compress": False}))
    return gen.rooms(), gen.rooms(), flags


def _uid(gen: Gen, own: str) -> tuple[str, bool]:
    uid = gen.r.choice((OTHER_UID, "emitter", own))
    return uid, uid == own


def _finish(
    gen: Gen, obj: Any, args: Callable[[bytes], tuple[Any, ...]], expect: Any, *, json_ok: bool
) -> Case:
    """Perturb, encode and damage ``obj`` sometimes; keep the expectation only if not."""
    roll = gen.r.random()
    if roll < 0.35:
        return Case(args(gen.encode(obj, json_ok=json_ok)), expect)
    if roll < 0.75:
        return Case(args(gen.encode(gen.perturb(obj), json_ok=json_ok)))
    if roll < 0.95:
        return Case(args(gen.damage(gen.encode(obj, json_ok=json_ok))))
    return Case(args(gen.r.randbytes(gen.r.randint(0, 64))))


def classic_case(path: str, gen: Gen, own: str, samples: list[Any]) -> Case:
    nsp = gen.r.choice(NAMESPACES)
    base = f"socket.io#{nsp}#".encode()
    if gen.chance(0.25):
        payload = gen.r.choice(samples)
        payload = gen.damage(payload) if gen.chance(0.8) else payload
        nsp = "/" if gen.chance(0.8) else nsp  # the samples are mostly for "/"
        base = f"socket.io#{nsp}#".encode()
        if path == "broadcast":
            return Case((base, payload, base + b"*"))
        if path == "room":
            return Case((base + str(gen.room()).encode() + b"#", payload, base + b"*"))
        if path == "request":
            return Case((f"socket.io-request#{nsp}#".encode(), payload, None))
        return Case((f"socket.io-response#{nsp}#".encode(), payload, None))
    uid, mine = _uid(gen, own)
    rooms, excepts, flags = _target(gen)
    packet = {"type": 2, "data": gen.event(), "nsp": nsp}
    opts = {"rooms": rooms, "except": excepts, "flags": flags}
    if path in ("broadcast", "room"):
        if path == "room":
            room = rooms[0] if len(rooms) == 1 and gen.chance(0.8) else gen.room()
            channel = base + str(room).encode() + b"#"
            # Node publishes to a room channel only for exactly one room, the room itself.
            valid = len(rooms) == 1 and room == rooms[0] and isinstance(room, str)
        else:
            channel, valid = base, True
        expect = (nsp, rooms, excepts, mine) if valid else None
        return _finish(
            gen,
            [uid, packet, opts],
            lambda b: (channel, b, base + b"*"),
            expect,
            json_ok=False,
        )
    if path == "request":
        kind = gen.r.randrange(10)
        request: dict[str, Any] = {"uid": uid, "requestId": f"q{gen.r.randrange(99)}", "type": kind}
        if kind in (2, 3):
            request |= {"opts": opts, "rooms": gen.rooms()}
        elif kind == 4:
            request |= {"opts": opts, "close": gen.chance(0.5)}
        elif kind in (0, 1, 5, 8):
            request |= {"opts": opts}
        elif kind == 6:
            request["data"] = gen.r.choice((["sse"], ["sse", 1], gen.event()))
        else:
            request |= {"opts": opts, "packet": packet}
        return _finish(
            gen,
            request,
            lambda b: (f"socket.io-request#{nsp}#".encode(), b, None),
            None,
            json_ok=True,
        )
    response = {"requestId": f"q{gen.r.randrange(99)}", "type": gen.r.choice((0, 1, 5, 6, 8, 9))}
    response[gen.r.choice(("sockets", "rooms", "data", "clientCount", "packet"))] = gen.value(1)
    specific = own.encode() + b"#" if gen.chance(0.5) else b""
    return _finish(
        gen,
        response,
        lambda b: (f"socket.io-response#{nsp}#".encode() + specific, b, None),
        None,
        json_ok=True,
    )


def cluster_body(gen: Gen, own: str, nsp: str) -> tuple[dict[str, Any], Any]:
    """A cluster-adapter envelope (sharded/streams) and its broadcast expectation."""
    uid, mine = _uid(gen, own)
    rooms, excepts, flags = _target(gen)
    kind = gen.r.choice((1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 99))
    data: dict[str, Any] = {"opts": {"rooms": rooms, "except": excepts, "flags": flags}}
    expect = None
    if kind == 3:
        data["packet"] = {"type": 2, "data": gen.event()}
        if gen.chance(0.2):
            data["requestId"] = f"q{gen.r.randrange(99)}"
        else:
            expect = (nsp, rooms, excepts, mine)
    elif kind in (4, 5):
        data["rooms"] = gen.rooms()
    elif kind == 6:
        data["close"] = gen.chance(0.5)
    elif kind in (7, 8, 10, 11, 12):
        data = {"requestId": f"q{gen.r.randrange(99)}", "sockets": [], "packet": [gen.value(1)]}
        data["clientCount"] = gen.r.choice((0, 3, -1))
    elif kind == 9:
        data = {"packet": gen.r.choice((["sse"], gen.event()))}
    envelope: dict[str, Any] = {"type": kind, "uid": uid, "nsp": nsp}
    if kind not in (1, 2, 13):
        envelope["data"] = data
    return envelope, expect


def sharded_case(gen: Gen, own: str, channels: list[bytes], samples: list[Any]) -> Case:
    channel = gen.r.choice(channels)
    if gen.chance(0.25):
        payload = gen.r.choice(samples)
        return Case((channel, gen.damage(payload) if gen.chance(0.8) else payload))
    nsp = "/admin" if b"#/admin#" in channel else "/"
    envelope, expect = cluster_body(gen, own, nsp)
    return _finish(gen, envelope, lambda b: (channel, b), expect, json_ok=True)


def streams_pubsub_case(gen: Gen, own: str, channels: list[bytes], samples: list[Any]) -> Case:
    channel = gen.r.choice(channels)
    if gen.chance(0.25):
        payload = gen.r.choice(samples)
        return Case((channel, gen.damage(payload) if gen.chance(0.8) else payload, None))
    nsp = "/admin" if b"#/admin#" in channel else "/"
    envelope, expect = cluster_body(gen, own, nsp)
    return _finish(gen, envelope, lambda b: (channel, b, None), expect, json_ok=False)


def streams_entry_case(gen: Gen, own: str, samples: list[Any]) -> Case:
    """Stream entry fields as XREAD returns them: a flat list of bytes."""
    entry_id = b"%d-0" % gen.r.randrange(10**6)
    if gen.chance(0.25):
        fields = list(gen.r.choice(samples))
        if gen.chance(0.8):
            at = gen.r.randrange(len(fields))
            op = gen.r.randrange(3)
            if op == 0:
                fields[at] = gen.damage(fields[at])
            elif op == 1:
                del fields[at]
            else:
                fields[at:at] = [gen.r.choice((b"uid", b"nsp", b"type", b"data")), gen.damage(b"x")]
        return Case((entry_id, fields))
    nsp = gen.r.choice(NAMESPACES)
    envelope, expect = cluster_body(gen, own, nsp)
    data = envelope.get("data")
    if data is None:
        encoded = b""
    elif gen.chance(0.5):
        try:
            encoded = json.dumps(data, allow_nan=False).encode()
        except (TypeError, ValueError):
            encoded = base64.b64encode(msgpack.packb(data, use_bin_type=True))
    else:
        encoded = base64.b64encode(msgpack.packb(data, use_bin_type=True))
    fields = [b"uid", str(envelope["uid"]).encode(), b"nsp", nsp.encode()]
    fields += [b"type", str(envelope["type"]).encode(), b"data", encoded]
    roll = gen.r.random()
    if roll < 0.4:
        return Case((entry_id, fields), expect)
    if roll < 0.7:
        at = gen.r.randrange(1, len(fields), 2)
        fields[at] = gen.damage(fields[at])
    elif roll < 0.85:
        del fields[gen.r.randrange(len(fields))]
    else:
        fields[gen.r.randrange(len(fields))] = gen.r.randbytes(gen.r.randint(0, 12))
    return Case((entry_id, fields))


# --- the live adapters -----------------------------------------------------------------------


class Live:
    """A bare ``AsyncServer`` around one adapter, with sockets in rooms on both namespaces
    and every packet sent to a socket recorded (then sent on as usual)."""

    def __init__(self, mgr: Any) -> None:
        self.mgr = mgr
        self.sio = socketio.AsyncServer(client_manager=mgr, async_mode="asgi", logger=False)
        self.sio.on("connect", lambda sid, environ: None, namespace="/admin")
        mgr.on("sse", lambda *args: "answer")
        self.sent: list[str] = []
        for name in ("_send_packet", "_send_eio_packet"):
            original = getattr(self.sio, name)

            async def record(eio_sid: str, pkt: Any, original: Any = original) -> None:
                self.sent.append(eio_sid)
                await original(eio_sid, pkt)

            setattr(self.sio, name, record)
        self.namespace_of: dict[str, str] = {}
        self.peer: Any = None  # another adapter on the same Redis, to send the canary

    async def populate(self) -> None:
        """Each namespace: one socket per room of ROOMS (a fresh set after a reset)."""
        for namespace in NAMESPACES:
            for sid in list(self.mgr.rooms.get(namespace, {}).get(None, {})):
                await self.mgr.disconnect(sid, namespace)
        self.namespace_of.clear()
        for n, room in enumerate(ROOMS):
            for namespace in NAMESPACES:
                eio_sid = f"eio{n}{namespace}-{len(self.sent)}"
                sid = await self.mgr.connect(eio_sid, namespace)
                await self.mgr.enter_room(sid, namespace, room)
                self.namespace_of[eio_sid] = namespace

    def expected(self, namespace: str, rooms: list[Any], excepts: list[Any]) -> set[str]:
        table = self.mgr.rooms.get(namespace, {})
        chosen = [table.get(r, {}) for r in rooms] if rooms else [table.get(None, {})]
        out = {eio for members in chosen for eio in members.values()}
        for r in excepts:
            out -= set(table.get(r, {}).values())
        return out


@dataclass
class FuzzReport:
    inputs: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)  # undamaged broadcasts checked
    delivered: Counter[str] = field(default_factory=Counter)  # inputs that reached a socket
    escapes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)


async def _feed(
    live: Live,
    path: str,
    report: FuzzReport,
    call: Callable[..., Awaitable[None]],
    cases: Iterator[Case],
    count: int,
) -> None:
    began = time.monotonic()
    for i in range(count):
        if i % RESET_EVERY == 0:
            await live.populate()
        case = next(cases)
        expected = live.expected(*case.expect[:3]) if case.expect else None
        if path == "sharded" and case.args[0] not in live.mgr._routes:
            expected = set()  # a room channel unsubscribed since (its room emptied)
        live.sent.clear()
        report.inputs[path] += 1
        try:
            await call(*case.args)
        except Exception as exc:  # an escape: what the reader would have died of
            report.escapes.append(f"{path}: {type(exc).__name__}: {exc} <- {case.args!r:.300}")
            continue
        sent = set(live.sent)
        if sent:
            report.delivered[path] += 1
        strays = {s for s in sent if live.namespace_of.get(s) not in (None, _route_nsp(case))}
        if strays:
            report.escapes.append(
                f"{path}: delivered across namespaces {strays} <- {case.args!r:.300}"
            )
        if case.expect is not None and expected is not None:
            report.checked[path] += 1
            want = set() if case.expect[3] else expected
            if sent != want:
                report.escapes.append(
                    f"{path}: delivered to {sorted(sent)}, expected {sorted(want)} "
                    f"<- {case.args!r:.300}"
                )
    report.seconds[path] = time.monotonic() - began


def _forever(make: Callable[..., Case], *args: Any) -> Iterator[Case]:
    while True:
        yield make(*args)


def _route_nsp(case: Case) -> str | None:
    """The namespace an input was routed to (from its channel or entry), if known."""
    channel = case.args[0]
    if isinstance(channel, bytes) and b"#" in channel:
        return channel.split(b"#")[1].decode(errors="replace")
    fields = case.args[1] if len(case.args) > 1 and isinstance(case.args[1], list) else []
    named = dict(zip(fields[::2], fields[1::2], strict=False))  # a later duplicate wins
    nsp = named.get(b"nsp")
    return nsp.decode(errors="replace") if isinstance(nsp, bytes) else None


async def _alive(live: Live, namespace: str = "/") -> None:
    """A real broadcast sent by the peer adapter through Redis reaches the fuzzed adapter's
    sockets in room r1: its listener survived. Sent again every half second, because the
    sharded adapter subscribes to the room's channel in the background after a join."""
    await live.populate()
    want = live.expected(namespace, ["r1"], [])
    deadline = time.monotonic() + 10
    while True:
        live.sent.clear()
        await live.peer.emit("canary", {"alive": True}, namespace=namespace, to="r1")
        with suppress(AssertionError):
            await eventually(lambda: set(live.sent) == want, timeout=0.5)
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the listener is dead: the canary reached {live.sent}")


@asynccontextmanager
async def _adapters(mgr: Any, peer: Any) -> Any:
    live = Live(mgr)
    live.peer = peer
    socketio.AsyncServer(client_manager=peer, async_mode="asgi", logger=False)
    await mgr.start()
    await peer.start()
    try:
        await live.populate()
        yield live
    finally:
        for m in (mgr, peer):
            with suppress(Exception):
                await m.aclose()


async def fuzz_paths(
    paths: list[str],
    inputs: int,
    *,
    redis: RedisServer | None = None,
    cluster: RedisCluster | None = None,
    seed: int = 0,
) -> FuzzReport:
    """Feed ``inputs`` generated inputs to each of ``paths``; classic and streams paths need
    ``redis``, ``sharded`` needs ``cluster``."""
    report = FuzzReport()
    samples = node_samples()
    quiet = [
        logging.getLogger(n) for n in ("socketio_redis_async", "engineio.server", "socketio.server")
    ]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        classic = [p for p in paths if p in CLASSIC_PATHS]
        if classic:
            assert redis is not None
            async with _adapters(
                AsyncRedisAdapter(redis.url, requests_timeout=0.2), AsyncRedisAdapter(redis.url)
            ) as live:
                for path in classic:
                    gen = Gen(seed + PATHS.index(path))
                    own = live.mgr.uid
                    cases = _forever(classic_case, path, gen, own, samples[path])
                    await _feed(live, path, report, live.mgr._on_redis_message, cases, inputs)
                await asyncio.sleep(0.3)  # request deadlines pass
                await _alive(live)
                report.stats["classic"] = live.mgr.stats()
        if "sharded" in paths:
            assert cluster is not None
            prefix = f"fuzz-{seed}"
            async with _adapters(
                AsyncShardedRedisAdapter(
                    cluster.startup_url, channel_prefix=prefix, requests_timeout=0.2
                ),
                AsyncShardedRedisAdapter(cluster.startup_url, channel_prefix=prefix),
            ) as live:
                gen = Gen(seed + PATHS.index("sharded"))
                own = live.mgr.uid
                channels = sorted(live.mgr._routes)
                cases = _forever(sharded_case, gen, own, channels, samples["sharded"])
                await _feed(live, "sharded", report, live.mgr._on_shard_message, cases, inputs)
                await asyncio.sleep(0.3)
                await _alive(live)
                report.stats["sharded"] = live.mgr.stats()
        streams = [p for p in paths if p.startswith("streams-")]
        if streams:
            assert redis is not None
            async with _adapters(
                AsyncRedisStreamsAdapter(redis.url, requests_timeout=0.2),
                AsyncRedisStreamsAdapter(redis.url),
            ) as live:
                own = live.mgr.uid
                for path in streams:
                    gen = Gen(seed + PATHS.index(path))
                    if path == "streams-entry":
                        cases = _forever(streams_entry_case, gen, own, samples[path])
                        call = live.mgr._on_entry
                    else:
                        channels = sorted(live.mgr._routes)
                        cases = _forever(streams_pubsub_case, gen, own, channels, samples[path])
                        call = live.mgr._on_pubsub_message
                    await _feed(live, path, report, call, cases, inputs)
                await asyncio.sleep(0.3)
                await _alive(live)
                report.stats["streams"] = live.mgr.stats()
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return report
