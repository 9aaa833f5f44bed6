"""A pytest plugin for suites that test python-socketio apps using this adapter.

Installed with ``pip install 'socketio-redis-async[testing]'``, it is loaded through the
``pytest11`` entry point (or ``-p socketio_redis_async.testing``) and offers fixtures that
start real processes on free loopback ports, never touching a Redis on 6379:

* ``redis_server`` (session) / ``fresh_redis`` (per test): a private ``redis-server``
  (:class:`RedisServer`); ``redis_url`` is the session server's URL;
* ``redis_cluster`` (session) / ``fresh_cluster`` (per test): a Redis Cluster of three
  masters with a replica each (:class:`RedisCluster`);
* ``redis_sentinel`` (per test): a master, a replica and three sentinels
  (:class:`RedisSentinelSetup`);
* ``sio_servers`` (per test, async): a factory of python-socketio servers sharing the
  classic or the sharded adapter, with connected recording clients (:class:`SioServers`).

The classes are usable without pytest too. Loading the plugin imports only pytest and
redis-py; Uvicorn, aiohttp and python-socketio load when a test starts a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cluster import NODE_TIMEOUT_MS, ClusterNode, ClusterPool, RedisCluster
from .cluster import parse_cluster_nodes as parse_cluster_nodes
from .fixtures import (
    cluster_pool,
    fresh_cluster,
    fresh_redis,
    redis_cluster,
    redis_sentinel,
    redis_server,
    redis_url,
    sio_servers,
)
from .sentinel import RedisSentinel, RedisSentinelSetup
from .standalone import (
    HOST,
    MissingBinaryError,
    RedisServer,
    TlsFiles,
    free_port,
    make_tls_files,
)

if TYPE_CHECKING:
    from .socketio_servers import (
        RecordingClient,
        SioServer,
        SioServers,
        connect_recording_client,
        eventually,
        start_server,
    )

__all__ = [
    "HOST",
    "NODE_TIMEOUT_MS",
    "ClusterNode",
    "ClusterPool",
    "MissingBinaryError",
    "RecordingClient",
    "RedisCluster",
    "RedisSentinel",
    "RedisSentinelSetup",
    "RedisServer",
    "SioServer",
    "SioServers",
    "TlsFiles",
    "cluster_pool",
    "connect_recording_client",
    "eventually",
    "free_port",
    "fresh_cluster",
    "fresh_redis",
    "make_tls_files",
    "parse_cluster_nodes",
    "redis_cluster",
    "redis_sentinel",
    "redis_server",
    "redis_url",
    "sio_servers",
    "start_server",
]

_SIO_NAMES = frozenset(
    {
        "RecordingClient",
        "SioServer",
        "SioServers",
        "connect_recording_client",
        "eventually",
        "start_server",
    }
)


def __getattr__(name: str) -> Any:
    """The server helpers import python-socketio: loaded on first use, not with the plugin."""
    if name in _SIO_NAMES:
        from . import socketio_servers as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
