"""The command line against real Redis and real python-socketio servers, run as a user would
(``python -m socketio_redis_async`` in a subprocess).

``monitor`` must decode what the servers and the emitter really put on the wire, and stay
invisible to them (NUMSUB / SHARDNUMSUB unchanged, requests still complete); ``emit`` must
reach clients; ``status`` must count the servers and list their rooms.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from importlib import import_module
from typing import Any

import pytest
import redis
from support.cli_runner import ROOT, Monitor, run_cli
from support.redis_procs import RedisCluster, RedisServer
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncShardedRedisAdapter, Emitter

DONE = "cli-test-done"


def is_done(line: str) -> bool:
    return DONE in line


def numsub(url: str, channel: str) -> int:
    with redis.Redis.from_url(url) as r:
        return int(r.pubsub_numsub(channel)[0][1])


@pytest.fixture
async def classic(redis_url: str) -> AsyncIterator[tuple[list[SioServer], list[RecordingClient]]]:
    servers = [
        await start_server(redis_url, kind="asgi", namespaces=["/", "/admin"]),
        await start_server(redis_url, kind="aiohttp", namespaces=["/", "/admin"]),
    ]
    clients = []
    for server, rooms in zip(servers, (["room1", "room2"], ["room1"]), strict=True):
        client = RecordingClient(ack_reply="ok")
        await client.connect(server.url, namespaces=["/", "/admin"])
        for room in rooms:
            await client.join(room)
        clients.append(client)
    yield servers, clients
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop()


def by_event(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == event]


async def test_monitor_decodes_classic_servers_and_emitter_without_being_counted(
    redis_url: str, classic: tuple[list[SioServer], list[RecordingClient]]
) -> None:
    (a, b), (_, c1) = classic
    before = numsub(redis_url, "socket.io-request#/#")
    assert before == 2
    async with Monitor(redis_url, "--json") as monitor:
        assert numsub(redis_url, "socket.io-request#/#") == before
        assert numsub(redis_url, "socket.io-request#/admin#") == 2
        await a.sio.emit("ev", (1, "a", {"x": 1.5}, b"\x01\x02\x03"), to="room1")
        await b.sio.emit("adm", {"n": None}, namespace="/admin")
        # requests complete: a server waits for NUMSUB answers, so a counted monitor would
        # make this time out
        rooms = await a.mgr.all_rooms("/")
        assert {"room1", "room2"} <= rooms
        with Emitter(redis_url) as em:
            em.to("room2").except_("room9").emit("fromEmitter", [True, 2**40])
            em.to("room2").sockets_join("joined-by-emitter")
            em.emit(DONE)
        await monitor.read_until(is_done)
        result = await monitor.interrupt()
    assert result.code == 0, result.stderr
    records = monitor.records()

    [ev] = by_event(records, "ev")
    assert ev == {
        "time": ev["time"],
        "protocol": "classic",
        "channel": "socket.io#/#room1#",
        "size": ev["size"],
        "kind": "broadcast",
        "type": "broadcast",
        "uid": a.mgr.uid,
        "nsp": "/",
        "rooms": ["room1"],
        "event": "ev",
        "args": [1, "a", {"x": 1.5}, {"$bin": "010203"}],
    }
    [adm] = by_event(records, "adm")
    assert (adm["channel"], adm["nsp"], adm["uid"], adm["args"]) == (
        "socket.io#/admin#",
        "/admin",
        b.mgr.uid,
        [{"n": None}],
    )
    [request] = [r for r in records if r["type"] == "ALL_ROOMS"]
    assert (request["channel"], request["kind"], request["uid"]) == (
        "socket.io-request#/#",
        "request",
        a.mgr.uid,
    )
    [answer] = [r for r in records if r["type"] == "ALL_ROOMS_RESPONSE"]
    assert answer["request_id"] == request["request_id"]
    assert sorted(answer["details"]["rooms"]) == sorted([c1.sid(), "room1"])  # b's rooms
    [emitted] = by_event(records, "fromEmitter")
    assert (emitted["uid"], emitted["rooms"], emitted["except"], emitted["args"]) == (
        "emitter",
        ["room2"],
        ["room9"],
        [[True, 2**40]],
    )
    [join] = [r for r in records if r["type"] == "REMOTE_JOIN"]
    assert join["uid"] is None and join["rooms"] == ["room2"]
    assert join["details"] == {"join": ["joined-by-emitter"]}
    assert numsub(redis_url, "socket.io-request#/#") == before


async def test_monitor_text_output_count_and_namespace_filter(
    redis_url: str, classic: tuple[list[SioServer], list[RecordingClient]]
) -> None:
    (a, _), _ = classic
    async with Monitor(redis_url, "--namespace", "/admin", "--count", "2", "--width", "30") as m:
        await a.sio.emit("not-shown", 1)  # namespace / is filtered out
        await a.sio.emit("first", ("x" * 100, b"\x00" * 5), namespace="/admin")
        await a.sio.emit("second", {"k": list(range(20))}, namespace="/admin", to="room1")
        result = await m.finish()  # --count 2 ends it
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "not-shown" not in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
    first, second = lines
    assert f"socket.io#/admin#  {a.mgr.uid}  broadcast  nsp=/admin" in first
    assert '"first"' in first and first.endswith("…)")  # arguments cut at 30 characters
    assert "socket.io#/admin#room1#" in second and "rooms=[room1]" in second
    assert second.endswith('({"k": [0, 1, 2, 3, 4, 5, 6, 7…)')


async def test_monitor_colour_and_duration(fresh_redis: RedisServer) -> None:
    redis_url = fresh_redis.url  # its own server: the pattern count below is the monitor's

    async def publish_once_subscribed() -> None:
        with redis.Redis.from_url(redis_url) as r:
            await eventually(lambda: r.pubsub_numpat() >= 3, timeout=10)
        with Emitter(redis_url) as em:
            em.emit("tick", b"\x01")

    task = asyncio.create_task(publish_once_subscribed())
    result = await run_cli("monitor", redis_url, "--duration", "4", "--color", "always")
    await task
    assert result.code == 0, result.stderr
    assert "\x1b[" in result.stdout and "tick" in result.stdout and "<1 bytes>" in result.stdout


@pytest.fixture
async def sharded(
    redis_cluster: RedisCluster,
) -> AsyncIterator[tuple[str, list[SioServer], list[RecordingClient]]]:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    servers = [
        await start_server(
            "",
            manager=AsyncShardedRedisAdapter(redis_cluster.urls, channel_prefix=prefix),
            kind=kind,
        )
        for kind in ("asgi", "aiohttp")
    ]
    clients = []
    for server, rooms in zip(servers, (["red", "blue"], ["red"]), strict=True):
        client = RecordingClient()
        await client.connect(server.url)
        for room in rooms:
            await client.join(room)
        clients.append(client)
    yield prefix, servers, clients
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop()


def shardnumsub(cluster: RedisCluster, channel: str) -> int:
    with cluster.client() as rc:
        total = 0
        for node in rc.get_primaries():
            reply = rc.execute_command("PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
            total += int(reply[1])
        return total


async def test_monitor_sharded_reads_every_master_and_changes_no_count(
    redis_cluster: RedisCluster,
    sharded: tuple[str, list[SioServer], list[RecordingClient]],
) -> None:
    prefix, (a, b), _ = sharded
    main = f"{prefix}#/#"
    assert shardnumsub(redis_cluster, main) == 2
    args = (redis_cluster.startup_url, "--sharded", "--key", prefix, "--json")
    async with Monitor(*args) as monitor:
        assert "3 master(s)" in monitor.banner
        assert shardnumsub(redis_cluster, main) == 2
        await a.sio.emit("ev", ("s", b"\x07"), to="red")  # dynamic mode: red's own channel
        await b.sio.emit("bl", 1, to="blue")
        sockets = await a.mgr.fetch_sockets()  # waits for SHARDNUMSUB - 1 answers
        assert len(sockets) == 2
        with Emitter(redis_cluster.startup_url, key=prefix, sharded=True) as em:
            em.emit(DONE)
        await monitor.read_until(is_done)
        result = await monitor.interrupt()
    assert result.code == 0, result.stderr
    records = monitor.records()
    [ev] = by_event(records, "ev")
    assert ev == {
        "time": ev["time"],
        "protocol": "sharded",
        "channel": f"{prefix}#/#red#",
        "size": ev["size"],
        "kind": "broadcast",
        "type": "broadcast",
        "uid": a.mgr.uid,
        "nsp": "/",
        "rooms": ["red"],
        "event": "ev",
        "args": ["s", {"$bin": "07"}],
    }
    [bl] = by_event(records, "bl")
    assert (bl["channel"], bl["uid"]) == (f"{prefix}#/#blue#", b.mgr.uid)
    [fetch] = [r for r in records if r["type"] == "FETCH_SOCKETS"]
    assert (fetch["channel"], fetch["uid"], fetch["kind"]) == (main, a.mgr.uid, "request")
    [answer] = [r for r in records if r["type"] == "FETCH_SOCKETS_RESPONSE"]
    assert answer["channel"] == f"{prefix}#/#{a.mgr.uid}#"
    assert (answer["uid"], answer["to_uid"]) == (b.mgr.uid, a.mgr.uid)
    assert answer["request_id"] == fetch["request_id"]
    [socket] = answer["details"]["sockets"]
    assert set(socket["rooms"]) == {socket["id"], "red"}
    [done] = by_event(records, DONE)
    assert done["uid"] == "emitter"
    assert shardnumsub(redis_cluster, main) == 2


async def test_status_classic_counts_servers_and_lists_rooms(
    redis_url: str, classic: tuple[list[SioServer], list[RecordingClient]]
) -> None:
    (a, b), clients = classic
    result = await run_cli("status", redis_url, "--json")
    assert result.code == 0, result.stderr
    [report] = result.json_lines()
    by_nsp = {n["namespace"]: n for n in report["namespaces"]}
    assert set(by_nsp) == {"/", "/admin"}
    root = by_nsp["/"]
    assert root["servers"] == 2 and root["answered"] == 2
    assert root["uids"] == sorted([a.mgr.uid, b.mgr.uid])
    assert root["rooms"] == ["room1", "room2"]
    assert root["sockets"] == len(clients)
    assert by_nsp["/admin"]["rooms"] == [] and by_nsp["/admin"]["sockets"] == 2
    assert numsub(redis_url, "socket.io-request#/#") == 2  # status left nothing behind

    text = await run_cli("status", redis_url, "--namespace", "/")
    assert text.code == 0, text.stderr
    assert "namespace /  2 servers" in text.stdout
    assert "answered ALL_ROOMS: 2 of 2" in text.stdout
    assert "rooms: room1, room2" in text.stdout and "/admin" not in text.stdout


async def test_status_sharded_lists_each_server(
    redis_cluster: RedisCluster,
    sharded: tuple[str, list[SioServer], list[RecordingClient]],
) -> None:
    prefix, (a, b), _ = sharded
    result = await run_cli(
        "status", redis_cluster.startup_url, "--sharded", "--key", prefix, "--json"
    )
    assert result.code == 0, result.stderr
    [root] = result.json_lines()[0]["namespaces"]
    assert (root["namespace"], root["servers"], root["answered"]) == ("/", 2, 2)
    per_server = {s["uid"]: s for s in root["per_server"]}
    assert per_server[a.mgr.uid] == {"uid": a.mgr.uid, "sockets": 1, "rooms": ["blue", "red"]}
    assert per_server[b.mgr.uid] == {"uid": b.mgr.uid, "sockets": 1, "rooms": ["red"]}
    assert root["rooms"] == ["blue", "red"] and root["sockets"] == 2
    assert shardnumsub(redis_cluster, f"{prefix}#/#") == 2


async def test_emit_reaches_the_targeted_clients(
    redis_url: str, classic: tuple[list[SioServer], list[RecordingClient]]
) -> None:
    _, (c0, c1) = classic
    args = ("emit", redis_url, "news", '{"a": [1, 2]}', '"two"', '{"$bin": "ff00"}')
    result = await run_cli(*args, "--to", "room1", "--except", "room2")
    assert result.code == 0, result.stderr
    assert "sent 'news' with 3 argument(s) to namespace /, rooms room1, except room2" in (
        result.stderr
    )
    await eventually(lambda: c1.events("news"))
    assert c1.events("news") == [({"a": [1, 2]}, "two", b"\xff\x00")]
    result = await run_cli("emit", redis_url, "bare", "--namespace", "/admin")
    assert result.code == 0, result.stderr
    await eventually(lambda: c0.events("bare", "/admin") and c1.events("bare", "/admin"))
    assert c0.events("news") == []  # in room2: excluded


async def test_emit_sharded_reaches_clients(
    redis_cluster: RedisCluster,
    sharded: tuple[str, list[SioServer], list[RecordingClient]],
) -> None:
    prefix, _, (c0, c1) = sharded
    url = redis_cluster.startup_url
    result = await run_cli("emit", url, "hey", "1", "--sharded", "--key", prefix, "--to", "blue")
    assert result.code == 0, result.stderr
    await eventually(lambda: c0.events("hey"))
    assert c0.events("hey") == [(1,)] and c1.events("hey") == []


async def test_errors_say_what_to_fix() -> None:
    result = await run_cli("status", "redis://user:s3cret@127.0.0.1:1/0")
    assert result.code == 2
    [line] = result.stderr.splitlines()
    assert "cannot reach Redis at redis://user:***@127.0.0.1:1/0" in line
    assert "s3cret" not in result.stderr

    result = await run_cli("monitor", "127.0.0.1:1", "--sharded")
    assert result.code == 2 and len(result.stderr.splitlines()) == 1

    result = await run_cli("emit", "127.0.0.1:1", "ev", "1", "{oops")
    assert result.code == 2
    assert "JSON argument 2 ('{oops') is not valid JSON" in result.stderr

    result = await run_cli("emit", "127.0.0.1:1", "ev", "hello")
    assert result.code == 2 and "strings need quotes" in result.stderr

    result = await run_cli("emit", "redis+sentinel://h:26379/mymaster", "ev")
    assert result.code == 2 and "Sentinel URLs are not supported" in result.stderr


async def test_emit_refuses_reserved_events(redis_url: str) -> None:
    result = await run_cli("emit", redis_url, "disconnect")
    assert result.code == 2 and "disconnect" in result.stderr and "Traceback" not in result.stderr


async def test_help_explains_each_command() -> None:
    top = await run_cli("--help")
    assert top.code == 0
    for command in ("monitor", "emit", "status"):
        assert command in top.stdout
    monitor = await run_cli("monitor", "--help")
    assert "NUMSUB" in monitor.stdout and "MONITOR" in monitor.stdout
    for option in ("--key", "--sharded", "--json", "--namespace", "--count", "--duration"):
        assert option in monitor.stdout
    emit = await run_cli("emit", "--help")
    assert "--to" in emit.stdout and "Each JSON is one argument" in emit.stdout
    status = await run_cli("status", "--help")
    assert "SHARDNUMSUB" in status.stdout
    missing = await run_cli("emit")
    assert missing.code == 2 and "required" in missing.stderr


def test_console_script_points_at_main() -> None:
    # (tomllib is 3.11+; the package supports 3.10)
    pyproject = (ROOT / "pyproject.toml").read_text()
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^socketio-redis-async = "([\w.]+):(\w+)"$', scripts, re.MULTILINE)
    assert match is not None, scripts
    module, name = match.groups()
    assert getattr(import_module(module), name).__name__ == "main"
