"""RedisBackend on a 3-master Redis Cluster: slots, spread, one round trip per
query, scripts lost by the servers, and a node that goes down."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import redis
from redis.cluster import key_slot

from bitmapist import BackendUnavailableError, Bitmapist
from bitmapist.backends.keys import (
    DEFAULT_SHARD_WIDTH,
    SLOTS,
    ShardedLayout,
    target_slot,
)
from bitmapist.expressions import UNIVERSE
from bitmapist.testing import RedisCluster, RedisServer, running_cluster

from .conftest import NOW, fixed_clock

pytestmark = pytest.mark.redis_server

WIDTH = DEFAULT_SHARD_WIDTH
SHARDS = 48


@pytest.fixture
def cluster_client(redis_cluster: RedisCluster) -> Any:
    client = redis_cluster.client()
    client.flushall()
    yield client
    client.close()


def _mark_one_id_per_shard(bm: Bitmapist) -> None:
    for shard in range(SHARDS):
        bm.mark_event("a", shard * WIDTH + 3, NOW)
    bm.mark_attribute("paid", 5)


def _keys_by_node(client: Any) -> dict[int, list[bytes]]:
    found = {}
    for node in client.get_primaries():
        found[node.port] = list(node.redis_connection.scan_iter(count=1000))
    return found


def test_the_keys_of_one_shard_share_a_slot(cluster_client: Any) -> None:
    bm = Bitmapist(redis_client=cluster_client, clock=fixed_clock)
    layout = ShardedLayout()

    _mark_one_id_per_shard(bm)

    slots: dict[str, set[int]] = {}
    for keys in _keys_by_node(cluster_client).values():
        for key in keys:
            shard = key.decode().split(":", 2)[1].split("{", 1)[0]  # or "" for meta
            slots.setdefault(shard, set()).add(cluster_client.keyslot(key))
    assert len(slots) == SHARDS + 1  # every shard, and the meta registry
    assert all(len(found) == 1 for found in slots.values())
    assert cluster_client.keyslot(layout.periods_key("a", 7)) == cluster_client.keyslot(
        layout.bitmap_key(bm.get_day_event("a", NOW).ref, 7)
    )


def test_shards_reach_every_master(cluster_client: Any) -> None:
    bm = Bitmapist(redis_client=cluster_client, clock=fixed_clock)

    _mark_one_id_per_shard(bm)

    holders = Counter(
        {port: len(keys) for port, keys in _keys_by_node(cluster_client).items()}
    )
    assert len(holders) == 3
    assert min(holders.values()) > 0


def test_the_first_shards_fall_one_in_each_part_of_the_slots() -> None:
    """For every n up to 17, the first n shards' slots lie one in each of n
    equal contiguous ranges, away from their ends, so n masters that hold such
    ranges get one each."""
    for n in range(1, 18):
        parts = [target_slot(shard) * n // SLOTS for shard in range(n)]
        assert sorted(parts) == list(range(n))
        margins = [
            abs(target_slot(s) * n - k * SLOTS) / n
            for s in range(n)
            for k in range(n + 1)
        ]
        assert min(margins) >= 16
    for first in (17, 2**40, 2**52, 2**61):  # shards of ids near 2**64, too
        thirds = Counter(target_slot(first + n) * 3 // SLOTS for n in range(3000))
        assert sorted(thirds.values()) == [pytest.approx(1000, abs=5)] * 3
    layout = ShardedLayout()
    for shard in range(1000):
        key = layout.bitmap_key(UNIVERSE, shard)
        assert key.startswith(f"bitmapist:{shard}{{")
        assert key_slot(key.encode()) == target_slot(shard)


def test_a_few_dense_shards_balance_over_three_masters(cluster_client: Any) -> None:
    """4 shards (3 full, 1 nearly empty): one full shard on each master."""
    bm = Bitmapist(redis_client=cluster_client, clock=fixed_clock)

    bm.mark_events("a", range(0, 3 * WIDTH + 10), NOW)

    held = []
    for node in cluster_client.get_primaries():
        connection = node.redis_connection
        keys = list(connection.scan_iter(count=1000))
        held.append(sum(int(connection.memory_usage(k) or 0) for k in keys))
    assert max(held) <= 1.1 * sum(held) / 3


def test_the_id_map_spreads_over_every_master(cluster_client: Any) -> None:
    bm = Bitmapist(redis_client=cluster_client, clock=fixed_clock, id_map=True)

    bm.mark_events("a", [f"user-{n}" for n in range(5000)], NOW)

    held = []
    for node in cluster_client.get_primaries():
        connection = node.redis_connection
        keys = [k for k in connection.scan_iter(match="bitmapist:ids*", count=1000)]
        held.append(sum(int(connection.memory_usage(k) or 0) for k in keys))
    assert max(held) <= 1.2 * sum(held) / 3


class CountingCluster(redis.RedisCluster):
    """A real cluster client that counts the pipelines it runs."""

    pipelines = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        CountingCluster.pipelines += 1
        return super().pipeline(*args, **kwargs)


def test_a_query_over_every_node_is_one_pipeline(
    redis_cluster: RedisCluster, cluster_client: Any
) -> None:
    port = redis_cluster.servers[0].port
    client = CountingCluster(host="127.0.0.1", port=port)
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    _mark_one_id_per_shard(bm)
    day = bm.get_day_event("a", NOW)
    assert len(day) == SHARDS  # learns the shards
    CountingCluster.pipelines = 0

    count = len(day | bm.get_attribute("paid"))
    members = list(iter(day))  # list(day) would ask len(day) first

    assert count == SHARDS + 1
    assert members == [shard * WIDTH + 3 for shard in range(SHARDS)]
    assert CountingCluster.pipelines == 2
    client.close()


def test_queries_survive_the_servers_losing_the_script(
    redis_cluster: RedisCluster, cluster_client: Any
) -> None:
    bm = Bitmapist(redis_client=cluster_client, clock=fixed_clock)
    _mark_one_id_per_shard(bm)
    assert len(bm.get_day_event("a", NOW)) == SHARDS

    for server in redis_cluster.servers:
        server.client().script_flush()

    assert len(bm.get_day_event("a", NOW)) == SHARDS
    assert SHARDS * WIDTH - WIDTH + 3 in bm.get_day_event("a", NOW)


def test_from_url_reaches_the_cluster(
    redis_cluster: RedisCluster, cluster_client: Any
) -> None:
    bm = Bitmapist.from_url(redis_cluster.url, clock=fixed_clock)

    bm.mark_event("a", 2**63, NOW)

    assert list(Bitmapist(redis_client=cluster_client).get_day_event("a", NOW)) == [
        2**63
    ]
    bm.close()


def _dump(client: Any, port: int) -> dict[bytes, bytes]:
    node = client.get_node(host="127.0.0.1", port=port).redis_connection
    return {key: node.dump(key) for key in node.scan_iter(count=1000)}


def _wait_cluster_fail(server: RedisServer) -> None:
    client = server.client()
    deadline = time.monotonic() + 30
    while client.cluster("INFO")["cluster_state"] != "fail":
        assert time.monotonic() < deadline, "the cluster never noticed the node"
        time.sleep(0.1)
    client.close()


def test_a_write_to_a_node_that_is_down_fails_clearly_and_writes_nothing() -> None:
    # Reads stay allowed on the live nodes so the test can see what they hold.
    # A short node timeout: the live nodes give up on the dead one sooner.
    extra = ("--cluster-allow-reads-when-down", "yes", "--cluster-node-timeout", "500")
    with running_cluster(3, *extra) as cluster:
        client = cluster.client(socket_connect_timeout=0.5, socket_timeout=2)
        bm = Bitmapist(redis_client=client, clock=fixed_clock)
        layout = ShardedLayout()
        _mark_one_id_per_shard(bm)
        victim, *alive = cluster.servers
        on_victim, on_alive = (
            [
                shard
                for shard in range(SHARDS)
                if (
                    client.get_node_from_key(layout.bitmap_key(UNIVERSE, shard)).port
                    == victim.port
                )
                == down
            ]
            for down in (True, False)
        )
        before = {server.port: _dump(client, server.port) for server in alive}

        victim.stop()
        with pytest.raises(BackendUnavailableError, match="connect"):
            bm.mark_event("b", on_victim[0] * WIDTH + 9, NOW)
        _wait_cluster_fail(alive[0])
        with pytest.raises(BackendUnavailableError, match="cluster is down"):
            bm.mark_event("b", on_alive[0] * WIDTH + 9, NOW)

        assert {server.port: _dump(client, server.port) for server in alive} == before
        client.close()
