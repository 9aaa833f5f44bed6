"""The plugin's fixtures: private Redis processes and python-socketio servers per test run.

Each fixture starts real processes on free loopback ports only when a test asks for it, and
stops them at teardown. A missing ``redis-server`` (or ``redis-sentinel``) fails the test
with the package to install, instead of an obscure ``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from .cluster import ClusterPool, RedisCluster
from .sentinel import RedisSentinelSetup
from .standalone import MissingBinaryError, RedisServer, require_binary

if TYPE_CHECKING:
    from .socketio_servers import SioServers

__all__ = [
    "cluster_pool",
    "fresh_cluster",
    "fresh_redis",
    "redis_cluster",
    "redis_sentinel",
    "redis_server",
    "redis_url",
    "sio_servers",
]


def _require(*binaries: str) -> None:
    """Fail (not error, not skip) the test when a program the fixture runs is missing."""
    for binary in binaries:
        try:
            require_binary(binary, binary)
        except MissingBinaryError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One standalone ``redis-server`` for the whole session: publish and subscribe freely,
    but leave the process alone (use ``fresh_redis`` to stop, pause or kill one)."""
    _require("redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The ``redis://`` URL of the session's ``redis_server``."""
    return redis_server.url


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own, free to stop, pause, kill or restart."""
    _require("redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A Redis Cluster of three masters with a replica each, shared by the session: tests
    must not kill, pause or fail over its nodes (use ``fresh_cluster``)."""
    _require("redis-server")
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_pool() -> Iterator[ClusterPool]:
    """Boots the next ``fresh_cluster`` while the current test runs."""
    pool = ClusterPool()
    yield pool
    pool.close()


@pytest.fixture
def fresh_cluster(cluster_pool: ClusterPool) -> Iterator[RedisCluster]:
    """A cluster of the test's own (three masters, a replica each), free to kill nodes.

    The next test's cluster boots while this test runs, so mostly only the first test waits
    for Redis's 2 s cluster start-up delay.
    """
    _require("redis-server")
    with cluster_pool.take() as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel() -> Iterator[RedisSentinelSetup]:
    """A master, a replica and three sentinels (quorum 2) of the test's own."""
    _require("redis-server", "redis-sentinel")
    with RedisSentinelSetup() as setup:
        yield setup


async def _sio_servers(request: pytest.FixtureRequest) -> AsyncIterator[SioServers]:
    """Start N python-socketio servers sharing an adapter, each with connected clients:
    ``a, b = await sio_servers(2)``, then ``a.clients[0]``, ``b.sio``... (see
    :class:`~socketio_redis_async.testing.SioServers`). All are stopped at teardown."""
    from .socketio_servers import SioServers

    def redis_url() -> str:
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url

    def cluster_url() -> str:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.startup_url

    servers = SioServers(redis_url, cluster_url)
    try:
        yield servers
    finally:
        await servers.aclose()


def _sio_servers_unavailable() -> None:
    pytest.fail(
        "the sio_servers fixture needs pytest-asyncio (and uvicorn or aiohttp): "
        "pip install 'socketio-redis-async[testing]'",
        pytrace=False,
    )


def _sio_servers_fixture() -> object:
    """The async fixture with pytest-asyncio; without it, one that says what to install
    (loading the plugin must not break suites that never use it)."""
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture(name="sio_servers")(_sio_servers_unavailable)
    return pytest_asyncio.fixture(name="sio_servers")(_sio_servers)


sio_servers = _sio_servers_fixture()
