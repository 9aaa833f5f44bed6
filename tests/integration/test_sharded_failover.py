"""Failover of a Redis Cluster master under a stream of sharded broadcasts.

The master owning the watched channel's slot is SIGKILLed while one Python server
broadcasts 100 numbered messages a second to a client of another; its replica takes over.
Measured per trial: the time from the promotion becoming visible (CLUSTER NODES of a
surviving node) to the first message delivered again. Asserted: delivery resumes within
2 s of the promotion, nothing published after that is lost, duplicated or reordered, and a
request made during the outage ends with ``RequestTimeoutError`` at its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from typing import Any

import pytest
from support.redis_cluster import RedisCluster
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncShardedRedisAdapter, RequestTimeoutError

TRIALS = 5
INTERVAL = 0.01  # 100 broadcasts per second
RESUME_TARGET = 2.0


class Stream:
    """Numbered broadcasts from ``sender`` to ``to``, and when the receiver got each."""

    def __init__(self, sender: SioServer, receiver: RecordingClient, to: str | None) -> None:
        self.sender, self.receiver, self.to = sender, receiver, to
        self.sent: list[float] = []  # sent[seq] = monotonic send time
        self.received: list[tuple[int, float]] = []
        self._task: asyncio.Task[None] | None = None

        @receiver.client.on("n")
        async def on_n(seq: int) -> None:
            self.received.append((seq, time.monotonic()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.sent.append(time.monotonic())
            await self.sender.mgr.emit("n", len(self.sent) - 1, to=self.to)
            await asyncio.sleep(INTERVAL)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def first_received_after(self, moment: float) -> tuple[int, float]:
        return next((seq, at) for seq, at in self.received if at > moment)


async def _servers(cluster: RedisCluster, mode: str) -> tuple[SioServer, SioServer, str]:
    prefix = f"fo-{uuid.uuid4().hex[:6]}"
    servers = []
    for _ in range(2):
        mgr = AsyncShardedRedisAdapter(
            cluster.urls, channel_prefix=prefix, subscription_mode=mode, requests_timeout=1.0
        )
        servers.append(await start_server("", manager=mgr))
    return servers[0], servers[1], prefix


async def _trials(
    cluster: RedisCluster, stream: Stream, channel: bytes
) -> tuple[list[float], list[tuple[int, int]]]:
    """Kill the channel's master TRIALS times; return the resume times and, per trial, the
    first sequence number sent after the kill and the first one delivered after it."""
    resumes, marks = [], []
    for _ in range(TRIALS):
        await eventually(
            lambda: stream.received and stream.received[-1][1] > time.monotonic() - 0.2
        )
        master = cluster.master_for_key(channel)
        killed_at = time.monotonic()
        killed_seq = len(stream.sent)
        await asyncio.to_thread(cluster.kill, master)
        # a request during the outage ends cleanly at its deadline (or succeeds)
        started = time.monotonic()
        with contextlib.suppress(RequestTimeoutError):
            await stream.sender.mgr.fetch_sockets()
        assert time.monotonic() - started < 1.0 + 0.5
        _, promoted_at = await asyncio.to_thread(cluster.wait_promoted, master)
        await eventually(
            lambda at=promoted_at: stream.received[-1][1] > at, timeout=RESUME_TARGET + 3
        )
        resumed_seq, resumed_at = stream.first_received_after(max(promoted_at, killed_at))
        resumes.append(resumed_at - promoted_at)
        marks.append((killed_seq, resumed_seq))
        await asyncio.to_thread(cluster.restart, master)  # back as a replica
    return resumes, marks


@pytest.mark.parametrize(
    "scenario", ["main channel (broadcast to all)", "room channel (dynamic mode)"]
)
async def test_delivery_resumes_after_the_owning_master_is_killed(fresh_cluster, scenario):
    cluster: RedisCluster = fresh_cluster
    room = None if scenario.startswith("main") else "watched"
    sender, receiver_server, prefix = await _servers(cluster, "dynamic")
    client = RecordingClient()
    await client.connect(receiver_server.url)
    if room is not None:
        await client.join(room)
    channel = f"{prefix}#/#{room}#".encode() if room else f"{prefix}#/#".encode()
    await eventually(lambda: receiver_server.mgr.connected and sender.mgr.connected)
    stream = Stream(sender, client, room)
    stream.start()
    try:
        resumes, marks = await _trials(cluster, stream, channel)
        await asyncio.sleep(0.3)
    finally:
        await stream.stop()
    await sender.mgr.flush()
    end = len(stream.sent) - 1
    await eventually(lambda: stream.received[-1][0] == end, timeout=3)
    seqs = [seq for seq, _ in stream.received]
    assert len(seqs) == len(set(seqs)), "a message was delivered twice"
    assert seqs == sorted(seqs), "messages were reordered"
    # From each resumption to the next kill (or the end), every message arrived.
    received = set(seqs)
    bounds = [killed for killed, _ in marks[1:]] + [end + 1]
    for (_, resumed), next_kill in zip(marks, bounds, strict=True):
        missing = [n for n in range(resumed, next_kill) if n not in received]
        assert not missing, f"lost after resumption: {missing[:10]}"
    lost = len(stream.sent) - len(seqs)
    print(
        f"\n{scenario}: time to resume after promotion over {TRIALS} trials: "
        + ", ".join(f"{r * 1000:.0f} ms" for r in resumes)
        + f" (median {statistics.median(resumes) * 1000:.0f} ms); "
        f"{lost} of {len(stream.sent)} published while a shard was down were lost; "
        f"stats {sender.mgr.stats()['publish_failures']} publish failures, "
        f"{receiver_server.mgr.stats()['reconnects']} resubscriptions"
    )
    assert max(resumes) < RESUME_TARGET
    assert receiver_server.mgr.connected
    await client.close()
    await sender.stop()
    await receiver_server.stop()


async def test_other_shards_keep_delivering_while_one_master_is_down(fresh_cluster):
    """A dead node stops only its own channels: rooms on the other shards are unaffected."""
    cluster: RedisCluster = fresh_cluster
    sender, receiver_server, prefix = await _servers(cluster, "dynamic")
    rooms = [f"room-{i}" for i in range(12)]
    owner = {room: cluster.master_for_key(f"{prefix}#/#{room}#".encode()) for room in rooms}
    victim = owner[rooms[0]]
    survivors = [room for room in rooms if owner[room] is not victim]
    assert survivors
    client = RecordingClient()
    await client.connect(receiver_server.url)
    for room in rooms:
        await client.join(room)
    await eventually(lambda: receiver_server.mgr.connected)
    await asyncio.to_thread(cluster.kill, victim)
    for room in survivors:  # before any promotion: only the victim's shard is gone
        await sender.mgr.emit("during", room, to=room)
    await eventually(lambda: {args[0] for args in client.events("during")} == set(survivors))
    await asyncio.to_thread(cluster.wait_promoted, victim)
    await eventually(lambda: receiver_server.mgr.connected, timeout=RESUME_TARGET + 2)
    await sender.mgr.emit("after", rooms[0], to=rooms[0])
    await eventually(lambda: client.events("after") == [(rooms[0],)], timeout=RESUME_TARGET)
    await client.close()
    await sender.stop()
    await receiver_server.stop()


async def test_a_migrated_slot_moves_its_subscription_to_the_new_owner(fresh_cluster):
    """Slot migration: the old owner drops the channel (unsolicited sunsubscribe), the
    adapter re-reads the slot map and subscribes on the new owner; delivery continues."""
    cluster: RedisCluster = fresh_cluster
    sender, receiver_server, prefix = await _servers(cluster, "dynamic")
    client = RecordingClient()
    await client.connect(receiver_server.url)
    await client.join("moving")
    channel = f"{prefix}#/#moving#".encode()
    source = cluster.master_for_key(channel)
    target = next(m for m in cluster.masters() if m is not source)
    await eventually(lambda: receiver_server.mgr.connected)
    await sender.mgr.emit("before", 1, to="moving")
    await eventually(lambda: client.events("before"))
    from redis.crc import key_slot

    await asyncio.to_thread(cluster.migrate_slot, key_slot(channel), target)

    def subscribed_on(node: Any) -> bool:
        with node.client() as r:
            return channel in r.execute_command("PUBSUB", "SHARDCHANNELS")

    await eventually(lambda: subscribed_on(target) and not subscribed_on(source), timeout=5)
    for n in range(20):
        await sender.mgr.emit("after", n, to="moving")
    # MOVED replies are not failures: the sender re-reads the slot map and re-sends them
    await eventually(lambda: len(client.events("after")) == 20, timeout=3)
    assert sorted(args[0] for args in client.events("after")) == list(range(20))
    assert sender.mgr.stats()["publish_failures"] == 0
    await client.close()
    await sender.stop()
    await receiver_server.stop()
