"""Workload 4: list(x) of a bitmap of 1,000,000 ids, against 3.119's
list(get_uuids()) of the same ids."""

from __future__ import annotations

from datetime import datetime, timezone

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

REFERENCE = (
    REFERENCE_LOAD
    + """
from bitmapist import MonthEvents
month = MonthEvents("active", 2024, 11)
load(month.redis_key, sample(3, ARGS["population"], ARGS["n"]))
ids = timed("list", lambda: list(month.get_uuids()), repeat=ARGS["repeat"])
RESULTS["n"] = len(ids)
"""
)


def run(context: Context) -> list[Row]:
    n, population = month_size(context.short)
    repeat = 1 if context.short else 3
    client = context.server.client()
    client.flushall()
    bm = Bitmapist(redis_client=client)
    ids = sample(3, population, n)
    bm.mark_events("active", ids, NOVEMBER)
    month = bm.get_month_event("active", NOVEMBER)
    assert list(month) == sorted(ids)

    ours = best(lambda: list(month), repeat)
    # The floor of any list(x): making the ints, in this process, as often.
    ints = best(lambda: list(range(n)), repeat)
    timings = run_reference(REFERENCE, context.server.port, n, population, repeat)
    assert timings["n"] == n
    theirs = timings["list"]
    client.flushall()

    return [
        times(
            "4 list(x) of 1M ids",
            ours,
            theirs,
            ">=",
            20,
            "3.119",
        ),
        Row(
            f"4 floor: list(range({n:,}))",
            f"{duration(ints)} vs 3.119 {duration(theirs)}",
            theirs / ints,
        ),
    ]
