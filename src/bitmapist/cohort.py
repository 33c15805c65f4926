"""bitmapist 3.x's cohort tables (``bitmapist.cohort``), on the 3.x interface.

``get_dates_data`` builds rows ``[period date, cohort size, cell 0, ...,
cell num_of_rows]``: the cohort of a row is ``select1`` in that period (ANDed
with ``select1b``), and cell k compares it with ``select2`` (ANDed with
``select2b``) k periods later. ``render_html_data`` and ``render_csv_data``
print the rows; ``render_html_form`` is a form for choosing the events;
``set_custom_handler`` lets a name stand for a composite expression.

Rows follow 3.x's dates: the last row's date is today in UTC or, with
``start_date``, ``start_date`` plus ``num_results - 1`` days, so a table of
days begins on ``start_date``; earlier rows step back by whole periods from
there (weeks keep that date's weekday, months are dated on the 1st, years
keep its month and day). A table of years always has 3 rows. The bit
operations a table needs are deleted once it is built.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .compat.bitops import BitOpAnd, delete_runtime_keys_since, runtime_key_count
from .compat.events import (
    DayEvents,
    Events,
    MonthEvents,
    PeriodEvents,
    WeekEvents,
    YearEvents,
)
from .errors import (
    ConfigurationError,
    InvalidExpressionError,
    InvalidTimestampError,
)
from .periods import Period

__all__ = [
    "get_dates_data",
    "render_csv_data",
    "render_html_data",
    "render_html_form",
    "set_custom_handler",
]

Handler = Callable[[str, type, tuple[Any, ...]], Events]
Cell = float | int | str
Row = list[Any]

_CLASSES: dict[str, type[PeriodEvents]] = {
    "days": DayEvents,
    "weeks": WeekEvents,
    "months": MonthEvents,
    "years": YearEvents,
}

# How each time group prints the date of a row, in CSV and HTML alike.
_DATE_FORMATS = {
    "days": "%d %b %Y",
    "weeks": "Week %U %d %b",
    "months": "%d %b",
    "years": "%Y",
}

_handlers: dict[str, Handler] = {}


def set_custom_handler(event_name: str, callback: Handler) -> None:
    """Make ``event_name`` stand for ``callback(event_name, cls, cls_args)``:
    the expression for the period class ``cls`` (``DayEvents``...) built with
    ``cls_args``, the period's numbers followed by the system."""
    _handlers[event_name] = callback


def get_dates_data(
    select1: str,
    select2: str,
    select1b: str | None = None,
    select2b: str | None = None,
    time_group: str = "days",
    system: Any = "default",
    as_percent: bool = True,
    num_results: int = 31,
    num_of_rows: int = 12,
    start_date: str | None = None,
) -> list[Row]:
    """The cohort table: one row per period, oldest first."""
    cls = _class_of(time_group)
    rows_wanted = 3 if time_group == "years" else num_results
    dates = _row_dates(time_group, _last_date(start_date, num_results), rows_wanted)
    made_before = runtime_key_count()
    try:
        return [
            _row(
                cls,
                when,
                select1,
                select1b,
                select2,
                select2b,
                system,
                as_percent,
                num_of_rows,
            )
            for when in dates
        ]
    finally:
        delete_runtime_keys_since(made_before)


def _row(
    cls: type[PeriodEvents],
    when: datetime,
    select1: str,
    select1b: str | None,
    select2: str,
    select2b: str | None,
    system: Any,
    as_percent: bool,
    num_of_rows: int,
) -> Row:
    period = Period.containing(cls.granularity, when, timezone.utc)
    cohort = _selection(cls, period, select1, select1b, system)
    size = cohort.get_count()
    cells: list[Cell] = []
    for k in range(num_of_rows + 1):
        later = _selection(cls, period.delta(k), select2, select2b, system)
        if size == 0 or not later.has_events_marked():
            cells.append("")
            continue
        overlap = BitOpAnd(system, cohort, later).get_count()
        if overlap == 0:
            cells.append(0.0)
        elif as_percent:
            cells.append(overlap / size * 100.0)
        else:
            cells.append(overlap)
    return [when, size, *cells]


def _selection(
    cls: type[PeriodEvents],
    period: Period,
    name: str,
    narrowing: str | None,
    system: Any,
) -> Events:
    chosen = _events(cls, period, name, system)
    if narrowing is None:
        return chosen
    return BitOpAnd(system, chosen, _events(cls, period, narrowing, system))


def _events(cls: type[PeriodEvents], period: Period, name: str, system: Any) -> Events:
    handler = _handlers.get(name)
    if handler is None:
        return cls.at(name, period, system)
    made = handler(name, cls, (*_numbers(period, cls), system))
    if not isinstance(made, Events):
        raise InvalidExpressionError(
            f"the handler of {name!r} returned {made!r}: handlers return an "
            f"event object or a bit operation"
        )
    return made


def _numbers(period: Period, cls: type[PeriodEvents]) -> tuple[int, ...]:
    start = period.start
    if cls is WeekEvents:
        iso_year, iso_week, _ = start.isocalendar()
        return (iso_year, iso_week)
    return {
        DayEvents: (start.year, start.month, start.day),
        MonthEvents: (start.year, start.month),
        YearEvents: (start.year,),
    }[cls]


def _class_of(time_group: str) -> type[PeriodEvents]:
    try:
        return _CLASSES[time_group]
    except KeyError:
        known = ", ".join(repr(g) for g in _CLASSES)
        raise ConfigurationError(
            f"time_group {time_group!r} is not known: expected one of {known}"
        ) from None


def _last_date(start_date: str | None, num_results: int) -> datetime:
    if start_date is None:
        today = datetime.now(timezone.utc).date()
    else:
        try:
            first = date.fromisoformat(start_date)
        except (TypeError, ValueError):
            raise InvalidTimestampError(
                f"start_date {start_date!r} is not a date written YYYY-MM-DD"
            ) from None
        today = first + timedelta(days=num_results - 1)
    return datetime(today.year, today.month, today.day, tzinfo=timezone.utc)


def _row_dates(time_group: str, last: datetime, rows: int) -> list[datetime]:
    back = range(rows - 1, -1, -1)
    if time_group == "days":
        return [last - timedelta(days=n) for n in back]
    if time_group == "weeks":
        return [last - timedelta(weeks=n) for n in back]
    if time_group == "months":
        month = Period(MonthEvents.granularity, last.replace(day=1))
        return [month.delta(-n).start for n in back]
    # Years keep the last date's month and day; 29 February becomes the 28th.
    day = min(last.day, 28) if (last.month, last.day) == (2, 29) else last.day
    return [last.replace(year=last.year - n, day=day) for n in back]


def _format_date(when: datetime, time_group: str) -> str:
    return when.strftime(_DATE_FORMATS.get(time_group, "%Y-%m-%d"))


def _format_cell(cell: Cell, as_percent: bool) -> str:
    if cell == "":
        return ""
    return f"{cell:.2f}%" if as_percent else str(cell)


def render_csv_data(
    dates_data: Sequence[Row],
    as_percent: bool = True,
    time_group: str = "days",
    num_results: int = 31,
    num_of_rows: int = 12,
    start_date: str | None = None,
) -> str:
    """The rows as CSV: ``Date,Total,0,1,...``, then one line per row, with
    percentages rounded to two decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Total", *range(num_of_rows + 1)])
    for when, size, *cells in dates_data:
        shown = [_csv_cell(cell, as_percent) for cell in cells]
        writer.writerow([_format_date(when, time_group), size, *shown])
    return out.getvalue()


def _csv_cell(cell: Cell, as_percent: bool) -> Cell:
    # Percentages to two decimals, as 3.x writes them; counts as they are.
    if as_percent and isinstance(cell, float):
        return round(cell, 2)
    return cell


def render_html_data(
    dates_data: Sequence[Row],
    as_percent: bool = True,
    time_group: str = "days",
    num_results: int = 31,
    num_of_rows: int = 12,
    start_date: str | None = None,
) -> str:
    """The rows as an HTML table, one row per period, empty cells left blank."""
    head = "".join(f"<th>{n}</th>" for n in range(num_of_rows + 1))
    lines = [
        '<table class="bitmapist-cohort">',
        f"<thead><tr><th>Date</th><th>Total</th>{head}</tr></thead>",
        "<tbody>",
    ]
    for when, size, *cells in dates_data:
        body = "".join(f"<td>{_format_cell(c, as_percent)}</td>" for c in cells)
        date_text = html.escape(_format_date(when, time_group))
        lines.append(f"<tr><th>{date_text}</th><td>{size}</td>{body}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def render_html_form(
    action_url: str,
    selections1: Sequence[tuple[str, str]],
    selections1b: Sequence[tuple[str, str]] | None = None,
    selections2: Sequence[tuple[str, str]] | None = None,
    selections2b: Sequence[tuple[str, str]] | None = None,
    time_group: str = "days",
    select1: str | None = None,
    select1b: str | None = None,
    select2: str | None = None,
    select2b: str | None = None,
    as_percent: bool = True,
    num_results: int = 31,
    num_of_rows: int = 12,
    start_date: str | None = None,
) -> str:
    """A GET form that chooses the events and the table's shape; each
    ``selections*`` is a list of ``(label, event_name)``."""
    fields = [
        _select("select1", selections1, select1, blank=False),
        _select("select1b", selections1b or (), select1b, blank=True),
        _select("select2", selections2 or selections1, select2, blank=False),
        _select("select2b", selections2b or (), select2b, blank=True),
        _select("time_group", [(g, g) for g in _CLASSES], time_group, blank=False),
        _select(
            "as_percent",
            [("percent", "1"), ("count", "0")],
            "1" if as_percent else "0",
            blank=False,
        ),
        _input("num_results", num_results),
        _input("num_of_rows", num_of_rows),
        _input("start_date", start_date or "", kind="date"),
    ]
    body = "\n".join(fields)
    action = html.escape(action_url, quote=True)
    return (
        f'<form class="bitmapist-cohort" method="get" action="{action}">\n{body}\n'
        '<button type="submit">Show</button>\n</form>'
    )


def _select(
    name: str, options: Sequence[tuple[str, str]], chosen: str | None, blank: bool
) -> str:
    items = ['<option value=""></option>'] if blank else []
    for label, value in options:
        mark = " selected" if value == chosen else ""
        items.append(
            f'<option value="{html.escape(value, quote=True)}"{mark}>'
            f"{html.escape(label)}</option>"
        )
    return f'<label>{name} <select name="{name}">{"".join(items)}</select></label>'


def _input(name: str, value: object, kind: str = "number") -> str:
    text = html.escape(str(value), quote=True)
    return f'<label>{name} <input type="{kind}" name="{name}" value="{text}"></label>'
