"""Cohort periods at the edges of the calendar, date ranges, and bad input."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bitmapist import (
    Bitmapist,
    ConfigurationError,
    InvalidExpressionError,
    InvalidTimestampError,
)
from bitmapist.expressions import leaves

from .conftest import NOW


def at(when: datetime) -> Bitmapist:
    return Bitmapist(clock=lambda: when)


def test_weekly_cohorts_cross_the_iso_year() -> None:
    """29 December 2024 is in 2024-W52; 30 December to 5 January is 2025-W01."""
    bm = at(NOW)
    bm.mark_event("signup", 1, date(2024, 12, 29))
    bm.mark_event("signup", 2, date(2024, 12, 30))
    bm.mark_event("signup", 3, date(2025, 1, 4))
    for uid, day in ((1, date(2024, 12, 31)), (2, date(2025, 1, 5))):
        bm.mark_event("active", uid, day)
    bm.mark_event("active", 3, date(2025, 1, 6))

    table = bm.cohort(
        "signup", "active", by="week", start=date(2024, 12, 29), cohorts=2, periods=2
    )

    assert table.labels == ("2024-W52", "2025-W01")
    assert table.periods[1].start == datetime(2024, 12, 30, tzinfo=ZoneInfo("UTC"))
    assert table.rows() == [("2024-W52", 1, 0, 1), ("2025-W01", 2, 1, 1)]


def test_monthly_cohorts_at_month_ends_and_leap_days() -> None:
    bm = at(datetime(2024, 4, 2, tzinfo=timezone.utc))
    bm.mark_event("signup", 1, date(2024, 1, 31))
    bm.mark_event("signup", 2, date(2024, 2, 1))
    bm.mark_event("active", 1, date(2024, 2, 29))
    bm.mark_event("active", 2, date(2024, 3, 1))

    table = bm.cohort(
        "signup", "active", by="month", start=date(2024, 1, 31), cohorts=4, periods=3
    )

    assert table.rows() == [
        ("2024-01", 1, 0, 1, 0),
        ("2024-02", 1, 0, 1, 0),
        ("2024-03", 0, 0, 0, None),
        ("2024-04", 0, 0, None, None),
    ]


def test_cohort_periods_are_local_days_of_the_instance_time_zone() -> None:
    """03:00 UTC on 1 January is 22:00 on 31 December in New York, and at
    02:00 UTC on 15 January New York's 15 January has not begun."""
    zone = "America/New_York"
    clock = datetime(2025, 1, 15, 2, 0, tzinfo=timezone.utc)
    bm = Bitmapist(timezone=zone, clock=lambda: clock)
    bm.mark_event("signup", 1, datetime(2025, 1, 1, 3, 0, tzinfo=timezone.utc))
    bm.mark_event("active", 1, datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc))

    table = bm.cohort("signup", "active", by="day", cohorts=2, periods=1)
    new_year = bm.cohort(
        "signup", "active", by="day", start=date(2024, 12, 31), cohorts=1, periods=2
    )

    assert table.labels == ("2025-01-13", "2025-01-14")
    assert new_year.rows() == [("2024-12-31", 1, 0, 1)]
    assert table.periods[0].start.tzinfo == ZoneInfo(zone)
    late = bm.cohort("signup", "active", by="day", start=date(2025, 1, 14), cohorts=2)
    assert late.sizes == (0, None)


def test_hourly_cohorts_skip_the_hour_daylight_saving_removes() -> None:
    zone = ZoneInfo("Europe/Berlin")
    later = datetime(2025, 4, 1, tzinfo=timezone.utc)
    bm = Bitmapist(timezone=zone, granularities=["hour"], clock=lambda: later)
    start = datetime(2025, 3, 30, 1, 0, tzinfo=zone)
    bm.mark_event("signup", 1, start)
    # One hour of elapsed time after 01:00 CET is 03:00 CEST.
    bm.mark_event("active", 1, start.astimezone(timezone.utc) + timedelta(hours=1))

    table = bm.cohort("signup", "active", by="hour", start=start, cohorts=2, periods=2)

    assert table.labels == ("2025-03-30T01", "2025-03-30T03")
    assert table.rows()[0] == ("2025-03-30T01", 1, 0, 1)


def test_cells_not_reached_are_empty_and_percentages_are_of_the_cohort() -> None:
    bm = at(datetime(2025, 1, 2, 8, tzinfo=timezone.utc))
    for uid in (1, 2, 3, 4):
        bm.mark_event("signup", uid, date(2025, 1, 1))
    bm.mark_event("active", 1, date(2025, 1, 2))

    table = bm.cohort(
        "signup", "active", by="day", start=date(2025, 1, 1), cohorts=2, periods=3
    )

    assert table.rows() == [
        ("2025-01-01", 4, 0, 1, None),
        ("2025-01-02", 0, 0, None, None),
    ]
    assert table.rows(percent=True) == [
        ("2025-01-01", 4, 0.0, 25.0, None),
        ("2025-01-02", 0, None, None, None),
    ]


def test_an_expression_cohort_moves_its_event_leaves_to_each_period() -> None:
    bm = at(NOW)
    for uid in (1, 2):
        bm.mark_event("signup", uid, date(2025, 1, 1))
        bm.mark_event("active", uid, date(2025, 1, 2))
    bm.mark_event("signup", 3, date(2025, 1, 2))
    bm.mark_attribute("paid", 2)
    bm.mark_attribute("paid", 3)
    paid_signups = bm.get_day_event("signup", date(1999, 1, 1)) & bm.get_attribute(
        "paid"
    )

    by_expression = bm.cohort(
        paid_signups, "active", by="day", start=date(2025, 1, 1), cohorts=2, periods=2
    )
    by_callable = bm.cohort(
        lambda p: bm.get_day_event("signup", p.start) & bm.get_attribute("paid"),
        "active",
        by="day",
        start=date(2025, 1, 1),
        cohorts=2,
        periods=2,
    )
    by_filter = bm.cohort(
        "signup",
        "active",
        by="day",
        start=date(2025, 1, 1),
        cohorts=2,
        periods=2,
        filter=bm.get_attribute("paid"),
    )

    expected = [("2025-01-01", 1, 0, 1), ("2025-01-02", 1, 0, 0)]
    assert by_expression.rows() == by_callable.rows() == by_filter.rows() == expected


def codes(bitmap: object) -> list[str]:
    expression = bitmap.expression  # type: ignore[attr-defined]
    return [ref.period.code for ref in leaves(expression)]


def test_ranges_use_the_fewest_stored_bitmaps() -> None:
    bm = at(NOW)
    hourly = Bitmapist(granularities=["hour", "day", "month", "year"])

    assert codes(bm.get_range_event("a", date(2024, 11, 30), date(2025, 3, 2))) == [
        "2024-11-30",
        "2024-12",
        "2025-01",
        "2025-02",
        "2025-03-01",
    ]
    assert codes(bm.get_range_event("a", date(2023, 12, 31), date(2025, 1, 2))) == [
        "2023-12-31",
        "2024",
        "2025-01-01",
    ]
    utc = timezone.utc
    assert codes(
        hourly.get_range_event(
            "a",
            datetime(2025, 1, 14, 22, tzinfo=utc),
            datetime(2025, 1, 16, 1, tzinfo=utc),
        )
    ) == ["2025-01-14T22", "2025-01-14T23", "2025-01-15", "2025-01-16T00"]
    assert codes(bm.get_range_event("a", date(2025, 1, 1), date(2025, 1, 2))) == [
        "2025-01-01"
    ]


def test_range_edges_inside_a_period_that_is_not_stored_are_refused() -> None:
    bm = at(NOW)
    utc = timezone.utc

    with pytest.raises(InvalidTimestampError, match="falls inside a day"):
        bm.get_range_event(
            "a", datetime(2025, 1, 1, 10, 30, tzinfo=utc), date(2025, 2, 1)
        )
    with pytest.raises(InvalidTimestampError, match=r"range end .* inside a day"):
        bm.get_range_event("a", date(2025, 1, 1), datetime(2025, 1, 2, 1, tzinfo=utc))
    with pytest.raises(InvalidTimestampError, match="must come after its start"):
        bm.get_range_event("a", date(2025, 1, 2), date(2025, 1, 2))
    with pytest.raises(ConfigurationError, match="none of them"):
        bm.get_range_event(
            "a", date(2025, 1, 6), date(2025, 1, 13), granularities="week"
        )


def test_a_range_holds_the_ids_marked_inside_it(bm: Bitmapist) -> None:
    for uid, day in (
        (1, date(2024, 11, 29)),
        (2, date(2024, 11, 30)),
        (3, date(2025, 2, 3)),
    ):
        bm.mark_event("a", uid, day)
    bm.mark_event("a", 4, date(2025, 3, 2))

    found = bm.get_range_event("a", date(2024, 11, 30), date(2025, 3, 2))

    assert list(found) == [2, 3]
    assert len(found) == 2


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"by": "fortnight"}, ConfigurationError, "unknown granularity"),
        ({"by": ["day", "week"]}, ConfigurationError, "must be one name"),
        ({"cohorts": 0}, ConfigurationError, "cohorts 0 must be an int of at least 1"),
        ({"periods": True}, ConfigurationError, "periods True"),
        ({"horizon": 3}, ConfigurationError, "only with first_time"),
        ({"first_time": True, "horizon": 0}, ConfigurationError, "horizon 0"),
        ({"start": "2025-01-01"}, InvalidTimestampError, "'2025-01-01' is a str"),
        ({"filter": "paid"}, InvalidExpressionError, "filter 'paid' is a str"),
    ],
)
def test_bad_cohort_options_are_refused_naming_the_rule(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    bm = at(NOW)

    with pytest.raises(error, match=message):
        bm.cohort("signup", "active", **options)  # type: ignore[arg-type]


def test_sources_must_be_names_bitmaps_of_the_instance_or_callables() -> None:
    bm, other = at(NOW), at(NOW)

    with pytest.raises(InvalidExpressionError, match="expected an event name"):
        bm.cohort(42, "active")  # type: ignore[arg-type]
    with pytest.raises(InvalidExpressionError, match="another Bitmapist"):
        bm.cohort(other.get_attribute("paid"), "active")
    with pytest.raises(
        InvalidExpressionError, match=r"cohort\(2025-W03\).*expected a Bitmap"
    ):
        bm.cohort(lambda period: "signup", "active", cohorts=1)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="either attributes"):
        bm.breakdown(bm.get_universe(), attributes=["a"], prefix="c:")
    with pytest.raises(ConfigurationError, match="list of names"):
        bm.breakdown(bm.get_universe(), attributes="country:de")
