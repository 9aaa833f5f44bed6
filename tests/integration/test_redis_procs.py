"""The Redis fixtures do what reconnect, cluster and sentinel tests rely on."""

from __future__ import annotations

import time

import pytest
import redis
import redis.cluster
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.redis_procs import (
    NODE_TIMEOUT_MS,
    RedisCluster,
    RedisSentinelSetup,
    RedisServer,
    free_port,
    parse_cluster_nodes,
)


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
    for node in redis_cluster.masters():
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


CLUSTER_NODES_SAMPLE = """\
07c37dfe 127.0.0.1:30004@40004 slave e7d1eecc 0 1426238317239 4 connected
67ed2db8 127.0.0.1:30002@40002,host.example master - 0 1426238316232 2 connected 5461-10922
e7d1eecc 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8]
6ec23923 127.0.0.1:30003@40003 master,fail - 1426238316232 0 3 disconnected 10923 10925-16383
"""


def test_parse_cluster_nodes() -> None:
    replica, second, me, failed = parse_cluster_nodes(CLUSTER_NODES_SAMPLE)
    assert (replica.port, replica.is_master, replica.master_id) == (30004, False, "e7d1eecc")
    assert (second.port, second.slot_ranges, second.connected) == (30002, ((5461, 10922),), True)
    assert [n.config_epoch for n in (replica, second, me, failed)] == [4, 2, 1, 3]
    assert me.slot_ranges == ((0, 5460),) and "myself" in me.flags and not me.failing
    assert failed.failing and not failed.connected
    assert failed.slot_ranges == ((10923, 10923), (10925, 16383))
    assert failed.owns(10923) and not failed.owns(10924) and len(failed.slots) == 5460


def test_cluster_has_a_replica_per_master(redis_cluster: RedisCluster) -> None:
    masters, replicas = redis_cluster.masters(), redis_cluster.replicas()
    assert len(masters) == len(replicas) == 3
    assert set(masters) | set(replicas) == set(redis_cluster.nodes)
    assert {redis_cluster.replica_of(m) for m in masters} == set(replicas)
    for replica in replicas:
        with replica.client() as client:
            info = client.info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
    # Redis holds a fresh master's cluster_state at fail for 2 s (CLUSTER_WRITABLE_DELAY):
    # forming the cluster itself must fit in that window.
    assert redis_cluster.startup_seconds is not None
    assert 2.0 < redis_cluster.startup_seconds < 5.0
    with redis_cluster.nodes[0].client() as client:
        assert client.config_get("cluster-node-timeout") == {
            "cluster-node-timeout": str(NODE_TIMEOUT_MS)
        }


def test_cluster_routes_keys_to_slot_owners(redis_cluster: RedisCluster) -> None:
    for key in (b"socket.io#/#", "socket.io#/admin#", b"{tag}x"):
        owner = redis_cluster.master_for_key(key)
        slot = redis.cluster.key_slot(key.encode() if isinstance(key, str) else key)
        assert owner is redis_cluster.node_for_slot(slot)
        with owner.client() as client:
            assert client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) >= 0  # no MOVED


def test_kill_promotes_the_replica_and_restart_rejoins(fresh_cluster: RedisCluster) -> None:
    old = fresh_cluster.master_for_key(b"socket.io#/#")
    replica = fresh_cluster.replica_of(old)
    slots = fresh_cluster.slots_of(old)
    killed_at = time.monotonic()
    fresh_cluster.kill(old)
    assert not old.is_running

    new, seen_at = fresh_cluster.wait_promoted(old)
    assert new is replica
    # node timeout, the FAIL vote, then the replica's 0.5-1 s election delay
    assert NODE_TIMEOUT_MS / 1000 < seen_at - killed_at < 8
    # Helpers read the freshest view, even before the other nodes learnt it by gossip.
    assert fresh_cluster.master_for_key(b"socket.io#/#") is new
    assert fresh_cluster.slots_of(new) == slots
    fresh_cluster.wait_ok()

    fresh_cluster.restart(old)
    assert fresh_cluster.replica_of(new) is old
    assert old in fresh_cluster.replicas()
    with fresh_cluster.client() as rc:
        assert rc.set("socket.io#/#", 1)
        assert rc.get_node_from_key("socket.io#/#").port == new.port


def test_graceful_failover_and_slot_migration(fresh_cluster: RedisCluster) -> None:
    master = fresh_cluster.masters()[0]
    replica = fresh_cluster.replica_of(master)
    assert fresh_cluster.failover(master) is replica
    assert replica in fresh_cluster.masters() and master in fresh_cluster.replicas()
    assert fresh_cluster.replica_of(replica) is master

    channel = b"socket.io#/#"
    slot = redis.cluster.key_slot(channel)
    source = fresh_cluster.node_for_slot(slot)
    target = next(m for m in fresh_cluster.masters() if m is not source)
    with fresh_cluster.client() as rc:
        rc.set(channel, "kept")
    with source.client() as client, client.pubsub() as sub:
        sub.ssubscribe(channel)
        assert sub.get_sharded_message(timeout=1)["type"] == "ssubscribe"  # type: ignore[index]
        fresh_cluster.migrate_slot(slot, target)
        # The old owner tells its sharded subscribers that the channel moved away.
        message = sub.get_sharded_message(timeout=1)
        assert message["type"] == "sunsubscribe"  # type: ignore[index]
    for node in fresh_cluster.nodes:
        view = fresh_cluster.view(node)
        owner = next(n for n in view if n.is_master and n.owns(slot))
        assert owner.port == target.port
    with fresh_cluster.client() as rc:
        assert rc.get(channel) == b"kept"  # keys of the slot moved along


def test_sentinels_report_the_master_and_fail_over(redis_sentinel: RedisSentinelSetup) -> None:
    master, replica = redis_sentinel.servers
    assert redis_sentinel.master_address() == ("127.0.0.1", master.port)
    assert redis_sentinel.startup_seconds is not None and redis_sentinel.startup_seconds < 5
    sentinel = redis.sentinel.Sentinel(redis_sentinel.sentinel_addresses(), socket_timeout=1)
    with sentinel.master_for(redis_sentinel.service_name) as client:
        client.set("k", "v")

    killed_at = time.monotonic()
    assert redis_sentinel.kill_master() is master
    address, seen_at = redis_sentinel.wait_new_master()
    assert address == ("127.0.0.1", replica.port)
    assert 0.5 < seen_at - killed_at < 8  # down-after-milliseconds 500, then the election
    assert sentinel.discover_master(redis_sentinel.service_name) == address
    with sentinel.master_for(redis_sentinel.service_name) as client:
        assert client.get("k") == b"v"

    redis_sentinel.restart_as_replica(master)
    assert redis_sentinel.replicas() == [master]
    with replica.client() as client:
        assert client.info("replication")["connected_slaves"] == 1


def test_sentinel_setup_with_passwords() -> None:
    with RedisSentinelSetup(password="pw/x", sentinel_password='sent "pw\\') as setup:
        master, replica = setup.servers
        host, port = setup.sentinel_addresses()[0]
        bare = redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.AuthenticationError), bare:
            bare.ping()
        sentinel = redis.sentinel.Sentinel(
            setup.sentinel_addresses(),
            sentinel_kwargs={"password": 'sent "pw\\', "socket_timeout": 1},
            password="pw/x",
            socket_timeout=1,
        )
        with sentinel.master_for(setup.service_name) as client:
            client.set("k", "v")
        # The sentinels use auth-pass to promote the replica.
        assert setup.kill_master() is master
        address, _ = setup.wait_new_master()
        assert address == ("127.0.0.1", replica.port)
        with sentinel.master_for(setup.service_name) as client:
            assert client.get("k") == b"v"
