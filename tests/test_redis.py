"""What only the Redis backend can get wrong: keys, slots, scratch keys,
refused writes and lost connections. Run against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from redis.cluster import key_slot

from bitmapist import (
    BackendUnavailableError,
    Bitmapist,
    RedisBackend,
    WriteRefusedError,
)
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH
from bitmapist.errors import BackendError
from bitmapist.testing import RedisServer, running_redis

from .conftest import NOW, fixed_clock
from .proxy import CuttingProxy

WIDTH = DEFAULT_SHARD_WIDTH


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis_server.client()
    connection.flushall()
    yield connection
    connection.close()


def make(client: redis.Redis, **options: object) -> Bitmapist:
    return Bitmapist(redis_client=client, clock=fixed_clock, **options)  # type: ignore[arg-type]


def all_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def test_queries_leave_no_key_behind(client: redis.Redis) -> None:
    bm = make(client)
    for uid in (1, WIDTH + 1, 2**40, 2**64 - 1):
        bm.mark_event("a", uid, NOW)
        bm.mark_attribute("p", uid)
    before = all_keys(client)
    a, p = bm.get_day_event("a", NOW), bm.get_attribute("p")

    for _ in range(50):
        for query in (a & p, a | ~p, bm.bit_op_xor(a, p, a.prev()), a - p, ~(a - p)):
            len(query)
            list(query)
            assert (2**40 in query) in (True, False)

    assert all_keys(client) == before


def test_every_key_of_a_shard_shares_one_hash_slot(client: redis.Redis) -> None:
    bm = make(client, granularities=["hour", "day", "week", "month", "year"])

    bm.mark_event("song:played", WIDTH * 7 + 3, NOW)
    bm.mark_attribute("paid", WIDTH * 7)
    len(bm.get_day_event("song:played", NOW) & bm.get_attribute("paid"))

    shard_keys = [k for k in all_keys(client) if k.startswith(b"bitmapist:7{")]
    assert len(shard_keys) == 10  # 5 periods, 1 attribute, universe, 3 registries
    assert len({key_slot(k) for k in shard_keys}) == 1


def test_a_huge_id_costs_one_small_string_per_period(client: redis.Redis) -> None:
    bm = make(client)

    bm.mark_event("a", 2**63, NOW)

    bitmaps = [k for k in all_keys(client) if b":e:a:" in k or k.endswith(b":u")]
    assert len(bitmaps) == 5
    assert all(client.strlen(k) == 2**63 % WIDTH // 8 + 1 for k in bitmaps)
    assert list(bm.get_month_event("a", NOW)) == [2**63]


def test_bits_are_laid_out_as_setbit_offsets_within_the_shard(
    client: redis.Redis,
) -> None:
    bm = make(client)

    bm.mark_events("a", [0, 9, WIDTH + 2], NOW)

    # Shard n's keys carry the hash tag of its target slot (keys.slot_tag).
    assert client.get("bitmapist:0{4Gb}:e:a:2025-01-15") == b"\x80\x40"
    assert client.get("bitmapist:1{6ah}:e:a:2025-W03") == b"\x20"
    assert client.smembers("bitmapist:{meta}:shards") == {b"0", b"1"}
    # Period registries hold codes as digits, which Redis keeps as an intset.
    registry = "bitmapist:0{4Gb}:periods:a"
    assert client.smembers(registry) == {b"20250115", b"2025003", b"202501", b"2025"}
    assert client.object("ENCODING", registry) == b"intset"


def test_strings_written_one_bit_at_a_time_cost_what_a_fresh_copy_costs(
    client: redis.Redis,
) -> None:
    """Writes with expiry (and on a cluster) SETBIT each offset. Grown from its
    lowest offset up, 8 bytes a step, a full shard's string would hold about
    14 KiB where a fresh copy holds 8 (Redis doubles the room of a string it
    grows by more than a little)."""
    bm = make(client, expire={"day": timedelta(days=40_000)})

    bm.mark_events("a", [*range(0, WIDTH, 64), WIDTH - 1], NOW)

    key = next(k for k in all_keys(client) if k.endswith(b":e:a:2025-01-15"))
    grown = client.memory_usage(key, samples=0)
    data = client.get(key)
    client.delete(key)
    client.set(key, data)  # type: ignore[arg-type]
    assert grown == client.memory_usage(key, samples=0)


def test_a_prefix_keeps_instances_apart(client: redis.Redis) -> None:
    one, other = make(client, prefix="one"), make(client, prefix="other")

    one.mark_event("a", 1, NOW)

    assert len(other.get_day_event("a", NOW)) == 0
    assert other.get_event_names() == []
    assert all(k.startswith(b"one:") for k in all_keys(client))
    other.delete_all()
    assert one.get_event_names() == ["a"]


def test_scratch_keys_get_an_expiry_in_case_the_server_stops(
    client: redis.Redis,
) -> None:
    bm = make(client)
    bm.mark_event("a", 1, NOW)
    bm.mark_attribute("p", 1)
    client.config_set("notify-keyspace-events", "Eg")
    events = client.pubsub()
    events.psubscribe("__keyevent@0__:expire")
    assert events.get_message(timeout=1) is not None  # the subscription

    len(bm.get_day_event("a", NOW) & bm.get_attribute("p"))

    expired = []
    while (message := events.get_message(timeout=0.5)) is not None:
        expired.append(message["data"])
    events.close()
    assert expired and all(b":tmp:" in key for key in expired)


def test_a_failing_query_cleans_up_and_says_why(client: redis.Redis) -> None:
    bm = make(client)
    bm.mark_event("a", 1, NOW)
    client.sadd("bitmapist:0{4Gb}:a:broken", "not a bitmap")  # foreign data
    before = all_keys(client)

    with pytest.raises(BackendError, match="WRONGTYPE"):
        len(bm.get_day_event("a", NOW) & bm.get_attribute("broken"))

    assert all_keys(client) == before


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0})
    return int(stats["calls"])


def test_a_connection_cut_mid_query_leaves_no_key(client: redis.Redis) -> None:
    shards = 300
    for shard in range(shards):
        make(client).mark_events("a", [shard * WIDTH, shard * WIDTH + 9], NOW)
    make(client).mark_attribute("p", 9)
    proxy = CuttingProxy(client.connection_pool.connection_kwargs["port"])
    bm = make(redis.Redis(host="127.0.0.1", port=proxy.port))
    query = ~(bm.get_day_event("a", NOW) ^ bm.get_attribute("p"))
    assert len(query) == 1  # warm: the script is loaded, the shards known
    before, calls = all_keys(client), evalsha_calls(client)

    proxy.cut_after(20_000)  # a fraction of the next request
    with pytest.raises(BackendUnavailableError):
        len(query)

    time.sleep(0.2)
    sent = evalsha_calls(client) - calls
    assert 0 < sent < shards, "the request was not cut in the middle"
    assert all_keys(client) == before
    proxy.close()


def test_the_script_is_loaded_again_after_a_script_flush(client: redis.Redis) -> None:
    bm = make(client)
    bm.mark_event("a", 5, NOW)
    assert list(bm.get_day_event("a", NOW) | bm.get_attribute("p")) == [5]

    client.script_flush()

    assert list(bm.get_day_event("a", NOW) | bm.get_attribute("p")) == [5]
    assert 5 in bm.get_day_event("a", NOW) | bm.get_attribute("p")


def test_a_refused_write_applies_nothing() -> None:
    with running_redis("--maxmemory", "2mb", "--maxmemory-policy", "noeviction") as s:
        client = s.client()
        bm = make(client)
        bm.mark_event("a", 1, NOW)
        filler = 0
        while True:
            try:
                client.set(f"filler:{filler}", b"x" * 4096)
            except redis.exceptions.OutOfMemoryError:
                break
            filler += 1
        before = {k: client.dump(k) for k in all_keys(client) if b"bitmapist" in k}

        with pytest.raises(WriteRefusedError, match="maxmemory") as raised:
            bm.mark_event("a", 2**40, NOW)

        assert isinstance(raised.value.__cause__, redis.exceptions.RedisError)
        after = {k: client.dump(k) for k in all_keys(client) if b"bitmapist" in k}
        assert after == before
        assert list(bm.get_month_event("a", NOW)) == [1]
        client.close()


def test_from_url_and_a_shared_client(redis_server: RedisServer) -> None:
    writer = Bitmapist.from_url(redis_server.url, clock=fixed_clock)
    reader = Bitmapist(backend=RedisBackend(redis_server.client()), clock=fixed_clock)
    writer.delete_all()

    writer.mark_event("a", 3, NOW)

    assert list(reader.get_week_event("a", NOW)) == [3]
    writer.delete_all()
    assert all_keys(redis_server.client()) == set()
    writer.close()
