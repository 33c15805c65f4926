"""Date ranges: an event over the half-open range [start, end), as the OR of
the fewest stored bitmaps.

Years, months, days and hours nest (each begins where a period of the next
finer one begins), so walking from ``start`` and taking, at each point, the
longest stored period that begins there and ends by ``end`` uses the fewest
bitmaps. ISO weeks do not nest into months or years and are not used: a range
of whole weeks inside a month costs seven day bitmaps a week where one week
bitmap would do (a shortest path over day boundaries would use them).

Both edges must fall on a boundary of the finest granularity used, or the
bitmaps cannot say what happened on either side of them: that is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from ..errors import ConfigurationError, InvalidTimestampError
from ..expressions import BitmapRef, Expression, Kind
from ..periods import Granularity, Period, granularities_of, local_time
from ..validation import check_name
from .sources import any_of

if TYPE_CHECKING:
    from ..core import Bitmapist

__all__ = ["range_expression", "range_periods"]

_NESTED = (Granularity.YEAR, Granularity.MONTH, Granularity.DAY, Granularity.HOUR)


def range_expression(
    bm: Bitmapist,
    name: str,
    start: datetime | date,
    end: datetime | date,
    granularities: Iterable[Granularity | str] | Granularity | str | None = None,
) -> Expression:
    """The ids that did ``name`` at some time in [start, end), built from the
    ``granularities`` stored (by default the instance's)."""
    name = check_name(name, "event name")
    stored = (
        bm.granularities if granularities is None else granularities_of(granularities)
    )
    periods = range_periods(bm, start, end, stored)
    return any_of([BitmapRef(Kind.EVENT, name, period) for period in periods])


def range_periods(
    bm: Bitmapist,
    start: datetime | date,
    end: datetime | date,
    stored: frozenset[Granularity],
) -> list[Period]:
    """The fewest stored periods that exactly cover [start, end)."""
    usable = [g for g in _NESTED if g in stored]
    if not usable:
        raise ConfigurationError(
            "date ranges are built from year, month, day or hour bitmaps, and "
            f"none of them is among the granularities {_names(stored)}"
        )
    begin, stop = _instant(bm, start), _instant(bm, end)
    if stop <= begin:
        raise InvalidTimestampError(
            f"range end {stop.isoformat()} must come after its start "
            f"{begin.isoformat()}"
        )
    finest = usable[-1]
    for edge, what in ((begin, "start"), (stop, "end")):
        if Period.containing(finest, edge, bm.timezone).start != edge:
            raise InvalidTimestampError(
                f"range {what} {edge.isoformat()} falls inside {_a(finest)} "
                f"{finest.value}, and no finer bitmaps are among the granularities "
                f"{_names(stored)}: the range must {what} on {_a(finest)} "
                f"{finest.value} boundary"
            )
    found: list[Period] = []
    position = begin
    while position < stop:
        for unit in usable:
            period = Period.containing(unit, position, bm.timezone)
            if period.start == position and period.end <= stop:
                break
        found.append(period)
        position = period.end
    return found


def _instant(bm: Bitmapist, when: datetime | date) -> datetime:
    """An edge as an aware datetime in the instance's zone; a date is its
    local midnight."""
    local = local_time(bm._when(when), bm.timezone)
    if isinstance(local, datetime):
        return local
    return datetime.combine(local, time(), bm.timezone)


def _a(unit: Granularity) -> str:
    return "an" if unit is Granularity.HOUR else "a"


def _names(granularities: frozenset[Granularity]) -> str:
    ordered = [g.value for g in Granularity if g in granularities]
    return "(" + ", ".join(ordered) + ")"
