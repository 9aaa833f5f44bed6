"""Security, end to end against real redis-server processes configured for it: passwords
(``requirepass``), ACL users restricted to the adapter's channels and commands, TLS
(``rediss://``, with and without client certificates), and the key prefix isolating two apps
that share one Redis. Every test runs real python-socketio servers and real clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import socketio
from support.redis_procs import RedisServer, make_tls_files
from support.sio_servers import RecordingClient, SioServer, eventually, start_server

from socketio_redis_async import AsyncRedisAdapter, ConnectionFailedError, SocketIORedisError

# Distinctive values, so a leak is found by a plain substring search.
ADMIN_PASSWORD = "Adm1n-Horse-Battery-7731"
APP_PASSWORD = "App-Staple-Correct-9902"
WRONG_PASSWORD = "Wr0ng-Pa55-Zebra-4417"

# How long a refused start-up may take at most: no retry loop, no subscribe timeout.
PROMPT = 5.0

ClientFactory = Callable[..., Awaitable[RecordingClient]]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_redis() -> Iterator[RedisServer]:
    """A Redis whose default user needs ``ADMIN_PASSWORD`` (``requirepass``); ACL users are
    added per test with distinct names."""
    with RedisServer(password=ADMIN_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[RedisServer]:
    """A Redis that speaks TLS only, with a certificate signed by a throw-away CA."""
    with RedisServer(tls=True) as server:
        yield server


class ServerFactory:
    """Starts python-socketio servers with the adapter; those still running at teardown are
    stopped then."""

    def __init__(self) -> None:
        self.running: list[SioServer] = []

    async def __call__(self, url: str, kind: str = "asgi", **options: Any) -> SioServer:
        server = await start_server(url, kind=kind, **options)
        self.running.append(server)
        return server

    async def stop(self, server: SioServer) -> None:
        self.running.remove(server)
        await server.stop()


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    factory = ServerFactory()
    yield factory
    for server in reversed(factory.running):
        await server.stop()


@pytest.fixture
def mtls_redis() -> Iterator[RedisServer]:
    """A TLS-only Redis that requires a client certificate (``tls-auth-clients yes``)."""
    with RedisServer(tls=True, tls_auth_clients="yes") as server:
        yield server


async def refused_start(url: str, **options: Any) -> tuple[BaseException, float]:
    """``start()`` an adapter that Redis must refuse; return the error and how long it took.

    The adapter sits on a bare ``AsyncServer`` (no HTTP) so a failure leaves nothing running.
    """
    mgr = AsyncRedisAdapter(url, **options)
    socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
    began = time.monotonic()
    try:
        with pytest.raises(Exception) as info:  # the type is asserted by the callers
            # The outer bound only keeps a hang from stalling the run; callers assert PROMPT.
            await asyncio.wait_for(mgr.start(), 30)
        return info.value, time.monotonic() - began
    finally:
        await mgr.aclose()


def full_text(exc: BaseException) -> str:
    """What a user may ever see of an exception: str, repr and the whole chained traceback."""
    chain = "".join(traceback.format_exception(exc))
    return f"{exc}\n{exc!r}\n{chain}"


async def exchange_broadcast(
    a: SioServer, b: SioServer, clients: ClientFactory
) -> tuple[RecordingClient, RecordingClient]:
    """A broadcast from each server reaches the other server's client, and only once."""
    on_a, on_b = await clients(a), await clients(b)
    await a.sio.emit("from-a", {"n": 1})
    await b.sio.emit("from-b", {"n": 2})
    await eventually(lambda: on_b.events("from-a") and on_a.events("from-b"))
    await asyncio.sleep(0.05)
    assert on_b.events("from-a") == [({"n": 1},)]
    assert on_a.events("from-b") == [({"n": 2},)]
    return on_a, on_b


# --- password (requirepass) ---------------------------------------------------------------


async def test_password_in_url_lets_two_servers_exchange_broadcasts(
    auth_redis, server_factory, client_factory
):
    url = f"redis://:{quote(ADMIN_PASSWORD)}@127.0.0.1:{auth_redis.port}/0"
    a = await server_factory(url, kind="asgi")
    b = await server_factory(url, kind="aiohttp")
    assert await a.mgr.server_count() == 2
    await exchange_broadcast(a, b, client_factory)


@pytest.mark.parametrize(
    "how",
    ["url", "redis_options", "acl-user-url"],
)
async def test_wrong_password_fails_fast_and_never_shows_the_password(auth_redis, caplog, how):
    """``start()`` raises ``ConnectionFailedError`` ("authentication failed") within 5 s; the
    wrong password, and the right one, appear nowhere: not in the message, the repr, the
    chained traceback, nor any log record down to DEBUG (redis-py's included)."""
    caplog.set_level(logging.DEBUG)
    port = auth_redis.port
    options: dict[str, Any] = {}
    if how == "url":
        url = f"redis://:{WRONG_PASSWORD}@127.0.0.1:{port}/0"
    elif how == "redis_options":
        url = f"redis://127.0.0.1:{port}/0"
        options["redis_options"] = {"password": WRONG_PASSWORD}
    else:
        auth_redis.acl_setuser("pw-user", "on", f">{APP_PASSWORD}", "+ping")
        url = auth_redis.url_for("pw-user", WRONG_PASSWORD)

    exc, elapsed = await refused_start(url, **options)

    assert elapsed < PROMPT, f"start() took {elapsed:.2f}s to report a refused password"
    assert isinstance(exc, ConnectionFailedError), full_text(exc)
    assert isinstance(exc, SocketIORedisError)
    assert isinstance(exc, ConnectionError)
    assert "authentication failed" in str(exc).lower()
    seen = full_text(exc) + "\n" + caplog.text
    for secret in (WRONG_PASSWORD, ADMIN_PASSWORD, APP_PASSWORD):
        assert secret not in seen
        assert quote(secret, safe="") not in seen


# --- ACL users --------------------------------------------------------------------------------

# The minimal command set, found by removing one rule at a time (Redis 7.0.15, redis-py 8.1):
# each of these five is needed; HELLO (redis-py speaks RESP3) and AUTH need no rule, and
# redis-py's CLIENT SETINFO / MAINT_NOTIFICATIONS are optional (unknown on Redis 7.0, their
# errors are ignored).
MINIMAL_COMMANDS = ("+ping", "+publish", "+subscribe", "+psubscribe", "+pubsub|numsub")


def channel_rules(key: str, namespaces: tuple[str, ...] = ("/",)) -> list[str]:
    """The channels of ``key`` for ``namespaces`` as ACL rules.

    Redis matches a PSUBSCRIBE pattern *literally* against the user's channel rules (only
    plain channels are glob-matched), so the broadcast pattern ``key#nsp#*`` must appear as
    is; the same rule, read as a glob, also allows publishing to every room channel.
    """
    rules = []
    for nsp in namespaces:
        rules += [f"&{key}#{nsp}#*", f"&{key}-request#{nsp}#", f"&{key}-response#{nsp}#*"]
    return rules


def denied(server: RedisServer, username: str) -> list[tuple[str, str]]:
    """What ACL LOG recorded as refused to ``username``: (reason, object)."""
    with server.client(socket_timeout=2) as c:
        return [
            (str(entry["reason"]), str(entry["object"]))
            for entry in c.acl_log()
            if entry.get("username") == username
        ]


async def test_acl_user_restricted_to_the_adapter_runs_the_cluster(
    auth_redis, server_factory, client_factory
):
    """An ACL user with nothing but the adapter's channels and five commands runs every
    cluster operation between two servers, and Redis refuses it nothing along the way.

    Minimal rule set, for key ``K`` and namespace ``/`` (found by experiment: dropping any
    one rule breaks start-up or an operation)::

        ACL SETUSER app on >pw resetchannels &K#/#* &K-request#/# &K-response#/#*
            resetkeys -@all +ping +publish +subscribe +psubscribe +pubsub|numsub

    ``+ping``: the start-up check (and the subscriber's watchdog); ``+psubscribe`` /
    ``+subscribe``: the namespace's pattern and request/response channels; ``+publish``:
    every emit and request; ``+pubsub|numsub``: ``server_count()`` and the expected answer
    count of every request. Not needed: HELLO and AUTH (always allowed), UNSUBSCRIBE and
    PUNSUBSCRIBE (``aclose()`` drops the connection) -- but releasing a dynamic namespace
    does unsubscribe, and a dynamic namespace needs its own literal ``&K#/nsp#*`` rule.
    No key permission at all: the adapter never touches the keyspace.
    """
    key = "acl-app"
    auth_redis.acl_setuser(
        "app", "on", f">{APP_PASSWORD}", "resetkeys", *channel_rules(key), *MINIMAL_COMMANDS
    )
    url = auth_redis.url_for("app", APP_PASSWORD)
    errors: list[BaseException] = []
    a = await server_factory(url, kind="asgi", key=key, on_error=errors.append)
    b = await server_factory(url, kind="aiohttp", key=key, on_error=errors.append)
    assert await a.mgr.server_count() == 2

    first_on_b = (await exchange_broadcast(a, b, client_factory))[1]
    on_a = await client_factory(a, ack_reply="ack-a")
    on_b = await client_factory(b, ack_reply="ack-b")
    await on_b.join("room")
    await a.sio.emit("to-room", 3, to="room")
    await eventually(lambda: on_b.events("to-room") == [(3,)])

    sockets = await a.mgr.fetch_sockets(rooms="room")
    assert [s.id for s in sockets] == [on_b.sid()]

    @b.mgr.on("ping")
    async def ping(*args: Any) -> str:
        return f"pong {args}"

    assert await a.mgr.server_side_emit_with_ack("ping", 1, timeout=3) == ["pong (1,)"]
    assert await a.sio.call("question", "?", to=on_b.sid(), timeout=3) == "ack-b"
    assert await b.sio.call("question", "?", to=on_a.sid(), timeout=3) == "ack-a"
    acks = await b.mgr.emit_with_ack("q", None, timeout=3)
    assert sorted(acks, key=str) == [None, None, "ack-a", "ack-b"]
    # (an aiohttp SioServer stopped with websockets open waits 45 s for them to time out)
    await on_b.close()
    await first_on_b.close()
    await server_factory.stop(b)  # closing needs nothing more than running did
    assert errors == []
    assert denied(auth_redis, "app") == []
    assert a.mgr.stats()["pending_requests"] == 0


async def test_acl_user_can_release_a_dynamic_namespace(auth_redis, server_factory):
    """A dynamic namespace (``namespaces="*"``) is unsubscribed when its last socket leaves:
    that takes ``+unsubscribe +punsubscribe`` on top of the minimal set, and the namespace's
    own literal pattern rule."""
    key = "acl-dyn"
    auth_redis.acl_setuser(
        "dyn",
        "on",
        f">{APP_PASSWORD}",
        *channel_rules(key, ("/", "/room-42")),
        *MINIMAL_COMMANDS,
        "+unsubscribe",
        "+punsubscribe",
    )
    errors: list[BaseException] = []
    server = await server_factory(
        auth_redis.url_for("dyn", APP_PASSWORD), key=key, on_error=errors.append
    )
    server.sio.namespaces = "*"
    with auth_redis.client(socket_timeout=2) as probe:
        patterns = probe.pubsub_numpat()
        client = RecordingClient()
        await client.connect(server.url, namespaces=["/room-42"])
        assert server.mgr.namespaces == {"/", "/room-42"}
        assert probe.pubsub_numsub(f"{key}-request#/room-42#") == [
            (f"{key}-request#/room-42#".encode(), 1)
        ]
        await client.close()
        await eventually(lambda: server.mgr.namespaces == {"/"})
        await eventually(lambda: probe.pubsub_numsub(f"{key}-request#/room-42#")[0][1] == 0)
        assert probe.pubsub_numpat() == patterns
    assert errors == []
    assert denied(auth_redis, "dyn") == []


@pytest.mark.parametrize(
    ("username", "rules"),
    [
        pytest.param("other-key", channel_rules("another-app"), id="channels-of-another-key"),
        pytest.param(
            "glob-rules",
            ["&acl-app#*", "&acl-app-request#*", "&acl-app-response#*"],
            id="glob-rules-do-not-cover-psubscribe",
        ),
    ],
)
async def test_acl_user_whose_channels_miss_the_key_fails_clearly_at_start(
    auth_redis, username, rules
):
    """Channels the user may not use make ``start()`` fail at once with an error that says
    so, instead of a server that runs but never receives anything.

    The second case documents a Redis rule that surprises: ``&acl-app#*`` looks as if it
    covered ``PSUBSCRIBE acl-app#/#*``, but patterns are matched literally.
    """
    auth_redis.acl_setuser(username, "on", f">{APP_PASSWORD}", *rules, *MINIMAL_COMMANDS)
    url = auth_redis.url_for(username, APP_PASSWORD)

    exc, elapsed = await refused_start(url, key="acl-app")

    assert elapsed < PROMPT, f"start() took {elapsed:.2f}s to report refused channels"
    assert isinstance(exc, ConnectionFailedError), full_text(exc)
    assert "permission" in str(exc).lower()
    assert APP_PASSWORD not in full_text(exc)
    assert ("channel", "acl-app#/#*") in denied(auth_redis, username)


# --- TLS ----------------------------------------------------------------------------------------


async def test_tls_servers_exchange_broadcasts_and_calls(tls_redis, server_factory, client_factory):
    assert tls_redis.url.startswith("rediss://")
    options = {"redis_options": {"ssl_ca_certs": tls_redis.ca_path}}
    a = await server_factory(tls_redis.url, kind="asgi", **options)
    b = await server_factory(tls_redis.url, kind="aiohttp", **options)
    assert await b.mgr.server_count() == 2
    await exchange_broadcast(a, b, client_factory)
    on_a = await client_factory(a, ack_reply={"from": "a"})
    assert await b.sio.call("question", 1, to=on_a.sid(), timeout=3) == {"from": "a"}


def other_ca(tmp_path: Path) -> dict[str, Any]:
    return {"ssl_ca_certs": str(make_tls_files(tmp_path / "other-ca").ca_cert)}


@pytest.mark.parametrize(
    ("scheme", "make_options", "expected"),
    [
        pytest.param("rediss", lambda tmp: {}, "certificate verify failed", id="system-cas-only"),
        pytest.param("rediss", other_ca, "certificate verify failed", id="another-ca"),
        pytest.param("redis", lambda tmp: {}, "", id="plain-tcp-to-a-tls-port"),
    ],
)
async def test_tls_client_that_does_not_trust_the_server_fails_at_start(
    tls_redis, tmp_path, scheme, make_options, expected
):
    url = tls_redis.url.replace("rediss://", f"{scheme}://")
    exc, elapsed = await refused_start(url, redis_options=make_options(tmp_path))
    assert elapsed < PROMPT, f"start() took {elapsed:.2f}s to fail"
    assert isinstance(exc, ConnectionFailedError), full_text(exc)
    assert expected in str(exc).lower()


async def test_tls_with_required_client_certificates(mtls_redis, server_factory, client_factory):
    """``tls-auth-clients yes``: servers presenting the CA-signed client certificate form a
    cluster; a client without one is refused at ``start()``."""
    with_cert = {"redis_options": mtls_redis.ssl_options(client_cert=True)}
    a = await server_factory(mtls_redis.url, kind="asgi", **with_cert)
    b = await server_factory(mtls_redis.url, kind="aiohttp", **with_cert)
    await exchange_broadcast(a, b, client_factory)

    exc, elapsed = await refused_start(
        mtls_redis.url, redis_options=mtls_redis.ssl_options(client_cert=False)
    )
    assert elapsed < PROMPT
    assert isinstance(exc, ConnectionFailedError), full_text(exc)
    # TLS 1.3 checks the client's certificate after the client considers the handshake
    # done: the refusal shows as a "certificate required" alert or as a reset connection.
    message = str(exc).lower()
    assert "certificate required" in message or "reset by peer" in message, message


# --- key prefix isolation -----------------------------------------------------------------------

SENTINEL = "__sentinel__"


class App:
    """One app on the shared Redis: two servers under one key, two clients on each, one
    client per server in room ``"r"``; every server answers the server-side event ``ping``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.servers: list[SioServer] = []
        self.clients: list[RecordingClient] = []
        self.pings: list[tuple[str, tuple[Any, ...]]] = []

    async def start(self, url: str, servers: ServerFactory, clients: ClientFactory) -> App:
        for kind in ("asgi", "aiohttp"):
            server = await servers(url, kind=kind, key=self.key, requests_timeout=2)
            self.servers.append(server)

            async def on_ping(*args: Any, server: SioServer = server) -> str:
                self.pings.append((server.mgr.uid, args))
                return f"{self.key}-pong"

            server.mgr.on("ping", on_ping)
            for n in range(2):
                client = await clients(server, ack_reply=f"{self.key}-ack")
                self.clients.append(client)
                if n == 0:
                    await client.join("r")
        return self

    def sids(self) -> set[str]:
        return {c.sid() for c in self.clients}

    def foreign(self) -> list[tuple[str, str, tuple[Any, ...]]]:
        """Everything this app's clients received that is not the sentinel nor its own."""
        return [
            event
            for client in self.clients
            for event in client.received
            if event[1] != SENTINEL and not event[1].startswith(self.key)
        ]

    async def settle(self) -> None:
        """Each server emits a sentinel, so every client gets one through Redis; Redis keeps
        the order of what it relays, so nothing published earlier is still on its way."""
        for server in self.servers:
            await server.mgr.flush()
        for server in self.servers:
            await server.sio.emit(SENTINEL, server.mgr.uid)
        uids = {s.mgr.uid for s in self.servers}
        connected = [c for c in self.clients if c.client.connected]
        await eventually(lambda: all({a[0] for a in c.events(SENTINEL)} >= uids for c in connected))


@pytest.fixture
async def two_apps(fresh_redis, server_factory, client_factory) -> tuple[App, App]:
    app1 = await App("app1").start(fresh_redis.url, server_factory, client_factory)
    app2 = await App("app2").start(fresh_redis.url, server_factory, client_factory)
    return app1, app2


@pytest.mark.parametrize("direction", ["app1->app2", "app2->app1"])
async def test_key_prefix_isolates_two_apps_on_one_redis(two_apps, direction):
    """Everything one app does stays in that app: broadcasts, rooms, remote joins and
    disconnects, fetch_sockets, server_count, server-side events (with and without acks),
    emit_with_ack and all_rooms -- with identical event, room and namespace names in both."""
    app1, app2 = two_apps
    src, other = (app1, app2) if direction == "app1->app2" else (app2, app1)
    s0, s1 = src.servers
    k = src.key

    assert await s0.mgr.server_count() == 2
    assert {s.id for s in await s0.mgr.fetch_sockets()} == src.sids()
    assert {s.id for s in await s1.mgr.fetch_sockets(rooms="r")} == {
        src.clients[0].sid(),
        src.clients[2].sid(),
    }
    assert await s0.mgr.all_rooms() == src.sids() | {"r"}
    assert sorted(await s0.mgr.server_side_emit_with_ack("ping", k, timeout=3)) == [f"{k}-pong"]
    await s1.mgr.server_side_emit("ping", f"{k}-no-ack")
    assert await s0.mgr.emit_with_ack(f"{k}-q", None, timeout=3) == [f"{k}-ack"] * 4
    assert await s0.sio.call(f"{k}-call", 1, to=src.clients[2].sid(), timeout=3) == f"{k}-ack"

    await s0.sio.emit(f"{k}-all", 1)
    await s1.sio.emit(f"{k}-room", 2, to="r")
    await s0.mgr.sockets_join("joined", to="r")
    await eventually(lambda: all("joined" in s.mgr.rooms["/"] for s in src.servers))
    await s1.sio.emit(f"{k}-joined", 3, to="joined")
    await src.settle()
    await other.settle()
    # The source app saw its own traffic...
    assert [c.events(f"{k}-all") for c in src.clients] == [[(1,)]] * 4
    assert [len(c.events(f"{k}-room")) for c in src.clients] == [1, 0, 1, 0]
    assert [len(c.events(f"{k}-joined")) for c in src.clients] == [1, 0, 1, 0]
    assert sorted(args for _, args in src.pings) == [(k,), (f"{k}-no-ack",)]

    await s0.sio.close_room("joined")
    await eventually(lambda: not any("joined" in s.mgr.rooms["/"] for s in src.servers))
    await s0.mgr.disconnect_sockets(to=src.clients[3].sid())
    await eventually(lambda: not src.clients[3].client.connected)
    await src.settle()
    await other.settle()

    # The other app saw none of it, and still works on its own.
    assert other.foreign() == []
    assert src.foreign() == []
    assert other.pings == []
    assert all(c.client.connected for c in other.clients)
    for server in other.servers:
        assert server.mgr.stats()["dropped_malformed"] == 0
        assert "joined" not in server.mgr.rooms["/"]
    assert await other.servers[0].mgr.server_count() == 2
    assert {s.id for s in await other.servers[1].mgr.fetch_sockets()} == other.sids()
