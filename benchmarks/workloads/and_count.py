"""Workload 3: the count of (month A AND month B), each month with 1,000,000
users in a 4,000,000 id range: one round trip and no key left behind, then
the same with the closed-period cache on; against 3.119's BitOpAnd."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from memory import width_name
from speed import Context, Row

from bitmapist import Bitmapist

from .common import (
    REFERENCE_LOAD,
    best,
    duration,
    month_size,
    run_reference,
    sample,
    times,
)

NOVEMBER = datetime(2024, 11, 1, tzinfo=timezone.utc)
DECEMBER = datetime(2024, 12, 1, tzinfo=timezone.utc)

REFERENCE = (
    REFERENCE_LOAD
    + """
from bitmapist import BitOpAnd, MonthEvents
n, population = ARGS["n"], ARGS["population"]
load(MonthEvents("active", 2024, 11).redis_key, sample(1, population, n))
load(MonthEvents("active", 2024, 12).redis_key, sample(2, population, n))
def count():
    november = MonthEvents("active", 2024, 11)
    december = MonthEvents("active", 2024, 12)
    return len(BitOpAnd(november, december))
RESULTS["count"] = timed("and", count, repeat=ARGS["repeat"])
"""
)


# Wider shards than the default, for the trade-off the README describes: a
# query over fewer shards does fewer commands, but a lone id costs a bigger
# string and a small population spreads over fewer cluster nodes.
WIDER = (2**17 - 48, 2**18 - 48, 2**20 - 80)


def mean_round_trip(client: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        client.ping()
    return (time.perf_counter() - started) / calls


def at_width(client: Any, width: int, n: int, population: int) -> Callable[[], int]:
    """The count of the same query over bitmaps of shards of ``width`` ids."""
    client.flushall()
    bm = Bitmapist(redis_client=client, shard_width=width)
    bm.mark_events("active", sample(1, population, n), NOVEMBER)
    bm.mark_events("active", sample(2, population, n), DECEMBER)
    november = bm.get_month_event("active", NOVEMBER)
    return (november & bm.get_month_event("active", DECEMBER)).count


def run(context: Context) -> list[Row]:
    n, population = month_size(context.short)
    repeat = 5 if context.short else 30
    client = context.server.client()
    client.flushall()
    bm = Bitmapist(redis_client=client)
    bm.mark_events("active", sample(1, population, n), NOVEMBER)
    bm.mark_events("active", sample(2, population, n), DECEMBER)
    query = bm.get_month_event("active", NOVEMBER) & bm.get_month_event(
        "active", DECEMBER
    )
    expected = len(set(sample(1, population, n)) & set(sample(2, population, n)))
    assert len(query) == expected
    keys = client.dbsize()

    ours = best(query.count, repeat)
    assert client.dbsize() == keys, "a query left a key behind"
    cached = Bitmapist(redis_client=client, cache=2**28)
    cached_query = cached.get_month_event("active", NOVEMBER) & cached.get_month_event(
        "active", DECEMBER
    )
    assert len(cached_query) == expected  # fetches the two months once
    ours_cached = best(cached_query.count, repeat)
    cached.close()
    wider = {}
    for width in WIDER:
        count = at_width(client, width, n, population)
        assert count() == expected
        wider[width] = best(count, repeat)

    client.config_resetstat()
    timings = run_reference(REFERENCE, context.server.port, n, population, repeat)
    assert timings["count"] == expected
    theirs = timings["and"]
    # The floor of any one-round-trip count: the server's own BITOP and
    # BITCOUNT over 3.119's keys and one round trip that does nothing, each
    # the mean of its calls (commandstats gives no best).
    stats = client.info("commandstats")
    server = sum(stats[f"cmdstat_{c}"]["usec_per_call"] for c in ("bitop", "bitcount"))
    floor = server / 1e6 + mean_round_trip(client, 1000)
    client.flushall()

    return [
        times(
            "3 count(A AND B), 1 round trip",
            ours,
            theirs,
            "<=",
            0.8,
            "3.119",
        ),
        times(
            "3 count(A AND B), cache on",
            ours_cached,
            theirs,
            "<=",
            0.1,
            "3.119",
        ),
        Row(
            "3 floor: 3.119's BITOP+BITCOUNT, 1 PING (means)",
            f"{duration(floor)} vs 3.119 {duration(theirs)}",
            floor / theirs,
        ),
        *(
            Row(
                f"3 count(A AND B), shard width {width_name(width)}",
                f"{duration(seconds)} vs 3.119 {duration(theirs)}",
                seconds / theirs,
            )
            for width, seconds in wider.items()
        ),
    ]
