"""Re-export of the plugin's Redis process classes (:mod:`socketio_redis_async.testing`) for
the tests and benches that import them from here; the implementation lives in the package."""

from __future__ import annotations

from socketio_redis_async.testing import (
    HOST,
    NODE_TIMEOUT_MS,
    ClusterNode,
    ClusterPool,
    RedisCluster,
    RedisSentinel,
    RedisSentinelSetup,
    RedisServer,
    TlsFiles,
    free_port,
    make_tls_files,
    parse_cluster_nodes,
)

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
