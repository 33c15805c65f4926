"""Bulk marking and ``with bm.batch():`` give the bitmaps single marks give,
on every backend, and a cut connection leaves every event whole or absent."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from bitmapist import Bitmapist, BitmapistError, Granularity, RedisBackend
from bitmapist.backends.base import Write
from bitmapist.backends.keys import DEFAULT_SHARD_WIDTH, ShardedLayout
from bitmapist.backends.redis_writes import Costs, plan
from bitmapist.expressions import BitmapRef, Kind
from bitmapist.testing import RedisServer

from .conftest import NOW
from .proxy import CuttingProxy

WIDTH = DEFAULT_SHARD_WIDTH
# Ids at the edges of shards, anywhere, and at the top of the range.
IDS = st.one_of(
    st.integers(0, 40),
    st.integers(WIDTH - 20, WIDTH + 20),
    st.integers(5 * WIDTH - 3, 5 * WIDTH + 3),
    st.integers(2**64 - 30, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)
# Instants around midnight and new year in UTC, New York and Kolkata: the
# periods they fall in differ by zone, and a batch crosses days, weeks,
# months and the year.
INSTANTS = st.datetimes(
    min_value=datetime(2024, 12, 31, 16), max_value=datetime(2025, 1, 1, 8)
).map(lambda when: when.replace(tzinfo=timezone.utc))
ZONES = st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"])
EVENTS = st.lists(st.tuples(IDS, INSTANTS), max_size=40)
ALL = list(Granularity)
# A budget so small that every shard's work is cut into many units, and
# bitmaps are built on the client even for a few bits.
TINY = Costs(unit_budget_us=8.0, per_bit_us=1.0, per_bitmap_us=0.5)

per_example = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _with_budget(bm: Bitmapist, zone: str, costs: Costs | None) -> Bitmapist:
    """An instance over the same store in ``zone``; on Redis, writing with
    ``costs`` when given."""
    backend = bm.backend
    if costs is not None and isinstance(backend, RedisBackend):
        backend = RedisBackend(backend.client, write_costs=costs)
    return Bitmapist(backend=backend, timezone=zone, granularities=ALL)


@per_example
@given(
    events=EVENTS,
    zone=ZONES,
    tiny=st.booleans(),
    how=st.sampled_from(["mark_events", "batch of mark_event", "batch of both"]),
)
def test_bulk_and_batched_marks_equal_single_marks(
    bm: Bitmapist, events: list[tuple[int, datetime]], zone: str, tiny: bool, how: str
) -> None:
    bm.delete_all()
    store = _with_budget(bm, zone, TINY if tiny else None)
    by_instant: dict[datetime, list[int]] = defaultdict(list)
    for uid, when in events:
        by_instant[when].append(uid)

    for uid, when in events:
        store.mark_event("single", uid, when)
    if how == "mark_events":
        for when, ids in by_instant.items():
            store.mark_events("bulk", np.array(ids, dtype=np.uint64), when)
    else:
        with store.batch():
            for number, (when, ids) in enumerate(by_instant.items()):
                if how == "batch of both" and number % 2:
                    store.mark_events("bulk", ids, when)
                else:
                    for uid in ids:
                        store.mark_event("bulk", uid, when)

    periods = {
        store.get_event("bulk", granularity, when).period
        for when in by_instant
        for granularity in ALL
    }
    for period in periods:
        single = store.get_event("single", period.granularity, period.start)
        bulk = store.get_event("bulk", period.granularity, period.start)
        assert bulk.to_bitmap() == single.to_bitmap()
    assert set(store.get_universe()) == {uid for uid, _ in events}


def test_repeated_ids_and_every_period_in_one_call(bm: Bitmapist) -> None:
    ids = [7, 7, 2**33, 7, 2**33, 0]

    bm.mark_events("login", ids, NOW)

    for granularity in ("day", "week", "month", "year"):
        assert list(bm.get_event("login", granularity, NOW)) == [0, 7, 2**33]


def test_a_batch_is_sent_when_it_ends_and_not_before(bm: Bitmapist) -> None:
    with bm.batch():
        bm.mark_event("a", 1)
        bm.mark_attribute("paid", 1)
        with bm.batch():
            bm.mark_events("a", [2, 3])
        assert 1 not in bm.get_day_event("a")

    assert list(bm.get_day_event("a")) == [1, 2, 3]
    assert list(bm.get_attribute("paid")) == [1]


def test_a_batch_that_raises_writes_nothing(bm: Bitmapist) -> None:
    with pytest.raises(KeyError), bm.batch():
        bm.mark_event("a", 1)
        raise KeyError("the caller's own failure")

    assert len(bm.get_universe()) == 0
    assert bm.get_event_names() == []


def test_bad_input_in_a_batch_fails_at_the_call(bm: Bitmapist) -> None:
    with bm.batch():
        bm.mark_event("a", 1)
        with pytest.raises(BitmapistError):
            bm.mark_event("a", -1)

    assert list(bm.get_day_event("a")) == [1]


def test_a_mark_and_an_unmark_in_one_batch_keep_their_order(bm: Bitmapist) -> None:
    with bm.batch():
        bm.mark_event("a", 1, NOW)
        bm.unmark_event("a", 1, NOW)
        bm.mark_event("a", 2, NOW)
        bm.unmark_event("a", 3, NOW)
        bm.mark_event("a", 3, NOW)

    assert list(bm.get_day_event("a", NOW)) == [2, 3]


@settings(max_examples=60)
@given(
    writes=st.lists(
        st.tuples(
            st.lists(st.integers(0, 8 * 64 - 1), min_size=1, max_size=30),
            st.sets(st.integers(0, 5), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_event_lies_whole_in_one_unit(
    writes: list[tuple[list[int], set[int]]],
) -> None:
    """The planner's promise, checked on its output: each id of each write
    has its bit for every ref of the write in one and the same unit."""
    layout = ShardedLayout(shard_width=64)
    batch = [
        Write(
            tuple(BitmapRef(Kind.ATTRIBUTE, f"a{n}") for n in sorted(names)),
            np.array(ids, dtype=np.uint64),
            True,
        )
        for ids, names in writes
    ]

    units = list(plan(layout, batch, TINY).units)

    for write in batch:
        for uid in write.ids.tolist():
            shard, offset = layout.shard_of(uid)
            keys = {layout.bitmap_key(ref, shard) for ref in write.refs}
            holding = [
                unit
                for unit in units
                if unit.shard == shard and keys & set(_bits_of(unit, offset))
            ]
            assert len(holding) >= 1
            assert any(keys <= set(_bits_of(unit, offset)) for unit in holding)


def _bits_of(unit: object, offset: int) -> list[str]:
    """The keys of ``unit`` that it would set ``offset`` in."""
    found = []
    scratch = dict(unit.scratch)  # type: ignore[attr-defined]
    keys, args = unit.keys, unit.args  # type: ignore[attr-defined]
    for i in range(0, len(args), 2):
        op = args[i][0]
        targets = [keys[int(index) - 1] for index in args[i][1:].split(",")]
        if op == "1":
            offsets = np.frombuffer(args[i + 1], dtype="<u4").tolist()
            if offset in offsets:
                found += targets
        elif op == "|":
            bitmap = scratch[keys[args[i + 1] - 1]]
            byte = offset >> 3
            if byte < len(bitmap) and bitmap[byte] & (0x80 >> (offset & 7)):
                found += targets
    return found


@pytest.mark.redis_server
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.4, 0.55, 0.7, 0.85])
def test_a_cut_connection_leaves_every_event_whole_or_absent(
    redis_server: RedisServer, fraction: float
) -> None:
    direct = redis_server.client()
    direct.flushall()
    days = [NOW - timedelta(days=n) for n in range(3)]
    # Each id does the event on one day only, so that whether its event was
    # written can be read from the week, month, year and universe too.
    ids = np.unique(np.random.default_rng(7).integers(0, 2**16, 9000))
    ids_of = {day: ids[ids % 3 == n] for n, day in enumerate(days)}

    def run(port: int) -> None:
        # No retries: a retry would find the proxy closed anyway.
        client = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
        backend = RedisBackend(
            client, shard_width=2**12, write_costs=Costs(unit_budget_us=30.0)
        )
        store = Bitmapist(backend=backend)
        with store.batch():
            for day, day_ids in ids_of.items():
                store.mark_events("visit", day_ids, day)
        client.close()

    proxy = CuttingProxy(redis_server.port)
    run(proxy.port)
    total = proxy.forwarded
    proxy.close()
    direct.flushall()

    proxy = CuttingProxy(redis_server.port)
    proxy.cut_after(int(total * fraction))
    with pytest.raises(BitmapistError):
        run(proxy.port)
    proxy.close()

    reader = Bitmapist(backend=RedisBackend(direct, shard_width=2**12))
    whole = absent = 0
    for day, day_ids in ids_of.items():
        bitmaps = [
            reader.get_event("visit", g, day).to_bitmap()
            for g in ("day", "week", "month", "year")
        ]
        bitmaps.append(reader.get_universe().to_bitmap())
        for uid in day_ids.tolist():
            found = [uid in bitmap for bitmap in bitmaps]
            assert all(found) or not any(found), (uid, day, found)
            whole += all(found)
            absent += not any(found)
    assert whole and absent, "the cut should fall inside the batch"
    assert not list(direct.scan_iter(match="*:tmp:*"))


@pytest.mark.parametrize("dense", [False, True])
def test_a_key_of_the_wrong_type_fails_the_write_and_writes_nothing(
    bm: Bitmapist, dense: bool
) -> None:
    if not isinstance(bm.backend, RedisBackend):
        pytest.skip("only Redis keys can hold another type")
    client = bm.backend.client
    if isinstance(client, redis.RedisCluster):
        pytest.skip(
            "on a cluster writes go through per-shard MULTIs of SETBIT, which do "
            "not check types first (RedisBackend._write_per_shard)"
        )
    bm.mark_events("visit", [1, 2], NOW)
    week = bm.get_week_event("visit", NOW).ref
    client.delete(bm.backend.layout.bitmap_key(week, 0))
    client.rpush(bm.backend.layout.bitmap_key(week, 0), "not a bitmap")
    # All in shard 0, the shard of the broken key: a unit of another shard
    # would be written, rightly, since its events are whole there.
    ids = list(range(0, WIDTH, 3)) if dense else [3, 4]
    # A bitmap of the write that does not exist yet: it must not be left behind.
    client.delete(bm.backend.layout.bitmap_key(bm.get_day_event("visit", NOW).ref, 0))
    before = {key: client.dump(key) for key in client.scan_iter()}

    with pytest.raises(BitmapistError, match="WRONGTYPE"):
        bm.mark_events("visit", ids, NOW)

    assert {key: client.dump(key) for key in client.scan_iter()} == before
    assert list(bm.get_universe()) == [1, 2]
