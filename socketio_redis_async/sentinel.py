"""Redis Sentinel: clients of a master that the Sentinels name, kept on it across failovers.

redis-py asks the Sentinels for the master's address on every (re)connect. Long-lived
Pub/Sub connections need three things more, which the classes here add:

* **Nobody stays on a demoted master.** PUBLISH and SUBSCRIBE work on a replica too, so a
  connection left on the old master fails nothing, yet what it publishes never reaches the
  new master's subscribers. When the old master survives the failover (``SENTINEL
  FAILOVER``, a partition), Sentinel leaves it a master for about ten seconds before it
  demotes it and drops its clients. A watcher subscribed to the Sentinels' ``+switch-master``
  announcements drops every connection that is not on the new master at once, and re-checks
  whenever the Sentinels have been quiet for a while, in case it missed one.
* **Stale Sentinels are not believed.** A Sentinel that has not heard of a failover yet still
  names the old master: discovery never goes back to a configuration epoch older than one it
  has seen, and the master is asked ``ROLE`` right after connecting.
* **A reconnect rides out the failover.** While the master is down, ``connect()`` asks the
  Sentinels again every 100 ms (for at most ``FAILOVER_WAIT``) instead of failing at once,
  so the caller's backoff, which grows during the outage, does not delay the resumption:
  it follows the promotion within one poll.

The synchronous client (for :class:`~socketio_redis_async.Emitter`) has the last two, and
re-checks the master at most once a second before handing out a pooled connection instead
of running a watcher thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import redis
import redis.asyncio as aioredis
import redis.asyncio.retry
import redis.retry
import redis.sentinel
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.asyncio.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
)
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .transport import backoff_delay, describe

__all__ = [
    "FAILOVER_WAIT",
    "MasterUnavailableError",
    "NotMasterError",
    "SentinelTarget",
    "SentinelUnavailableError",
    "UnknownServiceError",
    "async_master_clients",
    "sync_master_client",
]

logger = logging.getLogger("socketio_redis_async.sentinel")

FAILOVER_WAIT = 10.0  # seconds a connect waits for the Sentinels to name a reachable master
POLL_INTERVAL = 0.1
RECHECK_INTERVAL = 5.0  # the watcher asks the Sentinels after this long without news
SYNC_RECHECK_INTERVAL = 1.0
SWITCH_MASTER = "+switch-master"
# A Sentinel that does not answer must not hold up discovery: short timeouts, no retries
# (the next Sentinel is asked instead). RESP2: no HELLO round trip, and a Sentinel that
# wants a password says "Authentication required" instead of explaining HELLO's syntax.
# ``sentinel_options`` overrides these.
_SENTINEL_DEFAULTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0, "protocol": 2}


class SentinelUnavailableError(MasterNotFoundError):
    """No Sentinel answered."""


class UnknownServiceError(MasterNotFoundError):
    """The Sentinels that answered know no master by that name."""


class MasterUnavailableError(MasterNotFoundError):
    """The Sentinels know the service but name no usable master (down, or failing over)."""


class NotMasterError(RedisConnectionError):
    """The address the Sentinels gave is not (or no longer) a master."""


@dataclass(frozen=True)
class SentinelTarget:
    """A master found through Redis Sentinel: where the Sentinels are and the service name."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    # keyword arguments for the connections to the Sentinels themselves
    sentinel_options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, db: object = 0) -> str:
        """A password-free URL naming the deployment, for logs and error messages."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)
        return f"redis+sentinel://{hosts}/{quote(self.service_name, safe='')}/{db}"


# --- discovery: pure decisions, shared by the asyncio and the blocking clients ------------


def _where(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


class _Discovery:
    """Weighs the Sentinels' answers, asked one at a time, about one service.

    The first usable answer whose configuration epoch is not older than ``floor`` wins. If
    every answer is older (the Sentinels were rebuilt), the newest of them is used.
    """

    def __init__(self, service_name: str, floor: int) -> None:
        self.service_name = service_name
        self.floor = floor
        self._errors: list[tuple[str, str]] = []
        self._unknown = 0
        self._answered = 0
        self._current_seen = False
        self._older: tuple[int, tuple[str, int]] | None = None

    def _reasons(self) -> str:
        """``a:1, b:2: Connection refused; c:3: Authentication required`` (one line per
        distinct reason: every Sentinel often fails the same way)."""
        by_reason: dict[str, list[str]] = {}
        for where, reason in self._errors:
            by_reason.setdefault(reason, []).append(where)
        return "; ".join(f"{', '.join(places)}: {reason}" for reason, places in by_reason.items())

    def offer(self, where: str, answer: Any) -> tuple[str, int] | None:
        """Take one Sentinel's answer (a ``SENTINEL MASTER`` state or the error it raised);
        return the master's address if this answer settles it."""
        if isinstance(answer, ResponseError) and "no such master" in str(answer).lower():
            self._answered += 1
            self._unknown += 1
            return None
        if isinstance(answer, BaseException) or not isinstance(answer, Mapping):
            self._errors.append((where, describe(answer)))
            return None
        self._answered += 1
        epoch = int(answer.get("config-epoch") or 0)
        if epoch >= self.floor:
            self._current_seen = True
        if not answer.get("is_master") or answer.get("is_sdown") or answer.get("is_odown"):
            return None
        address = (str(answer["ip"]), int(answer["port"]))
        if epoch >= self.floor:
            self.floor = epoch
            return address
        if self._older is None or epoch > self._older[0]:
            self._older = (epoch, address)
        return None

    def result(self) -> tuple[str, int]:
        """Once every Sentinel was asked: an older master if that is all there is, else why
        there is none."""
        if self._older is not None and not self._current_seen:
            self.floor = self._older[0]
            return self._older[1]
        name = self.service_name
        unreachable = f" (unreachable: {self._reasons()})" if self._errors else ""
        if not self._answered:
            raise SentinelUnavailableError(
                f"no Sentinel could be asked about {name!r}{unreachable}"
            )
        if self._unknown == self._answered:
            raise UnknownServiceError(
                f"no Sentinel knows a master named {name!r}: check service_name{unreachable}"
            )
        raise MasterUnavailableError(
            f"the Sentinels name no reachable master for {name!r} (down, or failing over)"
        )


def _prefer(sentinels: list[Any], sentinel: Any, *, first: bool = True) -> None:
    """Move ``sentinel`` to the front of the list (it answered, or announced the news) or,
    with ``first=False``, to the back (it went away). Concurrent discoveries reorder the
    same list, so this never relies on an index computed before an await."""
    with contextlib.suppress(ValueError):
        sentinels.remove(sentinel)
        sentinels.insert(0 if first else len(sentinels), sentinel)


def _role(reply: Any) -> str:
    role = reply[0] if isinstance(reply, (list, tuple)) and reply else reply
    return role.decode(errors="replace") if isinstance(role, bytes) else str(role)


# --- asyncio -------------------------------------------------------------------------------


class _FollowingSentinel(Sentinel):
    """redis-py's Sentinel manager, with epoch-aware discovery and a failover watcher that
    runs while some pool of its own has connections."""

    def __init__(
        self, sentinels: tuple[tuple[str, int], ...], service_name: str, **sentinel_kwargs: Any
    ) -> None:
        super().__init__(list(sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        self._service_name = service_name
        self._floor = 0
        self._pools: weakref.WeakSet[_MasterPool] = weakref.WeakSet()
        self._watcher: asyncio.Task[None] | None = None

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        discovery = _Discovery(service_name, self._floor)
        for sentinel in list(self.sentinels):
            try:
                answer = await sentinel.execute_command("SENTINEL MASTER", service_name)  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                answer = exc
            address = discovery.offer(_where(sentinel), answer)
            if address is not None:
                self._floor = discovery.floor
                _prefer(self.sentinels, sentinel)  # asked first next time
                return address
        address = discovery.result()
        self._floor = discovery.floor
        return address

    def follow(self, pool: _MasterPool) -> None:
        """Watch for failovers on behalf of ``pool`` (called on each of its connects)."""
        self._pools.add(pool)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(), name="redis-sentinel-watcher"
            )

    async def unfollow(self, pool: _MasterPool) -> None:
        """``pool`` was closed; the last one out stops the watcher and closes the Sentinel
        connections (both come back if a pool is used again)."""
        self._pools.discard(pool)
        if self._pools:
            return
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
        # Closing the Sentinel clients also ends a watcher stuck in I/O (on Python < 3.12 a
        # cancel can be lost inside redis-py; its loop stops anyway once no pool is left).
        await self.aclose()
        if watcher is not None:
            await asyncio.wait([watcher], timeout=5)

    async def _watch(self) -> None:
        failures = 0
        while self._pools:
            sentinel = self.sentinels[0]
            pubsub = sentinel.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(SWITCH_MASTER)
                await self._recheck()  # a switch may have been announced while nobody listened
                failures = 0
                while self._pools:
                    message = await pubsub.get_message(timeout=RECHECK_INTERVAL)
                    if message is None:
                        await self._recheck()
                    elif _announces(message, self._service_name):
                        await self._recheck(announcer=sentinel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                where = _where(sentinel)
                logger.debug("Sentinel %s: watching interrupted (%s)", where, exc)
                _prefer(self.sentinels, sentinel, first=False)
                await asyncio.sleep(backoff_delay(failures))
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _recheck(self, announcer: Any = None) -> None:
        """Ask the Sentinels (the announcer first: its epoch is the new one) where the master
        is, and make every pool leave any other server."""
        if announcer is not None:
            _prefer(self.sentinels, announcer)
        try:
            master = await self.discover_master(self._service_name)
        except (RedisError, OSError):
            return  # no verdict (failover in progress, Sentinels away): keep what we have
        for pool in list(self._pools):
            await pool.leave_all_but(master)


def _announces(message: Mapping[str, Any], service_name: str) -> bool:
    """``+switch-master <name> <old ip> <old port> <new ip> <new port>`` for our service."""
    data = message.get("data")
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    return isinstance(data, str) and data.split(" ", 1)[0] == service_name


class _MasterConnection(SentinelManagedConnection):
    """A master connection that checks ``ROLE`` and waits out a failover on connect."""

    connection_pool: _MasterPool

    async def connect(self) -> None:
        if self.is_connected:
            return
        give_up: float | None = None
        while True:
            try:
                await super().connect()  # type: ignore[no-untyped-call]
                return
            except (SentinelUnavailableError, UnknownServiceError, AuthenticationError):
                raise  # asking again will not change these
            except (RedisConnectionError, RedisTimeoutError) as exc:
                now = time.monotonic()
                give_up = now + FAILOVER_WAIT if give_up is None else give_up
                if now >= give_up:
                    raise
                logger.debug("No master to connect to yet (%s); asking the Sentinels again", exc)
            await asyncio.sleep(POLL_INTERVAL)

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        await super().on_connect_check_health(check_health=check_health)
        await self.send_command("ROLE", check_health=False)
        try:
            reply = await self.read_response()
        except ResponseError:
            return  # an ACL user without ROLE: the Sentinels' word has to do
        role = _role(reply)
        if role != "master":
            raise NotMasterError(
                f"{self.host}:{self.port} is a {role}, not the master the Sentinels named"
            )


class _MasterSSLConnection(_MasterConnection, AsyncSSLConnection):
    pass


class _MasterPool(SentinelConnectionPool):
    sentinel_manager: _FollowingSentinel

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        # Chosen here: redis-py's own choice would pick its classes, without our checks.
        tls = kwargs.pop("ssl", False)
        kwargs.setdefault("connection_class", _MasterSSLConnection if tls else _MasterConnection)
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]

    async def get_master_address(self) -> tuple[str, int]:
        address: tuple[str, int] = await super().get_master_address()  # type: ignore[no-untyped-call]
        self.sentinel_manager.follow(self)
        return address

    async def leave_all_but(self, master: tuple[str, int]) -> None:
        """Drop every connection, idle or in use, that is not on ``master``: its user sees a
        connection error and reconnects, which asks the Sentinels."""
        self.master_address = master
        connections: list[Any] = [*self._available_connections, *self._in_use_connections]
        stale = [
            connection
            for connection in connections
            if connection.is_connected and (connection.host, connection.port) != master
        ]
        if not stale:
            return
        logger.warning(
            "Redis Sentinel: the master of %r is now %s:%s; dropping %d connection(s) to %s:%s",
            self.service_name,
            master[0],
            master[1],
            len(stale),
            stale[0].host,
            stale[0].port,
        )
        for connection in stale:
            await connection.disconnect(nowait=True)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # the client was closed (redis-py's aclose)
            await self.sentinel_manager.unfollow(self)


def _probe(pool: Any, option: str) -> None:
    """Fail at construction, not on the first command, on keyword arguments redis-py
    rejects (building a connection object opens no socket)."""
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        raise TypeError(f"{option} holds an argument redis-py rejects: {exc}") from exc


def _sentinel_kwargs(target: SentinelTarget, retry: Any) -> dict[str, Any]:
    return {**_SENTINEL_DEFAULTS, "retry": retry, **target.sentinel_options}


def async_master_clients(
    target: SentinelTarget, *clients_kwargs: Mapping[str, Any]
) -> list[aioredis.Redis]:
    """One ``redis.asyncio.Redis`` per ``clients_kwargs`` on the master of ``target``; they
    share one Sentinel manager, so one watcher follows failovers for all of them."""
    try:
        manager = _FollowingSentinel(
            target.sentinels,
            target.service_name,
            **_sentinel_kwargs(target, redis.asyncio.retry.Retry(NoBackoff(), 0)),
        )
    except TypeError as exc:
        raise TypeError(f"sentinel_options holds an argument redis-py rejects: {exc}") from exc
    clients = []
    for kwargs in clients_kwargs:
        client = manager.master_for(
            target.service_name, connection_pool_class=_MasterPool, **kwargs
        )
        _probe(client.connection_pool, "redis_options")
        clients.append(client)
    return clients


# --- blocking (redis-py's sync client) ---------------------------------------------------


class _SyncFollowingSentinel(redis.sentinel.Sentinel):
    def __init__(self, sentinels: tuple[tuple[str, int], ...], **sentinel_kwargs: Any) -> None:
        super().__init__(list(sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        self._floor = 0

    def discover_master(self, service_name: str) -> tuple[str, int]:
        discovery = _Discovery(service_name, self._floor)
        for sentinel in list(self.sentinels):
            try:
                answer = sentinel.execute_command("SENTINEL MASTER", service_name)  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                answer = exc
            address = discovery.offer(_where(sentinel), answer)
            if address is not None:
                self._floor = discovery.floor
                _prefer(self.sentinels, sentinel)
                return address
        address = discovery.result()
        self._floor = discovery.floor
        return address


class _SyncMasterConnection(redis.sentinel.SentinelManagedConnection):
    def connect(self) -> None:
        if self._sock:
            return
        give_up: float | None = None
        while True:
            try:
                super().connect()  # type: ignore[no-untyped-call]
                return
            except (SentinelUnavailableError, UnknownServiceError, AuthenticationError):
                raise
            except (RedisConnectionError, RedisTimeoutError):
                now = time.monotonic()
                give_up = now + FAILOVER_WAIT if give_up is None else give_up
                if now >= give_up:
                    raise
            time.sleep(POLL_INTERVAL)

    def on_connect_check_health(self, check_health: bool = True) -> None:
        super().on_connect_check_health(check_health=check_health)
        self.send_command("ROLE", check_health=False)  # type: ignore[no-untyped-call]
        try:
            reply = self.read_response()
        except ResponseError:
            return
        role = _role(reply)
        if role != "master":
            raise NotMasterError(
                f"{self.host}:{self.port} is a {role}, not the master the Sentinels named"
            )


class _SyncMasterSSLConnection(_SyncMasterConnection, SSLConnection):
    pass


class _SyncMasterPool(redis.sentinel.SentinelConnectionPool):
    sentinel_manager: _SyncFollowingSentinel

    def __init__(self, service_name: str, sentinel_manager: Any, **kwargs: Any) -> None:
        tls = kwargs.pop("ssl", False)
        kwargs.setdefault(
            "connection_class", _SyncMasterSSLConnection if tls else _SyncMasterConnection
        )
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._checked_at = time.monotonic()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Before handing out a pooled connection, ask the Sentinels (at most once a second)
        whether the master moved: redis-py then drops the idle connections to the old one."""
        now = time.monotonic()
        if self._available_connections and now - self._checked_at >= SYNC_RECHECK_INTERVAL:
            self._checked_at = now
            # no verdict (Sentinels away): the connection in hand is still the best bet
            with contextlib.suppress(RedisError, OSError):
                self.get_master_address()  # type: ignore[no-untyped-call]
        return super().get_connection(*args, **kwargs)

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # the client was closed
            self.sentinel_manager.close()


def sync_master_client(target: SentinelTarget, kwargs: Mapping[str, Any]) -> redis.Redis:
    """A blocking ``redis.Redis`` on the master of ``target`` (for the sync Emitter)."""
    try:
        manager = _SyncFollowingSentinel(
            target.sentinels, **_sentinel_kwargs(target, redis.retry.Retry(NoBackoff(), 0))
        )
    except TypeError as exc:
        raise TypeError(f"sentinel_options holds an argument redis-py rejects: {exc}") from exc
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        target.service_name, connection_pool_class=_SyncMasterPool, **kwargs
    )
    _probe(client.connection_pool, "redis_options")
    return client
