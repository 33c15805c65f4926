"""Retention tables: of the ids in a cohort of one period, how many were
active 0, 1, 2 ... periods later.

Cohort i is the ``cohort`` source in period i (the period holding ``start``,
plus i); cell (i, j) counts the ids of cohort i found in the ``activity``
source in period i + j. With ``cumulative``, an id counts in cell (i, j) when
it was active in period i + j or any later one up to the table's last column.
With ``first_time``, cohort i keeps only ids absent from the cohort source in
the ``horizon`` periods before period i: new ones. ``filter`` is ANDed into
every cohort as it is given. Periods that have not begun by the instance's
clock give ``None``, never 0.

Every count of the table goes to the backend in one ``count_many`` call: one
round trip on Redis whatever the table's size.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from ..bitmaps import Bitmap
from ..errors import ConfigurationError
from ..expressions import Expression, Op, Operation
from ..periods import Granularity
from .sources import (
    Source,
    both,
    check_count,
    describe,
    first_period,
    granularity,
    owned,
    per_period,
)
from .tables import CohortTable

if TYPE_CHECKING:
    from ..core import Bitmapist

__all__ = ["DEFAULT_HORIZON", "cohort_table"]

# How far back "not seen before" looks when no horizon is given.
DEFAULT_HORIZON = 12


def cohort_table(
    bm: Bitmapist,
    cohort: Source,
    activity: Source,
    *,
    by: Granularity | str = Granularity.WEEK,
    start: datetime | date | None = None,
    cohorts: int = 12,
    periods: int = 12,
    cumulative: bool = False,
    first_time: bool = False,
    horizon: int | None = None,
    filter: Bitmap | None = None,
) -> CohortTable:
    """A retention table: of the ids in ``cohort`` in each of ``cohorts``
    periods of ``by`` from the one holding ``start`` (by default the table
    ends with the current period), how many were in ``activity`` 0, 1, ...
    ``periods - 1`` periods later.

    ``cohort`` and ``activity`` are event names, Bitmaps (their event leaves
    moved to each period) or callables from a Period to a Bitmap.
    ``cumulative`` counts an id when active in that period or any later one of
    the row; ``first_time`` keeps ids absent from ``cohort`` in the
    ``horizon`` periods before (12 by default); ``filter`` is ANDed into every
    cohort. Cells of periods not begun are None.
    """
    unit = granularity(by)
    cohorts = check_count(cohorts, "cohorts")
    periods = check_count(periods, "periods")
    if horizon is not None and not first_time:
        raise ConfigurationError("horizon applies only with first_time=True")
    if first_time:
        horizon = check_count(
            DEFAULT_HORIZON if horizon is None else horizon, "horizon"
        )
    cohort_of = per_period(bm, cohort, "cohort")
    activity_of = per_period(bm, activity, "activity")
    extra = None if filter is None else owned(bm, filter, "filter")
    first = first_period(bm, unit, start, cohorts)
    back = horizon or 0
    # Every period the table touches, built once: period k (from the first
    # cohort's) is timeline[k + back], and its expressions are shared by all
    # the cells that use them, which lets the backend compute each once.
    timeline = [first.delta(k) for k in range(-back, cohorts + periods - 1)]
    now = bm.clock()
    reached = [period.start <= now for period in timeline]
    cohort_at = [cohort_of(p) for p in timeline[: back + cohorts]]
    activity_at = [
        activity_of(p) if known else None
        for p, known in zip(timeline, reached, strict=True)
    ]

    asked: list[Expression] = []
    for i in range(cohorts):
        if not reached[back + i]:
            break
        group = cohort_at[back + i]
        if back:
            group = Operation(Op.SUB, (group, *cohort_at[i : back + i]))
        group = both(group, extra)
        asked.append(group)
        cells = [a for a in activity_at[back + i : back + i + periods] if a is not None]
        if cumulative:
            # Each cell ORs its period into the next cell's union.
            for j in reversed(range(len(cells) - 1)):
                cells[j] = Operation(Op.OR, (cells[j], cells[j + 1]))
        asked += [Operation(Op.AND, (group, cell)) for cell in cells]
    answers = iter(bm._count_many(asked))

    sizes: list[int | None] = []
    counts: list[tuple[int | None, ...]] = []
    for i in range(cohorts):
        size = next(answers) if reached[back + i] else None
        cells_known = [
            size is not None and reached[back + i + j] for j in range(periods)
        ]
        sizes.append(size)
        counts.append(tuple(next(answers) if k else None for k in cells_known))
    rows = timeline[back : back + cohorts]
    return CohortTable(
        title=_title(cohort, activity, unit, cumulative, first_time, horizon),
        index_name="cohort",
        labels=tuple(p.code for p in rows),
        total_name="size",
        totals=tuple(sizes),
        columns=tuple(str(j) for j in range(periods)),
        counts=tuple(counts),
        bases=tuple((size,) * periods for size in sizes),
        by=unit,
        periods=tuple(rows),
        cumulative=cumulative,
        first_time=first_time,
        horizon=horizon,
    )


def _title(
    cohort: Source,
    activity: Source,
    by: Granularity,
    cumulative: bool,
    first_time: bool,
    horizon: int | None,
) -> str:
    what = f"{describe(cohort)} -> {describe(activity)}, by {by.value}"
    if cumulative:
        what += ", cumulative"
    if first_time:
        what += f", first time in {horizon} {by.value}s"
    return what
