"""Real Redis processes for tests, on free loopback ports: one place to import them from.

Tests never touch a shared Redis (127.0.0.1:6379): every server, cluster node and sentinel
gets its own port and temporary directory, so tests can stop, pause, restart or kill it
without hurting anyone else. Everything started is killed at interpreter exit as a safety
net. The classes live in one module each:

* :mod:`.redis_server`: :class:`RedisServer` (also TLS and ACL users) and the port helpers;
* :mod:`.redis_cluster`: :class:`RedisCluster`, masters with replicas, and its failover tools;
* :mod:`.redis_sentinel`: :class:`RedisSentinelSetup`, a master, a replica and sentinels.
"""

from __future__ import annotations

from .redis_cluster import (
    NODE_TIMEOUT_MS,
    ClusterNode,
    ClusterPool,
    RedisCluster,
    parse_cluster_nodes,
)
from .redis_sentinel import RedisSentinel, RedisSentinelSetup
from .redis_server import HOST, RedisServer, TlsFiles, free_port, make_tls_files

__all__ = [
    "HOST",
    "NODE_TIMEOUT_MS",
    "ClusterNode",
    "ClusterPool",
    "RedisCluster",
    "RedisSentinel",
    "RedisSentinelSetup",
    "RedisServer",
    "TlsFiles",
    "free_port",
    "make_tls_files",
    "parse_cluster_nodes",
]
