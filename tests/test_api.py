"""The API as the product description's example uses it, on every backend."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bitmapist import Bitmapist, EventBitmap

from .conftest import NOW, MakeBitmapist


def test_the_example_every_user_starts_from(bm: Bitmapist) -> None:
    last_month = NOW - timedelta(days=30)
    bm.mark_event("active", 123)
    bm.mark_event("active", 123, last_month)
    bm.mark_event("active", 7, last_month)
    bm.mark_event("song:played", 123)
    bm.mark_attribute("paid_user", 123)

    month = bm.get_month_event("active", NOW)
    active_2_months = bm.bit_op_and(bm.get_month_event("active", last_month), month)
    paid_and_active = bm.bit_op_and(active_2_months, bm.get_attribute("paid_user"))

    assert 123 in month
    assert 7 not in month
    assert month.has_events_marked()
    assert len(bm.get_week_event("active", NOW)) == 1
    assert len(active_2_months) == 1
    assert 123 in active_2_months
    assert 123 in paid_and_active
    assert list(paid_and_active) == [123]


def test_every_default_granularity_is_written_and_hour_is_not(bm: Bitmapist) -> None:
    bm.mark_event("login", 5, NOW)

    for get in (
        bm.get_day_event,
        bm.get_week_event,
        bm.get_month_event,
        bm.get_year_event,
    ):
        assert 5 in get("login", NOW)
    assert 5 not in bm.get_hour_event("login", NOW)


def test_hour_is_written_when_asked_per_call_or_per_instance(
    make_bitmapist: MakeBitmapist,
) -> None:
    per_call = make_bitmapist()
    per_instance = make_bitmapist(granularities=["hour", "day"])

    per_call.mark_event("a", 1, NOW, granularities=["hour"])
    per_instance.mark_event("b", 2, NOW)

    assert 1 in per_call.get_hour_event("a", NOW)
    assert 1 not in per_call.get_day_event("a", NOW)
    assert 2 in per_instance.get_hour_event("b", NOW)
    assert 2 not in per_instance.get_month_event("b", NOW)


def test_operators_and_nested_operations(bm: Bitmapist) -> None:
    for uid in (1, 2, 3):
        bm.mark_event("a", uid, NOW)
    for uid in (3, 4):
        bm.mark_event("b", uid, NOW)
    bm.mark_attribute("c", 2)
    a, b = bm.get_day_event("a", NOW), bm.get_day_event("b", NOW)
    c = bm.get_attribute("c")

    assert list(a & b) == [3]
    assert list(a | b) == [1, 2, 3, 4]
    assert list(a ^ b) == [1, 2, 4]
    assert list(a - b) == [1, 2]
    assert list(~a) == [4]
    assert list(bm.bit_op_or(bm.bit_op_and(a, c), bm.bit_op_xor(b, c))) == [2, 3, 4]
    assert list(bm.bit_op_not(bm.bit_op_or(a, b))) == []
    assert len(bm.bit_op_sub(a, b, c)) == 1


def test_not_complements_within_every_id_ever_marked(bm: Bitmapist) -> None:
    bm.mark_event("a", 10, NOW)
    bm.mark_attribute("x", 2**64 - 1)
    bm.mark_event("b", 11, NOW)
    bm.unmark_event("b", 11, NOW)

    assert list(~bm.get_day_event("a", NOW)) == [11, 2**64 - 1]
    assert list(~bm.get_day_event("nothing", NOW)) == [10, 11, 2**64 - 1]


def test_iteration_is_ascending_across_shards(bm: Bitmapist) -> None:
    ids = [2**64 - 1, 0, 2**63, 5, 2**20, 2**20 - 1, 2**32 + 7]
    for uid in ids:
        bm.mark_event("a", uid, NOW)

    assert list(bm.get_day_event("a", NOW)) == sorted(ids)
    assert len(bm.get_day_event("a", NOW)) == len(ids)
    assert all(uid in bm.get_year_event("a", NOW) for uid in ids)


def test_unmark_clears_every_period(bm: Bitmapist) -> None:
    bm.mark_event("a", 1, NOW)
    bm.mark_attribute("p", 1)

    bm.unmark_event("a", 1, NOW)
    bm.unmark_attribute("p", 1)

    assert 1 not in bm.get_day_event("a", NOW)
    assert 1 not in bm.get_year_event("a", NOW)
    assert 1 not in bm.get_attribute("p")
    assert not bm.get_month_event("a", NOW).has_events_marked()


def test_bulk_marking_equals_single_marks(make_bitmapist: MakeBitmapist) -> None:
    bulk = make_bitmapist()
    ids = [3, 1, 2**40, 3, 2**64 - 2]

    bulk.mark_events("bulk", ids, NOW)
    for uid in ids:
        bulk.mark_event("single", uid, NOW)

    assert list(bulk.get_week_event("bulk", NOW)) == list(
        bulk.get_week_event("single", NOW)
    )


def test_iso_weeks_cross_the_year() -> None:
    bm = Bitmapist()

    bm.mark_event("a", 1, date(2024, 12, 30))
    week = bm.get_week_event("a", date(2025, 1, 5))

    assert week.period.code == "2025-W01"
    assert 1 in week
    assert 1 not in bm.get_year_event("a", date(2025, 1, 1))
    assert 1 in bm.get_year_event("a", date(2024, 1, 1))
    assert week.period_start == datetime(2024, 12, 30, tzinfo=ZoneInfo("UTC"))
    assert week.prev().period.code == "2024-W52"


def test_aware_timestamps_are_converted_and_naive_ones_taken_as_utc() -> None:
    bm = Bitmapist(timezone="America/New_York")

    bm.mark_event("a", 1, datetime(2025, 1, 1, 3, 0, tzinfo=timezone.utc))
    bm.mark_event("a", 2, datetime(2025, 1, 1, 3, 0))
    bm.mark_event("a", 3, datetime(2025, 1, 1, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo")))

    assert list(bm.get_day_event("a", date(2024, 12, 31))) == [1, 2, 3]
    assert list(bm.get_year_event("a", date(2024, 6, 1))) == [1, 2, 3]


def test_period_navigation(bm: Bitmapist) -> None:
    day = bm.get_day_event("a", date(2024, 2, 28))

    assert isinstance(day.next(), EventBitmap)
    assert day.next().period.code == "2024-02-29"
    assert day.delta(2).period.code == "2024-03-01"
    assert day.delta(-59).period.code == "2023-12-31"
    assert day.period_end == day.next().period_start
    month = bm.get_month_event("a", date(2024, 1, 31))
    assert month.delta(-1).period.code == "2023-12"
    assert month.delta(13).period.code == "2025-02"
    assert bm.get_year_event("a", date(2024, 5, 5)).prev().period.code == "2023"


def test_hours_follow_instants_over_daylight_saving() -> None:
    bm = Bitmapist(timezone="Europe/Berlin")
    before = datetime(2025, 3, 30, 0, 30, tzinfo=timezone.utc)  # 01:30 local

    hour = bm.get_hour_event("a", before)

    assert hour.period.code == "2025-03-30T01"
    assert hour.next().period.code == "2025-03-30T03"
    assert hour.next().prev().period.code == "2025-03-30T01"


def test_names_and_deletion(bm: Bitmapist) -> None:
    bm.mark_event("b", 1, NOW)
    bm.mark_event("a", 2**63, NOW)
    bm.mark_event("a:sub", 3, NOW - timedelta(days=400))
    bm.mark_attribute("paid", 1)

    assert bm.get_event_names() == ["a", "a:sub", "b"]
    assert bm.get_attribute_names() == ["paid"]

    bm.delete_event("a")

    assert bm.get_event_names() == ["a:sub", "b"]
    assert not bm.get_day_event("a", NOW).has_events_marked()
    assert 3 in bm.get_year_event("a:sub", NOW - timedelta(days=400))

    bm.delete_all()

    assert bm.get_event_names() == []
    assert bm.get_attribute_names() == []
    assert len(bm.get_universe()) == 0


def test_two_instances_over_one_store_see_each_other(
    make_bitmapist: MakeBitmapist,
) -> None:
    writer, reader = make_bitmapist(), make_bitmapist()
    assert len(reader.get_day_event("a", NOW)) == 0

    writer.mark_event("a", 2**50, NOW)

    assert len(reader.get_day_event("a", NOW)) == 1
    assert list(reader.get_day_event("a", NOW)) == [2**50]


def test_to_numpy_and_to_bitmap(bm: Bitmapist) -> None:
    bm.mark_events("a", [9, 2**64 - 1, 4], NOW)
    day = bm.get_day_event("a", NOW)

    assert day.to_numpy().tolist() == [4, 9, 2**64 - 1]
    assert list(day.to_bitmap()) == [4, 9, 2**64 - 1]


def test_from_url_memory() -> None:
    bm = Bitmapist.from_url("memory://")

    bm.mark_event("a", 1)

    assert 1 in bm.get_day_event("a")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "Pacific/Chatham"])
def test_date_input_names_the_local_calendar_day(zone: str) -> None:
    bm = Bitmapist(timezone=zone)

    bm.mark_event("a", 1, date(2025, 3, 1))

    assert bm.get_day_event("a", date(2025, 3, 1)).period.code == "2025-03-01"
    assert 1 in bm.get_day_event("a", date(2025, 3, 1))
    assert 1 in bm.get_month_event("a", date(2025, 3, 31))


def test_a_wall_time_the_zone_skips_is_normalised() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    bm = Bitmapist(timezone=berlin)
    skipped = datetime(2025, 3, 30, 2, 30, tzinfo=berlin)  # clocks go 02:00 -> 03:00

    bm.mark_event("a", 1, skipped, granularities=["hour"])

    hour = bm.get_hour_event("a", skipped)
    assert hour.period.code == "2025-03-30T03"
    assert 1 in hour
