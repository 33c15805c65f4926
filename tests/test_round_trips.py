"""A nested query costs one round trip to Redis, however many operands it has,
and its answer is decoded whole.

Round trips are counted by a redis-py connection class that counts what it
sends: redis-py sends a whole pipeline in one write, and one command in one.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from bitmapist import Bitmap, Bitmapist
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH
from bitmapist.backends.redis import decode_bitmap, decode_shards
from bitmapist.testing import RedisServer

from .conftest import NOW, fixed_clock
from .counting import CountingConnection

WIDTH = DEFAULT_SHARD_WIDTH


@pytest.fixture
def counted(redis_server: RedisServer) -> Iterator[Bitmapist]:
    redis_server.client().flushall()
    pool = redis.ConnectionPool(
        host="127.0.0.1", port=redis_server.port, connection_class=CountingConnection
    )
    # The connection's own handshake is not a query's round trip.
    client = redis.Redis(connection_pool=pool)
    client.ping()
    bm = Bitmapist(redis_client=client, clock=fixed_clock)
    yield bm
    client.close()
    pool.disconnect()


def round_trips(action: Any) -> int:
    before = CountingConnection.sends
    action()
    return CountingConnection.sends - before


def nested(bm: Bitmapist, width: int) -> Bitmap:
    """An expression with ``width`` events under AND, OR, XOR, NOT and
    difference, three levels deep."""
    days = [bm.get_day_event(f"e{n}", NOW) for n in range(width)]
    half = width // 2
    left = bm.bit_op_or(*days[:half]) & ~days[-1]
    right = bm.bit_op_xor(*days[half:]) - bm.get_attribute("paid")
    return (left | right) & bm.get_month_event("e0", NOW)


@pytest.mark.redis_server
@pytest.mark.parametrize("width", [4, 16])
def test_count_contains_and_members_take_one_round_trip(
    counted: Bitmapist, width: int
) -> None:
    bm = counted
    for n in range(width):
        bm.mark_events(f"e{n}", [n, WIDTH + n, 7 * WIDTH + n], NOW)
    bm.mark_attribute("paid", 3)
    query = nested(bm, width)
    query.count()  # loads the script and learns the shards

    assert round_trips(query.count) == 1
    assert round_trips(lambda: 7 * WIDTH + 1 in query) == 1
    assert round_trips(query.to_bitmap) == 1
    # list(query) would ask len(query) first, as list() does of anything.
    assert round_trips(lambda: [*iter(query)]) == 1
    assert len(query) == len(set(query)) > 0


@pytest.mark.redis_server
def test_a_bulk_write_and_a_batch_take_one_round_trip(counted: Bitmapist) -> None:
    bm = counted
    bm.mark_events("warm", [1, 2])  # loads the write script
    ids = list(range(0, 40 * WIDTH, 2**16 + 1))

    def batch() -> None:
        with bm.batch():
            for uid in ids:
                bm.mark_event("single", uid, NOW)
                bm.mark_attribute("paid", uid)

    assert round_trips(lambda: bm.mark_events("bulk", ids, NOW)) == 1
    bm.mark_event("warm", 1)  # loads the single-mark script
    assert round_trips(lambda: bm.mark_event("one", 2**40, NOW)) == 1
    assert round_trips(lambda: bm.mark_attribute("one", 3)) == 1
    assert round_trips(batch) == 1
    assert len(bm.get_day_event("bulk", NOW)) == len(ids)
    assert set(bm.get_day_event("single", NOW)) == set(bm.get_attribute("paid"))


@given(st.binary(max_size=300), st.integers(0, 2**40))
def test_decoding_a_redis_string_reads_every_set_bit(data: bytes, base: int) -> None:
    expected = [
        base + 8 * position + bit
        for position, byte in enumerate(data)
        for bit in range(8)
        if byte & (0x80 >> bit)
    ]

    assert decode_bitmap(data, base).tolist() == expected


@given(
    st.integers(1, 4).map(lambda n: 8 * n),
    st.dictionaries(st.integers(0, 12), st.binary(max_size=4)),
)
def test_decoding_shards_reads_each_shard_at_its_place(
    width: int, strings: dict[int, bytes]
) -> None:
    """Runs of consecutive shards are decoded as one string: short strings,
    empty ones and gaps between shards must each keep every id in place."""
    strings = {shard: data[: width // 8] for shard, data in strings.items()}
    expected = [
        shard * width + 8 * position + bit
        for shard, data in sorted(strings.items())
        for position, byte in enumerate(data)
        for bit in range(8)
        if byte & (0x80 >> bit)
    ]

    decoded = decode_shards(sorted(strings.items()), width)

    assert decoded.dtype == np.uint64
    assert decoded.tolist() == expected


def test_decoding_shards_holds_memory_of_the_strings_not_the_shards() -> None:
    """A thousand consecutive shards, each holding only its first id (a
    one-byte string): the decoding must not pad each to a whole shard."""
    width = DEFAULT_SHARD_WIDTH
    strings = [(shard, b"\x80") for shard in range(1000)]
    tracemalloc.start()
    try:
        decoded = decode_shards(strings, width)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert decoded.tolist() == [shard * width for shard in range(1000)]
    assert peak < 2**20, f"{peak:,} bytes to decode 1,000 bytes of strings"


@pytest.mark.redis_server
def test_whole_bitmaps_read_alike_over_gaps_and_short_shards(
    redis_server: RedisServer,
) -> None:
    """Full shards, a short one, a gap and a lone id far away, read by
    iteration, to_numpy() and to_bitmap() through runs of shards."""
    client = redis_server.client()
    client.flushall()
    width = DEFAULT_SHARD_WIDTH
    ids = sorted(
        {*range(0, 3 * width, 3), 3 * width + 5, 5 * width, 5 * width + 9, 2**63 + 1}
    )
    bm = Bitmapist(redis_client=client)
    bm.mark_events("e", ids, NOW)
    day = bm.get_day_event("e", NOW)

    assert list(day) == ids
    assert day.to_numpy().tolist() == ids
    assert list(day.to_bitmap()) == ids
    client.close()


@pytest.mark.redis_server
def test_a_query_over_many_shards_takes_one_round_trip(counted: Bitmapist) -> None:
    """More shards than one script call covers: the calls share the round
    trip, and each run of shards is answered whole."""
    bm = counted
    ids = [n * WIDTH + n % 7 for n in range(150)]
    bm.mark_events("wide", ids, NOW)
    bm.mark_events("odd", ids[1::2], NOW)
    query = bm.get_day_event("wide", NOW) - bm.get_day_event("odd", NOW)
    query.count()

    assert round_trips(query.count) == 1
    assert round_trips(lambda: [*iter(query)]) == 1
    assert list(query) == ids[::2]
    assert len(query) == 75
