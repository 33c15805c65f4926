"""bitmapist 3.x's event classes: one stored bitmap each, read by its key.

``MonthEvents("active", 2025, 1)`` is the bitmap under
``trackist_active_2025-1``; the key comes from ``Bitmapist3Layout``, and the
bits are read through the system's adapter (see ``systems``). As in 3.x, the
period's numbers are the datetime's own fields (no zone conversion), an
omitted number is the current one in UTC, and a year is the OR of its twelve
months, stored under a bit-operation key when the ``YearEvents`` is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

from ..errors import InvalidExpressionError, InvalidNameError, InvalidTimestampError
from ..expressions import BitmapRef, Kind
from ..periods import Granularity, Period
from ..validation import check_id
from .systems import LAYOUT, System, system_for

__all__ = [
    "DayEvents",
    "Events",
    "HourEvents",
    "MonthEvents",
    "PeriodEvents",
    "UniqueEvents",
    "WeekEvents",
    "YearEvents",
    "in_utc",
]


def in_utc(dt: datetime | date | None) -> datetime:
    """The hour that ``dt``'s own fields name, as a UTC datetime (3.x makes no
    conversion between zones); now in UTC when ``dt`` is None."""
    if dt is None:
        return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if not isinstance(dt, date):
        raise InvalidTimestampError(
            f"timestamp {dt!r} is a {type(dt).__name__}: expected a datetime or a date"
        )
    hour = dt.hour if isinstance(dt, datetime) else 0
    return datetime(dt.year, dt.month, dt.day, hour, tzinfo=timezone.utc)


def check_event_name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidNameError(
            f"event name {value!r} is a {type(value).__name__}: names are strings"
        )
    return value


class Events:
    """A bitmap under one 3.x key: counted, tested and iterated there."""

    system: Any
    redis_key: str
    # The marked bitmap behind the key; None for a bit-operation result.
    ref: BitmapRef | None = None

    def _system(self) -> System:
        return system_for(self.system)

    def get_count(self) -> int:
        return self._system().count(self.redis_key, self.ref)

    def __len__(self) -> int:
        return self.get_count()

    def __contains__(self, uuid: object) -> bool:
        return self._system().contains(self.redis_key, self.ref, check_id(uuid))

    def get_uuids(self) -> Iterator[int]:
        """The ids, ascending."""
        yield from self._system().members(self.redis_key, self.ref)

    def __iter__(self) -> Iterator[int]:
        return self.get_uuids()

    def has_events_marked(self) -> bool:
        return self.get_count() > 0

    def delete(self) -> None:
        """Delete the key: every object on it, bit operations included, sees
        an empty bitmap from now on."""
        self._system().delete([self.redis_key])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Events):
            return NotImplemented
        return self.redis_key == other.redis_key

    def __hash__(self) -> int:
        return hash(self.redis_key)

    # As in 3.x, the operators build their operation on the "default" system,
    # whatever system the operands are on.

    def __and__(self, other: Events) -> Events:
        from .bitops import BitOpAnd

        return BitOpAnd(self, other)

    def __or__(self, other: Events) -> Events:
        from .bitops import BitOpOr

        return BitOpOr(self, other)

    def __xor__(self, other: Events) -> Events:
        from .bitops import BitOpXor

        return BitOpXor(self, other)

    def __invert__(self) -> Events:
        from .bitops import BitOpNot

        return BitOpNot(self)


P = TypeVar("P", bound="PeriodEvents")


class PeriodEvents(Events):
    """An event in one hour, day, ISO week, month or year."""

    granularity: ClassVar[Granularity]
    event_name: str
    period: Period

    @classmethod
    def at(cls: type[P], event_name: str, period: Period, system: Any = "default") -> P:
        """The object for ``period`` itself, without the period's numbers."""
        events = cls.__new__(cls)
        events._bind(event_name, period, system)
        return events

    def _bind(self, event_name: str, period: Period, system: Any) -> None:
        self.event_name = check_event_name(event_name)
        self.period = period
        self.system = system
        self._locate()

    def _locate(self) -> None:
        """Find the key that holds the bitmap."""
        self.ref = BitmapRef(Kind.EVENT, self.event_name, self.period)
        self.redis_key = LAYOUT.bitmap_key(self.ref, 0)

    @classmethod
    def from_date(
        cls: type[P],
        event_name: str,
        dt: datetime | date | None = None,
        system: Any = "default",
    ) -> P:
        return cls.at(event_name, cls._holding(in_utc(dt)), system)

    @classmethod
    def _holding(cls, when: datetime) -> Period:
        return Period.containing(cls.granularity, when, timezone.utc)

    def delta(self: P, n: int) -> P:
        if isinstance(n, bool) or not isinstance(n, int):
            raise InvalidExpressionError(f"delta {n!r} is not an int")
        return self.at(self.event_name, self.period.delta(n), self.system)

    def next(self: P) -> P:
        return self.delta(1)

    def prev(self: P) -> P:
        return self.delta(-1)

    def period_start(self) -> datetime:
        return self.period.start

    def period_end(self) -> datetime:
        """The period's last microsecond, as 3.x gives it."""
        return self.period.end - timedelta(microseconds=1)


def _calendar(
    year: int | None, month: int | None, day: int | None, hour: int | None
) -> datetime:
    """The UTC hour these numbers name, omitted ones being the current ones."""
    now = datetime.now(timezone.utc)
    given = (year, month, day, hour)
    current = (now.year, now.month, now.day, now.hour)
    y, m, d, h = (c if n is None else n for n, c in zip(given, current, strict=True))
    try:
        return datetime(y, m, d, h, tzinfo=timezone.utc)
    except (TypeError, ValueError) as error:
        raise InvalidTimestampError(f"no such period {given!r}: {error}") from None


class YearEvents(PeriodEvents):
    """A year: the OR of its twelve months, kept under a bit-operation key."""

    granularity = Granularity.YEAR

    def __init__(
        self, event_name: str, year: int | None = None, system: Any = "default"
    ) -> None:
        self._bind(event_name, self._holding(_calendar(year, 1, 1, 0)), system)

    def _locate(self) -> None:
        from .bitops import store_operation

        first = Period(Granularity.MONTH, self.period.start)
        months = [
            BitmapRef(Kind.EVENT, self.event_name, first.delta(n)) for n in range(12)
        ]
        keys = [LAYOUT.bitmap_key(month, 0) for month in months]
        self.ref = None
        self.redis_key = store_operation(self.system, "OR", keys)


class MonthEvents(PeriodEvents):
    granularity = Granularity.MONTH

    def __init__(
        self,
        event_name: str,
        year: int | None = None,
        month: int | None = None,
        system: Any = "default",
    ) -> None:
        self._bind(event_name, self._holding(_calendar(year, month, 1, 0)), system)


class WeekEvents(PeriodEvents):
    """An ISO week: ``year`` is the ISO year, ``week`` the ISO week number."""

    granularity = Granularity.WEEK

    def __init__(
        self,
        event_name: str,
        year: int | None = None,
        week: int | None = None,
        system: Any = "default",
    ) -> None:
        iso_year, iso_week, _ = datetime.now(timezone.utc).isocalendar()
        year = iso_year if year is None else year
        week = iso_week if week is None else week
        try:
            monday = datetime.fromisocalendar(year, week, 1)
        except (TypeError, ValueError) as error:
            raise InvalidTimestampError(
                f"no such ISO week {year!r}-W{week!r}: {error}"
            ) from None
        start = monday.replace(tzinfo=timezone.utc)
        self._bind(event_name, Period(self.granularity, start), system)


class DayEvents(PeriodEvents):
    granularity = Granularity.DAY

    def __init__(
        self,
        event_name: str,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        system: Any = "default",
    ) -> None:
        self._bind(event_name, self._holding(_calendar(year, month, day, 0)), system)


class HourEvents(PeriodEvents):
    granularity = Granularity.HOUR

    def __init__(
        self,
        event_name: str,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        hour: int | None = None,
        system: Any = "default",
    ) -> None:
        when = _calendar(year, month, day, hour)
        self._bind(event_name, self._holding(when), system)


class UniqueEvents(Events):
    """The time-independent bitmap of an event (``trackist_<event>_u``)."""

    def __init__(self, event_name: str, system: Any = "default") -> None:
        self.event_name = check_event_name(event_name)
        self.system = system
        self.ref = BitmapRef(Kind.ATTRIBUTE, event_name)
        self.redis_key = LAYOUT.bitmap_key(self.ref, 0)

    @classmethod
    def from_date(
        cls, event_name: str, dt: datetime | date | None = None, system: Any = "default"
    ) -> UniqueEvents:
        return cls(event_name, system)

    def delta(self, n: int) -> UniqueEvents:
        return self

    def next(self) -> UniqueEvents:
        return self

    def prev(self) -> UniqueEvents:
        return self
