"""Workload 5: on RoaringBackend, the count of A AND B and the bulk add of
1,000,000 ids, against raw pyroaring doing the same work."""

from __future__ import annotations

import array
from datetime import datetime, timezone

import numpy as np
from pyroaring import BitMap64
from speed import Context, Row

from bitmapist import Bitmapist

from .common import best, month_size, sample, times

NOVEMBER = datetime(2024, 11, 1, tzinfo=timezone.utc)
DECEMBER = datetime(2024, 12, 1, tzinfo=timezone.utc)
BITMAPS = 5  # mark_events writes day, week, month, year and the universe


def run(context: Context) -> list[Row]:
    n, population = month_size(context.short)
    repeat = 3 if context.short else 10
    first = np.array(sample(1, population, n), dtype=np.uint64)
    second = np.array(sample(2, population, n), dtype=np.uint64)

    def ours_add() -> None:
        Bitmapist().mark_events("active", first, NOVEMBER)

    def raw_add() -> None:
        # pyroaring's fastest input, then the same five bitmaps filled.
        built = BitMap64(array.array("Q", first.tobytes()))
        for target in [BitMap64() for _ in range(BITMAPS)]:
            target |= built

    bm = Bitmapist()
    bm.mark_events("active", first, NOVEMBER)
    bm.mark_events("active", second, DECEMBER)
    a, b = (
        bm.get_month_event("active", NOVEMBER),
        bm.get_month_event("active", DECEMBER),
    )
    raw_a, raw_b = a.to_bitmap(), b.to_bitmap()
    assert len(a & b) == raw_a.intersection_cardinality(raw_b)

    ours_count = best(lambda: len(a & b), repeat * 20)
    raw_count = best(lambda: raw_a.intersection_cardinality(raw_b), repeat * 20)
    ours_bulk = best(ours_add, repeat)
    raw_bulk = best(raw_add, repeat)

    return [
        times(
            "5 Roaring: len(a & b)",
            ours_count,
            raw_count,
            "<=",
            1.5,
            "raw pyroaring",
        ),
        times(
            "5 Roaring: mark_events of 1M ids",
            ours_bulk,
            raw_bulk,
            "<=",
            1.5,
            "raw pyroaring",
        ),
    ]
