"""Deleting: one key, every event, or the bit-operation keys."""

from __future__ import annotations

from datetime import datetime

import bitmapist
from bitmapist import BitOpOr, DayEvents, MonthEvents, UniqueEvents, YearEvents

from .conftest import Keyspace

WHEN = datetime(2025, 1, 15)


def test_delete_removes_one_key(system: str, keyspace: Keyspace) -> None:
    bitmapist.mark_event("a", 1, now=WHEN)

    MonthEvents("a", 2025, 1).delete()

    assert set(keyspace()) == {"trackist_a_W2025-3", "trackist_a_2025-1-15"}
    assert len(MonthEvents("a", 2025, 1)) == 0
    assert 1 in DayEvents("a", 2025, 1, 15)


def test_a_deleted_key_can_be_marked_again(system: str) -> None:
    bitmapist.mark_event("a", 1, now=WHEN)
    MonthEvents("a", 2025, 1).delete()

    bitmapist.mark_event("a", 2, now=WHEN)

    assert list(MonthEvents("a", 2025, 1)) == [2]


def test_delete_all_events_removes_every_trackist_key(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_event("a", 1, now=WHEN, track_unique=True)
    BitOpOr(MonthEvents("a", 2025, 1), UniqueEvents("a"))
    YearEvents("a", 2025)
    bitmapist.mark_event("kept", 1, system="other", now=WHEN)

    bitmapist.delete_all_events()

    assert keyspace() == {}
    assert bitmapist.get_event_names() == []
    assert bitmapist.get_event_names(system="other") == ["kept"]


def test_delete_temporary_bitop_keys_keeps_the_events(
    system: str, keyspace: Keyspace
) -> None:
    bitmapist.mark_event("a", 1, now=WHEN)
    union = BitOpOr(MonthEvents("a", 2025, 1), DayEvents("a", 2025, 1, 15))
    year = YearEvents("a", 2025)

    bitmapist.delete_temporary_bitop_keys()

    assert set(keyspace()) == {
        "trackist_a_2025-1",
        "trackist_a_W2025-3",
        "trackist_a_2025-1-15",
    }
    assert len(union) == 0 and len(year) == 0


def test_deleting_a_bit_operation_leaves_its_operands(system: str) -> None:
    bitmapist.mark_event("a", 1, now=WHEN)
    union = BitOpOr(MonthEvents("a", 2025, 1))

    union.delete()

    assert list(MonthEvents("a", 2025, 1)) == [1]
