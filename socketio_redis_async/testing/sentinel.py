"""A Redis Sentinel deployment of real processes: one master, one replica, three sentinels.

Sentinels run the ``redis-sentinel`` binary (Debian's ``redis-sentinel`` package, installed
by scripts/bootstrap.sh). Each sentinel's config file names its own id and already lists
the replica and the other sentinels (``known-replica``/``known-sentinel``), so nothing waits
for Sentinel's 10 s INFO or 2 s hello periods before a failover can happen. With the default
``down_after_ms=500`` a killed master is replaced in about a second.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis

from .standalone import HOST, START_TIMEOUT, RedisServer, free_port, require_binary

__all__ = ["Address", "RedisSentinel", "RedisSentinelSetup"]

Address = tuple[str, int]
POLL_INTERVAL = 0.01
FAILOVER_TIMEOUT = 15.0


class RedisSentinel(RedisServer):
    """One ``redis-sentinel`` process; its config file is written into its directory at the
    first start and left for Sentinel to rewrite (so a restart remembers the failovers)."""

    binary = "redis-sentinel"

    def __init__(self, port: int, *, config: str, password: str | None = None) -> None:
        super().__init__(port, password=password)
        self.config = config

    @property
    def config_path(self) -> Path:
        return self.dir / "sentinel.conf"

    def _command(self) -> list[str]:
        if not self.config_path.exists():
            self.config_path.write_text(self.config)
        return [require_binary("redis-sentinel", "redis-sentinel"), str(self.config_path)]


class RedisSentinelSetup:
    """A master and a replica (``redis-server``) watched by sentinels with quorum 2.

    :param service_name: the name the sentinels monitor the master under.
    :param password: ``requirepass``/``masterauth`` of master and replica (and the
        sentinels' ``auth-pass``), or ``None``.
    :param sentinel_password: ``requirepass`` of the sentinels (and the password they use
        with each other), or ``None``.
    :param down_after_ms: ``down-after-milliseconds``: silence before a master is down.
    :param failover_timeout_ms: ``failover-timeout``.
    """

    def __init__(
        self,
        *,
        service_name: str = "mymaster",
        password: str | None = None,
        sentinel_password: str | None = None,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 500,
        failover_timeout_ms: int = 2000,
    ) -> None:
        self.service_name = service_name
        self.password = password
        self.sentinel_password = sentinel_password
        # Either server may be the master that a replica syncs from: at once, not after 5 s.
        args: tuple[str, ...] = ("--repl-diskless-sync-delay", "0")
        if password:
            args += ("--masterauth", password)
        ports = _distinct_ports(2 + sentinels)
        master = RedisServer(ports[0], password=password, extra_args=args)
        replica = RedisServer(
            ports[1], password=password, extra_args=(*args, "--replicaof", HOST, str(ports[0]))
        )
        self.servers: list[RedisServer] = [master, replica]
        ids = [os.urandom(20).hex() for _ in range(sentinels)]
        self.sentinels: list[RedisSentinel] = []
        for i, port in enumerate(ports[2:]):
            lines = [
                f"port {port}",
                f"bind {HOST}",
                "daemonize no",
                f"sentinel myid {ids[i]}",
                f"sentinel monitor {service_name} {HOST} {master.port} {quorum}",
                f"sentinel down-after-milliseconds {service_name} {down_after_ms}",
                f"sentinel failover-timeout {service_name} {failover_timeout_ms}",
                f"sentinel parallel-syncs {service_name} 1",
                f"sentinel known-replica {service_name} {HOST} {replica.port}",
            ]
            for j, other in enumerate(ports[2:]):
                if j != i:
                    lines.append(f"sentinel known-sentinel {service_name} {HOST} {other} {ids[j]}")
            if password:
                lines.append(f"sentinel auth-pass {service_name} {_quote(password)}")
            if sentinel_password:
                lines.append(f"requirepass {_quote(sentinel_password)}")
                lines.append(f"sentinel sentinel-pass {_quote(sentinel_password)}")
            config = "\n".join(lines) + "\n"
            self.sentinels.append(RedisSentinel(port, config=config, password=sentinel_password))
        self.startup_seconds: float | None = None
        self._old_master: Address | None = None

    # -- addresses -------------------------------------------------------------------------

    def sentinel_addresses(self) -> list[Address]:
        """``(host, port)`` of every sentinel, as redis-py's ``Sentinel`` takes them."""
        return [(HOST, sentinel.port) for sentinel in self.sentinels]

    def master_address(self) -> Address:
        """The master's address, asked of the sentinels (``get-master-addr-by-name``)."""
        last: Exception | None = None
        for sentinel in self.sentinels:
            if not sentinel.is_running:
                continue
            try:
                return self._ask_master(sentinel)
            except redis.RedisError as exc:
                last = exc
        raise RuntimeError(f"no sentinel answered ({last!r})")

    def master(self) -> RedisServer:
        """The ``redis-server`` the sentinels call master now."""
        return self._server_at(self.master_address())

    def replicas(self) -> list[RedisServer]:
        """The other running ``redis-server``s (replicas of the master, or about to be)."""
        master = self.master()
        return [s for s in self.servers if s is not master and s.is_running]

    # -- failover ----------------------------------------------------------------------------

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master; :meth:`wait_new_master` then waits for its successor."""
        master = self.master()
        self._old_master = (HOST, master.port)
        master.kill()
        return master

    def wait_new_master(self, timeout: float = FAILOVER_TIMEOUT) -> tuple[Address, float]:
        """Wait until a sentinel reports a healthy master other than the one
        :meth:`kill_master` killed (or than the current one if none was killed); return its
        address and the ``time.monotonic()`` at which the first sentinel reported it.

        The sentinels are polled every 10 ms with ``SENTINEL MASTER``, whose address changes
        with ``+switch-master``: that is when redis-py's ``Sentinel.discover_master`` can
        find the new master. (``get-master-addr-by-name`` names the promoted replica about
        60 ms earlier, while the failover is still in progress.)
        """
        old = self._old_master or self.master_address()
        deadline = time.monotonic() + timeout
        with _Clients(self.sentinels) as clients:
            while True:
                for client in clients.each():
                    try:
                        state = cast(dict[str, Any], client.sentinel_master(self.service_name))
                    except redis.RedisError:
                        clients.drop(client)
                        continue
                    address = _parse_address((state["ip"], state["port"]))
                    if address != old and state["is_master"] and _healthy(state):
                        self._old_master = None
                        return address, time.monotonic()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no sentinel reported a new master within {timeout} s")
                time.sleep(POLL_INTERVAL)

    def restart_as_replica(self, server: RedisServer, timeout: float = FAILOVER_TIMEOUT) -> None:
        """Start a killed server again as a replica of the current master, as an operator
        would, and wait until its link is up and every sentinel lists it as a replica."""
        master = self.master()
        args = list(server.extra_args)
        if "--replicaof" in args:
            i = args.index("--replicaof")
            del args[i : i + 3]
        server.extra_args = (*args, "--replicaof", HOST, str(master.port))
        server.start()
        self._wait(lambda: self._replica_ready(server), timeout, f"{server!r} never replicated")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> RedisSentinelSetup:
        """Start master and replica, then the sentinels; wait until each sentinel sees a
        healthy master, its replica and the other sentinels."""
        begun = time.monotonic()
        try:
            for server in self.servers:
                server.start(wait=False)
            for server in self.servers:
                server.wait_ready()
            self._wait(lambda: _link_up(self.servers[1]), START_TIMEOUT, "replica never synced")
            for sentinel in self.sentinels:
                sentinel.start(wait=False)
            for sentinel in self.sentinels:
                sentinel.wait_ready()
            self._wait(self._sentinels_ready, START_TIMEOUT, "sentinels never saw everyone")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begun
        return self

    def stop(self) -> None:
        """SIGKILL every process (nothing here needs a graceful shutdown) and remove their
        directories."""
        for process in [*self.sentinels, *self.servers]:
            process.kill()
            process.stop()

    def _sentinels_ready(self) -> bool:
        expected = len(self.sentinels) - 1
        for sentinel in self.sentinels:
            with sentinel.client(socket_timeout=1) as c:
                master = c.sentinel_master(self.service_name)
                if master["is_sdown"] or master["is_odown"] or master["is_disconnected"]:
                    return False
                replicas = c.sentinel_slaves(self.service_name)
                if not any(_healthy(r) and r.get("master-link-status") == "ok" for r in replicas):
                    return False
                others = c.sentinel_sentinels(self.service_name)
                if sum(1 for s in others if _healthy(s)) != expected:
                    return False
        return True

    def _replica_ready(self, server: RedisServer) -> bool:
        if not _link_up(server):
            return False
        for sentinel in self.sentinels:
            if not sentinel.is_running:
                continue
            with sentinel.client(socket_timeout=1) as c:
                replicas = c.sentinel_slaves(self.service_name)
            if not any(int(r["port"]) == server.port and _healthy(r) for r in replicas):
                return False
        return True

    def _ask_master(self, sentinel: RedisSentinel) -> Address:
        with sentinel.client(socket_timeout=1, socket_connect_timeout=1) as c:
            return _parse_address(c.sentinel_get_master_addr_by_name(self.service_name))

    def _server_at(self, address: Address) -> RedisServer:
        for server in self.servers:
            if server.port == address[1]:
                return server
        raise LookupError(f"no server of this setup listens at {address}")

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                if done():
                    return
            except redis.RedisError as exc:
                last = exc
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"{p!r}:\n{p.log_tail(8)}" for p in [*self.servers, *self.sentinels]
                )
                raise TimeoutError(f"{what} within {timeout} s ({last!r})\n{logs}")
            time.sleep(POLL_INTERVAL)

    # -- async twins and context managers ----------------------------------------------------

    async def astart(self) -> RedisSentinelSetup:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def await_new_master(self, timeout: float = FAILOVER_TIMEOUT) -> tuple[Address, float]:
        return await asyncio.to_thread(self.wait_new_master, timeout)

    async def arestart_as_replica(
        self, server: RedisServer, timeout: float = FAILOVER_TIMEOUT
    ) -> None:
        await asyncio.to_thread(self.restart_as_replica, server, timeout)

    def __enter__(self) -> RedisSentinelSetup:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        ports = ",".join(str(p.port) for p in [*self.servers, *self.sentinels])
        return f"<RedisSentinelSetup {self.service_name} {ports}>"


class _Clients:
    """One open client per running sentinel for a polling loop; a failing one is dropped."""

    def __init__(self, sentinels: Sequence[RedisSentinel]) -> None:
        self._clients = [
            s.client(socket_timeout=1, socket_connect_timeout=1) for s in sentinels if s.is_running
        ]

    def each(self) -> list[redis.Redis]:
        return list(self._clients)

    def drop(self, client: redis.Redis) -> None:
        self._clients.remove(client)
        client.close()

    def __enter__(self) -> _Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients:
            client.close()


def _quote(value: str) -> str:
    """A config file argument that may hold spaces or quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _parse_address(reply: Any) -> Address:
    if not reply:
        raise redis.ResponseError("the sentinel knows no such master")
    host, port = reply
    return (host.decode() if isinstance(host, bytes) else str(host), int(port))


def _healthy(entry: dict[str, Any]) -> bool:
    return not (entry["is_sdown"] or entry["is_odown"] or entry["is_disconnected"])


def _link_up(server: RedisServer) -> bool:
    with server.client(socket_timeout=1) as c:
        return bool(c.info("replication").get("master_link_status") == "up")
