"""A 30 x 30 daily retention table on Redis, beside bitmapist 3.119's
``bitmapist.cohort.get_dates_data`` over the same bits.

The data: users sign up over 60 days, and each is active on a later day with
a chance that falls with the account's age. Our half marks it through the
public API (day bitmaps only); the 3.119 half reads the same bits from its own
key layout (``trackist_<event>_<y>-<m>-<d>``), written here whole with SET.
Both tables are compared cell by cell before any figure is reported.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, time, timedelta, timezone
from time import perf_counter
from typing import Any

import numpy as np
import reference
from speed import Context, Row

from bitmapist import Bitmapist

TARGET = 20.0
CACHED_TARGET = 100.0
START = date(2025, 3, 1)
ROWS = COLUMNS = 30
DAYS = ROWS + COLUMNS

_SCRIPT = """
from bitmapist.cohort import get_dates_data

def table():
    return get_dates_data(
        "signup", "active", time_group="days", as_percent=False,
        num_results=ARGS["rows"], num_of_rows=ARGS["columns"] - 1,
        start_date=ARGS["start"],
    )

rows = timed("table", table, repeat=ARGS["repeat"])
RESULTS["rows"] = [row[1:] for row in rows]
"""


def simulate(users: int, seed: int = 5) -> dict[str, list[np.ndarray[Any, Any]]]:
    """Per event, the ids marked on each of the DAYS days."""
    rng = np.random.default_rng(seed)
    ids = np.arange(users, dtype=np.uint64)
    signup = rng.integers(0, DAYS, users)
    events: dict[str, list[np.ndarray[Any, Any]]] = {"signup": [], "active": []}
    for day in range(DAYS):
        age = day - signup
        chance = np.where(age == 0, 1.0, 0.5 * (np.maximum(age, 1) ** -0.6))
        active = ids[(age >= 0) & (rng.random(users) < chance)]
        events["signup"].append(ids[signup == day])
        events["active"].append(active)
    return events


def write_3x(client: Any, events: dict[str, list[np.ndarray[Any, Any]]]) -> None:
    """The same bits in 3.x's key layout: bit i of a key is id i, high bit
    of the first byte first, as SETBIT numbers them."""
    pipe = client.pipeline(transaction=False)
    for event, days in events.items():
        for offset, ids in enumerate(days):
            day = START + timedelta(days=offset)
            if ids.size == 0:
                continue
            bits = np.zeros(int(ids.max()) + 1, dtype=np.uint8)
            bits[ids.astype(np.int64)] = 1
            key = f"trackist_{event}_{day.year}-{day.month}-{day.day}"
            pipe.set(key, np.packbits(bits).tobytes())
    pipe.execute()


def run(context: Context) -> list[Row]:
    sizes = (20_000,) if context.short else (20_000, 200_000)
    repeat = 3 if context.short else 7
    return [row for users in sizes for row in _measure(context, users, repeat)]


def _best_of(repeat: int, bm: Bitmapist) -> tuple[Any, list[float]]:
    """The table, and the time of each of ``repeat`` asks for it."""
    timings = []
    for _ in range(repeat):
        started = perf_counter()
        table = bm.cohort(
            "signup", "active", by="day", start=START, cohorts=ROWS, periods=COLUMNS
        )
        timings.append(perf_counter() - started)
    return table, timings


def _measure(context: Context, users: int, repeat: int) -> list[Row]:
    events = simulate(users)
    client = context.server.client()
    client.flushall()
    # Every period of the table has ended: the clock is after the last day.
    now = datetime.combine(START + timedelta(days=DAYS), time(), timezone.utc)
    bm = Bitmapist(redis_client=client, clock=lambda: now)
    for event, days in events.items():
        for offset, ids in enumerate(days):
            when = START + timedelta(days=offset)
            bm.mark_events(event, ids, when, granularities="day")
    write_3x(client, events)

    table, timings = _best_of(repeat, bm)
    cached_bm = Bitmapist(redis_client=client, clock=lambda: now, cache=256 * 2**20)
    first, _ = _best_of(1, cached_bm)  # fills the cache
    again, cached_timings = _best_of(repeat, cached_bm)
    theirs = reference.run(
        _SCRIPT,
        context.server.port,
        rows=ROWS,
        columns=COLUMNS,
        start=START.isoformat(),
        repeat=repeat,
    )
    for answer in (table, first, again):
        _check_same(answer.rows(), theirs["rows"])
    cached_bm.close()
    client.flushall()
    client.close()
    mine, cached = min(timings), min(cached_timings)
    ratio, cached_ratio = theirs["table"] / mine, theirs["table"] / cached
    return [
        Row(
            "cohort",
            f"{ROWS}x{COLUMNS} daily table, {users:,} users: ours "
            f"{mine * 1e3:.1f} ms (median {statistics.median(timings) * 1e3:.1f}), "
            f"3.119 {theirs['table'] * 1e3:.1f} ms (best of {repeat})",
            ratio,
            f">= {TARGET:.0f}x 3.119",
            ratio >= TARGET,
        ),
        Row(
            "cohort",
            f"the same, asked again with the closed-period cache: ours "
            f"{cached * 1e3:.2f} ms (median "
            f"{statistics.median(cached_timings) * 1e3:.2f})",
            cached_ratio,
            f">= {CACHED_TARGET:.0f}x 3.119",
            cached_ratio >= CACHED_TARGET,
        ),
    ]


def _check_same(ours: list[tuple[Any, ...]], theirs: list[list[Any]]) -> None:
    """3.119 leaves a cell blank where nothing of the activity was marked that
    day, and writes 0.0 for an empty overlap: both are 0 here."""
    for mine, other in zip(ours, theirs, strict=True):
        expected = [0 if v in ("", 0.0) else int(v) for v in other]
        if list(mine[1:]) != expected:
            raise AssertionError(f"tables differ: {mine} vs 3.119's {other}")
