"""Retention, lifecycle and breakdown numbers against a plain model of Python
sets, on random data, on every backend.

The model knows nothing of Period or expressions: it files each mark under its
calendar day, the Monday of its ISO week or the first of its month, steps
periods with date arithmetic, and counts with set operations.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitmapist import Bitmapist

from .conftest import NOW, MakeBitmapist

# Marks fall on the 40 days up to NOW's date, so tables cross the ISO year
# (2025-W01 starts on 2024-12-30) and month ends, and reach periods after NOW.
FIRST_DAY = NOW.date() - timedelta(days=39)
# Few ids, so that the same id recurs across periods; on both sides of a shard
# edge and far beyond 2**32.
IDS = st.sampled_from([0, 1, 2, 3, 7, 2**20 - 1, 2**20, 2**63 + 5])
MARKS = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), IDS, st.integers(0, 39)),
    min_size=15,
    max_size=60,
)
UNITS = st.sampled_from(["day", "week", "month"])
ON_EVERY_BACKEND = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

Sets = dict[tuple[str, date], set[int]]


def period_start(unit: str, day: date) -> date:
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def step(unit: str, start: date, n: int) -> date:
    if unit == "day":
        return start + timedelta(days=n)
    if unit == "week":
        return start + timedelta(weeks=n)
    months = start.year * 12 + start.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def filed(marks: list[tuple[str, int, int]], unit: str) -> Sets:
    sets: Sets = defaultdict(set)
    for event, uid, offset in marks:
        day = FIRST_DAY + timedelta(days=offset)
        sets[event, period_start(unit, day)].add(uid)
    return sets


def reached(start: date) -> bool:
    return datetime.combine(start, time(), timezone.utc) <= NOW


def load(bm: Bitmapist, marks: list[tuple[str, int, int]], paid: list[int]) -> None:
    bm.delete_all()
    by_day: dict[tuple[str, int], list[int]] = defaultdict(list)
    for event, uid, offset in marks:
        by_day[event, offset].append(uid)
    for (event, offset), uids in by_day.items():
        bm.mark_events(event, uids, FIRST_DAY + timedelta(days=offset))
    for uid in paid:
        bm.mark_attribute("paid", uid)


TABLES = st.fixed_dictionaries(
    {
        "by": UNITS,
        "first": st.integers(0, 45),
        "cohorts": st.integers(1, 5),
        "periods": st.integers(1, 5),
    }
)


def check_cohort_table(
    bm: Bitmapist,
    marks: list[tuple[str, int, int]],
    paid: list[int] | None,
    shape: dict[str, int | str],
    cumulative: bool = False,
    horizon: int | None = None,
) -> None:
    """Ask for the table and hold every cell to the model."""
    unit, cohorts, periods = (
        str(shape["by"]),
        int(shape["cohorts"]),
        int(shape["periods"]),
    )
    load(bm, marks, paid or [])
    sets = filed(marks, unit)
    start = period_start(unit, FIRST_DAY + timedelta(days=int(shape["first"])))

    table = bm.cohort(
        "a",
        "b",
        by=unit,
        start=start,
        cohorts=cohorts,
        periods=periods,
        cumulative=cumulative,
        first_time=horizon is not None,
        horizon=horizon,
        filter=None if paid is None else bm.get_attribute("paid"),
    )

    for i in range(cohorts):
        row = step(unit, start, i)
        if not reached(row):
            assert table.sizes[i] is None
            assert table.counts[i] == (None,) * periods
            continue
        group = set(sets["a", row])
        for k in range(1, (horizon or 0) + 1):
            group -= sets["a", step(unit, row, -k)]
        if paid is not None:
            group &= set(paid)
        assert table.sizes[i] == len(group)
        for j in range(periods):
            if not reached(step(unit, row, j)):
                assert table.counts[i][j] is None
                continue
            window = range(j, periods) if cumulative else [j]
            active = set().union(*(sets["b", step(unit, row, k)] for k in window))
            assert table.counts[i][j] == len(group & active)


@ON_EVERY_BACKEND
@given(
    marks=MARKS,
    paid=st.one_of(st.none(), st.lists(IDS, max_size=6)),
    shape=TABLES,
    cumulative=st.booleans(),
)
def test_cohort_table_matches_the_model(
    make_bitmapist: MakeBitmapist,
    marks: list[tuple[str, int, int]],
    paid: list[int] | None,
    shape: dict[str, int | str],
    cumulative: bool,
) -> None:
    check_cohort_table(make_bitmapist(), marks, paid, shape, cumulative)


@ON_EVERY_BACKEND
@given(marks=MARKS, shape=TABLES, horizon=st.integers(1, 3))
def test_first_time_cohorts_match_the_model(
    make_bitmapist: MakeBitmapist,
    marks: list[tuple[str, int, int]],
    shape: dict[str, int | str],
    horizon: int,
) -> None:
    check_cohort_table(make_bitmapist(), marks, None, shape, horizon=horizon)


# Lifecycles need ids that come and go: denser marks over the 20 days that
# cross the year and ISO week 2025-W01.
DENSE_MARKS = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), IDS, st.integers(20, 39)),
    min_size=20,
    max_size=80,
)


@ON_EVERY_BACKEND
@given(
    marks=DENSE_MARKS,
    unit=UNITS,
    first=st.integers(22, 40),
    periods=st.integers(1, 5),
    horizon=st.integers(1, 3),
)
def test_lifecycle_matches_the_model(
    make_bitmapist: MakeBitmapist,
    marks: list[tuple[str, int, int]],
    unit: str,
    first: int,
    periods: int,
    horizon: int,
) -> None:
    bm = make_bitmapist()
    load(bm, marks, [])
    sets = filed(marks, unit)
    start = period_start(unit, FIRST_DAY + timedelta(days=first))

    table = bm.lifecycle("a", by=unit, start=start, periods=periods, horizon=horizon)

    for t in range(periods):
        period = step(unit, start, t)
        parts = [table.column(name)[t] for name in table.columns]
        if not reached(period):
            assert table.totals[t] is None
            assert parts == [None] * 4
            continue
        now, before = sets["a", period], sets["a", step(unit, period, -1)]
        prior = set().union(
            *(sets["a", step(unit, period, -k)] for k in range(1, horizon + 1))
        )
        expected = [
            len(now - prior),
            len(now & before),
            len((now & prior) - before),
            len(before - now),
        ]
        assert table.totals[t] == len(now)
        assert parts == expected
        assert sum(parts[:3]) == len(now)


@ON_EVERY_BACKEND
@given(
    marks=MARKS,
    attributes=st.lists(
        st.tuples(st.sampled_from(["c:de", "c:fr", "c:us", "plan:pro"]), IDS),
        max_size=15,
    ),
    top=st.one_of(st.none(), st.integers(1, 3)),
)
def test_breakdown_matches_the_model(
    make_bitmapist: MakeBitmapist,
    marks: list[tuple[str, int, int]],
    attributes: list[tuple[str, int]],
    top: int | None,
) -> None:
    bm = make_bitmapist()
    load(bm, marks, [])
    for name, uid in attributes:
        bm.mark_attribute(name, uid)
    month = NOW.date().replace(day=1)
    active = {
        uid
        for event, uid, offset in marks
        if event == "a" and FIRST_DAY + timedelta(days=offset) >= month
    }
    holders: dict[str, set[int]] = defaultdict(set)
    for name, uid in attributes:
        holders[name].add(uid)

    table = bm.breakdown(bm.get_month_event("a", NOW), prefix="c:", top=top)

    expected = sorted(
        (
            (name, len(active & ids))
            for name, ids in holders.items()
            if name.startswith("c:")
        ),
        key=lambda pair: (-pair[1], pair[0]),
    )[:top]
    assert table.items == expected
    assert table.total == len(active)
