"""The period classes: their keys, numbers, navigation and reading."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import bitmapist
from bitmapist import (
    DayEvents,
    HourEvents,
    InvalidTimestampError,
    MonthEvents,
    UniqueEvents,
    WeekEvents,
    YearEvents,
)
from bitmapist.compat.events import PeriodEvents

from .conftest import Keyspace

UTC = timezone.utc
WHEN = datetime(2025, 1, 15, 13, 30)


def test_each_class_names_its_key_without_padding(system: str) -> None:
    assert MonthEvents("e", 2025, 1).redis_key == "trackist_e_2025-1"
    assert WeekEvents("e", 2025, 3).redis_key == "trackist_e_W2025-3"
    assert DayEvents("e", 2025, 1, 5).redis_key == "trackist_e_2025-1-5"
    assert HourEvents("e", 2025, 1, 5, 7).redis_key == "trackist_e_2025-1-5-7"
    assert UniqueEvents("e").redis_key == "trackist_e_u"


def test_from_date_uses_the_datetimes_fields(system: str) -> None:
    when = datetime(2024, 12, 30, 23, 10)

    assert WeekEvents.from_date("e", when).redis_key == "trackist_e_W2025-1"
    assert DayEvents.from_date("e", when).redis_key == "trackist_e_2024-12-30"
    assert HourEvents.from_date("e", when).redis_key == "trackist_e_2024-12-30-23"
    assert MonthEvents.from_date("e", when).redis_key == "trackist_e_2024-12"
    assert UniqueEvents.from_date("e", when).redis_key == "trackist_e_u"


def test_omitted_numbers_are_the_current_ones_in_utc(system: str) -> None:
    before = datetime.now(UTC)
    month = MonthEvents("e", 2020)
    after = datetime.now(UTC)

    assert month.redis_key in {f"trackist_e_2020-{t.month}" for t in (before, after)}


@pytest.mark.parametrize(
    ("events", "later", "earlier"),
    [
        (MonthEvents("e", 2025, 12), "trackist_e_2026-1", "trackist_e_2025-11"),
        (WeekEvents("e", 2024, 52), "trackist_e_W2025-1", "trackist_e_W2024-51"),
        (WeekEvents("e", 2020, 53), "trackist_e_W2021-1", "trackist_e_W2020-52"),
        (DayEvents("e", 2024, 2, 28), "trackist_e_2024-2-29", "trackist_e_2024-2-27"),
        (
            HourEvents("e", 2024, 12, 31, 23),
            "trackist_e_2025-1-1-0",
            "trackist_e_2024-12-31-22",
        ),
    ],
)
def test_next_and_prev_step_one_period(
    events: PeriodEvents, later: str, earlier: str
) -> None:
    assert events.next().redis_key == later
    assert events.prev().redis_key == earlier
    assert events.delta(1) == events.next()
    assert events.delta(-2) == events.prev().prev()


def test_periods_start_and_end_in_utc_on_their_last_microsecond(system: str) -> None:
    week = WeekEvents("e", 2025, 3)
    year = YearEvents("e", 2024)

    assert week.period_start() == datetime(2025, 1, 13, tzinfo=UTC)
    assert week.period_end() == datetime(2025, 1, 19, 23, 59, 59, 999999, tzinfo=UTC)
    assert year.period_start() == datetime(2024, 1, 1, tzinfo=UTC)
    assert year.period_end() == datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert HourEvents("e", 2025, 1, 1, 5).period_end().minute == 59


def test_unique_events_navigate_to_themselves(system: str) -> None:
    unique = UniqueEvents("e")

    assert unique.next() is unique and unique.prev() is unique


def test_equality_and_hashing_follow_the_key(system: str) -> None:
    assert MonthEvents("e", 2025, 1) == MonthEvents.from_date("e", WHEN)
    assert MonthEvents("e", 2025, 1) != MonthEvents("e", 2025, 2)
    assert hash(DayEvents("e", 2025, 1, 15)) == hash("trackist_e_2025-1-15")
    assert len({DayEvents("e", 2025, 1, 15), DayEvents.from_date("e", WHEN)}) == 1


def test_reading_counts_tests_and_lists_ascending(system: str) -> None:
    for uuid in (40, 3, 17):
        bitmapist.mark_event("active", uuid, now=WHEN)
    day = DayEvents("active", 2025, 1, 15)

    assert day.get_count() == len(day) == 3
    assert 17 in day and 18 not in day
    assert list(day.get_uuids()) == list(day) == [3, 17, 40]
    assert day.has_events_marked()
    assert not DayEvents("active", 2025, 1, 16).has_events_marked()


def test_a_year_is_the_or_of_its_months(system: str) -> None:
    bitmapist.mark_event("active", 1, now=datetime(2025, 1, 3))
    bitmapist.mark_event("active", 2, now=datetime(2025, 12, 30))
    bitmapist.mark_event("active", 3, now=datetime(2024, 12, 30))

    year = YearEvents("active", 2025)

    assert list(year) == [1, 2]
    assert year.redis_key == "trackist_bitop_OR_" + "-".join(
        f"trackist_active_2025-{m}" for m in range(1, 13)
    )
    assert list(year.prev()) == [3]


def test_a_year_without_months_is_empty_and_leaves_no_key(
    system: str, keyspace: Keyspace
) -> None:
    year = YearEvents("none", 2020)

    assert len(year) == 0 and not year.has_events_marked()
    assert keyspace() == {}


@pytest.mark.parametrize(
    "build",
    [
        lambda: MonthEvents("e", 2025, 13),
        lambda: DayEvents("e", 2025, 2, 30),
        lambda: HourEvents("e", 2025, 1, 1, 24),
        lambda: WeekEvents("e", 2025, 54),
    ],
)
def test_a_period_that_does_not_exist_is_refused(system: str, build: object) -> None:
    with pytest.raises(InvalidTimestampError, match="no such"):
        build()  # type: ignore[operator]


def test_an_id_beyond_the_layout_is_refused_when_tested(system: str) -> None:
    with pytest.raises(bitmapist.InvalidIdError):
        _ = 2**32 in MonthEvents("e", 2025, 1)
