"""bitmapist.cohort: the table's rows and cells, checked against sets."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

import bitmapist
from bitmapist import (
    BitOpOr,
    ConfigurationError,
    DayEvents,
    InvalidTimestampError,
    cohort,
)

from .conftest import Keyspace

FIRST = date(2025, 1, 1)
DAYS = 20


def _activity() -> dict[tuple[str, date], set[int]]:
    """User d signs up on day d, is active on days d+1 and d+3, and users
    divisible by 3 pay; marked through the 3.x interface and kept as sets."""
    marked: dict[tuple[str, date], set[int]] = {}

    def mark(name: str, uuid: int, day: date) -> None:
        bitmapist.mark_event(name, uuid, now=day)
        marked.setdefault((name, day), set()).add(uuid)

    for d in range(DAYS):
        day = FIRST + timedelta(days=d)
        mark("signup", d, day)
        for later in (1, 3):
            mark("active", d, day + timedelta(days=later))
        if d % 3 == 0:
            mark("paid", d, day)
    return marked


def _expected_cell(cohort_ids: set[int], later: set[int], percent: bool) -> Any:
    if not cohort_ids or not later:
        return ""
    overlap = len(cohort_ids & later)
    if overlap == 0:
        return 0.0
    return overlap / len(cohort_ids) * 100.0 if percent else overlap


@pytest.mark.parametrize("as_percent", [True, False])
def test_day_rows_follow_the_sets(system: str, as_percent: bool) -> None:
    marked = _activity()

    rows = cohort.get_dates_data(
        "signup",
        "active",
        time_group="days",
        as_percent=as_percent,
        num_results=5,
        num_of_rows=4,
        start_date="2025-01-03",
    )

    assert len(rows) == 5
    for offset, row in enumerate(rows):
        day = date(2025, 1, 3) + timedelta(days=offset)
        people = marked.get(("signup", day), set())
        cells = [
            _expected_cell(
                people,
                marked.get(("active", day + timedelta(days=k)), set()),
                as_percent,
            )
            for k in range(5)
        ]
        assert row == [
            datetime(day.year, day.month, day.day, tzinfo=timezone.utc),
            len(people),
            *cells,
        ]


def test_narrowing_selections_are_anded_in(system: str) -> None:
    marked = _activity()

    rows = cohort.get_dates_data(
        "signup",
        "active",
        select1b="paid",
        time_group="days",
        num_results=4,
        num_of_rows=3,
        start_date="2025-01-01",
    )

    sizes = [row[1] for row in rows]
    assert sizes == [1, 0, 0, 1]
    # Nobody is active on Jan 1; user 1 alone on Jan 3, so no overlap there.
    assert rows[0][2:] == ["", 100.0, 0.0, 100.0]
    assert marked[("paid", FIRST)] == {0}


def test_weeks_and_months_group_the_days(system: str) -> None:
    _activity()

    weeks = cohort.get_dates_data(
        "signup",
        "active",
        time_group="weeks",
        num_results=2,
        num_of_rows=1,
        start_date="2025-01-08",
    )
    months = cohort.get_dates_data(
        "signup",
        "active",
        time_group="months",
        num_results=1,
        num_of_rows=1,
        start_date="2025-01-08",
    )

    # 2025-01-08 + 1 day is in ISO week 2: rows are weeks 1 and 2.
    assert [row[0] for row in weeks] == [
        datetime(2025, 1, 2, tzinfo=timezone.utc),
        datetime(2025, 1, 9, tzinfo=timezone.utc),
    ]
    # Week 1 (Dec 30 - Jan 5) has the signups of Jan 1-5: users 0-4; all are
    # active in week 1 or 2 by day d+1 and d+3.
    assert weeks[0][1] == 5
    assert weeks[0][2] == 80.0  # users 0-3 are active again within week 1
    assert weeks[0][3] == 60.0  # users 2, 3, 4 are active in week 2
    assert months == [[datetime(2025, 1, 1, tzinfo=timezone.utc), 20, 100.0, ""]]


def test_years_always_give_three_rows(system: str) -> None:
    _activity()

    rows = cohort.get_dates_data(
        "signup",
        "active",
        time_group="years",
        num_results=9,
        num_of_rows=1,
        start_date="2025-03-01",
    )

    # The last date is start_date + 8 days; earlier years keep its day.
    assert [row[0] for row in rows] == [
        datetime(year, 3, 9, tzinfo=timezone.utc) for year in (2023, 2024, 2025)
    ]
    assert rows[-1][1] == DAYS and rows[-1][2] == 100.0
    assert rows[0][1] == 0 and rows[0][2:] == ["", ""]


def test_a_custom_handler_stands_for_a_composite(
    system: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cohort, "_handlers", {})
    _activity()
    seen: list[tuple[str, str, tuple[Any, ...]]] = []

    def signup_or_paid(name: str, cls: type, args: tuple[Any, ...]) -> Any:
        seen.append((name, cls.__name__, args))
        return BitOpOr(cls("signup", *args), cls("paid", *args))

    cohort.set_custom_handler("newcomer", signup_or_paid)
    rows = cohort.get_dates_data(
        "newcomer",
        "active",
        time_group="days",
        num_results=1,
        num_of_rows=1,
        start_date="2025-01-02",
    )

    assert seen == [("newcomer", "DayEvents", (2025, 1, 2, "default"))]
    # User 1 signs up on Jan 2 and is active on Jan 3, not on Jan 2.
    assert rows[0][1] == 1 and rows[0][2:] == [0.0, 100.0]


def test_a_table_leaves_no_bit_operation_key_behind(
    system: str, keyspace: Keyspace
) -> None:
    _activity()
    before = set(keyspace())

    cohort.get_dates_data(
        "signup",
        "active",
        select2b="paid",
        num_results=3,
        num_of_rows=2,
        start_date="2025-01-01",
    )

    assert set(keyspace()) == before


def test_unknown_time_groups_and_dates_are_refused(system: str) -> None:
    with pytest.raises(ConfigurationError, match="time_group"):
        cohort.get_dates_data("a", "b", time_group="hours")
    with pytest.raises(InvalidTimestampError, match="YYYY-MM-DD"):
        cohort.get_dates_data("a", "b", start_date="01/02/2025")


def test_csv_has_a_header_and_a_line_per_row(system: str) -> None:
    _activity()
    rows = cohort.get_dates_data(
        "signup", "active", num_results=2, num_of_rows=2, start_date="2025-01-02"
    )

    text = cohort.render_csv_data(rows, num_results=2, num_of_rows=2)

    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Date", "Total", "0", "1", "2"]
    assert rows[0][2:] == [0.0, 100.0, 0.0]
    assert lines[1] == ["02 Jan 2025", "1", "0.0", "100.0", "0.0"]
    assert len(lines) == 3


def test_html_renders_the_table_and_the_form() -> None:
    rows = [[datetime(2025, 1, 2, tzinfo=timezone.utc), 4, 50.0, ""]]

    table = cohort.render_html_data(rows, num_of_rows=1)
    form = cohort.render_html_form(
        "/cohort?x=<1>",
        [("Sign-ups", "signup"), ("Active", "active")],
        select1="signup",
        time_group="weeks",
    )

    assert "<th>02 Jan 2025</th><td>4</td><td>50.00%</td><td></td>" in table
    assert 'action="/cohort?x=&lt;1&gt;"' in form
    assert '<option value="signup" selected>Sign-ups</option>' in form
    assert '<option value="weeks" selected>weeks</option>' in form
    assert DayEvents  # the period classes are what handlers build with
