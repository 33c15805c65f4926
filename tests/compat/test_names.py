"""Event names, found by SCAN as 3.x finds them."""

from __future__ import annotations

from datetime import datetime

import bitmapist
from bitmapist import BitOpAnd, MonthEvents


def test_every_marked_event_is_named_once(system: str) -> None:
    bitmapist.mark_event("active", 1, now=datetime(2025, 1, 2), track_hourly=True)
    bitmapist.mark_event("song:played", 1, now=datetime(2025, 1, 2))
    bitmapist.mark_unique("paid", 1)

    assert sorted(bitmapist.get_event_names()) == ["active", "paid", "song:played"]


def test_bit_operation_keys_are_left_out(system: str) -> None:
    bitmapist.mark_event("a", 1, now=datetime(2025, 1, 2))
    BitOpAnd(MonthEvents("a", 2025, 1), MonthEvents("a", 2025, 1))

    assert bitmapist.get_event_names() == ["a"]


def test_a_prefix_narrows_the_names(system: str) -> None:
    for name in ("song:played", "song:skipped", "signup"):
        bitmapist.mark_unique(name, 1)

    found = bitmapist.get_event_names(prefix="song", batch=1)

    assert sorted(found) == ["song:played", "song:skipped"]


def test_a_name_runs_to_the_keys_last_underscore(system: str) -> None:
    for uuid, day in ((1, 2), (2, 3)):
        bitmapist.mark_event("x_y_z", uuid, now=datetime(2025, 1, day))

    assert bitmapist.get_event_names() == ["x_y_z"]


def test_names_are_per_system(system: str) -> None:
    bitmapist.mark_unique("here", 1)
    bitmapist.mark_unique("there", 1, system="other")

    assert bitmapist.get_event_names() == ["here"]
    assert bitmapist.get_event_names(system="other") == ["there"]


def test_no_events_no_names(system: str) -> None:
    assert bitmapist.get_event_names() == []
