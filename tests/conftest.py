"""Shared fixtures: private redis-server processes (never the shared one on 6379)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir
from support.redis_procs import ClusterPool, RedisCluster, RedisSentinelSetup, RedisServer

# Hypothesis keeps its example database out of the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "socketio-redis-async-hypothesis")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One standalone server for tests that only publish and subscribe."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A server of the test's own, free to stop, pause, kill or restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three masters with a replica each, started only if some test asks for it; shared, so
    tests must not kill, pause or fail over its nodes (use ``fresh_cluster``)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_pool() -> Iterator[ClusterPool]:
    pool = ClusterPool()
    yield pool
    pool.close()


@pytest.fixture
def fresh_cluster(cluster_pool: ClusterPool) -> Iterator[RedisCluster]:
    """A cluster of the test's own (three masters, a replica each), free to kill nodes.

    The next test's cluster boots while this test runs, so mostly only the first test
    waits for Redis's 2 s start-up delay.
    """
    with cluster_pool.take() as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel() -> Iterator[RedisSentinelSetup]:
    """A master, a replica and three sentinels (quorum 2) of the test's own."""
    with RedisSentinelSetup() as setup:
        yield setup
