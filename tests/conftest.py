"""Shared fixtures: private redis-server processes (never the shared one on 6379)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir
from support.redis_procs import RedisCluster, RedisServer

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
    """A three-master Redis Cluster, started only if some test asks for it."""
    with RedisCluster() as cluster:
        yield cluster
