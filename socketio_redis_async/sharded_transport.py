"""Sharded Pub/Sub I/O on a Redis Cluster: who owns which channel, one subscriber connection
per node that holds subscriptions, and publishers routed by slot.

redis-py's ``ClusterPubSub`` is not used: it reads nodes round-robin (seconds of latency),
and after a slot migration or a failover its reader can die on ``MovedError`` or keep
waiting on a dead node (REDIS-PY-NOTES 1.3-1.4). Here the set of wanted channels is the
single source of truth. Each node's connection is read by its own task; when a node drops
its channels (connection lost, MOVED, or an unsolicited ``sunsubscribe`` after a migration),
the topology is read again from any reachable node and the channels are subscribed on their
new owners, retried with capped backoff until every wanted channel is confirmed. A node that
disappears never stops the readers of the others, and nothing waits on it without a
deadline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import PublishError
from .metrics import Counters
from .requests import run_bounded
from .transport import (
    CONNECTION_ERRORS,
    ErrorHandler,
    Publisher,
    Queued,
    backoff_delay,
    describe,
)

__all__ = ["Address", "ClusterNodes", "ShardedPublisher", "ShardedSubscriber"]

Address = tuple[str, int]
ShardMessageHandler = Callable[[bytes, bytes], Awaitable[None]]
SLOTS = 16384
COMMAND_TIMEOUT = 2.0  # topology queries and (un)subscribe commands; a node may be gone
_REPAIR_BACKOFF = (0.02, 0.5)  # failover resumes within ~0.5 s of the promotion


class ClusterNodes:
    """The cluster's masters and their slots, and one client per node.

    ``client_for`` makes (and keeps) a ``redis.asyncio.Redis`` for a node; for a single
    Redis 7 outside a cluster, ``fixed`` is that client and owns every slot.
    """

    def __init__(
        self,
        seeds: Iterable[Address],
        client_for: Callable[[Address], aioredis.Redis],
        *,
        fixed: aioredis.Redis | None = None,
    ) -> None:
        self._seeds = list(seeds)
        self._make_client = client_for
        self._fixed = fixed
        self._clients: dict[Address, aioredis.Redis] = {}
        self._owners: list[Address | None] = [None] * SLOTS
        self._masters: list[Address] = []
        self._refreshing: asyncio.Future[None] | None = None
        self.epoch = 0  # bumped by every refresh that changed the slot map

    def client(self, address: Address) -> aioredis.Redis:
        if self._fixed is not None:
            return self._fixed
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = self._make_client(address)
        return client

    def add_seeds(self, addresses: Iterable[Address]) -> None:
        """More nodes to ask for the slot map (a caller's cluster client's nodes)."""
        self._seeds = list(dict.fromkeys([*self._seeds, *addresses]))

    def owner(self, channel: bytes) -> Address | None:
        """The master serving ``channel``'s slot, as last read (None before the first read)."""
        return self._owners[key_slot(channel)]

    @property
    def masters(self) -> list[Address]:
        return list(self._masters)

    async def refresh(self) -> None:
        """Read the slot map again; concurrent callers share one read."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._read_topology())
        await asyncio.shield(self._refreshing)

    async def _read_topology(self) -> None:
        if self._fixed is not None:
            kwargs = self._fixed.connection_pool.connection_kwargs
            address = (str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379)))
            self._set_topology([(0, SLOTS - 1, address)])
            return
        errors: list[str] = []
        for address in dict.fromkeys([*self._masters, *self._seeds]):
            try:
                reply = await run_bounded(
                    self.client(address).execute_command("CLUSTER", "SLOTS"),  # type: ignore[no-untyped-call]
                    COMMAND_TIMEOUT,
                )
            except ResponseError as exc:
                if "cluster support disabled" not in str(exc):
                    raise
                self._set_topology([(0, SLOTS - 1, address)])  # a lone Redis 7: all slots
                return
            except (asyncio.TimeoutError, *CONNECTION_ERRORS) as exc:
                errors.append(f"{address[0]}:{address[1]}: {describe(exc)}")
                continue
            self._set_topology(_parse_slots(reply, address))
            return
        raise ConnectionError("no cluster node answered CLUSTER SLOTS (" + "; ".join(errors) + ")")

    def _set_topology(self, ranges: list[tuple[int, int, Address]]) -> None:
        owners: list[Address | None] = [None] * SLOTS
        for start, end, address in ranges:
            owners[start : end + 1] = [address] * (end - start + 1)
        if owners != self._owners:
            self._owners = owners
            self.epoch += 1
        self._masters = list(dict.fromkeys(a for a in owners if a is not None))
        # Every node ever seen stays a place to ask: a failed master may return as a replica.
        self._seeds = list(dict.fromkeys([*self._seeds, *self._masters]))

    async def aclose(self, *, close_fixed: bool) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        if self._fixed is not None and close_fixed:
            await self._fixed.aclose()


def _parse_slots(reply: Any, answered_by: Address) -> list[tuple[int, int, Address]]:
    """CLUSTER SLOTS -> (first slot, last slot, master address); an empty host means the
    node that answered (Redis writes "" for itself when it does not know its own IP)."""
    ranges = []
    for entry in reply or []:
        start, end, master = int(entry[0]), int(entry[1]), entry[2]
        host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
        ranges.append((start, end, (host or answered_by[0], int(master[1]))))
    return ranges


class _NodeSubscription:
    """One node's subscriber connection and the task reading it."""

    def __init__(
        self, owner: ShardedSubscriber, address: Address, pool: Any, connection: Any
    ) -> None:
        self.owner = owner
        self.address = address
        self.pool = pool
        self.connection = connection
        self.channels: set[bytes] = set()  # confirmed by this node
        self.requested: set[bytes] = set()  # SSUBSCRIBE sent, not yet confirmed
        self.leaving: set[bytes] = set()  # SUNSUBSCRIBE sent, not yet confirmed
        self.alive = True
        self.last_activity = time.monotonic()
        self.task = asyncio.create_task(self._read_forever(), name=f"redis-shard-{address[1]}")

    async def send(self, command: str, channels: Iterable[bytes]) -> None:
        """One command per slot: SSUBSCRIBE with channels of several slots is CROSSSLOT."""
        by_slot: dict[int, list[bytes]] = {}
        for channel in channels:
            by_slot.setdefault(key_slot(channel), []).append(channel)
        for group in by_slot.values():
            await self.connection.send_command(command, *group, check_health=False)

    async def _read_forever(self) -> None:
        while self.alive:
            try:
                reply = await self.connection.read_response(
                    timeout=math.inf, push_request=True, disconnect_on_error=False
                )
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:  # MOVED for an SSUBSCRIBE: the slot map is stale
                self.owner._refused(self, exc)
                continue
            except Exception as exc:
                self.owner._node_failed(self, exc)
                return
            self.last_activity = time.monotonic()
            await self._dispatch(reply)
            del reply  # not kept (payload and all) while the next read waits

    async def _dispatch(self, reply: Any) -> None:
        if not isinstance(reply, list) or not reply:
            return  # PONG
        kind = reply[0]
        if kind == b"smessage" and len(reply) == 3:
            self.owner._counters.received += 1
            try:
                await self.owner._on_message(reply[1], reply[2])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.owner._logger.exception(
                    "Error handling a message on %r; message dropped", reply[1]
                )
        elif kind == b"ssubscribe":
            self.requested.discard(reply[1])
            self.channels.add(reply[1])
            self.owner._confirmed(reply[1])
        elif kind == b"sunsubscribe":
            channel = reply[1]
            self.channels.discard(channel)
            if channel in self.leaving:
                self.leaving.discard(channel)
            else:  # the node gave the slot away (migration, demotion): subscribe elsewhere
                self.owner._displaced([channel])

    async def close(self) -> None:
        self.alive = False
        if self.task is not asyncio.current_task():
            self.task.cancel()
            await asyncio.wait([self.task], timeout=1)
        await self.connection.disconnect(nowait=True)
        # Back to its pool: a node's pool has a bounded number of connections, and nodes come
        # and go as their last room channel does.
        await self.pool.release(self.connection)


class ShardedSubscriber:
    """SSUBSCRIBE the wanted channels on the nodes that own them, and keep them there."""

    def __init__(
        self,
        nodes: ClusterNodes,
        on_message: ShardMessageHandler,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
        health_check_interval: float = 10.0,
    ) -> None:
        self._nodes = nodes
        self._on_message = on_message
        self._logger = logger
        self._on_error = on_error
        self._counters = counters
        self._health_check_interval = health_check_interval
        self._wanted: set[bytes] = set()
        self._placed: dict[bytes, _NodeSubscription] = {}
        self._by_node: dict[Address, _NodeSubscription] = {}
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._outage_started: float | None = None
        self._map_stale = False
        self._dead: list[_NodeSubscription] = []
        self._running = True

    @property
    def connected(self) -> bool:
        return self._running and all(
            ch in self._placed and ch in self._placed[ch].channels for ch in self._wanted
        )

    @property
    def wanted(self) -> frozenset[bytes]:
        return frozenset(self._wanted)

    async def subscribe(self, channels: Iterable[bytes], *, timeout: float = 10.0) -> None:
        """Want these channels, and return once every one is confirmed by its owner."""
        channels = list(channels)
        self.want(channels)
        waiters = [self._waiter(ch) for ch in channels if not self._is_confirmed(ch)]
        if waiters:
            await asyncio.wait_for(asyncio.gather(*waiters), timeout)

    def want(self, channels: Iterable[bytes]) -> None:
        """Want these channels; they are subscribed in the background (a room's channel)."""
        self._wanted.update(channels)
        self._kick()

    def unsubscribe(self, channels: Iterable[bytes]) -> None:
        """Stop wanting these channels; the SUNSUBSCRIBE is sent in the background."""
        for channel in channels:
            self._wanted.discard(channel)
            for waiter in self._waiters.pop(channel, []):
                waiter.cancel()
        self._kick()

    def _is_confirmed(self, channel: bytes) -> bool:
        node = self._placed.get(channel)
        return node is not None and channel in node.channels

    def _waiter(self, channel: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(future)
        return future

    def _confirmed(self, channel: bytes) -> None:
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)
        if self._outage_started is not None and self.connected:
            downtime = time.monotonic() - self._outage_started
            self._outage_started = None
            self._counters.reconnects += 1
            self._logger.warning(
                "Sharded subscriptions restored after %.2f s on %d node(s)",
                downtime,
                len(self._by_node),
            )

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None and self._running:
            self._task = asyncio.create_task(self._reconcile_forever(), name="redis-shards")
            if self._health_check_interval > 0:
                self._watchdog = asyncio.create_task(self._watch(), name="redis-shards-watch")

    def _node_failed(self, node: _NodeSubscription, exc: BaseException) -> None:
        """A node's connection broke, or it refused a command: move its channels."""
        if not node.alive or not self._running:
            return
        node.alive = False
        if self._by_node.get(node.address) is node:
            del self._by_node[node.address]
        lost = [ch for ch, where in self._placed.items() if where is node]
        for channel in lost:
            del self._placed[channel]
        self._dead.append(node)  # closed by the reconciler, outside this callback
        if self._outage_started is None:
            self._outage_started = time.monotonic()
            self._logger.error(
                "Redis node %s:%d lost (%s); re-subscribing %d channel(s) on their owners",
                node.address[0],
                node.address[1],
                describe(exc),
                len(lost),
            )
            self._on_error(exc)
        self._kick()

    def _displaced(self, channels: list[bytes]) -> None:
        """The node dropped channels on its own (slot migrated away): place them again."""
        for channel in channels:
            self._placed.pop(channel, None)
        self._map_stale = True
        self._kick()

    def _refused(self, node: _NodeSubscription, exc: ResponseError) -> None:
        """The node refused an SSUBSCRIBE (MOVED): its unconfirmed channels go elsewhere."""
        self._logger.info(
            "Redis node %s:%d refused a subscription (%s); re-reading the slot map",
            node.address[0],
            node.address[1],
            describe(exc),
        )
        refused = [ch for ch in node.requested if self._placed.get(ch) is node]
        node.requested.clear()
        self._displaced(refused)

    async def _reconcile_forever(self) -> None:
        attempt = 0
        while self._running:
            await self._wake.wait()
            self._wake.clear()
            try:
                settled = await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._logger.debug("Sharded subscriptions not settled: %s", describe(exc))
                settled = False
            if settled:
                attempt = 0
                continue
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, *_REPAIR_BACKOFF))
            self._wake.set()

    async def _reconcile(self) -> bool:
        """Bring the nodes' subscriptions in line with the wanted set; False if it must be
        tried again (a node unreachable, the slot map stale)."""
        dead, self._dead = self._dead, []
        for node in dead:
            await node.close()
        unplaced = any(ch not in self._placed for ch in self._wanted)
        if self._nodes.epoch == 0 or (
            unplaced and (self._outage_started is not None or self._map_stale)
        ):
            self._map_stale = False
            await self._nodes.refresh()
        settled = True
        # Channels whose slot moved: leave the old node, subscribe on the new owner.
        for channel, node in list(self._placed.items()):
            if self._nodes.owner(channel) != node.address or channel not in self._wanted:
                del self._placed[channel]
                if node.alive and channel in node.channels | node.requested:
                    node.leaving.add(channel)
                    node.requested.discard(channel)
                    await self._send(node, "SUNSUBSCRIBE", [channel])
        by_owner: dict[Address, list[bytes]] = {}
        for channel in self._wanted:
            if channel in self._placed:
                continue
            address = self._nodes.owner(channel)
            if address is None:
                settled = False
                continue
            by_owner.setdefault(address, []).append(channel)
        for address, channels in by_owner.items():
            target = self._by_node.get(address)
            if target is None or not target.alive:
                try:
                    target = await self._open(address)
                except (asyncio.TimeoutError, *CONNECTION_ERRORS) as exc:
                    self._logger.debug("Node %s:%d unreachable: %s", *address, describe(exc))
                    settled = False
                    continue
            for channel in channels:
                self._placed[channel] = target
                target.requested.add(channel)
            await self._send(target, "SSUBSCRIBE", channels)
        # Nodes left without channels are closed: one connection per node that has some.
        for address, node in list(self._by_node.items()):
            if not any(where is node for where in self._placed.values()) and not node.leaving:
                del self._by_node[address]
                await node.close()
        return settled

    async def _open(self, address: Address) -> _NodeSubscription:
        pool = self._nodes.client(address).connection_pool
        connection = await run_bounded(pool.get_connection(), COMMAND_TIMEOUT)  # type: ignore[no-untyped-call]
        if not connection.is_connected:
            await run_bounded(connection.connect(), COMMAND_TIMEOUT)
        node = self._by_node[address] = _NodeSubscription(self, address, pool, connection)
        return node

    async def _send(self, node: _NodeSubscription, command: str, channels: list[bytes]) -> None:
        try:
            await run_bounded(node.send(command, channels), COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, *CONNECTION_ERRORS) as exc:
            self._node_failed(node, exc)

    async def _watch(self) -> None:
        """PING idle node connections; a node that stays silent is treated as lost."""
        interval = self._health_check_interval
        while self._running:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            for node in list(self._by_node.values()):
                idle = now - node.last_activity
                if idle > 1.5 * interval:
                    self._node_failed(
                        node, RedisTimeoutError(f"no reply from Redis for {idle:.1f} s")
                    )
                elif idle > interval:
                    try:
                        await run_bounded(
                            node.connection.send_command("PING", check_health=False), 1.0
                        )
                    except (asyncio.TimeoutError, *CONNECTION_ERRORS) as exc:
                        self._node_failed(node, exc)

    async def aclose(self) -> None:
        self._running = False
        for task in (self._task, self._watchdog):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=1)
        self._task = self._watchdog = None
        nodes, self._by_node = list(self._by_node.values()), {}
        self._placed.clear()
        for node in nodes:
            await node.close()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.cancel()
        self._waiters.clear()


class ShardedPublisher:
    """SPUBLISH through one batching :class:`Publisher` per master, routed by slot.

    A failed batch (node gone) is counted and reported like any publish failure, and makes
    the slot map be read again so that later messages go to the new owner. Messages a node
    redirects (MOVED after a slot migration or a failover) are not lost: once the map is
    read again they are sent to the new owner.
    """

    def __init__(
        self,
        nodes: ClusterNodes,
        *,
        logger: logging.Logger,
        on_error: ErrorHandler,
        counters: Counters,
    ) -> None:
        self._nodes = nodes
        self._logger = logger
        self._on_error = on_error
        self._counters = counters
        self._publishers: dict[Address, Publisher] = {}
        self._refresh_task: asyncio.Task[None] | None = None
        self._redirected: list[tuple[Queued, Address | None, BaseException | None]] = []
        self._failing = False

    async def publish(self, channel: bytes, payload: bytes, *, wait: bool = False) -> None:
        address = self._nodes.owner(channel)
        if address is None:
            await self._nodes.refresh()
            address = self._nodes.owner(channel)
            if address is None:
                raise ConnectionError(f"no cluster node serves the slot of {channel!r}")
        publisher = self._publishers.get(address)
        if publisher is None:
            publisher = self._publishers[address] = Publisher(
                self._nodes.client(address),
                logger=self._logger,
                on_error=self._failed,
                counters=self._counters,
                command=b"SPUBLISH",
                on_redirect=lambda items, exc: self._redirect(address, items, exc),
            )
        await publisher.publish(channel, payload, wait=wait)

    def _redirect(self, address: Address, items: list[Queued], error: BaseException | None) -> None:
        """Messages a node did not take: re-read the slot map, then send them to the
        slot's owner; if the owner is still the unreachable node, they are dropped."""
        self._redirected.extend((item, address if error else None, error) for item in items)
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh_quietly())

    def _failed(self, exc: BaseException) -> None:
        self._on_error(exc)
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh_quietly())

    def _drop(self, waiter: asyncio.Future[None] | None, error: BaseException) -> None:
        """At most once, like any Pub/Sub: a message for a shard that is down is lost."""
        self._counters.publish_failures += 1
        if not self._failing:
            self._failing = True
            self._logger.error("Publishing to Redis failed (%s); messages are dropped", error)
            self._on_error(error)
        if waiter is not None and not waiter.done():
            waiter.set_exception(PublishError(f"publish to Redis failed: {error}"))

    async def _refresh_quietly(self) -> None:
        try:
            await self._nodes.refresh()
        except (ConnectionError, *CONNECTION_ERRORS) as exc:
            self._logger.debug("Slot map not refreshed: %s", describe(exc))
            redirected, self._redirected = self._redirected, []
            for (_, _, waiter), _, error in redirected:
                self._drop(waiter, error or exc)
            return
        redirected, self._redirected = self._redirected, []
        for (channel, payload, waiter), unreachable, error in redirected:
            if error is not None and self._nodes.owner(channel) == unreachable:
                self._drop(waiter, error)
            else:
                await self._resend(channel, payload, waiter)
        masters = set(self._nodes.masters)
        for address in [a for a in self._publishers if a not in masters]:
            await self._publishers.pop(address).aclose()  # a demoted or vanished master

    async def _resend(
        self, channel: bytes, payload: bytes, waiter: asyncio.Future[None] | None
    ) -> None:
        try:
            await self.publish(channel, payload, wait=waiter is not None)
        except Exception as exc:
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._failing:
            self._failing = False
            self._logger.warning("Publishing to Redis works again")

    async def flush(self) -> None:
        for publisher in list(self._publishers.values()):
            await publisher.flush()

    async def aclose(self) -> None:
        publishers, self._publishers = list(self._publishers.values()), {}
        for publisher in publishers:
            await publisher.aclose()
        if self._refresh_task is not None:
            self._refresh_task.cancel()
