"""What the Redis store does differently on a Redis Cluster: how the URL names the nodes, where the
records land, and a cluster that cannot be reached. The `Store` contract itself runs on the cluster
in `test_store.py`."""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot

from idp.storage.redis import RedisStore, cluster_nodes, is_cluster_url
from idp.storage.store import StoreUnavailable
from tests.faults import free_port
from tests.redis_cluster import LocalCluster, cluster_store


@pytest.mark.parametrize(("url", "nodes", "options"), [
    ("redis+cluster://10.0.0.1:7000/", [("10.0.0.1", 7000)], {}),
    ("redis+cluster://a:7000,b:7001, c:7002", [("a", 7000), ("b", 7001), ("c", 7002)], {}),
    ("rediss+cluster://idp:s%40cret@a:7000,[::1]:7001/0", [("a", 7000), ("::1", 7001)],
     {"ssl": True, "username": "idp", "password": "s@cret"}),
    ("redis+cluster://:pw@a:7000/", [("a", 7000)], {"username": None, "password": "pw"}),
])
def test_a_cluster_url_lists_its_startup_nodes(url: str, nodes: list[tuple[str, int]],
                                               options: dict[str, object]) -> None:
    assert is_cluster_url(url)
    assert cluster_nodes(url) == (nodes, options)


@pytest.mark.parametrize("url", [
    "redis+cluster://a:7000/1",  # a cluster has database 0 only
    "redis+cluster://a/",  # no port
    "redis+cluster://a:7000,,b:7001/",
    "redis+cluster://a:7000/?timeout=1",
])
def test_a_malformed_cluster_url_is_refused_when_the_store_is_made(url: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        RedisStore(url)


def test_one_server_urls_are_not_cluster_urls() -> None:
    assert not is_cluster_url("redis://127.0.0.1:6379/15")
    assert not is_cluster_url("rediss://cache.example:6380/0")


@pytest.mark.redis
def test_records_spread_over_every_primary_and_flush_reaches_them_all(redis_cluster: LocalCluster) -> None:
    with cluster_store(redis_cluster) as store:
        assert isinstance(store, RedisStore)
        ids = [f"tx:{n:04x}" for n in range(60)]
        for record in ids:
            store.set(record, b"v", 30)
        # No hash tag in the prefix or the ids: the slots, and so the primaries, differ.
        holders = {redis_cluster.node_of(store._k(record)).port for record in ids}
        assert holders == {node.port for node in redis_cluster.nodes}
        store.flush_prefix()  # SCAN on every primary
        for node in redis_cluster.nodes:
            with redis.Redis(port=node.port) as client:
                assert list(client.scan_iter(match=store._prefix + "*")) == []


@pytest.mark.redis
def test_multi_key_reads_across_slots_are_answered(redis_cluster: LocalCluster) -> None:
    # `ttl_many` (the throttles' one read of all their counters) is a pipeline of independent reads,
    # not a transaction: keys in different slots, on different primaries, are fine.
    with cluster_store(redis_cluster) as store:
        assert isinstance(store, RedisStore)
        keys = ["throttle:ip:a", "throttle:acct:b", "throttle:acip:c", "throttle:dev:d"]
        assert len({key_slot(store._k(k).encode()) for k in keys}) > 1
        store.incr(keys[0], 60)
        store.set(keys[2], b"1", 30)
        first, second, third, fourth = store.ttl_many(keys)
        assert first is not None and 55 < first <= 60 and second is None
        assert third is not None and 25 < third <= 30 and fourth is None


def test_a_cluster_no_node_of_which_answers_is_store_unavailable() -> None:
    # Made without reaching it (a provider starts while the cluster is down); each command then
    # says the store is down, and the breaker answers the next ones at once.
    store = RedisStore(f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/",
                       prefix="idp-test-unreachable:", timeout=0.2, breaker_interval=10)
    try:
        with pytest.raises(StoreUnavailable):
            store.get("k")
        assert store.breaker.state == "open"
        with pytest.raises(StoreUnavailable) as refused:
            store.incr("k", 1)
        assert 1 <= refused.value.retry_after <= 10
    finally:
        store.close()
