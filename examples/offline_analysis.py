"""Production bitmaps in a notebook, without touching production.

    python examples/offline_analysis.py [--users N] [--weeks N] [--plot FILE]

1. Starts a throwaway redis-server (bitmapist.testing) and fills it, as a web
   app would, with eight weeks of simulated users: each signs up in some
   week and comes back on later days with a chance that fades with the
   account's age, more slowly for engaged users.
2. Exports every bitmap to one archive file (`bm.export`), as an operator
   would from production.
3. Opens the file in process (`Bitmapist.open`), read-only, and builds a
   weekly retention table from it: for each signup week, the share of its
   users active 0, 1, 2, ... weeks later. It checks that the table equals
   the one computed on Redis itself, then plots it (matplotlib, the `plot`
   extra) when --plot names a file.

The retention figures are built from plain bitmap operations: the AND of a
signup week with each later active week, divided by the signup week's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from bitmapist import Bitmapist
from bitmapist.testing import running_redis

FIRST_DAY = date(2025, 3, 3)  # a Monday, so that weeks line up with ISO weeks

Table = list[list[float | None]]


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


def retention(bm: Bitmapist, weeks: int) -> Table:
    """Row c, column k: the share of users who signed up in week c that were
    active in week c + k (None past the last week)."""
    table: Table = []
    for cohort in range(weeks):
        signed_up = bm.get_week_event("signup", FIRST_DAY + timedelta(weeks=cohort))
        size = len(signed_up)
        active = bm.get_week_event("active", FIRST_DAY).delta(cohort)
        row: list[float | None] = []
        for offset in range(weeks):
            if cohort + offset >= weeks or not size:
                row.append(None)
            else:
                row.append(len(signed_up & active.delta(offset)) / size)
        table.append(row)
    return table


def render(bm: Bitmapist, table: Table) -> str:
    """The table as text, one row per signup week."""
    header = "signup week  users " + "".join(
        f"  week+{k:<2}" for k in range(len(table))
    )
    lines = [header, "-" * len(header)]
    for cohort, row in enumerate(table):
        week = bm.get_week_event("signup", FIRST_DAY + timedelta(weeks=cohort))
        cells = "".join("         " if v is None else f"  {v:7.1%}" for v in row)
        lines.append(f"{week.period.code:<11}  {len(week):5,}{cells}")
    return "\n".join(lines)


def plot(bm: Bitmapist, table: Table, path: Path) -> None:
    """One retention curve per signup week, saved to ``path``."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "plotting needs matplotlib: pip install 'bitmapist[plot]'"
        ) from None
    matplotlib.use("Agg")  # files only, no display needed
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4))
    for cohort, row in enumerate(table):
        shares = [v for v in row if v is not None]
        week = bm.get_week_event("signup", FIRST_DAY + timedelta(weeks=cohort))
        axes.plot(range(len(shares)), shares, marker="o", label=week.period.code)
    axes.set_xlabel("weeks after signup")
    axes.set_ylabel("share of the cohort active")
    axes.set_title("Weekly retention, from an exported bitmap file")
    axes.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--plot", type=Path, help="write the retention plot here")
    arguments = parser.parse_args(argv)

    with running_redis() as server, tempfile.TemporaryDirectory() as directory:
        production = Bitmapist(redis_client=server.client())
        simulate(production, arguments.users, arguments.weeks)
        file = Path(directory) / "production.bma"
        written = production.export(file)
        print(f"exported {written} bitmaps, {file.stat().st_size:,} bytes")

        offline = Bitmapist.open(file)
        table = retention(offline, arguments.weeks)
        print(render(offline, table))
        same = table == retention(production, arguments.weeks)
        print(
            f"\nthe same table computed on Redis: {'identical' if same else 'DIFFERS'}"
        )
        if arguments.plot is not None:
            plot(offline, table, arguments.plot)
            print(f"plot written to {arguments.plot}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
