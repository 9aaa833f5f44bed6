"""The redis-server fixtures do what reconnect and cluster tests rely on."""

from __future__ import annotations

import time

import pytest
import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.redis_procs import RedisCluster, RedisServer, free_port


def test_shared_server_answers_ping(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.port != 6379
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()


def test_restart_keeps_the_port(fresh_redis: RedisServer) -> None:
    port = fresh_redis.port
    fresh_redis.restart()
    assert fresh_redis.is_running
    assert fresh_redis.port == port
    with fresh_redis.client() as client:
        assert client.ping()


async def test_async_restart(fresh_redis: RedisServer) -> None:
    await fresh_redis.astop()
    assert not fresh_redis.is_running
    await fresh_redis.astart()
    with fresh_redis.client() as client:
        assert client.ping()


def test_pause_times_out_and_resume_restores(fresh_redis: RedisServer) -> None:
    with fresh_redis.client(socket_timeout=0.3) as client:
        assert client.ping()
        fresh_redis.pause()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        assert time.monotonic() - started < 2
        fresh_redis.resume()
        assert client.ping()


def test_stop_of_a_paused_server(fresh_redis: RedisServer) -> None:
    fresh_redis.pause()
    fresh_redis.stop()
    assert not fresh_redis.is_running


def test_kill_and_start_again(fresh_redis: RedisServer) -> None:
    fresh_redis.kill()
    assert not fresh_redis.is_running
    fresh_redis.start()
    with fresh_redis.client() as client:
        assert client.ping()


def test_client_kill_pubsub_drops_subscribers(fresh_redis: RedisServer) -> None:
    with fresh_redis.client() as client, client.pubsub() as sub:
        sub.subscribe("chan")
        assert sub.get_message(timeout=1)["type"] == "subscribe"  # type: ignore[index]
        assert client.pubsub_numsub("chan") == [(b"chan", 1)]
        assert fresh_redis.client_kill_pubsub() == 1
        assert client.pubsub_numsub("chan") == [(b"chan", 0)]


def test_password_in_url() -> None:
    with RedisServer(password="s3cret/x") as server:
        no_password = redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.AuthenticationError), no_password:
            no_password.ping()
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()


def test_start_failure_shows_the_log() -> None:
    server = RedisServer(free_port(), extra_args=["--no-such-option", "1"])
    with pytest.raises(RuntimeError, match="no-such-option"):
        server.start()
    server.stop()


def test_cluster_serves_every_slot(redis_cluster: RedisCluster) -> None:
    with redis.cluster.RedisCluster.from_url(redis_cluster.startup_url) as rc:
        pipe = rc.pipeline()
        for i in range(2000):
            pipe.set(f"key:{i}", i)
        assert all(pipe.execute())
        info = rc.cluster_info(target_nodes=redis.cluster.RedisCluster.RANDOM)
        assert int(info["cluster_slots_ok"]) == 16384
    for node in redis_cluster.nodes:
        with node.client() as client:
            assert client.dbsize() > 0


def test_cluster_pubsub_numsub_per_node(redis_cluster: RedisCluster) -> None:
    first, *others = redis_cluster.nodes
    with first.client() as client, client.pubsub() as sub:
        sub.subscribe("procs-test")
        sub.get_message(timeout=1)
        assert client.pubsub_numsub("procs-test") == [(b"procs-test", 1)]
        for node in others:
            with node.client() as other:
                assert other.pubsub_numsub("procs-test") == [(b"procs-test", 0)]
