"""Production bitmaps in a notebook, without touching production.

    python examples/offline_analysis.py [--users N] [--weeks N] [--plot FILE]

1. Starts a throwaway redis-server (bitmapist.testing) and fills it, as a web
   app would, with eight weeks of simulated users: each signs up in some
   week and comes back on later days with a chance that fades with the
   account's age, more slowly for engaged users.
2. Exports every bitmap to one archive file (`bm.export`), as an operator
   would from production.
3. Opens the file in process (`Bitmapist.open`), read-only, and builds a
   weekly retention table from it with `bm.cohort`: for each signup week, the
   share of its users active 0, 1, 2, ... weeks later. It checks that the
   table equals the one computed on Redis itself, and its counts those of
   plain ANDs of week bitmaps, then draws it as a heat map (matplotlib, the
   `plot` extra) when --plot names a PNG file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np

from bitmapist import Bitmapist
from bitmapist.testing import running_redis

FIRST_DAY = date(2025, 3, 3)  # a Monday, so that weeks line up with ISO weeks


def simulate(bm: Bitmapist, users: int, weeks: int, seed: int = 11) -> None:
    """Sign-ups and daily activity, marked day by day in bulk."""
    rng = np.random.default_rng(seed)
    ids = np.arange(users, dtype=np.uint64) * 7919 + 100_000  # not dense from 0
    days = weeks * 7
    signup = rng.integers(0, days, users)
    engagement = rng.beta(2.0, 4.0, users)
    for day in range(days):
        when = FIRST_DAY + timedelta(days=day)
        bm.mark_events("signup", ids[signup == day], when, granularities="week")
        age_weeks = (day - signup) / 7
        chance = 0.15 * np.exp(-age_weeks / (0.5 + 5 * engagement))
        active = (signup == day) | ((signup < day) & (rng.random(users) < chance))
        bm.mark_events("active", ids[active], when, granularities=["day", "week"])


def retention(bm: Bitmapist, weeks: int) -> list[list[int | None]]:
    """The same counts as ``bm.cohort`` from plain bitmap operations: row c,
    column k, the users who signed up in week c AND were active in week c + k
    (None for weeks after the last)."""
    table: list[list[int | None]] = []
    for cohort in range(weeks):
        signed_up = bm.get_week_event("signup", FIRST_DAY + timedelta(weeks=cohort))
        active = bm.get_week_event("active", FIRST_DAY).delta(cohort)
        table.append(
            [
                len(signed_up & active.delta(k)) if cohort + k < weeks else None
                for k in range(weeks)
            ]
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--plot", type=Path, help="write the retention plot here")
    arguments = parser.parse_args(argv)

    # "Now" is the evening of the last simulated day: later weeks have not begun.
    end = datetime.combine(FIRST_DAY, time(22), timezone.utc)
    end += timedelta(weeks=arguments.weeks, days=-1)
    with running_redis() as server, tempfile.TemporaryDirectory() as directory:
        production = Bitmapist(redis_client=server.client(), clock=lambda: end)
        simulate(production, arguments.users, arguments.weeks)
        file = Path(directory) / "production.bma"
        written = production.export(file)
        print(f"exported {written} bitmaps, {file.stat().st_size:,} bytes\n")

        offline = Bitmapist.open(file, clock=lambda: end)
        weeks = arguments.weeks
        table = offline.cohort(
            "signup", "active", by="week", start=FIRST_DAY, cohorts=weeks, periods=weeks
        )
        print(table)
        on_redis = production.cohort(
            "signup", "active", by="week", start=FIRST_DAY, cohorts=weeks, periods=weeks
        )
        same = table.rows() == on_redis.rows()
        plain = [list(row) for row in table.counts] == retention(offline, weeks)
        print(f"\nthe same table computed on Redis: {verdict(same)}")
        print(f"the same counts from plain ANDs of week bitmaps: {verdict(plain)}")
        if arguments.plot is not None:
            table.to_png(arguments.plot)
            print(f"plot written to {arguments.plot}")
    return 0 if same and plain else 1


def verdict(same: bool) -> str:
    return "identical" if same else "DIFFERS"


if __name__ == "__main__":
    sys.exit(main())
