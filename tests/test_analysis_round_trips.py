"""A 30 x 30 daily table on Redis costs a bounded number of round trips,
counted on the wire by a connection class that tallies every send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
import redis

from bitmapist import Bitmapist
from bitmapist.testing import RedisServer

from .counting import CountingConnection

pytestmark = pytest.mark.redis_server

START = date(2025, 3, 1)


@pytest.fixture
def counted(redis_server: RedisServer) -> Iterator[Bitmapist]:
    pool = redis.ConnectionPool(
        host="127.0.0.1", port=redis_server.port, connection_class=CountingConnection
    )
    client = redis.Redis(connection_pool=pool)
    client.flushall()
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    bm = Bitmapist(redis_client=client, clock=lambda: now)
    rng = np.random.default_rng(3)
    # Ids in three shards, so that a round trip per shard would show.
    ids = np.concatenate([np.arange(300), np.arange(2**20, 2**20 + 300), [2**40]])
    for offset in range(60):
        day = START + timedelta(days=offset)
        bm.mark_events("signup", ids[rng.random(ids.size) < 0.05], day)
        bm.mark_events("active", ids[rng.random(ids.size) < 0.3], day)
    yield bm
    client.close()


def round_trips(bm: Bitmapist, size: int) -> int:
    before = CountingConnection.sends
    table = bm.cohort(
        "signup", "active", by="day", start=START, cohorts=size, periods=size
    )
    assert all(cell is not None for row in table.counts for cell in row)
    return CountingConnection.sends - before


def test_a_30_by_30_table_takes_one_round_trip(counted: Bitmapist) -> None:
    first = round_trips(counted, 30)
    again = round_trips(counted, 30)
    small = round_trips(counted, 3)

    # The first query of a new instance learns the shards in a second one.
    assert first <= 2
    assert again == 1
    assert small == 1


def test_counts_over_the_wire_equal_counts_in_process(counted: Bitmapist) -> None:
    table = counted.cohort(
        "signup", "active", by="day", start=START, cohorts=5, periods=5
    )

    for i, period in enumerate(table.periods):
        group = counted.get_day_event("signup", period.start)
        assert table.sizes[i] == len(group)
        for j in range(5):
            later = counted.get_day_event("active", period.start + timedelta(days=j))
            assert table.counts[i][j] == len(group & later)
