"""Sources: what a cohort, an activity or a lifecycle counts, period by period.

A table asks for the same thing in many periods, so each source becomes a
function from a ``Period`` to an ``Expression``. A source is one of:

- an event name: the event's bitmap in that period;
- a ``Bitmap`` (any expression of the instance): the same expression with
  every event leaf moved to that period (``bm.get_day_event("signup") &
  bm.get_attribute("paid_user")`` becomes "signed up in the period, and
  paid"); the period a leaf was built with does not matter, attributes and the
  universe stay as they are;
- a callable taking the ``Period`` and returning a ``Bitmap``, for anything
  the rule above cannot say (for example "active in the period and the one
  before").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Union

from ..bitmaps import Bitmap
from ..errors import ConfigurationError, InvalidExpressionError
from ..expressions import BitmapRef, Expression, Kind, Op, Operation
from ..periods import Granularity, Period, granularities_of
from ..validation import check_name

if TYPE_CHECKING:
    from ..core import Bitmapist

__all__ = [
    "PerPeriod",
    "Source",
    "any_of",
    "both",
    "check_count",
    "describe",
    "first_period",
    "granularity",
    "owned",
    "per_period",
    "retarget",
]

Source = Union[str, Bitmap, Callable[[Period], Bitmap]]  # noqa: UP007 (runtime alias)
PerPeriod = Callable[[Period], Expression]


def per_period(bm: Bitmapist, source: Source, what: str) -> PerPeriod:
    """The expression ``source`` stands for in each period; ``what`` names the
    argument in errors."""
    if isinstance(source, str):
        name = check_name(source, f"{what} event name")
        return lambda period: BitmapRef(Kind.EVENT, name, period)
    if isinstance(source, Bitmap):
        expression = owned(bm, source, what)
        return lambda period: retarget(expression, period)
    if callable(source):

        def call(period: Period) -> Expression:
            return owned(bm, source(period), f"{what}({period.code})")

        return call
    raise InvalidExpressionError(
        f"{what} {source!r} is a {type(source).__name__}: expected an event name, "
        f"a Bitmap, or a callable taking a Period and returning a Bitmap"
    )


def owned(bm: Bitmapist, bitmap: object, what: str) -> Expression:
    """The expression of ``bitmap``, which must be a Bitmap of ``bm``."""
    if not isinstance(bitmap, Bitmap):
        raise InvalidExpressionError(
            f"{what} {bitmap!r} is a {type(bitmap).__name__}: expected a Bitmap"
        )
    if bitmap.owner is not bm:
        raise InvalidExpressionError(
            f"{what} {bitmap!r} belongs to another Bitmapist instance"
        )
    return bitmap.expression


def retarget(expression: Expression, period: Period) -> Expression:
    """``expression`` with every event leaf moved to ``period``."""
    if isinstance(expression, BitmapRef):
        if expression.kind is Kind.EVENT:
            return BitmapRef(Kind.EVENT, expression.name, period)
        return expression
    operands = tuple(retarget(e, period) for e in expression.operands)
    return Operation(expression.op, operands)


def any_of(expressions: Sequence[Expression]) -> Expression:
    """The OR of ``expressions``, or the one expression itself."""
    if len(expressions) == 1:
        return expressions[0]
    return Operation(Op.OR, tuple(expressions))


def both(first: Expression, second: Expression | None) -> Expression:
    """``first AND second``, or ``first`` when there is no second."""
    return first if second is None else Operation(Op.AND, (first, second))


def granularity(value: Granularity | str) -> Granularity:
    """One granularity, parsed from a member or its name."""
    if not isinstance(value, (str, Granularity)):
        raise ConfigurationError(
            f"granularity {value!r} must be one name, such as 'day' or 'week'"
        )
    (parsed,) = granularities_of(value)
    return parsed


def check_count(value: object, what: str, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``, or a ConfigurationError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(
            f"{what} {value!r} must be an int of at least {minimum}"
        )
    return value


def first_period(
    bm: Bitmapist, by: Granularity, start: datetime | date | None, periods: int
) -> Period:
    """The period holding ``start``; without one, the period ``periods - 1``
    steps before the current one, so that the last period is the current one."""
    if start is not None:
        return Period.containing(by, bm._when(start), bm.timezone)
    current = Period.containing(by, bm.clock(), bm.timezone)
    return current.delta(1 - periods)


def describe(source: Source) -> str:
    """A short name for ``source`` in a table's title."""
    if isinstance(source, str):
        return source
    if isinstance(source, Bitmap):
        return repr(source).strip("<>")
    return getattr(source, "__name__", "custom")
