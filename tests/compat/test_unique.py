"""Unique events: the time-independent bitmap of an event."""

from __future__ import annotations

from datetime import datetime

import bitmapist
from bitmapist import MonthEvents, UniqueEvents

from .conftest import Keyspace


def test_mark_unique_sets_the_unique_bitmap_only(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_unique("paid", 5)

    assert keyspace() == {"trackist_paid_u": b"\x04"}
    assert list(UniqueEvents("paid")) == [5]


def test_unmark_unique_clears_the_bit(system: str, keyspace: Keyspace) -> None:
    bitmapist.mark_unique("paid", 5)
    bitmapist.mark_unique("paid", 6)

    bitmapist.unmark_unique("paid", 5)

    assert keyspace() == {"trackist_paid_u": b"\x02"}
    assert 5 not in UniqueEvents("paid") and 6 in UniqueEvents("paid")


def test_tracked_marks_and_mark_unique_share_one_bitmap(system: str) -> None:
    bitmapist.mark_unique("played", 1)
    bitmapist.mark_event("played", 2, now=datetime(2024, 3, 1), track_unique=True)
    bitmapist.mark_event("played", 3, now=datetime(2025, 3, 1))

    assert list(UniqueEvents("played")) == [1, 2]


def test_unique_events_combine_with_periods(system: str) -> None:
    bitmapist.mark_unique("paid", 2)
    for uuid in (1, 2):
        bitmapist.mark_event("active", uuid, now=datetime(2025, 1, 2))

    paid_and_active = UniqueEvents("paid") & MonthEvents("active", 2025, 1)

    assert list(paid_and_active) == [2]
    assert paid_and_active.redis_key == (
        "trackist_bitop_AND_trackist_paid_u-trackist_active_2025-1"
    )


def test_unique_events_on_another_system(system: str) -> None:
    bitmapist.mark_unique("paid", 9, system="other")

    assert list(UniqueEvents("paid", system="other")) == [9]
    assert list(UniqueEvents("paid")) == []
