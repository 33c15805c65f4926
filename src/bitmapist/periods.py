"""Periods: the hour, day, ISO week, month or year a bitmap of an event covers.

A period is a half-open interval of local time in the instance's time zone,
[start, end). Its ``code`` (``2024-12-30T05``, ``2024-12-30``, ``2025-W01``,
``2024-12``, ``2024``) names it in keys and files; the five forms never collide.
Hours follow instants, so ``next()`` of 01:00 on a spring-forward night is 03:00;
the two 01:00 hours of a fall-back night share one code and so one bitmap.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import cached_property

from .errors import ConfigurationError, InvalidTimestampError

__all__ = [
    "DEFAULT_GRANULARITIES",
    "Granularity",
    "Period",
    "granularities_of",
    "local_time",
]


class Granularity(str, enum.Enum):
    """The length of a period, finest first."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


DEFAULT_GRANULARITIES = frozenset(
    {Granularity.DAY, Granularity.WEEK, Granularity.MONTH, Granularity.YEAR}
)


def granularities_of(
    values: Iterable[Granularity | str] | Granularity | str,
) -> frozenset[Granularity]:
    """Parse granularities given as members or names, rejecting unknown ones."""
    if isinstance(values, (str, Granularity)):
        values = [values]
    parsed = set()
    for value in values:
        try:
            parsed.add(Granularity(value))
        except ValueError:
            known = ", ".join(g.value for g in Granularity)
            raise ConfigurationError(
                f"unknown granularity {value!r}: expected one of {known}"
            ) from None
    if not parsed:
        raise ConfigurationError("granularities must name at least one period")
    return frozenset(parsed)


def local_time(when: datetime | date, tz: tzinfo) -> datetime | date:
    """Bring a timestamp into ``tz``: aware datetimes are converted, naive ones
    are taken as UTC, and a ``date`` stays the calendar date it names."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
            when = when.replace(tzinfo=timezone.utc)
        # Through UTC: astimezone() into the zone a datetime already has
        # returns it as it is, even a wall time that zone skips (02:30 on a
        # spring-forward night), which would name an hour that never was.
        return when.astimezone(timezone.utc).astimezone(tz)
    if isinstance(when, date):
        return when
    raise InvalidTimestampError(
        f"timestamp {when!r} is a {type(when).__name__}: expected a datetime or a date"
    )


@dataclass(frozen=True)
class Period:
    """One hour, day, ISO week, month or year, in a given time zone."""

    granularity: Granularity
    start: datetime
    # Computed once: an aware datetime's hash asks its zone for the offset.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.granularity, self.start)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        """The same granularity, start and code: an hour of one zone is not
        the same period as the hour of another zone that starts at the same
        instant, since its bitmaps are stored under another name."""
        if not isinstance(other, Period):
            return NotImplemented
        return (
            self.granularity is other.granularity
            and self.start == other.start
            and self.code == other.code
        )

    def __reduce__(self) -> tuple[type[Period], tuple[Granularity, datetime]]:
        return (Period, (self.granularity, self.start))

    @classmethod
    def containing(
        cls, granularity: Granularity, when: datetime | date, tz: tzinfo
    ) -> Period:
        """The period of ``granularity`` that holds ``when``."""
        local = local_time(when, tz)
        if granularity is Granularity.HOUR:
            if not isinstance(local, datetime):
                raise InvalidTimestampError(
                    f"timestamp {when!r} is a date: hour periods need a datetime"
                )
            return cls(granularity, local.replace(minute=0, second=0, microsecond=0))
        day = local.date() if isinstance(local, datetime) else local
        if granularity is Granularity.WEEK:
            day -= timedelta(days=day.weekday())
        elif granularity is Granularity.MONTH:
            day = day.replace(day=1)
        elif granularity is Granularity.YEAR:
            day = day.replace(month=1, day=1)
        return cls(granularity, datetime.combine(day, time(), tz))

    @cached_property
    def code(self) -> str:
        """The period's name in keys and files, for example ``2025-W01``.
        Kept once computed: every key a mark writes names it."""
        start = self.start
        if self.granularity is Granularity.HOUR:
            return f"{start:%Y-%m-%dT%H}"
        if self.granularity is Granularity.DAY:
            return f"{start:%Y-%m-%d}"
        if self.granularity is Granularity.WEEK:
            iso_year, iso_week, _ = start.isocalendar()
            return f"{iso_year:04d}-W{iso_week:02d}"
        if self.granularity is Granularity.MONTH:
            return f"{start:%Y-%m}"
        return f"{start:%Y}"

    @cached_property
    def end(self) -> datetime:
        """The first instant after the period (the end is exclusive)."""
        return self.delta(1).start

    def delta(self, n: int) -> Period:
        """The period ``n`` steps later (earlier when ``n`` is negative)."""
        tz = self.start.tzinfo
        assert tz is not None
        if self.granularity is Granularity.HOUR:
            instant = self.start.astimezone(timezone.utc) + timedelta(hours=n)
            return Period.containing(self.granularity, instant, tz)
        day = self.start.date()
        if self.granularity is Granularity.DAY:
            day += timedelta(days=n)
        elif self.granularity is Granularity.WEEK:
            day += timedelta(weeks=n)
        elif self.granularity is Granularity.MONTH:
            months = day.year * 12 + day.month - 1 + n
            day = date(months // 12, months % 12 + 1, 1)
        else:
            day = date(day.year + n, 1, 1)
        return Period(self.granularity, datetime.combine(day, time(), tz))

    @classmethod
    def from_code(
        cls, code: str, tz: tzinfo, granularity: Granularity | None = None
    ) -> Period:
        """The period that ``code`` names in ``tz``; the granularity follows
        from the code's form, and must be ``granularity`` when one is given.

        A code that names no period in ``tz`` (2025-02-30, an hour skipped by
        a spring-forward night) is refused. ``from_code(p.code, tz)`` is ``p``
        for every period of ``tz`` but the second of two hours that share a
        code on a fall-back night, which comes back as the first.
        """
        found = _granularity_of_code(code)
        if found is None or (granularity is not None and found is not granularity):
            expected = "a period code" if granularity is None else granularity.value
            raise InvalidTimestampError(
                f"period code {code!r} is not {expected}: codes look like "
                f"2024-12-30T05, 2024-12-30, 2025-W01, 2024-12 or 2024"
            )
        start = _local_start(found, code, tz)
        if start is None:
            raise InvalidTimestampError(
                f"period code {code!r} names no {found.value} in time zone {tz}"
            )
        return cls(found, start)

    def __str__(self) -> str:
        return self.code


_CODE_FORMS = (
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}"), Granularity.HOUR),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), Granularity.DAY),
    (re.compile(r"\d{4}-W\d{2}"), Granularity.WEEK),
    (re.compile(r"\d{4}-\d{2}"), Granularity.MONTH),
    (re.compile(r"\d{4}"), Granularity.YEAR),
)


def _granularity_of_code(code: object) -> Granularity | None:
    if not isinstance(code, str) or not code.isascii():
        return None
    for form, granularity in _CODE_FORMS:
        if form.fullmatch(code):
            return granularity
    return None


def _local_start(granularity: Granularity, code: str, tz: tzinfo) -> datetime | None:
    """The first instant of the period ``code`` names in ``tz``, or None when
    there is none (a day that does not exist, an hour skipped in ``tz``)."""
    try:
        if granularity is Granularity.WEEK:
            iso_year, _, week = code.partition("-W")
            day = date.fromisocalendar(int(iso_year), int(week), 1)
        else:
            # A month or a year starts on its first day.
            numbers = [*(int(part) for part in code[:10].split("-")), 1, 1]
            day = date(numbers[0], numbers[1], numbers[2])
        if granularity is not Granularity.HOUR:
            # As in ``containing``: local midnight, even where a zone skips it.
            return datetime.combine(day, time(), tz)
        start = datetime.combine(day, time(int(code[11:])), tz)
        # A wall time in a spring-forward gap does not survive a trip through
        # UTC, and ``containing`` never makes one.
        back = start.astimezone(timezone.utc).astimezone(tz)
    except (ValueError, OverflowError):
        return None
    if back.replace(tzinfo=None) != start.replace(tzinfo=None):
        return None
    return start
