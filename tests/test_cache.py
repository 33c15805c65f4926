"""The closed-period cache never serves a stale answer, and saves the round
trips it promises.

Every test reads through a cached instance and checks it against Redis read
without a cache, after writes from the same instance and from another client.
Redis is asked first: a write by another connection is seen once the server
has served any later command (which the uncached read is), the promise
bitmapist.cache documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitmapist import Bitmap, Bitmapist, ConfigurationError
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH
from bitmapist.testing import RedisServer

from .conftest import NOW, fixed_clock
from .counting import CountingConnection
from .test_round_trips import round_trips

pytestmark = pytest.mark.redis_server

DECEMBER = datetime(2024, 12, 10, tzinfo=timezone.utc)
NOVEMBER = datetime(2024, 11, 10, tzinfo=timezone.utc)
WIDTH = DEFAULT_SHARD_WIDTH


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.client().flushall()
    return redis_server


def instance(server: RedisServer, **options: Any) -> Bitmapist:
    pool = redis.ConnectionPool(
        host="127.0.0.1", port=server.port, connection_class=CountingConnection
    )
    return Bitmapist(
        redis_client=redis.Redis(connection_pool=pool), clock=fixed_clock, **options
    )


@pytest.fixture
def cached(server: RedisServer) -> Iterator[Bitmapist]:
    bm = instance(server, cache=2**24)
    yield bm
    bm.close()


@pytest.fixture
def other(server: RedisServer) -> Iterator[Bitmapist]:
    """Another client, with no cache: its writes reach the cached instance
    only through Redis."""
    bm = instance(server)
    yield bm
    bm.close()


def both_months(bm: Bitmapist) -> Bitmap:
    return bm.get_month_event("active", NOVEMBER) & bm.get_month_event(
        "active", DECEMBER
    )


def answers(bm: Bitmapist) -> tuple[int, list[int], bool]:
    query = both_months(bm)
    return len(query), list(query.to_numpy().tolist()), 5 in query


def test_a_repeated_query_on_closed_periods_needs_no_round_trip(
    cached: Bitmapist,
) -> None:
    cached.mark_events("active", [1, 2, 3], NOVEMBER)
    cached.mark_events("active", [2, 3, 4], DECEMBER)
    query = both_months(cached)
    assert len(query) == 2

    assert round_trips(query.count) == 0
    assert round_trips(lambda: 3 in query) == 0
    assert list(query) == [2, 3]


def test_an_open_period_goes_to_redis(cached: Bitmapist, other: Bitmapist) -> None:
    cached.mark_event("active", 1, NOW)
    now = cached.get_month_event("active", NOW)
    assert len(now) == 1

    other.mark_event("active", 2, NOW)

    assert round_trips(now.count) == 1
    assert len(now) == 2


@pytest.mark.parametrize("writer", ["same", "other"])
@pytest.mark.parametrize(
    "change",
    [
        "mark",
        "unmark",
        "bulk load",
        "batch",
        "new shard",
        "delete event",
        "delete all",
        "flushall",
    ],
)
def test_every_change_to_a_cached_period_is_seen_by_the_next_query(
    cached: Bitmapist, other: Bitmapist, writer: str, change: str
) -> None:
    cached.mark_events("active", [1, 2, 3, 5], NOVEMBER)
    cached.mark_events("active", [2, 3, 5], DECEMBER)
    before = answers(cached)
    assert before == answers(other)
    bm = cached if writer == "same" else other

    if change == "mark":
        bm.mark_event("active", 1, DECEMBER)
    elif change == "unmark":
        bm.unmark_event("active", 5, DECEMBER)
    elif change == "bulk load":
        bm.mark_events("active", range(1, 2000), DECEMBER)
    elif change == "batch":
        with bm.batch():
            bm.mark_event("active", 1, DECEMBER)
            bm.unmark_event("active", 2, NOVEMBER)
    elif change == "new shard":
        bm.mark_events("active", [9 * WIDTH], NOVEMBER)
        bm.mark_events("active", [9 * WIDTH], DECEMBER)
    elif change == "delete event":
        bm.delete_event("active")
    elif change == "delete all":
        bm.delete_all()
    else:
        bm.backend.client.flushall()  # type: ignore[attr-defined]

    # Redis's answer first: the invalidation of another client's write is on
    # its way once any later command has been served (see bitmapist.cache).
    truth = answers(other)
    after = answers(cached)
    assert after == truth
    assert after != before


def test_the_cache_survives_losing_its_connections(
    cached: Bitmapist, other: Bitmapist, server: RedisServer
) -> None:
    cached.mark_events("active", [1, 2], NOVEMBER)
    cached.mark_events("active", [1, 2], DECEMBER)
    assert answers(cached)[0] == 2

    _kill_cache_connections(server)
    other.mark_event("active", 3, NOVEMBER)
    other.mark_event("active", 3, DECEMBER)

    truth = answers(other)
    assert answers(cached) == truth
    assert truth[0] == 3


def test_the_cache_stays_within_its_bytes(server: RedisServer) -> None:
    small = instance(server, cache=40_000)
    other = instance(server)
    months = [datetime(2024, m, 5, tzinfo=timezone.utc) for m in range(1, 13)]
    for month in months:
        small.mark_events("big", range(0, 200_000, 3), month)

    for month in months:
        query = small.get_month_event("big", month)
        assert len(query) == len(other.get_month_event("big", month))
        assert small._cache is not None and small._cache.size <= 40_000
    small.close()
    other.close()


def test_the_cache_is_for_redis_servers() -> None:
    with pytest.raises(ConfigurationError, match="cache"):
        Bitmapist(cache=2**20)
    with pytest.raises(ConfigurationError, match="cache"):
        Bitmapist(redis_client=redis.Redis(), cache="big")  # type: ignore[arg-type]
    fake = Bitmapist(redis_client=fakeredis.FakeRedis(), cache=2**20, clock=fixed_clock)
    with pytest.raises(ConfigurationError, match="CLIENT TRACKING"):
        len(fake.get_month_event("active", NOVEMBER))


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["same", "other"]),
        st.sampled_from(["mark", "unmark", "bulk", "delete", "query"]),
        st.sampled_from([NOVEMBER, DECEMBER]),
        st.integers(0, 3 * WIDTH),
    ),
    max_size=25,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_interleaved_writers_never_see_a_stale_answer(
    cached: Bitmapist,
    other: Bitmapist,
    operations: list[tuple[str, str, datetime, int]],
) -> None:
    other.delete_all()
    for who, what, month, uid in operations:
        bm = cached if who == "same" else other
        if what == "mark":
            bm.mark_event("active", uid, month)
        elif what == "unmark":
            bm.unmark_event("active", uid, month)
        elif what == "bulk":
            bm.mark_events("active", range(uid, uid + 50, 7), month)
        elif what == "delete":
            bm.delete_event("active")
        truth = answers(other)
        assert answers(cached) == truth


def _kill_cache_connections(server: RedisServer) -> None:
    """Cut the connections that track keys, as a failover or a restart would."""
    client = server.client()
    for entry in client.client_list():
        if "t" in entry["flags"]:
            client.client_kill_filter(_id=entry["id"])
    client.close()


def test_a_cohort_table_of_closed_days_is_answered_in_process(
    cached: Bitmapist, other: Bitmapist
) -> None:
    for day in range(1, 8):
        when = datetime(2024, 12, day, tzinfo=timezone.utc)
        cached.mark_events("signup", range(day * 10, day * 10 + 10), when)
        cached.mark_events("active", range(0, 100, day), when)

    def table(bm: Bitmapist) -> list[list[int | None]]:
        start = datetime(2024, 12, 1, tzinfo=timezone.utc)
        return bm.cohort(
            "signup", "active", by="day", start=start, cohorts=7, periods=7
        ).counts

    first = table(cached)

    assert round_trips(lambda: table(cached)) == 0
    other.mark_event("active", 11, datetime(2024, 12, 3, tzinfo=timezone.utc))
    truth = table(other)
    assert table(cached) == truth != first
