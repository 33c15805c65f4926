"""Lifecycle: each period's active ids split by where they come from.

With A(t) the activity source in period t and P(t) = A(t-1) | ... |
A(t-horizon), the ids active in any of the ``horizon`` periods before t:

    active        A(t)
    new           A(t) - P(t)                 not active in the horizon before
    returning     A(t) & A(t-1)               active in the period before too
    resurrecting  (A(t) & P(t)) - A(t-1)      back after at least one period away
    dormant       A(t-1) - A(t)               active in the period before, not now

new + returning + resurrecting = active. As percentages, the first three are
shares of A(t) and dormant a share of A(t-1). Periods that have not begun give
``None``. All counts go to the backend in one ``count_many`` call.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from ..expressions import Expression, Op, Operation
from ..periods import Granularity
from .retention import DEFAULT_HORIZON
from .sources import (
    Source,
    any_of,
    check_count,
    describe,
    first_period,
    granularity,
    per_period,
)
from .tables import LifecycleTable

if TYPE_CHECKING:
    from ..core import Bitmapist

__all__ = ["lifecycle_table"]

_PARTS = ("new", "returning", "resurrecting", "dormant")


def lifecycle_table(
    bm: Bitmapist,
    activity: Source,
    *,
    by: Granularity | str = Granularity.WEEK,
    start: datetime | date | None = None,
    periods: int = 12,
    horizon: int = DEFAULT_HORIZON,
) -> LifecycleTable:
    """Per period of ``by``, from the one holding ``start`` (by default the
    table ends with the current period): the ids of ``activity`` that are new
    (not active in the ``horizon`` periods before), returning (active in the
    period before), resurrecting (back after a gap) and dormant (active in the
    period before, not in this one). ``activity`` is a name, a Bitmap or a
    callable, as for ``cohort``."""
    unit = granularity(by)
    periods = check_count(periods, "periods")
    horizon = check_count(horizon, "horizon")
    activity_of = per_period(bm, activity, "activity")
    first = first_period(bm, unit, start, periods)
    rows = [first.delta(t) for t in range(periods)]
    now = bm.clock()
    shown = [p for p in rows if p.start <= now]

    asked: list[Expression] = []
    for period in shown:
        active, before = activity_of(period), activity_of(period.delta(-1))
        prior = any_of([activity_of(period.delta(-k)) for k in range(1, horizon + 1)])
        asked += [
            active,
            before,
            Operation(Op.SUB, (active, prior)),
            Operation(Op.AND, (active, before)),
            Operation(Op.SUB, (Operation(Op.AND, (active, prior)), before)),
            Operation(Op.SUB, (before, active)),
        ]
    answers = bm._count_many(asked)

    totals: list[int | None] = [None] * periods
    counts: list[tuple[int | None, ...]] = [(None,) * len(_PARTS)] * periods
    bases: list[tuple[int | None, ...]] = [(None,) * len(_PARTS)] * periods
    for t in range(len(shown)):
        size, previous, *parts = answers[6 * t : 6 * t + 6]
        totals[t] = size
        counts[t] = tuple(parts)
        bases[t] = (size, size, size, previous)
    return LifecycleTable(
        title=f"lifecycle of {describe(activity)}, by {unit.value}",
        index_name="period",
        labels=tuple(p.code for p in rows),
        total_name="active",
        totals=tuple(totals),
        columns=_PARTS,
        counts=tuple(counts),
        bases=tuple(bases),
        by=unit,
        periods=tuple(rows),
        horizon=horizon,
    )
