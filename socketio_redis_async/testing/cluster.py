"""A local Redis Cluster of real ``redis-server`` processes, with replicas, for failover tests.

The cluster is formed with plain cluster commands (SET-CONFIG-EPOCH, ADDSLOTSRANGE, MEET,
REPLICATE) instead of ``redis-cli --cluster create``, which sleeps a second per step. A
fresh master still cannot report ``cluster_state:ok`` before Redis's fixed 2 s
``CLUSTER_WRITABLE_DELAY`` has passed since its process started, so about 2.1 s is the floor
for a cluster of new processes; the slot assignment, the handshakes and the replicas'
initial syncs all happen inside that window.

Roles change under the tests' feet (a killed master's replica is promoted, a restarted
master comes back as a replica), so helpers read the current roles from ``CLUSTER NODES``
instead of remembering which node was started as what. Every ``wait_*`` helper polls every
10 ms and has an ``a``-prefixed async twin that runs it in a thread, so the event loop
(and the adapter under test) keeps running while a test waits for a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis
import redis.cluster
from redis.crc import key_slot

from .standalone import HOST, START_TIMEOUT, RedisServer, free_cluster_port

__all__ = [
    "NODE_TIMEOUT_MS",
    "SLOTS",
    "ClusterNode",
    "ClusterPool",
    "RedisCluster",
    "parse_cluster_nodes",
]

SLOTS = 16384
# Small enough that a killed master is replaced in about 2 s (node timeout, then the FAIL
# vote, then the replica's 0.5-1 s election delay); large enough that a busy 2-core CI
# machine does not fail healthy nodes over.
NODE_TIMEOUT_MS = 1000
POLL_INTERVAL = 0.01
FAILOVER_TIMEOUT = 15.0


@dataclass(frozen=True)
class ClusterNode:
    """One line of ``CLUSTER NODES``: a node as one member of the cluster sees it."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    config_epoch: int
    connected: bool
    slot_ranges: tuple[tuple[int, int], ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        """Flagged ``fail`` (agreed) or ``fail?`` (suspected by the viewer)."""
        return bool(self.flags & {"fail", "fail?"})

    @property
    def slots(self) -> frozenset[int]:
        return frozenset(s for lo, hi in self.slot_ranges for s in range(lo, hi + 1))

    def owns(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.slot_ranges)


def parse_cluster_nodes(text: str) -> list[ClusterNode]:
    """Parse ``CLUSTER NODES`` output; importing/migrating markers (``[...]``) are skipped."""
    nodes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        node_id, address, flags, master, _ping, _pong, epoch, link, *slots = line.split()
        port = address.split("@", 1)[0].rsplit(":", 1)[1]
        ranges = []
        for item in slots:
            if item.startswith("["):
                continue
            lo, _, hi = item.partition("-")
            ranges.append((int(lo), int(hi or lo)))
        nodes.append(
            ClusterNode(
                node_id=node_id,
                port=int(port),
                flags=frozenset(flags.split(",")),
                master_id=None if master == "-" else master,
                config_epoch=int(epoch),
                connected=link == "connected",
                slot_ranges=tuple(ranges),
            )
        )
    return nodes


def _pick_ports(count: int) -> list[int]:
    """``count`` distinct free ports whose bus ports (+10000) collide with none of them."""
    ports: list[int] = []
    taken: set[int] = set()
    while len(ports) < count:
        port = free_cluster_port()
        if port in taken or port + 10000 in taken:
            continue
        ports.append(port)
        taken.update((port, port + 10000))
    return ports


class RedisCluster:
    """``masters`` shards of one master and ``replicas_per_master`` replicas each.

    :param masters: how many masters share the 16384 slots (in equal ranges).
    :param replicas_per_master: replicas of each master.
    :param node_timeout_ms: ``cluster-node-timeout`` of every node.

    ``nodes`` lists every :class:`RedisServer`, the first ``masters`` of them started as
    the masters; use :meth:`masters` and :meth:`replicas` for the roles they have now.
    """

    def __init__(
        self,
        masters: int = 3,
        replicas_per_master: int = 1,
        *,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        if masters < 1 or replicas_per_master < 0:
            raise ValueError("need at least one master and no negative replica count")
        self.master_count = masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisServer] = []
        for port in _pick_ports(masters * (1 + replicas_per_master)):
            args = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(node_timeout_ms),
                # A replica may always take over, however long its link was down (tests
                # pause masters), and never wanders off to another master.
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-replica-migration", "no",
                # The initial (empty) sync starts at once instead of after 5 s.
                "--repl-diskless-sync-delay", "0",
            )  # fmt: skip
            self.nodes.append(RedisServer(port, extra_args=args))
        self.startup_seconds: float | None = None
        self._formed = False
        self._ids: dict[int, str] = {}
        self._slots_at_kill: dict[int, frozenset[int]] = {}

    # -- addresses -------------------------------------------------------------------------

    @property
    def startup_url(self) -> str:
        """The URL of a running node, for clients that discover the rest."""
        return f"redis://{HOST}:{self._running()[0].port}"

    @property
    def urls(self) -> list[str]:
        """The URLs of all nodes, running or not (e.g. Node's ``rootNodes``)."""
        return [f"redis://{HOST}:{node.port}" for node in self.nodes]

    def client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """A sync cluster client (redis-py), started from a running node; caller closes it."""
        return redis.cluster.RedisCluster(host=HOST, port=self._running()[0].port, **kwargs)

    def node_id(self, node: RedisServer) -> str:
        """The cluster node id (kept across restarts: it lives in the node's nodes.conf)."""
        if node.port not in self._ids:
            with node.client(socket_timeout=1) as c:
                self._ids[node.port] = _text(c.execute_command("CLUSTER", "MYID"))
        return self._ids[node.port]

    def server(self, node: ClusterNode) -> RedisServer:
        """The process behind a ``CLUSTER NODES`` entry."""
        for server in self.nodes:
            if server.port == node.port:
                return server
        raise LookupError(f"no node of this cluster listens on port {node.port}")

    # -- topology --------------------------------------------------------------------------

    def view(self, via: RedisServer | None = None) -> list[ClusterNode]:
        """``CLUSTER NODES`` as ``via`` sees it; by default the freshest view of all running
        nodes, the one whose newest slot owner has the highest config epoch (a failover or
        a slot move is first known to one node, the others learn it by gossip)."""
        if via is not None:
            return _cluster_nodes(via)
        views = []
        for node in self._running():
            with contextlib.suppress(redis.RedisError):
                views.append(_cluster_nodes(node))
        if not views:
            raise RuntimeError("no running node of the cluster answers")
        return max(
            views, key=lambda v: max((n.config_epoch for n in v if n.slot_ranges), default=0)
        )

    def masters(self) -> list[RedisServer]:
        """Nodes flagged master that own slots now, dead or alive, in ``nodes`` order (as
        the freshest view has it, like every helper below)."""
        ports = {n.port for n in self.view() if n.is_master and n.slot_ranges}
        return [node for node in self.nodes if node.port in ports]

    def replicas(self) -> list[RedisServer]:
        """Nodes flagged replica now, in ``nodes`` order."""
        ports = {n.port for n in self.view() if "slave" in n.flags}
        return [node for node in self.nodes if node.port in ports]

    def node_for_slot(self, slot: int) -> RedisServer:
        """The master that owns ``slot`` now."""
        for node in self.view():
            if node.is_master and node.owns(slot):
                return self.server(node)
        raise LookupError(f"no master owns slot {slot}")

    def master_for_key(self, key: bytes | str) -> RedisServer:
        """The master that owns the slot of a key or sharded channel name."""
        return self.node_for_slot(key_slot(key.encode() if isinstance(key, str) else key))

    def replica_of(self, master: RedisServer) -> RedisServer:
        """A healthy replica of ``master``."""
        master_id = self.node_id(master)
        for node in self.view():
            if node.master_id == master_id and not node.failing:
                return self.server(node)
        raise LookupError(f"{master!r} has no healthy replica")

    def slots_of(self, master: RedisServer) -> frozenset[int]:
        """The slots ``master`` owns."""
        master_id = self.node_id(master)
        for node in self.view():
            if node.node_id == master_id:
                return node.slots
        return frozenset()

    # -- lifecycle -------------------------------------------------------------------------

    def spawn(self) -> RedisCluster:
        """Boot all nodes side by side and form the cluster (slots, handshakes, replicas),
        without waiting for it to settle: :meth:`start` then only waits for what is left
        (mostly Redis's 2 s delay, which runs from each process's start)."""
        if self._formed:
            return self
        try:
            for node in self.nodes:
                node.start(wait=False)
            for node in self.nodes:
                node.wait_ready()
            self._form()
        except BaseException:
            self.stop()
            raise
        self._formed = True
        return self

    def start(self) -> RedisCluster:
        """:meth:`spawn` (unless done already) and wait until the cluster is settled;
        ``startup_seconds`` is how long this call took."""
        begun = time.monotonic()
        try:
            self.spawn()
            self.wait_ok(START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begun
        return self

    def _form(self) -> None:
        masters = self.nodes[: self.master_count]
        for epoch, node in enumerate(self.nodes, 1):
            self.node_id(node)
            _call(node, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for i, master in enumerate(masters):
            first = i * SLOTS // self.master_count
            last = (i + 1) * SLOTS // self.master_count - 1
            _call(master, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for i, node in enumerate(self.nodes):
            for other in self.nodes[i + 1 :]:
                _call(node, "CLUSTER", "MEET", HOST, other.port)
        everyone = set(self._ids.values())
        pending = {"handshake", "noaddr"}

        def all_met() -> bool:
            for node in self.nodes:
                if {n.node_id for n in self.view(node) if not n.flags & pending} != everyone:
                    return False
            return True

        self._wait(all_met, START_TIMEOUT, "the nodes never all met")
        for i, master in enumerate(masters):
            for j in range(self.replicas_per_master):
                replica = self.nodes[self.master_count + i * self.replicas_per_master + j]
                _call(replica, "CLUSTER", "REPLICATE", self.node_id(master))

    def stop(self) -> None:
        """SIGKILL every node (a graceful master would wait for its replicas) and remove
        their directories."""
        for node in self.nodes:
            node.kill()
            node.stop()
        self._slots_at_kill.clear()
        self._formed = False

    def kill(self, node: RedisServer) -> None:
        """SIGKILL one node (a crash); :meth:`wait_promoted` then finds its successor."""
        with contextlib.suppress(redis.RedisError, LookupError):
            self._slots_at_kill[node.port] = self.slots_of(node)
        node.kill()

    def restart(self, node: RedisServer, timeout: float = FAILOVER_TIMEOUT) -> None:
        """Start a killed node again (SIGTERM and start a running one) and wait until the
        cluster is settled. A master whose slots were taken over meanwhile learns that from
        its peers and comes back as a replica of its successor."""
        if node.is_running:
            node.restart()
        else:
            node.start()
        self._slots_at_kill.pop(node.port, None)
        self.wait_ok(timeout)

    def wait_promoted(
        self, old_master: RedisServer, timeout: float = FAILOVER_TIMEOUT
    ) -> tuple[RedisServer, float]:
        """Wait until a surviving node's ``CLUSTER NODES`` shows another node owning all of
        ``old_master``'s slots; return that node and the ``time.monotonic()`` at which the
        promotion became visible (first seen by any surviving node, polled every 10 ms;
        usually the promoted replica itself). The other nodes learn it by gossip a moment
        later: :meth:`wait_ok` waits until all agree."""
        slots = self._slots_at_kill.get(old_master.port) or self.slots_of(old_master)
        if not slots:
            raise ValueError(f"{old_master!r} owns no slots")
        old_id = self.node_id(old_master)
        deadline = time.monotonic() + timeout
        while True:
            for via in self._running():
                if via is old_master:
                    continue
                try:
                    view = self.view(via)
                except redis.RedisError:
                    continue
                seen_at = time.monotonic()
                for node in view:
                    if node.node_id != old_id and node.is_master and slots <= node.slots:
                        return self.server(node), seen_at
            if time.monotonic() > deadline:
                raise TimeoutError(f"no node took over from {old_master!r} in {timeout} s")
            time.sleep(POLL_INTERVAL)

    def failover(self, node: RedisServer, timeout: float = FAILOVER_TIMEOUT) -> RedisServer:
        """Graceful ``CLUSTER FAILOVER``: ``node`` (a replica), or a replica of ``node`` (a
        master), becomes master; waits until the cluster is settled and returns it."""
        replica = self.replica_of(node) if node in self.masters() else node
        _call(replica, "CLUSTER", "FAILOVER")
        replica_id = self.node_id(replica)

        def promoted() -> bool:
            return any(n.node_id == replica_id and n.is_master for n in self.view())

        self._wait(promoted, timeout, f"{replica!r} was not promoted")
        self.wait_ok(timeout)
        return replica

    def migrate_slot(
        self, slot: int, target: RedisServer, timeout: float = FAILOVER_TIMEOUT
    ) -> None:
        """Move ``slot`` to the master ``target`` (keys included, as redis-cli does) and wait
        until every node agrees. Sharded subscribers of the slot get a server-side
        SUNSUBSCRIBE from the old owner."""
        source = self.node_for_slot(slot)
        if source is target:
            return
        target_id = self.node_id(target)
        _call(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        _call(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := _call(source, "CLUSTER", "GETKEYSINSLOT", slot, 100):
            _call(source, "MIGRATE", HOST, target.port, "", 0, 5000, "KEYS", *keys)
        masters = [target, source, *(m for m in self.masters() if m not in (target, source))]
        for master in masters:
            if master.is_running:
                _call(master, "CLUSTER", "SETSLOT", slot, "NODE", target_id)

        def everyone_agrees() -> bool:
            for via in self._running():
                owner = next(n for n in self.view(via) if n.is_master and n.owns(slot))
                if owner.node_id != target_id:
                    return False
            return True

        self._wait(everyone_agrees, timeout, f"slot {slot} did not move to {target!r}")
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = FAILOVER_TIMEOUT) -> None:
        """Wait until the running nodes are settled: each says ``cluster_state:ok``, all
        see the same healthy masters, slots and replicas, and every replica's link to its
        master is up."""
        self._wait(self._settled, timeout, "the cluster did not settle")

    def _settled(self) -> bool:
        running = self._running()
        ports = {node.port for node in running}
        summaries = set()
        for node in running:
            with node.client(socket_timeout=1, socket_connect_timeout=1) as c:
                if "cluster_state:ok" not in _text(c.execute_command("CLUSTER", "INFO")):
                    return False
                view = parse_cluster_nodes(_text(c.execute_command("CLUSTER", "NODES")))
                me = next(n for n in view if "myself" in n.flags)
                if not me.is_master and c.info("replication").get("master_link_status") != "up":
                    return False
            live = [n for n in view if n.port in ports]
            if len(live) != len(running) or any(n.failing or n.flags & {"handshake"} for n in live):
                return False
            if any(not n.connected for n in live if "myself" not in n.flags):
                return False
            summaries.add(frozenset((n.node_id, n.master_id, n.slot_ranges) for n in live))
        return len(summaries) == 1

    def _running(self) -> list[RedisServer]:
        running = [node for node in self.nodes if node.is_running]
        if not running:
            raise RuntimeError("no node of the cluster is running")
        return running

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                if done():
                    return
            except (redis.RedisError, StopIteration) as exc:
                last = exc
            if time.monotonic() > deadline:
                logs = "\n".join(f"{n!r}:\n{n.log_tail(8)}" for n in self.nodes)
                raise TimeoutError(f"{what} within {timeout} s ({last!r})\n{logs}")
            time.sleep(POLL_INTERVAL)

    # -- async twins and context managers ----------------------------------------------------

    async def astart(self) -> RedisCluster:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self, node: RedisServer, timeout: float = FAILOVER_TIMEOUT) -> None:
        await asyncio.to_thread(self.restart, node, timeout)

    async def await_promoted(
        self, old_master: RedisServer, timeout: float = FAILOVER_TIMEOUT
    ) -> tuple[RedisServer, float]:
        return await asyncio.to_thread(self.wait_promoted, old_master, timeout)

    async def afailover(self, node: RedisServer, timeout: float = FAILOVER_TIMEOUT) -> RedisServer:
        return await asyncio.to_thread(self.failover, node, timeout)

    async def amigrate_slot(
        self, slot: int, target: RedisServer, timeout: float = FAILOVER_TIMEOUT
    ) -> None:
        await asyncio.to_thread(self.migrate_slot, slot, target, timeout)

    async def await_ok(self, timeout: float = FAILOVER_TIMEOUT) -> None:
        await asyncio.to_thread(self.wait_ok, timeout)

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        ports = ",".join(str(node.port) for node in self.nodes)
        return f"<RedisCluster {self.master_count}x{1 + self.replicas_per_master} {ports}>"


class ClusterPool:
    """Hands out fresh clusters whose processes were started ahead of time.

    A fresh master cannot be ok before it has run for 2 s. So :meth:`take`, once it has
    the cluster it hands out, spawns and forms the next one (about 0.3 s), which idles
    through the test at hand; when the next test takes it, it has usually settled.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._spare: RedisCluster | None = None

    def take(self) -> RedisCluster:
        spare, self._spare = self._spare, None
        cluster = None
        if spare is not None:
            try:
                cluster = spare.start()
            except (TimeoutError, RuntimeError, redis.RedisError):
                spare.stop()  # broken while it idled: start a new one
        if cluster is None:
            cluster = RedisCluster(**self._options).start()
        try:
            self._spare = RedisCluster(**self._options).spawn()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def close(self) -> None:
        if self._spare is not None:
            self._spare.stop()
            self._spare = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cluster_nodes(node: RedisServer) -> list[ClusterNode]:
    with node.client(socket_timeout=1, socket_connect_timeout=1) as c:
        return parse_cluster_nodes(_text(c.execute_command("CLUSTER", "NODES")))


def _call(node: RedisServer, *args: object) -> Any:
    with node.client(socket_timeout=5, socket_connect_timeout=1) as c:
        return c.execute_command(*args)
